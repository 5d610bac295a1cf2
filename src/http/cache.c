/*
 * Signed objects kept ready for relying parties: OCSP responses (keyed by
 * the SHA-256 of the request, valid until refresh_at or until any status
 * change), CRLs per CA and CA certificates. A watcher thread reads the
 * audit log every HTTP_WATCH_MS: a status change drops every cached OCSP
 * response and regenerates the CRLs, coalescing changes that arrive together;
 * a CRL past half its validity is regenerated too. The watcher also renews
 * the delegated OCSP signers when they are due, and switches to a signer
 * renewed by anyone (this server or the CLI) before dropping the responses
 * the old one signed.
 */
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devtrust/ocsp.h"
#include "http/http.h"

/* OCSP responses held in memory; past this the cache is emptied and refills. */
#define OCSP_CACHE_MAX 200000
/* OCSP signer renewal: the watcher looks again at the earliest renew_at, at least
 * hourly (a CA added by the CLI shows as an audit event anyway), and a minute after a
 * failure (the old signer is still valid: a third of its lifetime was left). */
#define RENEW_CHECK_S 3600
#define RENEW_RETRY_S 60
/* Renewed signers the watcher switches to in one read of the audit log. */
#define RENEWED_MAX 16
#define OCSP_BUCKETS 65536
#define CRL_CACHE_MAX 256

struct ocsp_entry {
	unsigned char key[32];
	unsigned char *der;
	size_t len;
	int64_t this_update, next_update, refresh_at;
	unsigned long gen;
	char etag[20];
	struct ocsp_entry *next;
};

struct crl_entry {
	char ca[DT_ID_BUF];
	unsigned char *der;
	size_t len;
	int64_t this_update, next_update;
};

struct http_cache {
	struct http_server *srv;
	pthread_rwlock_t ocsp_lock;
	struct ocsp_entry **buckets;
	struct ocsp_entry **spare; /* empty, swapped in by ocsp_new_generation */
	size_t ocsp_count;
	atomic_ulong gen;

	pthread_mutex_t crl_lock; /* also serialises CRL generation */
	struct crl_entry crls[CRL_CACHE_MAX];
	int ncrls;

	pthread_t watcher;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stop;
	int64_t last_seq;
	int64_t renew_next; /* when the watcher next looks for OCSP signers due */
};

static void http_date(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void ocsp_entry_free(struct ocsp_entry *e)
{
	if (e) {
		OPENSSL_free(e->der);
		free(e);
	}
}

static void ocsp_free_buckets(struct ocsp_entry **buckets)
{
	for (size_t i = 0; i < OCSP_BUCKETS; i++) {
		struct ocsp_entry *e = buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			ocsp_entry_free(e);
		}
		buckets[i] = NULL;
	}
}

static void ocsp_clear_locked(struct http_cache *c)
{
	ocsp_free_buckets(c->buckets);
	c->ocsp_count = 0;
}

size_t http_cache_ocsp_entries(struct http_cache *c)
{
	size_t n;

	if (!c)
		return 0;
	pthread_rwlock_rdlock(&c->ocsp_lock);
	n = c->ocsp_count;
	pthread_rwlock_unlock(&c->ocsp_lock);
	return n;
}

/* A status change: a new generation, and every cached answer goes. The watcher (the
 * only caller) swaps in the empty spare table under the lock, together with the
 * generation, so the table never holds an answer of an older one; it empties the old
 * table outside the lock, which becomes the spare. The lock is held for a pointer
 * exchange, however many answers there were. */
static void ocsp_new_generation(struct http_cache *c)
{
	struct ocsp_entry **old;

	pthread_rwlock_wrlock(&c->ocsp_lock);
	atomic_fetch_add(&c->gen, 1);
	old = c->buckets;
	c->buckets = c->spare;
	c->ocsp_count = 0;
	pthread_rwlock_unlock(&c->ocsp_lock);
	ocsp_free_buckets(old);
	c->spare = old;
}

/* Puts NE into bucket B, first dropping from it what can never hit again: an answer to
 * the same request and one past its refresh time. With ocsp_new_generation, the table
 * holds at most one answer per request asked since the last status change. An answer
 * made before the latest change is not kept: it is handed back (NULL once kept) for the
 * caller to free. */
static struct ocsp_entry *ocsp_insert_locked(struct http_cache *c, size_t b, struct ocsp_entry *ne,
					     int64_t now)
{
	unsigned long gen = atomic_load(&c->gen);
	struct ocsp_entry **pp = &c->buckets[b], *e;

	while ((e = *pp)) {
		if (now >= e->refresh_at || memcmp(e->key, ne->key, 32) == 0) {
			*pp = e->next;
			ocsp_entry_free(e);
			c->ocsp_count--;
		} else {
			pp = &e->next;
		}
	}
	if (ne->gen != gen)
		return ne;
	if (c->ocsp_count >= OCSP_CACHE_MAX)
		ocsp_clear_locked(c);
	ne->next = c->buckets[b];
	c->buckets[b] = ne;
	c->ocsp_count++;
	return NULL;
}

static void send_ocsp(struct http_req *r, const unsigned char *der, size_t len, int cacheable,
		      int64_t this_update, int64_t next_update, const char *etag)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	char date[64], cc[96];
	int64_t now = dt_now();

	if (cacheable) {
		/* RFC 5019 section 6.2: let caches keep it until nextUpdate. */
		snprintf(cc, sizeof(cc), "max-age=%lld, public, no-transform, must-revalidate",
			 (long long)(next_update > now ? next_update - now : 0));
		evhttp_add_header(h, "Cache-Control", cc);
		http_date(this_update, date, sizeof(date));
		evhttp_add_header(h, "Last-Modified", date);
		http_date(next_update, date, sizeof(date));
		evhttp_add_header(h, "Expires", date);
		evhttp_add_header(h, "ETag", etag);
	} else {
		evhttp_add_header(h, "Cache-Control", "no-store");
	}
	atomic_fetch_add(&r->w->srv->metrics.ocsp_served, 1);
	http_reply(r, 200, "application/ocsp-response", der, len);
}

void http_serve_ocsp(struct http_req *r, const unsigned char *der, size_t len)
{
	struct http_cache *c = r->w->srv->cache;
	struct dt_ocsp_result res;
	struct dt_error err;
	unsigned char key[32], tag[32];
	struct ocsp_entry *e, *ne = NULL;
	size_t b;
	unsigned long gen = atomic_load(&c->gen);
	int64_t now = dt_now();

	dt_sha256(der ? (const void *)der : "", der ? len : 0, key);
	b = ((size_t)key[0] << 8 | key[1]) % OCSP_BUCKETS;
	pthread_rwlock_rdlock(&c->ocsp_lock);
	for (e = c->buckets[b]; e; e = e->next)
		if (memcmp(e->key, key, 32) == 0 && e->gen == gen && now < e->refresh_at) {
			atomic_fetch_add(&r->w->srv->metrics.ocsp_cache_hits, 1);
			send_ocsp(r, e->der, e->len, 1, e->this_update, e->next_update, e->etag);
			pthread_rwlock_unlock(&c->ocsp_lock);
			return;
		}
	pthread_rwlock_unlock(&c->ocsp_lock);

	memset(&res, 0, sizeof(res));
	if (dt_ocsp_respond(r->w->srv->ctx, der, len, &res, &err) != DT_OK) {
		/* RFC 6960 section 2.3: an internalError response, details only in the log. */
		snprintf(r->note, sizeof(r->note), "%.90s", err.msg);
		memset(&res, 0, sizeof(res));
		if (dt_ocsp_error_response(DT_OCSP_INTERNAL_ERROR, &res, &err) != DT_OK) {
			http_reply_error(r, 500, "internal error");
			return;
		}
		send_ocsp(r, res.der, res.len, 0, 0, 0, NULL);
		dt_ocsp_result_free(&res);
		return;
	}
	atomic_fetch_add(&r->w->srv->metrics.ocsp_signed, 1);
	if (res.why[0])
		snprintf(r->note, sizeof(r->note), "%.90s", res.why);
	if (res.cacheable && (ne = calloc(1, sizeof(*ne)))) {
		memcpy(ne->key, key, 32);
		ne->der = res.der;
		ne->len = res.len;
		ne->this_update = res.this_update;
		ne->next_update = res.next_update;
		ne->refresh_at = res.refresh_at;
		ne->gen = gen;
		dt_sha256(res.der, res.len, tag);
		snprintf(ne->etag, sizeof(ne->etag), "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", tag[0],
			 tag[1], tag[2], tag[3], tag[4], tag[5], tag[6], tag[7]);
		res.der = NULL;
		send_ocsp(r, ne->der, ne->len, 1, ne->this_update, ne->next_update, ne->etag);
		pthread_rwlock_wrlock(&c->ocsp_lock);
		ne = ocsp_insert_locked(c, b, ne, now);
		pthread_rwlock_unlock(&c->ocsp_lock);
		ocsp_entry_free(ne);
	} else {
		send_ocsp(r, res.der, res.len, 0, 0, 0, NULL);
	}
	dt_ocsp_result_free(&res);
}

static struct crl_entry *crl_find_locked(struct http_cache *c, const char *ca)
{
	for (int i = 0; i < c->ncrls; i++)
		if (strcmp(c->crls[i].ca, ca) == 0)
			return &c->crls[i];
	return NULL;
}

static struct crl_entry *crl_slot_locked(struct http_cache *c, const char *ca)
{
	struct crl_entry *e = crl_find_locked(c, ca);

	if (e)
		return e;
	if (c->ncrls == CRL_CACHE_MAX)
		return NULL;
	snprintf(c->crls[c->ncrls].ca, sizeof(c->crls[c->ncrls].ca), "%s", ca);
	return &c->crls[c->ncrls++];
}

/* Regenerates the CRL of a CA (crl_lock held). */
static dt_code crl_refresh_locked(struct http_cache *c, struct crl_entry *e, struct dt_error *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	int64_t t0 = http_now_us(), us, next_update;
	dt_code rc;

	if ((rc = dt_crl_generate_until(c->srv->ctx, e->ca, &der, &len, &next_update, err)) !=
	    DT_OK)
		return rc;
	us = http_now_us() - t0;
	atomic_fetch_add(&c->srv->metrics.crl_generated, 1);
	atomic_fetch_add(&c->srv->metrics.crl_gen_us_total, (unsigned long long)us);
	atomic_store(&c->srv->metrics.crl_gen_us_last, (unsigned long long)us);
	e->this_update = dt_now();
	e->next_update = next_update;
	OPENSSL_free(e->der);
	e->der = der;
	e->len = len;
	atomic_fetch_add(&c->srv->crl_bytes_since_trim, len); /* server.c trims after */
	return DT_OK;
}

void http_serve_crl(struct http_req *r, const char *ca)
{
	struct http_cache *c = r->w->srv->cache;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct dt_ca_info info;
	struct dt_error err;
	struct crl_entry *e;
	char date[64], cc[64];
	unsigned char *copy = NULL;
	size_t len = 0;
	int64_t this_update = 0, next_update = 0;

	if (dt_check_name("CA name", ca, &err) != DT_OK) {
		http_reply_error(r, 404, "no such CA");
		return;
	}
	pthread_mutex_lock(&c->crl_lock);
	e = crl_find_locked(c, ca);
	/* Only a CA not cached yet costs a store read to tell it exists. */
	if (!e && dt_ca_get(r->w->srv->ctx, ca, &info, &err) == DT_OK)
		e = crl_slot_locked(c, ca);
	if (!e) {
		pthread_mutex_unlock(&c->crl_lock);
		http_reply_error(r, 404, "no such CA");
		return;
	}
	if (!e->der && crl_refresh_locked(c, e, &err) != DT_OK)
		e = NULL;
	if (e && (copy = OPENSSL_memdup(e->der, e->len))) {
		len = e->len;
		this_update = e->this_update;
		next_update = e->next_update;
	}
	pthread_mutex_unlock(&c->crl_lock);
	if (!copy) {
		http_reply_error(r, 500, "internal error");
		return;
	}
	http_date(this_update, date, sizeof(date));
	evhttp_add_header(h, "Last-Modified", date);
	http_date(next_update, date, sizeof(date));
	evhttp_add_header(h, "Expires", date);
	/* Short enough that a CDN picks up a revocation quickly. */
	snprintf(cc, sizeof(cc), "max-age=%d, public, no-transform", 60);
	evhttp_add_header(h, "Cache-Control", cc);
	http_reply(r, 200, "application/pkix-crl", copy, len);
	OPENSSL_free(copy);
}

void http_serve_cacert(struct http_req *r, const char *ca)
{
	unsigned char *der = NULL;
	size_t len = 0;
	struct dt_error err;

	if (dt_check_name("CA name", ca, &err) != DT_OK ||
	    dt_ca_cert_der(r->w->srv->ctx, ca, &der, &len, &err) != DT_OK) {
		http_reply_error(r, 404, "no such CA");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Cache-Control",
			  "max-age=86400, public");
	http_reply(r, 200, "application/pkix-cert", der, len);
	OPENSSL_free(der);
}

/* Audit actions after which OCSP answers and CRLs must change. */
static int changes_status(const struct dt_audit_event *ev)
{
	static const char *const actions[] = {
	    "device.suspend", "device.resume", "device.retire", "device.compromised", "cert.revoke",
	    "cert.revoke_all", "ca.revoke", "ca.add",
	    /* answers signed by a replaced signer are dropped and signed again */
	    "ca.ocsp_renew"};

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(ev->action, actions[i]) == 0)
			return 1;
	/* Re-enrollment that superseded older certificates revoked them. */
	return strcmp(ev->action, "cert.issue") == 0 && !strstr(ev->details, "\"superseded\":0");
}

/* A message for a JSON log value: no quote, backslash or control character. */
static void log_text(const char *in, char *out, size_t cap)
{
	size_t i = 0;

	for (; in && *in && i + 1 < cap; in++)
		out[i++] = (*in == '"' || *in == '\\' || (unsigned char)*in < 0x20) ? '\'' : *in;
	out[i] = '\0';
}

struct scan {
	int64_t last;
	int dirty;
	int ca_changed; /* a CA was added or its signer renewed: plan renewals again */
	int nrenewed;	/* OCSP signers renewed, by anyone; more than RENEWED_MAX: all */
	char renewed[RENEWED_MAX][DT_ID_BUF];
};

static int scan_row(void *arg, const struct store_audit_row *row)
{
	struct scan *s = arg;

	s->last = row->ev.seq;
	s->dirty |= changes_status(&row->ev);
	s->ca_changed |= strncmp(row->ev.action, "ca.", 3) == 0;
	if (strcmp(row->ev.action, "ca.ocsp_renew") == 0) {
		char actor[sizeof(row->ev.actor)];

		log_text(row->ev.actor, actor, sizeof(actor));
		if (s->nrenewed < RENEWED_MAX)
			snprintf(s->renewed[s->nrenewed], DT_ID_BUF, "%.64s", row->ev.object);
		s->nrenewed++;
		fprintf(stderr,
			"{\"event\":\"ocsp-signer-renewed\",\"ca\":\"%s\",\"by\":\"%s\",%s\n",
			row->ev.object, actor, row->ev.details + (row->ev.details[0] == '{'));
	}
	return 0;
}

static dt_code scan_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct scan *s = arg;

	return txn->ops->audit_since(txn, s->last, scan_row, s, err);
}

static dt_code last_seq_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	unsigned char h[32];

	return txn->ops->audit_last(txn, (int64_t *)arg, h, err);
}

static int reload_one(void *arg, const struct dt_ca_info *ca)
{
	struct http_cache *c = arg;
	struct dt_error err;

	/* A CA without a signer (an old root) has nothing to reload. */
	if (dt_ca_ocsp_signer_reload(c->srv->ctx, ca->name, &err) != DT_OK)
		dt_error_clear(&err);
	return 0;
}

static int list_ca(void *arg, const struct dt_ca_info *ca)
{
	struct http_cache *c = arg;

	(void)crl_slot_locked(c, ca->name);
	return 0;
}

static void refresh_crls(struct http_cache *c, int all)
{
	struct dt_error err;
	int64_t now = dt_now();

	pthread_mutex_lock(&c->crl_lock);
	if (all && dt_ca_list(c->srv->ctx, list_ca, c, &err) != DT_OK)
		all = 1; /* regenerate what is known; the next change retries the list */
	for (int i = 0; i < c->ncrls; i++) {
		struct crl_entry *e = &c->crls[i];
		if (all || !e->der || now >= e->this_update + (e->next_update - e->this_update) / 2)
			(void)crl_refresh_locked(c, e, &err);
	}
	pthread_mutex_unlock(&c->crl_lock);
}

/* Renews the OCSP signers that are due (DECISIONS.md 44) and plans the next look. */
static void renew_signers(struct http_cache *c)
{
	struct dt_error err;
	char msg[DT_ERR_MSG_MAX];
	int renewed = 0;
	int64_t next = 0, now = dt_now();

	if (dt_ca_ocsp_renew_due(c->srv->ctx, now, &renewed, &next, &err) != DT_OK) {
		atomic_fetch_add(&c->srv->metrics.ocsp_signer_renewal_failures, 1);
		log_text(err.msg, msg, sizeof(msg));
		fprintf(stderr, "{\"event\":\"ocsp-signer-renewal-failed\",\"error\":\"%s\"}\n",
			msg);
		next = now + RENEW_RETRY_S;
	}
	atomic_fetch_add(&c->srv->metrics.ocsp_signer_renewals, (unsigned long long)renewed);
	if (next <= now || next > now + RENEW_CHECK_S)
		next = next <= now ? now + 1 : now + RENEW_CHECK_S;
	c->renew_next = next;
}

/* Switches to the signers renewed since the last read, then drops the answers the
 * old ones signed: in that order, or a request in between would cache an answer of
 * the old signer under the new generation. */
static void switch_signers(struct http_cache *c, const struct scan *s)
{
	struct dt_error err;
	char msg[DT_ERR_MSG_MAX];

	for (int i = 0; i < s->nrenewed && i < RENEWED_MAX; i++)
		if (dt_ca_ocsp_signer_reload(c->srv->ctx, s->renewed[i], &err) != DT_OK) {
			log_text(err.msg, msg, sizeof(msg));
			fprintf(stderr,
				"{\"event\":\"ocsp-signer-reload-failed\",\"ca\":\"%s\",\"error\":"
				"\"%s\"}\n",
				s->renewed[i], msg);
		}
	if (s->nrenewed > RENEWED_MAX)
		if (dt_ca_list(c->srv->ctx, reload_one, c, &err) != DT_OK)
			fprintf(stderr, "{\"event\":\"ocsp-signer-reload-failed\",\"ca\":\"*\"}\n");
}

static void *watcher_main(void *arg)
{
	struct http_cache *c = arg;
	struct dt_error err;
	int64_t audit_next = 0; /* audit checkpoints: when to look again */
	char audit_msg[DT_ERR_MSG_MAX];

	refresh_crls(c, 1);
	pthread_mutex_lock(&c->stop_mu);
	while (!c->stop) {
		struct timespec ts;
		struct scan s;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += HTTP_WATCH_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->stop_cv, &c->stop_mu, &ts);
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->stop_mu);
		memset(&s, 0, sizeof(s));
		s.last = c->last_seq;
		if (store_read(c->srv->ctx->store, scan_job, &s, &err) == DT_OK) {
			c->last_seq = s.last;
			switch_signers(c, &s);
			if (s.dirty)
				ocsp_new_generation(c);
			refresh_crls(c, s.dirty);
			if (s.ca_changed)
				c->renew_next = 0;
		}
		if (dt_now() >= c->renew_next)
			renew_signers(c);
		/* Audit: a signed checkpoint when the policy says one is due (every N events or
		 * M minutes with new events; the tick reads the log's position once a second). */
		if (dt_audit_checkpoint_tick(c->srv->ctx, &audit_next, &err) != DT_OK) {
			log_text(err.msg, audit_msg, sizeof(audit_msg));
			fprintf(stderr,
				"{\"event\":\"audit-checkpoint-failed\",\"error\":\"%s\"}\n",
				audit_msg);
		}
		pthread_mutex_lock(&c->stop_mu);
	}
	pthread_mutex_unlock(&c->stop_mu);
	return NULL;
}

/* Everything but the watcher thread: what http_cache_new made, and the CRLs. */
static void cache_destroy(struct http_cache *c)
{
	if (c->buckets)
		ocsp_clear_locked(c);
	free(c->buckets);
	free(c->spare); /* empty */
	for (int i = 0; i < c->ncrls; i++)
		OPENSSL_free(c->crls[i].der);
	pthread_rwlock_destroy(&c->ocsp_lock);
	pthread_mutex_destroy(&c->crl_lock);
	pthread_mutex_destroy(&c->stop_mu);
	pthread_cond_destroy(&c->stop_cv);
	free(c);
}

dt_code http_cache_new(struct http_server *srv, struct http_cache **out, struct dt_error *err)
{
	struct http_cache *c = calloc(1, sizeof(*c));
	dt_code rc;

	*out = NULL;
	if (!c)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	c->srv = srv;
	pthread_rwlock_init(&c->ocsp_lock, NULL);
	pthread_mutex_init(&c->crl_lock, NULL);
	pthread_mutex_init(&c->stop_mu, NULL);
	pthread_cond_init(&c->stop_cv, NULL);
	if (!(c->buckets = calloc(OCSP_BUCKETS, sizeof(*c->buckets))) ||
	    !(c->spare = calloc(OCSP_BUCKETS, sizeof(*c->spare)))) {
		cache_destroy(c);
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	if ((rc = store_read(srv->ctx->store, last_seq_job, &c->last_seq, err)) == DT_OK)
		/* Before the first request: a signer that expired while the server was down is
		 * replaced before anyone asks (failures are logged; the server runs anyway). */
		renew_signers(c);
	if (rc != DT_OK || pthread_create(&c->watcher, NULL, watcher_main, c) != 0) {
		if (rc == DT_OK)
			rc = dt_fail(err, DT_ERR_INTERNAL, "cannot start the watcher thread");
		cache_destroy(c);
		return rc;
	}
	*out = c;
	return DT_OK;
}

void http_cache_free(struct http_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->stop_mu);
	c->stop = 1;
	pthread_cond_signal(&c->stop_cv);
	pthread_mutex_unlock(&c->stop_mu);
	pthread_join(c->watcher, NULL);
	cache_destroy(c);
}
