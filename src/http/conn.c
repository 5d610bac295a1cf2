/*
 * The connections of a worker, tracked from the bufferevent each one gets at
 * accept: a deadline for every request to arrive whole (libevent 2.1's evhttp
 * has only an idle timeout, which a client trickling a byte every few
 * seconds never trips), the hard connection cap (a slot in the server-wide
 * count taken at accept, or the connection refused), the keep-alive
 * connections a new one may replace at the cap, the stalled ones closed at
 * the cap after half the deadline, and what the drain waits for.
 * Everything here runs on the worker's own thread, but the count.
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

/* Per worker; chains stay short up to a few connections per bucket. */
#define CONN_BUCKETS 4096
/* Idle connections looked at for one to replace at the cap: the first ones
 * (idle longest) have written their reply long ago, so a few suffice. */
#define CONN_REUSE_TRIES 64

enum conn_state {
	CONN_READING, /* a request is arriving: the deadline runs */
	CONN_BUSY,    /* the request is with a handler until its reply */
	CONN_IDLE,    /* replied; the next request starts with its first byte */
	CONN_CLOSED,  /* being freed: off the idle list */
};

struct http_conn {
	struct http_worker *w;
	/* evhttp frees the bufferevent when it closes the connection. Our reference
	 * keeps the struct (the socket is shut down) until the sweep notices, so a
	 * bufferevent's address never names two connections at once. */
	struct bufferevent *bev;
	struct evbuffer_cb_entry *input_cb;
	struct event *deadline;
	enum conn_state state;
	int64_t since_us;
	struct http_conn *prev, *next; /* the worker's list */
	struct http_conn *chain;       /* its bucket, keyed by bev */
	/* The worker's list of its state (idle or reading), oldest first, or none. */
	struct http_conn_list *list;
	struct http_conn *lprev, *lnext;
};

/* A connection refused at the cap, until the next turn of the loop closes it. */
struct http_refused {
	struct bufferevent *bev;
	struct http_refused *next;
};

static void raise_peak(atomic_int *peak, int n)
{
	int p = atomic_load(peak);

	while (p < n && !atomic_compare_exchange_weak(peak, &p, n))
		;
}

/* A slot under the cap, or 0: compare-and-swap, so that the workers together
 * never hold more than conns_cap, not even for an instant. */
static int take_slot(struct http_server *srv)
{
	int n = atomic_load(&srv->conns_open);

	do {
		if (n >= srv->conns_cap)
			return 0;
	} while (!atomic_compare_exchange_weak(&srv->conns_open, &n, n + 1));
	return 1;
}

int http_conns_open(struct http_server *srv)
{
	return atomic_load(&srv->conns_open) - atomic_load(&srv->conns_held);
}

static void hold(struct http_worker *w, int on)
{
	w->slot_held = on;
	atomic_fetch_add(&w->srv->conns_held, on ? 1 : -1);
}

void http_conns_release(struct http_worker *w)
{
	if (!w->slot_held)
		return;
	hold(w, 0);
	atomic_fetch_sub(&w->srv->conns_open, 1);
}

static size_t bucket_of(const struct bufferevent *bev)
{
	return (size_t)(((uint64_t)(uintptr_t)bev * 0x9E3779B97F4A7C15ull) >> 52) % CONN_BUCKETS;
}

/* bufferevent_free() clears every callback; evhttp keeps its own set (with the
 * connection as argument) on the bufferevent for as long as the connection lives. */
static int conn_closed(struct http_conn *c)
{
	bufferevent_data_cb rd = NULL, wr = NULL;
	bufferevent_event_cb ev = NULL;
	void *arg = NULL;

	bufferevent_getcb(c->bev, &rd, &wr, &ev, &arg);
	return !rd && !wr && !ev && !arg;
}

static struct http_conn_list *list_of(struct http_worker *w, enum conn_state st)
{
	return st == CONN_IDLE ? &w->idle : st == CONN_READING ? &w->reading : NULL;
}

/* Every change of state goes through here: it keeps the idle and reading lists
 * in the order the connections entered them (again: a re-armed connection
 * goes to the end), so each is oldest first. */
static void set_state(struct http_conn *c, enum conn_state st)
{
	struct http_conn_list *l = c->list;

	if (l) {
		if (c->lprev)
			c->lprev->lnext = c->lnext;
		else
			l->head = c->lnext;
		if (c->lnext)
			c->lnext->lprev = c->lprev;
		else
			l->tail = c->lprev;
		c->lprev = c->lnext = NULL;
	}
	if ((l = list_of(c->w, st))) {
		c->lprev = l->tail;
		if (l->tail)
			l->tail->lnext = c;
		else
			l->head = c;
		l->tail = c;
	}
	c->list = l;
	c->state = st;
}

static void arm(struct http_conn *c)
{
	set_state(c, CONN_READING);
	c->since_us = http_now_us();
	evtimer_add(c->deadline, &c->w->request_timeout);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	bufferevent_data_cb rd = NULL, wr = NULL;
	bufferevent_event_cb ev = NULL;
	void *evcon = NULL;
	char *peer = NULL, line[256];
	ev_uint16_t port = 0;
	int n;

	(void)fd;
	(void)what;
	if (c->state != CONN_READING || conn_closed(c))
		return;
	bufferevent_getcb(c->bev, &rd, &wr, &ev, &evcon);
	evhttp_connection_get_peer(evcon, &peer, &port);
	n = snprintf(line, sizeof(line),
		     "{\"event\":\"request-timeout\",\"worker\":%d,\"peer\":\"%.64s:%u\","
		     "\"ms\":%lld,\"limit_s\":%ld}\n",
		     c->w->id, peer ? peer : "-", (unsigned)port,
		     (long long)((http_now_us() - c->since_us) / 1000),
		     (long)c->w->request_timeout.tv_sec);
	if (n > 0)
		http_log_write(c->w, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	atomic_fetch_add(&c->w->srv->metrics.request_timeouts, 1);
	/* READING: evhttp has not handed this connection's request to anyone, so
	 * freeing the connection frees nothing a handler holds. The node goes at the
	 * next sweep. */
	evhttp_connection_free(evcon);
}

/* Data arrived: after a reply, the first byte starts the next request's clock. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct http_conn *c = arg;

	(void)buf;
	if (info->n_added > 0 && c->state == CONN_IDLE)
		arm(c);
}

/* The refused connections: evhttp has wrapped each one and is about to read
 * from it; closing them now, at the highest priority, comes first. */
static void close_refused(evutil_socket_t fd, short what, void *arg)
{
	struct http_worker *w = arg;
	struct http_refused *r;
	void *evcon;

	(void)fd;
	(void)what;
	while ((r = w->refused)) {
		w->refused = r->next;
		evcon = NULL;
		bufferevent_getcb(r->bev, NULL, NULL, NULL, &evcon);
		if (evcon)
			evhttp_connection_free(evcon);
		bufferevent_decref(r->bev);
		free(r);
	}
}

dt_code http_conns_init(struct http_worker *w, int request_timeout_s, struct dt_error *err)
{
	w->conns = NULL;
	w->idle.head = w->idle.tail = w->reading.head = w->reading.tail = NULL;
	w->request_timeout.tv_sec =
	    request_timeout_s > 0 ? request_timeout_s : HTTP_REQUEST_TIMEOUT_S;
	w->request_timeout.tv_usec = 0;
	w->refused = NULL;
	if (!(w->conn_buckets = calloc(CONN_BUCKETS, sizeof(*w->conn_buckets))) ||
	    !(w->refuse_ev = event_new(w->base, -1, 0, close_refused, w)) ||
	    /* Before the refused connections' first read, which has the middle one. */
	    event_priority_set(w->refuse_ev, 0) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	return DT_OK;
}

static void conn_free(struct http_worker *w, struct http_conn *c)
{
	struct http_conn **pp = &w->conn_buckets[bucket_of(c->bev)];

	while (*pp && *pp != c)
		pp = &(*pp)->chain;
	if (*pp)
		*pp = c->chain;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	set_state(c, CONN_CLOSED);
	atomic_fetch_sub(&w->srv->conns_open, 1);
	event_free(c->deadline);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
	bufferevent_decref(c->bev);
	free(c);
}

/* libevent closes a TLS connection without a close_notify. An OpenSSL 3 client takes
 * that for a truncation: it answers with a fatal alert, and OpenSSL drops the session
 * the server received it on, so a TLS 1.2 client without tickets could never resume.
 * Any client also sees a clean end instead of an "unexpected eof". The write goes
 * straight to the socket (non-blocking; evhttp closes after the reply has left) and
 * whatever it returns is of no use: the connection is going. */
void http_conn_on_close(struct evhttp_connection *con, void *arg)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(con);
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

	(void)arg;
	if (ssl && SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
}

void http_conns_free(struct http_worker *w)
{
	http_conns_release(w);
	while (w->conns)
		conn_free(w, w->conns);
	free(w->conn_buckets);
	w->conn_buckets = NULL;
	if (w->refuse_ev) {
		close_refused(-1, 0, w);
		event_free(w->refuse_ev);
		w->refuse_ev = NULL;
	}
}

/* Between two keep-alive requests, with its reply written and nothing of the
 * next one read: closing it loses nothing (RFC 9112 section 9.5: either side
 * may close an idle connection at any time; clients retry). */
static int idle_reusable(struct http_conn *c)
{
	return !conn_closed(c) && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
	       evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
}

/* The idle connection a new one at the cap could replace: the one idle longest. */
static struct http_conn *replaceable(struct http_worker *w)
{
	struct http_conn *c;
	int tries = 0;

	for (c = w->idle.head; c && tries < CONN_REUSE_TRIES; c = c->lnext, tries++)
		if (idle_reusable(c))
			return c;
	return NULL;
}

/* Closes a connection evhttp holds no request of a handler's on: idle (the
 * request evhttp holds is a fresh one it waits to fill) or reading (not handed
 * to anyone yet, as at the deadline). The node goes now, and its slot with it. */
static void close_now(struct http_worker *w, struct http_conn *c)
{
	void *evcon = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	evhttp_connection_free(evcon);
	conn_free(w, c);
}

/* At the cap a new connection takes the place of the one idle longest, as
 * nginx reuses its keep-alive connections: clients that hold connections
 * open with a request now and then would otherwise keep every later client
 * in the backlog for as long as they like (the deadline only covers a
 * request on its way in). 1 when one was closed and its slot given back. */
static int reuse_idle(struct http_worker *w)
{
	struct http_conn *c = replaceable(w);

	if (!c)
		return 0;
	atomic_fetch_add(&w->srv->metrics.idle_reused, 1);
	close_now(w, c);
	return 1;
}

int http_conns_close_stalled(struct http_worker *w)
{
	int64_t limit = (int64_t)w->request_timeout.tv_sec * 500000, now = http_now_us();
	struct http_conn *c, *next;
	int n = 0;

	if (atomic_load(&w->srv->conns_open) < w->srv->conns_cap)
		return 0;
	/* Oldest first: past one still within the limit, the rest are younger. */
	for (c = w->reading.head; c; c = next) {
		next = c->lnext;
		if (conn_closed(c))
			continue;
		if (now - c->since_us < limit)
			break;
		close_now(w, c);
		n++;
	}
	atomic_fetch_add(&w->srv->metrics.stalled_closed, (unsigned long long)n);
	return n;
}

int http_conn_admit(struct http_worker *w)
{
	int n;

	if (w->slot_held)
		hold(w, 0);
	/* Another worker may take the slot an idle one gives back first: then this one
	 * is refused. */
	else if (!take_slot(w->srv) && !(reuse_idle(w) && take_slot(w->srv)))
		return 0;
	n = http_conns_open(w->srv);
	raise_peak(&w->srv->conns_peak, n);
	raise_peak(&w->srv->conns_peak_since_trim, n);
	return 1;
}

int http_conn_ready(struct http_worker *w)
{
	if (!w->slot_held && take_slot(w->srv))
		hold(w, 1);
	return w->slot_held || replaceable(w);
}

struct bufferevent *http_conn_refuse(struct http_worker *w, struct event_base *base)
{
	/* Plain on both listeners: a refused connection costs no TLS state. */
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct http_refused *r;

	atomic_fetch_add(&w->srv->metrics.conns_refused, 1);
	w->refused_unlogged++;
	/* Out of memory: evhttp makes its own bufferevent, and the connection is served
	 * untracked. */
	if (!bev || !(r = calloc(1, sizeof(*r))))
		return bev;
	/* Ours until closed, whatever evhttp does with it meanwhile. */
	bufferevent_incref(bev);
	r->bev = bev;
	r->next = w->refused;
	w->refused = r;
	event_active(w->refuse_ev, 0, 0);
	return bev;
}

struct bufferevent *http_conn_track(struct http_worker *w, struct bufferevent *bev)
{
	struct http_conn *c;
	size_t b;

	/* Out of memory: the connection is served untracked (no deadline, not counted). */
	if (!bev || !w->conn_buckets || !(c = calloc(1, sizeof(*c)))) {
		atomic_fetch_sub(&w->srv->conns_open, 1);
		return bev;
	}
	if (!(c->deadline = evtimer_new(w->base, on_deadline, c)) ||
	    !(c->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c))) {
		if (c->deadline)
			event_free(c->deadline);
		free(c);
		atomic_fetch_sub(&w->srv->conns_open, 1);
		return bev;
	}
	c->w = w;
	c->bev = bev;
	bufferevent_incref(bev);
	b = bucket_of(bev);
	c->chain = w->conn_buckets[b];
	w->conn_buckets[b] = c;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	/* The first request's clock starts at accept: it covers the TLS handshake. */
	arm(c);
	return bev;
}

struct http_conn *http_conn_request_read(struct http_worker *w, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct http_conn *c;

	if (!bev || !w->conn_buckets)
		return NULL;
	for (c = w->conn_buckets[bucket_of(bev)]; c && c->bev != bev; c = c->chain)
		;
	if (c) {
		set_state(c, CONN_BUSY);
		evtimer_del(c->deadline);
	}
	return c;
}

void http_conn_replied(struct http_conn *c)
{
	if (!c)
		return;
	set_state(c, CONN_IDLE);
	/* A pipelining client may have sent its next request already. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		arm(c);
}

void http_conns_sweep(struct http_worker *w)
{
	struct http_conn *c, *next;

	for (c = w->conns; c; c = next) {
		next = c->next;
		if (conn_closed(c))
			conn_free(w, c);
	}
}
