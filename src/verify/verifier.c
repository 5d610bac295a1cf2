/*
 * A verifier's life: what it loads when created (the audit log position and
 * every policy), the thread that follows the audit log every
 * VERIFY_WATCH_MS and writes last-seen batches, the parsed issuing CA
 * certificates, and its counters.
 */
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/ca.h"
#include "verify/verify.h"

/* Audit actions that cannot change a decision; every other action, known or
 * added later, makes the verifier read the store again (the safe default). */
static int changes_decisions(const struct dt_audit_event *ev)
{
	static const char *const quiet[] = {"crl.generate", "device.token", "manufacturer.add"};

	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		if (strcmp(ev->action, quiet[i]) == 0)
			return 0;
	return 1;
}

struct sync_job {
	int64_t last;
	int dirty;
	int first; /* read the audit position and load the policies unconditionally */
	struct dt_policy *pol;
	size_t n, cap;
	int oom;
};

static int scan_row(void *arg, const struct store_audit_row *row)
{
	struct sync_job *j = arg;

	j->last = row->ev.seq;
	j->dirty |= changes_decisions(&row->ev);
	return 0;
}

static int add_policy(void *arg, const struct dt_policy *p)
{
	void *grown;
	struct sync_job *j = arg;

	if (!(grown = dt_grow(j->pol, j->n, &j->cap, sizeof(*j->pol)))) {
		j->oom = 1;
		return 1;
	}
	j->pol = grown;
	j->pol[j->n++] = *p;
	return 0;
}

static dt_code sync_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct sync_job *j = arg;
	unsigned char h[32];
	dt_code rc;

	if (j->first)
		rc = txn->ops->audit_last(txn, &j->last, h, err);
	else
		rc = txn->ops->audit_since(txn, j->last, scan_row, j, err);
	if (rc != DT_OK || !(j->dirty || j->first))
		return rc;
	/* In the same snapshot as the audit position, so no change falls between. */
	if ((rc = txn->ops->policy_list(txn, NULL, NULL, add_policy, j, err)) != DT_OK)
		return rc;
	return j->oom ? dt_fail(err, DT_ERR_INTERNAL, "out of memory loading policies") : DT_OK;
}

/* Reads what changed since the last look; a change swaps the policies and
 * makes every certificate in memory read the store again. */
static dt_code sync_changes(struct dt_verifier *v, int first, struct dt_error *err)
{
	struct sync_job j;
	dt_code rc;

	memset(&j, 0, sizeof(j));
	pthread_mutex_lock(&v->sync_lock);
	j.last = v->last_seq;
	j.first = first;
	rc = store_read(v->ctx->store, sync_job, &j, err);
	if (rc == DT_OK) {
		v->last_seq = j.last;
		if (j.dirty || first) {
			struct dt_policy *old;

			pthread_rwlock_wrlock(&v->pol_lock);
			old = v->pol;
			v->pol = j.pol;
			v->npol = j.n;
			j.pol = NULL;
			pthread_rwlock_unlock(&v->pol_lock);
			free(old);
			/* After the policies: a decision that sees the new generation
			 * sees the new policies too. */
			atomic_fetch_add(&v->gen, 1);
			if (!first)
				atomic_fetch_add(&v->st.changes, 1);
		}
	}
	pthread_mutex_unlock(&v->sync_lock);
	free(j.pol);
	return rc;
}

dt_code dt_verifier_sync(struct dt_verifier *v, struct dt_error *err)
{
	dt_code rc = sync_changes(v, 0, err), frc = DT_OK;
	struct dt_error ferr = {DT_OK, ""};

	if (v->seen)
		frc = verify_seen_flush(v, &ferr);
	if (rc == DT_OK && frc != DT_OK) {
		*err = ferr;
		rc = frc;
	}
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watch_main(void *arg)
{
	struct dt_verifier *v = arg;
	struct dt_error err;
	int64_t next_flush = mono_ms() + VERIFY_SEEN_FLUSH_MS;

	pthread_mutex_lock(&v->stop_mu);
	while (!v->stop) {
		struct timespec ts;
		int flush;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += VERIFY_WATCH_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (!v->flush_now)
			pthread_cond_timedwait(&v->stop_cv, &v->stop_mu, &ts);
		if (v->stop)
			break;
		flush = v->flush_now || mono_ms() >= next_flush;
		v->flush_now = 0;
		pthread_mutex_unlock(&v->stop_mu);
		/* A failed read is retried from the same position on the next tick. */
		(void)sync_changes(v, 0, &err);
		if (flush && v->seen) {
			(void)verify_seen_flush(v, &err);
			next_flush = mono_ms() + VERIFY_SEEN_FLUSH_MS;
		}
		pthread_mutex_lock(&v->stop_mu);
	}
	pthread_mutex_unlock(&v->stop_mu);
	return NULL;
}

/* The last-seen batch is filling up: write it now rather than in 5 s. */
void verify_flush_soon(struct dt_verifier *v)
{
	pthread_mutex_lock(&v->stop_mu);
	v->flush_now = 1;
	pthread_cond_signal(&v->stop_cv);
	pthread_mutex_unlock(&v->stop_mu);
}

dt_code dt_verifier_new(struct dt_ctx *ctx, const struct dt_verifier_opts *opts,
			struct dt_verifier **out, struct dt_error *err)
{
	struct dt_verifier *v = calloc(1, sizeof(*v));
	dt_code rc;

	*out = NULL;
	if (!v || !(v->buckets = calloc(VERIFY_BUCKETS, sizeof(*v->buckets)))) {
		free(v);
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	v->ctx = ctx;
	if (opts)
		v->opts = *opts;
	if (v->opts.cache < DT_VERIFY_CACHE || v->opts.cache > DT_VERIFY_CACHE_NONE) {
		free(v->buckets);
		free(v);
		return dt_fail(err, DT_ERR_INVALID, "unknown verifier cache mode %d",
			       opts ? opts->cache : 0);
	}
	snprintf(v->actor, sizeof(v->actor), "%s",
		 v->opts.actor && *v->opts.actor ? v->opts.actor : "verify");
	v->opts.actor = v->actor;
	for (int i = 0; i < VERIFY_LOCKS; i++)
		pthread_mutex_init(&v->locks[i], NULL);
	pthread_rwlock_init(&v->pol_lock, NULL);
	pthread_mutex_init(&v->ca_lock, NULL);
	pthread_mutex_init(&v->sync_lock, NULL);
	pthread_mutex_init(&v->stop_mu, NULL);
	pthread_cond_init(&v->stop_cv, NULL);
	atomic_store(&v->gen, 1);
	if ((!v->opts.no_record && (rc = verify_seen_new(&v->seen, err)) != DT_OK) ||
	    (rc = sync_changes(v, 1, err)) != DT_OK)
		goto fail;
	if (!v->opts.no_thread) {
		if (pthread_create(&v->thread, NULL, watch_main, v) != 0) {
			rc = dt_fail(err, DT_ERR_INTERNAL, "cannot start the verifier's thread");
			goto fail;
		}
		v->thread_started = 1;
	}
	*out = v;
	return DT_OK;
fail:
	dt_verifier_free(v);
	return rc;
}

void dt_verifier_free(struct dt_verifier *v)
{
	struct dt_error err;

	if (!v)
		return;
	if (v->thread_started) {
		pthread_mutex_lock(&v->stop_mu);
		v->stop = 1;
		pthread_cond_signal(&v->stop_cv);
		pthread_mutex_unlock(&v->stop_mu);
		pthread_join(v->thread, NULL);
	}
	if (v->seen)
		(void)verify_seen_flush(v, &err);
	verify_seen_free(v->seen);
	verify_cache_clear(v);
	free(v->buckets);
	free(v->pol);
	for (int i = 0; i < v->ncas; i++)
		X509_free(v->cas[i].x);
	for (int i = 0; i < VERIFY_LOCKS; i++)
		pthread_mutex_destroy(&v->locks[i]);
	pthread_rwlock_destroy(&v->pol_lock);
	pthread_mutex_destroy(&v->ca_lock);
	pthread_mutex_destroy(&v->sync_lock);
	pthread_mutex_destroy(&v->stop_mu);
	pthread_cond_destroy(&v->stop_cv);
	free(v);
}

dt_code verify_ca_get(struct dt_verifier *v, const char *fingerprint, const unsigned char *der,
		      size_t len, const struct vca **out, struct dt_error *err)
{
	const ASN1_OCTET_STRING *ski;
	struct vca *c = NULL;
	dt_code rc = DT_OK;

	*out = NULL;
	pthread_mutex_lock(&v->ca_lock);
	for (int i = 0; i < v->ncas; i++)
		if (strcmp(v->cas[i].fingerprint, fingerprint) == 0) {
			*out = &v->cas[i];
			goto out;
		}
	if (v->ncas == VERIFY_CA_CACHE) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "more than %d issuing CAs", VERIFY_CA_CACHE);
		goto out;
	}
	c = &v->cas[v->ncas];
	memset(c, 0, sizeof(*c));
	if (len > STORE_CA_DER_MAX || !(c->x = ca_der_cert(der, len))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "a stored CA certificate does not parse");
		goto out;
	}
	snprintf(c->fingerprint, sizeof(c->fingerprint), "%s", fingerprint);
	if ((ski = X509_get0_subject_key_id(c->x)) && ASN1_STRING_length(ski) > 0 &&
	    (size_t)ASN1_STRING_length(ski) * 2 < sizeof(c->ski))
		dt_hex(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski), c->ski);
	*out = c;
	v->ncas++;
out:
	pthread_mutex_unlock(&v->ca_lock);
	return rc;
}

int verify_policy_allows(struct dt_verifier *v, const char *class_name, const char *service,
			 const struct verify_route *r)
{
	size_t lo = 0, hi;
	int ok = 0;

	pthread_rwlock_rdlock(&v->pol_lock);
	hi = v->npol;
	/* The first rule of the class: rules are sorted by class, then service. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v->pol[mid].class_name, class_name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < v->npol && strcmp(v->pol[i].class_name, class_name) == 0; i++)
		if (strcmp(v->pol[i].service, service) == 0 &&
		    verify_policy_matches(&v->pol[i], r)) {
			ok = 1;
			break;
		}
	pthread_rwlock_unlock(&v->pol_lock);
	return ok;
}

void dt_verifier_stats(struct dt_verifier *v, struct dt_verifier_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->decisions = atomic_load(&v->st.decisions);
	out->cache_hits = atomic_load(&v->st.cache_hits);
	out->store_reads = atomic_load(&v->st.store_reads);
	out->chain_checks = atomic_load(&v->st.chain_checks);
	out->seen_written = atomic_load(&v->st.seen_written);
	out->seen_dropped = atomic_load(&v->st.seen_dropped);
	out->clone_findings = atomic_load(&v->st.clone_findings);
	out->changes = atomic_load(&v->st.changes);
	for (int i = 0; i < DT_VR_COUNT; i++)
		out->by_reason[i] = atomic_load(&v->st.by_reason[i]);
}
