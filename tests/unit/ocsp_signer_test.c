/*
 * Renewal of the delegated OCSP signers: when it is due, what a renewal
 * writes (key file, certificate, audit event), that OCSP answers switch to
 * the new signer in this process and, on reload, in another one, and what is
 * refused.
 */
#include "testutil.h" /* first: it sets the feature macros */

#include <dirent.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "ca/ca.h"
#include "devtrust/ocsp.h"

#define DAY (24 * 3600LL)

/* The decision alone: two thirds of the validity, never for a signer that ends with its CA. */
static void test_renew_at(void **state)
{
	const int64_t year = 365 * DAY, t0 = 1700000000;

	(void)state;
	assert_int_equal(dt_ocsp_signer_renew_at(t0, t0 + 300, t0 + year), t0 + 200);
	assert_int_equal(dt_ocsp_signer_renew_at(t0, t0 + year, t0 + 10 * year),
			 t0 + year - year / 3);
	/* A signer made with a 60 s lifetime (validity 120 s with the backdating) is due
	 * 80 s into its validity, 20 s after it was made. */
	assert_int_equal(dt_ocsp_signer_renew_at(t0 - 60, t0 + 60, t0 + year), t0 + 20);
	/* Expired: due at once (renew_at is in the past). */
	assert_true(dt_ocsp_signer_renew_at(t0 - 2 * year, t0 - year, t0 + year) < t0);
	/* Ending with its CA, or after it: a new one would end there too. */
	assert_int_equal(dt_ocsp_signer_renew_at(t0, t0 + year, t0 + year), 0);
	assert_int_equal(dt_ocsp_signer_renew_at(t0, t0 + year, t0 + 100), 0);
	/* Nonsense validity. */
	assert_int_equal(dt_ocsp_signer_renew_at(t0, t0, t0 + year), 0);
	assert_int_equal(dt_ocsp_signer_renew_at(t0 + 5, t0, t0 + year), 0);
}

static struct dt_ocsp_signer_info signer(struct tenv *t, const char *ca)
{
	struct dt_ocsp_signer_info s;
	struct dt_error err;

	if (dt_ca_ocsp_signer(t->ctx, ca, &s, &err) != DT_OK)
		fail_msg("signer of %s: %s", ca, err.msg);
	return s;
}

/* The signer certificate in an OCSP response about leaf, verified against root+default. */
static X509 *responder(struct dt_ctx *ctx, struct tenv *t, X509 *leaf)
{
	X509 *def = tu2_ca_cert(t, "default"), *root = tu2_ca_cert(t, "root"), *who = NULL;
	X509_STORE *st = X509_STORE_new();
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, def);
	struct dt_ocsp_result r;
	struct dt_error err;
	unsigned char *der = NULL;
	const unsigned char *p;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	int n;

	assert_non_null(id);
	assert_non_null(OCSP_request_add0_id(req, id));
	assert_true((n = i2d_OCSP_REQUEST(req, &der)) > 0);
	if (dt_ocsp_respond(ctx, der, (size_t)n, &r, &err) != DT_OK)
		fail_msg("respond: %s", err.msg);
	assert_int_equal(r.status, OCSP_RESPONSE_STATUS_SUCCESSFUL);
	p = r.der;
	assert_non_null(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r.len));
	assert_non_null(bs = OCSP_response_get1_basic(resp));
	assert_int_equal(X509_STORE_add_cert(st, root), 1);
	assert_int_equal(X509_STORE_add_cert(st, def), 1);
	if (OCSP_basic_verify(bs, NULL, st, 0) != 1)
		fail_msg("OCSP_basic_verify refuses the response");
	assert_int_equal(OCSP_resp_get0_signer(bs, &who, NULL), 1);
	who = X509_dup(who);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	dt_ocsp_result_free(&r);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	X509_STORE_free(st);
	X509_free(def);
	X509_free(root);
	return who;
}

static void serial_of(const X509 *x, char out[DT_SERIAL_HEX_BUF])
{
	tu2_serial_hex(X509_get0_serialNumber(x), out);
}

static int key_file_mode(struct tenv *t, const char *file)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/keys/%s", t->data, file);
	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* Key files of renewed signers ("<ca>-ocsp.<serial>.key") in DATA/keys. */
static int renewed_key_files(struct tenv *t)
{
	char path[600];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/keys", t->data);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)))
		if (strstr(e->d_name, "-ocsp.") && strcmp(strstr(e->d_name, "-ocsp."), "-ocsp.key"))
			n++;
	closedir(d);
	return n;
}

static int saw_renewal;
static int audit_cb(void *arg, const struct dt_audit_event *e)
{
	const char *serial = arg;

	if (strcmp(e->action, "ca.ocsp_renew") == 0 && strstr(e->details, serial))
		saw_renewal = 1;
	return 0;
}

static void test_renewal_switches_the_responder(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ocsp_signer_info before = signer(t, "default"), after;
	struct dt_open_opts oo = {t->data, NULL, "other-process", 0};
	struct dt_ctx *other = NULL;
	const struct ca_signer *held = NULL;
	X509 *leaf, *who;
	char got[DT_SERIAL_HEX_BUF], file[200];
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();

	tu_device(t, "pump-1", NULL);
	tu2_issue(t, "pump-1", "P-256", &leaf);
	/* This process and another one both sign with the first signer. */
	who = responder(t->ctx, t, leaf);
	serial_of(who, got);
	assert_string_equal(got, before.serial);
	X509_free(who);
	assert_int_equal(dt_open(&oo, &other, &err), DT_OK);
	who = responder(other, t, leaf);
	X509_free(who);
	assert_int_equal(key_file_mode(t, "default-ocsp.key"), 0600);
	/* A request in flight holds the old signer across the renewal. */
	assert_int_equal(ca_ocsp_signer_get(t->ctx, "default", &held, &err), DT_OK);

	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "default", 0, &after, &err), DT_OK);
	assert_string_not_equal(after.serial, before.serial);
	assert_string_not_equal(after.fingerprint, before.fingerprint);
	/* The same lifetime as the one it replaces. */
	assert_true(llabs((after.not_after - after.not_before) -
			  (before.not_after - before.not_before)) <= 2);
	assert_int_equal(after.renew_at,
			 after.not_after - (after.not_after - after.not_before) / 3);
	{
		struct dt_ocsp_signer_info again = signer(t, "default");
		assert_string_equal(again.serial, after.serial);
	}

	/* The old signer still works for whoever holds it; the last holder frees it. */
	serial_of(ca_signer_cert(held), got);
	assert_string_equal(got, before.serial);
	assert_int_equal(ca_sign_ocsp(held, bs, &err), DT_OK);
	ca_signer_put(held);

	/* This process answers with the new signer at once. */
	who = responder(t->ctx, t, leaf);
	serial_of(who, got);
	assert_string_equal(got, after.serial);
	X509_free(who);

	/* The other process until it reloads: the old one (still valid), then the new one. */
	who = responder(other, t, leaf);
	serial_of(who, got);
	assert_string_equal(got, before.serial);
	X509_free(who);
	assert_int_equal(dt_ca_ocsp_signer_reload(other, "default", &err), DT_OK);
	who = responder(other, t, leaf);
	serial_of(who, got);
	assert_string_equal(got, after.serial);
	X509_free(who);
	/* Reloading again changes nothing. */
	assert_int_equal(dt_ca_ocsp_signer_reload(other, "default", &err), DT_OK);

	/* Key files: the new one private, the replaced one gone. */
	snprintf(file, sizeof(file), "default-ocsp.%s.key", after.serial);
	assert_int_equal(key_file_mode(t, file), 0600);
	assert_int_equal(key_file_mode(t, "default-ocsp.key"), -1);
	/* The root's signer was not touched. */
	assert_int_equal(key_file_mode(t, "root-ocsp.key"), 0600);

	saw_renewal = 0;
	assert_int_equal(dt_audit_list(t->ctx, "default", audit_cb, after.serial, &err), DT_OK);
	assert_true(saw_renewal);
	{
		int64_t checked = 0, bad = 0;
		assert_int_equal(dt_audit_verify(t->ctx, &checked, &bad, &err), DT_OK);
	}

	/* A second renewal replaces the renewed key file too. */
	before = after;
	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "default", 3600, &after, &err), DT_OK);
	assert_true(llabs(after.not_after - after.not_before - 3660) <= 2);
	assert_int_equal(key_file_mode(t, file), -1);
	snprintf(file, sizeof(file), "default-ocsp.%s.key", after.serial);
	assert_int_equal(key_file_mode(t, file), 0600);
	assert_int_equal(renewed_key_files(t), 1);
	who = responder(t->ctx, t, leaf);
	serial_of(who, got);
	assert_string_equal(got, after.serial);
	X509_free(who);

	OCSP_BASICRESP_free(bs);
	dt_close(other);
	X509_free(leaf);
}

static void test_renew_due(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ocsp_signer_info root = signer(t, "root"), def = signer(t, "default");
	int64_t next = 0, last;
	int renewed = -1;

	/* Fresh from init (a year): nothing is due, and the plan names the earliest. */
	assert_int_equal(dt_ca_ocsp_renew_due(t->ctx, dt_now(), &renewed, &next, &err), DT_OK);
	assert_int_equal(renewed, 0);
	assert_int_equal(next, root.renew_at < def.renew_at ? root.renew_at : def.renew_at);
	assert_true(next > dt_now() + 200 * DAY);
	/* Once both are due, both are renewed, and the plan moves on. */
	last = root.renew_at > def.renew_at ? root.renew_at : def.renew_at;
	assert_int_equal(dt_ca_ocsp_renew_due(t->ctx, last, &renewed, &next, &err), DT_OK);
	assert_int_equal(renewed, 2);
	assert_string_not_equal(signer(t, "root").serial, root.serial);
	assert_string_not_equal(signer(t, "default").serial, def.serial);
	/* The new ones were made now, for a year: due in eight months. */
	assert_true(next > dt_now() + 200 * DAY);
	/* A revoked CA's signer is left alone. */
	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	assert_int_equal(dt_ca_revoke(t->ctx, "vendor-a", DT_REASON_KEY_COMPROMISE, &err), DT_OK);
	def = signer(t, "vendor-a");
	assert_int_equal(dt_ca_ocsp_renew_due(t->ctx, def.not_after + 1, &renewed, &next, &err),
			 DT_OK);
	assert_string_equal(signer(t, "vendor-a").serial, def.serial);
}

static void test_refusals(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ocsp_signer_info s;
	struct dt_ca_opts o = {30};

	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "nosuch", 0, &s, &err), DT_ERR_NOT_FOUND);
	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "../x", 0, &s, &err), DT_ERR_INVALID);
	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "default", 59, &s, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "between 60s"));
	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "default", 367 * DAY, &s, &err), DT_ERR_INVALID);
	assert_int_equal(dt_ca_add_opts(t->ctx, "vendor-b", &o, &err), DT_ERR_INVALID);
	o.ocsp_lifetime_s = 7 * DAY;
	assert_int_equal(dt_ca_add_opts(t->ctx, "vendor-b", &o, &err), DT_OK);
	s = signer(t, "vendor-b");
	assert_true(llabs(s.not_after - s.not_before - 7 * DAY - 60) <= 2);
	assert_int_equal(dt_ca_revoke(t->ctx, "vendor-b", DT_REASON_UNSPECIFIED, &err), DT_OK);
	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "vendor-b", 0, &s, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "revoked"));
	/* Nothing of the refused renewals was left in keys/. */
	assert_int_equal(renewed_key_files(t), 0);
}

/* A root from before devtrust answered OCSP has no signer: renew-ocsp makes one. */
static void test_root_without_signer_gets_one(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ocsp_signer_info s;

	tu2_sql(t, "UPDATE cas SET ocsp_cert=NULL WHERE name='root'");
	assert_int_equal(dt_ca_ocsp_signer(t->ctx, "root", &s, &err), DT_ERR_NOT_FOUND);
	assert_int_equal(dt_ca_ocsp_renew(t->ctx, "root", 0, &s, &err), DT_OK);
	assert_true(llabs(s.not_after - s.not_before - DT_OCSP_SIGNER_LIFETIME_S - 60) <= 2);
	assert_string_equal(signer(t, "root").serial, s.serial);
}

/* init --ocsp-lifetime: both signers of a new data dir; out of range refused. */
static void test_init_lifetime(void **state)
{
	char root[] = "/tmp/dt-unit-XXXXXX", data[64];
	struct dt_init_opts io;
	struct dt_open_opts oo;
	struct dt_ctx *ctx = NULL;
	struct dt_error err;
	struct dt_ocsp_signer_info s;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(data, sizeof(data), "%s/data", root);
	setenv("DEVTRUST_PASSPHRASE", "unit-test-passphrase", 1);
	memset(&io, 0, sizeof(io));
	io.data_dir = data;
	io.org = "testorg";
	io.ocsp_lifetime_s = 30;
	assert_int_equal(dt_init(&io, &err), DT_ERR_INVALID);
	io.ocsp_lifetime_s = 90;
	assert_int_equal(dt_init(&io, &err), DT_OK);
	memset(&oo, 0, sizeof(oo));
	oo.data_dir = data;
	assert_int_equal(dt_open(&oo, &ctx, &err), DT_OK);
	assert_int_equal(dt_ca_ocsp_signer(ctx, "root", &s, &err), DT_OK);
	assert_true(llabs(s.not_after - s.not_before - 150) <= 2);
	assert_int_equal(dt_ca_ocsp_signer(ctx, "default", &s, &err), DT_OK);
	assert_true(llabs(s.not_after - s.not_before - 150) <= 2);
	assert_int_equal(s.renew_at, s.not_after - 50);
	dt_close(ctx);
	dt_remove_tree(root);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_renew_at),
	    T(test_renewal_switches_the_responder),
	    T(test_renew_due),
	    T(test_refusals),
	    T(test_root_without_signer_gets_one),
	    cmocka_unit_test(test_init_lifetime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
