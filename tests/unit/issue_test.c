/*
 * Issuance (DESIGN.md section 3): the certificate a device receives, read
 * back with OpenSSL, and every refusal, each leaving nothing behind.
 */
#include "testutil.h"

#include <openssl/x509v3.h>
#include <time.h>

#include "core/limits.h"

#define URL "http://127.0.0.1:8080"

static int has_bytes(const unsigned char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; m <= n && i <= n - m; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static int64_t asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

static void name_text(X509_NAME *n, int nid, char *buf, int cap)
{
	assert_true(X509_NAME_get_text_by_NID(n, nid, buf, cap) > 0);
}

static void check_subject(X509 *x, const char *id, const char *serial)
{
	X509_NAME *n = X509_get_subject_name(x);
	char buf[256], *line;

	assert_int_equal(X509_NAME_entry_count(n), 3);
	name_text(n, NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, id);
	name_text(n, NID_serialNumber, buf, sizeof(buf));
	assert_string_equal(buf, serial);
	name_text(n, NID_organizationName, buf, sizeof(buf));
	assert_string_equal(buf, "testorg");
	line = X509_NAME_oneline(n, NULL, 0);
	assert_null(strstr(line, "csr-name"));
	OPENSSL_free(line);
}

static void check_san(X509 *x, const char *urn)
{
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *gn;

	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), (int)strlen(urn));
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), urn,
			    strlen(urn));
	GENERAL_NAMES_free(san);
}

static void check_serial(X509 *x, const char *info_serial)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
	char hex[DT_SERIAL_HEX_BUF];

	assert_non_null(bn);
	assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER); /* not V_ASN1_NEG_INTEGER */
	assert_false(BN_is_negative(bn));
	assert_false(BN_is_zero(bn));
	assert_true(BN_num_bits(bn) <= 128);
	assert_true(BN_num_bits(bn) > 64); /* random: fails with probability 2^-64 */
	BN_free(bn);
	tu2_serial_hex(sn, hex);
	assert_string_equal(hex, info_serial);
}

static void check_usage(X509 *x)
{
	EXTENDED_KEY_USAGE *eku;
	int i = X509_get_ext_by_NID(x, NID_key_usage, -1);

	assert_true(i >= 0);
	assert_true(X509_EXTENSION_get_critical(X509_get_ext(x, i)));
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_client_auth);
	EXTENDED_KEY_USAGE_free(eku);
	assert_int_equal(X509_check_ca(x), 0);
}

static const char *uri_of(const GENERAL_NAME *gn)
{
	assert_int_equal(gn->type, GEN_URI);
	return (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
}

static void check_urls(X509 *x, const char *ca)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	const DIST_POINT *dp;
	char want[256];
	int ocsp = 0, issuers = 0;

	assert_non_null(aia);
	assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 2);
	for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
		const ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		int nid = OBJ_obj2nid(ad->method);
		if (nid == NID_ad_OCSP) {
			assert_string_equal(uri_of(ad->location), URL "/ocsp");
			ocsp++;
		} else {
			assert_int_equal(nid, NID_ad_ca_issuers);
			snprintf(want, sizeof(want), URL "/ca/%s.crt", ca);
			assert_string_equal(uri_of(ad->location), want);
			issuers++;
		}
	}
	assert_int_equal(ocsp, 1);
	assert_int_equal(issuers, 1);
	assert_non_null(cdp);
	assert_int_equal(sk_DIST_POINT_num(cdp), 1);
	dp = sk_DIST_POINT_value(cdp, 0);
	assert_non_null(dp->distpoint);
	assert_int_equal(dp->distpoint->type, 0);
	assert_int_equal(sk_GENERAL_NAME_num(dp->distpoint->name.fullname), 1);
	snprintf(want, sizeof(want), URL "/crl/%s.crl", ca);
	assert_string_equal(uri_of(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0)), want);
	AUTHORITY_INFO_ACCESS_free(aia);
	CRL_DIST_POINTS_free(cdp);
}

static void test_certificate_profile(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info info;
	struct dt_class cl;
	EVP_PKEY *key = NULL;
	unsigned char *csr, *der = NULL;
	size_t len, der_len = 0;
	X509 *x, *ca;
	int64_t nb, na, now = (int64_t)time(NULL);

	tu_device(t, "pump-1", NULL);
	assert_int_equal(dt_class_get(t->ctx, "pump", &cl, &err), DT_OK);
	csr = tu_csr("P-256", &key, &len);
	assert_int_equal(
	    dt_cert_issue(t->ctx, "pump-1", csr, len, NULL, &der, &der_len, &info, &err), DT_OK);
	/* The CSR's name appears nowhere in the certificate, not even in an extension. */
	assert_false(has_bytes(der, der_len, "csr-name"));
	x = tu2_d2i_cert(der, der_len);
	ca = tu2_ca_cert(t, "default");

	assert_int_equal(X509_get_version(x), 2);
	check_subject(x, "pump-1", "SN-1");
	check_san(x, "urn:devtrust:testorg:pump:pump-1");
	check_serial(x, info.serial);
	check_usage(x);
	check_urls(x, "default");
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);

	assert_non_null(X509_get0_authority_key_id(x));
	assert_non_null(X509_get0_subject_key_id(ca));
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(ca)), 0);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);

	nb = asn1_epoch(X509_get0_notBefore(x));
	na = asn1_epoch(X509_get0_notAfter(x));
	assert_true(na - nb <= cl.lifetime_s + 60);
	assert_true(na - nb >= cl.lifetime_s);
	assert_true(nb <= now && nb >= now - 120);

	assert_string_equal(info.device_id, "pump-1");
	assert_string_equal(info.ca, "default");
	assert_int_equal(info.key_type, DT_KEY_EC_P256);
	assert_int_equal(info.status, DT_CERT_VALID);
	assert_int_equal(info.not_before, nb);
	assert_int_equal(info.not_after, na);
	assert_int_equal(tu2_cert_count(t), 1);

	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	OPENSSL_free(csr);
	OPENSSL_free(der);
}

/* A CSR asking for its own SAN and CA:TRUE gets neither. */
static void test_csr_extensions_ignored(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *r = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509V3_CTX v3;
	unsigned char *csr = NULL, *der = NULL;
	size_t der_len = 0;
	int n;
	X509 *x;

	tu_device(t, "pump-x", NULL);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
				   (const unsigned char *)"evil.example", -1, -1, 0);
	X509V3_set_ctx(&v3, NULL, NULL, r, NULL, 0);
	sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
							 "DNS:evil.example,URI:urn:x"));
	sk_X509_EXTENSION_push(exts,
			       X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "CA:TRUE"));
	assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	n = i2d_X509_REQ(r, &csr);
	assert_true(n > 0);
	assert_int_equal(
	    dt_cert_issue(t->ctx, "pump-x", csr, (size_t)n, NULL, &der, &der_len, NULL, &err),
	    DT_OK);
	assert_false(has_bytes(der, der_len, "evil.example"));
	assert_false(has_bytes(der, der_len, "urn:x"));
	x = tu2_d2i_cert(der, der_len);
	check_subject(x, "pump-x", "SN-1");
	check_san(x, "urn:devtrust:testorg:pump:pump-x");
	assert_int_equal(X509_check_ca(x), 0);
	X509_free(x);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	OPENSSL_free(csr);
	OPENSSL_free(der);
}

static int cmp_serial(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_thousand_distinct_serials(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info info;
	char(*serials)[DT_SERIAL_HEX_BUF] = calloc(1000, DT_SERIAL_HEX_BUF);
	unsigned char *csr, *der = NULL;
	size_t len, der_len;

	assert_non_null(serials);
	tu_device(t, "pump-1", NULL);
	/* The same device may renew with the same key, so one CSR serves. */
	csr = tu_csr("P-256", NULL, &len);
	for (int i = 0; i < 1000; i++) {
		if (dt_cert_issue(t->ctx, "pump-1", csr, len, NULL, &der, &der_len, &info, &err) !=
		    DT_OK)
			fail_msg("issuance %d: %s", i, err.msg);
		assert_int_equal(strlen(info.serial), 32);
		memcpy(serials[i], info.serial, DT_SERIAL_HEX_BUF);
		OPENSSL_free(der);
		der = NULL;
	}
	qsort(serials, 1000, DT_SERIAL_HEX_BUF, cmp_serial);
	for (int i = 1; i < 1000; i++)
		assert_string_not_equal(serials[i - 1], serials[i]);
	assert_int_equal(tu2_cert_count(t), 1000);
	free(serials);
	OPENSSL_free(csr);
}

/* Expects a refusal with code, no output, and no certificate stored. */
static void expect_refused(struct tenv *t, const char *id, const unsigned char *csr, size_t len,
			   const struct dt_issue_opts *opts, dt_code code, const char *msg_part)
{
	struct dt_error err;
	unsigned char *der = (unsigned char *)"sentinel";
	size_t der_len = 12345;
	int64_t before = tu2_cert_count(t);
	dt_code rc;

	memset(&err, 0, sizeof(err));
	rc = dt_cert_issue(t->ctx, id, csr, len, opts, &der, &der_len, NULL, &err);
	if (rc != code)
		fail_msg("want %s, got %s: %s", dt_code_name(code), dt_code_name(rc), err.msg);
	assert_null(der);
	assert_int_equal(der_len, 0);
	assert_true(err.msg[0] != '\0');
	if (msg_part && !strstr(err.msg, msg_part))
		fail_msg("message '%s' does not mention '%s'", err.msg, msg_part);
	assert_int_equal(tu2_cert_count(t), before);
}

static dt_code issue_csr(struct tenv *t, const char *id, const unsigned char *csr, size_t len,
			 const struct dt_issue_opts *opts)
{
	struct dt_error err;
	unsigned char *der = NULL;
	size_t der_len = 0;
	dt_code rc = dt_cert_issue(t->ctx, id, csr, len, opts, &der, &der_len, NULL, &err);

	if (rc != DT_OK)
		fail_msg("issue %s: %s", id, err.msg);
	assert_non_null(der);
	assert_true(der_len > 0);
	OPENSSL_free(der);
	return rc;
}

static void test_refuses_key_type_not_in_class(void **state)
{
	struct tenv *t = *state;
	unsigned char *csr;
	size_t len;

	tu2_class(t, "p256only", "default", DT_KEY_EC_P256, 30 * 86400, 0);
	tu2_device(t, "dev-1", "p256only", NULL);
	csr = tu_csr("P-384", NULL, &len);
	expect_refused(t, "dev-1", csr, len, NULL, DT_ERR_INVALID, "ec-p384");
	OPENSSL_free(csr);
	csr = tu_csr("P-256", NULL, &len);
	expect_refused(t, "nope", csr, len, NULL, DT_ERR_NOT_FOUND, "nope");
	OPENSSL_free(csr);
}

static void test_refuses_malformed_csrs(void **state)
{
	struct tenv *t = *state;
	static const unsigned char garbage[] = "this is not a certification request at all";
	unsigned char *csr, *big;
	size_t len;

	tu_device(t, "pump-1", NULL);
	csr = tu_csr("P-256", NULL, &len);

	expect_refused(t, "pump-1", garbage, 0, NULL, DT_ERR_INVALID, "empty");
	expect_refused(t, "pump-1", garbage, sizeof(garbage) - 1, NULL, DT_ERR_INVALID, NULL);
	expect_refused(t, "pump-1", csr, len - 1, NULL, DT_ERR_INVALID, NULL);

	/* Oversized: a valid CSR padded past the limit. */
	big = calloc(1, DT_MAX_CSR_BYTES + 1);
	assert_non_null(big);
	memcpy(big, csr, len);
	expect_refused(t, "pump-1", big, DT_MAX_CSR_BYTES + 1, NULL, DT_ERR_INVALID, "16384");

	/* Trailing bytes after the DER structure. */
	big[len] = 0x00;
	expect_refused(t, "pump-1", big, len + 1, NULL, DT_ERR_INVALID, "after");
	free(big);

	/* The signature BIT STRING ends the DER: flip its last byte (ECDSA s). */
	csr[len - 1] ^= 0x01;
	expect_refused(t, "pump-1", csr, len, NULL, DT_ERR_INVALID, "signature");
	csr[len - 1] ^= 0x01;

	/* The intact CSR still works: the refusals above were for their own reasons. */
	assert_int_equal(issue_csr(t, "pump-1", csr, len, NULL), DT_OK);
	OPENSSL_free(csr);
}

/* A TLV with a DER (minimal) length, appended at out; returns its size. Test input only. */
static size_t put_tlv(unsigned char *out, unsigned char tag, const unsigned char *v, size_t n)
{
	size_t h = 0;

	out[h++] = tag;
	if (n < 0x80) {
		out[h++] = (unsigned char)n;
	} else if (n < 0x100) {
		out[h++] = 0x81;
		out[h++] = (unsigned char)n;
	} else {
		out[h++] = 0x82;
		out[h++] = (unsigned char)(n >> 8);
		out[h++] = (unsigned char)n;
	}
	memcpy(out + h, v, n);
	return h + n;
}

/* The content of the DER SEQUENCE at der (definite length), and its size. */
static const unsigned char *seq_content(const unsigned char *der, size_t *n)
{
	assert_int_equal(der[0], 0x30);
	if (der[1] < 0x80) {
		*n = der[1];
		return der + 2;
	}
	assert_true(der[1] == 0x81 || der[1] == 0x82);
	*n = der[1] == 0x81 ? der[2] : ((size_t)der[2] << 8 | der[3]);
	return der + (der[1] == 0x81 ? 3 : 4);
}

/* A SEQUENCE of n content octets with a BER length: long form with a leading zero octet
 * (X.690 section 10.1 forbids it in DER); returns its size. Test input only. */
static size_t put_long_form_seq(unsigned char *out, const unsigned char *content, size_t n)
{
	out[0] = 0x30;
	out[1] = 0x83;
	out[2] = 0x00;
	out[3] = (unsigned char)(n >> 8);
	out[4] = (unsigned char)n;
	memcpy(out + 5, content, n);
	return n + 5;
}

/* RFC 2986 section 4: only DER. OpenSSL's decoder takes BER too, and its signature check
 * covers the signed part's bytes as sent, so these all verify: the refusal is ours. */
static void test_refuses_non_der_csrs(void **state)
{
	struct tenv *t = *state;
	static const unsigned char ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
						     0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	X509_REQ *r = NULL;
	unsigned char *csr, *tbs = NULL, ber[2048], body[2048], sig[160], bits[161];
	const unsigned char *content, *p;
	size_t len, n, blen, sig_len = sizeof(sig), tbs_content_len;
	int tbs_len;

	tu_device(t, "pump-1", NULL);
	csr = tu_csr("P-256", &k, &len);
	content = seq_content(csr, &n);
	assert_true(n + 8 < sizeof(ber));

	/* 1. The outer SEQUENCE with an indefinite length (X.690 section 8.1.3.6). */
	ber[0] = 0x30;
	ber[1] = 0x80;
	memcpy(ber + 2, content, n);
	ber[2 + n] = ber[3 + n] = 0x00;
	blen = n + 4;
	p = ber;
	assert_non_null(r = d2i_X509_REQ(NULL, &p, (long)blen));
	assert_int_equal(X509_REQ_verify(r, k), 1);
	X509_REQ_free(r);
	expect_refused(t, "pump-1", ber, blen, NULL, DT_ERR_INVALID, "not DER-encoded");

	/* 2. The outer length in long form with a leading zero octet (X.690 section 10.1). */
	blen = put_long_form_seq(ber, content, n);
	expect_refused(t, "pump-1", ber, blen, NULL, DT_ERR_INVALID, "not DER-encoded");

	/* 3. A device that signed a BER CertificationRequestInfo (a long-form length): the
	 * signature is over those bytes and verifies, but RFC 2986 signs the DER. */
	p = csr;
	assert_non_null(r = d2i_X509_REQ(NULL, &p, (long)len));
	assert_true((tbs_len = i2d_re_X509_REQ_tbs(r, &tbs)) > 0);
	X509_REQ_free(r);
	content = seq_content(tbs, &tbs_content_len);
	blen = put_long_form_seq(ber, content, tbs_content_len);
	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &sig_len, ber, blen), 1);
	bits[0] = 0x00; /* no unused bits */
	memcpy(bits + 1, sig, sig_len);
	memcpy(body, ber, blen);
	memcpy(body + blen, ecdsa_sha256, sizeof(ecdsa_sha256));
	n = blen + sizeof(ecdsa_sha256);
	n += put_tlv(body + n, 0x03, bits, sig_len + 1);
	blen = put_tlv(ber, 0x30, body, n);
	p = ber;
	assert_non_null(r = d2i_X509_REQ(NULL, &p, (long)blen));
	assert_int_equal(X509_REQ_verify(r, k), 1);
	X509_REQ_free(r);
	expect_refused(t, "pump-1", ber, blen, NULL, DT_ERR_INVALID, "not DER-encoded");

	/* The same request in DER is issued: the refusals were for the encoding alone. */
	assert_int_equal(issue_csr(t, "pump-1", csr, len, NULL), DT_OK);
	EVP_MD_CTX_free(md);
	OPENSSL_free(tbs);
	OPENSSL_free(csr);
	EVP_PKEY_free(k);
}

static void test_refuses_key_of_other_device(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	EVP_PKEY *k = NULL;
	unsigned char *csr, *csr2, *der = NULL;
	size_t len, len2, der_len;

	tu_device(t, "pump-1", NULL);
	tu_device(t, "pump-2", NULL);
	csr = tu_csr("P-256", &k, &len);
	assert_int_equal(
	    dt_cert_issue(t->ctx, "pump-1", csr, len, NULL, &der, &der_len, NULL, &err), DT_OK);
	OPENSSL_free(der);
	/* Same key, new CSR (new signature), other device. */
	csr2 = tu_csr_for_key(k, &len2);
	expect_refused(t, "pump-2", csr2, len2, NULL, DT_ERR_EXISTS, "another device");
	expect_refused(t, "pump-2", csr, len, NULL, DT_ERR_EXISTS, "another device");
	EVP_PKEY_free(k);
	OPENSSL_free(csr);
	OPENSSL_free(csr2);
}

static void test_refuses_key_of_revoked_cert(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info info;
	EVP_PKEY *k = NULL;
	unsigned char *csr, *csr2, *der = NULL;
	size_t len, len2, der_len;

	tu_device(t, "pump-1", NULL);
	csr = tu_csr("P-256", &k, &len);
	assert_int_equal(
	    dt_cert_issue(t->ctx, "pump-1", csr, len, NULL, &der, &der_len, &info, &err), DT_OK);
	OPENSSL_free(der);
	assert_int_equal(
	    dt_cert_revoke(t->ctx, info.serial, DT_REASON_KEY_COMPROMISE, "leaked", &err), DT_OK);
	csr2 = tu_csr_for_key(k, &len2);
	expect_refused(t, "pump-1", csr2, len2, NULL, DT_ERR_EXISTS, "revoked");
	EVP_PKEY_free(k);
	OPENSSL_free(csr);
	OPENSSL_free(csr2);
}

static void test_refuses_retired_device(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	unsigned char *csr;
	size_t len;

	tu_device(t, "pump-1", NULL);
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);
	csr = tu_csr("P-256", NULL, &len);
	expect_refused(t, "pump-1", csr, len, NULL, DT_ERR_STATE, "retired");
	OPENSSL_free(csr);
}

/* STYLE.md habit 3: outputs are cleared on entry, so a failed call leaves no stale info. */
static void test_refusal_clears_info(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info info;
	unsigned char *der = NULL;
	size_t der_len;
	static const unsigned char garbage[] = "garbage";

	tu_device(t, "pump-1", NULL);
	memset(&info, 'X', sizeof(info));
	assert_int_equal(dt_cert_issue(t->ctx, "pump-1", garbage, sizeof(garbage), NULL, &der,
				       &der_len, &info, &err),
			 DT_ERR_INVALID);
	assert_int_equal(info.serial[0], '\0');
}

static dt_code issue_with(struct tenv *t, const char *id, const struct dt_issue_opts *o,
			  struct dt_cert_info *info, struct dt_error *err)
{
	unsigned char *csr, *der = NULL;
	size_t len, der_len;
	dt_code rc;

	csr = tu_csr("P-256", NULL, &len);
	rc = dt_cert_issue(t->ctx, id, csr, len, o, &der, &der_len, info, err);
	assert_true(rc == DT_OK ? der != NULL : der == NULL);
	OPENSSL_free(csr);
	OPENSSL_free(der);
	return rc;
}

static void test_token_is_single_use(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_issue_opts o = {0};
	char token[DT_TOKEN_BUF];
	unsigned char *csr;
	size_t len;

	tu_device(t, "pump-1", token);
	assert_int_equal(strlen(token), 32);
	o.token = token;
	assert_int_equal(issue_with(t, "pump-1", &o, NULL, &err), DT_OK);
	assert_int_equal(tu2_cert_count(t), 1);
	csr = tu_csr("P-256", NULL, &len);
	expect_refused(t, "pump-1", csr, len, &o, DT_ERR_AUTH, NULL);
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", token, &err), DT_ERR_AUTH);
	OPENSSL_free(csr);
}

static void test_wrong_token_refused(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_issue_opts o = {0};
	char token[DT_TOKEN_BUF], wrong[DT_TOKEN_BUF];
	unsigned char *csr;
	size_t len;

	tu_device(t, "pump-1", token);
	tu_device(t, "pump-2", NULL);
	csr = tu_csr("P-256", NULL, &len);
	snprintf(wrong, sizeof(wrong), "%s", token);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	o.token = wrong;
	expect_refused(t, "pump-1", csr, len, &o, DT_ERR_AUTH, "wrong");
	o.token = "short";
	expect_refused(t, "pump-1", csr, len, &o, DT_ERR_AUTH, NULL);
	o.token = "";
	expect_refused(t, "pump-1", csr, len, &o, DT_ERR_AUTH, NULL);
	/* A right token for another device is wrong for this one. */
	o.token = token;
	expect_refused(t, "pump-2", csr, len, &o, DT_ERR_AUTH, NULL);
	/* None of the failures consumed the real token. */
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", token, &err), DT_OK);
	assert_int_equal(issue_with(t, "pump-1", &o, NULL, &err), DT_OK);
	OPENSSL_free(csr);
}

static void test_new_token_replaces_old(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_issue_opts o = {0};
	char old[DT_TOKEN_BUF], fresh[DT_TOKEN_BUF];
	unsigned char *csr;
	size_t len;

	tu_device(t, "pump-1", old);
	assert_int_equal(dt_device_token(t->ctx, "pump-1", 3600, fresh, &err), DT_OK);
	assert_string_not_equal(old, fresh);
	csr = tu_csr("P-256", NULL, &len);
	o.token = old;
	expect_refused(t, "pump-1", csr, len, &o, DT_ERR_AUTH, NULL);
	o.token = fresh;
	assert_int_equal(issue_csr(t, "pump-1", csr, len, &o), DT_OK);
	OPENSSL_free(csr);
}

static void test_supersede(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_issue_opts o = {.supersede = 1};
	struct dt_cert_info a, b, c, d, got;

	tu2_class(t, "rot", "default", DT_KEY_EC_P256, 30 * 86400, 1);
	tu2_device(t, "dev-1", "rot", NULL);
	a = tu2_issue(t, "dev-1", "P-256", NULL);
	/* Without the supersede flag, renewal leaves the old certificate valid. */
	b = tu2_issue(t, "dev-1", "P-256", NULL);
	assert_int_equal(dt_cert_get(t->ctx, a.serial, &got, &err), DT_OK);
	assert_int_equal(got.status, DT_CERT_VALID);
	assert_int_equal(issue_with(t, "dev-1", &o, &c, &err), DT_OK);
	assert_int_equal(dt_cert_get(t->ctx, a.serial, &got, &err), DT_OK);
	assert_int_equal(got.status, DT_CERT_REVOKED);
	assert_int_equal(got.reason, DT_REASON_SUPERSEDED);
	assert_int_equal(dt_cert_get(t->ctx, b.serial, &got, &err), DT_OK);
	assert_int_equal(got.status, DT_CERT_REVOKED);
	assert_int_equal(got.reason, DT_REASON_SUPERSEDED);
	assert_int_equal(dt_cert_get(t->ctx, c.serial, &got, &err), DT_OK);
	assert_int_equal(got.status, DT_CERT_VALID);

	/* A class without revoke_superseded keeps the old certificate despite the flag. */
	tu2_class(t, "keep", "default", DT_KEY_EC_P256, 30 * 86400, 0);
	tu2_device(t, "dev-2", "keep", NULL);
	a = tu2_issue(t, "dev-2", "P-256", NULL);
	assert_int_equal(issue_with(t, "dev-2", &o, &d, &err), DT_OK);
	assert_int_equal(dt_cert_get(t->ctx, a.serial, &got, &err), DT_OK);
	assert_int_equal(got.status, DT_CERT_VALID);
}

static void test_pem_csr_accepted(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info info;
	EVP_PKEY *k = EVP_EC_gen("P-384");
	X509_REQ *r = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long pem_len;
	unsigned char *der = NULL;
	size_t der_len;
	X509 *x;

	tu_device(t, "pump-1", NULL);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha384()) > 0);
	assert_int_equal(PEM_write_bio_X509_REQ(bio, r), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	assert_true(pem_len > 0);
	assert_int_equal(dt_cert_issue(t->ctx, "pump-1", (unsigned char *)pem, (size_t)pem_len,
				       NULL, &der, &der_len, &info, &err),
			 DT_OK);
	assert_int_equal(info.key_type, DT_KEY_EC_P384);
	x = tu2_d2i_cert(der, der_len);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
	X509_free(x);
	OPENSSL_free(der);
	BIO_free(bio);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_certificate_profile),
	    T(test_csr_extensions_ignored),
	    T(test_thousand_distinct_serials),
	    T(test_refuses_key_type_not_in_class),
	    T(test_refuses_malformed_csrs),
	    T(test_refuses_non_der_csrs),
	    T(test_refuses_key_of_other_device),
	    T(test_refuses_key_of_revoked_cert),
	    T(test_refuses_retired_device),
	    T(test_refusal_clears_info),
	    T(test_token_is_single_use),
	    T(test_wrong_token_refused),
	    T(test_new_token_replaces_old),
	    T(test_supersede),
	    T(test_pem_csr_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
