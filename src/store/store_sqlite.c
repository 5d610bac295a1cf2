/*
 * The SQLite engine behind store.h: WAL mode with synchronous=FULL so a
 * commit is on disk when it returns, a pool of read connections, and one
 * writer that group-commits concurrent write jobs into one transaction and
 * one fsync.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

/* Read connections kept open; more concurrent readers open extra ones. */
#define SQ_POOL_MAX 16
/* What SQLite may hold for the whole process before it recycles cached pages. */
#define SQ_SOFT_HEAP_LIMIT (64LL * 1024 * 1024)
/* A writer blocked by another process waits this long before failing. */
#define SQ_BUSY_TIMEOUT_MS 15000
/* Jobs one group commit may carry; bounds the latency of the first one. */
#define SQ_GROUP_MAX 512

struct sq_job {
	store_job_fn fn;
	void *arg;
	struct dt_error *err;
	dt_code rc;
	int done;
	pthread_cond_t done_cv; /* signalled for this job alone: no herd of waiters */
	store_done_fn done_fn;	/* an asynchronous job (heap): called instead */
	void *done_arg;
	struct sq_job *next;
};

struct store {
	char *path;
	struct sq_conn *writer;
	pthread_mutex_t pool_mu;
	struct sq_conn *pool[SQ_POOL_MAX];
	int pool_n;

	int group;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	struct sq_job *head;
	struct sq_job *tail;
	int stopping;
	pthread_mutex_t inline_mu;
};

dt_code sq_error(struct sq_conn *c, struct dt_error *err, const char *what)
{
	int code = sqlite3_extended_errcode(c->db);

	if ((code & 0xff) == SQLITE_CONSTRAINT)
		return dt_fail(err, DT_ERR_EXISTS, "store: %s: %s", what, sqlite3_errmsg(c->db));
	return dt_fail(err, DT_ERR_IO, "store: %s: %s", what, sqlite3_errmsg(c->db));
}

sqlite3_stmt *sq_stmt(struct sq_conn *c, int id, const char *sql, struct dt_error *err)
{
	if (id < 0 || id >= SQ_MAX_STMTS) {
		dt_fail(err, DT_ERR_INTERNAL, "store: statement id %d out of range", id);
		return NULL;
	}
	if (!c->stmts[id] && sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
						&c->stmts[id], NULL) != SQLITE_OK) {
		sq_error(c, err, "prepare");
		return NULL;
	}
	sqlite3_reset(c->stmts[id]);
	sqlite3_clear_bindings(c->stmts[id]);
	return c->stmts[id];
}

void sq_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;

	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	if (n)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

static void conn_close(struct sq_conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < SQ_MAX_STMTS; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close(c->db);
	free(c);
}

/*
 * Every write job runs in a savepoint, whose statement journal keeps the
 * original of each page the job changes. SQLite keeps it in memory up to 64
 * KiB by default, then spills to a temporary file: one issuance (a
 * certificate with its six indexes, the device, two audit events) crosses
 * that, and paid an open, writes and an unlink per job. A larger bound keeps
 * such jobs in memory; a bulk job beyond it still spills to disk.
 */
#define SQ_STMT_JOURNAL_SPILL (4 << 20)

static pthread_once_t sq_config_once = PTHREAD_ONCE_INIT;

static void sq_config(void)
{
	/* Only possible before SQLite initialises; if the host program already
	 * did, SQLite's default stays and only speed differs. */
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, SQ_STMT_JOURNAL_SPILL);
	/* Every connection's page cache may grow to cache_size (16 MB), and the server
	 * keeps up to SQ_POOL_MAX + 1 of them: reads on a quiet store filled two to 29 MB
	 * in the soak. Past this total SQLite recycles cached pages instead of allocating
	 * (the soak, docs/RELIABILITY.md). */
	(void)sqlite3_soft_heap_limit64(SQ_SOFT_HEAP_LIMIT);
}

static dt_code conn_open(const char *path, int create, int read_only, struct sq_conn **out,
			 struct dt_error *err)
{
	struct sq_conn *c = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	dt_code rc = DT_OK;
	char *emsg = NULL;

	*out = NULL;
	pthread_once(&sq_config_once, sq_config);
	if (!(c = calloc(1, sizeof(*c))))
		return dt_fail(err, DT_ERR_INTERNAL, "store: out of memory");
	c->txn.ops = &sq_ops;
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		rc = dt_fail(err, DT_ERR_IO, "store: cannot open %s: %s", path,
			     c->db ? sqlite3_errmsg(c->db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
	/* WAL lets readers run beside the writer; FULL syncs the WAL at every commit. */
	if (sqlite3_exec(c->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
			 "PRAGMA cache_size=-16000;",
			 NULL, NULL, &emsg) != SQLITE_OK) {
		rc = dt_fail(err, DT_ERR_IO, "store: cannot configure %s: %s", path,
			     emsg ? emsg : "unknown error");
		sqlite3_free(emsg);
		goto out;
	}
	/* Read snapshots refuse writes, so a write can only come through the writer. */
	if (read_only &&
	    sqlite3_exec(c->db, "PRAGMA query_only=ON", NULL, NULL, NULL) != SQLITE_OK) {
		rc = sq_error(c, err, "configure a read connection");
		goto out;
	}
	*out = c;
	c = NULL;
out:
	conn_close(c);
	return rc;
}

/*
 * Transaction control on a cached statement: sqlite3_exec() would parse the
 * SQL again on every read snapshot, job savepoint and commit.
 */
static int txn_exec(struct sq_conn *c, int id)
{
	static const char *const sql[] = {"BEGIN",    "BEGIN IMMEDIATE", "COMMIT",
					  "ROLLBACK", "SAVEPOINT job",	 "RELEASE job"};
	struct dt_error ignored;
	sqlite3_stmt *st = sq_stmt(c, id, sql[id - SQ_TXN_BEGIN], &ignored);
	int rc;

	if (!st)
		return SQLITE_ERROR;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs a batch of write jobs in one transaction, each isolated by a savepoint. */
static void run_batch(struct store *s, struct sq_job *jobs)
{
	struct sq_conn *c = s->writer;
	struct sq_job *j;
	int any_ok = 0;

	if (txn_exec(c, SQ_TXN_BEGIN_IMMEDIATE) != SQLITE_OK) {
		for (j = jobs; j; j = j->next)
			j->rc = dt_fail(j->err, DT_ERR_IO, "store: cannot begin a write: %s",
					sqlite3_errmsg(c->db));
		return;
	}
	for (j = jobs; j; j = j->next) {
		if (txn_exec(c, SQ_TXN_SAVEPOINT) != SQLITE_OK) {
			j->rc = sq_error(c, j->err, "savepoint");
			continue;
		}
		j->rc = j->fn(&c->txn, j->arg, j->err);
		if (j->rc != DT_OK)
			sqlite3_exec(c->db, "ROLLBACK TO job", NULL, NULL, NULL);
		else
			any_ok = 1;
		txn_exec(c, SQ_TXN_RELEASE);
		if (sqlite3_get_autocommit(c->db)) {
			/* SQLite rolled the whole transaction back (I/O error, disk full):
			 * every job of the batch is lost, including those that succeeded. */
			for (struct sq_job *k = jobs; k; k = k->next)
				if (k != j || k->rc == DT_OK)
					k->rc =
					    dt_fail(k->err, DT_ERR_IO,
						    "store: the write transaction was aborted: %s",
						    sqlite3_errmsg(c->db));
			return;
		}
	}
	if (!any_ok) {
		txn_exec(c, SQ_TXN_ROLLBACK);
		return;
	}
	if (txn_exec(c, SQ_TXN_COMMIT) != SQLITE_OK) {
		for (j = jobs; j; j = j->next)
			if (j->rc == DT_OK)
				j->rc = dt_fail(j->err, DT_ERR_IO, "store: commit failed: %s",
						sqlite3_errmsg(c->db));
		txn_exec(c, SQ_TXN_ROLLBACK);
	}
}

static void *writer_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct sq_job *batch, *last, *waiting;
		int n = 1;

		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->work_cv, &s->mu);
		if (!s->head && s->stopping)
			break;
		batch = last = s->head;
		while (last->next && n < SQ_GROUP_MAX) {
			last = last->next;
			n++;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);

		run_batch(s, batch);

		/* Asynchronous jobs hear of their commit straight from here. */
		waiting = NULL;
		for (struct sq_job *j = batch, *next; j; j = next) {
			next = j->next;
			if (j->done_fn) {
				j->done_fn(j->done_arg, j->rc);
				free(j);
			} else {
				j->next = waiting;
				waiting = j;
			}
		}
		pthread_mutex_lock(&s->mu);
		/* Each waiter wakes once, for its own job; it cannot leave (and take
		 * its job off its stack) before the mutex is released below. */
		for (struct sq_job *j = waiting; j; j = j->next) {
			j->done = 1;
			pthread_cond_signal(&j->done_cv);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Appends a job for the writer; the caller holds s->mu. */
static void enqueue_locked(struct store *s, struct sq_job *job)
{
	if (s->tail)
		s->tail->next = job;
	else
		s->head = job;
	s->tail = job;
	pthread_cond_signal(&s->work_cv);
}

dt_code store_write(struct store *s, store_job_fn fn, void *arg, struct dt_error *err)
{
	struct dt_error local = {DT_OK, ""};
	struct sq_job job = {.fn = fn, .arg = arg, .err = err ? err : &local};

	if (!s->group) {
		pthread_mutex_lock(&s->inline_mu);
		run_batch(s, &job);
		pthread_mutex_unlock(&s->inline_mu);
		return job.rc;
	}
	/* The job lives on this stack until the writer marks it done below. */
	pthread_cond_init(&job.done_cv, NULL);
	pthread_mutex_lock(&s->mu);
	enqueue_locked(s, &job);
	while (!job.done)
		pthread_cond_wait(&job.done_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&job.done_cv);
	return job.rc;
}

void store_write_async(struct store *s, store_job_fn fn, void *arg, struct dt_error *err,
		       store_done_fn done, void *done_arg)
{
	struct sq_job *job;

	if (!s->group || !(job = calloc(1, sizeof(*job)))) {
		done(done_arg, store_write(s, fn, arg, err));
		return;
	}
	job->fn = fn;
	job->arg = arg;
	job->err = err;
	job->done_fn = done;
	job->done_arg = done_arg;
	pthread_mutex_lock(&s->mu);
	enqueue_locked(s, job);
	pthread_mutex_unlock(&s->mu);
}

dt_code store_read(struct store *s, store_job_fn fn, void *arg, struct dt_error *err)
{
	struct sq_conn *c = NULL;
	dt_code rc;

	pthread_mutex_lock(&s->pool_mu);
	if (s->pool_n > 0)
		c = s->pool[--s->pool_n];
	pthread_mutex_unlock(&s->pool_mu);
	if (!c && (rc = conn_open(s->path, 0, 1, &c, err)) != DT_OK)
		return rc;
	if (txn_exec(c, SQ_TXN_BEGIN) != SQLITE_OK) {
		rc = sq_error(c, err, "begin read");
	} else {
		rc = fn(&c->txn, arg, err);
		txn_exec(c, SQ_TXN_COMMIT);
	}
	pthread_mutex_lock(&s->pool_mu);
	if (s->pool_n < SQ_POOL_MAX) {
		s->pool[s->pool_n++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->pool_mu);
	conn_close(c);
	return rc;
}

int store_schema_version(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(s->writer->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

long long store_memory_used(struct store *s)
{
	sqlite3_int64 now = 0, peak = 0;

	(void)s; /* SQLite counts for the whole process */
	return sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &now, &peak, 0) == SQLITE_OK ? now : -1;
}

dt_code store_open_sqlite(const struct store_open_opts *o, struct store **out, struct dt_error *err)
{
	struct store *s = NULL;
	dt_code rc = DT_OK;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))) || !(s->path = strdup(o->path))) {
		free(s);
		return dt_fail(err, DT_ERR_INTERNAL, "store: out of memory");
	}
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->inline_mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	if ((rc = conn_open(o->path, o->create, 0, &s->writer, err)) != DT_OK)
		goto out;
	if ((rc = sq_migrate(s->writer->db, err)) != DT_OK)
		goto out;
	if (o->group_commit) {
		if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
			rc = dt_fail(err, DT_ERR_INTERNAL, "store: cannot start the writer thread");
			goto out;
		}
		s->group = 1;
	}
	*out = s;
	s = NULL;
out:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->group) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	for (int i = 0; i < s->pool_n; i++)
		conn_close(s->pool[i]);
	conn_close(s->writer);
	pthread_mutex_destroy(&s->pool_mu);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->inline_mu);
	pthread_cond_destroy(&s->work_cv);
	free(s->path);
	free(s);
}
