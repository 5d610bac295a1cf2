/*
 * The OCSP responder (RFC 6960, RFC 5019 profile), checked with OpenSSL's own
 * verifier: every successful response must pass OCSP_basic_verify against the
 * root and the issuing CAs, and say what the store says about each serial.
 */
#include "testutil.h" /* first: it sets the feature macros */

#include <fcntl.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "devtrust/ocsp.h"

extern char **environ;

/* Mirrors of the module's constants, to catch a silent change. */
#define VALIDITY_S (24 * 3600)
#define MAX_REQUEST_BYTES 4096
#define MAX_CERTIDS 8

struct certid_spec {
	const X509 *issuer;
	const ASN1_INTEGER *serial;
	const EVP_MD *md; /* NULL: SHA-1, what clients send */
};

/* A DER request for n CertIDs; nonce_len > 0 adds a nonce of that many octets. */
static unsigned char *make_request(const struct certid_spec *ids, int n, int nonce_len, size_t *len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	unsigned char *der = NULL;
	int k;

	assert_non_null(req);
	for (int i = 0; i < n; i++) {
		OCSP_CERTID *id = OCSP_cert_id_new(
		    ids[i].md ? ids[i].md : EVP_sha1(), X509_get_subject_name(ids[i].issuer),
		    X509_get0_pubkey_bitstr(ids[i].issuer), ids[i].serial);
		assert_non_null(id);
		assert_non_null(OCSP_request_add0_id(req, id));
	}
	if (nonce_len > 0)
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, nonce_len), 1);
	k = i2d_OCSP_REQUEST(req, &der);
	assert_true(k > 0);
	*len = (size_t)k;
	OCSP_REQUEST_free(req);
	return der;
}

static unsigned char *one_request(const X509 *issuer, const ASN1_INTEGER *serial, int nonce_len,
				  size_t *len)
{
	struct certid_spec s = {issuer, serial, NULL};

	return make_request(&s, 1, nonce_len, len);
}

static struct dt_ocsp_result respond(struct tenv *t, const unsigned char *der, size_t len)
{
	struct dt_ocsp_result r;
	struct dt_error err;

	if (dt_ocsp_respond(t->ctx, der, len, &r, &err) != DT_OK)
		fail_msg("dt_ocsp_respond: %s", err.msg);
	assert_non_null(r.der);
	assert_true(r.len > 0);
	return r;
}

/* The response's status, parsed back from its DER (whole buffer consumed). */
static int response_status(const struct dt_ocsp_result *r, OCSP_BASICRESP **bs)
{
	const unsigned char *p = r->der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r->len);
	int status;

	assert_non_null(resp);
	assert_ptr_equal(p, r->der + r->len);
	status = OCSP_response_status(resp);
	assert_int_equal(status, r->status);
	if (bs)
		*bs = status == OCSP_RESPONSE_STATUS_SUCCESSFUL ? OCSP_response_get1_basic(resp)
								: NULL;
	else if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL)
		fail_msg("a successful response was not inspected");
	/* A refusal carries no responseBytes (RFC 6960 section 4.2.1). */
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		OCSP_BASICRESP *none = OCSP_response_get1_basic(resp);
		assert_null(none);
	}
	OCSP_RESPONSE_free(resp);
	return status;
}

static X509_STORE *trust(struct tenv *t, const char *const *cas)
{
	X509_STORE *st = X509_STORE_new();

	assert_non_null(st);
	for (; *cas; cas++) {
		X509 *x = tu2_ca_cert(t, *cas);
		assert_int_equal(X509_STORE_add_cert(st, x), 1);
		X509_free(x);
	}
	return st;
}

static const char *const default_chain[] = {"root", "default", NULL};

/* A successful response that OpenSSL verifies against the given CAs, signed by a
 * delegated responder identified byKey and carrying its certificate. */
static OCSP_BASICRESP *verified(struct tenv *t, const struct dt_ocsp_result *r,
				const char *const *cas)
{
	OCSP_BASICRESP *bs = NULL;
	X509_STORE *st = trust(t, cas);
	const ASN1_OCTET_STRING *key_id = NULL;
	const X509_NAME *name = NULL;
	X509 *signer = NULL;

	assert_int_equal(response_status(r, &bs), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_non_null(bs);
	if (OCSP_basic_verify(bs, NULL, st, 0) != 1)
		fail_msg("OCSP_basic_verify refuses the response");
	assert_int_equal(OCSP_resp_get0_id(bs, &key_id, &name), 1);
	assert_non_null(key_id);
	assert_null(name);
	assert_int_equal(OCSP_resp_get0_signer(bs, &signer, NULL), 1);
	assert_true(X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN);
	assert_true(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE);
	assert_true(X509_get_ext_by_NID(signer, NID_id_pkix_OCSP_noCheck, -1) >= 0);
	X509_STORE_free(st);
	return bs;
}

struct single {
	int status, reason;
	int64_t revoked_at, this_update, next_update;
};

static int64_t gt_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

/* What the response says about (issuer, serial), hashed with md (NULL: SHA-1). */
static struct single find(OCSP_BASICRESP *bs, const X509 *issuer, const ASN1_INTEGER *serial,
			  const EVP_MD *md)
{
	OCSP_CERTID *id = OCSP_cert_id_new(md ? md : EVP_sha1(), X509_get_subject_name(issuer),
					   X509_get0_pubkey_bitstr(issuer), serial);
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	struct single s = {0};

	assert_non_null(id);
	if (OCSP_resp_find_status(bs, id, &s.status, &s.reason, &rev, &thisupd, &nextupd) != 1)
		fail_msg("the response does not answer for the CertID asked");
	assert_int_equal(OCSP_check_validity(thisupd, nextupd, 5, -1), 1);
	s.this_update = gt_time(thisupd);
	s.next_update = gt_time(nextupd);
	s.revoked_at = rev ? gt_time(rev) : 0;
	if (s.status == V_OCSP_CERTSTATUS_REVOKED)
		assert_non_null(rev);
	OCSP_CERTID_free(id);
	return s;
}

/* Asks about one certificate of the default CA; returns its status. */
static struct single ask(struct tenv *t, const X509 *issuer, const ASN1_INTEGER *serial,
			 const char *const *cas)
{
	size_t len;
	unsigned char *req = one_request(issuer, serial, 0, &len);
	struct dt_ocsp_result r = respond(t, req, len);
	OCSP_BASICRESP *bs = verified(t, &r, cas);
	struct single s = find(bs, issuer, serial, NULL);

	assert_int_equal(r.cacheable, 1);
	assert_int_equal(r.has_nonce, 0);
	OCSP_BASICRESP_free(bs);
	dt_ocsp_result_free(&r);
	OPENSSL_free(req);
	return s;
}

/* A device "id" in class "pump" (default CA) with one certificate. */
static X509 *device_cert(struct tenv *t, const char *id)
{
	X509 *leaf = NULL;

	tu_device(t, id, NULL);
	tu2_issue(t, id, "P-256", &leaf);
	return leaf;
}

static void test_good_for_an_issued_certificate(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
	size_t len;
	unsigned char *req = one_request(ca, sn, 0, &len);
	int64_t before = (int64_t)time(NULL);
	struct dt_ocsp_result r = respond(t, req, len);
	OCSP_BASICRESP *bs = verified(t, &r, default_chain);
	struct single s = find(bs, ca, sn, NULL);

	assert_int_equal(s.status, V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.ca, "default");
	assert_string_equal(r.device_id, "pump-1");
	{
		char hex[DT_SERIAL_HEX_BUF];
		tu2_serial_hex(sn, hex);
		assert_string_equal(r.serial, hex);
	}
	assert_int_equal(r.cacheable, 1);
	/* thisUpdate now, nextUpdate a day later, refresh after half of it. */
	assert_true(r.this_update >= before && r.this_update <= before + 5);
	assert_int_equal(s.this_update, r.this_update);
	assert_int_equal(s.next_update, r.next_update);
	assert_int_equal(r.next_update - r.this_update, VALIDITY_S);
	assert_int_equal(r.refresh_at, r.this_update + VALIDITY_S / 2);
	assert_true(r.produced_at >= r.this_update && r.produced_at <= r.this_update + 5);
	assert_int_equal(gt_time(OCSP_resp_get0_produced_at(bs)), r.produced_at);
	/* No nonce asked, none sent (OCSP_check_nonce: 2 = absent from both). */
	{
		const unsigned char *p = req;
		OCSP_REQUEST *q = d2i_OCSP_REQUEST(NULL, &p, (long)len);
		assert_int_equal(OCSP_check_nonce(q, bs), 2);
		OCSP_REQUEST_free(q);
	}
	OCSP_BASICRESP_free(bs);
	dt_ocsp_result_free(&r);
	assert_null(r.der);
	OPENSSL_free(req);
	X509_free(leaf);
	X509_free(ca);
}

static void test_sha256_certid(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};

	for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++) {
		struct certid_spec spec = {ca, X509_get0_serialNumber(leaf), mds[i]};
		size_t len;
		unsigned char *req = make_request(&spec, 1, 0, &len);
		struct dt_ocsp_result r = respond(t, req, len);
		OCSP_BASICRESP *bs = verified(t, &r, default_chain);

		/* The answer names the certificate with the request's own algorithm. */
		assert_int_equal(find(bs, ca, spec.serial, mds[i]).status, V_OCSP_CERTSTATUS_GOOD);
		OCSP_BASICRESP_free(bs);
		dt_ocsp_result_free(&r);
		OPENSSL_free(req);
	}
	{
		struct certid_spec md5 = {ca, X509_get0_serialNumber(leaf), EVP_md5()};
		size_t len;
		unsigned char *req = make_request(&md5, 1, 0, &len);
		struct dt_ocsp_result r = respond(t, req, len);

		assert_int_equal(response_status(&r, NULL), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
		dt_ocsp_result_free(&r);
		OPENSSL_free(req);
	}
	X509_free(leaf);
	X509_free(ca);
}

static void test_compromised_is_revoked_key_compromise(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info ci;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	char serial[DT_SERIAL_HEX_BUF];
	struct single s;

	assert_int_equal(
	    dt_device_transition(t->ctx, "pump-1", DT_TR_COMPROMISED, "stolen", NULL, &err), DT_OK);
	s = ask(t, ca, X509_get0_serialNumber(leaf), default_chain);
	assert_int_equal(s.status, V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(s.reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
	tu2_serial_hex(X509_get0_serialNumber(leaf), serial);
	assert_int_equal(dt_cert_get(t->ctx, serial, &ci, &err), DT_OK);
	assert_int_equal(s.revoked_at, ci.revoked_at);
	X509_free(leaf);
	X509_free(ca);
}

static void test_revoked_unspecified_omits_the_reason(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	char serial[DT_SERIAL_HEX_BUF];
	struct single s;

	tu2_serial_hex(X509_get0_serialNumber(leaf), serial);
	assert_int_equal(dt_cert_revoke(t->ctx, serial, DT_REASON_UNSPECIFIED, "test", &err),
			 DT_OK);
	s = ask(t, ca, X509_get0_serialNumber(leaf), default_chain);
	assert_int_equal(s.status, V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(s.reason, OCSP_REVOKED_STATUS_NOSTATUS);
	X509_free(leaf);
	X509_free(ca);
}

static void test_hold_and_resume(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
	struct single s;

	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_SUSPEND, "maint", NULL, &err),
			 DT_OK);
	s = ask(t, ca, sn, default_chain);
	assert_int_equal(s.status, V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(s.reason, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
	assert_true(s.revoked_at > 0);
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_RESUME, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(ask(t, ca, sn, default_chain).status, V_OCSP_CERTSTATUS_GOOD);
	X509_free(leaf);
	X509_free(ca);
}

static ASN1_INTEGER *integer_from(const unsigned char *bytes, int n, int negative)
{
	BIGNUM *bn = BN_bin2bn(bytes, n, NULL);
	ASN1_INTEGER *a;

	assert_non_null(bn);
	BN_set_negative(bn, negative);
	a = BN_to_ASN1_INTEGER(bn, NULL);
	assert_non_null(a);
	BN_free(bn);
	return a;
}

static void test_unknown_serials(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	unsigned char raw[21];
	ASN1_INTEGER *sn;

	/* Random, zero, longer than RFC 5280 allows, and negative with a real magnitude. */
	assert_int_equal(RAND_bytes(raw, sizeof(raw)), 1);
	raw[0] |= 0x40;
	raw[0] &= 0x7f;
	sn = integer_from(raw, 16, 0);
	assert_int_equal(ask(t, ca, sn, default_chain).status, V_OCSP_CERTSTATUS_UNKNOWN);
	ASN1_INTEGER_free(sn);
	sn = integer_from((const unsigned char *)"\0", 1, 0);
	assert_int_equal(ask(t, ca, sn, default_chain).status, V_OCSP_CERTSTATUS_UNKNOWN);
	ASN1_INTEGER_free(sn);
	sn = integer_from(raw, 21, 0);
	assert_int_equal(ask(t, ca, sn, default_chain).status, V_OCSP_CERTSTATUS_UNKNOWN);
	ASN1_INTEGER_free(sn);
	sn = integer_from(ASN1_STRING_get0_data(X509_get0_serialNumber(leaf)),
			  ASN1_STRING_length(X509_get0_serialNumber(leaf)), 1);
	assert_int_equal(ask(t, ca, sn, default_chain).status, V_OCSP_CERTSTATUS_UNKNOWN);
	ASN1_INTEGER_free(sn);
	X509_free(leaf);
	X509_free(ca);
}

/* A self-signed CA nobody here knows. */
static X509 *foreign_ca(EVP_PKEY **key_out)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	assert_non_null(k);
	assert_non_null(x);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"Elsewhere CA", -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	if (key_out)
		*key_out = k;
	else
		EVP_PKEY_free(k);
	return x;
}

static void test_foreign_ca_is_unauthorized(void **state)
{
	struct tenv *t = *state;
	X509 *foreign = foreign_ca(NULL);
	X509 *leaf = device_cert(t, "pump-1");
	size_t len;
	/* Our serial under another CA's name: still not ours to answer. */
	unsigned char *req = one_request(foreign, X509_get0_serialNumber(leaf), 0, &len);
	struct dt_ocsp_result r = respond(t, req, len);

	assert_int_equal(response_status(&r, NULL), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	assert_int_equal(r.cacheable, 0);
	assert_non_null(strstr(r.why, "RFC 6960 section 2.3"));
	dt_ocsp_result_free(&r);
	OPENSSL_free(req);
	X509_free(leaf);
	X509_free(foreign);
}

static void expect_malformed(struct tenv *t, const unsigned char *der, size_t len, const char *why)
{
	struct dt_ocsp_result r = respond(t, der, len);

	assert_int_equal(response_status(&r, NULL), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	assert_int_equal(r.cacheable, 0);
	if (!strstr(r.why, why))
		fail_msg("malformedRequest says '%s', want it to mention '%s'", r.why, why);
	dt_ocsp_result_free(&r);
}

static void test_malformed_requests(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	size_t len;
	unsigned char *req = one_request(ca, X509_get0_serialNumber(leaf), 0, &len);
	unsigned char *longer = malloc(len + 1);
	struct dt_ocsp_result r;
	struct dt_error err;

	assert_non_null(longer);
	expect_malformed(t, (const unsigned char *)"garbage", 7, "not a DER OCSPRequest");
	expect_malformed(t, NULL, 0, "empty");
	expect_malformed(t, req, len - 1, "not a DER OCSPRequest");
	expect_malformed(t, req, 2, "not a DER OCSPRequest");
	memcpy(longer, req, len);
	longer[len] = 0;
	expect_malformed(t, longer, len + 1, "1 bytes after");
	/* The certificate instead of a request. */
	{
		unsigned char *der = NULL;
		int n = i2d_X509(leaf, &der);
		expect_malformed(t, der, (size_t)n, "not a DER OCSPRequest");
		OPENSSL_free(der);
	}
	/* The untouched request still works. */
	r = respond(t, req, len);
	assert_int_equal(r.status, OCSP_RESPONSE_STATUS_SUCCESSFUL);
	dt_ocsp_result_free(&r);
	/* Only statuses that have no body exist as bare error responses. */
	assert_int_equal(dt_ocsp_error_response(DT_OCSP_INTERNAL_ERROR, &r, &err), DT_OK);
	assert_int_equal(response_status(&r, NULL), OCSP_RESPONSE_STATUS_INTERNALERROR);
	dt_ocsp_result_free(&r);
	assert_int_equal(dt_ocsp_error_response(DT_OCSP_SUCCESSFUL, &r, &err), DT_ERR_INVALID);
	assert_null(r.der);
	free(longer);
	OPENSSL_free(req);
	X509_free(leaf);
	X509_free(ca);
}

/* A well-formed request above the size limit: refused by the limit, not the parser. */
static void test_oversized_request(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	ASN1_OCTET_STRING *pad = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
	unsigned char *big = calloc(1, MAX_REQUEST_BYTES), *der = NULL;
	X509_EXTENSION *ext;
	int n;

	assert_non_null(big);
	assert_non_null(OCSP_request_add0_id(req, OCSP_cert_to_id(NULL, leaf, ca)));
	assert_int_equal(ASN1_OCTET_STRING_set(pad, big, MAX_REQUEST_BYTES), 1);
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, pad);
	assert_non_null(ext);
	assert_int_equal(OCSP_REQUEST_add_ext(req, ext, -1), 1);
	n = i2d_OCSP_REQUEST(req, &der);
	assert_true(n > MAX_REQUEST_BYTES);
	expect_malformed(t, der, (size_t)n, "DT_MAX_OCSP_REQUEST_BYTES");
	expect_malformed(t, big, MAX_REQUEST_BYTES + 1, "limit is 4096");
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(pad);
	OCSP_REQUEST_free(req);
	free(big);
	X509_free(leaf);
	X509_free(ca);
}

/* A request for leaf with one extra request extension (value: DER of an OCTET STRING
 * holding value_len bytes, or raw bytes when raw is set). */
static unsigned char *with_extension(const X509 *ca, const X509 *leaf, int nid_or_zero,
				     int critical, size_t value_len, int raw, int copies,
				     size_t *len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new(), *outer = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid =
	    nid_or_zero ? OBJ_nid2obj(nid_or_zero) : OBJ_txt2obj("1.3.6.1.4.1.99999.2", 1);
	unsigned char value[200], *enc = NULL, *der = NULL;
	int n;

	assert_true(value_len <= sizeof(value));
	memset(value, 0x5a, sizeof(value));
	assert_non_null(OCSP_request_add0_id(
	    req, OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca),
				  X509_get0_pubkey_bitstr(ca), X509_get0_serialNumber(leaf))));
	assert_int_equal(ASN1_OCTET_STRING_set(inner, value, (int)value_len), 1);
	if (raw) {
		assert_int_equal(ASN1_OCTET_STRING_set(outer, value, (int)value_len), 1);
	} else {
		n = i2d_ASN1_OCTET_STRING(inner, &enc);
		assert_true(n > 0);
		assert_int_equal(ASN1_OCTET_STRING_set(outer, enc, n), 1);
	}
	for (int i = 0; i < copies; i++) {
		X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, oid, critical, outer);
		assert_non_null(ext);
		assert_int_equal(OCSP_REQUEST_add_ext(req, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	n = i2d_OCSP_REQUEST(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	OPENSSL_free(enc);
	ASN1_OCTET_STRING_free(inner);
	ASN1_OCTET_STRING_free(outer);
	if (!nid_or_zero)
		ASN1_OBJECT_free(oid);
	OCSP_REQUEST_free(req);
	return der;
}

static void test_nonce_is_echoed(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	size_t len;
	unsigned char *req = one_request(ca, X509_get0_serialNumber(leaf), 32, &len);
	struct dt_ocsp_result r = respond(t, req, len), again;
	OCSP_BASICRESP *bs = verified(t, &r, default_chain);
	const unsigned char *p = req;
	OCSP_REQUEST *q = d2i_OCSP_REQUEST(NULL, &p, (long)len);

	assert_int_equal(OCSP_check_nonce(q, bs), 1);
	assert_int_equal(find(bs, ca, X509_get0_serialNumber(leaf), NULL).status,
			 V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(r.has_nonce, 1);
	assert_int_equal(r.cacheable, 0);
	/* Freshly signed each time: ECDSA signatures differ. */
	again = respond(t, req, len);
	assert_true(again.len != r.len || memcmp(again.der, r.der, r.len) != 0);
	dt_ocsp_result_free(&again);
	OCSP_REQUEST_free(q);
	OCSP_BASICRESP_free(bs);
	dt_ocsp_result_free(&r);
	OPENSSL_free(req);
	/* RFC 9654 section 2.1: 1 to 128 octets, inside an OCTET STRING, once. */
	{
		static const struct {
			size_t len;
			int raw, copies, ok;
		} cases[] = {{1, 0, 1, 1},   {16, 0, 1, 1}, {128, 0, 1, 1}, {0, 0, 1, 0},
			     {129, 0, 1, 0}, {16, 1, 1, 0}, {16, 0, 2, 0}};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			unsigned char *der =
			    with_extension(ca, leaf, NID_id_pkix_OCSP_Nonce, 0, cases[i].len,
					   cases[i].raw, cases[i].copies, &len);
			struct dt_ocsp_result x = respond(t, der, len);

			if (cases[i].ok) {
				bs = verified(t, &x, default_chain);
				p = der;
				q = d2i_OCSP_REQUEST(NULL, &p, (long)len);
				assert_int_equal(OCSP_check_nonce(q, bs), 1);
				OCSP_REQUEST_free(q);
				OCSP_BASICRESP_free(bs);
			} else {
				assert_int_equal(response_status(&x, NULL),
						 OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
				assert_non_null(strstr(x.why, "nonce"));
			}
			dt_ocsp_result_free(&x);
			OPENSSL_free(der);
		}
	}
	X509_free(leaf);
	X509_free(ca);
}

static void test_extensions(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	size_t len;
	unsigned char *der = with_extension(ca, leaf, 0, 0, 8, 0, 1, &len);
	struct dt_ocsp_result r = respond(t, der, len);
	OCSP_BASICRESP *bs = verified(t, &r, default_chain);

	/* RFC 6960 section 4.4: an unknown non-critical extension is ignored... */
	assert_int_equal(find(bs, ca, X509_get0_serialNumber(leaf), NULL).status,
			 V_OCSP_CERTSTATUS_GOOD);
	OCSP_BASICRESP_free(bs);
	dt_ocsp_result_free(&r);
	OPENSSL_free(der);
	/* ...a critical one is not. */
	der = with_extension(ca, leaf, 0, 1, 8, 0, 1, &len);
	expect_malformed(t, der, len, "critical request extension 1.3.6.1.4.1.99999.2");
	OPENSSL_free(der);
	X509_free(leaf);
	X509_free(ca);
}

static void test_certid_count(void **state)
{
	struct tenv *t = *state;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf[MAX_CERTIDS];
	struct certid_spec spec[MAX_CERTIDS + 1];
	char id[32];
	size_t len;
	unsigned char *req;
	struct dt_ocsp_result r;
	OCSP_BASICRESP *bs;
	struct dt_error err;

	for (int i = 0; i < MAX_CERTIDS; i++) {
		snprintf(id, sizeof(id), "pump-%d", i);
		leaf[i] = device_cert(t, id);
		spec[i] = (struct certid_spec){ca, X509_get0_serialNumber(leaf[i]), NULL};
	}
	assert_int_equal(dt_device_transition(t->ctx, "pump-3", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);
	req = make_request(spec, MAX_CERTIDS, 0, &len);
	r = respond(t, req, len);
	bs = verified(t, &r, default_chain);
	assert_int_equal(r.count, MAX_CERTIDS);
	assert_int_equal(OCSP_resp_count(bs), MAX_CERTIDS);
	for (int i = 0; i < MAX_CERTIDS; i++) {
		struct single s = find(bs, ca, spec[i].serial, NULL);
		assert_int_equal(s.status,
				 i == 3 ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD);
		if (i == 3)
			assert_int_equal(s.reason, OCSP_REVOKED_STATUS_CESSATIONOFOPERATION);
	}
	OCSP_BASICRESP_free(bs);
	dt_ocsp_result_free(&r);
	OPENSSL_free(req);
	spec[MAX_CERTIDS] = spec[0];
	req = make_request(spec, MAX_CERTIDS + 1, 0, &len);
	expect_malformed(t, req, len, "DT_MAX_OCSP_CERTIDS");
	OPENSSL_free(req);
	for (int i = 0; i < MAX_CERTIDS; i++)
		X509_free(leaf[i]);
	X509_free(ca);
}

static void test_root_answers_for_issuing_cas(void **state)
{
	struct tenv *t = *state;
	static const char *const chain[] = {"root", "default", "vendor-a", NULL};
	struct dt_error err;
	X509 *root, *def, *va, *leaf = NULL;
	struct single s;
	struct stat st;
	char path[400];

	snprintf(path, sizeof(path), "%s/keys/root-ocsp.key", t->data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	tu2_class(t, "infusion", "vendor-a", DT_KEY_EC_P256, 86400, 0);
	tu2_device(t, "inf-1", "infusion", NULL);
	tu2_issue(t, "inf-1", "P-256", &leaf);
	root = tu2_ca_cert(t, "root");
	def = tu2_ca_cert(t, "default");
	va = tu2_ca_cert(t, "vendor-a");
	assert_int_equal(ask(t, root, X509_get0_serialNumber(def), chain).status,
			 V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ask(t, root, X509_get0_serialNumber(va), chain).status,
			 V_OCSP_CERTSTATUS_GOOD);
	{
		char hex[DT_SERIAL_HEX_BUF];
		size_t len;
		unsigned char *req = one_request(root, X509_get0_serialNumber(va), 0, &len);
		struct dt_ocsp_result r = respond(t, req, len);

		tu2_serial_hex(X509_get0_serialNumber(va), hex);
		assert_string_equal(r.ca, "root");
		assert_string_equal(r.serial, hex);
		assert_string_equal(r.device_id, "");
		dt_ocsp_result_free(&r);
		OPENSSL_free(req);
	}
	assert_int_equal(ask(t, va, X509_get0_serialNumber(leaf), chain).status,
			 V_OCSP_CERTSTATUS_GOOD);
	/* The root's serial, or a leaf's, is nothing the root issued. */
	assert_int_equal(ask(t, root, X509_get0_serialNumber(root), chain).status,
			 V_OCSP_CERTSTATUS_UNKNOWN);
	assert_int_equal(ask(t, root, X509_get0_serialNumber(leaf), chain).status,
			 V_OCSP_CERTSTATUS_UNKNOWN);

	assert_int_equal(dt_ca_revoke(t->ctx, "vendor-a", DT_REASON_KEY_COMPROMISE, &err), DT_OK);
	s = ask(t, root, X509_get0_serialNumber(va), chain);
	assert_int_equal(s.status, V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(s.reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
	assert_int_equal(ask(t, root, X509_get0_serialNumber(def), chain).status,
			 V_OCSP_CERTSTATUS_GOOD);
	/* Below a compromised CA, every certificate is revoked: cACompromise. */
	s = ask(t, va, X509_get0_serialNumber(leaf), chain);
	assert_int_equal(s.status, V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(s.reason, OCSP_REVOKED_STATUS_CACOMPROMISE);
	X509_free(leaf);
	X509_free(va);
	X509_free(def);
	X509_free(root);
}

/* A data dir initialised before the root had an OCSP signer. */
static void test_root_without_signer_is_unauthorized(void **state)
{
	struct tenv *t = *state;
	X509 *root = tu2_ca_cert(t, "root"), *def = tu2_ca_cert(t, "default");
	size_t len;
	unsigned char *req = one_request(root, X509_get0_serialNumber(def), 0, &len);
	struct dt_ocsp_result r;

	tu2_sql(t, "UPDATE cas SET ocsp_cert=NULL WHERE name='root'");
	r = respond(t, req, len);
	assert_int_equal(response_status(&r, NULL), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	assert_non_null(strstr(r.why, "no OCSP signer"));
	dt_ocsp_result_free(&r);
	OPENSSL_free(req);
	X509_free(def);
	X509_free(root);
}

static void test_mixed_issuers_are_unauthorized(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	X509 *def = tu2_ca_cert(t, "default"), *leaf = device_cert(t, "pump-1"), *leaf2 = NULL, *va;
	struct certid_spec spec[2];
	size_t len;
	unsigned char *req;
	struct dt_ocsp_result r;

	assert_int_equal(dt_ca_add(t->ctx, "vendor-a", &err), DT_OK);
	tu2_class(t, "infusion", "vendor-a", DT_KEY_EC_P256, 86400, 0);
	tu2_device(t, "inf-1", "infusion", NULL);
	tu2_issue(t, "inf-1", "P-256", &leaf2);
	va = tu2_ca_cert(t, "vendor-a");
	spec[0] = (struct certid_spec){def, X509_get0_serialNumber(leaf), NULL};
	spec[1] = (struct certid_spec){va, X509_get0_serialNumber(leaf2), NULL};
	req = make_request(spec, 2, 0, &len);
	r = respond(t, req, len);
	assert_int_equal(response_status(&r, NULL), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	assert_non_null(strstr(r.why, "4.2.2.2"));
	dt_ocsp_result_free(&r);
	OPENSSL_free(req);
	/* A serial of vendor-a under the default CA's name is not the default CA's. */
	req = one_request(def, X509_get0_serialNumber(leaf2), 0, &len);
	r = respond(t, req, len);
	{
		OCSP_BASICRESP *bs = verified(t, &r, default_chain);
		assert_int_equal(find(bs, def, X509_get0_serialNumber(leaf2), NULL).status,
				 V_OCSP_CERTSTATUS_UNKNOWN);
		OCSP_BASICRESP_free(bs);
	}
	dt_ocsp_result_free(&r);
	OPENSSL_free(req);
	X509_free(va);
	X509_free(leaf2);
	X509_free(leaf);
	X509_free(def);
}

/* Expired certificates keep their recorded status (a documented choice). */
static void test_expired_keeps_its_status(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *a = device_cert(t, "pump-1"), *b = device_cert(t, "pump-2");
	char sa[DT_SERIAL_HEX_BUF], sb[DT_SERIAL_HEX_BUF], sql[200];

	tu2_serial_hex(X509_get0_serialNumber(a), sa);
	tu2_serial_hex(X509_get0_serialNumber(b), sb);
	assert_int_equal(dt_cert_revoke(t->ctx, sb, DT_REASON_SUPERSEDED, "old", &err), DT_OK);
	snprintf(sql, sizeof(sql), "UPDATE certs SET not_after=1000 WHERE serial IN ('%s','%s')",
		 sa, sb);
	tu2_sql(t, sql);
	assert_int_equal(ask(t, ca, X509_get0_serialNumber(a), default_chain).status,
			 V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ask(t, ca, X509_get0_serialNumber(b), default_chain).reason,
			 OCSP_REVOKED_STATUS_SUPERSEDED);
	X509_free(b);
	X509_free(a);
	X509_free(ca);
}

static void test_reserved_ca_names(void **state)
{
	struct tenv *t = *state;
	static const char *const names[] = {"root-ocsp", "tls", "default-ocsp", "x-ocsp"};
	struct dt_error err;
	struct stat st;
	char path[400];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(dt_ca_add(t->ctx, names[i], &err), DT_ERR_INVALID);
		assert_non_null(strstr(err.msg, "reserved"));
	}
	snprintf(path, sizeof(path), "%s/keys/root-ocsp.key", t->data);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/keys/tls.key", t->data);
	assert_int_equal(stat(path, &st), 0);
	/* "-ocsp" inside a name is fine. */
	assert_int_equal(dt_ca_add(t->ctx, "ocsp-lab", &err), DT_OK);
}

/* ---- the openssl command line as the client, without a shell ---- */

static int run(char *const argv[], const char *out_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = -1;

	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_pem(const char *path, X509 *const *certs, int n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (int i = 0; i < n; i++)
		assert_int_equal(PEM_write_X509(f, certs[i]), 1);
	assert_int_equal(fclose(f), 0);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(65536);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_openssl_cli_request_and_verify(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	X509 *root = tu2_ca_cert(t, "root"), *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1"), *gone = device_cert(t, "pump-2");
	char ca_pem[320], leaf_pem[320], gone_pem[320], root_pem[320], req_der[320], resp_der[320],
	    log[320];
	const char *nonce_opts[] = {"-no_nonce", "-nonce"};

	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", t->root);
	snprintf(root_pem, sizeof(root_pem), "%s/root.pem", t->root);
	snprintf(leaf_pem, sizeof(leaf_pem), "%s/leaf.pem", t->root);
	snprintf(gone_pem, sizeof(gone_pem), "%s/gone.pem", t->root);
	snprintf(req_der, sizeof(req_der), "%s/req.der", t->root);
	snprintf(resp_der, sizeof(resp_der), "%s/resp.der", t->root);
	snprintf(log, sizeof(log), "%s/openssl.log", t->root);
	write_pem(ca_pem, &ca, 1);
	write_pem(root_pem, &root, 1);
	write_pem(leaf_pem, &leaf, 1);
	write_pem(gone_pem, &gone, 1);
	assert_int_equal(
	    dt_device_transition(t->ctx, "pump-2", DT_TR_COMPROMISED, "stolen", NULL, &err), DT_OK);
	for (int k = 0; k < 2; k++) {
		char *mk[] = {"openssl",
			      "ocsp",
			      "-issuer",
			      ca_pem,
			      "-cert",
			      leaf_pem,
			      "-cert",
			      gone_pem,
			      "-reqout",
			      req_der,
			      (char *)nonce_opts[k],
			      NULL};
		char *check[] = {"openssl", "ocsp",	 "-reqin", req_der,	    "-respin",
				 resp_der,  "-CAfile",	 root_pem, "-verify_other", ca_pem,
				 "-issuer", ca_pem,	 "-cert",  leaf_pem,	    "-cert",
				 gone_pem,  "-no_nonce", NULL};
		size_t len, out_len;
		unsigned char *req, *out;
		int rc;
		struct dt_ocsp_result r;

		if (run(mk, log) != 0) {
			if (k == 0 && run((char *[]){"openssl", "version", NULL}, log) != 0)
				skip(); /* no openssl command here */
			fail_msg("openssl ocsp -reqout failed (see %s)", log);
		}
		req = slurp(req_der, &len);
		r = respond(t, req, len);
		assert_int_equal(r.status, OCSP_RESPONSE_STATUS_SUCCESSFUL);
		assert_int_equal(r.has_nonce, k);
		spit(resp_der, r.der, r.len);
		/* openssl checks the signature, the delegation and the nonce itself
		 * (-no_nonce: compare the nonce of req.der rather than add its own). */
		rc = run(check, log);
		out = slurp(log, &out_len);
		out[out_len < 65535 ? out_len : 65535] = 0;
		if (rc != 0 || !strstr((char *)out, "Response verify OK") ||
		    !strstr((char *)out, "leaf.pem: good") ||
		    !strstr((char *)out, "gone.pem: revoked") ||
		    !strstr((char *)out, "Reason: keyCompromise"))
			fail_msg("openssl ocsp (exit %d) says:\n%s", rc, (char *)out);
		free(out);
		free(req);
		dt_ocsp_result_free(&r);
	}
	X509_free(gone);
	X509_free(leaf);
	X509_free(ca);
	X509_free(root);
}

/* ---- many threads on one context (devtrust serve's shape) ---- */

struct worker {
	struct tenv *t;
	const unsigned char *req;
	size_t len;
	int ok;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct dt_error err;

	for (int i = 0; i < 50; i++) {
		struct dt_ocsp_result r;
		if (dt_ocsp_respond(w->t->ctx, w->req, w->len, &r, &err) != DT_OK || r.status != 0)
			return NULL;
		dt_ocsp_result_free(&r);
	}
	w->ok = 1;
	return NULL;
}

static void test_concurrent_callers(void **state)
{
	struct tenv *t = tenv_new(1);
	X509 *ca = tu2_ca_cert(t, "default");
	X509 *leaf = device_cert(t, "pump-1");
	size_t len;
	unsigned char *req = one_request(ca, X509_get0_serialNumber(leaf), 16, &len);
	pthread_t th[4];
	struct worker w[4];

	(void)state;
	/* The first callers race to unlock the OCSP signer. */
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){t, req, len, 0};
		assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].ok, 1);
	}
	OPENSSL_free(req);
	X509_free(leaf);
	X509_free(ca);
	tenv_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_good_for_an_issued_certificate, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_sha256_certid, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_compromised_is_revoked_key_compromise, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_revoked_unspecified_omits_the_reason, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_hold_and_resume, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_serials, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_ca_is_unauthorized, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_requests, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_request, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_nonce_is_echoed, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_extensions, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_certid_count, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_root_answers_for_issuing_cas, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_root_without_signer_is_unauthorized, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_mixed_issuers_are_unauthorized, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_expired_keeps_its_status, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_reserved_ca_names, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_openssl_cli_request_and_verify, tu_setup,
					    tu_teardown),
	    cmocka_unit_test(test_concurrent_callers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
