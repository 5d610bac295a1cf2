/*
 * The hash-chained audit log: each event's link is SHA-256 over the previous
 * link, its sequence number, time and length-prefixed fields, so editing,
 * deleting, inserting or reordering any event breaks the chain at that point.
 */
#include <openssl/evp.h>
#include <string.h>

#include "audit/audit.h"
#include "core/core.h"

static void put_u64(EVP_MD_CTX *md, uint64_t v)
{
	unsigned char b[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)(v & 0xff);
	EVP_DigestUpdate(md, b, 8);
}

static void put_str(EVP_MD_CTX *md, const char *s)
{
	size_t n = strlen(s);

	put_u64(md, n);
	EVP_DigestUpdate(md, s, n);
}

void audit_link(const struct store_audit_row *row, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 32;

	memset(out, 0, 32);
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	EVP_DigestUpdate(md, "devtrust-audit-v1", 17);
	EVP_DigestUpdate(md, row->prev_hash, 32);
	put_u64(md, (uint64_t)row->ev.seq);
	put_u64(md, (uint64_t)row->ev.time);
	put_str(md, row->ev.actor);
	put_str(md, row->ev.action);
	put_str(md, row->ev.object);
	put_str(md, row->ev.reason);
	put_str(md, row->ev.details);
	EVP_DigestFinal_ex(md, out, &len);
out:
	EVP_MD_CTX_free(md);
}

static void copy_trunc(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

dt_code audit_append(struct store_txn *txn, const char *actor, const char *action,
		     const char *object, const char *reason, const char *details,
		     struct dt_error *err)
{
	struct store_audit_row row;
	int64_t last = 0;
	dt_code rc;

	memset(&row, 0, sizeof(row));
	if ((rc = txn->ops->audit_last(txn, &last, row.prev_hash, err)) != DT_OK)
		return rc;
	row.ev.seq = last + 1;
	row.ev.time = dt_now();
	copy_trunc(row.ev.actor, sizeof(row.ev.actor), actor);
	copy_trunc(row.ev.action, sizeof(row.ev.action), action);
	copy_trunc(row.ev.object, sizeof(row.ev.object), object);
	copy_trunc(row.ev.reason, sizeof(row.ev.reason), reason);
	copy_trunc(row.ev.details, sizeof(row.ev.details), details && *details ? details : "{}");
	audit_link(&row, row.hash);
	return txn->ops->audit_append(txn, &row, err);
}

struct verify_state {
	int64_t checked;
	int64_t bad_seq;
	unsigned char prev[32];
	char why[160];
};

static int verify_row(void *arg, const struct store_audit_row *row)
{
	struct verify_state *v = arg;
	unsigned char h[32];
	struct store_audit_row copy = *row;

	if (row->ev.seq != v->checked + 1)
		snprintf(v->why, sizeof(v->why), "expected sequence %lld, found %lld",
			 (long long)(v->checked + 1), (long long)row->ev.seq);
	else if (memcmp(row->prev_hash, v->prev, 32) != 0)
		snprintf(v->why, sizeof(v->why),
			 "its link to the previous event does not match (deleted, inserted or "
			 "reordered events)");
	else {
		memcpy(copy.prev_hash, v->prev, 32);
		audit_link(&copy, h);
		if (memcmp(h, row->hash, 32) != 0)
			snprintf(v->why, sizeof(v->why),
				 "its content does not match its hash (edited event)");
	}
	if (v->why[0]) {
		v->bad_seq = row->ev.seq;
		return 1;
	}
	memcpy(v->prev, row->hash, 32);
	v->checked++;
	return 0;
}

static dt_code verify_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return txn->ops->audit_each(txn, NULL, verify_row, arg, err);
}

dt_code dt_audit_verify(struct dt_ctx *ctx, int64_t *checked, int64_t *bad_seq,
			struct dt_error *err)
{
	struct verify_state v;
	dt_code rc;

	memset(&v, 0, sizeof(v));
	*checked = 0;
	*bad_seq = 0;
	if ((rc = store_read(ctx->store, verify_job, &v, err)) != DT_OK)
		return rc;
	*checked = v.checked;
	*bad_seq = v.bad_seq;
	if (v.bad_seq)
		return dt_fail(
		    err, DT_ERR_STATE,
		    "audit chain broken at event %lld: %s (%lld events before it verify)",
		    (long long)v.bad_seq, v.why, (long long)v.checked);
	return DT_OK;
}

struct list_state {
	dt_audit_cb cb;
	void *arg;
};

static int list_row(void *arg, const struct store_audit_row *row)
{
	struct list_state *l = arg;
	struct dt_audit_event ev = row->ev;

	dt_hex(row->hash, 32, ev.hash);
	return l->cb(l->arg, &ev);
}

struct list_job {
	const char *object;
	struct list_state st;
};

static dt_code list_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct list_job *j = arg;

	return txn->ops->audit_each(txn, j->object, list_row, &j->st, err);
}

dt_code dt_audit_list(struct dt_ctx *ctx, const char *object, dt_audit_cb cb, void *arg,
		      struct dt_error *err)
{
	struct list_job j = {.object = object, .st = {.cb = cb, .arg = arg}};

	return store_read(ctx->store, list_job, &j, err);
}
