/*
 * devtrust-agent's private interface: the configuration, the error model and
 * one section per file of src/agent/. The agent links only OpenSSL and
 * libcurl; nothing here includes libdevtrust.
 */
#ifndef DT_AGENT_H
#define DT_AGENT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

#define AG_MUST_USE __attribute__((warn_unused_result))
#define AG_VERSION "0.1.0"

/* Limits on outside input, each with its reason. */
#define AG_MAX_CONFIG_BYTES 16384	      /* a configuration file is a few hundred bytes */
#define AG_MAX_LINE 1024		      /* one key = value line: a path, a URL or a command */
#define AG_MAX_PATH 1024		      /* paths on a device are short; longer is a mistake */
#define AG_MAX_URL 256			      /* https://host:port of the EST server */
#define AG_MAX_ID 64			      /* device ids and labels: X.520 ub-common-name */
#define AG_MAX_TOKEN 128		      /* devtrust tokens are 43 characters of base64url */
#define AG_MAX_BODY 65536		      /* an EST reply is a few certificates, about 4 KiB */
#define AG_MAX_DER 49152		      /* decoded EST reply: 3/4 of AG_MAX_BODY */
#define AG_MAX_SERVER_MSG 200		      /* what we keep of a server's error text */
#define AG_MAX_CERTS 16			      /* certificates in a certs-only reply or bundle */
#define AG_MAX_CSRATTRS 64		      /* elements of a CsrAttrs (RFC 7030 section 4.5.2) */
#define AG_MAX_PEM_FILE 262144		      /* a PEM file of certificates or a key we read */
#define AG_MAX_CHAIN_DEPTH 8		      /* verification depth; EST chains are 2-3 deep */
#define AG_MAX_DURATION_S (10L * 366 * 86400) /* ten years: beyond any lifetime */
#define AG_ERR_MSG 512

/*
 * What went wrong, sorted by what the daemon does about it (DAEMON in
 * devtrust-agent(8)). The exit codes of main.c follow from these.
 */
enum ag_code {
	AG_OK = 0,
	AG_E_CONFIG,	/* configuration or usage: a person must fix it */
	AG_E_LOCAL,	/* local failure: files, key generation; retried */
	AG_E_TEMP,	/* network, timeout, 5xx: retried with exponential backoff */
	AG_E_TRUST,	/* the server or what it sent does not verify: retried */
	AG_E_REFUSED,	/* 400, 409, other 403: retried slowly */
	AG_E_SUSPENDED, /* 403, the device is suspended: retried slowly */
	AG_E_AUTH,	/* 401: the credential was refused */
	AG_E_RETIRED,	/* 403, retired or compromised: never retried */
	AG_E_STOPPED,	/* SIGTERM or SIGINT arrived during a request */
};

struct ag_error {
	enum ag_code code;
	long http_status; /* 0 when no HTTP answer came */
	long retry_after; /* the server's Retry-After in seconds, 0 if none */
	char msg[AG_ERR_MSG];
};

/* Sets e (if not NULL) and returns code. */
enum ag_code ag_fail(struct ag_error *e, enum ag_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like ag_fail, with the formatted text put before e's current message:
 * ag_fail_context(e, rc, "cacerts refused: ") gives "cacerts refused: <why>". */
enum ag_code ag_fail_context(struct ag_error *e, enum ag_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends OpenSSL's first queued error (or nothing) to e->msg and clears the queue. */
void ag_fail_ssl(struct ag_error *e);
/* One line "devtrust-agent: ..." on stderr. Never pass a token or a key. */
void ag_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *ag_code_name(enum ag_code c);

/* ---- config.c: key = value file and --key value flags ---- */

enum ag_key_type {
	AG_KEY_NONE = 0, /* not configured: the server's csrattrs, else P-256 */
	AG_KEY_EC_P256 = 1u << 0,
	AG_KEY_EC_P384 = 1u << 1,
	AG_KEY_RSA_2048 = 1u << 2,
	AG_KEY_RSA_3072 = 1u << 3,
	AG_KEY_RSA_4096 = 1u << 4,
	AG_KEY_ED25519 = 1u << 5,
};

struct ag_config {
	char server[AG_MAX_URL]; /* https://host[:port], no trailing slash */
	char label[AG_MAX_ID + 1];
	char device_id[AG_MAX_ID + 1];
	char token_file[AG_MAX_PATH];
	char idevid_cert[AG_MAX_PATH];
	char idevid_key[AG_MAX_PATH];
	char idevid_chain[AG_MAX_PATH];
	char ca_file[AG_MAX_PATH];
	unsigned char pin[32];
	int has_pin;
	char key_path[AG_MAX_PATH];
	char cert_path[AG_MAX_PATH];
	char chain_path[AG_MAX_PATH];
	char cacerts_path[AG_MAX_PATH];
	char state_dir[AG_MAX_PATH];
	char reload_hook[AG_MAX_LINE];
	unsigned key_type; /* one enum ag_key_type bit, or AG_KEY_NONE */
	double renew_at;   /* fraction of the lifetime; 0 = not set (2/3) */
	long jitter_s;	   /* -1 = not set (a twentieth of the lifetime, at most 1 h) */
	long backoff_min_s;
	long backoff_max_s;
	long poll_s;
	long cacerts_interval_s;
	long timeout_s;
};

/* Empty configuration: every field unset. */
void ag_config_init(struct ag_config *c);
/* Applies one setting (a configuration key or a flag without its "--"). */
AG_MUST_USE enum ag_code ag_config_set(struct ag_config *c, const char *key, const char *value,
				       struct ag_error *e);
/* Parses a whole configuration file's text (at most AG_MAX_CONFIG_BYTES). */
AG_MUST_USE enum ag_code ag_config_parse(struct ag_config *c, const char *text, size_t len,
					 const char *source, struct ag_error *e);
/* Reads and parses FILE. */
AG_MUST_USE enum ag_code ag_config_load(struct ag_config *c, const char *path, struct ag_error *e);
/* Fills defaults and checks what the commands need (paths; with need_server, the
 * server and a trust anchor too: every command but status). */
AG_MUST_USE enum ag_code ag_config_finish(struct ag_config *c, int need_server, struct ag_error *e);
/* 1 if key is a known setting that takes a value. */
int ag_config_known(const char *key);
/* "90", "90s", "5m", "2h", "1d" (and "0") into seconds. */
AG_MUST_USE enum ag_code ag_duration_parse(const char *s, long *out, struct ag_error *e);
const char *ag_key_type_name(unsigned t);

/* ---- files.c: bounded reads, synced private writes, the lock ---- */

/* Reads at most max bytes of path into a NUL-terminated malloc'ed buffer. */
AG_MUST_USE enum ag_code ag_read_file(const char *path, size_t max, unsigned char **out,
				      size_t *len, struct ag_error *e);
/* Creates path with O_EXCL and mode, writes all of data and fsyncs it. */
AG_MUST_USE enum ag_code ag_write_new(const char *path, const void *data, size_t len, int mode,
				      struct ag_error *e);
/* Replaces path atomically: path.tmp (O_EXCL), fsync, rename, fsync the directory. */
AG_MUST_USE enum ag_code ag_replace_file(const char *path, const void *data, size_t len, int mode,
					 struct ag_error *e);
AG_MUST_USE enum ag_code ag_fsync_dir(const char *dir, struct ag_error *e);
/* The directory part of path into dir ("." when there is none); returns the last part. */
const char *ag_path_split(const char *path, char *dir, size_t cap);
/* dst = dir "/" name, refused if it does not fit. */
AG_MUST_USE enum ag_code ag_join(char *dst, size_t cap, const char *dir, const char *name,
				 struct ag_error *e);
/* Takes the state dir's lock (flock on STATE/lock); *fd stays open while held. */
AG_MUST_USE enum ag_code ag_lock(const char *state_dir, int *fd, struct ag_error *e);
/* 1 if another process holds the lock of state_dir. */
int ag_lock_held(const char *state_dir);

/* ---- pem.c: certificates and keys to and from PEM ---- */

AG_MUST_USE enum ag_code ag_certs_load(const char *path, STACK_OF(X509) * *out, struct ag_error *e);
AG_MUST_USE enum ag_code ag_key_load(const char *path, EVP_PKEY **out, struct ag_error *e);
/* PEM of each certificate, concatenated; *out malloc'ed. */
AG_MUST_USE enum ag_code ag_certs_pem(STACK_OF(X509) * certs, char **out, size_t *len,
				      struct ag_error *e);
/* Unencrypted PKCS#8 PEM; the caller wipes and frees *out (ag_secret_free). */
AG_MUST_USE enum ag_code ag_key_pem(EVP_PKEY *key, char **out, size_t *len, struct ag_error *e);
void ag_secret_free(char *p, size_t len);
/* SHA-256 of the DER certificate. */
AG_MUST_USE int ag_cert_sha256(X509 *x, unsigned char md[32]);
/* 1 if the two stacks hold the same certificates in the same order. */
int ag_certs_equal(STACK_OF(X509) * a, STACK_OF(X509) * b);

/* ---- base64.c: the transfer encoding of EST bodies (RFC 7030 section 4) ---- */

/* Strict base64 with CR, LF, space and tab allowed between characters. */
AG_MUST_USE enum ag_code ag_base64_decode(const unsigned char *in, size_t len, size_t max_out,
					  unsigned char **out, size_t *out_len, struct ag_error *e);
/* 64-character lines; *out malloc'ed and NUL-terminated. */
AG_MUST_USE enum ag_code ag_base64_encode(const unsigned char *in, size_t len, char **out,
					  size_t *out_len, struct ag_error *e);

/* ---- certsonly.c: certs-only PKCS#7 replies (RFC 7030 sections 4.1.3, 4.2.3) ---- */

/* body: the base64 reply as received. 1 to AG_MAX_CERTS certificates. */
AG_MUST_USE enum ag_code ag_certs_only_parse(const unsigned char *body, size_t len,
					     STACK_OF(X509) * *out, struct ag_error *e);

/* ---- csrattrs.c: which key the server asks for (RFC 7030 section 4.5) ---- */

/* body: the base64 reply; *allowed: enum ag_key_type bits (0: no advice). */
AG_MUST_USE enum ag_code ag_csrattrs_parse(const unsigned char *body, size_t len, unsigned *allowed,
					   struct ag_error *e);
/* The key to generate: the configured one if allowed, else the server's first. */
AG_MUST_USE enum ag_code ag_key_type_choose(unsigned allowed, unsigned configured, unsigned *out,
					    struct ag_error *e);

/* ---- key.c and csr.c: the device key, generated here and never sent ---- */

AG_MUST_USE enum ag_code ag_key_generate(unsigned type, EVP_PKEY **out, struct ag_error *e);
/* The key type of a key, or AG_KEY_NONE. */
unsigned ag_key_type_of(EVP_PKEY *key);
/* A PKCS#10 request signed by key; its subject is CN=cn (the server ignores it). */
AG_MUST_USE enum ag_code ag_csr_build(EVP_PKEY *key, const char *cn, unsigned char **der,
				      size_t *len, struct ag_error *e);

/* ---- json.c: the JSON of status --json, escaped by hand (RFC 8259 section 7) ---- */

struct ag_json {
	char *buf;
	size_t len, cap;
	int oom;
	int first;
};
void ag_json_begin(struct ag_json *j);
void ag_json_str(struct ag_json *j, const char *key, const char *val); /* NULL: null */
void ag_json_int(struct ag_json *j, const char *key, long long val);
void ag_json_bool(struct ag_json *j, const char *key, int val);
/* Closes the object; returns the text (malloc'ed) or NULL when out of memory. */
char *ag_json_end(struct ag_json *j);

/* ---- trust.c: the explicit trust anchor and what verifies against it ---- */

/* The anchors: the CA file, or STATE/anchor.pem pinned at first contact. *out is
 * NULL (and AG_OK) when a pin is configured and no contact was made yet. */
AG_MUST_USE enum ag_code ag_anchors_load(const struct ag_config *c, STACK_OF(X509) * *out,
					 struct ag_error *e);
/* A verification store of the anchors (partial chains allowed: an anchor may be an
 * issuing CA). */
AG_MUST_USE enum ag_code ag_trust_store(STACK_OF(X509) * anchors, X509_STORE **out,
					struct ag_error *e);
/* Verifies x against the anchors with untrusted as intermediates; *chain (if not
 * NULL) gets the path without x and without a self-signed root. */
AG_MUST_USE enum ag_code ag_verify_cert(STACK_OF(X509) * anchors, STACK_OF(X509) * untrusted,
					X509 *x, STACK_OF(X509) * *chain, struct ag_error *e);
/* A cacerts bundle is accepted only if every certificate in it is a CA and is an
 * anchor or verifies against one (the others as intermediates). */
AG_MUST_USE enum ag_code ag_bundle_check(STACK_OF(X509) * anchors, STACK_OF(X509) * bundle,
					 struct ag_error *e);
/* Parses "sha256:HEX" (colons allowed) into 32 bytes. */
AG_MUST_USE enum ag_code ag_pin_parse(const char *s, unsigned char pin[32], struct ag_error *e);
/* First contact with a pin (RFC 7030 section 4.1.1): the anchor from /cacerts. */
AG_MUST_USE enum ag_code ag_anchor_from_pin(const struct ag_config *c, STACK_OF(X509) * cacerts,
					    STACK_OF(X509) * tls_chain, X509 **anchor,
					    struct ag_error *e);
/* Keeps a pinned anchor as STATE/anchor.pem, headed by the pin that chose it. */
AG_MUST_USE enum ag_code ag_anchor_save(const struct ag_config *c, X509 *anchor,
					struct ag_error *e);

/* ---- http.c and tls.c: one EST session over libcurl ---- */

/* Whom we trust and who we are, for the TLS of one session. */
struct ag_tls {
	X509_STORE *trust;	/* NULL: provisional, pin mode only */
	X509 *cert;		/* client certificate, or NULL */
	EVP_PKEY *key;		/* its key */
	STACK_OF(X509) * chain; /* sent after the client certificate */
	STACK_OF(X509) * seen;	/* provisional: the server's chain as presented */
};

struct ag_response {
	long status;
	unsigned char *body; /* NUL-terminated */
	size_t len;
	long retry_after; /* seconds, -1 if absent */
	char content_type[96];
};

struct ag_http;
/* Installs the ag_tls into an SSL_CTX (CURLOPT_SSL_CTX_FUNCTION). */
int ag_tls_apply(void *ssl_ctx, struct ag_tls *t);
AG_MUST_USE enum ag_code ag_http_open(const struct ag_config *c, struct ag_tls *tls,
				      struct ag_http **out, struct ag_error *e);
void ag_http_close(struct ag_http *h);
/* GET /.well-known/est[/label]/op. An HTTP error status is not an error here. */
AG_MUST_USE enum ag_code ag_http_get(struct ag_http *h, const char *op, struct ag_response *r,
				     struct ag_error *e);
/* POST a base64 body; user/secret: HTTP Basic, or NULL. */
AG_MUST_USE enum ag_code ag_http_post(struct ag_http *h, const char *op, const char *body,
				      size_t len, const char *user, const char *secret,
				      struct ag_response *r, struct ag_error *e);
void ag_response_free(struct ag_response *r);
/* Maps a non-200 answer to a code and a message quoting the server's text. */
enum ag_code ag_http_refusal(const struct ag_response *r, const char *what, struct ag_error *e);

/* ---- install.c: generations and the atomic switch ---- */

/* A matching key, certificate and chain. */
struct ag_set {
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) * chain;
	long gen; /* generation number, 0 if none */
};
void ag_set_free(struct ag_set *s);
/* Loads STATE/current; AG_OK with s->cert == NULL when nothing is installed. */
AG_MUST_USE enum ag_code ag_current_load(const struct ag_config *c, struct ag_set *s,
					 struct ag_error *e);
/*
 * Installs key, cert and chain as a new generation and switches STATE/current
 * to it; the configured paths are symlinks into STATE/current (DECISIONS.md
 * 42). Verifies the files as written before the switch. Fills s->gen.
 */
AG_MUST_USE enum ag_code ag_install(const struct ag_config *c, STACK_OF(X509) * anchors,
				    struct ag_set *s, struct ag_error *e);
/* Removes what a crash left: generations other than current and previous. */
void ag_install_cleanup(const struct ag_config *c);
/* Test aid: DEVTRUST_AGENT_STEP_DELAY_MS sleeps between installation steps. */
void ag_install_step(void);

/* ---- status.c: the persisted status and `status` ---- */

enum ag_state {
	AG_ST_NOT_ENROLLED = 0,
	AG_ST_VALID,
	AG_ST_RETRYING,
	AG_ST_SUSPENDED,
	AG_ST_RETIRED,
	AG_ST_COMPROMISED,
	AG_ST_NEEDS_CREDENTIAL,
	AG_ST_ERROR,
};

struct ag_status {
	enum ag_state state;
	char last_error[AG_ERR_MSG];
	time_t last_error_at;
	time_t last_success_at;
	time_t next_renewal;
	time_t next_attempt;
	char token_used[65]; /* SHA-256 hex of the token spent at enrollment */
	char note[AG_ERR_MSG];
};

const char *ag_state_name(enum ag_state s);
/* Reads STATE/status; a missing file is an empty status. */
void ag_status_load(const struct ag_config *c, struct ag_status *st);
AG_MUST_USE enum ag_code ag_status_save(const struct ag_config *c, const struct ag_status *st,
					struct ag_error *e);
/* Prints the status (text or JSON); returns the exit code of `status`. */
int ag_status_print(const struct ag_config *c, int json);
/* Lower-case hex serial, at least 32 digits as devtrust prints it. */
void ag_serial_hex(X509 *x, char *out, size_t cap);
/* ISO 8601 UTC, "" for 0. */
void ag_time_iso(time_t t, char out[32]);
/* Renewal point of a certificate: notBefore + fraction of its lifetime - jitter. */
time_t ag_renewal_time(const struct ag_config *c, X509 *cert, long jitter_draw);
/* The configured jitter for a certificate (-1: a twentieth of its lifetime, at most 1 h). */
long ag_jitter_of(const struct ag_config *c, X509 *cert);
AG_MUST_USE int ag_cert_times(X509 *x, time_t *not_before, time_t *not_after);

/* ---- est.c: one enrollment or renewal, from cacerts to the installed files ---- */

enum ag_mode {
	AG_MODE_REENROLL, /* the current certificate authenticates */
	AG_MODE_TOKEN,	  /* HTTP Basic: device id and enrollment token */
	AG_MODE_IDEVID,	  /* the manufacturer's certificate authenticates */
};

struct ag_ctx {
	struct ag_config cfg;
	struct ag_status st;
	STACK_OF(X509) * anchors;
	STACK_OF(X509) * bundle; /* the installed cacerts bundle, or NULL */
	struct ag_set cur;	 /* installed key, certificate and chain, or empty */
	int lock_fd;
};

/* Which bootstrap credential can be used now; AG_E_AUTH with the reason if none. */
AG_MUST_USE enum ag_code ag_bootstrap_mode(struct ag_ctx *x, enum ag_mode *mode,
					   struct ag_error *e);
/* One EST exchange: cacerts, csrattrs, a new key, the enrollment, verification,
 * installation, the reload hook. */
AG_MUST_USE enum ag_code ag_est_enroll(struct ag_ctx *x, enum ag_mode mode, struct ag_error *e);
/* Fetches /cacerts and installs the bundle if it changed and verifies. *changed = 1
 * when it was installed. */
AG_MUST_USE enum ag_code ag_est_cacerts(struct ag_ctx *x, int *changed, struct ag_error *e);
/* Loads anchors, the bundle and the current set into x (after ag_config_finish). */
AG_MUST_USE enum ag_code ag_ctx_open(struct ag_ctx *x, struct ag_error *e);
void ag_ctx_close(struct ag_ctx *x);
/* Renewal when due: re-enrollment, or bootstrap when the certificate expired or was
 * refused; records the outcome in x->st. */
AG_MUST_USE enum ag_code ag_renew(struct ag_ctx *x, struct ag_error *e);
/* Records an outcome in the status (state, last error) and saves it. */
void ag_record(struct ag_ctx *x, enum ag_code rc, const struct ag_error *e);
/* Records an error that leaves the state as it is (the certificate is still good). */
void ag_record_error(struct ag_ctx *x, const struct ag_error *e);

/* ---- hook.c ---- */

/* Runs the reload hook (sh -c) with DEVTRUST_AGENT_* in its environment. */
void ag_hook_run(const struct ag_config *c, const char *event, X509 *cert);

/* ---- daemon.c ---- */

/* The `run` loop; returns the exit code. */
int ag_daemon(struct ag_ctx *x);

#endif
