/*
 * EST routes (RFC 7030) at /.well-known/est[/<label>]/<operation>. cacerts
 * and csrattrs are answered on the event loop. Enrollment is authenticated,
 * parsed and signed in a small pool of threads (CPU work kept off the event
 * loops that serve OCSP); the certificate then goes to the store's writer,
 * whose group commit hands each result straight back to the worker's event
 * loop, which sends the reply. No thread waits for a disk flush.
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "devtrust/est.h"
#include "http/http.h"

#define POOL_DEFAULT_THREADS 4
#define POOL_MAX_THREADS 256

struct est_job {
	struct http_job job; /* first: body, TLS peer, queue link, completion */
	int reenroll;
	char label[DT_ID_BUF];
	int has_label;
	char *authorization;
	struct dt_est_reply reply;
	struct dt_est_pending *pending; /* signed, committing */
	struct dt_error err;
	dt_code rc;
};

struct http_pool {
	struct http_server *srv;
	pthread_t *threads;
	int n;
	struct http_queue q;
	pthread_mutex_t mu;
	int committing; /* enrollments handed to the store, not yet heard of */
	pthread_cond_t idle_cv;
};

static void job_free(struct est_job *j)
{
	if (!j)
		return;
	http_job_release(&j->job);
	free(j->authorization);
	dt_est_reply_free(&j->reply);
	dt_est_enroll_abandon(j->pending);
	free(j);
}

/* Back on the worker's event loop: reply, or drop if the client left. */
static void job_done(evutil_socket_t fd, short what, void *arg)
{
	struct est_job *j = arg;
	struct http_req *r = j->job.r;

	(void)fd;
	(void)what;
	if (j->pending) {
		struct dt_est_pending *p = j->pending;

		j->pending = NULL;
		j->rc = dt_est_enroll_finish(p, &j->reply, &j->err);
	}
	if (!http_job_reply_ready(&j->job)) {
		job_free(j);
		return;
	}
	snprintf(r->device, sizeof(r->device), "%s", j->reply.device_id);
	if (j->rc != DT_OK) {
		http_reply_dt_error(r, &j->err);
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Content-Transfer-Encoding", "base64");
		snprintf(r->note, sizeof(r->note), "serial %s", j->reply.serial);
		atomic_fetch_add(&r->w->srv->metrics.certs_issued, 1);
		http_reply(r, 200, j->reply.content_type, j->reply.body, j->reply.len);
	}
	job_free(j);
}

/* On the store's writer thread: back to the worker, which builds the reply. */
static void committed(void *arg)
{
	struct est_job *j = arg;
	struct http_pool *p = j->job.r->w->srv->pool; /* read before j may be freed */

	event_active(j->job.done, 0, 0);
	pthread_mutex_lock(&p->mu);
	if (--p->committing == 0)
		pthread_cond_broadcast(&p->idle_cv);
	pthread_mutex_unlock(&p->mu);
}

static void *pool_main(void *arg)
{
	struct http_pool *p = arg;
	struct est_job *j;

	while ((j = (struct est_job *)http_queue_pop(&p->q))) {
		struct dt_est_auth auth;

		auth.authorization = j->authorization;
		auth.peer = j->job.peer;
		auth.peer_chain = j->job.chain;
		/* Authenticate, parse and sign here; the commit runs on the store's
		 * writer, which hands the result straight back to the worker, so
		 * no thread of this pool waits for a disk flush. */
		j->rc =
		    dt_est_enroll_start(p->srv->ctx, j->has_label ? j->label : NULL, j->reenroll,
					j->job.body, j->job.len, &auth, &j->pending, &j->err);
		if (j->rc == DT_OK) {
			pthread_mutex_lock(&p->mu);
			p->committing++;
			pthread_mutex_unlock(&p->mu);
			dt_est_enroll_commit(p->srv->ctx, j->pending, committed, j);
		} else {
			event_active(j->job.done, 0, 0);
		}
	}
	return NULL;
}

dt_code http_pool_new(struct http_server *srv, int threads, struct http_pool **out,
		      struct dt_error *err)
{
	struct http_pool *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (threads <= 0)
		threads = POOL_DEFAULT_THREADS;
	if (threads > POOL_MAX_THREADS)
		threads = POOL_MAX_THREADS;
	if (!p || !(p->threads = calloc((size_t)threads, sizeof(*p->threads)))) {
		free(p);
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	p->srv = srv;
	http_queue_init(&p->q, HTTP_MAX_QUEUED);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->idle_cv, NULL);
	for (p->n = 0; p->n < threads; p->n++)
		if (pthread_create(&p->threads[p->n], NULL, pool_main, p) != 0)
			break;
	*out = p;
	if (p->n == 0) {
		http_pool_free(p);
		*out = NULL;
		return dt_fail(err, DT_ERR_INTERNAL, "cannot start the issuance threads");
	}
	return DT_OK;
}

void http_pool_free(struct http_pool *p)
{
	if (!p)
		return;
	http_queue_stop(&p->q);
	for (int i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	/* Commits in the store's hands call back into this pool: wait for them. */
	pthread_mutex_lock(&p->mu);
	while (p->committing > 0)
		pthread_cond_wait(&p->idle_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	for (struct http_qitem *it = http_queue_take_all(&p->q), *next; it; it = next) {
		next = it->next;
		job_free((struct est_job *)it);
	}
	http_queue_destroy(&p->q);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->idle_cv);
	free(p->threads);
	free(p);
}

void http_peer_certs(struct evhttp_request *req, X509 **peer, STACK_OF(X509) * *chain)
{
	struct evhttp_connection *con = evhttp_request_get_connection(req);
	struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	STACK_OF(X509) *sent = ssl ? SSL_get_peer_cert_chain(ssl) : NULL;

	*peer = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	*chain = sent ? X509_chain_up_ref(sent) : NULL;
}

static void enqueue(struct http_req *r, int reenroll, const char *label)
{
	const char *auth =
	    evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	struct est_job *j = calloc(1, sizeof(*j));

	if (!j || (auth && !(j->authorization = strdup(auth))) ||
	    !http_job_start(&j->job, r, 1, job_done)) {
		job_free(j);
		http_reply_error(r, 503, "out of memory");
		free(r);
		return;
	}
	j->reenroll = reenroll;
	if (label) {
		snprintf(j->label, sizeof(j->label), "%s", label);
		j->has_label = 1;
	}
	/* During a drain the pool still runs: requests already arriving are served. */
	if (!http_job_submit(&j->job, &r->w->srv->pool->q, "5"))
		job_free(j);
}

static void reply_est(struct http_req *r, dt_code rc, struct dt_est_reply *rep,
		      const struct dt_error *err)
{
	if (rc != DT_OK) {
		http_reply_dt_error(r, err);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Transfer-Encoding",
			  "base64");
	http_reply(r, 200, rep->content_type, rep->body, rep->len);
	dt_est_reply_free(rep);
}

void http_est(struct http_req *r, const char *path)
{
	char label[DT_ID_BUF];
	const char *op = path, *slash = strchr(path, '/');
	enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
	int has_label = 0;
	struct dt_est_reply rep;
	struct dt_error err;
	dt_code rc;

	memset(&rep, 0, sizeof(rep));
	if (slash) {
		size_t n = (size_t)(slash - path);
		if (n == 0 || n >= sizeof(label) || strchr(slash + 1, '/')) {
			http_reply_error(r, 404,
					 "EST path is /.well-known/est[/<class>]/<operation>");
			free(r);
			return;
		}
		memcpy(label, path, n);
		label[n] = '\0';
		if (dt_check_name("EST label", label, &err) != DT_OK) {
			http_reply_error(r, 404, err.msg);
			free(r);
			return;
		}
		has_label = 1;
		op = slash + 1;
	}
	if (strcmp(op, "cacerts") == 0 && cmd != EVHTTP_REQ_POST) {
		r->route = R_EST_CACERTS;
		rc = dt_est_cacerts(r->w->srv->ctx, has_label ? label : NULL, &rep, &err);
		reply_est(r, rc, &rep, &err);
	} else if (strcmp(op, "csrattrs") == 0 && cmd != EVHTTP_REQ_POST) {
		r->route = R_EST_CSRATTRS;
		rc = dt_est_csrattrs(r->w->srv->ctx, has_label ? label : NULL, &rep, &err);
		reply_est(r, rc, &rep, &err);
	} else if ((strcmp(op, "simpleenroll") == 0 || strcmp(op, "simplereenroll") == 0) &&
		   cmd == EVHTTP_REQ_POST) {
		int re = strcmp(op, "simplereenroll") == 0;
		r->route = re ? R_EST_REENROLL : R_EST_ENROLL;
		enqueue(r, re, has_label ? label : NULL);
		return; /* enqueue owns r */
	} else if (strcmp(op, "cacerts") == 0 || strcmp(op, "csrattrs") == 0 ||
		   strcmp(op, "simpleenroll") == 0 || strcmp(op, "simplereenroll") == 0) {
		http_reply_error(r, 405, "cacerts and csrattrs take GET, enrollment takes POST");
	} else {
		http_reply_error(r, 404, "unknown EST operation (RFC 7030 section 3.2.2)");
	}
	free(r);
}
