/*
 * Private to the SQLite backend: a connection with its prepared-statement
 * cache, shared by the engine (store_sqlite.c) and the operations
 * (sqlite_ops_*.c).
 */
#ifndef DT_STORE_SQLITE_H
#define DT_STORE_SQLITE_H

#include <sqlite3.h>
#include "store/store.h"

#define SQ_MAX_STMTS 96

struct sq_conn {
	struct store_txn txn; /* first: a store_txn * is a sq_conn * */
	sqlite3 *db;
	sqlite3_stmt *stmts[SQ_MAX_STMTS];
};

/* One id per cached statement, across all the operation files. */
enum sq_stmt_id {
	SQ_SETTING_GET,
	SQ_SETTING_SET,
	SQ_CA_INSERT,
	SQ_CA_GET,
	SQ_CA_LIST,
	SQ_CA_CRL_NUMBER,
	SQ_CA_REVOKE,
	SQ_CA_SET_OCSP,
	SQ_CLASS_INSERT,
	SQ_CLASS_GET,
	SQ_CLASS_LIST,
	SQ_CLASS_UPDATE,
	SQ_DEVICE_INSERT,
	SQ_DEVICE_GET,
	SQ_DEVICE_LIST,
	SQ_DEVICE_STATE,
	SQ_DEVICE_TOKEN,
	SQ_DEVICE_BY_SERIAL,
	SQ_ANCHOR_INSERT,
	SQ_ANCHOR_LIST,
	SQ_CERT_INSERT,
	SQ_CERT_GET,
	SQ_CERT_LIST,
	SQ_CERT_LIST_DEVICE,
	SQ_CERT_SPKI,
	SQ_CERT_SET_STATUS, /* four statements, one per scope: keep the next three free */
	SQ_CERT_SET_STATUS_DEVICE,
	SQ_CERT_SET_STATUS_CLASS,
	SQ_CERT_SET_STATUS_CA,
	SQ_CERT_REVOKED,
	SQ_AUDIT_LAST,
	SQ_AUDIT_APPEND,
	SQ_AUDIT_EACH,
	SQ_AUDIT_SINCE,
	SQ_REPORT_EXPIRING,
	SQ_REPORT_DRIFT_CERTS,
	SQ_REPORT_DRIFT_DEVICES,
	SQ_REPORT_DUPLICATES,
	SQ_REPORT_WEAK,
	SQ_VERIFY_LOOKUP, /* sqlite_ops_verify.c */
	SQ_POLICY_PUT,
	SQ_POLICY_REMOVE,
	SQ_POLICY_LIST,
	SQ_POLICY_COUNT,
	SQ_CLONE_POLICY_SET,
	SQ_CLONE_POLICY_GET,
	SQ_CLONE_INSERT,
	SQ_CLONE_CLEAR,
	SQ_CLONE_LIST,
	SQ_SEEN_PUT,
	SQ_REPORT_SILENT,
	SQ_CLASS_DEVICE_COUNTS,
	SQ_ADMIN_INSERT, /* sqlite_ops_admin.c */
	SQ_ADMIN_GET,
	SQ_ADMIN_LIST,
	SQ_ADMIN_REVOKE,
	SQ_AUDIT_KEY_INSERT, /* sqlite_ops_audit.c: signed checkpoints */
	SQ_AUDIT_KEY_EACH,
	SQ_CHECKPOINT_INSERT,
	SQ_CHECKPOINT_LAST,
	SQ_CHECKPOINT_EACH,
	/* transaction control, in the order of txn_exec()'s table */
	SQ_TXN_BEGIN,
	SQ_TXN_BEGIN_IMMEDIATE,
	SQ_TXN_COMMIT,
	SQ_TXN_ROLLBACK,
	SQ_TXN_SAVEPOINT,
	SQ_TXN_RELEASE,
	SQ_STMT_COUNT
};
_Static_assert(SQ_STMT_COUNT <= SQ_MAX_STMTS, "raise SQ_MAX_STMTS");

extern const struct store_ops sq_ops;

/* Operations, grouped by file. */
dt_code sq_setting_get(struct store_txn *, const char *, char *, size_t, struct dt_error *);
dt_code sq_setting_set(struct store_txn *, const char *, const char *, struct dt_error *);
dt_code sq_ca_insert(struct store_txn *, const struct store_ca *, struct dt_error *);
dt_code sq_ca_get(struct store_txn *, const char *, struct store_ca *, struct dt_error *);
dt_code sq_ca_list(struct store_txn *, store_ca_cb, void *, struct dt_error *);
dt_code sq_ca_next_crl_number(struct store_txn *, const char *, int64_t *, struct dt_error *);
dt_code sq_ca_set_revoked(struct store_txn *, const char *, int64_t, int, struct dt_error *);
dt_code sq_ca_set_ocsp_cert(struct store_txn *, const char *, const unsigned char *, size_t,
			    struct dt_error *);
dt_code sq_class_insert(struct store_txn *, const struct dt_class *, struct dt_error *);
dt_code sq_class_get(struct store_txn *, const char *, struct dt_class *, struct dt_error *);
dt_code sq_class_list(struct store_txn *, dt_class_cb, void *, struct dt_error *);
dt_code sq_class_update(struct store_txn *, const struct dt_class *, struct dt_error *);
dt_code sq_device_insert(struct store_txn *, const struct dt_device *, const unsigned char *,
			 struct dt_error *);
dt_code sq_device_get(struct store_txn *, const char *, struct dt_device *, unsigned char[32],
		      struct dt_error *);
dt_code sq_device_list(struct store_txn *, const struct dt_device_filter *, dt_device_cb, void *,
		       struct dt_error *);
dt_code sq_device_by_serial(struct store_txn *, const char *, const char *, struct dt_device *,
			    struct dt_error *);
dt_code sq_anchor_insert(struct store_txn *, const struct store_anchor *, struct dt_error *);
dt_code sq_anchor_list(struct store_txn *, const char *, store_anchor_cb, void *,
		       struct dt_error *);
dt_code sq_device_set_state(struct store_txn *, const char *, enum dt_state, int64_t,
			    struct dt_error *);
dt_code sq_device_set_token(struct store_txn *, const char *, const unsigned char *, int64_t,
			    struct dt_error *);
dt_code sq_cert_insert(struct store_txn *, const struct store_cert *, struct dt_error *);
dt_code sq_cert_get(struct store_txn *, const char *, struct store_cert *, int, struct dt_error *);
dt_code sq_cert_list(struct store_txn *, const struct dt_cert_filter *, dt_cert_cb, void *,
		     struct dt_error *);
dt_code sq_cert_by_spki(struct store_txn *, const unsigned char[32], dt_cert_cb, void *,
			struct dt_error *);
dt_code sq_cert_set_status(struct store_txn *, const struct dt_cert_filter *, unsigned,
			   enum dt_cert_status, int, int64_t, store_serial_cb, void *, int64_t *,
			   struct dt_error *);
dt_code sq_cert_revoked_each(struct store_txn *, const char *, int64_t, store_revoked_cb, void *,
			     struct dt_error *);
dt_code sq_audit_last(struct store_txn *, int64_t *, unsigned char[32], struct dt_error *);
dt_code sq_audit_append(struct store_txn *, const struct store_audit_row *, struct dt_error *);
dt_code sq_audit_since(struct store_txn *, int64_t, store_audit_cb, void *, struct dt_error *);
dt_code sq_audit_each(struct store_txn *, const char *, store_audit_cb, void *, struct dt_error *);
dt_code sq_report_expiring(struct store_txn *, int64_t, int64_t, dt_finding_cb, void *,
			   struct dt_error *);
dt_code sq_report_drift(struct store_txn *, int64_t, dt_finding_cb, void *, struct dt_error *);
dt_code sq_report_duplicates(struct store_txn *, dt_finding_cb, void *, struct dt_error *);
dt_code sq_report_weak(struct store_txn *, int64_t, dt_finding_cb, void *, struct dt_error *);

dt_code sq_verify_lookup(struct store_txn *, const char *, struct store_verify_row *,
			 struct dt_error *);
dt_code sq_policy_put(struct store_txn *, const struct dt_policy *, struct dt_policy *,
		      struct dt_error *);
dt_code sq_policy_remove(struct store_txn *, const char *, const char *, const char *, int64_t *,
			 struct dt_error *);
dt_code sq_policy_list(struct store_txn *, const char *, const char *, dt_policy_cb, void *,
		       struct dt_error *);
dt_code sq_policy_count(struct store_txn *, const char *, int64_t *, struct dt_error *);
dt_code sq_clone_policy_set(struct store_txn *, const struct dt_clone_policy *, struct dt_error *);
dt_code sq_clone_policy_get(struct store_txn *, const char *, struct dt_clone_policy *,
			    struct dt_error *);
dt_code sq_clone_insert(struct store_txn *, const struct dt_clone_finding *, struct dt_error *);
dt_code sq_clone_clear(struct store_txn *, const char *, int64_t, const char *, int64_t *,
		       struct dt_error *);
dt_code sq_clone_list(struct store_txn *, int, dt_clone_cb, void *, struct dt_error *);
dt_code sq_seen_put(struct store_txn *, const struct dt_seen *, struct dt_error *);
dt_code sq_report_silent(struct store_txn *, int64_t, dt_seen_cb, void *, struct dt_error *);
dt_code sq_class_device_counts(struct store_txn *, const char *, int64_t[DT_STATE_COUNT][4],
			       struct dt_error *);

dt_code sq_admin_insert(struct store_txn *, const struct store_admin_cred *, struct dt_error *);
dt_code sq_admin_get(struct store_txn *, const char *, struct store_admin_cred *,
		     struct dt_error *);
dt_code sq_admin_list(struct store_txn *, const char *, dt_admin_cb, void *, struct dt_error *);
dt_code sq_admin_revoke(struct store_txn *, const char *, int64_t, int64_t *, struct dt_error *);

dt_code sq_audit_key_insert(struct store_txn *, const struct store_audit_key *, struct dt_error *);
dt_code sq_audit_key_each(struct store_txn *, store_audit_key_cb, void *, struct dt_error *);
dt_code sq_checkpoint_insert(struct store_txn *, const struct store_checkpoint *,
			     struct dt_error *);
dt_code sq_checkpoint_last(struct store_txn *, struct store_checkpoint *, struct dt_error *);
dt_code sq_checkpoint_each(struct store_txn *, int64_t, store_checkpoint_cb, void *,
			   struct dt_error *);

int sq_schema_latest(void);
DT_MUST_USE dt_code sq_migrate(sqlite3 *db, struct dt_error *err);

/* The cached statement for sql, reset and with bindings cleared. id < SQ_MAX_STMTS. */
sqlite3_stmt *sq_stmt(struct sq_conn *c, int id, const char *sql, struct dt_error *err);
dt_code sq_error(struct sq_conn *c, struct dt_error *err, const char *what);
/* Copies a text column into buf (truncating safely); NULL becomes "". */
void sq_text(sqlite3_stmt *st, int col, char *buf, size_t len);

#endif
