/*
 * Signed audit checkpoints: init signs the first; the writer covers new
 * events and refuses to vouch for a broken chain; the policy's count and time
 * rules; verification catches a forged checkpoint (bad signature, altered
 * hash, another key, a key the root did not issue), a chain recomputed after
 * an edit, and a truncated log; what it cannot catch (a rewritten tail after
 * the last checkpoint) it reports as uncovered. Also the export's lines, and
 * the before/after shape of every event's details.
 */
#include "testutil.h"

#include <ctype.h>
#include <jansson.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "core/core.h"

/* ---- helpers ---- */

static struct dt_audit_report report_ok(struct tenv *t)
{
	struct dt_audit_report r;
	struct dt_error err;

	if (dt_audit_verify_full(t->ctx, NULL, &r, &err) != DT_OK)
		fail_msg("verify: %s", err.msg);
	assert_int_equal(r.bad_seq, 0);
	assert_int_equal(r.events, r.head);
	return r;
}

/* Verification fails (DT_ERR_STATE) at bad_seq with msg_part in its message. */
static void report_broken(struct tenv *t, int64_t bad_seq, const char *msg_part)
{
	struct dt_audit_report r;
	struct dt_error err;
	char want[64];

	memset(&err, 0, sizeof(err));
	assert_int_equal(dt_audit_verify_full(t->ctx, NULL, &r, &err), DT_ERR_STATE);
	assert_int_equal(r.bad_seq, bad_seq);
	snprintf(want, sizeof(want), "broken at event %lld", (long long)bad_seq);
	if (!strstr(err.msg, want) || !strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s' or '%s'", err.msg, want, msg_part);
}

static int64_t sql_int(struct tenv *t, const char *sql)
{
	char path[400];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	snprintf(path, sizeof(path), "%s/%s", t->data, DT_DB_NAME);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sqlf(struct tenv *t, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	tu2_sql(t, sql);
}

static int64_t checkpoint_count(struct tenv *t)
{
	return sql_int(t, "SELECT count(*) FROM audit_checkpoints");
}

static void add_devices(struct tenv *t, const char *prefix, int n)
{
	char id[32];

	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%s-%d", prefix, i);
		tu_device(t, id, NULL);
	}
}

static struct dt_audit_checkpoint checkpoint_now(struct tenv *t, int want_written)
{
	struct dt_audit_checkpoint cp;
	struct dt_error err;
	int written = -1;

	if (dt_audit_checkpoint(t->ctx, &cp, &written, &err) != DT_OK)
		fail_msg("checkpoint: %s", err.msg);
	assert_int_equal(written, want_written);
	return cp;
}

/*
 * Rewrites event seq's reason and recomputes the links of every event from seq on,
 * as someone who can write the database and knows the algorithm would.
 */
static void rewrite_chain_from(struct tenv *t, int64_t seq, const char *reason)
{
	char path[400], hp[65], hh[65];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct store_audit_row row;
	unsigned char prev[32];
	int64_t head = sql_int(t, "SELECT max(seq) FROM audit");

	snprintf(path, sizeof(path), "%s/%s", t->data, DT_DB_NAME);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	for (int64_t s = seq; s <= head; s++) {
		char sql[1024];

		assert_int_equal(
		    sqlite3_prepare_v2(db,
				       "SELECT time,actor,action,object,reason,details,"
				       "prev_hash FROM audit WHERE seq=?",
				       -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_int64(st, 1, s);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		memset(&row, 0, sizeof(row));
		row.ev.seq = s;
		row.ev.time = sqlite3_column_int64(st, 0);
		snprintf(row.ev.actor, sizeof(row.ev.actor), "%s", sqlite3_column_text(st, 1));
		snprintf(row.ev.action, sizeof(row.ev.action), "%s", sqlite3_column_text(st, 2));
		snprintf(row.ev.object, sizeof(row.ev.object), "%s", sqlite3_column_text(st, 3));
		snprintf(row.ev.reason, sizeof(row.ev.reason), "%s",
			 s == seq ? reason : (const char *)sqlite3_column_text(st, 4));
		snprintf(row.ev.details, sizeof(row.ev.details), "%s", sqlite3_column_text(st, 5));
		if (s == seq)
			memcpy(row.prev_hash, sqlite3_column_blob(st, 6), 32);
		else
			memcpy(row.prev_hash, prev, 32);
		sqlite3_finalize(st);
		audit_link(&row, row.hash);
		memcpy(prev, row.hash, 32);
		dt_hex(row.prev_hash, 32, hp);
		dt_hex(row.hash, 32, hh);
		snprintf(sql, sizeof(sql),
			 "UPDATE audit SET reason='%s', prev_hash=x'%s', hash=x'%s' WHERE seq=%lld",
			 row.ev.reason, hp, hh, (long long)s);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);
}

/* ---- init and the writer ---- */

static void test_init_signs_the_first_checkpoint(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_report r = report_ok(t);
	char path[512];
	struct stat sb;

	assert_true(r.head >= 4); /* init, two CAs, the audit key */
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(r.last.seq, r.head);
	assert_int_equal(r.uncovered, 0);
	assert_int_equal(r.keys, 1);
	assert_int_equal(strlen(r.root_fingerprint), 64);
	assert_int_equal(sql_int(t, "SELECT count(*) FROM audit WHERE action='audit.key_create'"),
			 1);
	/* The key is kept like a CA key: encrypted PKCS#8, 0600. */
	snprintf(path, sizeof(path), "%s/keys/audit-%.16s.key", t->data, r.last.key_id);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_checkpoint_covers_new_events_once(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_report r;
	struct dt_audit_checkpoint cp, again;

	add_devices(t, "pump", 3);
	r = report_ok(t);
	assert_int_equal(r.uncovered, 4); /* class add, three devices */
	cp = checkpoint_now(t, 1);
	assert_int_equal(cp.seq, r.head);
	again = checkpoint_now(t, 0);
	assert_int_equal(again.seq, cp.seq);
	assert_string_equal(again.hash, cp.hash);
	r = report_ok(t);
	assert_int_equal(r.checkpoints, 2);
	assert_int_equal(r.uncovered, 0);
	assert_string_equal(r.last.hash, cp.hash);
}

static void set_policy(struct tenv *t, int64_t events, int64_t seconds)
{
	struct dt_audit_checkpoint_policy p = {events, seconds}, got;
	struct dt_error err;

	if (dt_audit_checkpoint_policy_set(t->ctx, &p, &err) != DT_OK)
		fail_msg("policy: %s", err.msg);
	assert_int_equal(dt_audit_checkpoint_policy_get(t->ctx, &got, &err), DT_OK);
	assert_int_equal(got.every_events, events);
	assert_int_equal(got.every_s, seconds);
}

static void test_policy_defaults_and_limits(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_checkpoint_policy p;
	struct dt_error err;

	assert_int_equal(dt_audit_checkpoint_policy_get(t->ctx, &p, &err), DT_OK);
	assert_int_equal(p.every_events, 1000);
	assert_int_equal(p.every_s, 600);
	p.every_events = 0;
	assert_int_equal(dt_audit_checkpoint_policy_set(t->ctx, &p, &err), DT_ERR_INVALID);
	p.every_events = 10;
	p.every_s = 0;
	assert_int_equal(dt_audit_checkpoint_policy_set(t->ctx, &p, &err), DT_ERR_INVALID);
	p.every_s = 8 * 86400;
	assert_int_equal(dt_audit_checkpoint_policy_set(t->ctx, &p, &err), DT_ERR_INVALID);
	set_policy(t, 10, 60);
	assert_int_equal(sql_int(t, "SELECT count(*) FROM audit WHERE action="
				    "'audit.checkpoint_policy' AND details LIKE "
				    "'{\"before\":{\"every_events\":1000,\"every_s\":600},"
				    "\"after\":{\"every_events\":10,\"every_s\":60}}'"),
			 1);
}

static void test_tick_every_n_events(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	int64_t base, next;
	char id[32];

	set_policy(t, 3, 3600);
	base = checkpoint_now(t, 1).seq;
	for (int i = 1; i <= 7; i++) {
		snprintf(id, sizeof(id), "pump-%d", i);
		tu_device(t, id, NULL); /* the first also adds the class: one more event */
		next = 0;
		assert_int_equal(dt_audit_checkpoint_tick(t->ctx, &next, &err), DT_OK);
		assert_true(next > dt_now() - 1);
	}
	/* 8 events after base: checkpoints at base+3 and base+6, none for the last two. */
	assert_int_equal(checkpoint_count(t), 4);
	{
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM audit_checkpoints WHERE seq IN (%lld,%lld)",
			 (long long)(base + 3), (long long)(base + 6));
		assert_int_equal(sql_int(t, sql), 2);
	}
	assert_int_equal(report_ok(t).uncovered, 2);
}

static void test_tick_after_the_interval(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	int64_t next = 0, n;

	set_policy(t, 1000, 1);
	(void)checkpoint_now(t, 1);
	tu_device(t, "pump-1", NULL);
	n = checkpoint_count(t);
	/* Not before the time it named. */
	next = dt_now() + 3600;
	assert_int_equal(dt_audit_checkpoint_tick(t->ctx, &next, &err), DT_OK);
	assert_int_equal(checkpoint_count(t), n);
	/* Over a second after the last checkpoint, with new events: due. */
	sleep(2);
	next = 0;
	assert_int_equal(dt_audit_checkpoint_tick(t->ctx, &next, &err), DT_OK);
	assert_int_equal(checkpoint_count(t), n + 1);
	assert_int_equal(report_ok(t).uncovered, 0);
	/* Nothing new: nothing signed, however long it has been. */
	sleep(2);
	next = 0;
	assert_int_equal(dt_audit_checkpoint_tick(t->ctx, &next, &err), DT_OK);
	assert_int_equal(checkpoint_count(t), n + 1);
}

static void test_writer_refuses_a_broken_chain(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_checkpoint cp;
	struct dt_error err;
	int written = -1;
	int64_t n, head;

	add_devices(t, "pump", 3);
	n = checkpoint_count(t);
	head = sql_int(t, "SELECT max(seq) FROM audit");
	sqlf(t, "UPDATE audit SET reason='edited' WHERE seq=%lld", (long long)head);
	assert_int_equal(dt_audit_checkpoint(t->ctx, &cp, &written, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "no checkpoint signed"));
	assert_int_equal(written, 0);
	assert_int_equal(checkpoint_count(t), n);
}

static void test_writer_refuses_after_a_forged_checkpoint(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_checkpoint cp;
	struct dt_error err;
	int written = -1;

	add_devices(t, "pump", 2);
	sqlf(t, "UPDATE audit_checkpoints SET time=time+1");
	assert_int_equal(dt_audit_checkpoint(t->ctx, &cp, &written, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "signature does not verify"));
}

/* ---- forged checkpoints ---- */

static int64_t last_checkpoint_seq(struct tenv *t)
{
	return sql_int(t, "SELECT max(seq) FROM audit_checkpoints");
}

static void test_bad_signature_detected(void **state)
{
	struct tenv *t = *state;
	int64_t s;

	add_devices(t, "pump", 2);
	s = checkpoint_now(t, 1).seq;
	sqlf(t, "UPDATE audit_checkpoints SET signature=randomblob(70) WHERE seq=%lld",
	     (long long)s);
	report_broken(t, s, "signature does not verify");
}

static void test_altered_checkpoint_detected(void **state)
{
	struct tenv *t = *state;
	int64_t s;

	add_devices(t, "pump", 2);
	s = checkpoint_now(t, 1).seq;
	/* Pointing the checkpoint at a different link voids its signature. */
	sqlf(t,
	     "UPDATE audit_checkpoints SET hash=(SELECT hash FROM audit WHERE seq=%lld - 1)"
	     " WHERE seq=%lld",
	     (long long)s, (long long)s);
	report_broken(t, s, "forged or altered");
}

/* The stored link of event seq. */
static void link_at(struct tenv *t, int64_t seq, unsigned char out[32])
{
	char path[400];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/%s", t->data, DT_DB_NAME);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE seq=?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 32);
	memcpy(out, sqlite3_column_blob(st, 0), 32);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A self-signed certificate for k, shaped like the audit key's. */
static X509 *self_signed(EVP_PKEY *k)
{
	X509 *x = X509_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"Audit Signer", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

/*
 * Replaces the newest checkpoint with a correct one (the real link, the real time)
 * signed by a key of our own; with register_key, its self-signed certificate is put
 * among the audit keys too.
 */
static void forge_with_own_key(struct tenv *t, int register_key)
{
	struct store_checkpoint cp;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char tbs[AUDIT_TBS_MAX], sighex[2 * STORE_AUDIT_SIG_MAX + 1];
	unsigned char *der = NULL;
	char *derhex;
	size_t n, siglen = sizeof(cp.sig);
	int dlen;
	struct dt_error err;

	assert_non_null(k);
	assert_non_null(md);
	x = self_signed(k);
	memset(&cp, 0, sizeof(cp));
	cp.seq = last_checkpoint_seq(t);
	cp.time = sql_int(t, "SELECT max(time) FROM audit_checkpoints");
	link_at(t, cp.seq, cp.hash);
	assert_int_equal(ca_spki_id(x, cp.key_id, &err), DT_OK);
	n = audit_checkpoint_tbs(&cp, tbs, sizeof(tbs));
	assert_true(n > 0);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, cp.sig, &siglen, (unsigned char *)tbs, n), 1);
	dt_hex(cp.sig, siglen, sighex);
	sqlf(t, "UPDATE audit_checkpoints SET key_id='%s', signature=x'%s' WHERE seq=%lld",
	     cp.key_id, sighex, (long long)cp.seq);
	if (register_key) {
		dlen = i2d_X509(x, &der);
		assert_true(dlen > 0);
		derhex = malloc(2 * (size_t)dlen + 1);
		assert_non_null(derhex);
		dt_hex(der, (size_t)dlen, derhex);
		sqlf(t, "INSERT INTO audit_keys(key_id,cert,created_at) VALUES('%s',x'%s',%lld)",
		     cp.key_id, derhex, (long long)dt_now());
		free(derhex);
		OPENSSL_free(der);
	}
	EVP_MD_CTX_free(md);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_signature_by_unregistered_key_detected(void **state)
{
	struct tenv *t = *state;

	add_devices(t, "pump", 2);
	(void)checkpoint_now(t, 1);
	forge_with_own_key(t, 0);
	report_broken(t, last_checkpoint_seq(t), "not registered");
}

static void test_signature_by_key_the_root_did_not_issue_detected(void **state)
{
	struct tenv *t = *state;

	add_devices(t, "pump", 2);
	(void)checkpoint_now(t, 1);
	forge_with_own_key(t, 1);
	report_broken(t, last_checkpoint_seq(t), "not issued by the root CA");
}

/* ---- rewrites and truncation ---- */

static void test_recomputed_chain_detected_by_checkpoint(void **state)
{
	struct tenv *t = *state;
	int64_t cp, m;

	add_devices(t, "pump", 6);
	cp = checkpoint_now(t, 1).seq;
	add_devices(t, "valve", 2);
	m = cp - 3;
	rewrite_chain_from(t, m, "nothing to see");
	/* Every link is consistent again: only the signature tells. */
	report_broken(t, cp, "rewritten and the chain recomputed");
}

static void test_recomputed_chain_before_first_checkpoint_detected(void **state)
{
	struct tenv *t = *state;

	/* The init checkpoint covers event 1: rewriting from there is caught too. */
	rewrite_chain_from(t, 1, "another org");
	report_broken(t, last_checkpoint_seq(t), "rewritten");
}

static void test_rewritten_tail_is_reported_uncovered(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_report r;
	int64_t cp;

	add_devices(t, "pump", 2);
	cp = checkpoint_now(t, 1).seq;
	add_devices(t, "valve", 3);
	/* The documented limit: events after the last checkpoint are chained but not yet
	 * signed; a rewrite of them verifies, and the report says how many are exposed. */
	rewrite_chain_from(t, cp + 1, "rewritten");
	r = report_ok(t);
	assert_int_equal(r.last.seq, cp);
	assert_int_equal(r.uncovered, 3);
}

static void test_truncation_below_checkpoint_detected(void **state)
{
	struct tenv *t = *state;
	int64_t cp;
	char want[64];

	add_devices(t, "pump", 4);
	cp = checkpoint_now(t, 1).seq;
	sqlf(t, "DELETE FROM audit WHERE seq > %lld", (long long)(cp - 2));
	snprintf(want, sizeof(want), "events %lld to %lld were deleted", (long long)(cp - 1),
		 (long long)cp);
	report_broken(t, cp - 1, want);
}

static void test_truncation_of_everything_detected(void **state)
{
	struct tenv *t = *state;

	tu2_sql(t, "DELETE FROM audit");
	report_broken(t, 1, "truncated");
}

/* ---- the anchor and the key ---- */

static void test_root_fingerprint_pin(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_report r = report_ok(t), r2;
	struct dt_error err;
	char colons[3 * 32], wrong[65];

	/* As openssl x509 -fingerprint prints it: upper case, colons. */
	for (int i = 0; i < 32; i++) {
		colons[3 * i] = (char)toupper((unsigned char)r.root_fingerprint[2 * i]);
		colons[3 * i + 1] = (char)toupper((unsigned char)r.root_fingerprint[2 * i + 1]);
		colons[3 * i + 2] = i < 31 ? ':' : '\0';
	}
	assert_int_equal(dt_audit_verify_full(t->ctx, r.root_fingerprint, &r2, &err), DT_OK);
	assert_int_equal(dt_audit_verify_full(t->ctx, colons, &r2, &err), DT_OK);
	snprintf(wrong, sizeof(wrong), "%s", r.root_fingerprint);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	assert_int_equal(dt_audit_verify_full(t->ctx, wrong, &r2, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "not the pinned one"));
	assert_int_equal(dt_audit_verify_full(t->ctx, "abc", &r2, &err), DT_ERR_INVALID);
}

static void test_existing_data_dir_gets_a_key_on_first_need(void **state)
{
	struct tenv *t = *state;
	struct dt_audit_report r = report_ok(t);
	struct dt_audit_checkpoint cp;
	char path[512];

	/* As a data dir made before checkpoints: no key, no checkpoint. */
	snprintf(path, sizeof(path), "%s/keys/audit-%.16s.key", t->data, r.last.key_id);
	assert_int_equal(unlink(path), 0);
	tu2_sql(t, "DELETE FROM audit_checkpoints");
	tu2_sql(t, "DELETE FROM audit_keys");
	dt_close(t->ctx);
	{
		struct dt_open_opts oo;
		struct dt_error err;
		memset(&oo, 0, sizeof(oo));
		oo.data_dir = t->data;
		oo.actor = "unit-test";
		if (dt_open(&oo, &t->ctx, &err) != DT_OK)
			fail_msg("open: %s", err.msg);
	}
	r = report_ok(t);
	assert_int_equal(r.checkpoints, 0);
	assert_int_equal(r.keys, 0);
	cp = checkpoint_now(t, 1);
	r = report_ok(t);
	assert_int_equal(r.keys, 1);
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(r.last.seq, cp.seq);
	assert_int_equal(sql_int(t, "SELECT count(*) FROM audit WHERE action='audit.key_create'"),
			 2);
	snprintf(path, sizeof(path), "%s/keys/audit-%.16s.key", t->data, cp.key_id);
	assert_int_equal(access(path, R_OK), 0);
}

/*
 * More checkpoints than verification reads in one page (1024): one per event, signed
 * with the real audit key; a forgery on the second page is still found.
 */
static void test_many_checkpoints_paged(void **state)
{
	struct tenv *t = *state;
	char path[400], tbs[AUDIT_TBS_MAX], key_id[65];
	struct store_checkpoint cp;
	struct dt_audit_report r;
	struct dt_error err;
	sqlite3 *db = NULL;
	sqlite3_stmt *sel = NULL, *ins = NULL;
	int64_t imported = 0, head;
	FILE *csv = tmpfile();
	size_t n;

	assert_non_null(csv);
	tu_device(t, "pump-0", NULL);
	fputs("id,class\n", csv);
	for (int i = 1; i <= 1100; i++)
		fprintf(csv, "pump-%d,pump\n", i);
	rewind(csv);
	assert_int_equal(dt_device_import_csv(t->ctx, csv, NULL, &imported, &err), DT_OK);
	fclose(csv);
	assert_int_equal(imported, 1100);
	head = sql_int(t, "SELECT max(seq) FROM audit");
	snprintf(path, sizeof(path), "%s/%s", t->data, DT_DB_NAME);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit ORDER BY seq", -1, &sel, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT OR IGNORE INTO audit_checkpoints"
					    "(seq,time,hash,key_id,signature) VALUES(?,?,?,?,?)",
					    -1, &ins, NULL),
			 SQLITE_OK);
	while (sqlite3_step(sel) == SQLITE_ROW) {
		memset(&cp, 0, sizeof(cp));
		cp.seq = sqlite3_column_int64(sel, 0);
		cp.time = dt_now();
		memcpy(cp.hash, sqlite3_column_blob(sel, 1), 32);
		assert_int_equal(ca_audit_key_ready(t->ctx, cp.key_id, &err), DT_OK);
		n = audit_checkpoint_tbs(&cp, tbs, sizeof(tbs));
		assert_int_equal(ca_audit_sign(t->ctx, (unsigned char *)tbs, n, cp.sig,
					       sizeof(cp.sig), &cp.sig_len, key_id, &err),
				 DT_OK);
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, cp.seq);
		sqlite3_bind_int64(ins, 2, cp.time);
		sqlite3_bind_blob(ins, 3, cp.hash, 32, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, cp.key_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 5, cp.sig, (int)cp.sig_len, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	r = report_ok(t);
	assert_int_equal(r.checkpoints, head);
	assert_int_equal(r.last.seq, head);
	sqlf(t, "UPDATE audit_checkpoints SET time=time+1 WHERE seq=%lld", (long long)(head - 1));
	report_broken(t, head - 1, "signature does not verify");
}

/* ---- export ---- */

struct lines {
	int n, header, root, keys, checkpoints, events, end;
	int64_t first_seq, end_events;
};

static int count_line(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;
	json_error_t jerr;
	json_t *v = json_loadb(line, len, 0, &jerr);
	const char *type = json_string_value(json_object_get(v, "type"));

	assert_non_null(v);
	assert_null(memchr(line, '\n', len));
	assert_non_null(type);
	l->n++;
	if (strcmp(type, "header") == 0)
		l->header++;
	else if (strcmp(type, "root") == 0)
		l->root++;
	else if (strcmp(type, "audit_key") == 0)
		l->keys++;
	else if (strcmp(type, "checkpoint") == 0)
		l->checkpoints++;
	else if (strcmp(type, "event") == 0) {
		if (!l->events++)
			l->first_seq = json_integer_value(json_object_get(v, "seq"));
	} else if (strcmp(type, "end") == 0) {
		l->end++;
		l->end_events = json_integer_value(json_object_get(v, "events"));
	}
	json_decref(v);
	return 0;
}

static void test_export_lines(void **state)
{
	struct tenv *t = *state;
	struct lines l;
	struct dt_error err;
	int64_t head;

	add_devices(t, "pump", 3);
	(void)checkpoint_now(t, 1);
	head = sql_int(t, "SELECT max(seq) FROM audit");
	memset(&l, 0, sizeof(l));
	assert_int_equal(dt_audit_export(t->ctx, 0, count_line, &l, &err), DT_OK);
	assert_int_equal(l.header, 1);
	assert_int_equal(l.root, 1);
	assert_int_equal(l.keys, 1);
	assert_int_equal(l.checkpoints, 2);
	assert_int_equal(l.events, head);
	assert_int_equal(l.first_seq, 1);
	assert_int_equal(l.end, 1);
	assert_int_equal(l.end_events, head);
	memset(&l, 0, sizeof(l));
	assert_int_equal(dt_audit_export(t->ctx, head - 2, count_line, &l, &err), DT_OK);
	assert_int_equal(l.events, 2);
	assert_int_equal(l.first_seq, head - 1);
	assert_int_equal(l.checkpoints, 1);
	assert_int_equal(dt_audit_export(t->ctx, -1, count_line, &l, &err), DT_ERR_INVALID);
}

static int stop_at_second(void *arg, const char *line, size_t len)
{
	(void)line;
	(void)len;
	return ++*(int *)arg >= 2;
}

static void test_export_stops_and_refuses_non_utf8(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct lines l;
	int n = 0;

	assert_int_equal(dt_audit_export(t->ctx, 0, stop_at_second, &n, &err), DT_ERR_IO);
	assert_int_equal(n, 2);
	tu2_sql(t, "UPDATE audit SET reason=CAST(x'ff41' AS TEXT) WHERE seq=1");
	memset(&l, 0, sizeof(l));
	assert_int_equal(dt_audit_export(t->ctx, 0, count_line, &l, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "event 1"));
}

/* ---- details: before and after ---- */

static int check_shape(void *arg, const struct dt_audit_event *e)
{
	json_error_t jerr;
	json_t *d = json_loads(e->details, 0, &jerr);

	(void)arg;
	if (!json_is_object(d) || !json_object_get(d, "before") || !json_object_get(d, "after"))
		fail_msg("event %lld (%s): details %s lack before/after", (long long)e->seq,
			 e->action, e->details);
	json_decref(d);
	return 0;
}

static int find_action(void *arg, const struct dt_audit_event *e)
{
	struct dt_audit_event *want = arg;

	if (strcmp(e->action, want->action) == 0)
		*want = *e;
	return 0;
}

static void assert_details(struct tenv *t, const char *action, const char *part)
{
	struct dt_audit_event *e = calloc(1, sizeof(*e));
	struct dt_error err;

	assert_non_null(e);
	snprintf(e->action, sizeof(e->action), "%s", action);
	assert_int_equal(dt_audit_list(t->ctx, NULL, find_action, e, &err), DT_OK);
	if (!strstr(e->details, part))
		fail_msg("%s details '%s' lack '%s'", action, e->details, part);
	free(e);
}

static void test_every_event_has_before_and_after(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_class cl;
	struct dt_clone_policy cp = {"pump", 120, DT_CLONE_DENY};
	char tok[DT_TOKEN_BUF];
	unsigned char *der = NULL;
	size_t len = 0;
	struct dt_cert_info ci;

	tu_device(t, "pump-1", NULL);
	tu_device(t, "pump-2", NULL);
	tu_device_of(t, "pump-3", "pump", "Acme \"Med\" \\ Co", "SN-3", NULL);
	ci = tu2_issue(t, "pump-1", "P-256", NULL);
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_SUSPEND, "check", NULL, &err),
			 DT_OK);
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_RESUME, "", NULL, &err),
			 DT_OK);
	assert_int_equal(dt_cert_revoke(t->ctx, ci.serial, DT_REASON_SUPERSEDED, "", &err), DT_OK);
	assert_int_equal(dt_device_token(t->ctx, "pump-2", 3600, tok, &err), DT_OK);
	assert_int_equal(dt_device_transition(t->ctx, "pump-2", DT_TR_RETIRE, "gone", NULL, &err),
			 DT_OK);
	assert_int_equal(dt_class_get(t->ctx, "pump", &cl, &err), DT_OK);
	cl.lifetime_s = 7 * 86400;
	snprintf(cl.min_firmware, sizeof(cl.min_firmware), "2.\"1\"");
	assert_int_equal(dt_class_update(t->ctx, &cl, &err), DT_OK);
	assert_int_equal(dt_policy_allow(t->ctx, "pump", "api", "/v1/**", "GET", NULL, &err),
			 DT_OK);
	assert_int_equal(dt_policy_allow(t->ctx, "pump", "api", "/v1/**", "POST", NULL, &err),
			 DT_OK);
	assert_int_equal(dt_policy_remove(t->ctx, "pump", "api", NULL, NULL, &err), DT_OK);
	assert_int_equal(dt_clone_policy_set(t->ctx, &cp, &err), DT_OK);
	assert_int_equal(dt_crl_generate(t->ctx, "default", &der, &len, &err), DT_OK);
	OPENSSL_free(der);
	set_policy(t, 500, 300);
	assert_int_equal(dt_audit_list(t->ctx, NULL, check_shape, NULL, &err), DT_OK);
	assert_details(t, "device.suspend",
		       "\"before\":{\"state\":\"active\"},\"after\":{\"state\":\"suspended\"},"
		       "\"certificates\":{\"count\":1,\"from\":\"valid\",\"to\":\"on-hold\"}");
	assert_details(t, "device.retire", "\"from\":\"valid|on-hold\",\"to\":\"revoked\"");
	assert_details(t, "device.activate", "\"before\":{\"state\":\"registered\"}");
	assert_details(t, "cert.revoke", "\"before\":{\"status\":\"valid\"}");
	assert_details(t, "class.update", "\"lifetime_s\":604800");
	assert_details(t, "class.update", "\"min_firmware\":\"2.\\\"1\\\"\"");
	assert_details(t, "policy.allow",
		       "\"before\":{\"pattern\":\"/v1/**\",\"methods\":\"GET\"}");
	assert_details(t, "policy.remove", "\"after\":null");
	assert_details(t, "policy.clone", "\"before\":{\"window_s\":60");
	assert_details(t, "crl.generate",
		       "\"before\":{\"crl_number\":0},\"after\":{\"crl_number\":1}");
	assert_details(t, "cert.issue", "\"before\":null,\"after\":{\"device\":\"pump-1\"");
	assert_details(t, "device.add", "\"manufacturer\":\"Acme \\\"Med\\\" \\\\ Co\"");
	report_ok(t);
}

static void test_json_str(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(audit_json_str(out, sizeof(out), "a\"b\\c"), 9);
	assert_string_equal(out, "\"a\\\"b\\\\c\"");
	assert_int_equal(audit_json_str(out, sizeof(out), "\x01"), 8);
	assert_string_equal(out, "\"\\u0001\"");
	assert_int_equal(audit_json_str(out, sizeof(out), ""), 2);
	assert_string_equal(out, "\"\"");
	/* 13 characters and two quotes fill 16 bytes with the terminator; 14 do not fit. */
	assert_int_equal(audit_json_str(out, sizeof(out), "abcdefghijklm"), 15);
	assert_int_equal(audit_json_str(out, sizeof(out), "abcdefghijklmn"), 0);
	assert_int_equal(audit_json_str(out, sizeof(out), "abcdefghijkl\""), 0);
	assert_int_equal(audit_json_str(out, 2, ""), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_init_signs_the_first_checkpoint),
	    T(test_checkpoint_covers_new_events_once),
	    T(test_policy_defaults_and_limits),
	    T(test_tick_every_n_events),
	    T(test_tick_after_the_interval),
	    T(test_writer_refuses_a_broken_chain),
	    T(test_writer_refuses_after_a_forged_checkpoint),
	    T(test_bad_signature_detected),
	    T(test_altered_checkpoint_detected),
	    T(test_signature_by_unregistered_key_detected),
	    T(test_signature_by_key_the_root_did_not_issue_detected),
	    T(test_recomputed_chain_detected_by_checkpoint),
	    T(test_recomputed_chain_before_first_checkpoint_detected),
	    T(test_rewritten_tail_is_reported_uncovered),
	    T(test_truncation_below_checkpoint_detected),
	    T(test_truncation_of_everything_detected),
	    T(test_root_fingerprint_pin),
	    T(test_existing_data_dir_gets_a_key_on_first_need),
	    T(test_many_checkpoints_paged),
	    T(test_export_lines),
	    T(test_export_stops_and_refuses_non_utf8),
	    T(test_every_event_has_before_and_after),
	    cmocka_unit_test(test_json_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
