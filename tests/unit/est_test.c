/*
 * EST (RFC 7030) as the HTTP server drives it: cacerts and csrattrs read back
 * with OpenSSL, enrollment by token, by IDevID and by the current
 * certificate, and every refusal with the code the server maps to HTTP.
 */
#include "testutil.h"

#include <openssl/cms.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "core/limits.h"
#include "devtrust/est.h"

#define ACME "Acme Medical GmbH"

/* ---- helpers ---- */

/* base64 of data; line: insert CRLF every 64 characters (as MIME senders do). */
static char *b64(const unsigned char *data, size_t len, int lines)
{
	size_t n = 4 * ((len + 2) / 3);
	char *flat = malloc(n + 1), *out = malloc(n + 2 * (n / 64 + 1) + 1);
	size_t o = 0;

	assert_non_null(flat);
	assert_non_null(out);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)flat, data, (int)len), (int)n);
	for (size_t i = 0; i < n; i++) {
		out[o++] = flat[i];
		if (lines && i % 64 == 63) {
			out[o++] = '\r';
			out[o++] = '\n';
		}
	}
	out[o] = '\0';
	free(flat);
	return out;
}

static char *basic(const char *user, const char *pass)
{
	char plain[256], *enc, *hdr = malloc(512);

	snprintf(plain, sizeof(plain), "%s:%s", user, pass);
	enc = b64((const unsigned char *)plain, strlen(plain), 0);
	assert_non_null(hdr);
	snprintf(hdr, 512, "Basic %s", enc);
	free(enc);
	return hdr;
}

/* Decodes a reply body (base64 with line breaks); *len gets the DER length. */
static unsigned char *unb64(const struct dt_est_reply *r, size_t *len)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char *der = malloc(r->len);
	int n = 0, fin = 0;

	assert_non_null(ctx);
	assert_non_null(der);
	assert_non_null(r->body);
	assert_int_equal(strlen(r->body), r->len);
	EVP_DecodeInit(ctx);
	assert_true(EVP_DecodeUpdate(ctx, der, &n, (const unsigned char *)r->body, (int)r->len) >=
		    0);
	assert_int_equal(EVP_DecodeFinal(ctx, der + n, &fin), 1);
	EVP_ENCODE_CTX_free(ctx);
	*len = (size_t)(n + fin);
	return der;
}

/* The certificates of a certs-only PKCS#7 reply (RFC 7030 section 4.1.3). */
static STACK_OF(X509) * reply_certs(const struct dt_est_reply *r)
{
	size_t len;
	unsigned char *der = unb64(r, &len);
	const unsigned char *p = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);
	CMS_ContentInfo *cms;
	ASN1_OCTET_STRING **content;
	STACK_OF(X509) * out;

	assert_non_null(p7);
	assert_ptr_equal(p, der + len);
	assert_true(PKCS7_type_is_signed(p7));
	/* Degenerate: no signers, no content (RFC 5652 section 5.2). */
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)), 0);
	assert_true(PKCS7_get_detached(p7));
	PKCS7_free(p7);
	/* The CMS parser agrees, and hands out the certificates. */
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	assert_non_null(cms);
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_signed);
	assert_int_equal(OBJ_obj2nid(CMS_get0_eContentType(cms)), NID_pkcs7_data);
	content = CMS_get0_content(cms);
	assert_true(content == NULL || *content == NULL);
	assert_int_equal(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)), 0);
	out = CMS_get1_certs(cms);
	assert_non_null(out);
	CMS_ContentInfo_free(cms);
	free(der);
	return out;
}

/* The one certificate of an enrollment reply. */
static X509 *reply_cert(const struct dt_est_reply *r)
{
	STACK_OF(X509) *certs = reply_certs(r);
	X509 *x;

	assert_int_equal(sk_X509_num(certs), 1);
	x = sk_X509_shift(certs);
	sk_X509_free(certs);
	return x;
}

static dt_code enroll(struct tenv *t, const char *label, int re, const char *header, X509 *peer,
		      STACK_OF(X509) * chain, struct dt_est_reply *r, struct dt_error *err)
{
	struct dt_est_auth auth = {header, peer, chain};
	size_t len;
	unsigned char *csr = tu_csr("P-256", NULL, &len);
	char *body = b64(csr, len, 1);
	dt_code rc =
	    dt_est_enroll(t->ctx, label, re, (unsigned char *)body, strlen(body), &auth, r, err);

	if (rc != DT_OK) {
		assert_null(r->body);
		assert_int_equal(err->code, rc);
	}
	free(body);
	OPENSSL_free(csr);
	return rc;
}

/* Enrolls id with its token and returns its certificate. */
static X509 *enroll_token(struct tenv *t, const char *id, const char *token)
{
	struct dt_est_reply r;
	struct dt_error err;
	char *h = basic(id, token);
	X509 *x;

	if (enroll(t, NULL, 0, h, NULL, NULL, &r, &err) != DT_OK)
		fail_msg("enroll %s: %s", id, err.msg);
	assert_string_equal(r.device_id, id);
	assert_int_equal(strlen(r.serial), 32);
	assert_string_equal(r.content_type, DT_EST_CT_CERTS);
	x = reply_cert(&r);
	dt_est_reply_free(&r);
	free(h);
	return x;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A manufacturer CA (issuer NULL: self-signed) or an IDevID leaf (serial set). */
static X509 *mk_cert(const char *cn, const char *serial, EVP_PKEY *key, X509 *issuer,
		     EVP_PKEY *issuer_key, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	static long sn = 1000;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), sn++), 1);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Acme", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	if (serial)
		X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC,
					   (const unsigned char *)serial, -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
							: X509_get_subject_name(x)),
			 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (ca) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "clientAuth");
	}
	if (issuer)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid");
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static unsigned char *der_of(X509 *x, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	*len = (size_t)n;
	return der;
}

/* A manufacturer: its root key and certificate. */
struct maker {
	EVP_PKEY *key;
	X509 *root;
};

static struct maker maker_new(const char *cn)
{
	struct maker m;

	m.key = EVP_EC_gen("P-256");
	assert_non_null(m.key);
	m.root = mk_cert(cn, NULL, m.key, NULL, NULL, 1);
	return m;
}

static void maker_free(struct maker *m)
{
	X509_free(m->root);
	EVP_PKEY_free(m->key);
}

static void register_maker(struct tenv *t, const char *name, const struct maker *m)
{
	struct dt_error err;
	size_t len;
	unsigned char *der = der_of(m->root, &len);

	if (dt_manufacturer_add(t->ctx, name, der, len, &err) != DT_OK)
		fail_msg("manufacturer add: %s", err.msg);
	OPENSSL_free(der);
}

/* An IDevID for serial issued by m. */
static X509 *idevid(const struct maker *m, const char *serial)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = mk_cert("idevid", serial, k, m->root, m->key, 0);

	EVP_PKEY_free(k);
	return x;
}

static enum dt_state state_of(struct tenv *t, const char *id)
{
	struct dt_device d;
	struct dt_error err;

	assert_int_equal(dt_device_get(t->ctx, id, &d, &err), DT_OK);
	return d.state;
}

static void cert_serial(X509 *x, char out[DT_SERIAL_HEX_BUF])
{
	tu2_serial_hex(X509_get0_serialNumber(x), out);
}

static int same_cert(X509 *a, X509 *b)
{
	return X509_cmp(a, b) == 0;
}

/* ---- cacerts ---- */

static void test_cacerts_default(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	STACK_OF(X509) * certs;
	X509 *def = tu2_ca_cert(t, "default"), *root = tu2_ca_cert(t, "root");

	assert_int_equal(dt_est_cacerts(t->ctx, NULL, &r, &err), DT_OK);
	assert_string_equal(r.content_type, DT_EST_CT_CACERTS);
	certs = reply_certs(&r);
	assert_int_equal(sk_X509_num(certs), 2);
	assert_true(same_cert(sk_X509_value(certs, 0), def));
	assert_true(same_cert(sk_X509_value(certs, 1), root));
	sk_X509_pop_free(certs, X509_free);
	dt_est_reply_free(&r);
	assert_null(r.body);
	X509_free(def);
	X509_free(root);
}

static void test_cacerts_label(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	STACK_OF(X509) * certs;
	X509 *ca, *root = tu2_ca_cert(t, "root");

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	tu2_class(t, "pump", "vendor-a", DT_KEY_EC_P256, 30 * 86400, 0);
	ca = tu2_ca_cert(t, "vendor-a");
	assert_int_equal(dt_est_cacerts(t->ctx, "pump", &r, &err), DT_OK);
	certs = reply_certs(&r);
	assert_int_equal(sk_X509_num(certs), 2);
	assert_true(same_cert(sk_X509_value(certs, 0), ca));
	assert_true(same_cert(sk_X509_value(certs, 1), root));
	/* The issuing CA is the root's child. */
	assert_int_equal(X509_check_issued(root, ca), X509_V_OK);
	sk_X509_pop_free(certs, X509_free);
	dt_est_reply_free(&r);
	X509_free(ca);
	X509_free(root);
}

static void test_unknown_label(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;

	assert_int_equal(dt_est_cacerts(t->ctx, "nope", &r, &err), DT_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "nope"));
	assert_null(r.body);
	assert_int_equal(dt_est_csrattrs(t->ctx, "nope", &r, &err), DT_ERR_NOT_FOUND);
	/* A label that is no class name is not echoed. */
	assert_int_equal(dt_est_cacerts(t->ctx, "../\x01x", &r, &err), DT_ERR_NOT_FOUND);
	assert_null(strstr(err.msg, "\x01"));
	assert_int_equal(dt_est_cacerts(t->ctx, "", &r, &err), DT_ERR_NOT_FOUND);
	assert_int_equal(enroll(t, "nope", 0, NULL, NULL, NULL, &r, &err), DT_ERR_NOT_FOUND);
}

/* ---- csrattrs ---- */

/* Parses a CsrAttrs reply; returns the sequence. */
static ASN1_SEQUENCE_ANY *csrattrs_of(struct tenv *t, const char *label)
{
	struct dt_est_reply r;
	struct dt_error err;
	size_t len;
	unsigned char *der;
	const unsigned char *p;
	ASN1_SEQUENCE_ANY *seq;

	if (dt_est_csrattrs(t->ctx, label, &r, &err) != DT_OK)
		fail_msg("csrattrs: %s", err.msg);
	assert_string_equal(r.content_type, DT_EST_CT_CSRATTRS);
	der = unb64(&r, &len);
	p = der;
	seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
	assert_non_null(seq);
	assert_ptr_equal(p, der + len);
	free(der);
	dt_est_reply_free(&r);
	return seq;
}

/* Element i as an Attribute of type nid; returns it. */
static X509_ATTRIBUTE *attr_at(ASN1_SEQUENCE_ANY *seq, int i, int nid)
{
	ASN1_TYPE *t = sk_ASN1_TYPE_value(seq, i);
	const unsigned char *p;
	X509_ATTRIBUTE *a;

	assert_int_equal(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
	p = ASN1_STRING_get0_data(t->value.sequence);
	a = d2i_X509_ATTRIBUTE(NULL, &p, ASN1_STRING_length(t->value.sequence));
	assert_non_null(a);
	assert_int_equal(OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a)), nid);
	return a;
}

static void test_csrattrs_class(void **state)
{
	struct tenv *t = *state;
	ASN1_SEQUENCE_ANY *seq;
	X509_ATTRIBUTE *a;
	ASN1_TYPE *v;
	int curves = 0;

	tu2_class(t, "mixed", "default",
		  DT_KEY_EC_P256 | DT_KEY_EC_P384 | DT_KEY_RSA_3072 | DT_KEY_ED25519, 86400, 0);
	seq = csrattrs_of(t, "mixed");
	assert_int_equal(sk_ASN1_TYPE_num(seq), 3);
	a = attr_at(seq, 0, NID_X9_62_id_ecPublicKey);
	assert_int_equal(X509_ATTRIBUTE_count(a), 2);
	/* A SET OF: DER orders the curves by encoding, not by preference. */
	for (int i = 0; i < 2; i++) {
		v = X509_ATTRIBUTE_get0_type(a, i);
		assert_int_equal(ASN1_TYPE_get(v), V_ASN1_OBJECT);
		curves |= OBJ_obj2nid(v->value.object) == NID_X9_62_prime256v1 ? 1 : 0;
		curves |= OBJ_obj2nid(v->value.object) == NID_secp384r1 ? 2 : 0;
	}
	assert_int_equal(curves, 3);
	X509_ATTRIBUTE_free(a);
	a = attr_at(seq, 1, NID_rsaEncryption);
	assert_int_equal(X509_ATTRIBUTE_count(a), 1);
	v = X509_ATTRIBUTE_get0_type(a, 0);
	assert_int_equal(ASN1_TYPE_get(v), V_ASN1_INTEGER);
	assert_int_equal(ASN1_INTEGER_get(v->value.integer), 3072);
	X509_ATTRIBUTE_free(a);
	v = sk_ASN1_TYPE_value(seq, 2);
	assert_int_equal(ASN1_TYPE_get(v), V_ASN1_OBJECT);
	assert_int_equal(OBJ_obj2nid(v->value.object), NID_ED25519);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
}

static void test_csrattrs_default_path(void **state)
{
	struct tenv *t = *state;
	ASN1_SEQUENCE_ANY *seq;
	X509_ATTRIBUTE *a;

	/* No class yet: the default profile (ec-p256). */
	seq = csrattrs_of(t, NULL);
	assert_int_equal(sk_ASN1_TYPE_num(seq), 1);
	a = attr_at(seq, 0, NID_X9_62_id_ecPublicKey);
	assert_int_equal(X509_ATTRIBUTE_count(a), 1);
	assert_int_equal(OBJ_obj2nid(X509_ATTRIBUTE_get0_type(a, 0)->value.object),
			 NID_X9_62_prime256v1);
	X509_ATTRIBUTE_free(a);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	/* What every class accepts. */
	tu2_class(t, "a", "default", DT_KEY_EC_P256 | DT_KEY_EC_P384, 86400, 0);
	tu2_class(t, "b", "default", DT_KEY_EC_P384 | DT_KEY_RSA_2048, 86400, 0);
	seq = csrattrs_of(t, NULL);
	assert_int_equal(sk_ASN1_TYPE_num(seq), 1);
	a = attr_at(seq, 0, NID_X9_62_id_ecPublicKey);
	assert_int_equal(X509_ATTRIBUTE_count(a), 1);
	assert_int_equal(OBJ_obj2nid(X509_ATTRIBUTE_get0_type(a, 0)->value.object), NID_secp384r1);
	X509_ATTRIBUTE_free(a);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	/* Nothing in common: an empty sequence. */
	tu2_class(t, "c", "default", DT_KEY_ED25519, 86400, 0);
	seq = csrattrs_of(t, NULL);
	assert_int_equal(sk_ASN1_TYPE_num(seq), 0);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
}

/* ---- simpleenroll with a token ---- */

static void test_token_enroll_once(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	char token[DT_TOKEN_BUF], cn[80], *h;
	X509 *x;

	tu_device(t, "pump-1", token);
	x = enroll_token(t, "pump-1", token);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "pump-1");
	assert_int_equal(state_of(t, "pump-1"), DT_STATE_ACTIVE);
	X509_free(x);
	/* Second use of the same token: the same answer as for a wrong one. */
	h = basic("pump-1", token);
	assert_int_equal(enroll(t, NULL, 0, h, NULL, NULL, &r, &err), DT_ERR_AUTH);
	assert_null(strstr(err.msg, token));
	assert_non_null(strstr(err.msg, "wrong"));
	assert_int_equal(tu2_cert_count(t), 1);
	free(h);
}

/* msg with 'id' replaced by 'ID', to compare refusals of different devices. */
static void id_free(const char *msg, const char *id, char *out, size_t cap)
{
	char quoted[80];
	const char *at;

	snprintf(quoted, sizeof(quoted), "'%s'", id);
	at = strstr(msg, quoted);
	if (!at) {
		snprintf(out, cap, "%s", msg);
		return;
	}
	snprintf(out, cap, "%.*s'ID'%s", (int)(at - msg), msg, at + strlen(quoted));
}

static void test_token_wrong_or_missing(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	char token[DT_TOKEN_BUF], *h, wrong_msg[DT_ERR_MSG_MAX], unknown_msg[DT_ERR_MSG_MAX];
	const char *wrong = "0123456789abcdef0123456789abcdef";

	tu_device(t, "pump-1", token);
	h = basic("pump-1", wrong);
	assert_int_equal(enroll(t, NULL, 0, h, NULL, NULL, &r, &err), DT_ERR_AUTH);
	assert_null(strstr(err.msg, wrong));
	assert_null(strstr(err.msg, token));
	id_free(err.msg, "pump-1", wrong_msg, sizeof(wrong_msg));
	free(h);
	h = basic("nobody", token);
	assert_int_equal(enroll(t, NULL, 0, h, NULL, NULL, &r, &err), DT_ERR_AUTH);
	assert_null(strstr(err.msg, token));
	/* A scanner cannot tell an existing device from an unknown one. */
	id_free(err.msg, "nobody", unknown_msg, sizeof(unknown_msg));
	assert_string_equal(wrong_msg, unknown_msg);
	free(h);
	h = basic("bad id!", token);
	assert_int_equal(enroll(t, NULL, 0, h, NULL, NULL, &r, &err), DT_ERR_AUTH);
	free(h);
	assert_int_equal(enroll(t, NULL, 0, NULL, NULL, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "credentials"));
	assert_int_equal(enroll(t, NULL, 0, "Bearer abc", NULL, NULL, &r, &err), DT_ERR_AUTH);
	/* The right token still works: failures did not consume it. */
	X509_free(enroll_token(t, "pump-1", token));
	assert_int_equal(tu2_cert_count(t), 1);
}

static void test_token_suspended_and_retired(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	char token[DT_TOKEN_BUF], fresh[DT_TOKEN_BUF], *h;

	tu_device(t, "pump-1", token);
	X509_free(enroll_token(t, "pump-1", token));
	/* A token handed out while active, then the device is suspended. */
	assert_int_equal(dt_device_token(t->ctx, "pump-1", 0, fresh, &err), DT_OK);
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_OK);
	h = basic("pump-1", fresh);
	assert_int_equal(enroll(t, NULL, 0, h, NULL, NULL, &r, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "suspended"));
	assert_null(strstr(err.msg, fresh));
	/* Retirement ends the token: the caller is not authenticated any more. */
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(enroll(t, NULL, 0, h, NULL, NULL, &r, &err), DT_ERR_AUTH);
	assert_int_equal(tu2_cert_count(t), 1);
	free(h);
}

static void test_label_must_match_class(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	char token[DT_TOKEN_BUF], *h;

	tu_device(t, "pump-1", token);
	tu2_class(t, "scanner", "default", DT_KEY_EC_P256, 86400, 0);
	h = basic("pump-1", token);
	assert_int_equal(enroll(t, "scanner", 0, h, NULL, NULL, &r, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "pump"));
	assert_int_equal(tu2_cert_count(t), 0);
	/* Not consumed by the refusal; the right label works. */
	assert_int_equal(enroll(t, "pump", 0, h, NULL, NULL, &r, &err), DT_OK);
	assert_string_equal(r.device_id, "pump-1");
	dt_est_reply_free(&r);
	free(h);
}

static void test_bad_bodies(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_est_auth auth = {NULL, NULL, NULL};
	struct dt_error err;
	char token[DT_TOKEN_BUF], *h, *enc;
	unsigned char *big;
	static const char *bad[] = {"",
				    "\r\n",
				    "@@@@",
				    "QUJD",
				    "QUJDRA=",
				    "QQ==QUJD",
				    "-----BEGIN CERTIFICATE REQUEST-----",
				    "QUJ\x00D"};

	tu_device(t, "pump-1", token);
	h = basic("pump-1", token);
	auth.authorization = h;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dt_est_enroll(t->ctx, NULL, 0, (const unsigned char *)bad[i],
					       i == 7 ? 5 : strlen(bad[i]), &auth, &r, &err),
				 DT_ERR_INVALID);
		assert_null(r.body);
	}
	assert_int_equal(dt_est_enroll(t->ctx, NULL, 0, NULL, 0, &auth, &r, &err), DT_ERR_INVALID);
	/* Over the body limit. */
	big = malloc(DT_MAX_EST_BODY + 1);
	assert_non_null(big);
	memset(big, 'A', DT_MAX_EST_BODY + 1);
	assert_int_equal(dt_est_enroll(t->ctx, NULL, 0, big, DT_MAX_EST_BODY + 1, &auth, &r, &err),
			 DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "limit"));
	/* Valid base64 over the CSR limit once decoded. */
	memset(big, 'A', DT_MAX_EST_BODY);
	assert_int_equal(dt_est_enroll(t->ctx, NULL, 0, big, DT_MAX_EST_BODY, &auth, &r, &err),
			 DT_ERR_INVALID);
	free(big);
	/* Base64 of something that is no CSR: refused by the CSR parser. */
	enc = b64((const unsigned char *)"not a certification request", 28, 0);
	assert_int_equal(
	    dt_est_enroll(t->ctx, NULL, 0, (unsigned char *)enc, strlen(enc), &auth, &r, &err),
	    DT_ERR_INVALID);
	free(enc);
	/* None of this consumed the token. */
	X509_free(enroll_token(t, "pump-1", token));
	free(h);
}

/* ---- IDevID ---- */

static void test_idevid_enroll(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	struct maker m = maker_new("Acme IDevID Root");
	X509 *leaf = idevid(&m, "ACME-0001"), *x;
	char cn[80];

	tu2_class(t, "pump", "default", DT_KEY_EC_P256, 86400, 0);
	tu_device_of(t, "pump-7", "pump", ACME, "ACME-0001", NULL);
	register_maker(t, ACME, &m);
	assert_int_equal(enroll(t, "pump", 0, NULL, leaf, NULL, &r, &err), DT_OK);
	assert_string_equal(r.device_id, "pump-7");
	x = reply_cert(&r);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_serialNumber, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "ACME-0001");
	assert_int_equal(state_of(t, "pump-7"), DT_STATE_ACTIVE);
	X509_free(x);
	dt_est_reply_free(&r);
	X509_free(leaf);
	maker_free(&m);
}

static void test_idevid_through_intermediate(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	struct maker m = maker_new("Acme Root");
	EVP_PKEY *ik = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");
	X509 *inter = mk_cert("Acme Factory CA", NULL, ik, m.root, m.key, 1);
	X509 *leaf = mk_cert("idevid", "ACME-0002", lk, inter, ik, 0);
	STACK_OF(X509) *chain = sk_X509_new_null();

	sk_X509_push(chain, inter);
	tu_device(t, "pump-1", NULL); /* another device, serial SN-1, no manufacturer */
	tu_device_of(t, "pump-8", "pump", ACME, "ACME-0002", NULL);
	register_maker(t, ACME, &m);
	/* Without the intermediate the chain does not build. */
	assert_int_equal(enroll(t, NULL, 0, NULL, leaf, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "anchor"));
	assert_int_equal(enroll(t, NULL, 0, NULL, leaf, chain, &r, &err), DT_OK);
	assert_string_equal(r.device_id, "pump-8");
	dt_est_reply_free(&r);
	sk_X509_free(chain);
	X509_free(inter);
	X509_free(leaf);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
	maker_free(&m);
}

static void test_idevid_refusals(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	struct maker acme = maker_new("Acme Root"), other = maker_new("Other Root");
	struct maker rogue = maker_new("Acme Root"); /* same name, other key */
	X509 *from_rogue = idevid(&rogue, "ACME-0003"), *from_other = idevid(&other, "ACME-0003");
	X509 *unknown_serial = idevid(&acme, "ACME-9999"), *no_serial = idevid(&acme, NULL);

	tu2_class(t, "pump", "default", DT_KEY_EC_P256, 86400, 0);
	tu_device_of(t, "pump-9", "pump", ACME, "ACME-0003", NULL);
	/* No anchors at all. */
	assert_int_equal(enroll(t, NULL, 0, NULL, from_rogue, NULL, &r, &err), DT_ERR_AUTH);
	register_maker(t, ACME, &acme);
	register_maker(t, "Other Corp", &other);
	/* A root that is not registered, under a registered subject name. */
	assert_int_equal(enroll(t, NULL, 0, NULL, from_rogue, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "anchor"));
	/* Another manufacturer's anchor does not vouch for Acme's devices. */
	assert_int_equal(enroll(t, NULL, 0, NULL, from_other, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "ACME-0003"));
	assert_int_equal(enroll(t, NULL, 0, NULL, unknown_serial, NULL, &r, &err), DT_ERR_AUTH);
	assert_int_equal(enroll(t, NULL, 0, NULL, no_serial, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "serialNumber"));
	/* An anchor itself is no device identity. */
	assert_int_equal(enroll(t, NULL, 0, NULL, acme.root, NULL, &r, &err), DT_ERR_AUTH);
	assert_int_equal(tu2_cert_count(t), 0);
	assert_int_equal(state_of(t, "pump-9"), DT_STATE_REGISTERED);
	X509_free(from_rogue);
	X509_free(from_other);
	X509_free(unknown_serial);
	X509_free(no_serial);
	maker_free(&acme);
	maker_free(&other);
	maker_free(&rogue);
}

static void test_idevid_states_and_fallback(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	struct maker acme = maker_new("Acme Root"), rogue = maker_new("Rogue Root");
	X509 *leaf = idevid(&acme, "ACME-0004"), *stray = idevid(&rogue, "ACME-0004");
	char token[DT_TOKEN_BUF], other_token[DT_TOKEN_BUF], *h, *h_other;

	tu2_class(t, "pump", "default", DT_KEY_EC_P256, 86400, 0);
	tu_device_of(t, "pump-10", "pump", ACME, "ACME-0004", token);
	tu_device_of(t, "pump-11", "pump", ACME, "ACME-0005", other_token);
	register_maker(t, ACME, &acme);
	/* An unregistered client certificate falls back to Basic. */
	h = basic("pump-10", token);
	assert_int_equal(enroll(t, NULL, 0, h, stray, NULL, &r, &err), DT_OK);
	dt_est_reply_free(&r);
	/* IDevID and Basic naming different devices. */
	h_other = basic("pump-11", other_token);
	assert_int_equal(enroll(t, NULL, 0, h_other, leaf, NULL, &r, &err), DT_ERR_AUTH);
	/* The IDevID keeps working for an active device... */
	assert_int_equal(enroll(t, NULL, 0, NULL, leaf, NULL, &r, &err), DT_OK);
	dt_est_reply_free(&r);
	/* ...but not once it is suspended or retired: authenticated, so told why. */
	assert_int_equal(dt_device_transition(t->ctx, "pump-10", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(enroll(t, NULL, 0, NULL, leaf, NULL, &r, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "suspended"));
	assert_int_equal(dt_device_transition(t->ctx, "pump-10", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(enroll(t, NULL, 0, NULL, leaf, NULL, &r, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "retired"));
	free(h);
	free(h_other);
	X509_free(leaf);
	X509_free(stray);
	maker_free(&acme);
	maker_free(&rogue);
}

/* ---- simplereenroll ---- */

static void test_reenroll_supersedes(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	struct dt_cert_info ci;
	char token[DT_TOKEN_BUF], old_sn[DT_SERIAL_HEX_BUF], new_sn[DT_SERIAL_HEX_BUF];
	X509 *old, *renewed;

	tu2_class(t, "pump", "default", DT_KEY_EC_P256, 86400, 1);
	tu2_device(t, "pump-1", "pump", token);
	old = enroll_token(t, "pump-1", token);
	cert_serial(old, old_sn);
	assert_int_equal(enroll(t, "pump", 1, NULL, old, NULL, &r, &err), DT_OK);
	assert_string_equal(r.device_id, "pump-1");
	renewed = reply_cert(&r);
	cert_serial(renewed, new_sn);
	assert_string_equal(r.serial, new_sn);
	dt_est_reply_free(&r);
	assert_int_equal(dt_cert_get(t->ctx, old_sn, &ci, &err), DT_OK);
	assert_int_equal(ci.status, DT_CERT_REVOKED);
	assert_int_equal(ci.reason, DT_REASON_SUPERSEDED);
	assert_int_equal(dt_cert_get(t->ctx, new_sn, &ci, &err), DT_OK);
	assert_int_equal(ci.status, DT_CERT_VALID);
	/* The superseded certificate no longer authenticates. */
	assert_int_equal(enroll(t, NULL, 1, NULL, old, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "revoked"));
	/* The new one does. */
	assert_int_equal(enroll(t, NULL, 1, NULL, renewed, NULL, &r, &err), DT_OK);
	dt_est_reply_free(&r);
	X509_free(old);
	X509_free(renewed);
}

static void test_reenroll_keeps_without_supersede(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	struct dt_cert_info ci;
	char token[DT_TOKEN_BUF], sn[DT_SERIAL_HEX_BUF];
	X509 *old;

	tu_device(t, "pump-1", token); /* class pump keeps superseded certificates */
	old = enroll_token(t, "pump-1", token);
	assert_int_equal(enroll(t, NULL, 1, NULL, old, NULL, &r, &err), DT_OK);
	dt_est_reply_free(&r);
	cert_serial(old, sn);
	assert_int_equal(dt_cert_get(t->ctx, sn, &ci, &err), DT_OK);
	assert_int_equal(ci.status, DT_CERT_VALID);
	assert_int_equal(tu2_cert_count(t), 2);
	X509_free(old);
}

static void test_reenroll_refusals(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	struct maker acme = maker_new("Acme Root");
	X509 *foreign = idevid(&acme, "SN-1"), *cert, *forged;
	char token[DT_TOKEN_BUF], sn[DT_SERIAL_HEX_BUF];
	EVP_PKEY *k = EVP_EC_gen("P-256");

	tu_device(t, "pump-1", token);
	cert = enroll_token(t, "pump-1", token);
	cert_serial(cert, sn);
	/* No certificate; a foreign one. */
	assert_int_equal(enroll(t, NULL, 1, NULL, NULL, NULL, &r, &err), DT_ERR_AUTH);
	assert_int_equal(enroll(t, NULL, 1, NULL, foreign, NULL, &r, &err), DT_ERR_AUTH);
	/* Our serial and names, signed by someone else. */
	forged = X509_dup(cert);
	assert_non_null(forged);
	assert_int_equal(X509_set_pubkey(forged, k), 1);
	assert_true(X509_sign(forged, k, EVP_sha256()) > 0);
	assert_int_equal(enroll(t, NULL, 1, NULL, forged, NULL, &r, &err), DT_ERR_AUTH);
	/* A Basic token is no re-enrollment credential. */
	assert_int_equal(enroll(t, NULL, 1, "Basic cHVtcC0xOnh4", NULL, NULL, &r, &err),
			 DT_ERR_AUTH);
	/* Label of another class. */
	tu2_class(t, "scanner", "default", DT_KEY_EC_P256, 86400, 0);
	assert_int_equal(enroll(t, "scanner", 1, NULL, cert, NULL, &r, &err), DT_ERR_INVALID);
	/* Our device certificate is no bootstrap credential. */
	assert_int_equal(enroll(t, NULL, 0, NULL, cert, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "simplereenroll"));
	/* Suspended: the certificate is authentic, the state is told. */
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(enroll(t, NULL, 1, NULL, cert, NULL, &r, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "suspended"));
	assert_int_equal(
	    dt_device_transition(t->ctx, "pump-1", DT_TR_COMPROMISED, NULL, NULL, &err), DT_OK);
	assert_int_equal(enroll(t, NULL, 1, NULL, cert, NULL, &r, &err), DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "compromised"));
	assert_int_equal(tu2_cert_count(t), 1);
	X509_free(forged);
	X509_free(cert);
	X509_free(foreign);
	EVP_PKEY_free(k);
	maker_free(&acme);
}

static void test_reenroll_revoked_cert(void **state)
{
	struct tenv *t = *state;
	struct dt_est_reply r;
	struct dt_error err;
	char token[DT_TOKEN_BUF], sn[DT_SERIAL_HEX_BUF];
	X509 *a, *b;

	tu_device(t, "pump-1", token);
	a = enroll_token(t, "pump-1", token);
	assert_int_equal(enroll(t, NULL, 1, NULL, a, NULL, &r, &err), DT_OK);
	b = reply_cert(&r);
	dt_est_reply_free(&r);
	cert_serial(a, sn);
	assert_int_equal(dt_cert_revoke(t->ctx, sn, DT_REASON_KEY_COMPROMISE, "test", &err), DT_OK);
	assert_int_equal(enroll(t, NULL, 1, NULL, a, NULL, &r, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "revoked"));
	/* The device is still active; its other certificate renews. */
	assert_int_equal(enroll(t, NULL, 1, NULL, b, NULL, &r, &err), DT_OK);
	dt_est_reply_free(&r);
	X509_free(a);
	X509_free(b);
}

/* ---- HTTP Basic ---- */

static void test_basic_parse(void **state)
{
	struct dt_error err;
	char user[DT_ID_BUF], pass[40], long_user[200];
	char *h;

	(void)state;
	/* user:pass with a colon in the password; "basic" in any case. */
	h = basic("dev-1", "pa:ss");
	assert_int_equal(dt_http_basic_parse(h, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_OK);
	assert_string_equal(user, "dev-1");
	assert_string_equal(pass, "pa:ss");
	memcpy(h, "bAsIc", 5);
	assert_int_equal(dt_http_basic_parse(h, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_OK);
	free(h);
	/* Empty password is allowed by RFC 7617; empty user is not. */
	h = basic("dev-1", "");
	assert_int_equal(dt_http_basic_parse(h, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_OK);
	assert_string_equal(pass, "");
	free(h);
	h = basic("", "secret");
	assert_int_equal(dt_http_basic_parse(h, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_ERR_AUTH);
	assert_string_equal(pass, "");
	assert_null(strstr(err.msg, "secret"));
	free(h);
	/* No colon: "dev-1" */
	assert_int_equal(
	    dt_http_basic_parse("Basic ZGV2LTE=", user, sizeof(user), pass, sizeof(pass), &err),
	    DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "':'"));
	/* Bad base64, bad padding, wrong scheme, no space, nothing. */
	static const char *bad[] = {"Basic ZGV2LTE6eA=!",
				    "Basic ZGV2LTE6eA",
				    "Basic Z=V2",
				    "Basic ====",
				    "Basic ",
				    "Basic",
				    "Bearer ZGV2LTE6eA==",
				    "BasicZGV2LTE6eA==",
				    "",
				    "Basic ZGV2 LTE6eA==",
				    "Basic\tZGV2LTE6eA=="};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    dt_http_basic_parse(bad[i], user, sizeof(user), pass, sizeof(pass), &err),
		    DT_ERR_AUTH);
	assert_int_equal(dt_http_basic_parse(NULL, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_ERR_AUTH);
	/* Extra spaces around the credentials are tolerated. */
	assert_int_equal(dt_http_basic_parse("Basic   ZGV2LTE6eA==  ", user, sizeof(user), pass,
					     sizeof(pass), &err),
			 DT_OK);
	assert_string_equal(user, "dev-1");
	assert_string_equal(pass, "x");
	/* Overlong user, password, header. */
	memset(long_user, 'u', sizeof(long_user) - 1);
	long_user[sizeof(long_user) - 1] = '\0';
	h = basic(long_user, "x");
	assert_int_equal(dt_http_basic_parse(h, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_ERR_AUTH);
	assert_string_equal(user, "");
	free(h);
	h = basic("dev-1", "0123456789012345678901234567890123456789");
	assert_int_equal(dt_http_basic_parse(h, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_ERR_AUTH);
	assert_string_equal(pass, "");
	free(h);
	h = malloc(DT_MAX_BASIC_HEADER + 16);
	assert_non_null(h);
	memcpy(h, "Basic ", 6);
	memset(h + 6, 'A', DT_MAX_BASIC_HEADER);
	h[DT_MAX_BASIC_HEADER + 6] = '\0';
	assert_int_equal(dt_http_basic_parse(h, user, sizeof(user), pass, sizeof(pass), &err),
			 DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "DT_MAX_BASIC_HEADER"));
	free(h);
	/* Control characters: "dev\n1:x", and a NUL in the password "dev-1:\0x". */
	assert_int_equal(
	    dt_http_basic_parse("Basic ZGV2CjE6eA==", user, sizeof(user), pass, sizeof(pass), &err),
	    DT_ERR_AUTH);
	assert_int_equal(
	    dt_http_basic_parse("Basic ZGV2LTE6AHg=", user, sizeof(user), pass, sizeof(pass), &err),
	    DT_ERR_AUTH);
}

/* ---- manufacturers ---- */

struct anchors {
	int n;
	struct dt_manufacturer_anchor last;
};

static int count_anchor(void *arg, const struct dt_manufacturer_anchor *a)
{
	struct anchors *s = arg;

	s->n++;
	s->last = *a;
	return 0;
}

static int find_event(void *arg, const struct dt_audit_event *e)
{
	if (strcmp(e->action, "manufacturer.add") == 0)
		(*(int *)arg)++;
	return 0;
}

static void test_manufacturer_add_list(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct maker m = maker_new("Acme IDevID Root");
	X509 *leaf = idevid(&m, "X-1");
	struct anchors s = {0};
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL, fp[DT_SHA256_HEX_BUF];
	unsigned char *der, md[32], *twice;
	unsigned mdlen = 32;
	long pem_len;
	size_t len;
	int events = 0;

	/* PEM accepted; listed with its fingerprint and subject. */
	assert_int_equal(PEM_write_bio_X509(bio, m.root), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	assert_int_equal(
	    dt_manufacturer_add(t->ctx, ACME, (unsigned char *)pem, (size_t)pem_len, &err), DT_OK);
	assert_int_equal(dt_manufacturer_list(t->ctx, count_anchor, &s, &err), DT_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.last.manufacturer, ACME);
	assert_int_equal(X509_digest(m.root, EVP_sha256(), md, &mdlen), 1);
	for (int i = 0; i < 32; i++)
		snprintf(fp + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(s.last.fingerprint, fp);
	assert_non_null(strstr(s.last.subject, "CN=Acme IDevID Root"));
	assert_true(s.last.not_after > s.last.created_at);
	assert_int_equal(dt_audit_list(t->ctx, NULL, find_event, &events, &err), DT_OK);
	assert_int_equal(events, 1);
	/* The same anchor twice for one manufacturer; fine for another. */
	der = der_of(m.root, &len);
	assert_int_equal(dt_manufacturer_add(t->ctx, ACME, der, len, &err), DT_ERR_EXISTS);
	assert_int_equal(dt_manufacturer_add(t->ctx, "Acme OEM", der, len, &err), DT_OK);
	/* Names: empty, control characters, too long. */
	assert_int_equal(dt_manufacturer_add(t->ctx, "", der, len, &err), DT_ERR_INVALID);
	assert_int_equal(dt_manufacturer_add(t->ctx, "a\nb", der, len, &err), DT_ERR_INVALID);
	{
		char longname[300];
		memset(longname, 'm', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(dt_manufacturer_add(t->ctx, longname, der, len, &err),
				 DT_ERR_INVALID);
	}
	/* Not a CA, garbage, trailing bytes, two PEM certificates, empty. */
	OPENSSL_free(der);
	der = der_of(leaf, &len);
	assert_int_equal(dt_manufacturer_add(t->ctx, ACME, der, len, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "CA:TRUE"));
	OPENSSL_free(der);
	assert_int_equal(
	    dt_manufacturer_add(t->ctx, ACME, (const unsigned char *)"garbage", 7, &err),
	    DT_ERR_INVALID);
	der = der_of(m.root, &len);
	twice = malloc(len + 1);
	memcpy(twice, der, len);
	twice[len] = 0;
	assert_int_equal(dt_manufacturer_add(t->ctx, "Third", twice, len + 1, &err),
			 DT_ERR_INVALID);
	free(twice);
	OPENSSL_free(der);
	assert_int_equal(PEM_write_bio_X509(bio, m.root), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	assert_int_equal(
	    dt_manufacturer_add(t->ctx, "Third", (unsigned char *)pem, (size_t)pem_len, &err),
	    DT_ERR_INVALID);
	assert_int_equal(dt_manufacturer_add(t->ctx, "Third", (const unsigned char *)"", 0, &err),
			 DT_ERR_INVALID);
	s.n = 0;
	assert_int_equal(dt_manufacturer_list(t->ctx, count_anchor, &s, &err), DT_OK);
	assert_int_equal(s.n, 2);
	events = 0;
	assert_int_equal(dt_audit_list(t->ctx, NULL, find_event, &events, &err), DT_OK);
	assert_int_equal(events, 2);
	BIO_free(bio);
	X509_free(leaf);
	maker_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_cacerts_default),
	    T(test_cacerts_label),
	    T(test_unknown_label),
	    T(test_csrattrs_class),
	    T(test_csrattrs_default_path),
	    T(test_token_enroll_once),
	    T(test_token_wrong_or_missing),
	    T(test_token_suspended_and_retired),
	    T(test_label_must_match_class),
	    T(test_bad_bodies),
	    T(test_idevid_enroll),
	    T(test_idevid_through_intermediate),
	    T(test_idevid_refusals),
	    T(test_idevid_states_and_fallback),
	    T(test_reenroll_supersedes),
	    T(test_reenroll_keeps_without_supersede),
	    T(test_reenroll_refusals),
	    T(test_reenroll_revoked_cert),
	    cmocka_unit_test(test_basic_parse),
	    T(test_manufacturer_add_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
