/*
 * Fleet reports: each finding an operator acts on appears when the fleet is
 * in that condition, and only then. States the API cannot produce are made
 * with SQL on the database, as a bug or a restore from backup would.
 */
#include "testutil.h"

#include <strings.h>

#define MAX_FINDINGS 16

struct findings {
	struct dt_finding f[MAX_FINDINGS];
	int n;
};

static int collect(void *arg, const struct dt_finding *f)
{
	struct findings *fs = arg;

	assert_true(fs->n < MAX_FINDINGS);
	fs->f[fs->n++] = *f;
	return 0;
}

/* Whether hay contains needle, ignoring ASCII case (hex digits differ in case). */
static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/* The finding for device id, or NULL; fails if there are two. */
static const struct dt_finding *find(const struct findings *fs, const char *id)
{
	const struct dt_finding *hit = NULL;

	for (int i = 0; i < fs->n; i++)
		if (strcmp(fs->f[i].device_id, id) == 0) {
			if (hit)
				fail_msg("two findings for %s", id);
			hit = &fs->f[i];
		}
	return hit;
}

static void test_expiring(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct findings fs;
	struct dt_cert_info s1, s2;
	const struct dt_finding *f;

	tu2_class(t, "short", "default", DT_KEY_EC_P256, 2 * 3600, 0);
	tu2_class(t, "long", "default", DT_KEY_EC_P256, 30 * 86400, 0);
	tu2_device(t, "s-1", "short", NULL);
	tu2_device(t, "s-2", "short", NULL);
	tu2_device(t, "l-1", "long", NULL);
	s1 = tu2_issue(t, "s-1", "P-256", NULL);
	s2 = tu2_issue(t, "s-2", "P-256", NULL);
	tu2_issue(t, "l-1", "P-256", NULL);
	assert_int_equal(dt_cert_revoke(t->ctx, s2.serial, DT_REASON_CESSATION, NULL, &err), DT_OK);

	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_expiring(t->ctx, 3 * 3600, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 1);
	f = find(&fs, "s-1");
	assert_non_null(f);
	assert_int_equal(f->kind, DT_FIND_EXPIRING);
	assert_string_equal(f->serial, s1.serial);
	assert_string_equal(f->class_name, "short");
	assert_int_equal(f->not_after, s1.not_after);
	assert_int_equal(f->state, DT_STATE_ACTIVE);
	assert_non_null(strstr(f->detail, "expires in"));

	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_expiring(t->ctx, 3600, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 0);

	/* Within 31 days, the long-lived certificate joins. */
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_expiring(t->ctx, 31 * 86400, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 2);
	assert_string_equal(fs.f[0].device_id, "s-1"); /* soonest first */
	assert_string_equal(fs.f[1].device_id, "l-1");

	assert_int_equal(dt_report_expiring(t->ctx, 0, collect, &fs, &err), DT_ERR_INVALID);
	assert_int_equal(dt_report_expiring(t->ctx, -5, collect, &fs, &err), DT_ERR_INVALID);
}

static void test_drift(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct findings fs;
	struct dt_cert_info a, b;
	const struct dt_finding *f;
	char sql[256];

	for (int i = 0; i < 5; i++) {
		char id[8];
		snprintf(id, sizeof(id), "p-%c", 'a' + i);
		tu_device(t, id, NULL);
	}
	a = tu2_issue(t, "p-a", "P-256", NULL);
	b = tu2_issue(t, "p-b", "P-256", NULL);
	tu2_issue(t, "p-c", "P-256", NULL); /* healthy */
	/* p-d stays registered without a certificate: not drift. */
	tu2_issue(t, "p-e", "P-256", NULL);
	assert_int_equal(dt_device_transition(t->ctx, "p-e", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_OK); /* held, not valid: not drift */

	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_drift(t->ctx, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 0);

	snprintf(sql, sizeof(sql), "UPDATE devices SET state=%d WHERE id='p-a'", DT_STATE_RETIRED);
	tu2_sql(t, sql);
	assert_int_equal(dt_cert_revoke(t->ctx, b.serial, DT_REASON_KEY_COMPROMISE, NULL, &err),
			 DT_OK);

	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_drift(t->ctx, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 2);
	f = find(&fs, "p-a");
	assert_non_null(f);
	assert_int_equal(f->kind, DT_FIND_CERT_ON_INACTIVE);
	assert_int_equal(f->state, DT_STATE_RETIRED);
	assert_string_equal(f->serial, a.serial);
	assert_non_null(strstr(f->detail, "retired"));
	f = find(&fs, "p-b");
	assert_non_null(f);
	assert_int_equal(f->kind, DT_FIND_ACTIVE_NO_CERT);
	assert_int_equal(f->state, DT_STATE_ACTIVE);
	assert_string_equal(f->class_name, "pump");
	assert_null(find(&fs, "p-c"));
	assert_null(find(&fs, "p-d"));
	assert_null(find(&fs, "p-e"));

	/* Fixing the state by the lifecycle clears the finding. */
	tu2_sql(t, "UPDATE devices SET state=1 WHERE id='p-a'");
	assert_int_equal(dt_device_transition(t->ctx, "p-a", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_drift(t->ctx, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 1);
	assert_null(find(&fs, "p-a"));
}

static void test_duplicates(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct findings fs;
	struct dt_cert_info a;
	unsigned char *csr, *der = NULL;
	size_t len, der_len;
	char sql[512];
	const struct dt_finding *f;

	tu_device(t, "p-a", NULL);
	tu_device(t, "p-b", NULL);
	tu_device(t, "p-c", NULL);
	a = tu2_issue(t, "p-a", "P-256", NULL);
	tu2_issue(t, "p-b", "P-256", NULL);
	/* One device renewing with its own key twice is not a shared key. */
	csr = tu_csr("P-256", NULL, &len);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    dt_cert_issue(t->ctx, "p-c", csr, len, NULL, &der, &der_len, NULL, &err),
		    DT_OK);
		OPENSSL_free(der);
	}
	OPENSSL_free(csr);
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_duplicates(t->ctx, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 0);

	snprintf(sql, sizeof(sql),
		 "INSERT INTO certs(serial,device_id,ca,class,key_type,spki_hash,not_before,"
		 "not_after,status,reason,revoked_at,issued_at,der) SELECT "
		 "'00000000000000000000000000000abc','p-b',ca,class,key_type,spki_hash,"
		 "not_before,not_after,status,reason,revoked_at,issued_at,der FROM certs "
		 "WHERE serial='%s'",
		 a.serial);
	tu2_sql(t, sql);

	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_duplicates(t->ctx, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 2);
	f = find(&fs, "p-a");
	assert_non_null(f);
	assert_int_equal(f->kind, DT_FIND_DUPLICATE_KEY);
	assert_string_equal(f->serial, a.serial);
	assert_true(contains_ci(f->detail, a.spki_sha256));
	f = find(&fs, "p-b");
	assert_non_null(f);
	assert_string_equal(f->serial, "00000000000000000000000000000abc");
	assert_true(contains_ci(f->detail, a.spki_sha256));
	assert_null(find(&fs, "p-c"));
}

static void test_weak(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct findings fs;
	struct dt_cert_info a, r;
	const struct dt_finding *f;
	char sql[128];

	tu_device(t, "p-a", NULL);
	tu_device(t, "p-b", NULL);
	tu_device(t, "p-r", NULL);
	a = tu2_issue(t, "p-a", "P-256", NULL);
	tu2_issue(t, "p-b", "P-384", NULL);
	r = tu2_issue(t, "p-r", "P-256", NULL);
	assert_int_equal(dt_cert_revoke(t->ctx, r.serial, DT_REASON_SUPERSEDED, NULL, &err), DT_OK);
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_weak(t->ctx, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 0);

	/* Policy tightens: the class now allows P-384 only. */
	snprintf(sql, sizeof(sql), "UPDATE classes SET key_types=%d WHERE name='pump'",
		 DT_KEY_EC_P384);
	tu2_sql(t, sql);
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(dt_report_weak(t->ctx, collect, &fs, &err), DT_OK);
	assert_int_equal(fs.n, 1);
	f = find(&fs, "p-a");
	assert_non_null(f);
	assert_int_equal(f->kind, DT_FIND_WEAK_KEY);
	assert_string_equal(f->serial, a.serial);
	assert_string_equal(f->class_name, "pump");
	assert_non_null(strstr(f->detail, "ec-p256"));
	assert_null(find(&fs, "p-b"));
	assert_null(find(&fs, "p-r"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_expiring),
	    T(test_drift),
	    T(test_duplicates),
	    T(test_weak),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
