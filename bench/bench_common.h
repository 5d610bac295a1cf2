/*
 * Helpers the C benchmarks share: a monotonic clock, medians, a fresh data
 * dir with a P-256 class, and synthetic certificate rows for large stores.
 * Header-only so each benchmark stays one `cc` line in bench/run.sh.
 */
#ifndef DT_BENCH_COMMON_H
#define DT_BENCH_COMMON_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"

#define BENCH_CLASS "bench-p256"

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorts v in place). */
static inline double bench_median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline long bench_maxrss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static inline void bench_die(const char *what, const struct dt_error *err)
{
	fprintf(stderr, "bench: %s: %s (%s)\n", what, err ? err->msg : "failed",
		err ? dt_code_name(err->code) : "");
	exit(1);
}

/* The CA keys of bench data dirs are protected by a known passphrase. */
static inline void bench_passphrase(void)
{
	if (!getenv("DEVTRUST_PASSPHRASE"))
		setenv("DEVTRUST_PASSPHRASE", "bench-passphrase-not-secret", 1);
}

/* dt_init a data dir (must not exist), open it, add class BENCH_CLASS on "default". */
static inline struct dt_ctx *bench_setup(const char *dir, int group_commit)
{
	struct dt_init_opts io;
	struct dt_open_opts oo;
	struct dt_class cl;
	struct dt_error err;
	struct dt_ctx *ctx = NULL;

	bench_passphrase();
	memset(&io, 0, sizeof(io));
	io.data_dir = dir;
	io.org = "BenchOrg";
	io.actor = "bench";
	if (dt_init(&io, &err) != DT_OK)
		bench_die("dt_init", &err);
	memset(&oo, 0, sizeof(oo));
	oo.data_dir = dir;
	oo.actor = "bench";
	oo.group_commit = group_commit;
	if (dt_open(&oo, &ctx, &err) != DT_OK)
		bench_die("dt_open", &err);
	dt_class_defaults(&cl);
	snprintf(cl.name, sizeof(cl.name), "%s", BENCH_CLASS);
	snprintf(cl.ca, sizeof(cl.ca), "default");
	cl.key_types = DT_KEY_EC_P256;
	if (dt_class_add(ctx, &cl, &err) != DT_OK)
		bench_die("dt_class_add", &err);
	return ctx;
}

/* 64-bit xorshift: cheap, deterministic filler for synthetic rows. */
static inline uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * Inserts n synthetic rows into certs of DATA/devtrust.db in one transaction,
 * bypassing the library (issuing that many real certificates takes too long).
 * No other process may have the store open meanwhile.
 * status 2 (revoked) with reasons 1..5, or status 0 (valid). device_ids: the
 * rows cycle over ndev ids produced by dev_id(i). der is one 0x00 byte: no
 * benchmark here reads it.
 */
static inline void bench_insert_certs(const char *dir, long n, int status, long ndev,
				      void (*dev_id)(long i, char *out, size_t cap), uint64_t seed)
{
	char path[4200], serial[33], dev[80];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t now = (int64_t)time(NULL);
	uint64_t rs = seed ? seed : 0x9e3779b97f4a7c15ull;

	snprintf(path, sizeof(path), "%s/devtrust.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    /* A bulk load by the only process using the store: no journal, no
	     * fsync, a page cache big enough that the six certs indexes do not
	     * spill; WAL mode is restored at the end. */
	    sqlite3_exec(db,
			 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
			 "PRAGMA cache_size=-1000000; BEGIN IMMEDIATE",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO certs(serial,device_id,ca,class,key_type,spki_hash,"
			       "not_before,not_after,status,reason,revoked_at,issued_at,der)"
			       " SELECT ?1,id,'default',class,1,?2,?3,?4,?5,?6,?7,?8,x'00'"
			       " FROM devices WHERE id=?9",
			       -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench: sqlite: %s\n", db ? sqlite3_errmsg(db) : "open failed");
		exit(1);
	}
	for (long i = 0; i < n; i++) {
		unsigned char spki[32];
		uint64_t a = bench_rand(&rs), b = bench_rand(&rs);

		/* Top bit clear keeps the serial positive, as ca_new_serial does. */
		snprintf(serial, sizeof(serial), "%016llx%016llx",
			 (unsigned long long)(a & 0x7fffffffffffffffull), (unsigned long long)b);
		for (int k = 0; k < 32; k += 8) {
			uint64_t r = bench_rand(&rs);
			memcpy(spki + k, &r, 8);
		}
		dev_id(i % ndev, dev, sizeof(dev));
		sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 2, spki, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, now - 86400);
		/* valid rows expire over the next 90 days, so `report expiring` finds a third */
		sqlite3_bind_int64(st, 4, now + 3600 + (int64_t)(a % (90 * 86400)));
		sqlite3_bind_int(st, 5, status);
		sqlite3_bind_int(st, 6, status == DT_CERT_REVOKED ? (int)(1 + b % 5) : 0);
		sqlite3_bind_int64(st, 7, status == DT_CERT_REVOKED ? now : 0);
		sqlite3_bind_int64(st, 8, now - 86400);
		sqlite3_bind_text(st, 9, dev, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1) {
			fprintf(stderr, "bench: insert row %ld: %s\n", i, sqlite3_errmsg(db));
			exit(1);
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(db, "COMMIT; PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench: commit: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_close(db);
}

#endif
