/*
 * The CA hierarchy (DESIGN.md section 3): issuing CAs signed by the root,
 * their key files, the passphrase that unlocks them, and revocation of an
 * issuing CA at the root.
 */
#include "testutil.h"

#include <openssl/x509v3.h>
#include <sys/stat.h>

static void test_add_issuing_ca_signed_by_root(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ca_info info;
	X509 *root, *ca;
	BASIC_CONSTRAINTS *bc;
	unsigned char md[32];
	unsigned int md_len = sizeof(md);
	char fp[65];
	int i;

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	root = tu2_ca_cert(t, "root");
	ca = tu2_ca_cert(t, "vendor-a");
	assert_int_equal(X509_verify(ca, X509_get0_pubkey(root)), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(ca), X509_get_subject_name(root)), 0);
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(ca), X509_get0_subject_key_id(root)),
	    0);
	/* Not signed by the other issuing CA. */
	{
		X509 *def = tu2_ca_cert(t, "default");
		assert_int_not_equal(X509_verify(ca, X509_get0_pubkey(def)), 1);
		X509_free(def);
	}

	i = X509_get_ext_by_NID(ca, NID_basic_constraints, -1);
	assert_true(i >= 0);
	assert_true(X509_EXTENSION_get_critical(X509_get_ext(ca, i)));
	bc = X509_get_ext_d2i(ca, NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_non_null(bc->pathlen);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(ca) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN),
			 KU_KEY_CERT_SIGN | KU_CRL_SIGN);

	assert_int_equal(dt_ca_get(t->ctx, "vendor-a", &info, &err), DT_OK);
	assert_string_equal(info.kind, "issuing");
	assert_string_equal(info.parent, "root");
	assert_false(info.revoked);
	assert_int_equal(X509_digest(ca, EVP_sha256(), md, &md_len), 1);
	for (unsigned k = 0; k < 32; k++)
		snprintf(fp + 2 * k, 3, "%02x", md[k]);
	assert_string_equal(info.fingerprint, fp);
	X509_free(root);
	X509_free(ca);
}

/* A device certificate from the new CA chains to the root through it, and only it. */
static void test_new_ca_issues_chaining_certs(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info info;
	X509 *root, *ca, *leaf, *def;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	tu2_class(t, "infusion", "vendor-a", DT_KEY_EC_P256, 86400, 0);
	tu2_device(t, "pump-1", "infusion", NULL);
	info = tu2_issue(t, "pump-1", "P-256", &leaf);
	assert_string_equal(info.ca, "vendor-a");
	root = tu2_ca_cert(t, "root");
	ca = tu2_ca_cert(t, "vendor-a");
	def = tu2_ca_cert(t, "default");
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(ca)), 1);
	assert_int_not_equal(X509_verify(leaf, X509_get0_pubkey(def)), 1);

	assert_int_equal(X509_STORE_add_cert(store, root), 1);
	sk_X509_push(chain, ca);
	assert_int_equal(X509_STORE_CTX_init(sctx, store, leaf, chain), 1);
	X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(sctx) != 1)
		fail_msg("chain does not verify: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
	X509_STORE_CTX_free(sctx);
	sk_X509_free(chain);
	X509_STORE_free(store);
	X509_free(root);
	X509_free(ca);
	X509_free(def);
	X509_free(leaf);
}

static int count_ca(void *arg, const struct dt_ca_info *ca)
{
	(void)ca;
	(*(int *)arg)++;
	return 0;
}

static int key_file_exists(struct tenv *t, const char *file)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/keys/%s", t->data, file);
	return access(path, F_OK) == 0;
}

static void test_names_refused(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	static const char *const bad[] = {
	    "",	    "Vendor",
	    "a/b",  "../x",
	    "a b",  "-lead",
	    "a.b",  "a_b",
	    "café", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */};
	int before = 0, after = 0;

	assert_int_equal(dt_ca_list(t->ctx, count_ca, &before, &err), DT_OK);
	assert_int_equal(before, 2); /* root and default */
	assert_int_equal(dt_ca_add(t->ctx, "default", &err), DT_ERR_EXISTS);
	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "vendor-a"));
	assert_int_equal(dt_ca_add(t->ctx, "root", &err), DT_ERR_INVALID);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dt_ca_add(t->ctx, bad[i], &err) != DT_ERR_INVALID)
			fail_msg("CA name '%s' was not refused as invalid", bad[i]);
	}
	assert_int_equal(dt_ca_list(t->ctx, count_ca, &after, &err), DT_OK);
	assert_int_equal(after, before + 1);
	assert_false(key_file_exists(t, "Vendor.key"));
	assert_false(key_file_exists(t, "-lead.key"));
	/* The existing key of the root survived the attempt to reuse its name. */
	assert_true(key_file_exists(t, "root.key"));
}

/*
 * Long names within the 64-character name limit: either a working CA, or
 * refused up front as invalid; never a half-made CA with a key file left.
 */
static void test_long_names_all_or_nothing(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	char name[DT_ID_BUF], file[DT_ID_BUF + 16];
	struct dt_ca_info info;

	for (int len = 50; len <= 64; len++) {
		dt_code rc;

		memset(name, 'a', (size_t)len);
		name[len] = '\0';
		rc = dt_ca_add(t->ctx, name, &err);
		snprintf(file, sizeof(file), "%s.key", name);
		if (rc == DT_OK) {
			assert_int_equal(dt_ca_get(t->ctx, name, &info, &err), DT_OK);
			continue;
		}
		if (rc != DT_ERR_INVALID)
			fail_msg("CA name of %d characters: got %s (%s), want ok or invalid", len,
				 dt_code_name(rc), err.msg);
		assert_int_equal(dt_ca_get(t->ctx, name, &info, &err), DT_ERR_NOT_FOUND);
		if (key_file_exists(t, file))
			fail_msg("refused CA name of %d characters left keys/%s behind", len, file);
	}
}

static void check_key_file(struct tenv *t, const char *file)
{
	char path[512], head[64];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys/%s", t->data, file);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	if ((st.st_mode & 0777) != 0600)
		fail_msg("%s has mode %o, want 0600", file, (unsigned)(st.st_mode & 0777));
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(head, sizeof(head), f));
	fclose(f);
	assert_string_equal(head, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
}

static void test_key_files_private_and_encrypted(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct stat st;
	char path[512];

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	check_key_file(t, "vendor-a.key");
	check_key_file(t, "vendor-a-ocsp.key");
	check_key_file(t, "root.key");
	check_key_file(t, "default.key");
	snprintf(path, sizeof(path), "%s/keys", t->data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static struct dt_ctx *open_with_passphrase(struct tenv *t, const char *pass)
{
	struct dt_open_opts oo;
	struct dt_error err;
	struct dt_ctx *ctx = NULL;

	setenv("DEVTRUST_PASSPHRASE", pass, 1);
	memset(&oo, 0, sizeof(oo));
	oo.data_dir = t->data;
	oo.actor = "unit-test-2";
	if (dt_open(&oo, &ctx, &err) != DT_OK)
		fail_msg("open: %s", err.msg);
	return ctx;
}

static void test_wrong_passphrase_refuses_issuance(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ctx *bad;
	int cas_before = 0, cas_after = 0;
	unsigned char *csr, *der = NULL;
	size_t len, der_len = 99;

	tu_device(t, "pump-1", NULL);
	assert_int_equal(dt_ca_list(t->ctx, count_ca, &cas_before, &err), DT_OK);
	bad = open_with_passphrase(t, "not-the-passphrase");
	csr = tu_csr("P-256", NULL, &len);
	assert_int_equal(dt_cert_issue(bad, "pump-1", csr, len, NULL, &der, &der_len, NULL, &err),
			 DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "passphrase"));
	assert_null(der);
	assert_int_equal(der_len, 0);
	assert_int_equal(tu2_cert_count(t), 0);
	/* The device did not become active either. */
	{
		struct dt_device d;
		assert_int_equal(dt_device_get(t->ctx, "pump-1", &d, &err), DT_OK);
		assert_int_equal(d.state, DT_STATE_REGISTERED);
	}
	/* Nor can a CA be added or a CRL signed. */
	assert_int_equal(dt_ca_add(bad, "vendor-b", &err), DT_ERR_AUTH);
	assert_false(key_file_exists(t, "vendor-b.key"));
	assert_int_equal(dt_ca_list(t->ctx, count_ca, &cas_after, &err), DT_OK);
	assert_int_equal(cas_after, cas_before);
	{
		unsigned char *crl = NULL;
		size_t crl_len = 0;
		assert_int_equal(dt_crl_generate(bad, "default", &crl, &crl_len, &err),
				 DT_ERR_AUTH);
		assert_null(crl);
	}
	{
		struct dt_ca_info info;
		assert_int_equal(dt_ca_get(t->ctx, "default", &info, &err), DT_OK);
		assert_int_equal(info.crl_number, 0); /* no number burnt by the failure */
	}
	dt_close(bad);

	/* The right passphrase in a fresh context works. */
	bad = open_with_passphrase(t, "unit-test-passphrase");
	assert_int_equal(dt_cert_issue(bad, "pump-1", csr, len, NULL, &der, &der_len, NULL, &err),
			 DT_OK);
	OPENSSL_free(der);
	dt_close(bad);
	assert_int_equal(tu2_cert_count(t), 1);
	OPENSSL_free(csr);
}

static int revoked_count(X509_CRL *crl)
{
	STACK_OF(X509_REVOKED) *rv = X509_CRL_get_REVOKED(crl);

	return rv ? sk_X509_REVOKED_num(rv) : 0;
}

static void test_revoked_ca_on_root_crl(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ca_info info;
	X509 *root, *ca, *def;
	X509_CRL *crl;
	X509_REVOKED *rv = NULL;
	ASN1_ENUMERATED *reason;

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	root = tu2_ca_cert(t, "root");
	ca = tu2_ca_cert(t, "vendor-a");
	def = tu2_ca_cert(t, "default");

	crl = tu_crl(t->ctx, "root");
	assert_int_equal(revoked_count(crl), 0);
	X509_CRL_free(crl);

	assert_int_equal(dt_ca_revoke(t->ctx, "vendor-a", DT_REASON_CA_COMPROMISE, &err), DT_OK);
	assert_int_equal(dt_ca_get(t->ctx, "vendor-a", &info, &err), DT_OK);
	assert_true(info.revoked);
	assert_int_equal(info.reason, DT_REASON_CA_COMPROMISE);
	assert_int_equal(dt_ca_revoke(t->ctx, "vendor-a", DT_REASON_CA_COMPROMISE, &err),
			 DT_ERR_STATE);
	assert_int_equal(dt_ca_revoke(t->ctx, "root", DT_REASON_CA_COMPROMISE, &err),
			 DT_ERR_INVALID);
	assert_int_equal(dt_ca_revoke(t->ctx, "nope", DT_REASON_CA_COMPROMISE, &err),
			 DT_ERR_NOT_FOUND);

	crl = tu_crl(t->ctx, "root");
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(root)), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(root)), 0);
	assert_int_equal(revoked_count(crl), 1);
	assert_int_equal(X509_CRL_get0_by_serial(crl, &rv, X509_get0_serialNumber(ca)), 1);
	assert_non_null(rv);
	reason = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, NULL, NULL);
	assert_non_null(reason);
	assert_int_equal(ASN1_ENUMERATED_get(reason), DT_REASON_CA_COMPROMISE);
	ASN1_ENUMERATED_free(reason);
	assert_int_equal(X509_CRL_get0_by_serial(crl, &rv, X509_get0_serialNumber(def)), 0);
	X509_CRL_free(crl);
	X509_free(root);
	X509_free(ca);
	X509_free(def);
}

static void test_revoked_ca_refuses_new_class(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_class cl, got;

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	assert_int_equal(dt_ca_revoke(t->ctx, "vendor-a", DT_REASON_CA_COMPROMISE, &err), DT_OK);
	dt_class_defaults(&cl);
	strcpy(cl.name, "infusion");
	strcpy(cl.ca, "vendor-a");
	assert_int_equal(dt_class_add(t->ctx, &cl, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "revoked"));
	assert_int_equal(dt_class_get(t->ctx, "infusion", &got, &err), DT_ERR_NOT_FOUND);
	strcpy(cl.ca, "root");
	assert_int_equal(dt_class_add(t->ctx, &cl, &err), DT_ERR_INVALID);
	strcpy(cl.ca, "nope");
	assert_int_equal(dt_class_add(t->ctx, &cl, &err), DT_ERR_NOT_FOUND);
}

/*
 * Revoking an issuing CA stops issuance under it at once, including in a
 * context (such as a running server) that unlocked the CA before.
 */
static void test_revoked_ca_stops_issuing(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_ctx *fresh;
	unsigned char *csr, *der = NULL;
	size_t len, der_len;
	dt_code rc;

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	tu2_class(t, "infusion", "vendor-a", DT_KEY_EC_P256, 86400, 0);
	tu2_device(t, "pump-1", "infusion", NULL);
	tu2_issue(t, "pump-1", "P-256", NULL); /* unlocks vendor-a in t->ctx */
	assert_int_equal(dt_ca_revoke(t->ctx, "vendor-a", DT_REASON_CA_COMPROMISE, &err), DT_OK);
	csr = tu_csr("P-256", NULL, &len);

	fresh = open_with_passphrase(t, "unit-test-passphrase");
	rc = dt_cert_issue(fresh, "pump-1", csr, len, NULL, &der, &der_len, NULL, &err);
	assert_int_equal(rc, DT_ERR_STATE);
	assert_null(der);
	dt_close(fresh);

	rc = dt_cert_issue(t->ctx, "pump-1", csr, len, NULL, &der, &der_len, NULL, &err);
	OPENSSL_free(der);
	OPENSSL_free(csr);
	if (rc != DT_ERR_STATE)
		fail_msg("issuance under revoked CA vendor-a in the context that unlocked it: got "
			 "%s, want DT_ERR_STATE; certificates now %lld",
			 dt_code_name(rc), (long long)tu2_cert_count(t));
	assert_int_equal(tu2_cert_count(t), 1);
}

static int teardown(void **state)
{
	tenv_free(*state);
	setenv("DEVTRUST_PASSPHRASE", "unit-test-passphrase", 1);
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_add_issuing_ca_signed_by_root),
	    T(test_new_ca_issues_chaining_certs),
	    T(test_names_refused),
	    T(test_long_names_all_or_nothing),
	    T(test_key_files_private_and_encrypted),
	    T(test_wrong_passphrase_refuses_issuance),
	    T(test_revoked_ca_on_root_crl),
	    T(test_revoked_ca_refuses_new_class),
	    T(test_revoked_ca_stops_issuing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
