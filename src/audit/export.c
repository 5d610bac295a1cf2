/*
 * The audit export: JSON lines an outside party verifies without devtrust
 * (the link and checkpoint formats are in docs/ARCHITECTURE.md): a header,
 * the root certificate, the audit keys' certificates, the checkpoints, the
 * events, and an end line whose counts show a cut-off file. One snapshot.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/core.h"

#define EXPORT_FORMAT "devtrust-audit-export-v1"

struct export_job {
	struct dt_ctx *ctx;
	int64_t after;
	dt_audit_line_cb cb;
	void *arg;
	int64_t events, checkpoints, head;
	dt_code rc; /* a failure inside a row callback */
	struct dt_error *err;
};

/* Hands v (taken) to the callback as one compact line. */
static int emit(struct export_job *j, json_t *v, const char *what)
{
	char *line = v ? json_dumps(v, JSON_COMPACT) : NULL;
	int stop;

	json_decref(v);
	if (!line) {
		j->rc = dt_fail(j->err, DT_ERR_INVALID,
				"cannot encode %s as JSON (text that is not UTF-8: edited behind "
				"devtrust's back?)",
				what);
		return 1;
	}
	stop = j->cb(j->arg, line, strlen(line));
	free(line);
	if (stop)
		j->rc = dt_fail(j->err, DT_ERR_IO, "writing the audit export failed");
	return stop;
}

/* Base64 of der (no line breaks), as a JSON string. */
static json_t *b64(const unsigned char *der, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	json_t *s;

	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, der, (int)len);
	s = json_string(out);
	free(out);
	return s;
}

static json_t *hex32(const unsigned char h[32])
{
	char hex[65];

	dt_hex(h, 32, hex);
	return json_string(hex);
}

static int export_key(void *arg, const struct store_audit_key *k)
{
	struct export_job *j = arg;

	return emit(j,
		    json_pack("{s:s,s:s,s:I,s:o}", "type", "audit_key", "key_id", k->key_id,
			      "created_at", (json_int_t)k->created_at, "cert",
			      b64(k->cert, k->cert_len)),
		    "an audit key");
}

static int export_checkpoint(void *arg, const struct store_checkpoint *cp)
{
	struct export_job *j = arg;

	j->checkpoints++;
	return emit(j,
		    json_pack("{s:s,s:I,s:I,s:o,s:s,s:o}", "type", "checkpoint", "seq",
			      (json_int_t)cp->seq, "time", (json_int_t)cp->time, "hash",
			      hex32(cp->hash), "key_id", cp->key_id, "signature",
			      b64(cp->sig, cp->sig_len)),
		    "a checkpoint");
}

static int export_event(void *arg, const struct store_audit_row *row)
{
	struct export_job *j = arg;
	char what[48];

	j->events++;
	j->head = row->ev.seq;
	snprintf(what, sizeof(what), "event %lld", (long long)row->ev.seq);
	return emit(j,
		    json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "type", "event", "seq",
			      (json_int_t)row->ev.seq, "time", (json_int_t)row->ev.time, "actor",
			      row->ev.actor, "action", row->ev.action, "object", row->ev.object,
			      "reason", row->ev.reason, "details", row->ev.details, "prev_hash",
			      hex32(row->prev_hash), "hash", hex32(row->hash)),
		    what);
}

static dt_code export_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct export_job *j = arg;
	struct store_ca *root = calloc(1, sizeof(*root));
	unsigned char h[32];
	dt_code rc;

	if (!root)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	rc = txn->ops->ca_get(txn, "root", root, err);
	if (rc == DT_OK)
		dt_sha256(root->cert, root->cert_len, h);
	if (rc == DT_OK && (emit(j,
				 json_pack("{s:s,s:s,s:s,s:I,s:I}", "type", "header", "format",
					   EXPORT_FORMAT, "org", dt_org(j->ctx), "exported_at",
					   (json_int_t)dt_now(), "after_seq", (json_int_t)j->after),
				 "the header") ||
			    emit(j,
				 json_pack("{s:s,s:o,s:o}", "type", "root", "fingerprint", hex32(h),
					   "cert", b64(root->cert, root->cert_len)),
				 "the root certificate")))
		rc = j->rc;
	free(root);
	if (rc != DT_OK || (rc = txn->ops->audit_key_each(txn, export_key, j, err)) != DT_OK ||
	    (rc = j->rc) != DT_OK ||
	    (rc = txn->ops->checkpoint_each(txn, j->after, export_checkpoint, j, err)) != DT_OK ||
	    (rc = j->rc) != DT_OK ||
	    (rc = txn->ops->audit_since(txn, j->after, export_event, j, err)) != DT_OK ||
	    (rc = j->rc) != DT_OK)
		return rc;
	if (emit(j,
		 json_pack("{s:s,s:I,s:I,s:I}", "type", "end", "events", (json_int_t)j->events,
			   "checkpoints", (json_int_t)j->checkpoints, "head", (json_int_t)j->head),
		 "the end line"))
		return j->rc;
	return DT_OK;
}

dt_code dt_audit_export(struct dt_ctx *ctx, int64_t after_seq, dt_audit_line_cb cb, void *arg,
			struct dt_error *err)
{
	struct export_job j;

	memset(&j, 0, sizeof(j));
	if (after_seq < 0)
		return dt_fail(err, DT_ERR_INVALID, "--since wants a sequence number, 0 or more");
	j.ctx = ctx;
	j.after = after_seq;
	j.cb = cb;
	j.arg = arg;
	j.err = err;
	j.head = after_seq;
	return store_read(ctx->store, export_job, &j, err);
}
