/*
 * SQLite operations on the audit chain and the report queries, and the table
 * of operations that makes this backend a store.
 */
#include <string.h>

#include "store/store_sqlite.h"

#define CONN(t) ((struct sq_conn *)(t))
#define BIND_TEXT(st, i, s) sqlite3_bind_text((st), (i), (s), -1, SQLITE_STATIC)

dt_code sq_audit_last(struct store_txn *t, int64_t *seq, unsigned char hash[32],
		      struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_AUDIT_LAST,
				   "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", err);
	int r;

	*seq = 0;
	memset(hash, 0, 32);
	if (!st)
		return err->code;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		if (sqlite3_column_bytes(st, 1) == 32)
			memcpy(hash, sqlite3_column_blob(st, 1), 32);
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(CONN(t), err, "read audit head");
}

dt_code sq_audit_append(struct store_txn *t, const struct store_audit_row *row,
			struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_AUDIT_APPEND,
				   "INSERT INTO audit(seq,time,actor,action,object,reason,details,"
				   "prev_hash,hash) VALUES(?,?,?,?,?,?,?,?,?)",
				   err);
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, row->ev.seq);
	sqlite3_bind_int64(st, 2, row->ev.time);
	BIND_TEXT(st, 3, row->ev.actor);
	BIND_TEXT(st, 4, row->ev.action);
	BIND_TEXT(st, 5, row->ev.object);
	BIND_TEXT(st, 6, row->ev.reason);
	BIND_TEXT(st, 7, row->ev.details);
	sqlite3_bind_blob(st, 8, row->prev_hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, row->hash, 32, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "append audit event");
}

static dt_code each_audit_row(struct sq_conn *c, sqlite3_stmt *st, store_audit_cb cb, void *arg,
			      struct dt_error *err)
{
	struct store_audit_row row;
	int r;

	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		/* Field by field: the row is 5 KiB, and verification reads every row. */
		memset(row.prev_hash, 0, 32);
		memset(row.hash, 0, 32);
		row.ev.hash[0] = '\0';
		row.ev.seq = sqlite3_column_int64(st, 0);
		row.ev.time = sqlite3_column_int64(st, 1);
		sq_text(st, 2, row.ev.actor, sizeof(row.ev.actor));
		sq_text(st, 3, row.ev.action, sizeof(row.ev.action));
		sq_text(st, 4, row.ev.object, sizeof(row.ev.object));
		sq_text(st, 5, row.ev.reason, sizeof(row.ev.reason));
		sq_text(st, 6, row.ev.details, sizeof(row.ev.details));
		if (sqlite3_column_bytes(st, 7) == 32)
			memcpy(row.prev_hash, sqlite3_column_blob(st, 7), 32);
		if (sqlite3_column_bytes(st, 8) == 32)
			memcpy(row.hash, sqlite3_column_blob(st, 8), 32);
		if (cb(arg, &row) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK : sq_error(c, err, "read audit");
}

#define AUDIT_COLS "seq,time,actor,action,object,reason,details,prev_hash,hash"

dt_code sq_audit_each(struct store_txn *t, const char *object, store_audit_cb cb, void *arg,
		      struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_AUDIT_EACH,
	    "SELECT " AUDIT_COLS " FROM audit WHERE (?1 IS NULL OR object=?1) ORDER BY seq", err);

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, object);
	return each_audit_row(CONN(t), st, cb, arg, err);
}

dt_code sq_audit_since(struct store_txn *t, int64_t after, store_audit_cb cb, void *arg,
		       struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_AUDIT_SINCE,
		    "SELECT " AUDIT_COLS " FROM audit WHERE seq > ? ORDER BY seq", err);

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, after);
	return each_audit_row(CONN(t), st, cb, arg, err);
}

dt_code sq_audit_key_insert(struct store_txn *t, const struct store_audit_key *k,
			    struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_AUDIT_KEY_INSERT,
		    "INSERT INTO audit_keys(key_id,cert,created_at) VALUES(?,?,?)", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, k->key_id);
	sqlite3_bind_blob(st, 2, k->cert, (int)k->cert_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, k->created_at);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "store the audit key");
}

dt_code sq_audit_key_each(struct store_txn *t, store_audit_key_cb cb, void *arg,
			  struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_AUDIT_KEY_EACH,
				   "SELECT key_id,cert,created_at FROM audit_keys"
				   " ORDER BY created_at, key_id",
				   err);
	struct store_audit_key k;
	int r;

	if (!st)
		return err->code;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 1);

		memset(&k, 0, sizeof(k));
		sq_text(st, 0, k.key_id, sizeof(k.key_id));
		/* An oversized row is kept empty: the verifier reports the key unusable. */
		if (n > 0 && (size_t)n <= sizeof(k.cert)) {
			memcpy(k.cert, sqlite3_column_blob(st, 1), (size_t)n);
			k.cert_len = (size_t)n;
		}
		k.created_at = sqlite3_column_int64(st, 2);
		if (cb(arg, &k) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(CONN(t), err, "read audit keys");
}

dt_code sq_checkpoint_insert(struct store_txn *t, const struct store_checkpoint *cp,
			     struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CHECKPOINT_INSERT,
				   "INSERT INTO audit_checkpoints(seq,time,hash,key_id,signature)"
				   " VALUES(?,?,?,?,?)",
				   err);
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, cp->seq);
	sqlite3_bind_int64(st, 2, cp->time);
	sqlite3_bind_blob(st, 3, cp->hash, 32, SQLITE_STATIC);
	BIND_TEXT(st, 4, cp->key_id);
	sqlite3_bind_blob(st, 5, cp->sig, (int)cp->sig_len, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "store the audit checkpoint");
}

/* One checkpoint row; blobs of the wrong size are kept empty (the verifier says so). */
static void checkpoint_row(sqlite3_stmt *st, struct store_checkpoint *cp)
{
	int n = sqlite3_column_bytes(st, 4);

	memset(cp, 0, sizeof(*cp));
	cp->seq = sqlite3_column_int64(st, 0);
	cp->time = sqlite3_column_int64(st, 1);
	if (sqlite3_column_bytes(st, 2) == 32)
		memcpy(cp->hash, sqlite3_column_blob(st, 2), 32);
	sq_text(st, 3, cp->key_id, sizeof(cp->key_id));
	if (n > 0 && (size_t)n <= sizeof(cp->sig)) {
		memcpy(cp->sig, sqlite3_column_blob(st, 4), (size_t)n);
		cp->sig_len = (size_t)n;
	}
}

#define CHECKPOINT_COLS "seq,time,hash,key_id,signature"

dt_code sq_checkpoint_last(struct store_txn *t, struct store_checkpoint *cp, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_CHECKPOINT_LAST,
	    "SELECT " CHECKPOINT_COLS " FROM audit_checkpoints ORDER BY seq DESC LIMIT 1", err);
	int r;

	memset(cp, 0, sizeof(*cp));
	if (!st)
		return err->code;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		checkpoint_row(st, cp);
	sqlite3_reset(st);
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "store: no audit checkpoint yet");
	return r == SQLITE_ROW ? DT_OK : sq_error(CONN(t), err, "read the last audit checkpoint");
}

dt_code sq_checkpoint_each(struct store_txn *t, int64_t after, store_checkpoint_cb cb, void *arg,
			   struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_CHECKPOINT_EACH,
	    "SELECT " CHECKPOINT_COLS " FROM audit_checkpoints WHERE seq > ? ORDER BY seq", err);
	struct store_checkpoint cp;
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, after);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		checkpoint_row(st, &cp);
		if (cb(arg, &cp) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE)
		   ? DT_OK
		   : sq_error(CONN(t), err, "read audit checkpoints");
}

/* Report rows share one column order: kind-specific detail last. */
#define FINDING_COLS                                                                               \
	"d.id, d.class, COALESCE(c.serial,''), d.state, d.criticality, COALESCE(c.not_after,0)"

static dt_code each_finding(struct sq_conn *c, sqlite3_stmt *st, enum dt_finding_kind kind,
			    dt_finding_cb cb, void *arg, struct dt_error *err)
{
	struct dt_finding f;
	int r;

	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&f, 0, sizeof(f));
		f.kind = kind;
		sq_text(st, 0, f.device_id, sizeof(f.device_id));
		sq_text(st, 1, f.class_name, sizeof(f.class_name));
		sq_text(st, 2, f.serial, sizeof(f.serial));
		f.state = (enum dt_state)sqlite3_column_int(st, 3);
		f.criticality = (enum dt_criticality)sqlite3_column_int(st, 4);
		f.not_after = sqlite3_column_int64(st, 5);
		if (sqlite3_column_count(st) > 6)
			sq_text(st, 6, f.detail, sizeof(f.detail));
		if (cb(arg, &f) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK : sq_error(c, err, "report");
}

dt_code sq_report_expiring(struct store_txn *t, int64_t now, int64_t before, dt_finding_cb cb,
			   void *arg, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_REPORT_EXPIRING,
				   "SELECT " FINDING_COLS " FROM certs c INDEXED BY certs_expiry"
				   " JOIN devices d ON d.id=c.device_id"
				   " WHERE c.status=0 AND c.not_after > ? AND c.not_after <= ?"
				   " ORDER BY c.not_after",
				   err);

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, before);
	return each_finding(CONN(t), st, DT_FIND_EXPIRING, cb, arg, err);
}

dt_code sq_report_drift(struct store_txn *t, int64_t now, dt_finding_cb cb, void *arg,
			struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_REPORT_DRIFT_CERTS,
		    "SELECT " FINDING_COLS " FROM devices d INDEXED BY devices_state"
		    " JOIN certs c ON c.device_id=d.id AND c.status=0 AND c.not_after > ?"
		    " WHERE d.state != 1 ORDER BY d.criticality DESC, d.id",
		    err);
	dt_code rc;

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, now);
	if ((rc = each_finding(CONN(t), st, DT_FIND_CERT_ON_INACTIVE, cb, arg, err)) != DT_OK)
		return rc;
	st = sq_stmt(CONN(t), SQ_REPORT_DRIFT_DEVICES,
		     "SELECT d.id, d.class, '', d.state, d.criticality, 0 FROM devices d"
		     " WHERE d.state = 1 AND NOT EXISTS (SELECT 1 FROM certs c WHERE"
		     " c.device_id=d.id AND c.status=0 AND c.not_after > ?)"
		     " ORDER BY d.criticality DESC, d.id",
		     err);
	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, now);
	return each_finding(CONN(t), st, DT_FIND_ACTIVE_NO_CERT, cb, arg, err);
}

dt_code sq_report_duplicates(struct store_txn *t, dt_finding_cb cb, void *arg, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_REPORT_DUPLICATES,
				   "SELECT " FINDING_COLS ", hex(c.spki_hash) FROM certs c"
				   " JOIN devices d ON d.id=c.device_id WHERE c.spki_hash IN"
				   " (SELECT spki_hash FROM certs GROUP BY spki_hash"
				   "  HAVING COUNT(DISTINCT device_id) > 1)"
				   " ORDER BY c.spki_hash, d.id",
				   err);

	if (!st)
		return err->code;
	return each_finding(CONN(t), st, DT_FIND_DUPLICATE_KEY, cb, arg, err);
}

dt_code sq_report_weak(struct store_txn *t, int64_t now, dt_finding_cb cb, void *arg,
		       struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_REPORT_WEAK,
		    "SELECT " FINDING_COLS ", c.key_type FROM certs c"
		    " JOIN devices d ON d.id=c.device_id JOIN classes k ON k.name=c.class"
		    " WHERE c.status != 2 AND c.not_after > ?"
		    " AND (c.key_type & k.key_types) = 0"
		    " ORDER BY d.criticality DESC, d.id",
		    err);

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, now);
	return each_finding(CONN(t), st, DT_FIND_WEAK_KEY, cb, arg, err);
}

const struct store_ops sq_ops = {
    .setting_get = sq_setting_get,
    .setting_set = sq_setting_set,
    .ca_insert = sq_ca_insert,
    .ca_get = sq_ca_get,
    .ca_list = sq_ca_list,
    .ca_next_crl_number = sq_ca_next_crl_number,
    .ca_set_revoked = sq_ca_set_revoked,
    .ca_set_ocsp_cert = sq_ca_set_ocsp_cert,
    .class_insert = sq_class_insert,
    .class_get = sq_class_get,
    .class_list = sq_class_list,
    .class_update = sq_class_update,
    .device_insert = sq_device_insert,
    .device_get = sq_device_get,
    .device_list = sq_device_list,
    .device_set_state = sq_device_set_state,
    .device_set_token = sq_device_set_token,
    .device_by_serial = sq_device_by_serial,
    .anchor_insert = sq_anchor_insert,
    .anchor_list = sq_anchor_list,
    .cert_insert = sq_cert_insert,
    .cert_get = sq_cert_get,
    .cert_list = sq_cert_list,
    .cert_by_spki = sq_cert_by_spki,
    .cert_set_status = sq_cert_set_status,
    .cert_revoked_each = sq_cert_revoked_each,
    .audit_last = sq_audit_last,
    .audit_append = sq_audit_append,
    .audit_each = sq_audit_each,
    .audit_since = sq_audit_since,
    .report_expiring = sq_report_expiring,
    .report_drift = sq_report_drift,
    .report_duplicates = sq_report_duplicates,
    .report_weak = sq_report_weak,
    .verify_lookup = sq_verify_lookup,
    .policy_put = sq_policy_put,
    .policy_remove = sq_policy_remove,
    .policy_list = sq_policy_list,
    .policy_count = sq_policy_count,
    .clone_policy_set = sq_clone_policy_set,
    .clone_policy_get = sq_clone_policy_get,
    .clone_insert = sq_clone_insert,
    .clone_clear = sq_clone_clear,
    .clone_list = sq_clone_list,
    .seen_put = sq_seen_put,
    .report_silent = sq_report_silent,
    .class_device_counts = sq_class_device_counts,
    .admin_insert = sq_admin_insert,
    .admin_get = sq_admin_get,
    .admin_list = sq_admin_list,
    .admin_revoke = sq_admin_revoke,
    .audit_key_insert = sq_audit_key_insert,
    .audit_key_each = sq_audit_key_each,
    .checkpoint_insert = sq_checkpoint_insert,
    .checkpoint_last = sq_checkpoint_last,
    .checkpoint_each = sq_checkpoint_each,
};
