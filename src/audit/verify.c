/*
 * Verification of the audit log: the chain from the first event (an edited,
 * deleted, inserted or reordered event breaks a link), and every signed
 * checkpoint against it (a chain recomputed from some point on no longer
 * matches the signed link at the next checkpoint; a log truncated below the
 * last checkpoint lacks the event it covers). One read snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/core.h"

/* Checkpoints are read a page at a time beside the events: a policy of one checkpoint
 * per event would otherwise hold a million of them in memory. */
#define CHECKPOINT_PAGE 1024

struct verify_job {
	const char *pin;
	struct store_txn *txn;
	struct dt_error *err;
	struct audit_keyset ks;
	struct store_checkpoint page[CHECKPOINT_PAGE]; /* by seq */
	size_t n, next;
	int64_t paged_to; /* the seq of the last checkpoint read into a page */
	dt_code rc;	  /* a store failure while paging */
	struct audit_walk walk;
	struct dt_audit_report *out;
	int64_t prev_cp; /* seq of the last checkpoint that verified */
	int checkpoint_broken;
	char why[320];
};

static int add_checkpoint(void *arg, const struct store_checkpoint *cp)
{
	struct verify_job *j = arg;

	j->page[j->n++] = *cp;
	j->paged_to = cp->seq;
	return j->n == CHECKPOINT_PAGE;
}

/* The next checkpoint not yet checked (reading the next page when this one is used up
 * and was full), or NULL when there is none. */
static const struct store_checkpoint *peek_checkpoint(struct verify_job *j)
{
	if (j->next == j->n && j->n == CHECKPOINT_PAGE) {
		j->n = j->next = 0;
		j->rc =
		    j->txn->ops->checkpoint_each(j->txn, j->paged_to, add_checkpoint, j, j->err);
	}
	return j->rc == DT_OK && j->next < j->n ? &j->page[j->next] : NULL;
}

/* The checkpoint at this row's seq, if any: signed by an audit key, and over this link. */
static int check_checkpoint(struct verify_job *j, const struct store_audit_row *row)
{
	const struct store_checkpoint *cp = peek_checkpoint(j);
	char why[240], have[65], want[65];

	if (j->rc != DT_OK)
		return 1;
	if (!cp || cp->seq != row->ev.seq)
		return 0;
	j->next++;
	if (audit_checkpoint_check(&j->ks, cp, why, sizeof(why)) != 0) {
		snprintf(j->why, sizeof(j->why), "the checkpoint at event %lld: %s",
			 (long long)cp->seq, why);
		return 1;
	}
	if (memcmp(cp->hash, row->hash, 32) != 0) {
		dt_hex(row->hash, 32, have);
		dt_hex(cp->hash, 32, want);
		snprintf(j->why, sizeof(j->why),
			 "the chain's link at event %lld is %.16s... but the checkpoint signed "
			 "%.16s...: events %lld to %lld were rewritten and the chain recomputed",
			 (long long)cp->seq, have, want, (long long)(j->prev_cp + 1),
			 (long long)cp->seq);
		return 1;
	}
	j->prev_cp = cp->seq;
	j->out->checkpoints++;
	audit_checkpoint_fill(&j->out->last, cp);
	return 0;
}

static int verify_row(void *arg, const struct store_audit_row *row)
{
	struct verify_job *j = arg;

	if (audit_walk_row(&j->walk, row) != 0) {
		snprintf(j->why, sizeof(j->why), "%s", j->walk.why);
		j->out->bad_seq = j->walk.bad_seq;
		return 1;
	}
	if (check_checkpoint(j, row) != 0) {
		if (j->rc == DT_OK) {
			j->out->bad_seq = row->ev.seq;
			j->checkpoint_broken = 1;
		}
		return 1;
	}
	return 0;
}

/* After a clean walk: checkpoints beyond the last event, and unusable keys. */
static dt_code check_tail(struct verify_job *j)
{
	struct dt_audit_report *r = j->out;
	struct store_checkpoint last;
	dt_code rc = j->txn->ops->checkpoint_last(j->txn, &last, j->err);

	if (rc == DT_ERR_NOT_FOUND) {
		dt_error_clear(j->err);
		return DT_OK;
	}
	if (rc != DT_OK)
		return rc;
	if (last.seq > r->head) {
		snprintf(j->why, sizeof(j->why),
			 "the log ends at event %lld, but a signed checkpoint covers event %lld: "
			 "events %lld to %lld were deleted (truncated log)",
			 (long long)r->head, (long long)last.seq, (long long)(r->head + 1),
			 (long long)last.seq);
		r->bad_seq = r->head + 1;
		return DT_OK;
	}
	for (size_t i = 0; i < j->ks.n; i++)
		if (!j->ks.keys[i].pub) {
			snprintf(j->why, sizeof(j->why), "audit key %.16s... is registered but %s",
				 j->ks.keys[i].key_id, j->ks.keys[i].why);
			break;
		}
	return DT_OK;
}

static dt_code verify_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct verify_job *j = arg;
	const struct store_checkpoint *first;
	dt_code rc;

	j->txn = txn;
	j->err = err;
	if ((rc = audit_keyset_load(txn, j->pin, &j->ks, err)) != DT_OK)
		return rc;
	snprintf(j->out->root_fingerprint, sizeof(j->out->root_fingerprint), "%s",
		 j->ks.root_fingerprint);
	j->out->keys = (int64_t)j->ks.n;
	/* A used-up full page, so that the first peek reads the first page from the start. */
	j->n = j->next = CHECKPOINT_PAGE;
	j->paged_to = INT64_MIN;
	first = peek_checkpoint(j);
	if (j->rc != DT_OK)
		return j->rc;
	/* Sequence numbers start at 1: a checkpoint below is malformed (no event to cover). */
	if (first && first->seq < 1) {
		snprintf(j->why, sizeof(j->why), "a checkpoint at event %lld covers no event",
			 (long long)first->seq);
		return DT_OK;
	}
	if ((rc = txn->ops->audit_each(txn, NULL, verify_row, j, err)) != DT_OK)
		return rc;
	if (j->rc != DT_OK)
		return j->rc;
	j->out->head = j->walk.last_seq;
	return j->why[0] ? DT_OK : check_tail(j);
}

dt_code dt_audit_verify_full(struct dt_ctx *ctx, const char *root_fingerprint,
			     struct dt_audit_report *out, struct dt_error *err)
{
	struct verify_job *j = calloc(1, sizeof(*j));
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if (!j)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	j->pin = root_fingerprint;
	j->out = out;
	audit_walk_init(&j->walk, 1);
	rc = store_read(ctx->store, verify_job, j, err);
	out->events = j->walk.checked;
	out->head = j->walk.last_seq;
	out->uncovered = out->head - out->last.seq;
	audit_keyset_free(&j->ks);
	if (rc == DT_OK && j->why[0] && j->checkpoint_broken)
		rc = dt_fail(err, DT_ERR_STATE, "audit chain broken at event %lld: %s",
			     (long long)out->bad_seq, j->why);
	else if (rc == DT_OK && j->why[0] && out->bad_seq)
		rc = dt_fail(err, DT_ERR_STATE,
			     "audit chain broken at event %lld: %s (%lld events before it verify)",
			     (long long)out->bad_seq, j->why, (long long)out->events);
	else if (rc == DT_OK && j->why[0])
		rc = dt_fail(err, DT_ERR_STATE, "audit log tampered with: %s", j->why);
	free(j);
	return rc;
}

dt_code dt_audit_verify(struct dt_ctx *ctx, int64_t *checked, int64_t *bad_seq,
			struct dt_error *err)
{
	struct dt_audit_report r;
	dt_code rc = dt_audit_verify_full(ctx, NULL, &r, err);

	*checked = r.events;
	*bad_seq = r.bad_seq;
	return rc;
}
