/*
 * Private interface of the verify module: request and route parsing, the
 * certificate input, firmware comparison, and the parts of a verifier
 * (decide.c, verifier.c, seen.c) that share its state.
 */
#ifndef DT_VERIFY_PRIV_H
#define DT_VERIFY_PRIV_H

#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/core.h"
#include "devtrust/verify.h"

_Static_assert(DT_PEER_BUF == DT_MAX_PEER_LEN + 1, "DT_PEER_BUF follows DT_MAX_PEER_LEN");

/* How often a verifier reads the audit log: a change reaches decisions within
 * this plus one store read (the issue asks for 1 s), like the OCSP cache. */
#define VERIFY_WATCH_MS 200
/* Last-seen times are written at most this late (and when a verifier stops). */
#define VERIFY_SEEN_FLUSH_MS 5000
/* Devices whose last-seen time one batch holds; at 3/4 the batch is written
 * early, past that updates are dropped (and counted) until it is. */
#define VERIFY_SEEN_SLOTS 16384
/* Certificates kept in memory; past this the table is emptied and refills
 * (each costs a store read and one chain check to come back). */
#define VERIFY_CACHE_MAX 100000
#define VERIFY_BUCKETS 65536
#define VERIFY_LOCKS 64
/* Issuing CA certificates kept parsed (a CA certificate never changes). */
#define VERIFY_CA_CACHE 256
/* The service callers of /authz must be allowed (devtrust policy allow CLASS devtrust-authz). */
#define VERIFY_AUTHZ_SERVICE "devtrust-authz"

/* ---- route.c: what the device asks for ---- */
struct verify_route {
	int has_method;
	unsigned method; /* one enum dt_method bit */
	int has_path;
	char path[DT_MAX_VERIFY_PATH + 1]; /* decoded, without query */
};
/* Checks service, method and target (percent-decoded, query dropped; dot
 * segments, empty segments, encoded slashes and control characters refused). */
DT_MUST_USE dt_code verify_route_parse(const char *service, const char *method, const char *target,
				       struct verify_route *out, struct dt_error *err);
/* 1 if a policy's pattern and methods allow the route. */
int verify_policy_matches(const struct dt_policy *p, const struct verify_route *r);
int verify_pattern_match(const char *pattern, const char *path);
/* names.c: the bit of a method name of n bytes (DT_M_OTHER for any other token). */
unsigned verify_method_bit(const char *name, size_t n);
/* A source address: 1-63 of [A-Za-z0-9.:%_-]. */
DT_MUST_USE dt_code verify_peer_check(const char *peer, struct dt_error *err);

/* ---- certin.c: the certificate a relying party passes ---- */
/*
 * The leaf's DER from DER or PEM input (PEM: the first CERTIFICATE block;
 * further blocks must be certificates too and are ignored). Nothing is
 * decoded beyond the outer ASN.1 length. *der points into a buffer owned by
 * *buf (free with OPENSSL_free); DT_ERR_INVALID says what is wrong.
 */
DT_MUST_USE dt_code verify_leaf_der(const unsigned char *in, size_t len, unsigned char **buf,
				    const unsigned char **der, size_t *der_len,
				    struct dt_error *err);
/* Percent-decodes (RFC 3986 section 2.1) nginx's $ssl_client_escaped_cert;
 * *out is malloc'ed and NUL-terminated. */
DT_MUST_USE dt_code verify_unescape(const char *in, size_t max_out, char **out, size_t *out_len,
				    struct dt_error *err);
/* The device id a certificate claims: its devtrust URN for org (SAN), else its CN. */
int verify_claimed_device(X509 *x, const char *org, char id[DT_ID_BUF]);
/* An authority key identifier in hex (colons, spaces and a "keyid:" prefix
 * allowed) into lower-case hex without separators. */
DT_MUST_USE dt_code verify_keyid_normalize(const char *in, char out[DT_SHA256_HEX_BUF * 2],
					   struct dt_error *err);

/* ---- headers.c: the /authz request as nginx sends it ---- */
/* Header names (lower case compares the same: HTTP field names are
 * case-insensitive, RFC 9110 section 5.1). */
#define VERIFY_H_CERT "X-Devtrust-Client-Cert"	   /* $ssl_client_escaped_cert */
#define VERIFY_H_SERIAL "X-Devtrust-Client-Serial" /* or serial + issuer key id */
#define VERIFY_H_KEYID "X-Devtrust-Client-Issuer-Key-Id"
#define VERIFY_H_SERVICE "X-Devtrust-Service"
#define VERIFY_H_METHOD "X-Devtrust-Method"    /* $request_method */
#define VERIFY_H_URI "X-Devtrust-URI"	       /* $request_uri */
#define VERIFY_H_ADDR "X-Devtrust-Client-Addr" /* $remote_addr */

struct verify_authz_headers {
	const char *cert, *serial, *keyid, *service, *method, *uri, *addr; /* NULL: absent */
};
/*
 * Fills req from the headers (pointers into h and into *buf, which the caller
 * frees with free()). The certificate is percent-decoded; an empty one is no
 * certificate. DT_ERR_INVALID: the escaping is broken (a bad-certificate
 * decision for the caller).
 */
DT_MUST_USE dt_code verify_authz_request(const struct verify_authz_headers *h,
					 struct dt_verify_request *req, char **buf,
					 struct dt_error *err);

/* ---- firmware.c ---- */
/* <0, 0, >0 like strcmp, comparing digit runs as numbers ("1.10" > "1.9"). */
int verify_firmware_cmp(const char *a, const char *b);

/* ---- the verifier ---- */
struct vcert;
struct vseen;

struct vca {
	char fingerprint[DT_SHA256_HEX_BUF];
	X509 *x;
	char ski[DT_SHA256_HEX_BUF * 2]; /* hex, "" if none */
};

struct dt_verifier {
	struct dt_ctx *ctx;
	struct dt_verifier_opts opts;
	char actor[128];

	/* Certificates by SHA-256 of their DER; bucket b under locks[b % VERIFY_LOCKS]. */
	struct vcert **buckets;
	pthread_mutex_t locks[VERIFY_LOCKS];
	atomic_long ncerts;

	/* Bumped when the audit log shows a change; entries of older generations
	 * are read again before they decide. */
	atomic_ulong gen;
	int64_t last_seq;

	/* Every policy, sorted by class and service, swapped whole on a change. */
	pthread_rwlock_t pol_lock;
	struct dt_policy *pol;
	size_t npol;

	pthread_mutex_t ca_lock;
	struct vca cas[VERIFY_CA_CACHE];
	int ncas;

	struct vseen *seen;
	pthread_mutex_t sync_lock; /* one sync at a time */

	pthread_t thread;
	int thread_started;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stop;
	int flush_now;

	struct {
		atomic_ullong decisions, cache_hits, store_reads, chain_checks, seen_written,
		    seen_dropped, clone_findings, changes;
		atomic_ullong by_reason[DT_VR_COUNT];
	} st;
};

/* decide.c */
void verify_cache_clear(struct dt_verifier *v);
/* verifier.c: wakes the thread to write the last-seen batch now. */
void verify_flush_soon(struct dt_verifier *v);
/* verifier.c: the parsed certificate of an issuing CA (borrowed until the
 * verifier is freed), from its DER and fingerprint. */
DT_MUST_USE dt_code verify_ca_get(struct dt_verifier *v, const char *fingerprint,
				  const unsigned char *der, size_t len, const struct vca **out,
				  struct dt_error *err);
/* Policies allow the class this route on service (under pol_lock). */
int verify_policy_allows(struct dt_verifier *v, const char *class_name, const char *service,
			 const struct verify_route *r);

/* seen.c: batched last-seen times */
DT_MUST_USE dt_code verify_seen_new(struct vseen **out, struct dt_error *err);
void verify_seen_free(struct vseen *s);
/* Notes a decision; 1 when the batch asks to be written early. */
int verify_seen_note(struct dt_verifier *v, const struct dt_seen *s);
/* Writes the batch in one transaction; on failure its times are counted as
 * dropped (the thread ignores the code, dt_verifier_sync returns it). */
dt_code verify_seen_flush(struct dt_verifier *v, struct dt_error *err);

#endif
