/*
 * libFuzzer harness for devtrust-agent's parser of certs-only replies
 * (ag_certs_only_parse: base64, then CMS SignedData, then its certificates),
 * as /cacerts and /simpleenroll send them. Beyond "no crash": an accepted
 * reply has 1 to AG_MAX_CERTS certificates that re-encode, and wrapping them
 * again as certs-only PKCS#7 parses back to the same certificates; a
 * rejection has no output, its code and a message. Each accepted bundle also
 * goes through ag_bundle_check against an anchor made at start-up, which
 * must refuse it. The same bytes as the body of an error answer go through
 * ag_http_refusal, which must quote at most AG_MAX_SERVER_MSG printable
 * characters of them under the code the status means.
 */
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static STACK_OF(X509) * anchors;

__attribute__((noreturn)) static void fail(const char *why, const struct ag_error *e)
{
	fprintf(stderr, "agent_certsonly_fuzz: %s (%s)\n", why, e ? e->msg : "");
	abort();
}

/* A self-signed CA no input can match: a fresh key each run. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext = NULL;

	(void)argc;
	(void)argv;
	if (!key || !x || !(anchors = sk_X509_new_null()) || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				       (const unsigned char *)"fuzz anchor", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400) || X509_set_pubkey(x, key) != 1)
		fail("cannot build the anchor", NULL);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE")) ||
	    X509_add_ext(x, ext, -1) != 1 || X509_sign(x, key, EVP_sha256()) <= 0 ||
	    !sk_X509_push(anchors, x))
		fail("cannot sign the anchor", NULL);
	X509_EXTENSION_free(ext);
	EVP_PKEY_free(key);
	return 0;
}

/* The certificates wrapped again as the server wraps them, then parsed. */
static void check_round_trip(STACK_OF(X509) * certs)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	char *b64 = NULL;
	size_t b64_len = 0;
	STACK_OF(X509) *again = NULL;
	struct ag_error e = {0};
	int n;

	if (!p7 || PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1 || PKCS7_set_detached(p7, 1) != 1)
		fail("cannot build a PKCS#7", NULL);
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (PKCS7_add_certificate(p7, sk_X509_value(certs, i)) != 1)
			fail("cannot add a certificate", NULL);
	if ((n = i2d_PKCS7(p7, &der)) <= 0 ||
	    ag_base64_encode(der, (size_t)n, &b64, &b64_len, &e) != AG_OK)
		fail("cannot encode the PKCS#7", &e);
	if (ag_certs_only_parse((const unsigned char *)b64, b64_len, &again, &e) != AG_OK)
		fail("our own certs-only encoding of accepted certificates does not parse", &e);
	/* PKCS#7 keeps certificates as a SET: compare as sets. */
	if (sk_X509_num(again) != sk_X509_num(certs))
		fail("round trip changes the number of certificates", NULL);
	for (int i = 0; i < sk_X509_num(certs); i++) {
		int found = 0;
		for (int j = 0; j < sk_X509_num(again) && !found; j++)
			found = X509_cmp(sk_X509_value(certs, i), sk_X509_value(again, j)) == 0;
		if (!found)
			fail("round trip loses a certificate", NULL);
	}
	sk_X509_pop_free(again, X509_free);
	free(b64);
	OPENSSL_free(der);
	PKCS7_free(p7);
}

/* The bytes as the body of each kind of error answer (http.c bounds a body to
 * AG_MAX_BODY before anything reads it). */
static void check_refusal(const uint8_t *data, size_t size)
{
	static const long statuses[] = {202, 400, 401, 403, 404, 503};
	struct ag_response r = {0};
	char want[64];
	size_t n;

	if (size > AG_MAX_BODY || !(r.body = malloc(size + 1)))
		return;
	memcpy(r.body, data, size);
	r.body[size] = '\0';
	r.len = size;
	r.retry_after = -1;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct ag_error e = {0};
		enum ag_code rc;

		r.status = statuses[i];
		rc = ag_http_refusal(&r, "cacerts", &e);
		n = (size_t)snprintf(want, sizeof(want), "cacerts: the server answered %ld",
				     r.status);
		if (rc == AG_OK || e.code != rc || e.http_status != r.status || e.retry_after != 0)
			fail("a refusal without its code and status", &e);
		if (strncmp(e.msg, want, n) != 0 || strlen(e.msg) > n + 2 + AG_MAX_SERVER_MSG)
			fail("a refusal message that is not the status and a bounded quote", &e);
		for (const char *p = e.msg; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				fail("a refusal message quotes a byte that is not printable", NULL);
		if ((r.status == 401 && rc != AG_E_AUTH) || (r.status == 503 && rc != AG_E_TEMP) ||
		    (r.status == 403 && rc != AG_E_RETIRED && rc != AG_E_SUSPENDED &&
		     rc != AG_E_REFUSED))
			fail("a refusal under a code its status does not mean", &e);
	}
	free(r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;
	struct ag_error e = {0};
	enum ag_code rc;

	check_refusal(data, size);
	rc = ag_certs_only_parse(data, size, &certs, &e);
	if (rc != AG_OK) {
		if (certs || e.code != rc || e.msg[0] == '\0' ||
		    (rc != AG_E_REFUSED && rc != AG_E_LOCAL))
			fail("a rejection without its code and message, or with output", &e);
		return 0;
	}
	if (!certs || sk_X509_num(certs) < 1 || sk_X509_num(certs) > AG_MAX_CERTS ||
	    size > AG_MAX_BODY)
		fail("accepted a reply beyond the limits", &e);
	for (int i = 0; i < sk_X509_num(certs); i++) {
		unsigned char *der = NULL;
		if (i2d_X509(sk_X509_value(certs, i), &der) <= 0)
			fail("an accepted certificate does not re-encode", NULL);
		OPENSSL_free(der);
	}
	check_round_trip(certs);
	/* The anchor's key is made afresh each run: nothing an input holds can
	 * be it or be signed by it. */
	rc = ag_bundle_check(anchors, certs, &e);
	if (rc == AG_OK)
		fail("a bundle that does not come from the anchor was accepted", &e);
	if (rc != AG_E_TRUST && rc != AG_E_LOCAL)
		fail("a bundle refusal with an unexpected code", &e);
	sk_X509_pop_free(certs, X509_free);
	return 0;
}
