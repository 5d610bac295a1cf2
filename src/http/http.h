/*
 * Private interface of the HTTP server (devtrust serve): two listeners, as
 * public CAs run them (plain HTTP for the signed public objects relying
 * parties fetch, HTTPS for everything else), one worker per core, a pool for
 * issuance, caches of signed objects, metrics and one log line per request.
 */
#ifndef DT_HTTP_H
#define DT_HTTP_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "core/core.h"

/* Limits that hold under abuse. */
/* EST bodies are base64 CSRs: 4/3 of DT_MAX_CSR_BYTES plus line breaks. */
#define HTTP_MAX_BODY (32 * 1024)
/* libevent drops bodies past this without a callback (so without a log line);
 * between the two our handlers refuse with a logged 413. */
#define HTTP_MAX_BODY_HARD (256 * 1024)
#define HTTP_MAX_HEADERS (16 * 1024)
/* A connection idle this long (no byte read or written) is closed. An idle
 * timeout only: a client trickling a byte now and then would stay open, hence
 * the request deadline below. */
#define HTTP_TIMEOUT_S 10
/* A request must arrive whole (headers and body; for a connection's first
 * request, the TLS handshake too) within this, or its connection is closed:
 * a slowloris client cannot hold a slot under the connection cap. An EST
 * request with a TLS handshake is under 10 KB, 8 s on a 10 kbit/s link.
 * --request-timeout changes it (1 to 3600 s). */
#define HTTP_REQUEST_TIMEOUT_S 10
#define HTTP_REQUEST_TIMEOUT_MAX_S 3600
/* How long SIGTERM waits for requests in flight before exiting anyway. */
#define HTTP_DRAIN_S 10
/* Open connections across all workers and both listeners, a hard cap checked
 * at each accept: at the cap a new connection takes the place of the one idle
 * longest between keep-alive requests; with none idle it is closed before any
 * TLS work, and the worker stops accepting (new connections wait in the
 * kernel's backlog) until some close. */
#define HTTP_MAX_CONNECTIONS 8192
/* TLS 1.2 sessions the server keeps for resumption by session ID (clients without
 * tickets), and for how long. Each holds the client's certificate and chain, about
 * 6 KB: 1,024 of them added 6.5 MB of RSS (4,096: 20 MB; OpenSSL 3.0's default,
 * 20,480 for 2 hours, about 100 MB). Sessions stay since http_conn_on_close. */
#define HTTP_TLS_SESSIONS 1024
#define HTTP_TLS_SESSION_S 600
/* How often a worker forgets its closed connections and, below the cap,
 * accepts again. */
#define HTTP_CAP_CHECK_MS 100
/* At most one connection-cap, accepting or connection-refused line a second
 * per worker: a flood must not become a log flood. */
#define HTTP_CAP_LOG_MS 1000
/* Freed heap goes back to the system (malloc_trim) once the open connections
 * have been at most a quarter of their peak, and at least HTTP_TRIM_MIN_DROP
 * below it, for HTTP_TRIM_QUIET checks in a row (the main thread checks every
 * HTTP_HOUSEKEEP_S); at most every HTTP_TRIM_INTERVAL_S. */
#define HTTP_TRIM_MIN_DROP 256
#define HTTP_TRIM_QUIET 2
#define HTTP_TRIM_INTERVAL_S 5
/* It also goes back after HTTP_TRIM_CRL_BYTES of CRLs built, at most every
 * HTTP_TRIM_CRL_INTERVAL_S (server.c, housekeep_memory). */
#define HTTP_TRIM_CRL_BYTES (1024 * 1024)
#define HTTP_TRIM_CRL_INTERVAL_S 30
#define HTTP_HOUSEKEEP_S 1
/* Issuance jobs waiting beyond this are refused with 503 (back-pressure). */
#define HTTP_MAX_QUEUED 4096
/* A change in the store shows in OCSP and CRLs within this (issue: 1 s). */
#define HTTP_WATCH_MS 200

struct http_config {
	char https_addr[128];  /* "127.0.0.1:8443" */
	char http_addr[128];   /* "127.0.0.1:8080" */
	int workers;	       /* 0: one per core */
	int issue_threads;     /* 0: default */
	int max_connections;   /* 0: HTTP_MAX_CONNECTIONS */
	int request_timeout_s; /* 0: HTTP_REQUEST_TIMEOUT_S */
	int no_key_isolation;  /* 1: CA keys in this process (--no-key-isolation) */
};

DT_MUST_USE dt_code http_serve(struct dt_ctx *ctx, const struct http_config *cfg,
			       struct dt_error *err);
/* `devtrust serve --key-signer N`: the CA key signer process that http_serve starts
 * (key isolation) on its N sockets at fds 3..; returns the exit status. */
int http_key_signer(const char *data_dir, const char *passphrase_file, int nconns);
/* The signer's launcher of privilege separation (serve --key-launcher IDS). */
int http_key_launcher(const char *data_dir, const char *passphrase_file, const char *ids);
/* dt_open for a CLI command. Run as root on a data dir given to other users
 * (DECISIONS.md 78), it first becomes the data dir's owner for good, so that root
 * never follows a path that user controls, and with a signer user it signs through a
 * signer that a launcher starts under that user. */
DT_MUST_USE dt_code http_open(const struct dt_open_opts *o, struct dt_ctx **out,
			      struct dt_error *err);
/* devtrust serve as root without --user on a data dir given to other users: refused,
 * naming the options that fit. */
DT_MUST_USE dt_code http_privsep_refuse_root(const char *data_dir, struct dt_error *err);
/* Privilege separation, before the store is opened, as root (DECISIONS.md 78): gives
 * the data dir to user (and its CA keys to signer_user, if not NULL), starts the
 * signer's launcher as signer_user, and becomes user for good. */
DT_MUST_USE dt_code http_privsep(const char *data_dir, const char *passphrase_file,
				 const char *user, const char *signer_user, struct dt_error *err);

/* "host:port" or "[v6]:port" (numeric) into a socket address. */
DT_MUST_USE dt_code http_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
				    struct dt_error *err);

/* What makes this server the only one on its data dir and its addresses (claim.c):
 * DATA/serve.lock, locked, and one claim per listen address; held until released. */
struct http_claims {
	int lock_fd;
	int addr_fd[2];
};
/* Refuses (DT_ERR_STATE) when another devtrust serve runs on the data dir or on either
 * address, or when anything else listens on an address. */
DT_MUST_USE dt_code http_claim(struct dt_ctx *ctx, const struct http_config *cfg,
			       struct http_claims *out, struct dt_error *err);
void http_claims_release(struct http_claims *c);

/* --- shared by the files of src/http --- */

enum http_route {
	R_OCSP,
	R_CRL,
	R_CACERT,
	R_EST_CACERTS,
	R_EST_ENROLL,
	R_EST_REENROLL,
	R_EST_CSRATTRS,
	R_HEALTHZ,
	R_METRICS,
	R_AUTHZ,
	R_API,
	R_UI,
	R_OTHER,
	R_COUNT
};

#define HTTP_LAT_BUCKETS 12
#define HTTP_STATUS_SLOTS 10

struct http_metrics {
	atomic_ullong requests[R_COUNT][HTTP_STATUS_SLOTS];
	atomic_ullong latency[HTTP_LAT_BUCKETS + 1];
	atomic_ullong latency_sum_us;
	atomic_ullong latency_count;
	atomic_ullong certs_issued;
	atomic_ullong ocsp_served;
	atomic_ullong ocsp_signed;
	atomic_ullong ocsp_cache_hits;
	atomic_ullong crl_generated;
	atomic_ullong crl_gen_us_total;
	atomic_ullong crl_gen_us_last;
	atomic_ullong request_timeouts; /* connections closed by the request deadline */
	atomic_ullong idle_reused;	/* idle connections closed at the cap for new ones */
	atomic_ullong stalled_closed;	/* reading half the deadline, closed at the cap */
	atomic_ullong conns_refused;	/* connections closed at accept, over the cap */
	atomic_ullong memory_trims;	/* malloc_trim calls after a flood or CRLs */
	atomic_ullong ocsp_signer_renewals;
	atomic_ullong ocsp_signer_renewal_failures;
};

/* A FIFO of jobs for a thread (queue.c): a job embeds a struct http_qitem first. */
struct http_qitem {
	struct http_qitem *next;
};
struct http_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct http_qitem *head, *tail;
	int queued;
	int cap;
	int stop;
};
void http_queue_init(struct http_queue *q, int cap);
void http_queue_destroy(struct http_queue *q);
/* 0 when cap jobs already wait (the caller answers 503). */
int http_queue_push(struct http_queue *q, struct http_qitem *it);
/* The oldest job; waits for one; NULL once stopped and empty. */
struct http_qitem *http_queue_pop(struct http_queue *q);
/* Wakes every waiting thread; the queue's jobs are still popped until it is empty. */
void http_queue_stop(struct http_queue *q);
/* Empties the queue, returning its jobs as a list (after the threads stopped). */
struct http_qitem *http_queue_take_all(struct http_queue *q);

struct http_req;
/* A request answered off the event loop (queue.c); embedded first in each kind's job. */
struct http_job {
	struct http_qitem link; /* first: the queue */
	struct http_req *r;
	int closed; /* the client went away before the reply */
	unsigned char *body;
	size_t len;
	X509 *peer; /* with_peer: the TLS client certificate and chain it sent */
	STACK_OF(X509) * chain;
	struct event *done; /* event_active() from the thread: done(j) runs on r's loop */
};
/* Takes r's body (and, with with_peer, its TLS peer) into j, zeroed by the caller, and
 * makes its completion event; 0 when out of memory (j->r stays NULL). */
int http_job_start(struct http_job *j, struct http_req *r, int with_peer, event_callback_fn done);
/* Queues j, watching for the client leaving. At the queue's cap: replies 503 with
 * Retry-After, frees r (j->r = NULL) and returns 0; the caller frees its job. */
int http_job_submit(struct http_job *j, struct http_queue *q, const char *retry_after);
/* In done: 1 when the reply is to be sent; 0 when the client left (the request is
 * uncounted; free the job). */
int http_job_reply_ready(struct http_job *j);
/* Frees what http_job_start took, and the request. */
void http_job_release(struct http_job *j);

struct http_cache;
struct http_pool;
struct http_api;

struct http_server {
	struct dt_ctx *ctx;
	SSL_CTX *ssl;
	struct http_metrics metrics;
	struct http_cache *cache;
	struct http_pool *pool;
	struct http_api *api;	      /* api.c: the admin API's thread */
	struct dt_verifier *verifier; /* authz.c: decisions for /authz */
	atomic_int in_flight;
	int64_t started;
	/* Slots of all workers (conn.c: taken at accept, given back when the
	 * connection is forgotten), never above conns_cap; of them, the ones a
	 * worker holds for the next connection it accepts (at most one a worker);
	 * the peak of open connections since the start, and since the last
	 * malloc_trim. */
	atomic_int conns_open;
	atomic_int conns_held;
	atomic_int conns_peak;
	atomic_int conns_peak_since_trim;
	atomic_size_t crl_bytes_since_trim; /* of the CRLs the watcher built */
	int conns_cap;
};

struct http_conn;
struct http_refused;

struct http_worker {
	struct http_server *srv;
	int id;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *plain;
	struct evhttp *tls;
	struct event *stop_ev;
	struct event *drain_ev;
	struct event *cap_ev;
	int accepting;		      /* listeners enabled */
	int64_t cap_log_us;	      /* last connection-cap, accepting or refused line */
	int refused_unlogged;	      /* refused since that line */
	int slot_held;		      /* a slot taken for the next connection accepted */
	int stalled_unlogged;	      /* stalled ones closed at the cap since that line */
	struct event *refuse_ev;      /* closes the refused connections, first thing */
	struct http_refused *refused; /* connections refused at accept, to close */
	int64_t drain_deadline;
	/* Its connections (conn.c), only touched on the worker's thread. */
	struct http_conn *conns;
	struct http_conn **conn_buckets;
	/* Idle between requests, and with a request (or the TLS handshake) still
	 * arriving: each oldest first, the ones a new connection may replace at the cap. */
	struct http_conn_list {
		struct http_conn *head, *tail;
	} idle, reading;
	struct timeval request_timeout;
	struct http_logbuf *log; /* log.c: this worker's batched request log lines */
};

/* One request being handled: what the log line and the metrics need. */
struct http_req {
	struct http_worker *w;
	struct evhttp_request *req;
	struct http_conn *conn; /* NULL if untracked */
	enum http_route route;
	int64_t start_us;
	char device[DT_ID_BUF];
	char note[96];
};

/* Connection tracking (conn.c): the request deadline, the count behind the
 * connection cap, and the drain. */
DT_MUST_USE dt_code http_conns_init(struct http_worker *w, int request_timeout_s,
				    struct dt_error *err);
void http_conns_free(struct http_worker *w);
/* At accept, before the connection's bufferevent is made: 1 when it took a slot
 * under the cap (closing an idle keep-alive connection to make room if need
 * be), 0 when it is over the cap and must be refused. */
int http_conn_admit(struct http_worker *w);
/* Readies w for one more connection: holds a slot for it now, before the accept,
 * so that what it accepts is never refused because another worker filled the
 * cap meanwhile. 1 when w holds one or has an idle connection to replace; 0
 * when neither, and w must stop accepting. */
int http_conn_ready(struct http_worker *w);
/* Gives back the slot w holds for its next connection (it stops accepting). */
void http_conns_release(struct http_worker *w);
/* Open connections of all workers, the slots held for the next ones left out. */
int http_conns_open(struct http_server *srv);
/* At the cap, from the cap tick: closes w's connections whose request (or TLS
 * handshake) has been arriving for half the request deadline, oldest first, so
 * that a cap full of stalled connections turns over twice as fast and a new
 * client waits less behind them in any worker's backlog. Returns how many. */
int http_conns_close_stalled(struct http_worker *w);
/* Tracks the new bufferevent of an admitted connection (from the bevcb) and
 * returns it; NULL gives the slot back. */
struct bufferevent *http_conn_track(struct http_worker *w, struct bufferevent *bev);
/* For a refused connection: a plain bufferevent for evhttp to wrap, closed by
 * the next turn of the loop before anything is read from it. */
struct bufferevent *http_conn_refuse(struct http_worker *w, struct event_base *base);
/* The request has been read whole and handed to us: its deadline stops. */
struct http_conn *http_conn_request_read(struct http_worker *w, struct evhttp_request *req);
/* Our reply is queued: the connection waits for its next request. */
void http_conn_replied(struct http_conn *c);
/* Forgets connections evhttp has closed, giving their slots back. */
void http_conns_sweep(struct http_worker *w);
/* evhttp's close callback for TLS connections: sends our close_notify. */
void http_conn_on_close(struct evhttp_connection *con, void *arg);

int64_t http_now_us(void);
void http_handle_plain(struct evhttp_request *req, void *arg);
void http_handle_tls(struct evhttp_request *req, void *arg);
/* Sends the reply, logs it, counts it, and ends the request. */
void http_reply(struct http_req *r, int status, const char *ctype, const void *body, size_t len);
void http_reply_error(struct http_req *r, int status, const char *msg);
/* Maps a library error to the HTTP status and a message safe to show. */
void http_reply_dt_error(struct http_req *r, const struct dt_error *err);

/* Caches of signed objects and the watcher that keeps them current. */
DT_MUST_USE dt_code http_cache_new(struct http_server *srv, struct http_cache **out,
				   struct dt_error *err);
/* The OCSP answers cached now (for /metrics). */
size_t http_cache_ocsp_entries(struct http_cache *c);
void http_cache_free(struct http_cache *c);
void http_serve_ocsp(struct http_req *r, const unsigned char *der, size_t len);
void http_serve_crl(struct http_req *r, const char *ca);
void http_serve_cacert(struct http_req *r, const char *ca);

/* The issuance pool: EST enrollment runs off the event loops. */
DT_MUST_USE dt_code http_pool_new(struct http_server *srv, int threads, struct http_pool **out,
				  struct dt_error *err);
void http_pool_free(struct http_pool *p);
void http_est(struct http_req *r, const char *path);

/* The TLS peer's certificate and the chain it sent, if any (est.c). */
void http_peer_certs(struct evhttp_request *req, X509 **peer, STACK_OF(X509) * *chain);

/* The admin API (api.c): /api/v1 answered on a thread of its own, and the dashboard's
 * static files at /ui. */
DT_MUST_USE dt_code http_api_new(struct http_server *srv, struct dt_error *err);
void http_api_free(struct http_server *srv);
/* Sends an admin API reply (api_response, src/api/api.h) with the headers every API reply
 * carries: Cache-Control no-store, and WWW-Authenticate on a 401. */
struct api_response;
void http_api_reply(struct http_req *r, const struct api_response *rs);
void http_api(struct http_req *r, const char *path);
void http_ui(struct http_req *r, const char *path);

/* /authz (authz.c): the decision endpoint for nginx auth_request. */
DT_MUST_USE dt_code http_authz_new(struct http_server *srv, struct dt_error *err);
void http_authz_free(struct http_server *srv);
void http_authz(struct http_req *r);
void http_authz_metrics(struct http_server *srv, struct evbuffer *out);

const char *http_route_name(enum http_route r);
const char *http_method_name(enum evhttp_cmd_type cmd);
void http_metrics_render(struct http_server *srv, struct evbuffer *out);
void http_metrics_count(struct http_server *srv, enum http_route route, int status, int64_t us);
void http_log(const struct http_req *r, int status, size_t bytes);
/* log.c: the worker's log buffer, written once per turn of its event loop. */
DT_MUST_USE dt_code http_log_init(struct http_worker *w, struct dt_error *err);
void http_log_write(struct http_worker *w, const char *line, size_t n);
void http_log_flush(struct http_worker *w);
void http_log_free(struct http_worker *w);

#endif
