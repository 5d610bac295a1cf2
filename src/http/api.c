/*
 * /api/v1 on the TLS listener: the request is copied (method, path, query,
 * body, the client certificate or bearer token) and handed to one thread of
 * its own, which authenticates it, runs the operation (store writes included,
 * off the event loops that serve OCSP) and hands the result back to the
 * worker's loop, which replies. Admin calls are few: one thread keeps them in
 * order and never competes with the issuance pool. /ui serves the dashboard's
 * files, compiled into the binary.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/http.h"
#include "http/ui_files.h"

#define API_MAX_QUEUED 256

struct api_job {
	struct http_job job; /* first: body, TLS peer, queue link, completion */
	char method[8];
	char *path;
	char *query;
	char *bearer;
	struct api_response rs;
};

struct http_api {
	struct http_server *srv;
	pthread_t thread;
	struct http_queue q;
};

static void job_free(struct api_job *j)
{
	if (!j)
		return;
	http_job_release(&j->job);
	free(j->path);
	free(j->query);
	if (j->bearer) {
		OPENSSL_cleanse(j->bearer, strlen(j->bearer));
		free(j->bearer);
	}
	api_response_free(&j->rs);
	free(j);
}

/* Back on the worker's loop. */
static void job_done(evutil_socket_t fd, short what, void *arg)
{
	struct api_job *j = arg;

	(void)fd;
	(void)what;
	if (http_job_reply_ready(&j->job))
		http_api_reply(j->job.r, &j->rs);
	job_free(j);
}

void http_api_reply(struct http_req *r, const struct api_response *rs)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(h, "Cache-Control", "no-store");
	if (rs->status == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"devtrust admin API\"");
	snprintf(r->note, sizeof(r->note), "%s", rs->note);
	http_reply(r, rs->status, rs->content_type, rs->body, rs->len);
}

/* Authenticates and answers one call (on the API thread). */
static void run(struct http_server *srv, struct api_job *j)
{
	struct dt_admin_cred who;
	struct dt_error err;
	struct api_request rq = {j->method, j->path, j->query, j->job.body, j->job.len, NULL};
	dt_code rc = DT_ERR_AUTH;

	if (j->bearer)
		rc = dt_admin_auth_token(srv->ctx, j->bearer, &who, &err);
	else if (j->job.peer)
		rc = dt_admin_auth_cert(srv->ctx, j->job.peer, j->job.chain, &who, &err);
	else
		dt_fail(&err, DT_ERR_AUTH, "sign in with an operator certificate or an API token");
	if (rc == DT_OK) {
		rq.who = &who;
		api_handle(srv->ctx, &rq, &j->rs);
		if (strlen(j->rs.note) < sizeof(j->rs.note) - DT_ID_BUF - 8) {
			size_t n = strlen(j->rs.note);
			snprintf(j->rs.note + n, sizeof(j->rs.note) - n, "%sby %s", n ? "; " : "",
				 who.name);
		}
	} else if (rc == DT_ERR_AUTH) {
		api_error(&j->rs, 401, "unauthenticated", err.msg);
	} else {
		api_error(&j->rs, 500, "internal", "internal error");
	}
}

static void *api_main(void *arg)
{
	struct http_api *a = arg;
	struct api_job *j;

	while ((j = (struct api_job *)http_queue_pop(&a->q))) {
		run(a->srv, j);
		event_active(j->job.done, 0, 0);
	}
	return NULL;
}

dt_code http_api_new(struct http_server *srv, struct dt_error *err)
{
	struct http_api *a = calloc(1, sizeof(*a));

	if (!a)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	a->srv = srv;
	http_queue_init(&a->q, API_MAX_QUEUED);
	if (pthread_create(&a->thread, NULL, api_main, a) != 0) {
		http_queue_destroy(&a->q);
		free(a);
		return dt_fail(err, DT_ERR_INTERNAL, "cannot start the admin API thread");
	}
	srv->api = a;
	return DT_OK;
}

void http_api_free(struct http_server *srv)
{
	struct http_api *a = srv->api;

	if (!a)
		return;
	http_queue_stop(&a->q);
	pthread_join(a->thread, NULL);
	for (struct http_qitem *it = http_queue_take_all(&a->q), *next; it; it = next) {
		next = it->next;
		job_free((struct api_job *)it);
	}
	http_queue_destroy(&a->q);
	free(a);
	srv->api = NULL;
}

/* The bearer token of an "Authorization: Bearer ..." header, or NULL. */
static const char *bearer(struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	for (h += 7; *h == ' '; h++)
		;
	return h;
}

void http_api(struct http_req *r, const char *path)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
	const char *query = u ? evhttp_uri_get_query(u) : NULL, *tok = bearer(r->req);
	struct api_job *j = calloc(1, sizeof(*j));

	r->route = R_API;
	/* A token, when given, is the credential: the TLS peer is then not looked at. */
	if (!j || !(j->path = strdup(path)) || (query && !(j->query = strdup(query))) ||
	    (tok && !(j->bearer = strdup(tok))) || !http_job_start(&j->job, r, !tok, job_done)) {
		job_free(j);
		http_reply_error(r, 503, "out of memory");
		free(r);
		return;
	}
	snprintf(j->method, sizeof(j->method), "%s",
		 http_method_name(evhttp_request_get_command(r->req)));
	if (!http_job_submit(&j->job, &r->w->srv->api->q, "1"))
		job_free(j);
}

void http_ui(struct http_req *r, const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	const char *name = path[3] == '/' && path[4] ? path + 4 : "index.html";

	r->route = R_UI;
	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_POST) {
		http_reply_error(r, 405, "the dashboard's files take GET");
		return;
	}
	for (size_t i = 0; i < ui_files_count; i++) {
		if (strcmp(ui_files[i].name, name) != 0)
			continue;
		/* Nothing is loaded from elsewhere, and the page is never framed. */
		evhttp_add_header(
		    h, "Content-Security-Policy",
		    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		evhttp_add_header(h, "Cache-Control", "no-cache");
		http_reply(r, 200, ui_files[i].type, ui_files[i].data, ui_files[i].len);
		return;
	}
	http_reply_error(r, 404, "no such dashboard file");
}
