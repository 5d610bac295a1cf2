/*
 * SQLite operations on settings, device classes and devices.
 */
#include <string.h>

#include "store/store_sqlite.h"

#define CONN(t) ((struct sq_conn *)(t))
#define BIND_TEXT(st, i, s) sqlite3_bind_text((st), (i), (s), -1, SQLITE_STATIC)

dt_code sq_setting_get(struct store_txn *t, const char *key, char *buf, size_t len,
		       struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_SETTING_GET, "SELECT value FROM settings WHERE key=?", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, key);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		sq_text(st, 0, buf, len);
		sqlite3_reset(st);
		return DT_OK;
	}
	sqlite3_reset(st);
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "store: setting '%s' is not set", key);
	return sq_error(CONN(t), err, "read setting");
}

dt_code sq_setting_set(struct store_txn *t, const char *key, const char *value,
		       struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_SETTING_SET,
				   "INSERT INTO settings(key,value) VALUES(?,?) "
				   "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
				   err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, key);
	BIND_TEXT(st, 2, value);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? DT_OK : sq_error(CONN(t), err, "write setting");
}

#define CLASS_COLS                                                                                 \
	"name,ca,lifetime_s,key_types,eku,renew_at,min_firmware,revoke_superseded,created_at"

dt_code sq_class_insert(struct store_txn *t, const struct dt_class *c, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CLASS_INSERT,
		    "INSERT INTO classes(" CLASS_COLS ") VALUES(?,?,?,?,?,?,?,?,?)", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, c->name);
	BIND_TEXT(st, 2, c->ca);
	sqlite3_bind_int64(st, 3, c->lifetime_s);
	sqlite3_bind_int(st, 4, (int)c->key_types);
	sqlite3_bind_int(st, 5, (int)c->eku);
	sqlite3_bind_double(st, 6, c->renew_at);
	BIND_TEXT(st, 7, c->min_firmware);
	sqlite3_bind_int(st, 8, c->revoke_superseded);
	sqlite3_bind_int64(st, 9, c->created_at);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r == SQLITE_DONE)
		return DT_OK;
	if (sqlite3_extended_errcode(CONN(t)->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		return dt_fail(err, DT_ERR_EXISTS, "class '%s' already exists", c->name);
	return sq_error(CONN(t), err, "insert class");
}

static void class_row(sqlite3_stmt *st, struct dt_class *c)
{
	memset(c, 0, sizeof(*c));
	sq_text(st, 0, c->name, sizeof(c->name));
	sq_text(st, 1, c->ca, sizeof(c->ca));
	c->lifetime_s = sqlite3_column_int64(st, 2);
	c->key_types = (unsigned)sqlite3_column_int(st, 3);
	c->eku = (unsigned)sqlite3_column_int(st, 4);
	c->renew_at = sqlite3_column_double(st, 5);
	sq_text(st, 6, c->min_firmware, sizeof(c->min_firmware));
	c->revoke_superseded = sqlite3_column_int(st, 7);
	c->created_at = sqlite3_column_int64(st, 8);
}

dt_code sq_class_get(struct store_txn *t, const char *name, struct dt_class *out,
		     struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CLASS_GET, "SELECT " CLASS_COLS " FROM classes WHERE name=?", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, name);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		class_row(st, out);
	sqlite3_reset(st);
	if (r == SQLITE_ROW)
		return DT_OK;
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no class named '%s'", name);
	return sq_error(CONN(t), err, "read class");
}

dt_code sq_class_list(struct store_txn *t, dt_class_cb cb, void *arg, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CLASS_LIST,
				   "SELECT " CLASS_COLS " FROM classes ORDER BY name", err);
	struct dt_class c;
	int r;

	if (!st)
		return err->code;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		class_row(st, &c);
		if (cb(arg, &c) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(CONN(t), err, "list classes");
}

dt_code sq_class_update(struct store_txn *t, const struct dt_class *c, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CLASS_UPDATE,
		    "UPDATE classes SET lifetime_s=?, key_types=?, eku=?, renew_at=?,"
		    " min_firmware=?, revoke_superseded=? WHERE name=?",
		    err);
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, c->lifetime_s);
	sqlite3_bind_int(st, 2, (int)c->key_types);
	sqlite3_bind_int(st, 3, (int)c->eku);
	sqlite3_bind_double(st, 4, c->renew_at);
	BIND_TEXT(st, 5, c->min_firmware);
	sqlite3_bind_int(st, 6, c->revoke_superseded);
	BIND_TEXT(st, 7, c->name);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "update class");
	if (sqlite3_changes(CONN(t)->db) != 1)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no class named '%s'", c->name);
	return DT_OK;
}

#define DEVICE_COLS                                                                                \
	"id,class,serial,manufacturer,model,firmware,owner,location,criticality,state,"            \
	"created_at,updated_at,token_expires,token_hash"

dt_code sq_device_insert(struct store_txn *t, const struct dt_device *d,
			 const unsigned char *token_hash, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_DEVICE_INSERT,
	    "INSERT INTO devices(" DEVICE_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, d->id);
	BIND_TEXT(st, 2, d->class_name);
	BIND_TEXT(st, 3, d->serial);
	BIND_TEXT(st, 4, d->manufacturer);
	BIND_TEXT(st, 5, d->model);
	BIND_TEXT(st, 6, d->firmware);
	BIND_TEXT(st, 7, d->owner);
	BIND_TEXT(st, 8, d->location);
	sqlite3_bind_int(st, 9, (int)d->criticality);
	sqlite3_bind_int(st, 10, (int)d->state);
	sqlite3_bind_int64(st, 11, d->created_at);
	sqlite3_bind_int64(st, 12, d->updated_at);
	sqlite3_bind_int64(st, 13, token_hash ? d->token_expires : 0);
	if (token_hash)
		sqlite3_bind_blob(st, 14, token_hash, 32, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r == SQLITE_DONE)
		return DT_OK;
	if (sqlite3_extended_errcode(CONN(t)->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		return dt_fail(err, DT_ERR_EXISTS, "device '%s' already exists", d->id);
	if (sqlite3_extended_errcode(CONN(t)->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no class named '%s'", d->class_name);
	return sq_error(CONN(t), err, "insert device");
}

static void device_row(sqlite3_stmt *st, struct dt_device *d, unsigned char *token_hash)
{
	memset(d, 0, sizeof(*d));
	sq_text(st, 0, d->id, sizeof(d->id));
	sq_text(st, 1, d->class_name, sizeof(d->class_name));
	sq_text(st, 2, d->serial, sizeof(d->serial));
	sq_text(st, 3, d->manufacturer, sizeof(d->manufacturer));
	sq_text(st, 4, d->model, sizeof(d->model));
	sq_text(st, 5, d->firmware, sizeof(d->firmware));
	sq_text(st, 6, d->owner, sizeof(d->owner));
	sq_text(st, 7, d->location, sizeof(d->location));
	d->criticality = (enum dt_criticality)sqlite3_column_int(st, 8);
	d->state = (enum dt_state)sqlite3_column_int(st, 9);
	d->created_at = sqlite3_column_int64(st, 10);
	d->updated_at = sqlite3_column_int64(st, 11);
	d->token_expires = sqlite3_column_int64(st, 12);
	if (token_hash) {
		memset(token_hash, 0, 32);
		if (sqlite3_column_bytes(st, 13) == 32)
			memcpy(token_hash, sqlite3_column_blob(st, 13), 32);
		else
			d->token_expires = 0;
	}
}

dt_code sq_device_get(struct store_txn *t, const char *id, struct dt_device *out,
		      unsigned char token_hash[32], struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_DEVICE_GET, "SELECT " DEVICE_COLS " FROM devices WHERE id=?", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, id);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		device_row(st, out, token_hash);
	sqlite3_reset(st);
	if (r == SQLITE_ROW)
		return DT_OK;
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no device with id '%s'", id);
	return sq_error(CONN(t), err, "read device");
}

dt_code sq_device_list(struct store_txn *t, const struct dt_device_filter *f, dt_device_cb cb,
		       void *arg, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_DEVICE_LIST,
				   "SELECT " DEVICE_COLS " FROM devices WHERE"
				   " (?1 IS NULL OR class=?1) AND (?2 < 0 OR state=?2) AND"
				   " (?3 IS NULL OR owner=?3) AND (?4 IS NULL OR manufacturer=?4)"
				   " AND (?5 IS NULL OR id > ?5) ORDER BY id",
				   err);
	struct dt_device d;
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, f ? f->class_name : NULL);
	sqlite3_bind_int(st, 2, f ? f->state : -1);
	BIND_TEXT(st, 3, f ? f->owner : NULL);
	BIND_TEXT(st, 4, f ? f->manufacturer : NULL);
	BIND_TEXT(st, 5, f ? f->after_id : NULL);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		device_row(st, &d, NULL);
		if (cb(arg, &d) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(CONN(t), err, "list devices");
}

dt_code sq_device_set_state(struct store_txn *t, const char *id, enum dt_state s, int64_t now,
			    struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_DEVICE_STATE,
				   "UPDATE devices SET state=?, updated_at=? WHERE id=?", err);
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int(st, 1, (int)s);
	sqlite3_bind_int64(st, 2, now);
	BIND_TEXT(st, 3, id);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "update device state");
	if (sqlite3_changes(CONN(t)->db) != 1)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no device with id '%s'", id);
	return DT_OK;
}

dt_code sq_device_set_token(struct store_txn *t, const char *id, const unsigned char *token_hash,
			    int64_t expires, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_DEVICE_TOKEN,
		    "UPDATE devices SET token_hash=?, token_expires=? WHERE id=?", err);
	int r;

	if (!st)
		return err->code;
	if (token_hash)
		sqlite3_bind_blob(st, 1, token_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, token_hash ? expires : 0);
	BIND_TEXT(st, 3, id);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "update device token");
	if (sqlite3_changes(CONN(t)->db) != 1)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no device with id '%s'", id);
	return DT_OK;
}

dt_code sq_device_by_serial(struct store_txn *t, const char *manufacturer, const char *serial,
			    struct dt_device *out, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_DEVICE_BY_SERIAL,
		    "SELECT " DEVICE_COLS " FROM devices INDEXED BY devices_manufacturer"
		    " WHERE manufacturer=? AND serial=?",
		    err);
	int r, rows = 0;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, manufacturer);
	BIND_TEXT(st, 2, serial);
	while ((r = sqlite3_step(st)) == SQLITE_ROW && ++rows == 1)
		device_row(st, out, NULL);
	sqlite3_reset(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return sq_error(CONN(t), err, "find device by serial");
	if (rows == 0)
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "no device of manufacturer '%s' with serial '%s'", manufacturer,
			       serial);
	if (rows > 1)
		return dt_fail(err, DT_ERR_STATE,
			       "several devices of manufacturer '%s' have serial '%s': fix the "
			       "inventory",
			       manufacturer, serial);
	return DT_OK;
}

dt_code sq_anchor_insert(struct store_txn *t, const struct store_anchor *a, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_ANCHOR_INSERT,
		    "INSERT INTO manufacturer_anchors(manufacturer,fingerprint,anchor,"
		    "subject,not_after,created_at) VALUES(?,?,?,?,?,?)",
		    err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, a->manufacturer);
	BIND_TEXT(st, 2, a->fingerprint);
	sqlite3_bind_blob(st, 3, a->der, (int)a->der_len, SQLITE_STATIC);
	BIND_TEXT(st, 4, a->subject);
	sqlite3_bind_int64(st, 5, a->not_after);
	sqlite3_bind_int64(st, 6, a->created_at);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r == SQLITE_DONE)
		return DT_OK;
	if (sqlite3_extended_errcode(CONN(t)->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		return dt_fail(err, DT_ERR_EXISTS, "manufacturer '%s' already has this anchor",
			       a->manufacturer);
	return sq_error(CONN(t), err, "insert anchor");
}

dt_code sq_anchor_list(struct store_txn *t, const char *manufacturer, store_anchor_cb cb, void *arg,
		       struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_ANCHOR_LIST,
		    "SELECT manufacturer,fingerprint,anchor,subject,not_after,created_at"
		    " FROM manufacturer_anchors WHERE (?1 IS NULL OR manufacturer=?1)"
		    " ORDER BY manufacturer, created_at",
		    err);
	struct store_anchor a;
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, manufacturer);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&a, 0, sizeof(a));
		sq_text(st, 0, a.manufacturer, sizeof(a.manufacturer));
		sq_text(st, 1, a.fingerprint, sizeof(a.fingerprint));
		a.der = sqlite3_column_blob(st, 2);
		a.der_len = (size_t)sqlite3_column_bytes(st, 2);
		sq_text(st, 3, a.subject, sizeof(a.subject));
		a.not_after = sqlite3_column_int64(st, 4);
		a.created_at = sqlite3_column_int64(st, 5);
		if (cb(arg, &a) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(CONN(t), err, "list anchors");
}
