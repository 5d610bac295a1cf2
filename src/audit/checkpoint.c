/*
 * Signed checkpoints of the audit chain: (seq, the link at seq, time) signed
 * by the audit key, written every N events or M minutes by the server's timer
 * and by the CLI after a command, never on the issuance path. The writer
 * checks the chain from the last checkpoint before signing, so a checkpoint
 * never vouches for a chain that was already broken.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "core/core.h"

#define SETTING_EVENTS "audit.checkpoint_events"
#define SETTING_INTERVAL "audit.checkpoint_interval_s"
#define DEFAULT_EVERY_EVENTS 1000
#define DEFAULT_EVERY_S 600
/* A checkpoint per event at most, a million events apart at least: beyond that one
 * rewrite could go unnoticed for too long. */
#define MAX_EVERY_EVENTS 1000000
/* One second to a week. */
#define MAX_EVERY_S (7 * 86400)
/* How often the tick reads the log's position (four indexed reads), and how long it
 * waits after a failure before it tries to sign again. */
#define TICK_S 1
#define RETRY_S 60

static int64_t setting_int(struct store_txn *txn, const char *key, int64_t dflt, int64_t max)
{
	char buf[32], *end = NULL;
	struct dt_error ignored;
	long long v;

	if (txn->ops->setting_get(txn, key, buf, sizeof(buf), &ignored) != DT_OK)
		return dflt;
	v = strtoll(buf, &end, 10);
	return end != buf && *end == '\0' && v >= 1 && v <= max ? (int64_t)v : dflt;
}

static void read_policy(struct store_txn *txn, struct dt_audit_checkpoint_policy *p)
{
	p->every_events = setting_int(txn, SETTING_EVENTS, DEFAULT_EVERY_EVENTS, MAX_EVERY_EVENTS);
	p->every_s = setting_int(txn, SETTING_INTERVAL, DEFAULT_EVERY_S, MAX_EVERY_S);
}

static dt_code policy_get_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	(void)err;
	read_policy(txn, arg);
	return DT_OK;
}

dt_code dt_audit_checkpoint_policy_get(struct dt_ctx *ctx, struct dt_audit_checkpoint_policy *out,
				       struct dt_error *err)
{
	memset(out, 0, sizeof(*out));
	return store_read(ctx->store, policy_get_job, out, err);
}

struct policy_set_job {
	const struct dt_audit_checkpoint_policy *p;
	const char *actor;
};

static dt_code policy_set_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct policy_set_job *j = arg;
	struct dt_audit_checkpoint_policy old;
	char v[32];
	dt_code rc;

	read_policy(txn, &old);
	snprintf(v, sizeof(v), "%lld", (long long)j->p->every_events);
	if ((rc = txn->ops->setting_set(txn, SETTING_EVENTS, v, err)) != DT_OK)
		return rc;
	snprintf(v, sizeof(v), "%lld", (long long)j->p->every_s);
	if ((rc = txn->ops->setting_set(txn, SETTING_INTERVAL, v, err)) != DT_OK)
		return rc;
	return audit_append_change(
	    txn, j->actor, "audit.checkpoint_policy", "audit", "",
	    json_pack("{s:I,s:I}", "every_events", (json_int_t)old.every_events, "every_s",
		      (json_int_t)old.every_s),
	    json_pack("{s:I,s:I}", "every_events", (json_int_t)j->p->every_events, "every_s",
		      (json_int_t)j->p->every_s),
	    NULL, err);
}

dt_code dt_audit_checkpoint_policy_set(struct dt_ctx *ctx,
				       const struct dt_audit_checkpoint_policy *p,
				       struct dt_error *err)
{
	struct policy_set_job j = {p, dt_actor(ctx)};

	if (p->every_events < 1 || p->every_events > MAX_EVERY_EVENTS)
		return dt_fail(err, DT_ERR_INVALID, "a checkpoint every %lld events: want 1 to %d",
			       (long long)p->every_events, MAX_EVERY_EVENTS);
	if (p->every_s < 1 || p->every_s > MAX_EVERY_S)
		return dt_fail(err, DT_ERR_INVALID,
			       "a checkpoint every %lld seconds: want 1s to 7d",
			       (long long)p->every_s);
	return store_write(ctx->store, policy_set_job, &j, err);
}

/* Where the log stands, in one snapshot. */
struct position {
	struct dt_audit_checkpoint_policy pol;
	int64_t head;
	struct store_checkpoint last; /* seq 0: none */
};

static dt_code position_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct position *p = arg;
	unsigned char h[32];
	dt_code rc;

	read_policy(txn, &p->pol);
	if ((rc = txn->ops->audit_last(txn, &p->head, h, err)) != DT_OK)
		return rc;
	rc = txn->ops->checkpoint_last(txn, &p->last, err);
	if (rc == DT_ERR_NOT_FOUND) {
		memset(&p->last, 0, sizeof(p->last));
		dt_error_clear(err);
		rc = DT_OK;
	}
	return rc;
}

/* The chain from the last checkpoint to the head, checked before a new one is signed. */
struct segment_job {
	struct audit_keyset ks;
	struct store_checkpoint last; /* seq 0: none, the walk starts at event 1 */
	struct audit_walk walk;
	char why[320];
};

static int segment_row(void *arg, const struct store_audit_row *row)
{
	struct segment_job *j = arg;

	if (audit_walk_row(&j->walk, row) != 0) {
		snprintf(j->why, sizeof(j->why), "audit chain broken at event %lld: %s",
			 (long long)j->walk.bad_seq, j->walk.why);
		return 1;
	}
	if (row->ev.seq == j->last.seq && memcmp(row->hash, j->last.hash, 32) != 0) {
		snprintf(j->why, sizeof(j->why),
			 "the chain's link at event %lld is not the one its checkpoint signed "
			 "(rewritten chain)",
			 (long long)row->ev.seq);
		return 1;
	}
	return 0;
}

static dt_code segment_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct segment_job *j = arg;
	char why[240];
	dt_code rc;

	rc = txn->ops->checkpoint_last(txn, &j->last, err);
	if (rc == DT_ERR_NOT_FOUND) {
		memset(&j->last, 0, sizeof(j->last));
		dt_error_clear(err);
	} else if (rc != DT_OK) {
		return rc;
	} else {
		if ((rc = audit_keyset_load(txn, NULL, &j->ks, err)) != DT_OK)
			return rc;
		if (audit_checkpoint_check(&j->ks, &j->last, why, sizeof(why)) != 0) {
			snprintf(j->why, sizeof(j->why), "the last checkpoint, at event %lld: %s",
				 (long long)j->last.seq, why);
			return DT_OK;
		}
	}
	audit_walk_init(&j->walk, j->last.seq);
	if ((rc = txn->ops->audit_since(txn, j->last.seq > 0 ? j->last.seq - 1 : 0, segment_row, j,
					err)) != DT_OK)
		return rc;
	if (!j->why[0] && j->walk.last_seq < j->last.seq)
		snprintf(j->why, sizeof(j->why),
			 "the log ends at event %lld, before the last checkpoint at event %lld "
			 "(truncated log)",
			 (long long)j->walk.last_seq, (long long)j->last.seq);
	return DT_OK;
}

static dt_code insert_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return txn->ops->checkpoint_insert(txn, arg, err);
}

void audit_checkpoint_fill(struct dt_audit_checkpoint *out, const struct store_checkpoint *cp)
{
	memset(out, 0, sizeof(*out));
	out->seq = cp->seq;
	out->time = cp->time;
	if (cp->seq > 0)
		dt_hex(cp->hash, 32, out->hash);
	snprintf(out->key_id, sizeof(out->key_id), "%s", cp->key_id);
}

dt_code dt_audit_checkpoint(struct dt_ctx *ctx, struct dt_audit_checkpoint *out, int *written,
			    struct dt_error *err)
{
	struct segment_job *j = calloc(1, sizeof(*j));
	struct store_checkpoint cp;
	char tbs[AUDIT_TBS_MAX], key_id[DT_SHA256_HEX_BUF];
	size_t n;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	*written = 0;
	if (!j)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	/* First, so that the event recording a new key is covered by this checkpoint. */
	if ((rc = ca_audit_key_ready(ctx, key_id, err)) != DT_OK ||
	    (rc = store_read(ctx->store, segment_job, j, err)) != DT_OK)
		goto out;
	if (j->why[0]) {
		rc = dt_fail(err, DT_ERR_STATE,
			     "no checkpoint signed: %s (devtrust audit verify tells more)", j->why);
		goto out;
	}
	if (j->walk.last_seq == j->last.seq) {
		audit_checkpoint_fill(out, &j->last);
		goto out;
	}
	memset(&cp, 0, sizeof(cp));
	cp.seq = j->walk.last_seq;
	cp.time = dt_now();
	memcpy(cp.hash, j->walk.prev, 32); /* the link of event last_seq */
	snprintf(cp.key_id, sizeof(cp.key_id), "%s", key_id);
	if (!(n = audit_checkpoint_tbs(&cp, tbs, sizeof(tbs)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "checkpoint text does not fit");
		goto out;
	}
	if ((rc = ca_audit_sign(ctx, (const unsigned char *)tbs, n, cp.sig, sizeof(cp.sig),
				&cp.sig_len, key_id, err)) != DT_OK)
		goto out;
	if (strcmp(key_id, cp.key_id) != 0) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "the audit key changed while signing");
		goto out;
	}
	rc = store_write(ctx->store, insert_job, &cp, err);
	if (rc == DT_ERR_EXISTS) {
		/* Another process covered the same event first: its checkpoint stands. */
		dt_error_clear(err);
		rc = DT_OK;
	} else if (rc == DT_OK) {
		*written = 1;
	}
	if (rc == DT_OK)
		audit_checkpoint_fill(out, &cp);
out:
	audit_keyset_free(&j->ks);
	free(j);
	return rc;
}

dt_code dt_audit_checkpoint_tick(struct dt_ctx *ctx, int64_t *next_check, struct dt_error *err)
{
	struct dt_audit_checkpoint cp;
	struct position pos;
	int64_t now = dt_now(), fresh;
	int written = 0, due;
	dt_code rc;

	if (now < *next_check)
		return DT_OK;
	memset(&pos, 0, sizeof(pos));
	*next_check = now + RETRY_S;
	if ((rc = store_read(ctx->store, position_job, &pos, err)) != DT_OK)
		return rc;
	fresh = pos.head - pos.last.seq;
	due = fresh > 0 && (pos.last.seq == 0 || fresh >= pos.pol.every_events ||
			    now - pos.last.time >= pos.pol.every_s);
	if (due && (rc = dt_audit_checkpoint(ctx, &cp, &written, err)) != DT_OK)
		return rc;
	*next_check = now + TICK_S;
	return DT_OK;
}
