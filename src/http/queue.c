/*
 * Requests answered off the event loops (EST enrollment in the issuance pool,
 * the admin API on its thread): the request's body and TLS peer are copied
 * into a job, the job waits in a queue (first in, first out, with a cap for
 * back-pressure and a stop for shutdown), and its completion event brings it
 * back to the worker's loop, which replies unless the client has left.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>

#include "http/http.h"

void http_queue_init(struct http_queue *q, int cap)
{
	q->head = q->tail = NULL;
	q->queued = 0;
	q->cap = cap;
	q->stop = 0;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
}

void http_queue_destroy(struct http_queue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

int http_queue_push(struct http_queue *q, struct http_qitem *it)
{
	pthread_mutex_lock(&q->mu);
	if (q->queued >= q->cap) {
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->queued++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 1;
}

struct http_qitem *http_queue_pop(struct http_queue *q)
{
	struct http_qitem *it;

	pthread_mutex_lock(&q->mu);
	while (!q->head && !q->stop)
		pthread_cond_wait(&q->cv, &q->mu);
	if ((it = q->head)) {
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		q->queued--;
	}
	pthread_mutex_unlock(&q->mu);
	return it;
}

void http_queue_stop(struct http_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

struct http_qitem *http_queue_take_all(struct http_queue *q)
{
	struct http_qitem *it;

	pthread_mutex_lock(&q->mu);
	it = q->head;
	q->head = q->tail = NULL;
	q->queued = 0;
	pthread_mutex_unlock(&q->mu);
	return it;
}

/* ---- Requests answered off the event loop ---- */

/* The connection's close callback while its job runs, then http_conn_on_close again. */
static void job_on_close(struct evhttp_connection *con, void *arg)
{
	((struct http_job *)arg)->closed = 1;
	http_conn_on_close(con, NULL);
}

int http_job_start(struct http_job *j, struct http_req *r, int with_peer, event_callback_fn done)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = evbuffer_get_length(in);

	if ((n && !(j->body = malloc(n))) || !(j->done = event_new(r->w->base, -1, 0, done, j)))
		return 0;
	j->r = r;
	j->len = n;
	if (n)
		evbuffer_remove(in, j->body, n);
	if (with_peer)
		http_peer_certs(r->req, &j->peer, &j->chain);
	return 1;
}

int http_job_submit(struct http_job *j, struct http_queue *q, const char *retry_after)
{
	struct evhttp_connection *con = evhttp_request_get_connection(j->r->req);

	/* The close callback is set before the job is visible to the threads. */
	evhttp_connection_set_closecb(con, job_on_close, j);
	if (http_queue_push(q, &j->link))
		return 1;
	evhttp_connection_set_closecb(con, http_conn_on_close, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(j->r->req), "Retry-After", retry_after);
	http_reply_error(j->r, 503, "busy: retry later");
	free(j->r);
	j->r = NULL;
	return 0;
}

int http_job_reply_ready(struct http_job *j)
{
	if (j->closed) {
		atomic_fetch_sub(&j->r->w->srv->in_flight, 1);
		return 0;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(j->r->req), http_conn_on_close,
				      NULL);
	return 1;
}

void http_job_release(struct http_job *j)
{
	if (j->done)
		event_free(j->done);
	free(j->body);
	X509_free(j->peer);
	sk_X509_pop_free(j->chain, X509_free);
	free(j->r);
}
