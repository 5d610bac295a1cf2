/*
 * devtrust-agent's parsers and encoders: the configuration (settings,
 * durations, pins, defaults, errors naming file and line), /csrattrs replies
 * and the key choice, certs-only replies, base64, and the JSON of status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "agent/agent.h"

static enum ag_code parse(struct ag_config *c, const char *text, struct ag_error *e)
{
	ag_config_init(c);
	return ag_config_parse(c, text, strlen(text), "t.conf", e);
}

static void test_config_example(void **state)
{
	struct ag_config c;
	struct ag_error e = {0};

	(void)state;
	assert_int_equal(parse(&c,
			       "# comment\n"
			       "server = https://est.example.org:8443/\r\n"
			       "  label=pump  \n"
			       "device-id = Pump_0001.a\n"
			       "ca-file = /etc/root.pem\n"
			       "key-type = ec-p384\n"
			       "renew-at = 0.5\n"
			       "jitter = 0\n"
			       "backoff-max = 2h\n"
			       "reload-hook = systemctl reload nginx # not a comment\n",
			       &e),
			 AG_OK);
	assert_string_equal(c.server, "https://est.example.org:8443");
	assert_string_equal(c.label, "pump");
	assert_string_equal(c.device_id, "Pump_0001.a");
	assert_int_equal(c.key_type, AG_KEY_EC_P384);
	assert_true(c.renew_at == 0.5);
	assert_int_equal(c.jitter_s, 0);
	assert_int_equal(c.backoff_max_s, 7200);
	assert_string_equal(c.reload_hook, "systemctl reload nginx # not a comment");
	assert_int_equal(ag_config_finish(&c, 1, &e), AG_OK);
	assert_string_equal(c.state_dir, "/var/lib/devtrust-agent");
	assert_string_equal(c.key_path, "/var/lib/devtrust-agent/key.pem");
	assert_string_equal(c.cacerts_path, "/var/lib/devtrust-agent/cacerts.pem");
	assert_int_equal(c.backoff_min_s, 10);
	assert_int_equal(c.poll_s, 600);
	assert_int_equal(c.cacerts_interval_s, 86400);
}

static void test_config_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"server = http://x\n", "want https://"},
	    {"server = https:///\n", "names no host"},
	    {"server = https://x/?a\n", "query"},
	    {"label = Pump\n", "lower-case"},
	    {"device-id = -x\n", "must start"},
	    {"renew-at = 1\n", "between 0 and 1"},
	    {"renew-at = 0.5x\n", "between 0 and 1"},
	    {"jitter = 3w\n", "jitter: duration"},
	    {"backoff-min = 0\n", "longer than 0"},
	    {"timeout = 99999999999d\n", "ten years"},
	    {"pin = sha256:00\n", "64 hex digits"},
	    {"key-type = dsa\n", "key-type 'dsa'"},
	    {"nope = 1\n", "unknown setting 'nope'"},
	    {"\n\njust words\n", "line 3: want key = value"},
	    {"= x\n", "no key"},
	    {"reload-hook = a\tb\n", "control character"},
	};
	struct ag_config c;
	struct ag_error e;
	char nul[] = "label = a\0b\n";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(parse(&c, bad[i].text, &e), AG_E_CONFIG);
		if (!strstr(e.msg, bad[i].want) || strncmp(e.msg, "t.conf line", 11) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad[i].text, e.msg, bad[i].want);
	}
	ag_config_init(&c);
	assert_int_equal(ag_config_parse(&c, nul, sizeof(nul) - 1, "t.conf", &e), AG_E_CONFIG);
	assert_non_null(strstr(e.msg, "NUL"));
}

static void test_config_finish(void **state)
{
	struct ag_config c;
	struct ag_error e = {0};

	(void)state;
	assert_int_equal(parse(&c, "ca-file = r\n", &e), AG_OK);
	assert_int_equal(ag_config_finish(&c, 1, &e), AG_E_CONFIG);
	assert_non_null(strstr(e.msg, "no server"));
	assert_int_equal(parse(&c, "server = https://a\n", &e), AG_OK);
	assert_int_equal(ag_config_finish(&c, 1, &e), AG_E_CONFIG);
	assert_non_null(strstr(e.msg, "RFC 7030 section 4.1.1"));
	/* status needs neither */
	assert_int_equal(parse(&c, "", &e), AG_OK);
	assert_int_equal(ag_config_finish(&c, 0, &e), AG_OK);
	assert_int_equal(parse(&c, "server = https://a\nca-file = r\nkey = x\ncert = x\n", &e),
			 AG_OK);
	assert_int_equal(ag_config_finish(&c, 1, &e), AG_E_CONFIG);
	assert_non_null(strstr(e.msg, "four different files"));
	assert_int_equal(
	    parse(&c, "server = https://a\nca-file = r\nbackoff-min = 2h\nbackoff-max = 1h\n", &e),
	    AG_OK);
	assert_int_equal(ag_config_finish(&c, 1, &e), AG_E_CONFIG);
	assert_non_null(strstr(e.msg, "backoff-max"));
}

static void test_durations_and_pins(void **state)
{
	unsigned char pin[32];
	struct ag_error e;
	long v = -1;

	(void)state;
	assert_int_equal(ag_duration_parse("0", &v, &e), AG_OK);
	assert_int_equal(v, 0);
	assert_int_equal(ag_duration_parse("90", &v, &e), AG_OK);
	assert_int_equal(v, 90);
	assert_int_equal(ag_duration_parse("5m", &v, &e), AG_OK);
	assert_int_equal(v, 300);
	assert_int_equal(ag_duration_parse("1d", &v, &e), AG_OK);
	assert_int_equal(v, 86400);
	assert_int_equal(ag_duration_parse("-1", &v, &e), AG_E_CONFIG);
	assert_int_equal(ag_duration_parse("1ms", &v, &e), AG_E_CONFIG);
	assert_int_equal(ag_duration_parse("", &v, &e), AG_E_CONFIG);
	assert_int_equal(
	    ag_pin_parse("sha256:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:"
			 "66:77:88:99:aa:bb:cc:dd:ee:ff",
			 pin, &e),
	    AG_OK);
	assert_int_equal(pin[0], 0x00);
	assert_int_equal(pin[10], 0xaa);
	assert_int_equal(pin[31], 0xff);
	assert_int_equal(ag_pin_parse("sha1:00", pin, &e), AG_E_CONFIG);
	assert_int_equal(ag_pin_parse("sha256:0g", pin, &e), AG_E_CONFIG);
}

/* base64 of a CsrAttrs built with OpenSSL, as src/est/csrattrs.c builds it. */
static char *csrattrs_b64(int with_ec, int with_rsa, int with_ed)
{
	ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
	unsigned char *der = NULL, *adr = NULL;
	char *b64 = NULL;
	size_t len = 0;
	struct ag_error e;
	int n;

	if (with_ec || with_rsa) {
		X509_ATTRIBUTE *a = X509_ATTRIBUTE_new();
		ASN1_STRING *s = ASN1_STRING_new();
		ASN1_TYPE *t = ASN1_TYPE_new();
		ASN1_INTEGER *bits = ASN1_INTEGER_new();
		assert_int_equal(
		    X509_ATTRIBUTE_set1_object(
			a, OBJ_nid2obj(with_ec ? NID_X9_62_id_ecPublicKey : NID_rsaEncryption)),
		    1);
		if (with_ec) {
			assert_int_equal(X509_ATTRIBUTE_set1_data(a, V_ASN1_OBJECT,
								  OBJ_nid2obj(NID_secp384r1), -1),
					 1);
		} else {
			assert_int_equal(ASN1_INTEGER_set(bits, 3072), 1);
			assert_int_equal(X509_ATTRIBUTE_set1_data(a, V_ASN1_INTEGER, bits, -1), 1);
		}
		n = i2d_X509_ATTRIBUTE(a, &adr);
		assert_true(n > 0);
		assert_int_equal(ASN1_STRING_set(s, adr, n), 1);
		ASN1_TYPE_set(t, V_ASN1_SEQUENCE, s);
		assert_true(sk_ASN1_TYPE_push(seq, t) > 0);
		OPENSSL_free(adr);
		ASN1_INTEGER_free(bits);
		X509_ATTRIBUTE_free(a);
	}
	if (with_ed) {
		ASN1_TYPE *t = ASN1_TYPE_new();
		assert_int_equal(ASN1_TYPE_set1(t, V_ASN1_OBJECT, OBJ_nid2obj(NID_ED25519)), 1);
		assert_true(sk_ASN1_TYPE_push(seq, t) > 0);
	}
	n = i2d_ASN1_SEQUENCE_ANY(seq, &der);
	assert_true(n > 0);
	assert_int_equal(ag_base64_encode(der, (size_t)n, &b64, &len, &e), AG_OK);
	OPENSSL_free(der);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	return b64;
}

static unsigned attrs(const char *b64, enum ag_code want)
{
	struct ag_error e = {0};
	unsigned allowed = 0;

	assert_int_equal(ag_csrattrs_parse((const unsigned char *)b64, strlen(b64), &allowed, &e),
			 want);
	return allowed;
}

static void test_csrattrs(void **state)
{
	/* RFC 7030 section 4.5.2's example: P-384 and ecdsa-with-SHA384, among others. */
	static const char rfc[] = "MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJD"
				  "jEJBgcrBgEBAQEWBggqhkjOPQQDAw==";
	char *b;
	unsigned t = 0;
	struct ag_error e;

	(void)state;
	assert_int_equal(attrs(rfc, AG_OK), AG_KEY_EC_P384);
	assert_int_equal(attrs("MAA=", AG_OK), 0);
	assert_int_equal(attrs("", AG_OK), 0);
	assert_int_equal(attrs("\r\n", AG_OK), 0);
	assert_int_equal(attrs("MAA=AAAA", AG_E_REFUSED), 0);
	assert_int_equal(attrs("not base64!", AG_E_REFUSED), 0);
	b = csrattrs_b64(1, 0, 1);
	assert_int_equal(attrs(b, AG_OK), AG_KEY_EC_P384 | AG_KEY_ED25519);
	free(b);
	b = csrattrs_b64(0, 1, 0);
	assert_int_equal(attrs(b, AG_OK), AG_KEY_RSA_3072);
	free(b);
	/* choices: advice wins over an unallowed preference; P-256 without either */
	assert_int_equal(ag_key_type_choose(0, 0, &t, &e), AG_OK);
	assert_int_equal(t, AG_KEY_EC_P256);
	assert_int_equal(ag_key_type_choose(0, AG_KEY_ED25519, &t, &e), AG_OK);
	assert_int_equal(t, AG_KEY_ED25519);
	assert_int_equal(
	    ag_key_type_choose(AG_KEY_EC_P384 | AG_KEY_ED25519, AG_KEY_ED25519, &t, &e), AG_OK);
	assert_int_equal(t, AG_KEY_ED25519);
	assert_int_equal(
	    ag_key_type_choose(AG_KEY_EC_P384 | AG_KEY_RSA_2048, AG_KEY_EC_P256, &t, &e), AG_OK);
	assert_int_equal(t, AG_KEY_EC_P384);
}

static void test_keys_and_csr(void **state)
{
	static const unsigned types[] = {AG_KEY_EC_P256, AG_KEY_EC_P384, AG_KEY_ED25519,
					 AG_KEY_RSA_2048};
	struct ag_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		EVP_PKEY *k = NULL, *pub;
		unsigned char *der = NULL;
		const unsigned char *p;
		size_t len = 0;
		X509_REQ *req;

		assert_int_equal(ag_key_generate(types[i], &k, &e), AG_OK);
		assert_int_equal(ag_key_type_of(k), types[i]);
		assert_int_equal(ag_csr_build(k, "dev-1", &der, &len, &e), AG_OK);
		p = der;
		req = d2i_X509_REQ(NULL, &p, (long)len);
		assert_non_null(req);
		assert_ptr_equal(p, der + len);
		pub = X509_REQ_get0_pubkey(req);
		assert_int_equal(X509_REQ_verify(req, pub), 1);
		assert_int_equal(EVP_PKEY_eq(pub, k), 1);
		X509_REQ_free(req);
		OPENSSL_free(der);
		EVP_PKEY_free(k);
	}
}

static void test_base64(void **state)
{
	unsigned char *out = NULL;
	size_t len = 0;
	struct ag_error e;

	(void)state;
	assert_int_equal(
	    ag_base64_decode((const unsigned char *)"TW Fu\r\nTWE=\n", 12, 100, &out, &len, &e),
	    AG_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "ManMa", 5);
	free(out);
	/* EVP_DecodeUpdate would stop at '-' and return what came before */
	assert_int_equal(
	    ag_base64_decode((const unsigned char *)"TWFu-TWFu", 9, 100, &out, &len, &e),
	    AG_E_REFUSED);
	assert_null(out);
	assert_int_equal(
	    ag_base64_decode((const unsigned char *)"TWE=TWFu", 8, 100, &out, &len, &e),
	    AG_E_REFUSED);
	assert_int_equal(ag_base64_decode((const unsigned char *)"TWF", 3, 100, &out, &len, &e),
			 AG_E_REFUSED);
	assert_int_equal(ag_base64_decode((const unsigned char *)"TWFuTWFu", 8, 5, &out, &len, &e),
			 AG_E_REFUSED);
}

static void test_certs_only(void **state)
{
	EVP_PKEY *k = NULL;
	X509 *x = X509_new();
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	char *b64 = NULL;
	size_t len = 0;
	STACK_OF(X509) *got = NULL;
	struct ag_error e;
	int n;

	(void)state;
	assert_int_equal(ag_key_generate(AG_KEY_EC_P256, &k, &e), AG_OK);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 60));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	assert_int_equal(PKCS7_content_new(p7, NID_pkcs7_data), 1);
	assert_int_equal(PKCS7_set_detached(p7, 1), 1);
	assert_int_equal(PKCS7_add_certificate(p7, x), 1);
	n = i2d_PKCS7(p7, &der);
	assert_true(n > 0);
	assert_int_equal(ag_base64_encode(der, (size_t)n, &b64, &len, &e), AG_OK);
	assert_int_equal(ag_certs_only_parse((unsigned char *)b64, len, &got, &e), AG_OK);
	assert_int_equal(sk_X509_num(got), 1);
	assert_int_equal(X509_cmp(sk_X509_value(got, 0), x), 0);
	sk_X509_pop_free(got, X509_free);
	free(b64);
	/* the certificate alone is no PKCS#7 */
	OPENSSL_free(der);
	der = NULL;
	n = i2d_X509(x, &der);
	assert_int_equal(ag_base64_encode(der, (size_t)n, &b64, &len, &e), AG_OK);
	assert_int_equal(ag_certs_only_parse((unsigned char *)b64, len, &got, &e), AG_E_REFUSED);
	assert_null(got);
	assert_non_null(strstr(e.msg, "CMS"));
	free(b64);
	OPENSSL_free(der);
	PKCS7_free(p7);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_json(void **state)
{
	struct ag_json j;
	char *out;

	(void)state;
	ag_json_begin(&j);
	ag_json_str(&j, "a", "q\"b\\s\n\x01\x7f\xc3\xa9\xff\xed\xa0\x80");
	ag_json_str(&j, "n", NULL);
	ag_json_int(&j, "i", -42);
	ag_json_bool(&j, "t", 1);
	out = ag_json_end(&j);
	assert_non_null(out);
	assert_string_equal(out,
			    "{\n  \"a\": \"q\\\"b\\\\s\\u000a\\u0001\\u007f\xc3\xa9\\ufffd"
			    "\\ufffd\\ufffd\\ufffd\",\n  \"n\": null,\n  \"i\": -42,\n  \"t\": "
			    "true\n}\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_example), cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_config_finish),  cmocka_unit_test(test_durations_and_pins),
	    cmocka_unit_test(test_csrattrs),	   cmocka_unit_test(test_keys_and_csr),
	    cmocka_unit_test(test_base64),	   cmocka_unit_test(test_certs_only),
	    cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
