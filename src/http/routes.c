/*
 * Routing, replies and the per-request log line. The plain listener serves
 * only the public signed objects (OCSP, CRLs, CA certificates); the TLS
 * listener serves EST, health and metrics.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "http/http.h"

/* Escapes a string for a JSON log value (no secrets ever reach here). */
static void json_escape(char *out, size_t cap, const char *in)
{
	size_t o = 0;

	for (; in && *in && o + 7 < cap; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

const char *http_method_name(enum evhttp_cmd_type cmd)
{
	return cmd == EVHTTP_REQ_POST	  ? "POST"
	       : cmd == EVHTTP_REQ_HEAD	  ? "HEAD"
	       : cmd == EVHTTP_REQ_DELETE ? "DELETE"
					  : "GET";
}

void http_log(const struct http_req *r, int status, size_t bytes)
{
	struct evhttp_connection *con = evhttp_request_get_connection(r->req);
	const char *uri = evhttp_request_get_uri(r->req);
	char *peer = NULL, line[1024], path[200], dev[2 * DT_ID_BUF], note[200], ts[32];
	ev_uint16_t port = 0;
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (con)
		evhttp_connection_get_peer(con, &peer, &port);
	/* The path only: query strings are not logged, long paths are cut. */
	snprintf(path, sizeof(path), "%.120s", uri ? uri : "");
	if (strchr(path, '?'))
		*strchr(path, '?') = '\0';
	json_escape(note, sizeof(note), path);
	memcpy(path, note, sizeof(path));
	json_escape(dev, sizeof(dev), r->device);
	json_escape(note, sizeof(note), r->note);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(
	    line, sizeof(line),
	    "{\"ts\":\"%s\",\"worker\":%d,\"peer\":\"%s:%u\",\"method\":\"%s\","
	    "\"path\":\"%s\",\"route\":\"%s\",\"status\":%d,\"bytes\":%zu,\"us\":%lld%s%s%"
	    "s%s%s%s}\n",
	    ts, r->w->id, peer ? peer : "-", (unsigned)port,
	    http_method_name(evhttp_request_get_command(r->req)), path, http_route_name(r->route),
	    status, bytes, (long long)(http_now_us() - r->start_us),
	    r->device[0] ? ",\"device\":\"" : "", r->device[0] ? dev : "", r->device[0] ? "\"" : "",
	    r->note[0] ? ",\"note\":\"" : "", r->note[0] ? note : "", r->note[0] ? "\"" : "");
	if (n > 0)
		http_log_write(r->w, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void http_reply(struct http_req *r, int status, const char *ctype, const void *body, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	if (ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	if (buf && body && len && evhttp_request_get_command(r->req) != EVHTTP_REQ_HEAD)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(r->req, status, NULL, buf);
	if (buf)
		evbuffer_free(buf);
	http_conn_replied(r->conn);
	http_log(r, status, len);
	http_metrics_count(r->w->srv, r->route, status, http_now_us() - r->start_us);
	atomic_fetch_sub(&r->w->srv->in_flight, 1);
}

/* Whether the request is one of the admin API's, whose errors are JSON (docs/openapi.json)
 * even when the server refuses it before routing (a body too large, a full queue). */
static int is_api(struct evhttp_request *req)
{
	const char *uri = evhttp_request_get_uri(req);

	return uri && strncmp(uri, "/api/", 5) == 0;
}

/* The API's error code for the statuses the server itself gives. */
static const char *api_code(int status)
{
	switch (status) {
	case 400:
		return "invalid";
	case 401:
		return "unauthenticated";
	case 403:
		return "forbidden";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	case 413:
		return "too_large";
	case 503:
		return "unavailable";
	default:
		return "internal";
	}
}

void http_reply_error(struct http_req *r, int status, const char *msg)
{
	char body[DT_ERR_MSG_MAX + 16];
	int n;

	if (is_api(r->req)) {
		struct api_response rs;

		memset(&rs, 0, sizeof(rs));
		api_error(&rs, status, api_code(status), msg);
		if (rs.body) {
			http_api_reply(r, &rs);
			api_response_free(&rs);
			return;
		}
	}
	snprintf(r->note, sizeof(r->note), "%.90s", msg);
	n = snprintf(body, sizeof(body), "error: %s\n", msg);
	http_reply(r, status, "text/plain; charset=utf-8", body,
		   n > 0 ? ((size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1) : 0);
}

void http_reply_dt_error(struct http_req *r, const struct dt_error *err)
{
	switch (err->code) {
	case DT_ERR_INVALID:
		http_reply_error(r, 400, err->msg);
		break;
	case DT_ERR_AUTH:
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
				  "Basic realm=\"devtrust EST\"");
		http_reply_error(r, 401, err->msg);
		break;
	case DT_ERR_STATE:
		http_reply_error(r, 403, err->msg);
		break;
	case DT_ERR_NOT_FOUND:
		http_reply_error(r, 404, err->msg);
		break;
	case DT_ERR_EXISTS:
		http_reply_error(r, 409, err->msg);
		break;
	default:
		/* Internal details go to the log line's note, never to the client. */
		snprintf(r->note, sizeof(r->note), "%.90s", err->msg);
		http_reply(r, 500, "text/plain; charset=utf-8", "error: internal error\n", 22);
	}
}

/* Starts a request; refuses (and logs) a body over HTTP_MAX_BODY. */
static int begin(struct http_req *r, struct http_worker *w, struct evhttp_request *req)
{
	memset(r, 0, sizeof(*r));
	r->w = w;
	r->req = req;
	r->route = R_OTHER;
	r->start_us = http_now_us();
	r->conn = http_conn_request_read(w, req);
	atomic_fetch_add(&w->srv->in_flight, 1);
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > HTTP_MAX_BODY) {
		http_reply_error(r, 413, "request body is larger than 32768 bytes");
		return 0;
	}
	return 1;
}

/* The decoded path of the request, without query; NULL if undecodable. */
static char *req_path(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *p = u ? evhttp_uri_get_path(u) : NULL;

	return p ? evhttp_uridecode(p, 0, NULL) : NULL;
}

/* Base64 (RFC 6960 appendix A.1 GET) into DER; at most cap bytes. */
static long b64_decode(const char *in, unsigned char *out, size_t cap)
{
	size_t n = strlen(in);
	int len, pad = 0;

	if (n == 0 || n % 4 || n / 4 * 3 > cap)
		return -1;
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	return len - pad;
}

static void plain_get_name(struct http_req *r, const char *rest, const char *suffix,
			   void (*serve)(struct http_req *, const char *))
{
	char name[DT_ID_BUF];
	size_t n = strlen(rest), sl = strlen(suffix);

	if (n <= sl || n - sl >= sizeof(name) || strcmp(rest + n - sl, suffix) != 0) {
		http_reply_error(r, 404, "no such object");
		return;
	}
	memcpy(name, rest, n - sl);
	name[n - sl] = '\0';
	serve(r, name);
}

/* The request's state and decoded path; NULL when it was already answered. */
static struct http_req *start(struct evhttp_request *req, void *arg, char **path)
{
	struct http_req *r = malloc(sizeof(*r));

	*path = NULL;
	if (!r) {
		evhttp_send_error(req, 503, "out of memory");
		return NULL;
	}
	if (!begin(r, arg, req)) { /* refused: body too large */
		free(r);
		return NULL;
	}
	if (!(*path = req_path(req))) {
		http_reply_error(r, 400, "undecodable path");
		free(r);
		return NULL;
	}
	return r;
}

void http_handle_plain(struct evhttp_request *req, void *arg)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char *path = NULL;
	struct http_req *r = start(req, arg, &path);

	if (!r)
		return;
	if (strcmp(path, "/ocsp") == 0 || strncmp(path, "/ocsp/", 6) == 0) {
		r->route = R_OCSP;
		if (cmd == EVHTTP_REQ_POST && strcmp(path, "/ocsp") == 0) {
			struct evbuffer *in = evhttp_request_get_input_buffer(req);
			size_t n = evbuffer_get_length(in);
			unsigned char *body = n ? evbuffer_pullup(in, (ev_ssize_t)n) : NULL;
			http_serve_ocsp(r, body, n);
		} else if (cmd != EVHTTP_REQ_POST && path[5] == '/') {
			unsigned char der[4096];
			long n = b64_decode(path + 6, der, sizeof(der));
			if (n <= 0)
				http_serve_ocsp(r, NULL, 0); /* malformedRequest */
			else
				http_serve_ocsp(r, der, (size_t)n);
		} else {
			http_reply_error(r, 405, "OCSP takes POST /ocsp or GET /ocsp/<base64>");
		}
	} else if (strncmp(path, "/crl/", 5) == 0 && cmd != EVHTTP_REQ_POST) {
		r->route = R_CRL;
		plain_get_name(r, path + 5, ".crl", http_serve_crl);
	} else if (strncmp(path, "/ca/", 4) == 0 && cmd != EVHTTP_REQ_POST) {
		r->route = R_CACERT;
		plain_get_name(r, path + 4, ".crt", http_serve_cacert);
	} else if (strcmp(path, "/healthz") == 0) {
		r->route = R_HEALTHZ;
		http_reply(r, 200, "text/plain", "ok\n", 3);
	} else {
		http_reply_error(r, 404,
				 "not found on the public listener (OCSP, CRLs, CA "
				 "certificates)");
	}
	free(path);
	free(r);
}

void http_handle_tls(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *con = evhttp_request_get_connection(req);
	char *path = NULL;
	struct http_req *r;

	/* tls_bev could not make an SSL (out of memory) and evhttp fell back to a
	 * plain bufferevent: never answer the TLS listener's routes in clear. */
	if (!con || !bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(con))) {
		evhttp_send_error(req, 503, "TLS is not available");
		return;
	}
	evhttp_connection_set_closecb(con, http_conn_on_close, NULL);
	if (!(r = start(req, arg, &path)))
		return;
	if (strncmp(path, "/.well-known/est/", 17) == 0) {
		/* http_est takes ownership of r (it may reply later, from the pool). */
		http_est(r, path + 17);
		r = NULL;
	} else if (strcmp(path, "/healthz") == 0) {
		r->route = R_HEALTHZ;
		http_reply(r, 200, "text/plain", "ok\n", 3);
	} else if (strcmp(path, "/authz") == 0) {
		http_authz(r);
	} else if (strncmp(path, "/api/v1/", 8) == 0) {
		/* http_api takes ownership of r (it replies from its thread's result). */
		http_api(r, path + 7);
		r = NULL;
	} else if (strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0) {
		http_ui(r, path);
	} else if (strcmp(path, "/metrics") == 0) {
		struct evbuffer *b = evbuffer_new();
		r->route = R_METRICS;
		if (b) {
			http_metrics_render(r->w->srv, b);
			http_reply(r, 200, "text/plain; version=0.0.4", evbuffer_pullup(b, -1),
				   evbuffer_get_length(b));
			evbuffer_free(b);
		} else {
			http_reply_error(r, 500, "internal error");
		}
	} else {
		http_reply_error(r, 404, "not found");
	}
	free(path);
	free(r);
}
