/*
 * The hash-chained audit log: a clean chain verifies and counts every event,
 * and each way of tampering with the database file behind devtrust's back
 * (edit, delete, insert, reorder) is caught at the first broken event.
 */
#include "testutil.h"

#include <sqlite3.h>

#include "audit/audit.h"
#include "core/core.h"

struct events {
	int64_t n;
	int64_t last_seq;
	int contiguous;
	int64_t retire_seq;
	char retire_reason[600];
	char actor[128];
};

static int collect(void *arg, const struct dt_audit_event *e)
{
	struct events *ev = arg;

	ev->n++;
	if (e->seq != ev->last_seq + 1)
		ev->contiguous = 0;
	ev->last_seq = e->seq;
	if (strcmp(e->action, "device.retire") == 0 && strcmp(e->object, "pump-1") == 0) {
		ev->retire_seq = e->seq;
		snprintf(ev->retire_reason, sizeof(ev->retire_reason), "%s", e->reason);
		snprintf(ev->actor, sizeof(ev->actor), "%s", e->actor);
	}
	return 0;
}

static struct events list_events(struct tenv *t)
{
	struct events ev;
	struct dt_error err;

	memset(&ev, 0, sizeof(ev));
	ev.contiguous = 1;
	if (dt_audit_list(t->ctx, NULL, collect, &ev, &err) != DT_OK)
		fail_msg("audit list: %s", err.msg);
	return ev;
}

static void verify_ok(struct tenv *t, int64_t want)
{
	struct dt_error err;
	int64_t checked = -1, bad = -1;

	if (dt_audit_verify(t->ctx, &checked, &bad, &err) != DT_OK)
		fail_msg("verify: %s", err.msg);
	assert_int_equal(checked, want);
	assert_int_equal(bad, 0);
}

/* Verification fails with DT_ERR_STATE naming want_bad, after want_checked good events. */
static void verify_broken_after(struct tenv *t, int64_t want_bad, int64_t want_checked,
				const char *msg_part)
{
	struct dt_error err;
	int64_t checked = -1, bad = -1;
	char want[64];

	memset(&err, 0, sizeof(err));
	assert_int_equal(dt_audit_verify(t->ctx, &checked, &bad, &err), DT_ERR_STATE);
	assert_int_equal(bad, want_bad);
	assert_int_equal(checked, want_checked);
	snprintf(want, sizeof(want), "broken at event %lld", (long long)want_bad);
	if (!strstr(err.msg, want) || !strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s' or '%s'", err.msg, want, msg_part);
}

/* The usual case: every event before the broken one still verifies. */
static void verify_broken(struct tenv *t, int64_t want_bad, const char *msg_part)
{
	verify_broken_after(t, want_bad, want_bad - 1, msg_part);
}

/* Runs SQL on the database file directly, as someone with file access would. */
static void tamper(struct tenv *t, const char *fmt, ...)
{
	char path[400], sql[1024];
	sqlite3 *db = NULL;
	char *emsg = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", t->data, DT_DB_NAME);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &emsg) != SQLITE_OK)
		fail_msg("tamper '%s': %s", sql, emsg);
	assert_true(sqlite3_changes(db) > 0 || strncmp(sql, "CREATE", 6) == 0);
	sqlite3_close(db);
}

/* A history: the init events, a class, four devices, one retirement, one token. */
static struct events make_history(struct tenv *t)
{
	struct dt_error err;
	struct events ev;

	tu_device(t, "pump-1", NULL);
	tu_device(t, "pump-2", NULL);
	tu_device(t, "pump-3", NULL);
	tu_device(t, "pump-4", NULL);
	assert_int_equal(
	    dt_device_transition(t->ctx, "pump-1", DT_TR_RETIRE, "decommissioned", NULL, &err),
	    DT_OK);
	assert_int_equal(
	    dt_device_transition(t->ctx, "pump-2", DT_TR_RETIRE, "lost in transit", NULL, &err),
	    DT_OK);
	ev = list_events(t);
	assert_true(ev.n >= 7);
	assert_true(ev.contiguous);
	assert_true(ev.retire_seq > 1 && ev.retire_seq < ev.n);
	return ev;
}

static void test_clean_chain_verifies_and_counts(void **state)
{
	struct tenv *t = *state;
	struct events before = list_events(t), after;

	assert_true(before.n >= 1); /* init is recorded */
	verify_ok(t, before.n);
	after = make_history(t);
	/* class add, 4 device adds, 2 retirements */
	assert_int_equal(after.n, before.n + 7);
	assert_int_equal(after.last_seq, after.n);
	verify_ok(t, after.n);
	assert_string_equal(after.retire_reason, "decommissioned");
	assert_string_equal(after.actor, "unit-test");
	tu_device(t, "pump-5", NULL);
	verify_ok(t, after.n + 1);
}

static void test_edited_reason_detected(void **state)
{
	struct tenv *t = *state;
	struct events ev = make_history(t);

	tamper(t, "UPDATE audit SET reason='routine maintenance' WHERE seq=%lld",
	       (long long)ev.retire_seq);
	verify_broken(t, ev.retire_seq, "edited");
}

static void test_every_edited_column_detected(void **state)
{
	static const char *const cols[] = {"actor", "action", "object", "reason", "details"};
	struct tenv *t = *state;
	struct events ev = make_history(t);
	long long s = (long long)ev.retire_seq;

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		tamper(t, "UPDATE audit SET %s=%s||'x' WHERE seq=%lld", cols[i], cols[i], s);
		verify_broken(t, ev.retire_seq, "edited");
		tamper(t, "UPDATE audit SET %s=substr(%s,1,length(%s)-1) WHERE seq=%lld", cols[i],
		       cols[i], cols[i], s);
		verify_ok(t, ev.n);
	}
	tamper(t, "UPDATE audit SET time=time-86400 WHERE seq=%lld", s);
	verify_broken(t, ev.retire_seq, "edited");
	tamper(t, "UPDATE audit SET time=time+86400 WHERE seq=%lld", s);
	verify_ok(t, ev.n);
	/* Recomputing nothing but the stored hash does not help: the next link breaks. */
	tamper(t, "UPDATE audit SET hash=randomblob(32) WHERE seq=%lld", s);
	verify_broken(t, ev.retire_seq, "edited");
}

static void test_deleted_middle_row_detected(void **state)
{
	struct tenv *t = *state;
	struct events ev = make_history(t);
	int64_t m = ev.n / 2;

	tamper(t, "DELETE FROM audit WHERE seq=%lld", (long long)m);
	verify_broken_after(t, m + 1, m - 1, "expected sequence");
}

static void test_deleted_and_renumbered_detected(void **state)
{
	struct tenv *t = *state;
	struct events ev = make_history(t);
	int64_t m = ev.n / 2;

	/* Close the gap so the sequence looks intact: the link still breaks. */
	tamper(t, "DELETE FROM audit WHERE seq=%lld", (long long)m);
	for (int64_t s = m + 1; s <= ev.n; s++)
		tamper(t, "UPDATE audit SET seq=%lld WHERE seq=%lld", (long long)(s - 1),
		       (long long)s);
	verify_broken(t, m, "link to the previous event");
}

static void test_inserted_row_detected(void **state)
{
	struct tenv *t = *state;
	struct events ev = make_history(t);
	long long n = (long long)ev.n;

	/* A plausible next event, chained to the real head, with a made-up hash. */
	tamper(t,
	       "INSERT INTO audit(seq,time,actor,action,object,reason,details,prev_hash,hash)"
	       " SELECT seq+1,time,actor,'device.resume',object,'ok',details,hash,randomblob(32)"
	       " FROM audit WHERE seq=%lld",
	       n);
	verify_broken(t, ev.n + 1, "edited");
}

/* Row seq of the database, read directly. */
static void read_row(struct tenv *t, int64_t seq, struct store_audit_row *row)
{
	char path[400];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	memset(row, 0, sizeof(*row));
	snprintf(path, sizeof(path), "%s/%s", t->data, DT_DB_NAME);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT time,actor,action,object,reason,details,hash"
					    " FROM audit WHERE seq=?",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	row->ev.seq = seq;
	row->ev.time = sqlite3_column_int64(st, 0);
	snprintf(row->ev.actor, sizeof(row->ev.actor), "%s", sqlite3_column_text(st, 1));
	snprintf(row->ev.action, sizeof(row->ev.action), "%s", sqlite3_column_text(st, 2));
	snprintf(row->ev.object, sizeof(row->ev.object), "%s", sqlite3_column_text(st, 3));
	snprintf(row->ev.reason, sizeof(row->ev.reason), "%s", sqlite3_column_text(st, 4));
	snprintf(row->ev.details, sizeof(row->ev.details), "%s", sqlite3_column_text(st, 5));
	assert_int_equal(sqlite3_column_bytes(st, 6), 32);
	memcpy(row->hash, sqlite3_column_blob(st, 6), 32);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_inserted_row_with_valid_link_detected(void **state)
{
	struct tenv *t = *state;
	struct events ev = make_history(t);
	int64_t m = ev.n / 2;
	struct store_audit_row prev, forged;
	char hp[65], hf[65];

	/*
	 * Someone who knows the algorithm forges a well-linked event after m; the
	 * original event m+1 (now m+2) no longer links to its predecessor.
	 */
	read_row(t, m, &prev);
	forged = prev;
	forged.ev.seq = m + 1;
	snprintf(forged.ev.action, sizeof(forged.ev.action), "device.resume");
	memcpy(forged.prev_hash, prev.hash, 32);
	audit_link(&forged, forged.hash);
	dt_hex(forged.prev_hash, 32, hp);
	dt_hex(forged.hash, 32, hf);
	for (int64_t s = ev.n; s > m; s--)
		tamper(t, "UPDATE audit SET seq=%lld WHERE seq=%lld", (long long)(s + 1),
		       (long long)s);
	tamper(t,
	       "INSERT INTO audit(seq,time,actor,action,object,reason,details,prev_hash,hash)"
	       " VALUES(%lld,%lld,'%s','%s','%s','%s','%s',x'%s',x'%s')",
	       (long long)forged.ev.seq, (long long)forged.ev.time, forged.ev.actor,
	       forged.ev.action, forged.ev.object, forged.ev.reason, forged.ev.details, hp, hf);
	verify_broken(t, m + 2, "link to the previous event");
}

static const char swap_sql[] =
    "CREATE TEMP TABLE s AS SELECT * FROM audit WHERE seq IN (%lld,%lld);"
    "UPDATE audit SET (%s) = (SELECT %s FROM s WHERE s.seq ="
    " (CASE audit.seq WHEN %lld THEN %lld ELSE %lld END)) WHERE seq IN (%lld,%lld);";

static void swap_rows(struct tenv *t, long long a, long long b, const char *cols)
{
	tamper(t, swap_sql, a, b, cols, cols, a, b, a, a, b);
}

static void test_swapped_rows_detected(void **state)
{
	struct tenv *t = *state;
	struct events ev = make_history(t);
	long long a = (long long)ev.n / 2 - 1, b = (long long)ev.n / 2 + 1;

	/* Whole rows, links included, trade places. */
	swap_rows(t, a, b, "time,actor,action,object,reason,details,prev_hash,hash");
	verify_broken(t, a, "link to the previous event");
}

static void test_swapped_contents_detected(void **state)
{
	struct tenv *t = *state;
	struct events ev = make_history(t);
	long long a = (long long)ev.n / 2 - 1, b = (long long)ev.n / 2 + 1;

	/* Only the events trade places; each row keeps its links. */
	swap_rows(t, a, b, "time,actor,action,object,reason,details");
	verify_broken(t, a, "edited");
}

/*
 * The longest reason a transition accepts (DT_MAX_REASON_LEN) is what the
 * audit log records: the evidence is not silently shortened.
 */
static void test_longest_reason_recorded_whole(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct events ev;
	char reason[DT_MAX_REASON_LEN + 1];

	memset(reason, 'r', DT_MAX_REASON_LEN);
	reason[DT_MAX_REASON_LEN] = '\0';
	tu_device(t, "pump-1", NULL);
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_RETIRE, reason, NULL, &err),
			 DT_OK);
	ev = list_events(t);
	assert_true(ev.retire_seq > 0);
	assert_int_equal(strlen(ev.retire_reason), DT_MAX_REASON_LEN);
	verify_ok(t, ev.n);
}

/* ---- audit_link ---- */

static struct store_audit_row base_row(void)
{
	struct store_audit_row r;

	memset(&r, 0, sizeof(r));
	r.ev.seq = 42;
	r.ev.time = 1700000000;
	strcpy(r.ev.actor, "cli:alice");
	strcpy(r.ev.action, "device.retire");
	strcpy(r.ev.object, "pump-1");
	strcpy(r.ev.reason, "decommissioned");
	strcpy(r.ev.details, "{\"from\":\"active\"}");
	memset(r.prev_hash, 0xab, 32);
	return r;
}

static void link_of(const struct store_audit_row *r, unsigned char out[32])
{
	audit_link(r, out);
}

static void assert_link_changes(const struct store_audit_row *r, const char *what)
{
	struct store_audit_row b = base_row();
	unsigned char h0[32], h1[32];

	link_of(&b, h0);
	link_of(r, h1);
	if (memcmp(h0, h1, 32) == 0)
		fail_msg("changing %s does not change the link", what);
}

static void test_link_is_deterministic(void **state)
{
	struct store_audit_row a = base_row(), b = base_row();
	unsigned char h1[32], h2[32], zero[32];

	(void)state;
	memset(zero, 0, sizeof(zero));
	/* Bytes after each string's terminator are not part of the event. */
	memset(b.ev.reason + strlen(b.ev.reason) + 1, 'z', 8);
	memcpy(b.hash, "ignored", 7);
	link_of(&a, h1);
	link_of(&b, h2);
	assert_memory_equal(h1, h2, 32);
	assert_memory_not_equal(h1, zero, 32);
}

static void test_link_covers_every_field(void **state)
{
	struct store_audit_row r;

	(void)state;
	r = base_row();
	strcpy(r.ev.actor, "cli:mallory");
	assert_link_changes(&r, "actor");
	r = base_row();
	strcpy(r.ev.action, "device.resume");
	assert_link_changes(&r, "action");
	r = base_row();
	strcpy(r.ev.object, "pump-2");
	assert_link_changes(&r, "object");
	r = base_row();
	strcpy(r.ev.reason, "decommissioned!");
	assert_link_changes(&r, "reason");
	r = base_row();
	strcpy(r.ev.details, "{\"from\":\"suspended\"}");
	assert_link_changes(&r, "details");
	r = base_row();
	r.ev.time++;
	assert_link_changes(&r, "time");
	r = base_row();
	r.ev.seq++;
	assert_link_changes(&r, "seq");
	r = base_row();
	r.prev_hash[31] ^= 1;
	assert_link_changes(&r, "prev_hash");
	/* Moving a byte across a field boundary is a change too (length prefixes). */
	r = base_row();
	strcpy(r.ev.object, "pump-");
	strcpy(r.ev.reason, "1decommissioned");
	assert_link_changes(&r, "the object/reason boundary");
	r = base_row();
	strcpy(r.ev.actor, "cli:alicedevice.retire");
	r.ev.action[0] = '\0';
	assert_link_changes(&r, "the actor/action boundary");
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_clean_chain_verifies_and_counts),
	    T(test_edited_reason_detected),
	    T(test_every_edited_column_detected),
	    T(test_deleted_middle_row_detected),
	    T(test_deleted_and_renumbered_detected),
	    T(test_inserted_row_detected),
	    T(test_inserted_row_with_valid_link_detected),
	    T(test_swapped_rows_detected),
	    T(test_swapped_contents_detected),
	    T(test_longest_reason_recorded_whole),
	    cmocka_unit_test(test_link_is_deterministic),
	    cmocka_unit_test(test_link_covers_every_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
