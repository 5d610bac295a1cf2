/*
 * SQLite operations of backend verification: the one-statement lookup a
 * decision makes about a certificate, policies, clone settings and findings,
 * last-seen times and the counts of the blast-radius report.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

#define CONN(t) ((struct sq_conn *)(t))
#define BIND_TEXT(st, i, s) sqlite3_bind_text((st), (i), (s), -1, SQLITE_STATIC)

/* Everything a decision reads about a certificate: the certificate, its
 * device, the device's class and the CA the class is bound to, the class's
 * clone setting, and whether the device has an open clone finding. */
dt_code sq_verify_lookup(struct store_txn *t, const char *serial, struct store_verify_row *out,
			 struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_VERIFY_LOOKUP,
	    "SELECT c.serial, c.device_id, c.ca, c.not_before, c.not_after, c.status, c.reason,"
	    " c.revoked_at, c.der,"
	    " d.class, d.serial, d.manufacturer, d.model, d.firmware, d.location,"
	    " d.criticality, d.state,"
	    " k.ca, k.min_firmware, a.revoked, a.fingerprint, a.cert,"
	    " (SELECT count(*) FROM clone_findings f WHERE f.device_id = c.device_id"
	    "  AND f.cleared_at = 0),"
	    " COALESCE(p.window_s, ?2), COALESCE(p.action, 0)"
	    " FROM certs c JOIN devices d ON d.id = c.device_id"
	    " JOIN classes k ON k.name = d.class JOIN cas a ON a.name = k.ca"
	    " LEFT JOIN clone_policies p ON p.class = k.name"
	    " WHERE c.serial = ?1",
	    err);
	int r, n;

	memset(out, 0, sizeof(*out));
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, serial);
	sqlite3_bind_int64(st, 2, DT_CLONE_WINDOW_DEFAULT);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW) {
		sqlite3_reset(st);
		if (r == SQLITE_DONE)
			return dt_fail(err, DT_ERR_NOT_FOUND, "no certificate with serial %s",
				       serial);
		return sq_error(CONN(t), err, "read certificate for a decision");
	}
	sq_text(st, 0, out->cert.serial, sizeof(out->cert.serial));
	sq_text(st, 1, out->cert.device_id, sizeof(out->cert.device_id));
	sq_text(st, 2, out->cert.ca, sizeof(out->cert.ca));
	out->cert.not_before = sqlite3_column_int64(st, 3);
	out->cert.not_after = sqlite3_column_int64(st, 4);
	out->cert.status = (enum dt_cert_status)sqlite3_column_int(st, 5);
	out->cert.reason = sqlite3_column_int(st, 6);
	out->cert.revoked_at = sqlite3_column_int64(st, 7);
	n = sqlite3_column_bytes(st, 8);
	if (n > 0 && (out->der = malloc((size_t)n))) {
		memcpy(out->der, sqlite3_column_blob(st, 8), (size_t)n);
		out->der_len = (size_t)n;
	} else if (n > 0) {
		sqlite3_reset(st);
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	memcpy(out->dev.id, out->cert.device_id, sizeof(out->dev.id));
	sq_text(st, 9, out->dev.class_name, sizeof(out->dev.class_name));
	sq_text(st, 10, out->dev.serial, sizeof(out->dev.serial));
	sq_text(st, 11, out->dev.manufacturer, sizeof(out->dev.manufacturer));
	sq_text(st, 12, out->dev.model, sizeof(out->dev.model));
	sq_text(st, 13, out->dev.firmware, sizeof(out->dev.firmware));
	sq_text(st, 14, out->dev.location, sizeof(out->dev.location));
	out->dev.criticality = (enum dt_criticality)sqlite3_column_int(st, 15);
	out->dev.state = (enum dt_state)sqlite3_column_int(st, 16);
	sq_text(st, 17, out->class_ca, sizeof(out->class_ca));
	sq_text(st, 18, out->min_firmware, sizeof(out->min_firmware));
	out->ca_revoked = sqlite3_column_int(st, 19);
	sq_text(st, 20, out->ca_fingerprint, sizeof(out->ca_fingerprint));
	n = sqlite3_column_bytes(st, 21);
	if (n > 0 && (size_t)n <= sizeof(out->ca_cert)) {
		memcpy(out->ca_cert, sqlite3_column_blob(st, 21), (size_t)n);
		out->ca_cert_len = (size_t)n;
	}
	out->clone_open = sqlite3_column_int64(st, 22);
	out->clone_window_s = sqlite3_column_int64(st, 23);
	out->clone_action = sqlite3_column_int(st, 24);
	sqlite3_reset(st);
	return DT_OK;
}

/* The columns policy_row reads, in its order. */
#define POLICY_COLS "class,service,pattern,methods,created_at"

static void policy_row(sqlite3_stmt *st, struct dt_policy *p)
{
	memset(p, 0, sizeof(*p));
	sq_text(st, 0, p->class_name, sizeof(p->class_name));
	sq_text(st, 1, p->service, sizeof(p->service));
	sq_text(st, 2, p->pattern, sizeof(p->pattern));
	p->methods = (unsigned)sqlite3_column_int(st, 3);
	p->created_at = sqlite3_column_int64(st, 4);
}

dt_code sq_policy_put(struct store_txn *t, const struct dt_policy *p, struct dt_policy *out,
		      struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_POLICY_PUT,
				   "INSERT INTO policies(" POLICY_COLS ") VALUES(?,?,?,?,?)"
				   " ON CONFLICT(class,service,pattern)"
				   " DO UPDATE SET methods = methods | excluded.methods"
				   " RETURNING " POLICY_COLS,
				   err);
	int r;

	memset(out, 0, sizeof(*out));
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, p->class_name);
	BIND_TEXT(st, 2, p->service);
	BIND_TEXT(st, 3, p->pattern);
	sqlite3_bind_int(st, 4, (int)p->methods);
	sqlite3_bind_int64(st, 5, p->created_at);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		policy_row(st, out);
	/* Step to the end so the statement's write is complete before reset. */
	while (r == SQLITE_ROW)
		r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "write policy");
}

dt_code sq_policy_remove(struct store_txn *t, const char *class_name, const char *service,
			 const char *pattern, int64_t *removed, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_POLICY_REMOVE,
				   "DELETE FROM policies WHERE class=?1 AND service=?2"
				   " AND (?3 IS NULL OR pattern=?3)",
				   err);
	int r;

	*removed = 0;
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, class_name);
	BIND_TEXT(st, 2, service);
	if (pattern)
		BIND_TEXT(st, 3, pattern);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "remove policy");
	*removed = sqlite3_changes64(CONN(t)->db);
	return DT_OK;
}

dt_code sq_policy_list(struct store_txn *t, const char *class_name, const char *service,
		       dt_policy_cb cb, void *arg, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_POLICY_LIST,
				   "SELECT " POLICY_COLS " FROM policies"
				   " WHERE (?1 IS NULL OR class=?1) AND (?2 IS NULL OR service=?2)"
				   " ORDER BY class, service, pattern",
				   err);
	struct dt_policy p;
	int r;

	if (!st)
		return err->code;
	if (class_name)
		BIND_TEXT(st, 1, class_name);
	if (service)
		BIND_TEXT(st, 2, service);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		policy_row(st, &p);
		if (cb(arg, &p) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(CONN(t), err, "list policies");
}

dt_code sq_policy_count(struct store_txn *t, const char *class_name, int64_t *n,
			struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_POLICY_COUNT, "SELECT count(*) FROM policies WHERE class=?", err);
	int r;

	*n = 0;
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, class_name);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return r == SQLITE_ROW ? DT_OK : sq_error(CONN(t), err, "count policies");
}

dt_code sq_clone_policy_set(struct store_txn *t, const struct dt_clone_policy *p,
			    struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CLONE_POLICY_SET,
				   "INSERT INTO clone_policies(class,window_s,action) VALUES(?,?,?)"
				   " ON CONFLICT(class) DO UPDATE SET window_s=excluded.window_s,"
				   " action=excluded.action",
				   err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, p->class_name);
	sqlite3_bind_int64(st, 2, p->window_s);
	sqlite3_bind_int(st, 3, (int)p->action);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "write clone setting");
}

dt_code sq_clone_policy_get(struct store_txn *t, const char *class_name, struct dt_clone_policy *p,
			    struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CLONE_POLICY_GET,
		    "SELECT window_s, action FROM clone_policies WHERE class=?", err);
	int r;

	memset(p, 0, sizeof(*p));
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, class_name);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		snprintf(p->class_name, sizeof(p->class_name), "%s", class_name);
		p->window_s = sqlite3_column_int64(st, 0);
		p->action = (enum dt_clone_action)sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (r == SQLITE_ROW)
		return DT_OK;
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "class '%s' has no clone setting",
			       class_name);
	return sq_error(CONN(t), err, "read clone setting");
}

dt_code sq_clone_insert(struct store_txn *t, const struct dt_clone_finding *f, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CLONE_INSERT,
				   "INSERT INTO clone_findings(device_id,serial,first_addr,"
				   "second_addr,first_seen,second_seen,window_s,action)"
				   " VALUES(?,?,?,?,?,?,?,?)",
				   err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, f->device_id);
	BIND_TEXT(st, 2, f->serial);
	BIND_TEXT(st, 3, f->first_addr);
	BIND_TEXT(st, 4, f->second_addr);
	sqlite3_bind_int64(st, 5, f->first_seen);
	sqlite3_bind_int64(st, 6, f->second_seen);
	sqlite3_bind_int64(st, 7, f->window_s);
	sqlite3_bind_int(st, 8, (int)f->action);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "record clone finding");
}

dt_code sq_clone_clear(struct store_txn *t, const char *device_id, int64_t at, const char *by,
		       int64_t *cleared, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CLONE_CLEAR,
				   "UPDATE clone_findings SET cleared_at=?2, cleared_by=?3"
				   " WHERE device_id=?1 AND cleared_at=0",
				   err);
	int r;

	*cleared = 0;
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, device_id);
	sqlite3_bind_int64(st, 2, at);
	BIND_TEXT(st, 3, by);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "clear clone findings");
	*cleared = sqlite3_changes64(CONN(t)->db);
	return DT_OK;
}

dt_code sq_clone_list(struct store_txn *t, int include_cleared, dt_clone_cb cb, void *arg,
		      struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_CLONE_LIST,
	    "SELECT f.id, f.device_id, d.class, f.serial, f.first_addr, f.second_addr,"
	    " f.first_seen, f.second_seen, f.window_s, f.action, d.criticality, f.cleared_at,"
	    " f.cleared_by FROM clone_findings f JOIN devices d ON d.id = f.device_id"
	    " WHERE ?1 OR f.cleared_at = 0 ORDER BY f.id",
	    err);
	struct dt_clone_finding f;
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int(st, 1, include_cleared ? 1 : 0);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&f, 0, sizeof(f));
		f.id = sqlite3_column_int64(st, 0);
		sq_text(st, 1, f.device_id, sizeof(f.device_id));
		sq_text(st, 2, f.class_name, sizeof(f.class_name));
		sq_text(st, 3, f.serial, sizeof(f.serial));
		sq_text(st, 4, f.first_addr, sizeof(f.first_addr));
		sq_text(st, 5, f.second_addr, sizeof(f.second_addr));
		f.first_seen = sqlite3_column_int64(st, 6);
		f.second_seen = sqlite3_column_int64(st, 7);
		f.window_s = sqlite3_column_int64(st, 8);
		f.action = (enum dt_clone_action)sqlite3_column_int(st, 9);
		f.criticality = (enum dt_criticality)sqlite3_column_int(st, 10);
		f.cleared_at = sqlite3_column_int64(st, 11);
		sq_text(st, 12, f.cleared_by, sizeof(f.cleared_by));
		if (cb(arg, &f) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE)
		   ? DT_OK
		   : sq_error(CONN(t), err, "list clone findings");
}

/* A later time never loses to an earlier one: several verifiers (processes)
 * may write the same device. */
dt_code sq_seen_put(struct store_txn *t, const struct dt_seen *s, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_SEEN_PUT,
	    "INSERT INTO device_seen(device_id,last_seen,last_addr,last_service,last_allowed,"
	    "last_reason) VALUES(?,?,?,?,?,?) ON CONFLICT(device_id) DO UPDATE SET"
	    " last_seen=excluded.last_seen, last_addr=excluded.last_addr,"
	    " last_service=excluded.last_service, last_allowed=excluded.last_allowed,"
	    " last_reason=excluded.last_reason WHERE excluded.last_seen >= device_seen.last_seen",
	    err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, s->device_id);
	sqlite3_bind_int64(st, 2, s->last_seen);
	BIND_TEXT(st, 3, s->last_addr);
	BIND_TEXT(st, 4, s->last_service);
	sqlite3_bind_int(st, 5, s->last_allowed ? 1 : 0);
	BIND_TEXT(st, 6, s->last_reason);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "write last-seen time");
}

dt_code sq_report_silent(struct store_txn *t, int64_t before, dt_seen_cb cb, void *arg,
			 struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_REPORT_SILENT,
		    "SELECT d.id, d.class, d.state, d.criticality, COALESCE(s.last_seen, 0),"
		    " COALESCE(s.last_addr, ''), COALESCE(s.last_service, ''),"
		    " COALESCE(s.last_allowed, 0), COALESCE(s.last_reason, '')"
		    " FROM devices d LEFT JOIN device_seen s ON s.device_id = d.id"
		    " WHERE d.state = ?1 AND COALESCE(s.last_seen, 0) < ?2"
		    " ORDER BY COALESCE(s.last_seen, 0), d.id",
		    err);
	struct dt_seen s;
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int(st, 1, DT_STATE_ACTIVE);
	sqlite3_bind_int64(st, 2, before);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&s, 0, sizeof(s));
		sq_text(st, 0, s.device_id, sizeof(s.device_id));
		sq_text(st, 1, s.class_name, sizeof(s.class_name));
		s.state = (enum dt_state)sqlite3_column_int(st, 2);
		s.criticality = (enum dt_criticality)sqlite3_column_int(st, 3);
		s.last_seen = sqlite3_column_int64(st, 4);
		sq_text(st, 5, s.last_addr, sizeof(s.last_addr));
		sq_text(st, 6, s.last_service, sizeof(s.last_service));
		s.last_allowed = sqlite3_column_int(st, 7);
		sq_text(st, 8, s.last_reason, sizeof(s.last_reason));
		if (cb(arg, &s) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE)
		   ? DT_OK
		   : sq_error(CONN(t), err, "report silent devices");
}

dt_code sq_class_device_counts(struct store_txn *t, const char *class_name,
			       int64_t counts[DT_STATE_COUNT][4], struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CLASS_DEVICE_COUNTS,
				   "SELECT state, criticality, count(*) FROM devices WHERE class=?"
				   " GROUP BY state, criticality",
				   err);
	int r;

	memset(counts, 0, sizeof(int64_t) * DT_STATE_COUNT * 4);
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, class_name);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 0), c = sqlite3_column_int(st, 1);
		if (s >= 0 && s < DT_STATE_COUNT && c >= 0 && c < 4)
			counts[s][c] = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "count devices of a class");
}
