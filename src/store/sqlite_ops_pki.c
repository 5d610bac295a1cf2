/*
 * SQLite operations on CAs and certificates.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

#define CONN(t) ((struct sq_conn *)(t))
#define BIND_TEXT(st, i, s) sqlite3_bind_text((st), (i), (s), -1, SQLITE_STATIC)

#define CA_COLS                                                                                    \
	"name,kind,parent,subject,fingerprint,not_before,not_after,cert,ocsp_cert,revoked,"        \
	"revoked_at,reason,crl_number"

dt_code sq_ca_insert(struct store_txn *t, const struct store_ca *ca, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CA_INSERT,
		    "INSERT INTO cas(" CA_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, ca->info.name);
	BIND_TEXT(st, 2, ca->info.kind);
	BIND_TEXT(st, 3, ca->info.parent);
	BIND_TEXT(st, 4, ca->info.subject);
	BIND_TEXT(st, 5, ca->info.fingerprint);
	sqlite3_bind_int64(st, 6, ca->info.not_before);
	sqlite3_bind_int64(st, 7, ca->info.not_after);
	sqlite3_bind_blob(st, 8, ca->cert, (int)ca->cert_len, SQLITE_STATIC);
	if (ca->ocsp_cert_len)
		sqlite3_bind_blob(st, 9, ca->ocsp_cert, (int)ca->ocsp_cert_len, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, ca->info.revoked);
	sqlite3_bind_int64(st, 11, ca->info.revoked_at);
	sqlite3_bind_int(st, 12, ca->info.reason);
	sqlite3_bind_int64(st, 13, ca->info.crl_number);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r == SQLITE_DONE)
		return DT_OK;
	if (sqlite3_extended_errcode(CONN(t)->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		return dt_fail(err, DT_ERR_EXISTS, "a CA named '%s' already exists", ca->info.name);
	return sq_error(CONN(t), err, "insert CA");
}

static void blob_copy(sqlite3_stmt *st, int col, unsigned char *buf, size_t cap, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);

	*len = 0;
	if (n > 0 && (size_t)n <= cap) {
		memcpy(buf, sqlite3_column_blob(st, col), (size_t)n);
		*len = (size_t)n;
	}
}

static void ca_row(sqlite3_stmt *st, struct store_ca *ca)
{
	memset(&ca->info, 0, sizeof(ca->info));
	sq_text(st, 0, ca->info.name, sizeof(ca->info.name));
	sq_text(st, 1, ca->info.kind, sizeof(ca->info.kind));
	sq_text(st, 2, ca->info.parent, sizeof(ca->info.parent));
	sq_text(st, 3, ca->info.subject, sizeof(ca->info.subject));
	sq_text(st, 4, ca->info.fingerprint, sizeof(ca->info.fingerprint));
	ca->info.not_before = sqlite3_column_int64(st, 5);
	ca->info.not_after = sqlite3_column_int64(st, 6);
	blob_copy(st, 7, ca->cert, sizeof(ca->cert), &ca->cert_len);
	blob_copy(st, 8, ca->ocsp_cert, sizeof(ca->ocsp_cert), &ca->ocsp_cert_len);
	ca->info.revoked = sqlite3_column_int(st, 9);
	ca->info.revoked_at = sqlite3_column_int64(st, 10);
	ca->info.reason = sqlite3_column_int(st, 11);
	ca->info.crl_number = sqlite3_column_int64(st, 12);
}

dt_code sq_ca_get(struct store_txn *t, const char *name, struct store_ca *out, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CA_GET, "SELECT " CA_COLS " FROM cas WHERE name=?", err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, name);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		ca_row(st, out);
	sqlite3_reset(st);
	if (r == SQLITE_ROW)
		return DT_OK;
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no CA named '%s'", name);
	return sq_error(CONN(t), err, "read CA");
}

dt_code sq_ca_list(struct store_txn *t, store_ca_cb cb, void *arg, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_CA_LIST, "SELECT " CA_COLS " FROM cas ORDER BY kind != 'root', name", err);
	struct store_ca *ca = NULL;
	int r;

	if (!st)
		return err->code;
	if (!(ca = malloc(sizeof(*ca))))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		ca_row(st, ca);
		if (cb(arg, ca) != 0)
			break;
	}
	sqlite3_reset(st);
	free(ca);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK : sq_error(CONN(t), err, "list CAs");
}

dt_code sq_ca_next_crl_number(struct store_txn *t, const char *name, int64_t *out,
			      struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(
	    CONN(t), SQ_CA_CRL_NUMBER,
	    "UPDATE cas SET crl_number=crl_number+1 WHERE name=? RETURNING crl_number", err);
	int r;

	*out = 0;
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, name);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	while (r == SQLITE_ROW)
		r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "next CRL number");
	if (*out == 0)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no CA named '%s'", name);
	return DT_OK;
}

dt_code sq_ca_set_revoked(struct store_txn *t, const char *name, int64_t at, int reason,
			  struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CA_REVOKE,
		    "UPDATE cas SET revoked=1, revoked_at=?, reason=? WHERE name=?", err);
	int r;

	if (!st)
		return err->code;
	sqlite3_bind_int64(st, 1, at);
	sqlite3_bind_int(st, 2, reason);
	BIND_TEXT(st, 3, name);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "revoke CA");
	if (sqlite3_changes(CONN(t)->db) != 1)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no CA named '%s'", name);
	return DT_OK;
}

dt_code sq_ca_set_ocsp_cert(struct store_txn *t, const char *name, const unsigned char *der,
			    size_t len, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CA_SET_OCSP, "UPDATE cas SET ocsp_cert=? WHERE name=?", err);
	int r;

	if (!st)
		return err->code;
	if (len == 0 || len > STORE_CA_DER_MAX)
		return dt_fail(err, DT_ERR_INTERNAL, "an OCSP signer certificate of %zu bytes",
			       len);
	sqlite3_bind_blob(st, 1, der, (int)len, SQLITE_STATIC);
	BIND_TEXT(st, 2, name);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "replace OCSP signer");
	if (sqlite3_changes(CONN(t)->db) != 1)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no CA named '%s'", name);
	return DT_OK;
}

#define CERT_COLS                                                                                  \
	"serial,device_id,ca,key_type,not_before,not_after,status,reason,revoked_at,issued_at,"    \
	"spki_hash"

static void hex32(const unsigned char *in, int n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void cert_row(sqlite3_stmt *st, struct dt_cert_info *c, unsigned char *spki_hash)
{
	const unsigned char *h;

	memset(c, 0, sizeof(*c));
	sq_text(st, 0, c->serial, sizeof(c->serial));
	sq_text(st, 1, c->device_id, sizeof(c->device_id));
	sq_text(st, 2, c->ca, sizeof(c->ca));
	c->key_type = (unsigned)sqlite3_column_int(st, 3);
	c->not_before = sqlite3_column_int64(st, 4);
	c->not_after = sqlite3_column_int64(st, 5);
	c->status = (enum dt_cert_status)sqlite3_column_int(st, 6);
	c->reason = sqlite3_column_int(st, 7);
	c->revoked_at = sqlite3_column_int64(st, 8);
	c->issued_at = sqlite3_column_int64(st, 9);
	h = sqlite3_column_blob(st, 10);
	if (h && sqlite3_column_bytes(st, 10) == 32) {
		hex32(h, 32, c->spki_sha256);
		if (spki_hash)
			memcpy(spki_hash, h, 32);
	}
}

dt_code sq_cert_insert(struct store_txn *t, const struct store_cert *c, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CERT_INSERT,
				   "INSERT INTO certs(" CERT_COLS ",class,der) "
				   "SELECT ?,?,?,?,?,?,?,?,?,?,?,class,? FROM devices WHERE id=?2",
				   err);
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, c->info.serial);
	BIND_TEXT(st, 2, c->info.device_id);
	BIND_TEXT(st, 3, c->info.ca);
	sqlite3_bind_int(st, 4, (int)c->info.key_type);
	sqlite3_bind_int64(st, 5, c->info.not_before);
	sqlite3_bind_int64(st, 6, c->info.not_after);
	sqlite3_bind_int(st, 7, (int)c->info.status);
	sqlite3_bind_int(st, 8, c->info.reason);
	sqlite3_bind_int64(st, 9, c->info.revoked_at);
	sqlite3_bind_int64(st, 10, c->info.issued_at);
	sqlite3_bind_blob(st, 11, c->spki_hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 12, c->der, (int)c->der_len, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE) {
		if (sqlite3_extended_errcode(CONN(t)->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
			return dt_fail(err, DT_ERR_EXISTS, "serial %s is already used",
				       c->info.serial);
		return sq_error(CONN(t), err, "insert certificate");
	}
	if (sqlite3_changes(CONN(t)->db) != 1)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no device with id '%s'", c->info.device_id);
	return DT_OK;
}

dt_code sq_cert_get(struct store_txn *t, const char *serial, struct store_cert *out, int with_der,
		    struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CERT_GET,
				   "SELECT " CERT_COLS ",der FROM certs WHERE serial=?", err);
	int r;

	memset(out, 0, sizeof(*out));
	if (!st)
		return err->code;
	BIND_TEXT(st, 1, serial);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		cert_row(st, &out->info, out->spki_hash);
		if (with_der) {
			int n = sqlite3_column_bytes(st, 11);
			unsigned char *der = n > 0 ? malloc((size_t)n) : NULL;

			if (!der) {
				sqlite3_reset(st);
				return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
			}
			memcpy(der, sqlite3_column_blob(st, 11), (size_t)n);
			out->der = der;
			out->der_len = (size_t)n;
		}
	}
	sqlite3_reset(st);
	if (r == SQLITE_ROW)
		return DT_OK;
	if (r == SQLITE_DONE)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no certificate with serial %s", serial);
	return sq_error(CONN(t), err, "read certificate");
}

#define CERT_FILTER                                                                                \
	" (?1 IS NULL OR serial=?1) AND (?2 IS NULL OR device_id=?2) AND"                          \
	" (?3 IS NULL OR ca=?3) AND (?4 IS NULL OR class=?4)"

static void bind_filter(sqlite3_stmt *st, const struct dt_cert_filter *f)
{
	BIND_TEXT(st, 1, f ? f->serial : NULL);
	BIND_TEXT(st, 2, f ? f->device_id : NULL);
	BIND_TEXT(st, 3, f ? f->ca : NULL);
	BIND_TEXT(st, 4, f ? f->class_name : NULL);
}

static dt_code each_cert(struct sq_conn *c, sqlite3_stmt *st, dt_cert_cb cb, void *arg,
			 struct dt_error *err)
{
	struct dt_cert_info info;
	int r;

	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		cert_row(st, &info, NULL);
		if (cb(arg, &info) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(c, err, "list certificates");
}

#define CERT_LIST_TAIL                                                                             \
	CERT_FILTER " AND (?5 < 0 OR status=?5) AND (issued_at, serial) > (?7, ?6)"                \
		    " ORDER BY issued_at, serial"

/* In issuance order from after the cursor. The bound is a row value the index
 * certs_issued seeks (an "?6 IS NULL OR" would make SQLite scan from the start for
 * every page); one device's certificates come through certs_device instead, a few
 * rows to sort rather than the whole index to read. */
dt_code sq_cert_list(struct store_txn *t, const struct dt_cert_filter *f, dt_cert_cb cb, void *arg,
		     struct dt_error *err)
{
	sqlite3_stmt *st =
	    f && f->device_id
		? sq_stmt(CONN(t), SQ_CERT_LIST_DEVICE,
			  "SELECT " CERT_COLS " FROM certs WHERE device_id=?2 AND" CERT_LIST_TAIL,
			  err)
		: sq_stmt(CONN(t), SQ_CERT_LIST,
			  "SELECT " CERT_COLS " FROM certs WHERE" CERT_LIST_TAIL, err);

	if (!st)
		return err->code;
	bind_filter(st, f);
	sqlite3_bind_int(st, 5, f ? f->status : -1);
	if (f && f->after_serial) {
		BIND_TEXT(st, 6, f->after_serial);
		sqlite3_bind_int64(st, 7, f->after_issued_at);
	} else {
		BIND_TEXT(st, 6, "");
		sqlite3_bind_int64(st, 7, INT64_MIN);
	}
	return each_cert(CONN(t), st, cb, arg, err);
}

dt_code sq_cert_by_spki(struct store_txn *t, const unsigned char spki_hash[32], dt_cert_cb cb,
			void *arg, struct dt_error *err)
{
	sqlite3_stmt *st = sq_stmt(CONN(t), SQ_CERT_SPKI,
				   "SELECT " CERT_COLS " FROM certs WHERE spki_hash=?", err);

	if (!st)
		return err->code;
	sqlite3_bind_blob(st, 1, spki_hash, 32, SQLITE_STATIC);
	return each_cert(CONN(t), st, cb, arg, err);
}

dt_code sq_cert_set_status(struct store_txn *t, const struct dt_cert_filter *scope,
			   unsigned from_mask, enum dt_cert_status to, int reason, int64_t at,
			   store_serial_cb cb, void *arg, int64_t *changed, struct dt_error *err)
{
	/* One statement per scope, so each uses its index (an "(? IS NULL OR col=?)"
	 * filter makes SQLite scan every certificate). */
	static const struct {
		int id;
		const char *col;
	} scopes[] = {{SQ_CERT_SET_STATUS, "serial"},
		      {SQ_CERT_SET_STATUS_DEVICE, "device_id"},
		      {SQ_CERT_SET_STATUS_CLASS, "class"},
		      {SQ_CERT_SET_STATUS_CA, "ca"}};
	const char *key = NULL;
	char sql[256];
	sqlite3_stmt *st;
	int r, k;
	int64_t n = 0;

	if (changed)
		*changed = 0;
	if (!scope)
		return dt_fail(err, DT_ERR_INTERNAL, "store: status change without a scope");
	k = scope->serial ? 0 : scope->device_id ? 1 : scope->class_name ? 2 : scope->ca ? 3 : -1;
	if (k < 0 || !!scope->serial + !!scope->device_id + !!scope->class_name + !!scope->ca != 1)
		return dt_fail(err, DT_ERR_INTERNAL,
			       "store: a status change needs exactly one scope");
	key = k == 0   ? scope->serial
	      : k == 1 ? scope->device_id
	      : k == 2 ? scope->class_name
		       : scope->ca;
	snprintf(sql, sizeof(sql),
		 "UPDATE certs SET status=?1, reason=?2, revoked_at=?3 WHERE %s=?4"
		 " AND ((1 << status) & ?5) != 0 RETURNING serial",
		 scopes[k].col);
	if (!(st = sq_stmt(CONN(t), scopes[k].id, sql, err)))
		return err->code;
	sqlite3_bind_int(st, 1, (int)to);
	sqlite3_bind_int(st, 2, to == DT_CERT_VALID ? 0 : reason);
	sqlite3_bind_int64(st, 3, to == DT_CERT_VALID ? 0 : at);
	BIND_TEXT(st, 4, key);
	sqlite3_bind_int(st, 5, (int)from_mask);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (cb)
			cb(arg, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sq_error(CONN(t), err, "change certificate status");
	if (changed)
		*changed = n;
	return DT_OK;
}

dt_code sq_cert_revoked_each(struct store_txn *t, const char *ca, int64_t now, store_revoked_cb cb,
			     void *arg, struct dt_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(CONN(t), SQ_CERT_REVOKED,
		    "SELECT serial, revoked_at, reason FROM certs INDEXED BY certs_revoked"
		    " WHERE ca=? AND status != 0 AND not_after > ? ORDER BY serial",
		    err);
	struct store_revoked rv;
	int r;

	if (!st)
		return err->code;
	BIND_TEXT(st, 1, ca);
	sqlite3_bind_int64(st, 2, now);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		rv.serial = (const char *)sqlite3_column_text(st, 0);
		rv.revoked_at = sqlite3_column_int64(st, 1);
		rv.reason = sqlite3_column_int(st, 2);
		if (cb(arg, &rv) != 0)
			break;
	}
	sqlite3_reset(st);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? DT_OK
						     : sq_error(CONN(t), err, "list revoked");
}
