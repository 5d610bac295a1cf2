/*
 * The job queue between the event loops and the threads that run blocking
 * work (the issuance pool, the admin API thread): first in, first out, with
 * a cap for back-pressure and a stop for shutdown.
 */
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
