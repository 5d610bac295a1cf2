/*
 * CRLs (RFC 5280 section 5) as a relying party reads them: signed by the
 * CA, v2 with AKI and an increasing CRL number, listing held and revoked
 * certificates with their reasons and nothing else.
 */
#include "testutil.h"

#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

static long crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	long v;

	assert_non_null(n);
	v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

static int revoked_count(X509_CRL *crl)
{
	STACK_OF(X509_REVOKED) *rv = X509_CRL_get_REVOKED(crl);

	return rv ? sk_X509_REVOKED_num(rv) : 0;
}

/* The entry for serial (hex as in dt_cert_info), or NULL. */
static X509_REVOKED *entry_of(X509_CRL *crl, const char *serial)
{
	STACK_OF(X509_REVOKED) *rv = X509_CRL_get_REVOKED(crl);
	char hex[DT_SERIAL_HEX_BUF];

	for (int i = 0; rv && i < sk_X509_REVOKED_num(rv); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(rv, i);
		tu2_serial_hex(X509_REVOKED_get0_serialNumber(r), hex);
		if (strcmp(hex, serial) == 0)
			return r;
	}
	return NULL;
}

/* The reasonCode of an entry, -1 when absent. */
static long reason_of(X509_REVOKED *r)
{
	int crit = 0;
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
	long v;

	if (!e)
		return -1;
	v = ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return v;
}

static void test_crl_numbers_increase(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ca_info info;
	struct dt_open_opts oo;
	struct dt_ctx *again = NULL;
	X509_CRL *crl;
	long prev = 0, n;

	for (int i = 0; i < 3; i++) {
		crl = tu_crl(t->ctx, "default");
		n = crl_number(crl);
		assert_true(n > prev);
		prev = n;
		X509_CRL_free(crl);
	}
	assert_int_equal(dt_ca_get(t->ctx, "default", &info, &err), DT_OK);
	assert_int_equal(info.crl_number, prev);
	/* A new process continues the sequence rather than restarting it. */
	memset(&oo, 0, sizeof(oo));
	oo.data_dir = t->data;
	assert_int_equal(dt_open(&oo, &again, &err), DT_OK);
	crl = tu_crl(again, "default");
	assert_true(crl_number(crl) > prev);
	X509_CRL_free(crl);
	dt_close(again);
	/* Each CA has its own sequence. */
	crl = tu_crl(t->ctx, "root");
	assert_int_equal(crl_number(crl), 1);
	X509_CRL_free(crl);
}

static void test_crl_is_signed_v2_with_aki_and_times(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default"), *root = tu2_ca_cert(t, "root");
	X509_CRL *crl = tu_crl(t->ctx, "default");
	AUTHORITY_KEYID *aki;
	int day = 0, sec = 0;
	time_t now = time(NULL);

	assert_int_equal(X509_CRL_get_version(crl), 1); /* v2 */
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	assert_int_not_equal(X509_CRL_verify(crl, X509_get0_pubkey(root)), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)), 0);
	aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(aki);
	assert_non_null(aki->keyid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(ca)), 0);
	AUTHORITY_KEYID_free(aki);
	assert_non_null(X509_CRL_get0_lastUpdate(crl));
	assert_non_null(X509_CRL_get0_nextUpdate(crl));
	assert_int_equal(ASN1_TIME_diff(&day, &sec, X509_CRL_get0_lastUpdate(crl),
					X509_CRL_get0_nextUpdate(crl)),
			 1);
	assert_true(day > 0 || (day == 0 && sec > 0));
	assert_true(X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &now) <= 0);
	X509_CRL_free(crl);

	crl = tu_crl(t->ctx, "root");
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(root)), 1);
	assert_int_equal(X509_CRL_get_version(crl), 1);
	X509_CRL_free(crl);
	X509_free(ca);
	X509_free(root);
}

/* dt_crl_generate_until gives the CRL's own nextUpdate, which the server's CRL cache
 * uses to regenerate in time and for the Expires header. */
static void test_generate_until_gives_next_update(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	int64_t next = 0;
	X509_CRL *crl;
	struct tm tm;

	assert_int_equal(dt_crl_generate_until(t->ctx, "default", &der, &len, &next, &err), DT_OK);
	p = der;
	assert_non_null(crl = d2i_X509_CRL(NULL, &p, (long)len));
	memset(&tm, 0, sizeof(tm));
	assert_int_equal(ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &tm), 1);
	assert_int_equal(next, (int64_t)timegm(&tm));
	assert_true(next > (int64_t)time(NULL));
	X509_CRL_free(crl);
	OPENSSL_free(der);
	assert_int_equal(dt_crl_generate_until(t->ctx, "nope", &der, &len, &next, &err),
			 DT_ERR_NOT_FOUND);
	assert_null(der);
	assert_int_equal(next, 0);
}

static void test_entries_and_reasons(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info held, comp, retired, unspec, valid, revoked_serial;
	X509_CRL *crl;
	X509_REVOKED *r;
	X509 *comp_x = NULL;
	time_t now = time(NULL), lo = now - 120, hi = now + 120;

	for (int i = 1; i <= 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "pump-%d", i);
		tu_device(t, id, NULL);
	}
	held = tu2_issue(t, "pump-1", "P-256", NULL);
	comp = tu2_issue(t, "pump-2", "P-256", &comp_x);
	retired = tu2_issue(t, "pump-3", "P-256", NULL);
	unspec = tu2_issue(t, "pump-4", "P-384", NULL);
	valid = tu2_issue(t, "pump-5", "P-256", NULL);
	revoked_serial = tu2_issue(t, "pump-5", "P-256", NULL);

	crl = tu_crl(t->ctx, "default");
	assert_int_equal(revoked_count(crl), 0);
	X509_CRL_free(crl);

	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(
	    dt_cert_revoke(t->ctx, comp.serial, DT_REASON_KEY_COMPROMISE, "lost", &err), DT_OK);
	assert_int_equal(dt_device_transition(t->ctx, "pump-3", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(dt_cert_revoke(t->ctx, unspec.serial, DT_REASON_UNSPECIFIED, NULL, &err),
			 DT_OK);
	assert_int_equal(
	    dt_cert_revoke(t->ctx, revoked_serial.serial, DT_REASON_SUPERSEDED, NULL, &err), DT_OK);

	crl = tu_crl(t->ctx, "default");
	assert_int_equal(revoked_count(crl), 5);
	assert_non_null(r = entry_of(crl, held.serial));
	assert_int_equal(reason_of(r), DT_REASON_CERTIFICATE_HOLD);
	assert_int_equal(X509_cmp_time(X509_REVOKED_get0_revocationDate(r), &lo), 1);
	assert_int_equal(X509_cmp_time(X509_REVOKED_get0_revocationDate(r), &hi), -1);
	assert_non_null(r = entry_of(crl, comp.serial));
	assert_int_equal(reason_of(r), DT_REASON_KEY_COMPROMISE);
	assert_non_null(r = entry_of(crl, retired.serial));
	assert_int_equal(reason_of(r), DT_REASON_CESSATION);
	assert_non_null(r = entry_of(crl, revoked_serial.serial));
	assert_int_equal(reason_of(r), DT_REASON_SUPERSEDED);
	/* RFC 5280 section 5.3.1: unspecified is expressed by omitting reasonCode. */
	assert_non_null(r = entry_of(crl, unspec.serial));
	assert_int_equal(reason_of(r), -1);
	assert_null(entry_of(crl, valid.serial));
	/* OpenSSL's own lookup by the certificate's serial finds the entry. */
	{
		X509_REVOKED *found = NULL;
		assert_int_equal(
		    X509_CRL_get0_by_serial(crl, &found, X509_get0_serialNumber(comp_x)), 1);
		assert_ptr_equal(found, entry_of(crl, comp.serial));
	}
	X509_CRL_free(crl);

	/* Resume lifts the hold: the entry leaves the next CRL; the others stay. */
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_RESUME, NULL, NULL, &err),
			 DT_OK);
	crl = tu_crl(t->ctx, "default");
	assert_int_equal(revoked_count(crl), 4);
	assert_null(entry_of(crl, held.serial));
	assert_non_null(entry_of(crl, comp.serial));
	assert_non_null(entry_of(crl, retired.serial));
	X509_CRL_free(crl);

	/* Device certificates never appear on the root's CRL. */
	crl = tu_crl(t->ctx, "root");
	assert_int_equal(revoked_count(crl), 0);
	X509_CRL_free(crl);
	X509_free(comp_x);
}

/* A revocation under one issuing CA appears only on that CA's CRL. */
static void test_crl_scoped_to_its_ca(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info a, b;
	X509 *other;
	X509_CRL *crl;
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(dt_ca_add(t->ctx, "other", &err), DT_OK);
	tu2_class(t, "scanner", "other", DT_KEY_EC_P256, 86400, 0);
	tu2_device(t, "ct-1", "scanner", NULL);
	tu_device(t, "pump-1", NULL);
	a = tu2_issue(t, "ct-1", "P-256", NULL);
	b = tu2_issue(t, "pump-1", "P-256", NULL);
	assert_int_equal(dt_cert_revoke(t->ctx, a.serial, DT_REASON_KEY_COMPROMISE, NULL, &err),
			 DT_OK);
	assert_int_equal(dt_cert_revoke(t->ctx, b.serial, DT_REASON_CESSATION, NULL, &err), DT_OK);

	other = tu2_ca_cert(t, "other");
	crl = tu_crl(t->ctx, "other");
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(other)), 1);
	assert_int_equal(revoked_count(crl), 1);
	assert_non_null(entry_of(crl, a.serial));
	X509_CRL_free(crl);
	crl = tu_crl(t->ctx, "default");
	assert_int_equal(revoked_count(crl), 1);
	assert_non_null(entry_of(crl, b.serial));
	X509_CRL_free(crl);
	X509_free(other);

	assert_int_equal(dt_crl_generate(t->ctx, "nope", &der, &len, &err), DT_ERR_NOT_FOUND);
	assert_null(der);
	assert_int_equal(len, 0);
}

/* Rows for the many-entries test: what the store holds, and what the CRL must list. */
struct row {
	char serial[DT_SERIAL_HEX_BUF];
	int status, reason, listed;
	int64_t not_after, revoked_at;
};

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->serial, ((const struct row *)b)->serial);
}

/* Inserts rows as certificates of device dev under CA default, in one transaction. */
static void insert_rows(struct tenv *t, const char *dev, const struct row *rows, int n, int64_t now)
{
	char path[400];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/devtrust.db", t->data);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
			       "INSERT INTO certs(serial,device_id,ca,class,key_type,spki_hash,"
			       "not_before,not_after,status,reason,revoked_at,issued_at,der)"
			       " SELECT ?1,id,'default',class,1,randomblob(32),?2,?3,?4,?5,?6,?2,"
			       "x'00' FROM devices WHERE id=?7",
			       -1, &st, NULL),
	    SQLITE_OK);
	for (int i = 0; i < n; i++) {
		sqlite3_bind_text(st, 1, rows[i].serial, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now - 86400);
		sqlite3_bind_int64(st, 3, rows[i].not_after);
		sqlite3_bind_int(st, 4, rows[i].status);
		sqlite3_bind_int(st, 5, rows[i].reason);
		sqlite3_bind_int64(st, 6, rows[i].revoked_at);
		sqlite3_bind_text(st, 7, dev, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * A CRL larger than its first buffer (64 KiB, about 1,300 entries) lists every revoked
 * or held certificate that has not expired, exactly once, in serial order, with its
 * reason and revocation time, and nothing else: the entries are encoded one by one
 * into one buffer (crl.c), and OpenSSL reads them back as one CRL that verifies.
 */
static void test_many_entries(void **state)
{
	enum { N = 3000 };
	static const int reasons[] = {0, 1, 2, 3, 4, 5, 9, 10};
	struct tenv *t = *state;
	struct row *rows = calloc(N, sizeof(*rows));
	int64_t now = (int64_t)time(NULL);
	int listed = 0, k = 0;
	X509 *ca;
	X509_CRL *crl;
	STACK_OF(X509_REVOKED) * rv;
	unsigned char *der = NULL;
	size_t len = 0;
	struct dt_error err;

	assert_non_null(rows);
	tu_device(t, "crl-many", NULL);
	for (int i = 0; i < N; i++) {
		unsigned char raw[16];
		struct row *r = &rows[i];

		assert_int_equal(RAND_bytes(raw, sizeof(raw)), 1);
		raw[0] &= 0x7f;
		if (i % 97 == 0)
			raw[0] = 0; /* a leading zero octet, dropped by the INTEGER's encoding */
		for (int b = 0; b < 16; b++)
			snprintf(r->serial + 2 * b, 3, "%02x", raw[b]);
		r->not_after = now + 86400;
		r->revoked_at = now - 1000 + i % 1000;
		if (i % 10 == 8) { /* valid: not listed */
			r->status = DT_CERT_VALID;
			r->revoked_at = 0;
		} else if (i % 10 == 9) { /* revoked but expired: not listed */
			r->status = DT_CERT_REVOKED;
			r->reason = 1;
			r->not_after = now - 60;
		} else if (i % 10 == 7) {
			r->status = DT_CERT_HOLD;
			r->reason = DT_REASON_CERTIFICATE_HOLD;
			r->listed = 1;
		} else {
			r->status = DT_CERT_REVOKED;
			r->reason = reasons[i % 8];
			r->listed = 1;
		}
		listed += r->listed;
	}
	insert_rows(t, "crl-many", rows, N, now);
	qsort(rows, N, sizeof(*rows), row_cmp);

	assert_int_equal(dt_crl_generate(t->ctx, "default", &der, &len, &err), DT_OK);
	assert_true(len > 64 * 1024);
	{
		const unsigned char *p = der;

		assert_non_null(crl = d2i_X509_CRL(NULL, &p, (long)len));
		assert_ptr_equal(p, der + len);
	}
	OPENSSL_free(der);
	ca = tu2_ca_cert(t, "default");
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	X509_free(ca);
	assert_int_equal(revoked_count(crl), listed);
	rv = X509_CRL_get_REVOKED(crl);
	for (int i = 0; i < N; i++) {
		X509_REVOKED *e;
		char hex[DT_SERIAL_HEX_BUF];
		ASN1_TIME *at;

		if (!rows[i].listed)
			continue;
		e = sk_X509_REVOKED_value(rv, k++);
		tu2_serial_hex(X509_REVOKED_get0_serialNumber(e), hex);
		assert_string_equal(hex, rows[i].serial);
		/* RFC 5280 section 5.3.1: unspecified is expressed by omitting reasonCode. */
		assert_int_equal(reason_of(e), rows[i].reason ? rows[i].reason : -1);
		assert_non_null(at = ASN1_TIME_set(NULL, (time_t)rows[i].revoked_at));
		assert_int_equal(ASN1_TIME_compare(X509_REVOKED_get0_revocationDate(e), at), 0);
		ASN1_TIME_free(at);
	}
	assert_int_equal(k, listed);
	X509_CRL_free(crl);
	free(rows);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_crl_numbers_increase),
	    T(test_crl_is_signed_v2_with_aki_and_times),
	    T(test_generate_until_gives_next_update),
	    T(test_entries_and_reasons),
	    T(test_crl_scoped_to_its_ca),
	    T(test_many_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
