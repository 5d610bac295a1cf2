/*
 * SQLite operations of admin API credentials (table admin_credentials).
 */
#include <string.h>

#include "store/store_sqlite.h"

#define CONN(t) ((struct sq_conn *)(t))
#define BIND_TEXT(st, i, s) sqlite3_bind_text((st), (i), (s), -1, SQLITE_STATIC)
#define ADMIN_COLS                                                                                 \
	"id, kind, name, role, manufacturer, token_hash, not_after, created_at, created_by,"       \
	" revoked_at"

static void admin_row(sqlite3_stmt *st, struct store_admin_cred *a)
{
	int n;

	memset(a, 0, sizeof(*a));
	sq_text(st, 0, a->c.id, sizeof(a->c.id));
	a->c.kind = (enum dt_cred_kind)sqlite3_column_int(st, 1);
	sq_text(st, 2, a->c.name, sizeof(a->c.name));
	a->c.role = (enum dt_role)sqlite3_column_int(st, 3);
	sq_text(st, 4, a->c.manufacturer, sizeof(a->c.manufacturer));
	n = sqlite3_column_bytes(st, 5);
	if (n == 32) {
		memcpy(a->token_hash, sqlite3_column_blob(st, 5), 32);
		a->has_hash = 1;
	}
	a->c.not_after = sqlite3_column_int64(st, 6);
	a->c.created_at = sqlite3_column_int64(st, 7);
	sq_text(st, 8, a->c.created_by, sizeof(a->c.created_by));
	a->c.revoked_at = sqlite3_column_int64(st, 9);
}

dt_code sq_admin_insert(struct store_txn *t, const struct store_admin_cred *a, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_ADMIN_INSERT,
				   "INSERT INTO admin_credentials(" ADMIN_COLS
				   ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,0)",
				   err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, a->c.id);
	sqlite3_bind_int(st, 2, (int)a->c.kind);
	BIND_TEXT(st, 3, a->c.name);
	sqlite3_bind_int(st, 4, (int)a->c.role);
	BIND_TEXT(st, 5, a->c.manufacturer);
	if (a->has_hash)
		sqlite3_bind_blob(st, 6, a->token_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, a->c.not_after);
	sqlite3_bind_int64(st, 8, a->c.created_at);
	BIND_TEXT(st, 9, a->c.created_by);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r == SQLITE_CONSTRAINT)
		return dt_fail(err, DT_ERR_EXISTS, "an admin credential with id %s exists",
			       a->c.id);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "insert admin credential");
}

dt_code sq_admin_get(struct store_txn *t, const char *id, struct store_admin_cred *out,
		     struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_ADMIN_GET,
				   "SELECT " ADMIN_COLS " FROM admin_credentials WHERE id=?1", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, id);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		admin_row(st, out);
	sqlite3_reset(st);
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no admin credential %s", id);
	return r == SQLITE_ROW ? DT_OK : sq_error(CONN(t), err, "read admin credential");
}

dt_code sq_admin_list(struct store_txn *t, const char *name, dt_admin_cb cb, void *arg,
		      struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_ADMIN_LIST,
				   "SELECT " ADMIN_COLS " FROM admin_credentials"
				   " WHERE ?1 IS NULL OR name=?1 ORDER BY created_at DESC, id",
				   err);
	struct store_admin_cred a;
	int r;

	if (!st)
		return err->code;
	if (name)
		BIND_TEXT(st, 1, name);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		admin_row(st, &a);
		if (cb(arg, &a.c) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE)
		   ? DT_OK
		   : sq_error(CONN(t), err, "list admin credentials");
}

dt_code sq_admin_revoke(struct store_txn *t, const char *name_or_id, int64_t at, int64_t *count,
			struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_ADMIN_REVOKE,
				   "UPDATE admin_credentials SET revoked_at=?2"
				   " WHERE (id=?1 OR name=?1) AND revoked_at=0",
				   err);
	int r;

	*count = 0;
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, name_or_id);
	sqlite3_bind_int64(st, 2, at);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "revoke admin credential");
	*count = sqlite3_changes(CONN(t)->db);
	return DT_OK;
}
