/*
 * Backend verification: the decision a relying party asks for before it lets
 * a device's traffic through. Given the certificate the device presented and
 * the service and route it asks for, a verifier answers allow or deny with a
 * stable reason code and a summary of the device. Also here: the policies that
 * say which class may use which service and route, clone findings, last-seen
 * times, and the blast-radius report.
 */
#ifndef DEVTRUST_VERIFY_H
#define DEVTRUST_VERIFY_H

#include "devtrust/inventory.h"
#include "devtrust/pki.h"

/*
 * Why a decision came out as it did. The names (dt_verify_reason_name) are a
 * stable interface: relying parties log them and match on them. New reasons
 * are only ever appended.
 */
enum dt_verify_reason {
	DT_VR_ALLOWED = 0,	   /* "allowed" */
	DT_VR_BAD_REQUEST,	   /* "bad-request": service, method or path malformed */
	DT_VR_NO_CERTIFICATE,	   /* "no-certificate" */
	DT_VR_BAD_CERTIFICATE,	   /* "bad-certificate": not one X.509 certificate */
	DT_VR_UNKNOWN_CERTIFICATE, /* "unknown-certificate": not issued and recorded here */
	DT_VR_WRONG_CA,		   /* "wrong-ca": not from the issuing CA of the device's class */
	DT_VR_CA_REVOKED,	   /* "ca-revoked": that issuing CA is revoked at the root */
	DT_VR_BAD_CHAIN,	   /* "bad-chain": signature, purpose or constraints fail */
	DT_VR_NOT_YET_VALID,	   /* "not-yet-valid" */
	DT_VR_EXPIRED,		   /* "expired" */
	DT_VR_DEVICE_NOT_ACTIVE,   /* "device-not-active": registered, never enrolled */
	DT_VR_DEVICE_SUSPENDED,	   /* "device-suspended" */
	DT_VR_DEVICE_RETIRED,	   /* "device-retired" */
	DT_VR_DEVICE_COMPROMISED,  /* "device-compromised" */
	DT_VR_CERT_REVOKED,	   /* "certificate-revoked": e.g. superseded by a renewal */
	DT_VR_CERT_ON_HOLD,	   /* "certificate-on-hold" */
	DT_VR_FIRMWARE_UNKNOWN,	 /* "firmware-unknown": the class has a minimum, the device none */
	DT_VR_FIRMWARE_OUTDATED, /* "firmware-outdated": below the class minimum */
	DT_VR_CLONE_SUSPECTED,	 /* "clone-suspected": an open clone finding, class says deny */
	DT_VR_NOT_ALLOWED,	 /* "not-allowed": no policy of the class allows this */
};
#define DT_VR_COUNT 20

const char *dt_verify_reason_name(enum dt_verify_reason r);
/* -1 when unknown. */
int dt_verify_reason_parse(const char *s);

/* What a relying party saw and what the device asks for. */
struct dt_verify_request {
	/* The device's certificate, DER or PEM. PEM may carry the chain the
	 * device sent after the leaf; it is not needed and not trusted: the chain
	 * is built from the issuing CA bound to the device's class. */
	const unsigned char *cert;
	size_t cert_len;
	/* Instead of cert, for relying parties that verified the TLS chain
	 * themselves and can pass only attributes (FreeRADIUS): the serial (hex)
	 * and the authority key identifier (hex) of the certificate. */
	const char *serial;
	const char *issuer_key_id;
	const char *service; /* required: a name like a class name ("telemetry") */
	const char *method;  /* HTTP method, or NULL for services without one (MQTT) */
	const char *path;    /* request target ("/v1/vitals?x=1"), or NULL: no route */
	const char *peer;    /* the device's address for clone detection, or NULL */
};

/* Short summary of the device: what a backend logs or forwards. */
#define DT_SUMMARY_TEXT_BUF 65
struct dt_verify_device {
	char id[DT_ID_BUF];
	char class_name[DT_ID_BUF];
	char ca[DT_ID_BUF];
	char serial[DT_SERIAL_HEX_BUF]; /* of the certificate presented */
	enum dt_state state;
	enum dt_criticality criticality;
	char firmware[DT_ID_BUF];
	char manufacturer[DT_SUMMARY_TEXT_BUF]; /* first 64 bytes */
	char model[DT_SUMMARY_TEXT_BUF];
	char location[DT_SUMMARY_TEXT_BUF];
	int64_t not_after;
};

struct dt_verify_result {
	int allowed;
	enum dt_verify_reason reason;
	char detail[256]; /* words for an operator; never a secret */
	int identified;	  /* 1: device holds the device the certificate names */
	struct dt_verify_device device;
};

/*
 * A verifier keeps what decisions need in memory and follows the store: a
 * thread reads the audit log every 200 ms, and after any change that can
 * alter a decision the next decision about each certificate reads the store
 * again. It also writes last-seen times in batches (every 5 s and when
 * freed) and records clone findings.
 */
struct dt_verifier;

enum dt_verify_cache_mode {
	DT_VERIFY_CACHE = 0,  /* default: decisions from memory, refreshed on change */
	DT_VERIFY_READ_EACH,  /* one store read per decision (signature checks cached) */
	DT_VERIFY_CACHE_NONE, /* parse, verify the chain and read the store every time */
};

struct dt_verifier_opts {
	int cache;	   /* enum dt_verify_cache_mode */
	int no_record;	   /* 1: no last-seen times, no clone tracking (dry runs) */
	int no_thread;	   /* 1: no watcher thread; call dt_verifier_sync() yourself */
	const char *actor; /* audit actor for clone findings; NULL: "verify" */
};

DT_MUST_USE dt_code dt_verifier_new(struct dt_ctx *ctx, const struct dt_verifier_opts *opts,
				    struct dt_verifier **out, struct dt_error *err);
/* Stops the thread and writes the last-seen times still pending. */
void dt_verifier_free(struct dt_verifier *v);
/*
 * Decides. DT_OK means a decision was made (out->allowed says which); any
 * other code is a failure to decide (the store is unreadable) and the caller
 * must deny. Thread-safe.
 */
DT_MUST_USE dt_code dt_verify(struct dt_verifier *v, const struct dt_verify_request *req,
			      struct dt_verify_result *out, struct dt_error *err);
/* Applies changes made since the last look and writes pending last-seen
 * times; what the thread does every 200 ms. */
DT_MUST_USE dt_code dt_verifier_sync(struct dt_verifier *v, struct dt_error *err);

struct dt_verifier_stats {
	uint64_t decisions;
	uint64_t by_reason[DT_VR_COUNT];
	uint64_t cache_hits;   /* decided from memory */
	uint64_t store_reads;  /* certificate lookups in the store */
	uint64_t chain_checks; /* X509_verify_cert calls */
	uint64_t seen_written; /* last-seen rows written */
	uint64_t seen_dropped; /* last-seen updates dropped: the batch was full */
	uint64_t clone_findings;
	uint64_t changes; /* store changes that invalidated what was in memory */
};
void dt_verifier_stats(struct dt_verifier *v, struct dt_verifier_stats *out);

/* ---- Policies: which class may use which service, route and method ---- */

enum dt_method {
	DT_M_GET = 1 << 0,
	DT_M_HEAD = 1 << 1,
	DT_M_POST = 1 << 2,
	DT_M_PUT = 1 << 3,
	DT_M_DELETE = 1 << 4,
	DT_M_PATCH = 1 << 5,
	DT_M_OPTIONS = 1 << 6,
	DT_M_OTHER = 1 << 7, /* any other method, or none; only "*" allows it */
};
#define DT_M_ANY 0xff

#define DT_PATTERN_BUF 257

/*
 * One rule: devices of class_name may use service on paths matching pattern
 * with one of methods. A pattern starts with '/'; '*' matches within one path
 * segment; a final segment "**" matches the prefix and everything below it
 * (so the pattern made of "/" and "**" alone is every path). GET allows HEAD
 * too.
 */
struct dt_policy {
	char class_name[DT_ID_BUF];
	char service[DT_ID_BUF];
	char pattern[DT_PATTERN_BUF];
	unsigned methods; /* enum dt_method mask */
	int64_t created_at;
};
typedef int (*dt_policy_cb)(void *arg, const struct dt_policy *p);

/* "GET,POST" or "*" (NULL or "": any) into a mask. */
DT_MUST_USE dt_code dt_methods_parse(const char *list, unsigned *mask, struct dt_error *err);
/* "GET,POST" or "*". */
void dt_methods_format(unsigned mask, char *buf, size_t cap);
/* Checks a pattern's syntax (NULL: every path, and fine). */
DT_MUST_USE dt_code dt_pattern_check(const char *pattern, struct dt_error *err);

/*
 * Allows a class a service on a pattern (NULL: every path) with methods
 * (NULL: any). Allowing a rule that exists adds the methods to it; out (if not
 * NULL) receives the rule as stored.
 */
DT_MUST_USE dt_code dt_policy_allow(struct dt_ctx *ctx, const char *class_name, const char *service,
				    const char *pattern, const char *methods, struct dt_policy *out,
				    struct dt_error *err);
/* Removes the rule with that pattern, or every rule of class and service when
 * pattern is NULL; DT_ERR_NOT_FOUND when nothing matched. */
DT_MUST_USE dt_code dt_policy_remove(struct dt_ctx *ctx, const char *class_name,
				     const char *service, const char *pattern, int64_t *removed,
				     struct dt_error *err);
/* Rules by class, service and pattern; class_name or service NULL: any. */
DT_MUST_USE dt_code dt_policy_list(struct dt_ctx *ctx, const char *class_name, const char *service,
				   dt_policy_cb cb, void *arg, struct dt_error *err);

/* ---- Clone detection ---- */

enum dt_clone_action {
	DT_CLONE_REPORT = 0, /* a finding only (default) */
	DT_CLONE_DENY,	     /* a finding, and decisions deny until it is cleared */
	DT_CLONE_SUSPEND,    /* a finding, deny, and the device is suspended */
};
const char *dt_clone_action_name(enum dt_clone_action a);
int dt_clone_action_parse(const char *s);

/* Default window: one certificate from two addresses within a minute. */
#define DT_CLONE_WINDOW_DEFAULT 60

struct dt_clone_policy {
	char class_name[DT_ID_BUF];
	int64_t window_s; /* 0: clone detection off for the class */
	enum dt_clone_action action;
};
/* A class without a setting gets window DT_CLONE_WINDOW_DEFAULT and report. */
DT_MUST_USE dt_code dt_clone_policy_set(struct dt_ctx *ctx, const struct dt_clone_policy *p,
					struct dt_error *err);
DT_MUST_USE dt_code dt_clone_policy_get(struct dt_ctx *ctx, const char *class_name,
					struct dt_clone_policy *out, struct dt_error *err);

/* A source address: at most 63 bytes (DT_MAX_PEER_LEN). */
#define DT_PEER_BUF 64

struct dt_clone_finding {
	int64_t id;
	char device_id[DT_ID_BUF];
	char class_name[DT_ID_BUF];
	char serial[DT_SERIAL_HEX_BUF];
	char first_addr[DT_PEER_BUF];
	char second_addr[DT_PEER_BUF];
	int64_t first_seen;
	int64_t second_seen;
	int64_t window_s;
	enum dt_clone_action action;
	enum dt_criticality criticality;
	int64_t cleared_at; /* 0: open */
	char cleared_by[128];
};
typedef int (*dt_clone_cb)(void *arg, const struct dt_clone_finding *f);

/* Open findings, or all with include_cleared, oldest first. */
DT_MUST_USE dt_code dt_clone_list(struct dt_ctx *ctx, int include_cleared, dt_clone_cb cb,
				  void *arg, struct dt_error *err);
/* Clears a device's open findings (after investigation), with an audit event. */
DT_MUST_USE dt_code dt_clone_clear(struct dt_ctx *ctx, const char *device_id, const char *reason,
				   int64_t *cleared, struct dt_error *err);

/* ---- Last seen ---- */

struct dt_seen {
	char device_id[DT_ID_BUF];
	char class_name[DT_ID_BUF];
	enum dt_state state;
	enum dt_criticality criticality;
	int64_t last_seen; /* 0: never */
	char last_addr[DT_PEER_BUF];
	char last_service[DT_ID_BUF];
	int last_allowed;
	char last_reason[32];
};
typedef int (*dt_seen_cb)(void *arg, const struct dt_seen *s);

/* Active devices not seen by any verifier for silent_s seconds (or never),
 * the longest silent first. */
DT_MUST_USE dt_code dt_report_silent(struct dt_ctx *ctx, int64_t silent_s, dt_seen_cb cb, void *arg,
				     struct dt_error *err);

/* ---- Blast radius ---- */

/* One class a compromise would reach, with its devices by state and criticality. */
struct dt_blast_class {
	char name[DT_ID_BUF];
	char ca[DT_ID_BUF];
	int64_t devices[DT_STATE_COUNT][4]; /* [enum dt_state][enum dt_criticality] */
};

struct dt_blast_cbs {
	int (*on_class)(void *arg, const struct dt_blast_class *c);
	dt_policy_cb on_policy; /* the services the classes may use */
	dt_device_cb on_device; /* every device of the classes (NULL: skip) */
	void *arg;
};

/*
 * What a compromise of an issuing CA (ca) or of a class's device keys
 * (class_name) would reach: exactly one of the two is set. A CA reaches every
 * class bound to it: whoever holds its key can make certificates for any of
 * their devices that relying parties trusting the CA accept.
 */
DT_MUST_USE dt_code dt_report_blast_radius(struct dt_ctx *ctx, const char *ca,
					   const char *class_name, const struct dt_blast_cbs *cbs,
					   struct dt_error *err);

#endif
