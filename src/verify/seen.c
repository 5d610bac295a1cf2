/*
 * Last-seen times, batched: a decision only notes the device in memory; the
 * verifier's thread writes the batch every VERIFY_SEEN_FLUSH_MS in one
 * transaction (one row per device, the latest decision wins), so a busy
 * backend costs the store one commit per period rather than one per request.
 * A crash loses at most one period of times, which only makes a device look
 * silent a few seconds longer.
 */
#include <stdlib.h>
#include <string.h>

#include "verify/verify.h"

struct vseen_slot {
	char id[DT_ID_BUF];
	char addr[DT_PEER_BUF];
	char service[DT_ID_BUF];
	char reason[32];
	int64_t at;
	int allowed;
	int used;
};

struct vseen {
	pthread_mutex_t mu;
	struct vseen_slot *cur; /* VERIFY_SEEN_SLOTS, allocated on first use */
	size_t n;
	pthread_mutex_t flush_mu;
};

dt_code verify_seen_new(struct vseen **out, struct dt_error *err)
{
	struct vseen *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->flush_mu, NULL);
	*out = s;
	return DT_OK;
}

void verify_seen_free(struct vseen *s)
{
	if (!s)
		return;
	free(s->cur);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->flush_mu);
	free(s);
}

static size_t slot_of(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % VERIFY_SEEN_SLOTS;
}

int verify_seen_note(struct dt_verifier *v, const struct dt_seen *in)
{
	struct vseen *s = v->seen;
	struct vseen_slot *e = NULL;
	size_t i;
	int full;

	pthread_mutex_lock(&s->mu);
	if (!s->cur && !(s->cur = calloc(VERIFY_SEEN_SLOTS, sizeof(*s->cur)))) {
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(&v->st.seen_dropped, 1);
		return 1;
	}
	for (i = slot_of(in->device_id);; i = (i + 1) % VERIFY_SEEN_SLOTS) {
		e = &s->cur[i];
		if (!e->used || strcmp(e->id, in->device_id) == 0)
			break;
	}
	if (!e->used && s->n >= VERIFY_SEEN_SLOTS * 3 / 4) {
		/* Open addressing stays short below 3/4; the batch is written early. */
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(&v->st.seen_dropped, 1);
		return 1;
	}
	if (!e->used) {
		e->used = 1;
		s->n++;
		snprintf(e->id, sizeof(e->id), "%s", in->device_id);
	}
	if (in->last_seen >= e->at) {
		e->at = in->last_seen;
		e->allowed = in->last_allowed;
		snprintf(e->addr, sizeof(e->addr), "%s", in->last_addr);
		snprintf(e->service, sizeof(e->service), "%s", in->last_service);
		snprintf(e->reason, sizeof(e->reason), "%s", in->last_reason);
	}
	full = s->n >= VERIFY_SEEN_SLOTS / 2;
	pthread_mutex_unlock(&s->mu);
	return full;
}

struct seen_job {
	struct vseen_slot *slots;
	int64_t written;
};

static dt_code seen_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct seen_job *j = arg;
	struct dt_seen row;
	dt_code rc;

	j->written = 0;
	for (size_t i = 0; i < VERIFY_SEEN_SLOTS; i++) {
		const struct vseen_slot *e = &j->slots[i];
		if (!e->used)
			continue;
		memset(&row, 0, sizeof(row));
		memcpy(row.device_id, e->id, sizeof(row.device_id));
		memcpy(row.last_addr, e->addr, sizeof(row.last_addr));
		memcpy(row.last_service, e->service, sizeof(row.last_service));
		memcpy(row.last_reason, e->reason, sizeof(row.last_reason));
		row.last_seen = e->at;
		row.last_allowed = e->allowed;
		if ((rc = txn->ops->seen_put(txn, &row, err)) != DT_OK)
			return rc;
		j->written++;
	}
	return DT_OK;
}

dt_code verify_seen_flush(struct dt_verifier *v, struct dt_error *err)
{
	struct vseen *s = v->seen;
	struct seen_job j = {NULL, 0};
	size_t n;
	dt_code rc = DT_OK;

	pthread_mutex_lock(&s->flush_mu);
	pthread_mutex_lock(&s->mu);
	j.slots = s->cur;
	n = s->n;
	s->cur = NULL;
	s->n = 0;
	pthread_mutex_unlock(&s->mu);
	if (j.slots && n) {
		rc = store_write(v->ctx->store, seen_job, &j, err);
		if (rc == DT_OK)
			atomic_fetch_add(&v->st.seen_written, (unsigned long long)j.written);
		else
			atomic_fetch_add(&v->st.seen_dropped, (unsigned long long)n);
	}
	free(j.slots);
	pthread_mutex_unlock(&s->flush_mu);
	return rc;
}
