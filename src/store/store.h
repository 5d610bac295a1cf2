/*
 * The store interface. ca, inventory, audit and report talk to the database
 * only through these operations; store_sqlite.c is the embedded backend and a
 * PostgreSQL backend implements the same table of operations. No SQL leaves
 * the store, and the store never signs anything.
 */
#ifndef DT_STORE_H
#define DT_STORE_H

#include "devtrust/admin.h"
#include "devtrust/audit.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"
#include "devtrust/report.h"
#include "devtrust/verify.h"

/* Largest DER certificate we keep for a CA or signer (RSA-4096 chains fit). */
#define STORE_CA_DER_MAX 8192

struct store;
struct store_txn;

/* A unit of work run inside a transaction; a non-OK return rolls it back. */
typedef dt_code (*store_job_fn)(struct store_txn *txn, void *arg, struct dt_error *err);

struct store_ca {
	struct dt_ca_info info;
	unsigned char cert[STORE_CA_DER_MAX];
	size_t cert_len;
	unsigned char ocsp_cert[STORE_CA_DER_MAX];
	size_t ocsp_cert_len;
};

struct store_cert {
	struct dt_cert_info info;
	unsigned char spki_hash[32];
	const unsigned char *der; /* insert: borrowed; get: owned by the caller (free()) */
	size_t der_len;
};

/* One revoked entry for a CRL, in ascending serial order. */
struct store_revoked {
	const char *serial; /* hex */
	int64_t revoked_at;
	int reason;
};

struct store_audit_row {
	struct dt_audit_event ev;
	unsigned char prev_hash[32];
	unsigned char hash[32];
};

/* A signed audit checkpoint: the link hash at seq, signed by audit key key_id. */
#define STORE_AUDIT_SIG_MAX 160
struct store_checkpoint {
	int64_t seq;
	int64_t time;
	unsigned char hash[32];
	char key_id[DT_SHA256_HEX_BUF];
	unsigned char sig[STORE_AUDIT_SIG_MAX];
	size_t sig_len;
};

/* An audit signer's certificate (DER, issued by the root). */
struct store_audit_key {
	char key_id[DT_SHA256_HEX_BUF];
	unsigned char cert[STORE_CA_DER_MAX];
	size_t cert_len;
	int64_t created_at;
};

typedef int (*store_checkpoint_cb)(void *arg, const struct store_checkpoint *cp);
typedef int (*store_audit_key_cb)(void *arg, const struct store_audit_key *k);

/* A manufacturer's trust anchor: the root its IDevID certificates chain to. */
struct store_anchor {
	char manufacturer[DT_FIELD_BUF];
	char fingerprint[DT_SHA256_HEX_BUF];
	char subject[DT_FIELD_BUF];
	int64_t not_after;
	int64_t created_at;
	const unsigned char *der; /* borrowed for the callback's duration */
	size_t der_len;
};

/* What a verification decision needs about one certificate (one statement). */
struct store_verify_row {
	struct dt_cert_info cert; /* serial, device_id, ca, validity, status */
	struct dt_device dev;
	char class_ca[DT_ID_BUF]; /* the CA the device's class is bound to */
	char min_firmware[DT_ID_BUF];
	int ca_revoked;
	char ca_fingerprint[DT_SHA256_HEX_BUF];
	unsigned char ca_cert[STORE_CA_DER_MAX];
	size_t ca_cert_len;
	int64_t clone_open;	/* open clone findings of the device */
	int64_t clone_window_s; /* the class's clone setting (defaults when unset) */
	int clone_action;
	unsigned char *der; /* the stored certificate, malloc'ed (free()) */
	size_t der_len;
};

typedef int (*store_anchor_cb)(void *arg, const struct store_anchor *a);
typedef int (*store_revoked_cb)(void *arg, const struct store_revoked *r);
typedef int (*store_ca_cb)(void *arg, const struct store_ca *ca);
typedef int (*store_audit_cb)(void *arg, const struct store_audit_row *row);
typedef int (*store_serial_cb)(void *arg, const char *serial);

/* An admin API credential with, for a token, the SHA-256 of the whole token. */
struct store_admin_cred {
	struct dt_admin_cred c;
	unsigned char token_hash[32];
	int has_hash;
};

struct store_ops {
	dt_code (*setting_get)(struct store_txn *, const char *key, char *buf, size_t len,
			       struct dt_error *);
	dt_code (*setting_set)(struct store_txn *, const char *key, const char *value,
			       struct dt_error *);

	dt_code (*ca_insert)(struct store_txn *, const struct store_ca *, struct dt_error *);
	dt_code (*ca_get)(struct store_txn *, const char *name, struct store_ca *,
			  struct dt_error *);
	dt_code (*ca_list)(struct store_txn *, store_ca_cb, void *, struct dt_error *);
	/* Increments and returns the CA's CRL number; never reused. */
	dt_code (*ca_next_crl_number)(struct store_txn *, const char *name, int64_t *,
				      struct dt_error *);
	dt_code (*ca_set_revoked)(struct store_txn *, const char *name, int64_t at, int reason,
				  struct dt_error *);
	/* Replaces the CA's delegated OCSP signer certificate. */
	dt_code (*ca_set_ocsp_cert)(struct store_txn *, const char *name, const unsigned char *der,
				    size_t len, struct dt_error *);

	dt_code (*class_insert)(struct store_txn *, const struct dt_class *, struct dt_error *);
	dt_code (*class_get)(struct store_txn *, const char *name, struct dt_class *,
			     struct dt_error *);
	dt_code (*class_list)(struct store_txn *, dt_class_cb, void *, struct dt_error *);
	/* Updates the profile fields of an existing class (never its CA). */
	dt_code (*class_update)(struct store_txn *, const struct dt_class *, struct dt_error *);

	dt_code (*device_insert)(struct store_txn *, const struct dt_device *,
				 const unsigned char *token_hash, struct dt_error *);
	dt_code (*device_get)(struct store_txn *, const char *id, struct dt_device *,
			      unsigned char token_hash[32], struct dt_error *);
	dt_code (*device_list)(struct store_txn *, const struct dt_device_filter *, dt_device_cb,
			       void *, struct dt_error *);
	/* The device of a manufacturer with this serial (IDevID subject serialNumber). */
	dt_code (*device_by_serial)(struct store_txn *, const char *manufacturer,
				    const char *serial, struct dt_device *, struct dt_error *);
	dt_code (*anchor_insert)(struct store_txn *, const struct store_anchor *,
				 struct dt_error *);
	/* Anchors of one manufacturer, or of all when manufacturer is NULL. */
	dt_code (*anchor_list)(struct store_txn *, const char *manufacturer, store_anchor_cb,
			       void *, struct dt_error *);
	dt_code (*device_set_state)(struct store_txn *, const char *id, enum dt_state, int64_t now,
				    struct dt_error *);
	/* token_hash NULL clears the token. */
	dt_code (*device_set_token)(struct store_txn *, const char *id,
				    const unsigned char *token_hash, int64_t expires,
				    struct dt_error *);

	dt_code (*cert_insert)(struct store_txn *, const struct store_cert *, struct dt_error *);
	/* der may be NULL when the caller only wants the info. */
	dt_code (*cert_get)(struct store_txn *, const char *serial, struct store_cert *,
			    int with_der, struct dt_error *);
	dt_code (*cert_list)(struct store_txn *, const struct dt_cert_filter *, dt_cert_cb, void *,
			     struct dt_error *);
	/* Certificates carrying this public key (any device, any status). */
	dt_code (*cert_by_spki)(struct store_txn *, const unsigned char spki_hash[32], dt_cert_cb,
				void *, struct dt_error *);
	/*
	 * Moves every certificate of the scope whose status is in from_mask
	 * (1 << status) to status `to`, reporting each changed serial. Scope: exactly
	 * one of device_id, class_name, ca in the filter.
	 */
	dt_code (*cert_set_status)(struct store_txn *, const struct dt_cert_filter *scope,
				   unsigned from_mask, enum dt_cert_status to, int reason,
				   int64_t at, store_serial_cb, void *, int64_t *changed,
				   struct dt_error *);
	/* Revoked and held certificates of a CA still within validity, by serial. */
	dt_code (*cert_revoked_each)(struct store_txn *, const char *ca, int64_t now,
				     store_revoked_cb, void *, struct dt_error *);

	dt_code (*audit_last)(struct store_txn *, int64_t *seq, unsigned char hash[32],
			      struct dt_error *);
	dt_code (*audit_append)(struct store_txn *, const struct store_audit_row *,
				struct dt_error *);
	dt_code (*audit_each)(struct store_txn *, const char *object, store_audit_cb, void *,
			      struct dt_error *);
	/* Events with seq > after, oldest first (what changed since a reader last looked). */
	dt_code (*audit_since)(struct store_txn *, int64_t after, store_audit_cb, void *,
			       struct dt_error *);

	/* Report queries: each emits findings in the order an operator reads them. */
	dt_code (*report_expiring)(struct store_txn *, int64_t now, int64_t before, dt_finding_cb,
				   void *, struct dt_error *);
	dt_code (*report_drift)(struct store_txn *, int64_t now, dt_finding_cb, void *,
				struct dt_error *);
	dt_code (*report_duplicates)(struct store_txn *, dt_finding_cb, void *, struct dt_error *);
	dt_code (*report_weak)(struct store_txn *, int64_t now, dt_finding_cb, void *,
			       struct dt_error *);

	/* Backend verification (sqlite_ops_verify.c). DT_ERR_NOT_FOUND: no such serial. */
	dt_code (*verify_lookup)(struct store_txn *, const char *serial, struct store_verify_row *,
				 struct dt_error *);
	/* Inserts a rule, or adds its methods to the existing one; out: as stored. */
	dt_code (*policy_put)(struct store_txn *, const struct dt_policy *, struct dt_policy *out,
			      struct dt_error *);
	/* pattern NULL: every rule of class and service. */
	dt_code (*policy_remove)(struct store_txn *, const char *class_name, const char *service,
				 const char *pattern, int64_t *removed, struct dt_error *);
	/* class_name, service NULL: any; by class, service, pattern. */
	dt_code (*policy_list)(struct store_txn *, const char *class_name, const char *service,
			       dt_policy_cb, void *, struct dt_error *);
	dt_code (*policy_count)(struct store_txn *, const char *class_name, int64_t *n,
				struct dt_error *);
	dt_code (*clone_policy_set)(struct store_txn *, const struct dt_clone_policy *,
				    struct dt_error *);
	/* DT_ERR_NOT_FOUND: the class has no setting (the defaults apply). */
	dt_code (*clone_policy_get)(struct store_txn *, const char *class_name,
				    struct dt_clone_policy *, struct dt_error *);
	dt_code (*clone_insert)(struct store_txn *, const struct dt_clone_finding *,
				struct dt_error *);
	dt_code (*clone_clear)(struct store_txn *, const char *device_id, int64_t at,
			       const char *by, int64_t *cleared, struct dt_error *);
	dt_code (*clone_list)(struct store_txn *, int include_cleared, dt_clone_cb, void *,
			      struct dt_error *);
	/* Keeps the later of the stored and the given time. */
	dt_code (*seen_put)(struct store_txn *, const struct dt_seen *, struct dt_error *);
	/* Active devices last seen before `before` (or never), the longest silent first. */
	dt_code (*report_silent)(struct store_txn *, int64_t before, dt_seen_cb, void *,
				 struct dt_error *);
	dt_code (*class_device_counts)(struct store_txn *, const char *class_name,
				       int64_t counts[DT_STATE_COUNT][4], struct dt_error *);

	/* Admin API credentials (sqlite_ops_admin.c). */
	dt_code (*admin_insert)(struct store_txn *, const struct store_admin_cred *,
				struct dt_error *);
	/* DT_ERR_NOT_FOUND: no credential with this id. */
	dt_code (*admin_get)(struct store_txn *, const char *id, struct store_admin_cred *,
			     struct dt_error *);
	/* name NULL: all; newest first. */
	dt_code (*admin_list)(struct store_txn *, const char *name, dt_admin_cb, void *,
			      struct dt_error *);
	/* Revokes the credential whose id or name is name_or_id (unless revoked already). */
	dt_code (*admin_revoke)(struct store_txn *, const char *name_or_id, int64_t at,
				int64_t *count, struct dt_error *);

	/* Signed audit checkpoints and the audit signers' certificates (sqlite_ops_audit.c). */
	dt_code (*audit_key_insert)(struct store_txn *, const struct store_audit_key *,
				    struct dt_error *);
	/* Oldest first. */
	dt_code (*audit_key_each)(struct store_txn *, store_audit_key_cb, void *,
				  struct dt_error *);
	/* DT_ERR_EXISTS: there is a checkpoint at that seq already. */
	dt_code (*checkpoint_insert)(struct store_txn *, const struct store_checkpoint *,
				     struct dt_error *);
	/* The checkpoint with the highest seq; DT_ERR_NOT_FOUND: none. */
	dt_code (*checkpoint_last)(struct store_txn *, struct store_checkpoint *,
				   struct dt_error *);
	/* Checkpoints with seq > after, by seq. */
	dt_code (*checkpoint_each)(struct store_txn *, int64_t after, store_checkpoint_cb, void *,
				   struct dt_error *);
};

struct store_txn {
	const struct store_ops *ops;
};

struct store_open_opts {
	const char *path;
	int create;	  /* 1: create the database (init); 0: it must exist */
	int group_commit; /* 1: a writer thread batches concurrent write jobs */
};

DT_MUST_USE dt_code store_open_sqlite(const struct store_open_opts *o, struct store **out,
				      struct dt_error *err);
void store_close(struct store *s);
/* Runs job in a read-only snapshot. */
DT_MUST_USE dt_code store_read(struct store *s, store_job_fn job, void *arg, struct dt_error *err);
/*
 * Runs job in a write transaction and returns only after it is durably
 * committed (fsync). Concurrent callers share one commit (group commit).
 */
DT_MUST_USE dt_code store_write(struct store *s, store_job_fn job, void *arg, struct dt_error *err);
/*
 * store_write() that returns at once: done(done_arg, rc) is called once the
 * job is durably committed or has failed (err filled), on the writer's
 * thread (keep it short: hand the result back) or, without group commit, on
 * the caller's before this returns. arg and err must live until then.
 */
typedef void (*store_done_fn)(void *done_arg, dt_code rc);
void store_write_async(struct store *s, store_job_fn job, void *arg, struct dt_error *err,
		       store_done_fn done, void *done_arg);

/* Schema version of the open database (numbered migrations). */
int store_schema_version(struct store *s);
/* Bytes of memory the database engine holds now, its page caches included (SQLite:
 * every connection of the process). For /metrics. */
long long store_memory_used(struct store *s);

#endif
