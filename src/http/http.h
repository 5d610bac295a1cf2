/*
 * Private interface of the HTTP server (devtrust serve): two listeners, as
 * public CAs run them (plain HTTP for the signed public objects relying
 * parties fetch, HTTPS for everything else), one worker per core, a pool for
 * issuance, caches of signed objects, metrics and one log line per request.
 */
#ifndef DT_HTTP_H
#define DT_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/core.h"

/* Limits that hold under abuse. */
/* EST bodies are base64 CSRs: 4/3 of DT_MAX_CSR_BYTES plus line breaks. */
#define HTTP_MAX_BODY (32 * 1024)
/* libevent drops bodies past this without a callback (so without a log line);
 * between the two our handlers refuse with a logged 413. */
#define HTTP_MAX_BODY_HARD (256 * 1024)
#define HTTP_MAX_HEADERS (16 * 1024)
/* A connection idle this long (no byte read or written) is closed. libevent 2.1
 * has no per-request deadline, so a client trickling bytes stays open. */
#define HTTP_TIMEOUT_S 10
/* How long SIGTERM waits for requests in flight before exiting anyway. */
#define HTTP_DRAIN_S 10
/* Open connections across all workers; at the cap a worker stops accepting
 * (new connections wait in the kernel's backlog) until some close. */
#define HTTP_MAX_CONNECTIONS 8192
/* How often a worker compares its connections with its share of the cap. */
#define HTTP_CAP_CHECK_MS 100
/* Issuance jobs waiting beyond this are refused with 503 (back-pressure). */
#define HTTP_MAX_QUEUED 4096
/* A change in the store shows in OCSP and CRLs within this (issue: 1 s). */
#define HTTP_WATCH_MS 200

struct http_config {
	char https_addr[128]; /* "127.0.0.1:8443" */
	char http_addr[128];  /* "127.0.0.1:8080" */
	int workers;	      /* 0: one per core */
	int issue_threads;    /* 0: default */
	int max_connections;  /* 0: HTTP_MAX_CONNECTIONS */
};

DT_MUST_USE dt_code http_serve(struct dt_ctx *ctx, const struct http_config *cfg,
			       struct dt_error *err);

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
};

struct http_cache;
struct http_pool;

struct http_server {
	struct dt_ctx *ctx;
	SSL_CTX *ssl;
	struct http_metrics metrics;
	struct http_cache *cache;
	struct http_pool *pool;
	atomic_int in_flight;
	int64_t started;
};

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
	int cap;       /* this worker's share of HTTP_MAX_CONNECTIONS */
	int accepting; /* listeners enabled */
	int64_t drain_deadline;
};

/* One request being handled: what the log line and the metrics need. */
struct http_req {
	struct http_worker *w;
	struct evhttp_request *req;
	enum http_route route;
	int64_t start_us;
	char device[DT_ID_BUF];
	char note[96];
};

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
void http_cache_free(struct http_cache *c);
void http_serve_ocsp(struct http_req *r, const unsigned char *der, size_t len);
void http_serve_crl(struct http_req *r, const char *ca);
void http_serve_cacert(struct http_req *r, const char *ca);

/* The issuance pool: EST enrollment runs off the event loops. */
DT_MUST_USE dt_code http_pool_new(struct http_server *srv, int threads, struct http_pool **out,
				  struct dt_error *err);
void http_pool_free(struct http_pool *p);
void http_est(struct http_req *r, const char *path);

const char *http_route_name(enum http_route r);
void http_metrics_render(struct http_server *srv, struct evbuffer *out);
void http_metrics_count(struct http_server *srv, enum http_route route, int status, int64_t us);
void http_log(const struct http_req *r, int status, size_t bytes);

#endif
