/*
 * The server core: TLS context, listening sockets (one per worker and
 * listener, SO_REUSEPORT, so the kernel spreads connections over the
 * workers, once claim.c has made sure no one else is there), worker threads
 * each with its own event base, the connection cap at accept, memory given
 * back after a flood, and the SIGTERM drain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "http/http.h"

int64_t http_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

dt_code http_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
			struct dt_error *err)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	char *end = NULL;
	long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!colon || colon == s)
		return dt_fail(err, DT_ERR_INVALID, "listen address '%.64s' is not HOST:PORT", s);
	port = strtol(colon + 1, &end, 10);
	if (!end || *end || port < 1 || port > 65535)
		return dt_fail(err, DT_ERR_INVALID, "port in '%.64s' must be 1-65535", s);
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return dt_fail(err, DT_ERR_INVALID, "listen address '%.64s' is too long", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
	} else {
		return dt_fail(err, DT_ERR_INVALID,
			       "listen address '%s' must be a numeric IPv4 or [IPv6] address",
			       host);
	}
	return DT_OK;
}

static dt_code listen_socket(const char *addr, evutil_socket_t *out, struct dt_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int fd, one = 1;
	dt_code rc;

	*out = -1;
	if ((rc = http_parse_addr(addr, &ss, &len, err)) != DT_OK)
		return rc;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return dt_fail(err, DT_ERR_IO, "socket: %s", strerror(errno));
	/* TCP_NODELAY is inherited by accepted sockets: a reply made of several TLS
	 * records must not wait for the client's delayed ACK (40 ms a request). */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
		rc = dt_fail(err, DT_ERR_IO, "cannot listen on %s: %s", addr, strerror(errno));
		close(fd);
		return rc;
	}
	*out = fd;
	return DT_OK;
}

/* Client certificates are requested, not required, and verified by the EST
 * code against our CAs or a manufacturer's anchors, not by the handshake. */
static int accept_any_client_cert(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

static dt_code tls_context(struct http_server *srv, struct dt_error *err)
{
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *chain = NULL;
	SSL_CTX *ssl = NULL;
	dt_code rc;

	if ((rc = ca_tls_credentials(srv->ctx, &key, &chain, err)) != DT_OK)
		return rc;
	if (!(ssl = SSL_CTX_new(TLS_server_method())) ||
	    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ssl, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate(ssl, sk_X509_value(chain, 0)) != 1 ||
	    SSL_CTX_use_PrivateKey(ssl, key) != 1 || SSL_CTX_check_private_key(ssl) != 1 ||
	    /* TLS 1.2: forward-secret AEAD suites only. */
	    SSL_CTX_set_cipher_list(ssl, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot set up TLS with the server certificate");
		goto out;
	}
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(ssl, sk_X509_value(chain, i)) != 1) {
			rc = dt_fail(err, DT_ERR_CRYPTO, "cannot add the TLS chain");
			goto out;
		}
	SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* A connection's read and write buffers (17 KB each) are freed whenever they
	 * are empty: a stalled handshake, or an idle keep-alive connection, holds
	 * neither. */
	SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, accept_any_client_cert);
	SSL_CTX_set_session_id_context(ssl, (const unsigned char *)"devtrust", 8);
	SSL_CTX_sess_set_cache_size(ssl, HTTP_TLS_SESSIONS);
	SSL_CTX_set_timeout(ssl, HTTP_TLS_SESSION_S);
	srv->ssl = ssl;
	ssl = NULL;
out:
	ERR_clear_error();
	SSL_CTX_free(ssl);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* A worker's cap lines: state changes and refusals, at most one line every
 * HTTP_CAP_LOG_MS, so a flood does not flood the log. */
static void cap_log(struct http_worker *w, const char *event)
{
	char line[192];
	int64_t now = http_now_us();
	int n;

	if (now - w->cap_log_us < HTTP_CAP_LOG_MS * 1000)
		return;
	n = snprintf(line, sizeof(line),
		     "{\"event\":\"%s\",\"worker\":%d,\"connections\":%d,\"cap\":%d,"
		     "\"refused\":%d,\"stalled_closed\":%d}\n",
		     event, w->id, http_conns_open(w->srv), w->srv->conns_cap, w->refused_unlogged,
		     w->stalled_unlogged);
	if (n > 0 && (size_t)n < sizeof(line))
		http_log_write(w, line, (size_t)n);
	w->cap_log_us = now;
	w->refused_unlogged = 0;
	w->stalled_unlogged = 0;
}

static void set_accepting(struct evhttp_bound_socket *s, void *arg)
{
	struct evconnlistener *l = evhttp_bound_socket_get_listener(s);

	if (*(int *)arg)
		evconnlistener_enable(l);
	else
		evconnlistener_disable(l);
}

static void accepting(struct http_worker *w, int want)
{
	if (want == w->accepting)
		return;
	w->accepting = want;
	evhttp_foreach_bound_socket(w->plain, set_accepting, &want);
	evhttp_foreach_bound_socket(w->tls, set_accepting, &want);
	cap_log(w, want ? "accepting" : "connection-cap");
}

/* The cap, at accept (the bevcb runs for each connection evconnlistener
 * accepts, before evhttp reads from it): a slot, or a refusal. A worker that
 * finds the cap full stops accepting at once: evconnlistener then stops
 * taking from its backlog after this connection, where it would otherwise
 * take the whole backlog in one go. */
static int admit(struct http_worker *w)
{
	int ok = http_conn_admit(w);

	if (!ok || !http_conn_ready(w))
		accepting(w, 0);
	return ok;
}

/* Every connection's bufferevent is made here, so that conn.c tracks it. */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct http_worker *w = arg;
	struct bufferevent *bev = NULL;
	SSL *ssl;

	if (!admit(w))
		return http_conn_refuse(w, base);
	/* NULL makes evhttp fall back to a plain bufferevent: http_handle_tls refuses
	 * to serve such a connection. */
	if ((ssl = SSL_new(w->srv->ssl)) &&
	    !(bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE)))
		SSL_free(ssl);
	return http_conn_track(w, bev);
}

static struct bufferevent *plain_bev(struct event_base *base, void *arg)
{
	struct http_worker *w = arg;

	if (!admit(w))
		return http_conn_refuse(w, base);
	/* What evhttp makes itself without a bevcb. */
	return http_conn_track(w, bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE));
}

static void setup_evhttp(struct evhttp *h)
{
	evhttp_set_max_body_size(h, HTTP_MAX_BODY_HARD);
	evhttp_set_max_headers_size(h, HTTP_MAX_HEADERS);
	evhttp_set_timeout(h, HTTP_TIMEOUT_S);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					  EVHTTP_REQ_DELETE);
	evhttp_set_default_content_type(h, "text/plain; charset=utf-8");
}

/* Drain: once no request is in flight (or the deadline passed), stop the loop. */
static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct http_worker *w = arg;
	struct timeval tv = {0, 50000};

	(void)fd;
	(void)what;
	/* Connections still open may be uploading a request libevent has not handed
	 * over yet; wait for them too, until the deadline. Closed ones are let go
	 * first: the sweep drops the events they still hold. */
	http_conns_sweep(w);
	if ((atomic_load(&w->srv->in_flight) == 0 &&
	     event_base_get_num_events(w->base, EVENT_BASE_COUNT_ADDED) == 0) ||
	    dt_now() >= w->drain_deadline) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	evtimer_add(w->drain_ev, &tv);
}

static void stop_accepting(struct evhttp_bound_socket *s, void *arg)
{
	(void)arg;
	/* Closing the listening socket hands queued connections to other workers. */
	evconnlistener_disable(evhttp_bound_socket_get_listener(s));
}

/* Closed connections are forgotten here, their slots given back; below the
 * cap (or with an idle connection to make room) the worker accepts again. */
static void cap_tick(evutil_socket_t fd, short what, void *arg)
{
	struct http_worker *w = arg;

	(void)fd;
	(void)what;
	http_conns_sweep(w);
	w->stalled_unlogged += http_conns_close_stalled(w);
	accepting(w, http_conn_ready(w));
	if (w->refused_unlogged > 0)
		cap_log(w, "connection-refused");
	else if (w->stalled_unlogged > 0)
		cap_log(w, "stalled-closed");
}

static void worker_stop(evutil_socket_t fd, short what, void *arg)
{
	struct http_worker *w = arg;
	struct timeval now = {0, 0};

	(void)fd;
	(void)what;
	event_del(w->cap_ev);
	evhttp_foreach_bound_socket(w->plain, stop_accepting, NULL);
	evhttp_foreach_bound_socket(w->tls, stop_accepting, NULL);
	w->accepting = 0;
	http_conns_release(w);
	w->drain_deadline = dt_now() + HTTP_DRAIN_S;
	evtimer_add(w->drain_ev, &now);
}

static void *worker_main(void *arg)
{
	struct http_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void worker_free(struct http_worker *w)
{
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->cap_ev)
		event_free(w->cap_ev);
	if (w->plain)
		evhttp_free(w->plain);
	if (w->tls)
		evhttp_free(w->tls);
	/* After evhttp has closed every connection, before their events' base goes. */
	http_conns_free(w);
	http_log_free(w);
	if (w->base)
		event_base_free(w->base);
}

static dt_code worker_init(struct http_server *srv, struct http_worker *w, int id,
			   const struct http_config *cfg, struct dt_error *err)
{
	evutil_socket_t fd_plain = -1, fd_tls = -1;
	struct event_config *ecfg;
	dt_code rc;

	w->srv = srv;
	w->id = id;
	/* The epoll changelist folds evhttp's re-arming of read and write interest
	 * around each request into fewer epoll_ctl calls (measured: 8-22% more
	 * OCSP answers). Our sockets are never dup'ed, the changelist's caveat. */
	if ((ecfg = event_config_new()))
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = ecfg ? event_base_new_with_config(ecfg) : NULL;
	if (ecfg)
		event_config_free(ecfg);
	/* The log's priorities are set before any event exists on the base. */
	if (w->base && (rc = http_log_init(w, err)) != DT_OK)
		return rc;
	if (!w->base || !(w->plain = evhttp_new(w->base)) || !(w->tls = evhttp_new(w->base)) ||
	    !(w->stop_ev = event_new(w->base, -1, 0, worker_stop, w)) ||
	    !(w->drain_ev = evtimer_new(w->base, drain_tick, w)) ||
	    !(w->cap_ev = event_new(w->base, -1, EV_PERSIST, cap_tick, w)))
		return dt_fail(err, DT_ERR_INTERNAL, "cannot create the event loop of worker %d",
			       id);
	if ((rc = http_conns_init(w, cfg->request_timeout_s, err)) != DT_OK)
		return rc;
	setup_evhttp(w->plain);
	setup_evhttp(w->tls);
	evhttp_set_gencb(w->plain, http_handle_plain, w);
	evhttp_set_gencb(w->tls, http_handle_tls, w);
	evhttp_set_bevcb(w->plain, plain_bev, w);
	evhttp_set_bevcb(w->tls, tls_bev, w);
	if ((rc = listen_socket(cfg->http_addr, &fd_plain, err)) != DT_OK)
		return rc;
	if ((rc = listen_socket(cfg->https_addr, &fd_tls, err)) != DT_OK) {
		close(fd_plain);
		return rc;
	}
	if (!evhttp_accept_socket_with_handle(w->plain, fd_plain) ||
	    !evhttp_accept_socket_with_handle(w->tls, fd_tls)) {
		close(fd_plain);
		close(fd_tls);
		return dt_fail(err, DT_ERR_INTERNAL, "cannot attach the listeners of worker %d",
			       id);
	}
	w->accepting = 1;
	{
		struct timeval tv = {0, HTTP_CAP_CHECK_MS * 1000};
		event_add(w->cap_ev, &tv);
	}
	return DT_OK;
}

static long rss_kb(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* When the last malloc_trim ran, and how many housekeeping ticks in a row have
 * found the connections well below their peak. */
struct trim_state {
	int64_t last_us;
	int quiet;
};

/* glibc keeps freed heap (mostly in holes below each arena's top, which free() never
 * returns), so RSS stays at a peak: after thousands of connections close, and after
 * the watcher builds a large CRL (an OpenSSL object per entry, about 0.6 KB each:
 * DECISIONS.md 74 g). malloc_trim(0) gives back every free page of every arena, but
 * it holds each arena's lock while it walks it (20 ms, up to 255 ms on a loaded
 * machine), stalling a worker that allocates there. So it runs here, on the main
 * thread, for one of two reasons: the open connections have stayed at a quarter of
 * their peak or less for HTTP_TRIM_QUIET ticks (a flood whose connections the
 * deadline closes in batches dips for a moment, and fills up again), at most every
 * HTTP_TRIM_INTERVAL_S; or HTTP_TRIM_CRL_BYTES of CRLs were built since the last
 * trim, at most every HTTP_TRIM_CRL_INTERVAL_S (under constant rebuilds the next
 * build takes the pages again anyway). */
static void housekeep_memory(struct http_server *srv, struct trim_state *t)
{
	int open = http_conns_open(srv);
	int peak = atomic_load(&srv->conns_peak_since_trim);
	int64_t now = http_now_us(), took, since = t->last_us ? now - t->last_us : INT64_MAX;
	const char *after;
	long before, after_kb;

	if (peak - open < HTTP_TRIM_MIN_DROP || open > peak / 4)
		t->quiet = 0;
	else
		t->quiet++;
	if (t->quiet >= HTTP_TRIM_QUIET && since >= (int64_t)HTTP_TRIM_INTERVAL_S * 1000000)
		after = "flood";
	else if (atomic_load(&srv->crl_bytes_since_trim) >= HTTP_TRIM_CRL_BYTES &&
		 since >= (int64_t)HTTP_TRIM_CRL_INTERVAL_S * 1000000)
		after = "crl";
	else
		return;
	t->last_us = now;
	t->quiet = 0;
	atomic_store(&srv->conns_peak_since_trim, open);
	atomic_store(&srv->crl_bytes_since_trim, 0);
	before = rss_kb();
	dt_heap_give_back();
	took = http_now_us() - now;
	after_kb = rss_kb();
	atomic_fetch_add(&srv->metrics.memory_trims, 1);
	fprintf(stderr,
		"{\"event\":\"memory-trimmed\",\"after\":\"%s\",\"connections\":%d,"
		"\"peak\":%d,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"ms\":%.1f}\n",
		after, open, peak, before, after_kb, (double)took / 1000);
}

dt_code http_serve(struct dt_ctx *ctx, const struct http_config *cfg, struct dt_error *err)
{
	struct http_server srv;
	struct http_claims claims = {-1, {-1, -1}};
	struct http_worker *w = NULL;
	int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int started = 0, sig = 0;
	const struct timespec housekeep = {HTTP_HOUSEKEEP_S, 0};
	struct trim_state trim = {0, 0};
	sigset_t set;
	dt_code rc;

	if (n < 1)
		n = 1;
	memset(&srv, 0, sizeof(srv));
	srv.ctx = ctx;
	srv.started = dt_now();
	srv.conns_cap = cfg->max_connections > 0 ? cfg->max_connections : HTTP_MAX_CONNECTIONS;
	if (evthread_use_pthreads() != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "libevent has no thread support");
	/* Workers never see the stop signals; the main thread waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before anything that writes (CRLs, OCSP signers) or binds. */
	if ((rc = http_claim(ctx, cfg, &claims, err)) != DT_OK)
		goto out;
	/* Key isolation: the CA keys go to a signer process before any listener or parser
	 * exists (and before the caches sign their first CRLs). */
	if (!cfg->no_key_isolation && (rc = ca_keyd_start(ctx, NULL, err)) != DT_OK)
		goto out;
	if ((rc = tls_context(&srv, err)) != DT_OK)
		goto out;
	if ((rc = http_cache_new(&srv, &srv.cache, err)) != DT_OK)
		goto out;
	if ((rc = http_pool_new(&srv, cfg->issue_threads, &srv.pool, err)) != DT_OK)
		goto out;
	if ((rc = http_authz_new(&srv, err)) != DT_OK)
		goto out;
	if ((rc = http_api_new(&srv, err)) != DT_OK)
		goto out;
	if (!(w = calloc((size_t)n, sizeof(*w)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		if ((rc = worker_init(&srv, &w[i], i, cfg, err)) != DT_OK)
			goto out;
	for (started = 0; started < n; started++)
		if (pthread_create(&w[started].thread, NULL, worker_main, &w[started]) != 0) {
			rc = dt_fail(err, DT_ERR_INTERNAL, "cannot start worker %d", started);
			break;
		}
	if (started == n) {
		fprintf(stderr,
			"{\"event\":\"listening\",\"https\":\"%s\",\"http\":\"%s\",\"workers\":%d,"
			"\"key_isolation\":%s,\"signer_pid\":%d}\n",
			cfg->https_addr, cfg->http_addr, n,
			cfg->no_key_isolation ? "false" : "true", ca_keyd_pid(ctx));
		/* The main thread has nothing else to do: it gives memory back after floods
		 * and large CRLs, off the workers' loops. */
		while ((sig = sigtimedwait(&set, NULL, &housekeep)) < 0)
			if (errno == EAGAIN)
				housekeep_memory(&srv, &trim);
		fprintf(stderr, "{\"event\":\"draining\",\"signal\":%d}\n", sig);
	}
	for (int i = 0; i < started; i++)
		event_active(w[i].stop_ev, 0, 0);
	for (int i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	if (started == n)
		fprintf(stderr, "{\"event\":\"stopped\"}\n");
out:
	/* The pool first: its threads hand replies to the workers' event bases. */
	http_pool_free(srv.pool);
	http_api_free(&srv);
	for (int i = 0; w && i < n; i++)
		worker_free(&w[i]);
	free(w);
	http_authz_free(&srv); /* after the workers: writes the last-seen times left */
	http_cache_free(srv.cache);
	/* Last: the pool, the API and the watcher signed through it until now. */
	ca_keyd_stop(ctx);
	SSL_CTX_free(srv.ssl);
	http_claims_release(&claims);
	return rc;
}

int http_key_signer(const char *data_dir, const char *passphrase_file, int nconns)
{
	return ca_keyd_main(data_dir, passphrase_file, nconns);
}

int http_key_launcher(const char *data_dir, const char *passphrase_file, const char *ids)
{
	return ca_keyd_launcher_main(data_dir, passphrase_file, ids);
}

dt_code http_open(const struct dt_open_opts *o, struct dt_ctx **out, struct dt_error *err)
{
	struct ca_users u;
	int found = 0;
	dt_code rc;

	*out = NULL;
	if ((rc = ca_privsep_owners(o->data_dir, &u, &found, err)) != DT_OK ||
	    (found && (rc = ca_privsep_enter(o->data_dir, o->passphrase_file, &u, err)) != DT_OK) ||
	    (rc = dt_open(o, out, err)) != DT_OK)
		return rc;
	/* Its CA keys are the signer user's: it signs through a signer of the launcher's. */
	if (found && u.signer && (rc = ca_keyd_start(*out, NULL, err)) != DT_OK) {
		dt_close(*out);
		*out = NULL;
	}
	return rc;
}

dt_code http_privsep_refuse_root(const char *data_dir, struct dt_error *err)
{
	struct ca_users u;
	int found = 0;
	dt_code rc;

	if ((rc = ca_privsep_owners(data_dir, &u, &found, err)) != DT_OK || !found)
		return rc;
	return dt_fail(err, DT_ERR_INVALID,
		       "%s belongs to %s: as root, start the server with --user %s%s%s (or start "
		       "it as that user)",
		       data_dir, u.user, u.user, u.signer ? " --signer-user " : "",
		       u.signer ? u.signer_user : "");
}

dt_code http_privsep(const char *data_dir, const char *passphrase_file, const char *user,
		     const char *signer_user, struct dt_error *err)
{
	struct ca_users u;
	char signer[160] = "";
	dt_code rc;

	if ((rc = ca_privsep_users(user, signer_user, &u, err)) != DT_OK ||
	    (rc = ca_privsep_prepare(data_dir, &u, err)) != DT_OK ||
	    (rc = ca_privsep_enter(data_dir, passphrase_file, &u, err)) != DT_OK)
		return rc;
	if (access(data_dir, R_OK | W_OK | X_OK) != 0)
		return dt_fail(err, DT_ERR_IO,
			       "%s cannot reach the data dir %s (%s): is a directory above it "
			       "closed to that user?",
			       u.user, data_dir, strerror(errno));
	if (u.signer)
		snprintf(signer, sizeof(signer), ",\"signer_user\":\"%s\",\"signer_uid\":%lu",
			 u.signer_user, (unsigned long)u.s_uid);
	fprintf(stderr, "{\"event\":\"privileges-dropped\",\"user\":\"%s\",\"uid\":%lu%s}\n",
		u.user, (unsigned long)u.uid, signer);
	return DT_OK;
}
