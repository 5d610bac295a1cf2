/*
 * Key isolation (src/ca/keyd_*.c): with the signer process started, no CA key
 * is loaded in this process, CA keys cannot be loaded or written here, the
 * signer signs what a CA may sign and refuses the rest, and a killed signer
 * is replaced. The signer is $DEVTRUST_BIN (scripts/run-tests.sh sets it);
 * without it these tests are skipped.
 */
#include "testutil.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "ca/asn1.h"
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

/* What is wrong with a to-be-signed CRL sent to the signer (crl_tbs). */
enum crl_flaw {
	CRL_GOOD,
	CRL_NO_VERSION,
	CRL_OTHER_ISSUER,
	CRL_ISSUER_UPPER_CASE,
	CRL_OTHER_ALGORITHM,
	CRL_NO_NEXT_UPDATE,
	CRL_NEXT_BEFORE_THIS,
	CRL_NEXT_TOO_LATE,
	CRL_THIS_AHEAD,
	CRL_TIME_GENERALIZED,
	CRL_EXTENSION_TWICE,
	CRL_NO_AKI,
	CRL_OTHER_EXTENSION,
	CRL_EMPTY_LIST,
	CRL_BER_ENTRY,
	CRL_NOT_AN_ENTRY,
	CRL_SERIAL_ZERO,
	CRL_ENTRY_OTHER_EXTENSION,
	CRL_ENTRY_REASON_CRITICAL,
	/* BER where DER is due, outside the entries and extensions the signer checks on
	 * their own: the TBSCertList's own length, the version's, the extensions' [0]. */
	CRL_BER_OUTER,
	CRL_BER_VERSION,
	CRL_BER_EXTENSIONS_TAG,
};

/* The subject of ca with every value in upper case: equal to it for X509_NAME_cmp,
 * which compares canonical forms, but other bytes. */
static X509_NAME *upper_name(const X509 *ca)
{
	const X509_NAME *n = X509_get_subject_name(ca);
	X509_NAME *up = X509_NAME_new();

	assert_non_null(up);
	for (int i = 0; i < X509_NAME_entry_count(n); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
		unsigned char text[256];
		int len = ASN1_STRING_length(v);

		assert_true(len > 0 && len < (int)sizeof(text));
		for (int k = 0; k < len; k++)
			text[k] = (unsigned char)toupper(ASN1_STRING_get0_data(v)[k]);
		assert_int_equal(X509_NAME_add_entry_by_OBJ(up, X509_NAME_ENTRY_get_object(e),
							    ASN1_STRING_type(v), text, len, -1, 0),
				 1);
	}
	assert_int_equal(X509_NAME_cmp(up, n), 0);
	return up;
}

/* One entry for serial, revoked now, with the reasonCode reason (0: none, -1: critical
 * keyCompromise) and, with other, an invalidityDate too. */
static int crl_entry(long serial, int reason, int other, unsigned char *out)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	ASN1_TIME *at = ASN1_TIME_set(NULL, time(NULL));
	ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
	int n;

	assert_int_equal(ASN1_INTEGER_set(sn, serial), 1);
	assert_int_equal(X509_REVOKED_set_serialNumber(r, sn), 1);
	assert_int_equal(X509_REVOKED_set_revocationDate(r, at), 1);
	assert_int_equal(ASN1_ENUMERATED_set(e, reason < 0 ? 1 : reason), 1);
	if (reason)
		assert_int_equal(X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, reason < 0, 0), 1);
	if (other)
		assert_int_equal(X509_REVOKED_add1_ext_i2d(r, NID_invalidity_date,
							   (ASN1_GENERALIZEDTIME *)at, 0, 0),
				 1);
	assert_true((n = i2d_X509_REVOKED(r, &out)) > 0 && n < 100);
	X509_REVOKED_free(r);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(at);
	ASN1_ENUMERATED_free(e);
	return n;
}

/* The TBSCertList der (n bytes) again, with a length written in more octets than DER
 * allows: the SEQUENCE's own (elem < 0), or that of its field elem (0: the version),
 * whose length must be under 128. Returns the new size; *der is replaced. */
static int ber_widened(unsigned char **der, int n, int elem)
{
	const unsigned char *p = *der, *c, *f;
	long body = 0, flen = 0;
	int tag = 0, cls = 0, off;
	unsigned char *out, *q;

	assert_int_equal(ASN1_get_object(&p, &body, &tag, &cls, n), V_ASN1_CONSTRUCTED);
	assert_non_null(out = OPENSSL_malloc((size_t)n + 8));
	q = out;
	c = p;
	if (elem < 0) {
		*q++ = 0x30;
		*q++ = 0x84; /* four octets where DER takes the fewest */
		for (int i = 3; i >= 0; i--)
			*q++ = (unsigned char)(body >> (8 * i));
		memcpy(q, c, (size_t)body);
		q += body;
	} else {
		for (f = c; elem-- > 0; f += flen) {
			assert_true(ASN1_get_object(&f, &flen, &tag, &cls, c + body - f) != 0x80);
		}
		off = (int)(f - c);
		assert_true(f[1] < 0x80);
		ASN1_put_object(&q, 1, (int)body + 1, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
		memcpy(q, c, (size_t)off + 1); /* up to the field's tag */
		q += off + 1;
		*q++ = 0x81; /* its length in one octet more */
		memcpy(q, c + off + 1, (size_t)body - (size_t)off - 1);
		q += body - off - 1;
	}
	OPENSSL_free(*der);
	*der = out;
	return (int)(q - out);
}

/* A TBSCertList under ca's name with two entries, as crl.c builds one, but for flaw. */
static int crl_tbs(const X509 *ca, enum crl_flaw flaw, unsigned char **der)
{
	DT_TBS_CRL *t = (DT_TBS_CRL *)ASN1_item_new(ASN1_ITEM_rptr(DT_TBS_CRL));
	unsigned char entries[256], seq[264], *p = entries, *ext_der = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_NAME *other = X509_NAME_new(), *upper = upper_name(ca);
	X509_EXTENSION *aki = NULL;
	X509V3_CTX v3;
	time_t now = time(NULL);
	int n, len;

	assert_non_null(t);
	assert_non_null(num);
	p += crl_entry(1001, DT_REASON_KEY_COMPROMISE, 0, p);
	if (flaw == CRL_BER_ENTRY) {
		/* The second entry's length in two octets where one would do: BER, not DER. */
		unsigned char one[100];

		n = crl_entry(1002, 0, 0, one);
		*p++ = one[0];
		*p++ = 0x81;
		memcpy(p, one + 1, (size_t)n - 1);
		p += n - 1;
	} else if (flaw == CRL_NOT_AN_ENTRY) {
		memcpy(p, "\x30\x03\x02\x01\x05", 5); /* a SEQUENCE of one INTEGER, no date */
		p += 5;
	} else {
		p += crl_entry(flaw == CRL_SERIAL_ZERO ? 0 : 1002,
			       flaw == CRL_ENTRY_REASON_CRITICAL ? -1 : 0,
			       flaw == CRL_ENTRY_OTHER_EXTENSION, p);
	}
	len = flaw == CRL_EMPTY_LIST ? 0 : (int)(p - entries);
	p = seq;
	ASN1_put_object(&p, 1, len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memcpy(p, entries, (size_t)len);
	assert_non_null(t->revoked = ASN1_STRING_type_new(V_ASN1_SEQUENCE));
	assert_int_equal(ASN1_STRING_set(t->revoked, seq, (int)(p - seq) + len), 1);
	if (flaw != CRL_NO_VERSION) {
		assert_non_null(t->version = ASN1_INTEGER_new());
		assert_int_equal(ASN1_INTEGER_set(t->version, 1), 1);
	}
	assert_true(ca_key_algor(t->sig_alg, X509_get0_pubkey(ca)));
	if (flaw == CRL_OTHER_ALGORITHM)
		assert_int_equal(X509_ALGOR_set0(t->sig_alg, OBJ_nid2obj(NID_ecdsa_with_SHA512),
						 V_ASN1_UNDEF, NULL),
				 1);
	X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_ASC, (const unsigned char *)"not the CA",
				   -1, -1, 0);
	{
		const X509_NAME *issuer = flaw == CRL_OTHER_ISSUER ? other
					  : flaw == CRL_ISSUER_UPPER_CASE
					      ? upper
					      : X509_get_subject_name(ca);
		const unsigned char *name = NULL;
		size_t name_len = 0;

		assert_int_equal(X509_NAME_get0_der((X509_NAME *)issuer, &name, &name_len), 1);
		assert_int_equal(ASN1_STRING_set(t->issuer, name, (int)name_len), 1);
	}
	if (flaw == CRL_TIME_GENERALIZED) {
		ASN1_TIME_free(t->this_update);
		assert_non_null(t->this_update = ASN1_GENERALIZEDTIME_set(NULL, now));
	} else {
		assert_non_null(
		    ASN1_TIME_set(t->this_update, flaw == CRL_THIS_AHEAD ? now + 3600 : now));
	}
	if (flaw != CRL_NO_NEXT_UPDATE)
		assert_non_null(t->next_update = ASN1_TIME_set(
				    NULL, flaw == CRL_NEXT_BEFORE_THIS ? now - 60
					  : flaw == CRL_NEXT_TOO_LATE  ? now + 31 * 86400
								       : now + 3600));
	/* The CRL number and the AKI, as crl.c writes them; the flaws change these. */
	assert_int_equal(ASN1_INTEGER_set(num, 9), 1);
	for (int i = 0; i < (flaw == CRL_EXTENSION_TWICE ? 2 : 1); i++)
		assert_int_equal(X509V3_add1_i2d(&exts, NID_crl_number, num, 0, X509V3_ADD_APPEND),
				 1);
	if (flaw == CRL_OTHER_EXTENSION)
		assert_int_equal(X509V3_add1_i2d(&exts, NID_delta_crl, num, 0, X509V3_ADD_APPEND),
				 1);
	X509V3_set_ctx(&v3, (X509 *)ca, NULL, NULL, NULL, 0);
	if (flaw != CRL_NO_AKI) {
		assert_non_null(aki = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
							  "keyid:always"));
		assert_true(X509v3_add_ext(&exts, aki, -1) != NULL);
	}
	assert_true((n = i2d_X509_EXTENSIONS(exts, &ext_der)) > 0);
	assert_non_null(t->extensions = ASN1_STRING_type_new(V_ASN1_SEQUENCE));
	ASN1_STRING_set0(t->extensions, ext_der, n);
	assert_true((n = ASN1_item_i2d((ASN1_VALUE *)t, der, ASN1_ITEM_rptr(DT_TBS_CRL))) > 0);
	if (flaw == CRL_BER_OUTER)
		n = ber_widened(der, n, -1);
	else if (flaw == CRL_BER_VERSION)
		n = ber_widened(der, n, 0);
	else if (flaw == CRL_BER_EXTENSIONS_TAG)
		/* version, algorithm, issuer, thisUpdate, nextUpdate, entries, extensions */
		n = ber_widened(der, n, 6);
	ASN1_item_free((ASN1_VALUE *)t, ASN1_ITEM_rptr(DT_TBS_CRL));
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	X509_NAME_free(other);
	X509_NAME_free(upper);
	return n;
}

/* The signer signs a CRL as crl.c makes it, and refuses the rest with a reason; what
 * it signs verifies with the CA's key over the bytes sent. */
static void test_crl_refusals(void **state)
{
	static const struct {
		enum crl_flaw flaw;
		const char *want;
	} cases[] = {
	    {CRL_NO_VERSION, "not a DER version 2 CRL"},
	    {CRL_OTHER_ISSUER, "issuer is not the CA's subject"},
	    {CRL_ISSUER_UPPER_CASE, "issuer is not the CA's subject"},
	    {CRL_OTHER_ALGORITHM, "signature algorithm is not the CA key's"},
	    {CRL_NO_NEXT_UPDATE, "nextUpdate"},
	    {CRL_NEXT_BEFORE_THIS, "nextUpdate"},
	    {CRL_NEXT_TOO_LATE, "nextUpdate"},
	    {CRL_THIS_AHEAD, "thisUpdate is not now"},
	    {CRL_TIME_GENERALIZED, "5.1.2.4"},
	    {CRL_EXTENSION_TWICE, "extensions are its authority key identifier and CRL number"},
	    {CRL_NO_AKI, "extensions are its authority key identifier and CRL number"},
	    {CRL_OTHER_EXTENSION, "extensions are its authority key identifier and CRL number"},
	    {CRL_EMPTY_LIST, "or the list is empty"},
	    {CRL_BER_ENTRY, "an entry is not a DER revokedCertificate"},
	    {CRL_NOT_AN_ENTRY, "an entry is not a DER revokedCertificate"},
	    {CRL_SERIAL_ZERO, "an entry is not a DER revokedCertificate"},
	    {CRL_ENTRY_OTHER_EXTENSION, "an entry is not a DER revokedCertificate"},
	    {CRL_ENTRY_REASON_CRITICAL, "an entry is not a DER revokedCertificate"},
	    {CRL_BER_OUTER, "not a DER version 2 CRL"},
	    {CRL_BER_VERSION, "not a DER version 2 CRL"},
	    {CRL_BER_EXTENSIONS_TAG, "not a DER version 2 CRL"},
	};
	struct tenv *t = *state;
	const struct ca_signer *s;
	unsigned char *tbs = NULL, sig[CA_MAX_SIG];
	size_t sig_len = 0;
	EVP_MD_CTX *md;
	EVP_PKEY *pub;
	struct dt_error err;
	int n;

	NEED_SIGNER(t);
	s = signer(t, "default");
	pub = X509_get0_pubkey(ca_signer_cert(s));
	n = crl_tbs(ca_signer_cert(s), CRL_GOOD, &tbs);
	if (ca_sign_crl(s, tbs, (size_t)n, sig, sizeof(sig), &sig_len, &err) != DT_OK)
		fail_msg("sign a good CRL: %s", err.msg);
	assert_non_null(md = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, sig_len, tbs, (size_t)n), 1);
	EVP_MD_CTX_free(md);
	OPENSSL_free(tbs);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tbs = NULL;
		n = crl_tbs(ca_signer_cert(s), cases[i].flaw, &tbs);
		if (ca_sign_crl(s, tbs, (size_t)n, sig, sizeof(sig), &sig_len, &err) !=
		    DT_ERR_INVALID)
			fail_msg("case %zu (flaw %d) was signed", i, (int)cases[i].flaw);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, err.msg, cases[i].want);
		OPENSSL_free(tbs);
	}
	/* A certificate's to-be-signed part is no CRL. */
	{
		X509 *x = tbs_cert(ca_signer_cert(s), NULL, 3600, "critical,CA:FALSE", NULL);

		tbs = NULL;
		assert_true(ca_key_algor((X509_ALGOR *)X509_get0_tbs_sigalg(x), pub));
		assert_true((n = i2d_re_X509_tbs(x, &tbs)) > 0);
		assert_int_equal(ca_sign_crl(s, tbs, (size_t)n, sig, sizeof(sig), &sig_len, &err),
				 DT_ERR_INVALID);
		OPENSSL_free(tbs);
		X509_free(x);
	}
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
	    cmocka_unit_test_setup_teardown(test_crl_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stopped_signs_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
