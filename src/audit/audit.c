/*
 * The hash-chained audit log: each event's link is SHA-256 over the previous
 * link, its sequence number, time and length-prefixed fields, so editing,
 * deleting, inserting or reordering any event breaks the chain at that point.
 * Appending, the walk along the chain, and listing.
 */
#include <openssl/evp.h>
#include <stdlib.h>
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

dt_code audit_append_change(struct store_txn *txn, const char *actor, const char *action,
			    const char *object, const char *reason, json_t *before, json_t *after,
			    json_t *extra, struct dt_error *err)
{
	json_t *d = json_object();
	char *text = NULL;
	dt_code rc;

	if (!d || !before || !after || json_object_set(d, "before", before) != 0 ||
	    json_object_set(d, "after", after) != 0 ||
	    (extra && json_object_update(d, extra) != 0) || !(text = json_dumps(d, JSON_COMPACT))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "cannot encode the details of audit event %s",
			     action);
		goto out;
	}
	rc = audit_append(txn, actor, action, object, reason, text, err);
out:
	free(text);
	json_decref(d);
	json_decref(before);
	json_decref(after);
	json_decref(extra);
	return rc;
}

size_t audit_json_str(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (cap < 3)
		return 0;
	out[n++] = '"';
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			if (n + 2 >= cap)
				return 0;
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch < 0x20) {
			if (n + 6 >= cap)
				return 0;
			memcpy(out + n, "\\u00", 4);
			out[n + 4] = hex[ch >> 4];
			out[n + 5] = hex[ch & 15];
			n += 6;
		} else {
			if (n + 1 >= cap)
				return 0;
			out[n++] = (char)ch;
		}
	}
	if (n + 2 > cap)
		return 0;
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

void audit_walk_init(struct audit_walk *w, int64_t from_seq)
{
	memset(w, 0, sizeof(*w));
	w->next_seq = from_seq > 1 ? from_seq : 1;
	w->trust_first_prev = from_seq > 1;
}

int audit_walk_row(struct audit_walk *w, const struct store_audit_row *row)
{
	unsigned char h[32];

	if (w->trust_first_prev && w->checked == 0)
		memcpy(w->prev, row->prev_hash, 32);
	if (row->ev.seq != w->next_seq)
		snprintf(w->why, sizeof(w->why), "expected sequence %lld, found %lld",
			 (long long)w->next_seq, (long long)row->ev.seq);
	else if (memcmp(row->prev_hash, w->prev, 32) != 0)
		snprintf(w->why, sizeof(w->why),
			 "its link to the previous event does not match (deleted, inserted or "
			 "reordered events)");
	else {
		/* row->prev_hash equals w->prev here: the stored row is what is linked. */
		audit_link(row, h);
		if (memcmp(h, row->hash, 32) != 0)
			snprintf(w->why, sizeof(w->why),
				 "its content does not match its hash (edited event)");
	}
	if (w->why[0]) {
		w->bad_seq = row->ev.seq;
		return 1;
	}
	memcpy(w->prev, row->hash, 32);
	w->last_seq = row->ev.seq;
	w->next_seq = row->ev.seq + 1;
	w->checked++;
	return 0;
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
