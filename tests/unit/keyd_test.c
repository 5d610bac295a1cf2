/*
 * Key isolation (src/ca/keyd_*.c): with the signer process started, no CA key
 * is loaded in this process, CA keys cannot be loaded or written here, the
 * signer signs what a CA may sign and refuses the rest, and a killed signer
 * is replaced. The signer is $DEVTRUST_BIN (scripts/run-tests.sh sets it);
 * without it these tests are skipped.
 */
#include "testutil.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "ca/ca_keys.h"

static int setup(void **state)
{
	const char *bin = getenv("DEVTRUST_BIN");
	struct tenv *t;
	struct dt_error err;

	if (!bin || access(bin, X_OK) != 0) {
		*state = NULL;
		return 0;
	}
	t = tenv_new(0);
	if (ca_keyd_start(t->ctx, bin, &err) != DT_OK)
		fail_msg("ca_keyd_start: %s", err.msg);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	tenv_free(*state);
	return 0;
}

#define NEED_SIGNER(t)                                                                             \
	do {                                                                                       \
		if (!(t))                                                                          \
			skip();                                                                    \
	} while (0)

static void add_ext(X509 *x, const X509 *iss, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, (X509 *)iss, x, NULL, NULL, 0);
	assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v3, nid, value));
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* An unsigned certificate for a fresh key (*key if not NULL), issued under ca's name
 * unless issuer is given, valid for lifetime_s; bc is its basicConstraints or NULL. */
static X509 *tbs_cert(const X509 *ca, const char *issuer, long lifetime_s, const char *bc,
		      EVP_PKEY **key)
{
	X509 *x = X509_new();
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_NAME *n = NULL;

	assert_non_null(x);
	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"keyd-test", -1, -1, 0);
	if (issuer) {
		assert_non_null(n = X509_NAME_new());
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)issuer, -1,
					   -1, 0);
		X509_set_issuer_name(x, n);
		X509_NAME_free(n);
	} else {
		X509_set_issuer_name(x, X509_get_subject_name(ca));
	}
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), lifetime_s);
	X509_set_pubkey(x, k);
	if (bc)
		add_ext(x, ca, NID_basic_constraints, bc);
	add_ext(x, ca, NID_key_usage,
		bc && strstr(bc, "CA:TRUE") ? "critical,keyCertSign,cRLSign"
					    : "critical,digitalSignature");
	add_ext(x, ca, NID_authority_key_identifier, "keyid:always");
	if (key)
		*key = k;
	else
		EVP_PKEY_free(k);
	return x;
}

static const struct ca_signer *signer(struct tenv *t, const char *name)
{
	const struct ca_signer *s = NULL;
	struct dt_error err;

	if (ca_signer_get(t->ctx, name, CA_USE_ISSUE, &s, &err) != DT_OK)
		fail_msg("ca_signer_get %s: %s", name, err.msg);
	return s;
}

static void sign_ok(const struct ca_signer *s)
{
	X509 *x = tbs_cert(ca_signer_cert(s), NULL, 3600, "critical,CA:FALSE", NULL);
	struct dt_error err;

	if (ca_sign_cert(s, &x, &err) != DT_OK)
		fail_msg("ca_sign_cert: %s", err.msg);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca_signer_cert(s))), 1);
	X509_free(x);
}

/* The signer refuses x with code and a message containing want. */
static void sign_refused(const struct ca_signer *s, X509 *x, dt_code code, const char *want)
{
	struct dt_error err;

	assert_int_equal(ca_sign_cert(s, &x, &err), code);
	if (!strstr(err.msg, want))
		fail_msg("want /%s/ in: %s", want, err.msg);
	X509_free(x);
}

static void test_isolated_issuance(void **state)
{
	struct tenv *t = *state;
	EVP_PKEY *k = NULL;
	struct dt_error err;

	NEED_SIGNER(t);
	assert_true(ca_keyd_pid(t->ctx) > 0);
	assert_int_not_equal(ca_keyd_pid(t->ctx), getpid());
	sign_ok(signer(t, "default"));
	sign_ok(signer(t, "root"));
	/* Both CAs are in use, and neither key is in this process. */
	assert_int_equal(ca_keyring_ca_keys_loaded(t->ctx), 0);
	assert_int_equal(ca_key_load(t->ctx, "default.key", &k, &err), DT_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "only the signer process holds CA keys"));
	assert_null(k);
	assert_int_equal(ca_key_load(t->ctx, "root.key", &k, &err), DT_ERR_INTERNAL);
	assert_null(k);
	assert_int_equal(ca_key_generate("P-256", &k, &err), DT_OK);
	assert_int_equal(ca_key_save(t->ctx, "new-ca.key", k, &err), DT_ERR_INTERNAL);
	EVP_PKEY_free(k);
	k = NULL;
	/* The server's own keys still load here. */
	assert_int_equal(ca_key_load(t->ctx, "tls.key", &k, &err), DT_OK);
	EVP_PKEY_free(k);
	k = NULL;
	assert_int_equal(ca_key_load(t->ctx, "default-ocsp.key", &k, &err), DT_OK);
	EVP_PKEY_free(k);
}

static void test_policy_refusals(void **state)
{
	struct tenv *t = *state;
	const struct ca_signer *s;
	const X509 *ca;
	X509 *x;

	NEED_SIGNER(t);
	s = signer(t, "default");
	ca = ca_signer_cert(s);
	sign_refused(s, tbs_cert(ca, NULL, 3600, "critical,CA:TRUE,pathlen:0", NULL), DT_ERR_STATE,
		     "did not generate for a new CA");
	sign_refused(s, tbs_cert(ca, NULL, 3600, NULL, NULL), DT_ERR_STATE,
		     "without basicConstraints");
	sign_refused(s, tbs_cert(ca, "someone else", 3600, "critical,CA:FALSE", NULL),
		     DT_ERR_INVALID, "issuer is not the CA's subject");
	sign_refused(s, tbs_cert(ca, NULL, 30L * 365 * 86400, "critical,CA:FALSE", NULL),
		     DT_ERR_INVALID, "validity is not within the CA's");
	x = tbs_cert(ca, NULL, 3600, "critical,CA:FALSE", NULL);
	add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
	sign_refused(s, x, DT_ERR_INVALID, "more than once");
}

static void test_key_creation_refusals(void **state)
{
	struct tenv *t = *state;
	EVP_PKEY *pub = NULL, *other = EVP_EC_gen("P-256");
	struct dt_error err;

	NEED_SIGNER(t);
	assert_int_equal(ca_key_generate_ca(t->ctx, "P-521", &pub, &err), DT_ERR_INVALID);
	assert_int_equal(ca_key_generate_ca(t->ctx, "P-256", &pub, &err), DT_OK);
	assert_int_equal(ca_key_save_ca(t->ctx, "../evil.key", pub, &err), DT_ERR_INVALID);
	assert_int_equal(ca_key_save_ca(t->ctx, "evil-ocsp.key", pub, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "CA keys only"));
	/* Only a key the signer generated is saved: not one made here. */
	assert_int_equal(ca_key_save_ca(t->ctx, "other.key", other, &err), DT_ERR_STATE);
	assert_int_equal(ca_key_save_ca(t->ctx, "new.key", pub, &err), DT_OK);
	/* O_EXCL: never over another key file. */
	assert_int_equal(ca_key_save_ca(t->ctx, "default.key", pub, &err) == DT_OK, 0);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
}

static void test_crl_and_new_ca(void **state)
{
	struct tenv *t = *state;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl;
	struct stat st;
	char path[512];
	struct dt_error err;

	NEED_SIGNER(t);
	if (dt_crl_generate(t->ctx, "default", &der, &len, &err) != DT_OK)
		fail_msg("crl: %s", err.msg);
	p = der;
	assert_non_null(crl = d2i_X509_CRL(NULL, &p, (long)len));
	assert_int_equal(
	    X509_CRL_verify(crl, X509_get0_pubkey(ca_signer_cert(signer(t, "default")))), 1);
	X509_CRL_free(crl);
	OPENSSL_free(der);
	/* A new issuing CA (the admin API does this in the server): its key is generated,
	 * saved and certified by the signer, and never comes here. */
	if (dt_ca_add(t->ctx, "second", &err) != DT_OK)
		fail_msg("ca add: %s", err.msg);
	snprintf(path, sizeof(path), "%s/keys/second.key", t->data);
	assert_int_equal(stat(path, &st), 0);
	sign_ok(signer(t, "second"));
	assert_int_equal(ca_keyring_ca_keys_loaded(t->ctx), 0);
	if (dt_crl_generate(t->ctx, "second", &der, &len, &err) != DT_OK)
		fail_msg("crl second: %s", err.msg);
	OPENSSL_free(der);
}

static void test_admin_ca(void **state)
{
	struct tenv *t = *state;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *ca = NULL;
	struct dt_error err;

	NEED_SIGNER(t);
	/* The first operator credential creates the Admin CA: a self-signed CA whose key
	 * the signer generated. */
	if (ca_admin_issue(t->ctx, "op-1", 3600, &key, &cert, &ca, &err) != DT_OK)
		fail_msg("admin issue: %s", err.msg);
	assert_int_equal(X509_verify(ca, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca)), 1);
	assert_int_equal(ca_keyring_ca_keys_loaded(t->ctx), 0);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
}

static void test_restart(void **state)
{
	struct tenv *t = *state;
	const struct ca_signer *s;
	int pid;

	NEED_SIGNER(t);
	s = signer(t, "default");
	pid = ca_keyd_pid(t->ctx);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* The request finds its signer gone, or waits for the next: either way it is signed. */
	sign_ok(s);
	assert_true(ca_keyd_pid(t->ctx) > 0);
	assert_int_not_equal(ca_keyd_pid(t->ctx), pid);
	assert_int_equal(ca_keyd_restarts(t->ctx), 1);
	sign_ok(s);
}

static void test_stopped_signs_nothing(void **state)
{
	struct tenv *t = *state;
	X509 *x;
	const struct ca_signer *s;

	NEED_SIGNER(t);
	s = signer(t, "default");
	ca_keyd_stop(t->ctx);
	assert_int_equal(ca_keyd_pid(t->ctx), 0);
	/* No fallback to a key in this process. */
	x = tbs_cert(ca_signer_cert(s), NULL, 3600, "critical,CA:FALSE", NULL);
	sign_refused(s, x, DT_ERR_IO, "has stopped");
	assert_int_equal(ca_keyring_ca_keys_loaded(t->ctx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_isolated_issuance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_creation_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crl_and_new_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stopped_signs_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
