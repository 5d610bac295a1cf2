/*
 * The SQLite store engine: migrations on open, durable reopen, and the
 * transaction contract of store_write in both modes (group commit and
 * inline): a job's writes commit whole or not at all, and one failing job
 * never takes its neighbours in the same batch down with it.
 */
#include "testutil.h"

#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "store/store.h"
#include "store/store_sqlite.h"

struct fix {
	char dir[64];
	char path[128];
	int group;
	struct store *s;
};

static struct store *open_store(struct fix *f, int create)
{
	struct store_open_opts o = {.path = f->path, .create = create, .group_commit = f->group};
	struct store *s = NULL;
	struct dt_error err;

	if (store_open_sqlite(&o, &s, &err) != DT_OK)
		fail_msg("open %s: %s", f->path, err.msg);
	assert_non_null(s);
	return s;
}

static void reopen(struct fix *f)
{
	store_close(f->s);
	f->s = open_store(f, 0);
}

/* ---- jobs ---- */

struct kv {
	const char *key;
	const char *value;
};

static dt_code job_set(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct kv *kv = arg;

	return txn->ops->setting_set(txn, kv->key, kv->value, err);
}

/* Two writes, then a refusal: neither write may survive. */
static dt_code job_set_two_then_fail(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct kv *kv = arg;
	dt_code rc;

	if ((rc = txn->ops->setting_set(txn, kv[0].key, kv[0].value, err)) != DT_OK ||
	    (rc = txn->ops->setting_set(txn, kv[1].key, kv[1].value, err)) != DT_OK)
		return rc;
	return dt_fail(err, DT_ERR_STATE, "refused on purpose after two writes");
}

struct get {
	const char *key;
	char value[64];
	dt_code rc;
};

static dt_code job_get(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct get *g = arg;

	g->value[0] = '\0';
	g->rc = txn->ops->setting_get(txn, g->key, g->value, sizeof(g->value), err);
	return DT_OK;
}

static void set(struct fix *f, const char *key, const char *value)
{
	struct kv kv = {key, value};
	struct dt_error err;

	if (store_write(f->s, job_set, &kv, &err) != DT_OK)
		fail_msg("set %s: %s", key, err.msg);
}

/* The committed value of key, or NULL when it is not set. */
static const char *get(struct fix *f, const char *key)
{
	static struct get g;
	struct dt_error err;

	memset(&g, 0, sizeof(g));
	g.key = key;
	if (store_read(f->s, job_get, &g, &err) != DT_OK)
		fail_msg("read %s: %s", key, err.msg);
	if (g.rc == DT_ERR_NOT_FOUND)
		return NULL;
	assert_int_equal(g.rc, DT_OK);
	return g.value;
}

/* ---- open and migrate ---- */

static void test_fresh_db_is_migrated(void **state)
{
	struct fix *f = *state;

	assert_true(sq_schema_latest() >= 1);
	assert_int_equal(store_schema_version(f->s), sq_schema_latest());
	assert_null(get(f, "org"));
	set(f, "org", "acme");
	assert_string_equal(get(f, "org"), "acme");
}

/* The page caches of all connections together are bounded (64 MB), and what SQLite
 * holds is reported for /metrics. */
static void test_memory_is_bounded_and_reported(void **state)
{
	struct fix *f = *state;

	assert_int_equal(sqlite3_soft_heap_limit64(-1), 64LL * 1024 * 1024);
	set(f, "org", "acme");
	assert_true(store_memory_used(f->s) > 0);
}

static void test_reopen_keeps_data(void **state)
{
	struct fix *f = *state;

	set(f, "org", "acme");
	set(f, "public_url", "https://pki.example");
	set(f, "org", "acme-medical"); /* the last write wins */
	reopen(f);
	/* Reopening does not re-run (and fail on) the migrations. */
	assert_int_equal(store_schema_version(f->s), sq_schema_latest());
	assert_string_equal(get(f, "org"), "acme-medical");
	assert_string_equal(get(f, "public_url"), "https://pki.example");
	assert_null(get(f, "absent"));
}

static void test_open_missing_without_create_fails(void **state)
{
	struct fix *f = *state;
	struct store_open_opts o = {.create = 0, .group_commit = f->group};
	struct store *s = (struct store *)f; /* must be cleared */
	struct dt_error err;
	char path[160];

	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	o.path = path;
	assert_int_equal(store_open_sqlite(&o, &s, &err), DT_ERR_IO);
	assert_null(s);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(access(path, F_OK), -1); /* and nothing was created */
}

static void test_newer_schema_refused(void **state)
{
	struct fix *f = *state;
	struct store_open_opts o = {.path = f->path, .create = 0, .group_commit = f->group};
	struct store *s = NULL;
	struct dt_error err;
	sqlite3 *db = NULL;
	char sql[64];

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", sq_schema_latest() + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open_sqlite(&o, &s, &err), DT_ERR_IO);
	assert_null(s);
	assert_non_null(strstr(err.msg, "newer"));
	assert_non_null(strstr(err.msg, "upgrade devtrust"));
}

/* WAL beside readers, synchronous=FULL so a returned write is on disk. */
static dt_code job_pragmas(struct store_txn *txn, void *arg, struct dt_error *err)
{
	sqlite3 *db = ((struct sq_conn *)txn)->db;
	int *out = arg;
	sqlite3_stmt *st = NULL;

	(void)err;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	out[0] = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	out[1] = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	return DT_OK;
}

static void test_writes_are_durable(void **state)
{
	struct fix *f = *state;
	struct dt_error err;
	int p[2] = {-1, -1};

	assert_int_equal(store_write(f->s, job_pragmas, p, &err), DT_OK);
	assert_int_equal(p[0], 2); /* FULL */
	assert_true(p[1]);
}

/* ---- transactions ---- */

static void test_failed_job_leaves_no_partial_write(void **state)
{
	struct fix *f = *state;
	struct kv kv[2] = {{"half-1", "a"}, {"half-2", "b"}};
	struct dt_error err;

	set(f, "before", "1");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_write(f->s, job_set_two_then_fail, kv, &err), DT_ERR_STATE);
	assert_string_equal(err.msg, "refused on purpose after two writes");
	assert_null(get(f, "half-1"));
	assert_null(get(f, "half-2"));
	/* The store still works, and earlier data is untouched. */
	set(f, "after", "2");
	assert_string_equal(get(f, "before"), "1");
	assert_string_equal(get(f, "after"), "2");
	reopen(f);
	assert_null(get(f, "half-1"));
	assert_null(get(f, "half-2"));
	assert_string_equal(get(f, "after"), "2");
}

static dt_code job_fail_on_existing_value(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct kv *kv = arg;
	char buf[64];
	dt_code rc;

	/* Overwrite, then refuse: the old value must come back. */
	if ((rc = txn->ops->setting_set(txn, kv->key, kv->value, err)) != DT_OK)
		return rc;
	if ((rc = txn->ops->setting_get(txn, kv->key, buf, sizeof(buf), err)) != DT_OK)
		return rc;
	assert_string_equal(buf, kv->value); /* the job sees its own write */
	return dt_fail(err, DT_ERR_INVALID, "no");
}

static void test_failed_job_restores_overwritten_value(void **state)
{
	struct fix *f = *state;
	struct kv kv = {"org", "mallory"};
	struct dt_error err;

	set(f, "org", "acme");
	assert_int_equal(store_write(f->s, job_fail_on_existing_value, &kv, &err), DT_ERR_INVALID);
	assert_string_equal(get(f, "org"), "acme");
}

struct snap {
	struct fix *f;
	char first[64];
	char second[64];
};

static dt_code job_read_twice_around_a_write(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct snap *sn = arg;
	dt_code rc;

	if ((rc = txn->ops->setting_get(txn, "k", sn->first, sizeof(sn->first), err)) != DT_OK)
		return rc;
	set(sn->f, "k", "v2"); /* committed by the writer meanwhile */
	return txn->ops->setting_get(txn, "k", sn->second, sizeof(sn->second), err);
}

static void test_read_sees_committed_data_as_a_snapshot(void **state)
{
	struct fix *f = *state;
	struct snap sn = {.f = f};
	struct dt_error err;

	set(f, "k", "v1");
	assert_string_equal(get(f, "k"), "v1");
	assert_int_equal(store_read(f->s, job_read_twice_around_a_write, &sn, &err), DT_OK);
	assert_string_equal(sn.first, "v1");
	assert_string_equal(sn.second, "v1"); /* one consistent snapshot */
	assert_string_equal(get(f, "k"), "v2");
}

/* store.h: store_read "runs job in a read-only snapshot". */
static void test_read_refuses_writes(void **state)
{
	struct fix *f = *state;
	struct kv kv = {"sneaky", "x"};
	struct dt_error err;

	memset(&err, 0, sizeof(err));
	assert_int_not_equal(store_read(f->s, job_set, &kv, &err), DT_OK);
	assert_null(get(f, "sneaky"));
}

/* ---- concurrency ---- */

#define N_THREADS 8
#define N_JOBS 200

struct worker {
	struct fix *f;
	int id;
	int failures;
	char msg[DT_ERR_MSG_MAX];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < N_JOBS; i++) {
		char key[32], value[32];
		struct kv kv = {key, value};
		struct dt_error err;

		snprintf(key, sizeof(key), "t%d-k%d", w->id, i);
		snprintf(value, sizeof(value), "v%d-%d", w->id, i);
		if (store_write(w->f->s, job_set, &kv, &err) != DT_OK) {
			w->failures++;
			snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
		}
	}
	return NULL;
}

struct check_all {
	int found;
	int wrong;
};

static dt_code job_check_all(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct check_all *c = arg;

	for (int t = 0; t < N_THREADS; t++)
		for (int i = 0; i < N_JOBS; i++) {
			char key[32], want[32], got[32];

			snprintf(key, sizeof(key), "t%d-k%d", t, i);
			snprintf(want, sizeof(want), "v%d-%d", t, i);
			if (txn->ops->setting_get(txn, key, got, sizeof(got), err) != DT_OK)
				continue;
			c->found++;
			if (strcmp(got, want) != 0)
				c->wrong++;
		}
	return DT_OK;
}

static void test_concurrent_writers_all_commit(void **state)
{
	struct fix *f = *state;
	pthread_t th[N_THREADS];
	struct worker w[N_THREADS];
	struct check_all c = {0, 0};
	struct dt_error err;

	for (int i = 0; i < N_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].f = f;
		w[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (w[i].failures)
			fail_msg("thread %d: %d failed writes: %s", i, w[i].failures, w[i].msg);
	}
	reopen(f);
	assert_int_equal(store_read(f->s, job_check_all, &c, &err), DT_OK);
	assert_int_equal(c.found, N_THREADS * N_JOBS);
	assert_int_equal(c.wrong, 0);
}

/*
 * A batch: the writer is held inside a first job while B, C and D queue up;
 * released, it runs them together. C fails; B and D must still commit.
 */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;
	int released;
	char path[128];
	int d_saw_b_uncommitted;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};

static dt_code job_blocker(struct store_txn *txn, void *arg, struct dt_error *err)
{
	(void)arg;
	pthread_mutex_lock(&gate.mu);
	gate.entered = 1;
	pthread_cond_broadcast(&gate.cv);
	while (!gate.released)
		pthread_cond_wait(&gate.cv, &gate.mu);
	pthread_mutex_unlock(&gate.mu);
	return txn->ops->setting_set(txn, "a", "blocker", err);
}

/* Is key committed, as seen by a connection outside the store? */
static int committed_outside(const char *key)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int found;

	assert_int_equal(sqlite3_open_v2(gate.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT 1 FROM settings WHERE key=?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

static dt_code job_d(struct store_txn *txn, void *arg, struct dt_error *err)
{
	char buf[16];

	(void)arg;
	/* B's write is visible here but not yet committed: same transaction. */
	if (txn->ops->setting_get(txn, "b", buf, sizeof(buf), err) == DT_OK &&
	    !committed_outside("b"))
		gate.d_saw_b_uncommitted = 1;
	return txn->ops->setting_set(txn, "d", "ok", err);
}

struct call {
	struct fix *f;
	store_job_fn fn;
	void *arg;
	dt_code rc;
	struct dt_error err;
};

static void *call_main(void *arg)
{
	struct call *c = arg;

	memset(&c->err, 0, sizeof(c->err));
	c->rc = store_write(c->f->s, c->fn, c->arg, &c->err);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void test_failed_job_spares_its_batch(void **state)
{
	struct fix *f = *state;
	struct kv kb = {"b", "ok"};
	struct kv kc[2] = {{"c1", "x"}, {"c2", "y"}};
	struct call calls[4] = {
	    {.f = f, .fn = job_blocker},
	    {.f = f, .fn = job_set, .arg = &kb},
	    {.f = f, .fn = job_set_two_then_fail, .arg = kc},
	    {.f = f, .fn = job_d},
	};
	pthread_t th[4];

	snprintf(gate.path, sizeof(gate.path), "%s", f->path);
	gate.entered = gate.released = gate.d_saw_b_uncommitted = 0;
	assert_int_equal(pthread_create(&th[0], NULL, call_main, &calls[0]), 0);
	pthread_mutex_lock(&gate.mu);
	while (!gate.entered)
		pthread_cond_wait(&gate.cv, &gate.mu);
	pthread_mutex_unlock(&gate.mu);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, call_main, &calls[i]), 0);
		sleep_ms(50); /* queue in order B, C, D behind the blocked writer */
	}
	sleep_ms(100);
	pthread_mutex_lock(&gate.mu);
	gate.released = 1;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);

	assert_int_equal(calls[0].rc, DT_OK);
	assert_int_equal(calls[1].rc, DT_OK);
	assert_int_equal(calls[2].rc, DT_ERR_STATE);
	assert_int_equal(calls[3].rc, DT_OK);
	assert_string_equal(calls[2].err.msg, "refused on purpose after two writes");
	assert_string_equal(calls[1].err.msg, ""); /* no one else's error leaks in */
	assert_string_equal(calls[3].err.msg, "");
	assert_true(gate.d_saw_b_uncommitted); /* B, C and D did share one batch */
	reopen(f);
	assert_string_equal(get(f, "a"), "blocker");
	assert_string_equal(get(f, "b"), "ok");
	assert_null(get(f, "c1"));
	assert_null(get(f, "c2"));
	assert_string_equal(get(f, "d"), "ok");
}

/* The inline mode runs each write alone: the same isolation, sequentially. */
static void test_failed_job_spares_the_next(void **state)
{
	struct fix *f = *state;
	struct kv kc[2] = {{"c1", "x"}, {"c2", "y"}};
	struct dt_error err;

	set(f, "b", "ok");
	assert_int_equal(store_write(f->s, job_set_two_then_fail, kc, &err), DT_ERR_STATE);
	set(f, "d", "ok");
	reopen(f);
	assert_string_equal(get(f, "b"), "ok");
	assert_null(get(f, "c1"));
	assert_null(get(f, "c2"));
	assert_string_equal(get(f, "d"), "ok");
}

/* ---- fixtures: every test in both modes ---- */

static int setup(void **state, int group)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/dt-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
	f->group = group;
	f->s = open_store(f, 1);
	*state = f;
	return 0;
}

static int setup_group(void **state)
{
	return setup(state, 1);
}

static int setup_inline(void **state)
{
	return setup(state, 0);
}

static int teardown(void **state)
{
	struct fix *f = *state;

	store_close(f->s);
	dt_remove_tree(f->dir);
	free(f);
	return 0;
}

#define G(fn)                                                                                      \
	{                                                                                          \
#fn " (group)", fn, setup_group, teardown, NULL                                    \
	}
#define I(fn)                                                                                      \
	{                                                                                          \
#fn " (inline)", fn, setup_inline, teardown, NULL                                  \
	}
#define BOTH(fn) G(fn), I(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_fresh_db_is_migrated),
	    BOTH(test_memory_is_bounded_and_reported),
	    BOTH(test_reopen_keeps_data),
	    BOTH(test_open_missing_without_create_fails),
	    BOTH(test_newer_schema_refused),
	    BOTH(test_writes_are_durable),
	    BOTH(test_failed_job_leaves_no_partial_write),
	    BOTH(test_failed_job_restores_overwritten_value),
	    BOTH(test_read_sees_committed_data_as_a_snapshot),
	    BOTH(test_read_refuses_writes),
	    BOTH(test_concurrent_writers_all_commit),
	    G(test_failed_job_spares_its_batch),
	    I(test_failed_job_spares_the_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
