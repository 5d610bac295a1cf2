/*
 * Backend verification: the request and pattern parsers, the certificate
 * input, firmware comparison, and decisions against a real data dir: every
 * reason code comes out when the fleet is in that condition (and the device
 * is let in when it is not), changes show after one sync, each cache mode
 * decides alike, clone findings, last-seen batches and the reports.
 */
#include "testutil.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "devtrust/verify.h"
#include "verify/verify.h"

/* ---- parsers ---- */

static void test_route_parse(void **state)
{
	struct verify_route r;
	struct dt_error err;

	(void)state;
	assert_int_equal(verify_route_parse("telemetry", "GET", "/v1/a%20b?x=/../y", &r, &err),
			 DT_OK);
	assert_true(r.has_path && r.has_method);
	assert_string_equal(r.path, "/v1/a b");
	assert_int_equal(r.method, DT_M_GET);
	assert_int_equal(verify_route_parse("mqtt", NULL, NULL, &r, &err), DT_OK);
	assert_false(r.has_path || r.has_method);
	assert_int_equal(verify_route_parse("x", "PROPFIND", "/", &r, &err), DT_OK);
	assert_int_equal(r.method, DT_M_OTHER);
	assert_int_equal(verify_route_parse("x", NULL, "/api/", &r, &err), DT_OK);

	static const char *const bad_targets[] = {
	    "/a/../b", "/a/./b", "/..",	 "/a//b",     "//a",	"/a%2Fb",
	    "/a%2fb",  "/a%",	 "/a%4", "/a%zz",     "/a%00",	"/a%0a",
	    "/a\\b",   "a/b",	 "*",	 "/%2e%2e/x", "/a/%2E", "http://h/x"};
	for (size_t i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
		err.msg[0] = '\0';
		if (verify_route_parse("x", "GET", bad_targets[i], &r, &err) != DT_ERR_INVALID)
			fail_msg("target '%s' was accepted", bad_targets[i]);
		assert_true(err.msg[0] != '\0');
	}
	char longp[DT_MAX_VERIFY_PATH + 2];
	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(verify_route_parse("x", "GET", longp, &r, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "DT_MAX_VERIFY_PATH"));
	assert_int_equal(verify_route_parse("x", "get", "/", &r, &err), DT_ERR_INVALID);
	assert_int_equal(verify_route_parse("x", "GET ", "/", &r, &err), DT_ERR_INVALID);
	assert_int_equal(verify_route_parse("x", "AAAAAAAAAAAAAAAAA", "/", &r, &err),
			 DT_ERR_INVALID);
	assert_int_equal(verify_route_parse(NULL, "GET", "/", &r, &err), DT_ERR_INVALID);
	assert_int_equal(verify_route_parse("", "GET", "/", &r, &err), DT_ERR_INVALID);
	assert_int_equal(verify_route_parse("Tele metry", "GET", "/", &r, &err), DT_ERR_INVALID);
}

static void test_patterns(void **state)
{
	static const struct {
		const char *pattern, *path;
		int match;
	} cases[] = {
	    {"/**", "/", 1},
	    {"/**", "/a/b/c", 1},
	    {"/v1/**", "/v1", 1},
	    {"/v1/**", "/v1/", 1},
	    {"/v1/**", "/v1/x/y", 1},
	    {"/v1/**", "/v10/x", 0},
	    {"/v1/**", "/v2", 0},
	    {"/v1/*", "/v1/x", 1},
	    {"/v1/*", "/v1/x/y", 0},
	    {"/v1/*", "/v1/", 1},
	    {"/v1/*/status", "/v1/pump-7/status", 1},
	    {"/v1/*/status", "/v1/pump-7/status/x", 0},
	    {"/v1/*.json", "/v1/a.json", 1},
	    {"/v1/*.json", "/v1/a.xml", 0},
	    {"/v1/a*b*c", "/v1/aXbYc", 1},
	    {"/v1/a*b*c", "/v1/aXbY", 0},
	    {"/exact", "/exact", 1},
	    {"/exact", "/exact/", 0},
	    {"/exact", "/exactly", 0},
	    {"/", "/", 1},
	    {"/", "/a", 0},
	};
	static const char *const bad[] = {"",	   "v1",     "/a//b", "/a/../b", "/a/**/b",
					  "/a**",  "/a b",   "/a?x",  "/a#x",	 "/a%20",
					  "/a\\b", "/\"x\"", "/***",  "/a/./b"};
	struct dt_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dt_pattern_check(cases[i].pattern, &err), DT_OK);
		if (verify_pattern_match(cases[i].pattern, cases[i].path) != cases[i].match)
			fail_msg("pattern %s on %s: want %d", cases[i].pattern, cases[i].path,
				 cases[i].match);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dt_pattern_check(bad[i], &err) != DT_ERR_INVALID)
			fail_msg("pattern '%s' was accepted", bad[i]);
	assert_int_equal(dt_pattern_check(NULL, &err), DT_OK);
}

static void test_methods(void **state)
{
	struct dt_policy p;
	struct verify_route r;
	struct dt_error err;
	unsigned m;
	char buf[64];

	(void)state;
	assert_int_equal(dt_methods_parse("GET,POST", &m, &err), DT_OK);
	assert_int_equal(m, DT_M_GET | DT_M_POST);
	dt_methods_format(m, buf, sizeof(buf));
	assert_string_equal(buf, "GET,POST");
	assert_int_equal(dt_methods_parse(NULL, &m, &err), DT_OK);
	assert_int_equal(m, DT_M_ANY);
	dt_methods_format(m, buf, sizeof(buf));
	assert_string_equal(buf, "*");
	assert_int_equal(dt_methods_parse("GET,", &m, &err), DT_ERR_INVALID);
	assert_int_equal(dt_methods_parse("get", &m, &err), DT_ERR_INVALID);
	assert_int_equal(dt_methods_parse("GET,,POST", &m, &err), DT_ERR_INVALID);
	assert_int_equal(dt_methods_parse("PROPFIND", &m, &err), DT_ERR_INVALID);

	memset(&p, 0, sizeof(p));
	strcpy(p.pattern, "/**");
	p.methods = DT_M_GET;
	assert_int_equal(verify_route_parse("s", "HEAD", "/x", &r, &err), DT_OK);
	assert_true(verify_policy_matches(&p, &r)); /* GET allows HEAD */
	assert_int_equal(verify_route_parse("s", "POST", "/x", &r, &err), DT_OK);
	assert_false(verify_policy_matches(&p, &r));
	assert_int_equal(verify_route_parse("s", NULL, NULL, &r, &err), DT_OK);
	assert_false(verify_policy_matches(&p, &r)); /* no method: only "*" */
	p.methods = DT_M_ANY;
	assert_true(verify_policy_matches(&p, &r));
	assert_int_equal(verify_route_parse("s", "PROPFIND", "/x", &r, &err), DT_OK);
	assert_true(verify_policy_matches(&p, &r));
	p.methods = DT_M_ANY & ~(unsigned)DT_M_OTHER;
	assert_false(verify_policy_matches(&p, &r));
	strcpy(p.pattern, "/v1/**");
	assert_int_equal(verify_route_parse("s", NULL, NULL, &r, &err), DT_OK);
	assert_false(verify_policy_matches(&p, &r)); /* no route: only rules for every path */
}

static void test_firmware(void **state)
{
	static const struct {
		const char *a, *b;
		int sign;
	} cases[] = {
	    {"1.10", "1.9", 1},
	    {"1.9", "1.10", -1},
	    {"2.0", "2.0", 0},
	    {"2.0.1", "2.0", 1},
	    {"2.0", "2.0.0", -1},
	    {"v4.2", "v4.10", -1},
	    {"01.2", "1.2", 0},
	    {"1.2", "1.beta", 1},
	    {"2021.03", "2020.12", 1},
	    {"3.1-b7", "3.1-b10", -1},
	    {"1.0.0-rc1", "1.0.0", 1},
	    {"", "1", -1},
	    {"10", "9", 1},
	    {"1..2", "1.2", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int c = verify_firmware_cmp(cases[i].a, cases[i].b);
		int sign = c < 0 ? -1 : c > 0;
		if (sign != cases[i].sign)
			fail_msg("firmware %s vs %s: got %d, want %d", cases[i].a, cases[i].b, sign,
				 cases[i].sign);
	}
}

/* A self-signed certificate (for input checks only). */
static unsigned char *self_signed(size_t *len, char **pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	unsigned char *der = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	assert_non_null(k);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"self", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*len = (size_t)i2d_X509(x, &der);
	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	*pem = strndup(p, (size_t)n);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return der;
}

static void test_cert_input(void **state)
{
	size_t len, dlen;
	char *pem, *two, *bad;
	unsigned char *der = self_signed(&len, &pem), *buf = NULL;
	const unsigned char *out;
	struct dt_error err;

	(void)state;
	assert_int_equal(verify_leaf_der(der, len, &buf, &out, &dlen, &err), DT_OK);
	assert_ptr_equal(out, der);
	assert_int_equal(dlen, len);
	assert_int_equal(
	    verify_leaf_der((unsigned char *)pem, strlen(pem), &buf, &out, &dlen, &err), DT_OK);
	assert_int_equal(dlen, len);
	assert_memory_equal(out, der, len);
	OPENSSL_free(buf);
	/* The device's chain after the leaf is fine (and ignored). */
	two = malloc(2 * strlen(pem) + 2);
	sprintf(two, "%s\n%s", pem, pem);
	assert_int_equal(
	    verify_leaf_der((unsigned char *)two, strlen(two), &buf, &out, &dlen, &err), DT_OK);
	assert_memory_equal(out, der, len);
	OPENSSL_free(buf);
	/* Anything else is refused with a reason. */
	bad = malloc(strlen(pem) + 16);
	sprintf(bad, "%sgarbage\n", pem);
	assert_int_equal(
	    verify_leaf_der((unsigned char *)bad, strlen(bad), &buf, &out, &dlen, &err),
	    DT_ERR_INVALID);
	assert_null(buf);
	assert_non_null(strstr(err.msg, "trailing"));
	assert_int_equal(verify_leaf_der(der, len - 1, &buf, &out, &dlen, &err), DT_ERR_INVALID);
	assert_int_equal(
	    verify_leaf_der((const unsigned char *)"\x30\x80\x00\x00", 4, &buf, &out, &dlen, &err),
	    DT_ERR_INVALID);
	{
		const char *key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
		assert_int_equal(verify_leaf_der((const unsigned char *)key, strlen(key), &buf,
						 &out, &dlen, &err),
				 DT_ERR_INVALID);
	}
	{
		unsigned char *huge = calloc(1, DT_MAX_VERIFY_CERT_BYTES + 1);
		huge[0] = 0x30;
		assert_int_equal(
		    verify_leaf_der(huge, DT_MAX_VERIFY_CERT_BYTES + 1, &buf, &out, &dlen, &err),
		    DT_ERR_INVALID);
		assert_non_null(strstr(err.msg, "DT_MAX_VERIFY_CERT_BYTES"));
		free(huge);
	}
	/* nginx's $ssl_client_escaped_cert. */
	{
		char *esc = malloc(3 * strlen(pem) + 1), *dec = NULL;
		size_t o = 0, n = 0;
		for (const char *p = pem; *p; p++)
			o += (size_t)(*p == '\n' || *p == '+' || *p == '/' || *p == '=' || *p == ' '
					  ? sprintf(esc + o, "%%%02X", (unsigned char)*p)
					  : sprintf(esc + o, "%c", *p));
		assert_int_equal(verify_unescape(esc, DT_MAX_VERIFY_CERT_BYTES, &dec, &n, &err),
				 DT_OK);
		assert_string_equal(dec, pem);
		free(dec);
		assert_int_equal(verify_unescape("abc%2", 100, &dec, &n, &err), DT_ERR_INVALID);
		assert_int_equal(verify_unescape("abc%g0", 100, &dec, &n, &err), DT_ERR_INVALID);
		assert_int_equal(verify_unescape("abcdef", 3, &dec, &n, &err), DT_ERR_INVALID);
		assert_null(dec);
		free(esc);
	}
	{
		char id[130];
		assert_int_equal(verify_keyid_normalize("keyid:AB:cd:01\n", id, &err), DT_OK);
		assert_string_equal(id, "abcd01");
		assert_int_equal(verify_keyid_normalize("abc", id, &err), DT_ERR_INVALID);
		assert_int_equal(verify_keyid_normalize("zz", id, &err), DT_ERR_INVALID);
		assert_int_equal(verify_keyid_normalize("", id, &err), DT_ERR_INVALID);
	}
	free(two);
	free(bad);
	free(pem);
	OPENSSL_free(der);
}

/* ---- decisions on a data dir ---- */

struct fx {
	struct tenv *t;
	struct dt_verifier *v;
	unsigned char *der; /* p1's certificate */
	size_t len;
	char serial[DT_SERIAL_HEX_BUF];
};

static unsigned char *der_of(X509 *x, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	*len = (size_t)n;
	return der;
}

static struct dt_verifier *verifier(struct tenv *t, int cache, int no_record)
{
	struct dt_verifier_opts o = {.cache = cache, .no_record = no_record, .no_thread = 1};
	struct dt_verifier *v = NULL;
	struct dt_error err;

	if (dt_verifier_new(t->ctx, &o, &v, &err) != DT_OK)
		fail_msg("verifier: %s", err.msg);
	return v;
}

/* Class pump on CA pumps (firmware >= 2.0), class imaging on CA imaging,
 * device p1 (firmware 2.1) with a certificate, telemetry allowed below /v1. */
static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dt_error err;
	struct dt_class cl;
	struct dt_device d;
	char tok[DT_TOKEN_BUF];
	struct dt_cert_info ci;
	X509 *x = NULL;

	f->t = tenv_new(0);
	assert_int_equal(dt_ca_add(f->t->ctx, "pumps", &err), DT_OK);
	assert_int_equal(dt_ca_add(f->t->ctx, "imaging", &err), DT_OK);
	dt_class_defaults(&cl);
	strcpy(cl.name, "pump");
	strcpy(cl.ca, "pumps");
	strcpy(cl.min_firmware, "2.0");
	assert_int_equal(dt_class_add(f->t->ctx, &cl, &err), DT_OK);
	tu2_class(f->t, "imaging", "imaging", DT_KEY_EC_P256, 30 * 86400, 0);
	memset(&d, 0, sizeof(d));
	strcpy(d.id, "p1");
	strcpy(d.class_name, "pump");
	strcpy(d.firmware, "2.1");
	strcpy(d.location, "ICU bed 4");
	d.criticality = DT_CRIT_LIFE_CRITICAL;
	assert_int_equal(dt_device_add(f->t->ctx, &d, tok, &err), DT_OK);
	ci = tu2_issue(f->t, "p1", "P-256", &x);
	strcpy(f->serial, ci.serial);
	f->der = der_of(x, &f->len);
	X509_free(x);
	assert_int_equal(
	    dt_policy_allow(f->t->ctx, "pump", "telemetry", "/v1/**", "GET,POST", NULL, &err),
	    DT_OK);
	f->v = verifier(f->t, DT_VERIFY_CACHE, 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	dt_verifier_free(f->v);
	OPENSSL_free(f->der);
	tenv_free(f->t);
	free(f);
	return 0;
}

static void sync_v(struct dt_verifier *v)
{
	struct dt_error err;

	if (dt_verifier_sync(v, &err) != DT_OK)
		fail_msg("sync: %s", err.msg);
}

/* Decides for a certificate and checks the reason; returns the result. */
static struct dt_verify_result decide_as(struct dt_verifier *v, const unsigned char *der,
					 size_t len, const char *service, const char *method,
					 const char *path, const char *peer,
					 enum dt_verify_reason want)
{
	struct dt_verify_request req = {.cert = der,
					.cert_len = len,
					.service = service,
					.method = method,
					.path = path,
					.peer = peer};
	struct dt_verify_result res;
	struct dt_error err;

	if (dt_verify(v, &req, &res, &err) != DT_OK)
		fail_msg("verify: %s", err.msg);
	if (res.reason != want)
		fail_msg("want %s, got %s: %s", dt_verify_reason_name(want),
			 dt_verify_reason_name(res.reason), res.detail);
	assert_int_equal(res.allowed, want == DT_VR_ALLOWED);
	assert_true(res.detail[0] != '\0');
	return res;
}

static struct dt_verify_result decide(struct fx *f, const char *method, const char *path,
				      enum dt_verify_reason want)
{
	return decide_as(f->v, f->der, f->len, "telemetry", method, path, NULL, want);
}

static void test_allow_and_summary(void **state)
{
	struct fx *f = *state;
	struct dt_verify_result r = decide(f, "POST", "/v1/vitals", DT_VR_ALLOWED);
	struct dt_verifier_stats st;

	assert_true(r.identified);
	assert_string_equal(r.device.id, "p1");
	assert_string_equal(r.device.class_name, "pump");
	assert_string_equal(r.device.ca, "pumps");
	assert_string_equal(r.device.serial, f->serial);
	assert_string_equal(r.device.location, "ICU bed 4");
	assert_int_equal(r.device.criticality, DT_CRIT_LIFE_CRITICAL);
	assert_int_equal(r.device.state, DT_STATE_ACTIVE);
	/* A second decision comes from memory: no store read, no chain check. */
	decide(f, "GET", "/v1/x", DT_VR_ALLOWED);
	dt_verifier_stats(f->v, &st);
	assert_int_equal(st.store_reads, 1);
	assert_int_equal(st.chain_checks, 1);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.by_reason[DT_VR_ALLOWED], 2);
	/* PEM input is the same certificate. */
	{
		BIO *b = BIO_new(BIO_s_mem());
		X509 *x = tu2_d2i_cert(f->der, f->len);
		char *pem;
		long n;
		PEM_write_bio_X509(b, x);
		n = BIO_get_mem_data(b, &pem);
		decide_as(f->v, (unsigned char *)pem, (size_t)n, "telemetry", "GET", "/v1/x", NULL,
			  DT_VR_ALLOWED);
		BIO_free(b);
		X509_free(x);
	}
}

static void test_role(void **state)
{
	struct fx *f = *state;
	struct dt_error err;

	decide(f, "GET", "/v2/x", DT_VR_NOT_ALLOWED);
	decide(f, "DELETE", "/v1/x", DT_VR_NOT_ALLOWED);
	decide_as(f->v, f->der, f->len, "billing", "GET", "/v1/x", NULL, DT_VR_NOT_ALLOWED);
	decide(f, "GET", "/v1/../admin", DT_VR_BAD_REQUEST);
	decide_as(f->v, f->der, f->len, "", "GET", "/v1/x", NULL, DT_VR_BAD_REQUEST);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.1\"",
		  DT_VR_BAD_REQUEST);
	/* A new rule shows after one sync; removing it takes it away again. */
	assert_int_equal(
	    dt_policy_allow(f->t->ctx, "pump", "telemetry", "/v2/*", "DELETE", NULL, &err), DT_OK);
	decide(f, "DELETE", "/v2/x", DT_VR_NOT_ALLOWED);
	sync_v(f->v);
	decide(f, "DELETE", "/v2/x", DT_VR_ALLOWED);
	decide(f, "DELETE", "/v2/x/y", DT_VR_NOT_ALLOWED);
	assert_int_equal(dt_policy_remove(f->t->ctx, "pump", "telemetry", "/v2/*", NULL, &err),
			 DT_OK);
	sync_v(f->v);
	decide(f, "DELETE", "/v2/x", DT_VR_NOT_ALLOWED);
	decide(f, "GET", "/v1/x", DT_VR_ALLOWED);
}

static void test_lifecycle(void **state)
{
	struct fx *f = *state;
	struct dt_error err;
	int64_t n;

	decide(f, "GET", "/v1/x", DT_VR_ALLOWED);
	assert_int_equal(
	    dt_device_transition(f->t->ctx, "p1", DT_TR_SUSPEND, "maintenance", &n, &err), DT_OK);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_DEVICE_SUSPENDED);
	assert_int_equal(dt_device_transition(f->t->ctx, "p1", DT_TR_RESUME, NULL, &n, &err),
			 DT_OK);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_ALLOWED);
	assert_int_equal(dt_cert_revoke(f->t->ctx, f->serial, DT_REASON_SUPERSEDED, "test", &err),
			 DT_OK);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_CERT_REVOKED);
	assert_int_equal(dt_device_transition(f->t->ctx, "p1", DT_TR_RETIRE, NULL, &n, &err),
			 DT_OK);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_DEVICE_RETIRED);
}

static void test_compromised_and_ca_revoked(void **state)
{
	struct fx *f = *state;
	struct dt_error err;
	int64_t n;

	assert_int_equal(dt_ca_revoke(f->t->ctx, "pumps", DT_REASON_CA_COMPROMISE, &err), DT_OK);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_CA_REVOKED);
	tu2_sql(f->t, "UPDATE cas SET revoked=0 WHERE name='pumps'");
	assert_int_equal(dt_device_transition(f->t->ctx, "p1", DT_TR_COMPROMISED, NULL, &n, &err),
			 DT_OK);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_DEVICE_COMPROMISED);
}

static void test_validity_and_firmware(void **state)
{
	struct fx *f = *state;
	struct dt_class cl;
	struct dt_error err;
	char sql[256];

	/* What the store says about validity; the DER keeps its own (same) dates. */
	snprintf(sql, sizeof(sql),
		 "UPDATE certs SET not_after=strftime('%%s','now')-1 WHERE serial='%s'", f->serial);
	tu2_sql(f->t, sql);
	f->v->gen++; /* behind the audit log's back: make the verifier look again */
	decide(f, "GET", "/v1/x", DT_VR_EXPIRED);
	snprintf(sql, sizeof(sql),
		 "UPDATE certs SET not_after=strftime('%%s','now')+3600, "
		 "not_before=strftime('%%s','now')+600 WHERE serial='%s'",
		 f->serial);
	tu2_sql(f->t, sql);
	f->v->gen++;
	decide(f, "GET", "/v1/x", DT_VR_NOT_YET_VALID);
	snprintf(sql, sizeof(sql), "UPDATE certs SET not_before=0 WHERE serial='%s'", f->serial);
	tu2_sql(f->t, sql);
	assert_int_equal(dt_class_get(f->t->ctx, "pump", &cl, &err), DT_OK);
	strcpy(cl.min_firmware, "2.10");
	assert_int_equal(dt_class_update(f->t->ctx, &cl, &err), DT_OK);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_FIRMWARE_OUTDATED);
	tu2_sql(f->t, "UPDATE devices SET firmware='' WHERE id='p1'");
	f->v->gen++;
	decide(f, "GET", "/v1/x", DT_VR_FIRMWARE_UNKNOWN);
	tu2_sql(f->t, "UPDATE devices SET firmware='2.10.1' WHERE id='p1'");
	f->v->gen++;
	decide(f, "GET", "/v1/x", DT_VR_ALLOWED);
}

/* A certificate for p1 (name and URN) signed by CA signer, not recorded. */
static unsigned char *forged(struct fx *f, const char *signer, size_t *len)
{
	const struct ca_signer *s = NULL;
	struct dt_error err;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	unsigned char *der;

	assert_int_equal(ca_signer_get(f->t->ctx, signer, CA_USE_ISSUE, &s, &err), DT_OK);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 424242);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"p1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca_signer_cert(s)));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&v3, (X509 *)ca_signer_cert(s), x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
				  "URI:urn:devtrust:testorg:pump:p1");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_int_equal(ca_sign_cert(s, &x, &err), DT_OK);
	der = der_of(x, len);
	X509_free(x);
	EVP_PKEY_free(k);
	return der;
}

static void test_identity(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *pem;
	unsigned char *der;
	struct dt_verify_result r;

	/* Vendor B's CA making a certificate for vendor A's device. */
	der = forged(f, "imaging", &len);
	r = decide_as(f->v, der, len, "telemetry", "GET", "/v1/x", NULL, DT_VR_WRONG_CA);
	assert_non_null(strstr(r.detail, "accepts only CA 'pumps'"));
	assert_false(r.identified);
	OPENSSL_free(der);
	/* The class's own CA, but never recorded: unknown, and the detail says why it matters. */
	der = forged(f, "pumps", &len);
	r = decide_as(f->v, der, len, "telemetry", "GET", "/v1/x", NULL, DT_VR_UNKNOWN_CERTIFICATE);
	assert_non_null(strstr(r.detail, "check that CA's key"));
	OPENSSL_free(der);
	der = self_signed(&len, &pem);
	decide_as(f->v, der, len, "telemetry", "GET", "/v1/x", NULL, DT_VR_UNKNOWN_CERTIFICATE);
	OPENSSL_free(der);
	free(pem);
	decide_as(f->v, (const unsigned char *)"\x30\x03\x02\x01\x01", 5, "telemetry", "GET",
		  "/v1/x", NULL, DT_VR_BAD_CERTIFICATE);
	decide_as(f->v, (const unsigned char *)"nonsense", 8, "telemetry", "GET", "/v1/x", NULL,
		  DT_VR_BAD_CERTIFICATE);
	decide_as(f->v, NULL, 0, "telemetry", "GET", "/v1/x", NULL, DT_VR_NO_CERTIFICATE);
	/* A stored certificate altered by one byte (its signature no longer holds) is
	 * not the stored one. */
	der = OPENSSL_memdup(f->der, f->len);
	der[f->len - 5] ^= 1;
	r = decide_as(f->v, der, f->len, "telemetry", "GET", "/v1/x", NULL,
		      DT_VR_UNKNOWN_CERTIFICATE);
	assert_non_null(strstr(r.detail, "forged or altered"));
	OPENSSL_free(der);
}

static void test_by_serial(void **state)
{
	struct fx *f = *state;
	X509 *ca = tu2_ca_cert(f->t, "pumps"), *other = tu2_ca_cert(f->t, "imaging");
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	const ASN1_OCTET_STRING *oski = X509_get0_subject_key_id(other);
	char hex[130], ohex[130];
	struct dt_verify_request req = {
	    .serial = f->serial, .issuer_key_id = hex, .service = "network"};
	struct dt_verify_result res;
	struct dt_error err;

	dt_hex(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski), hex);
	dt_hex(ASN1_STRING_get0_data(oski), (size_t)ASN1_STRING_length(oski), ohex);
	assert_int_equal(dt_policy_allow(f->t->ctx, "pump", "network", NULL, NULL, NULL, &err),
			 DT_OK);
	sync_v(f->v);
	assert_int_equal(dt_verify(f->v, &req, &res, &err), DT_OK);
	assert_int_equal(res.reason, DT_VR_ALLOWED);
	assert_string_equal(res.device.class_name, "pump");
	req.issuer_key_id = ohex;
	assert_int_equal(dt_verify(f->v, &req, &res, &err), DT_OK);
	assert_int_equal(res.reason, DT_VR_WRONG_CA);
	req.serial = "0123456789abcdef0123456789abcdef";
	req.issuer_key_id = hex;
	assert_int_equal(dt_verify(f->v, &req, &res, &err), DT_OK);
	assert_int_equal(res.reason, DT_VR_UNKNOWN_CERTIFICATE);
	req.issuer_key_id = NULL;
	assert_int_equal(dt_verify(f->v, &req, &res, &err), DT_OK);
	assert_int_equal(res.reason, DT_VR_BAD_REQUEST);
	X509_free(ca);
	X509_free(other);
}

static void test_cache_modes_agree(void **state)
{
	struct fx *f = *state;
	struct dt_verifier *each = verifier(f->t, DT_VERIFY_READ_EACH, 1);
	struct dt_verifier *none = verifier(f->t, DT_VERIFY_CACHE_NONE, 1);
	struct dt_verifier_stats st;
	struct dt_error err;
	int64_t n;

	decide(f, "GET", "/v1/x", DT_VR_ALLOWED); /* now in f->v's memory */
	for (int i = 0; i < 3; i++) {
		decide_as(each, f->der, f->len, "telemetry", "GET", "/v1/x", NULL, DT_VR_ALLOWED);
		decide_as(none, f->der, f->len, "telemetry", "GET", "/v1/x", NULL, DT_VR_ALLOWED);
	}
	dt_verifier_stats(each, &st);
	assert_int_equal(st.store_reads, 3);
	assert_int_equal(st.chain_checks, 1); /* the signature check is kept */
	dt_verifier_stats(none, &st);
	assert_int_equal(st.chain_checks, 3);
	/* A store read per decision sees a suspension without any sync. */
	assert_int_equal(dt_device_transition(f->t->ctx, "p1", DT_TR_SUSPEND, NULL, &n, &err),
			 DT_OK);
	decide_as(each, f->der, f->len, "telemetry", "GET", "/v1/x", NULL, DT_VR_DEVICE_SUSPENDED);
	decide_as(none, f->der, f->len, "telemetry", "GET", "/v1/x", NULL, DT_VR_DEVICE_SUSPENDED);
	/* The cached verifier needs its sync (the thread's 200 ms tick). */
	decide(f, "GET", "/v1/x", DT_VR_ALLOWED);
	sync_v(f->v);
	decide(f, "GET", "/v1/x", DT_VR_DEVICE_SUSPENDED);
	dt_verifier_free(each);
	dt_verifier_free(none);
}

static int count_clone(void *arg, const struct dt_clone_finding *c)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static void test_clones(void **state)
{
	struct fx *f = *state;
	struct dt_clone_policy cp;
	struct dt_device d;
	struct dt_error err;
	int n = 0;
	int64_t cleared = 0, moved = 0;

	/* Default: report only. */
	assert_int_equal(dt_clone_policy_get(f->t->ctx, "pump", &cp, &err), DT_OK);
	assert_int_equal(cp.window_s, DT_CLONE_WINDOW_DEFAULT);
	assert_int_equal(cp.action, DT_CLONE_REPORT);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.1", DT_VR_ALLOWED);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.1", DT_VR_ALLOWED);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.2", DT_VR_ALLOWED);
	assert_int_equal(dt_clone_list(f->t->ctx, 0, count_clone, &n, &err), DT_OK);
	assert_int_equal(n, 1);
	/* One open finding per device: no second one for the next flip. */
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.3", DT_VR_ALLOWED);
	n = 0;
	assert_int_equal(dt_clone_list(f->t->ctx, 0, count_clone, &n, &err), DT_OK);
	assert_int_equal(n, 1);
	/* deny: the open finding refuses the device until cleared. */
	cp.action = DT_CLONE_DENY;
	assert_int_equal(dt_clone_policy_set(f->t->ctx, &cp, &err), DT_OK);
	sync_v(f->v);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.3",
		  DT_VR_CLONE_SUSPECTED);
	assert_int_equal(dt_clone_clear(f->t->ctx, "p1", "false alarm: DHCP", &cleared, &err),
			 DT_OK);
	assert_int_equal(cleared, 1);
	assert_int_equal(dt_clone_clear(f->t->ctx, "p1", NULL, &cleared, &err), DT_ERR_NOT_FOUND);
	sync_v(f->v);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.3", DT_VR_ALLOWED);
	/* suspend: the second address is refused at once and the device suspended. */
	cp.action = DT_CLONE_SUSPEND;
	assert_int_equal(dt_clone_policy_set(f->t->ctx, &cp, &err), DT_OK);
	sync_v(f->v);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.9",
		  DT_VR_CLONE_SUSPECTED);
	assert_int_equal(dt_device_get(f->t->ctx, "p1", &d, &err), DT_OK);
	assert_int_equal(d.state, DT_STATE_SUSPENDED);
	sync_v(f->v);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.9",
		  DT_VR_DEVICE_SUSPENDED);
	n = 0;
	assert_int_equal(dt_clone_list(f->t->ctx, 1, count_clone, &n, &err), DT_OK);
	assert_int_equal(n, 2);
	/* Window 0: off, even with action suspend: p1, resumed and cleared, may move. */
	cp.window_s = 0;
	assert_int_equal(dt_clone_policy_set(f->t->ctx, &cp, &err), DT_OK);
	assert_int_equal(dt_device_transition(f->t->ctx, "p1", DT_TR_RESUME, NULL, &moved, &err),
			 DT_OK);
	assert_int_equal(dt_clone_clear(f->t->ctx, "p1", NULL, &cleared, &err), DT_OK);
	sync_v(f->v);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.20", DT_VR_ALLOWED);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.21", DT_VR_ALLOWED);
	n = 0;
	assert_int_equal(dt_clone_list(f->t->ctx, 0, count_clone, &n, &err), DT_OK);
	assert_int_equal(n, 0);
	cp.window_s = 8 * 86400;
	assert_int_equal(dt_clone_policy_set(f->t->ctx, &cp, &err), DT_ERR_INVALID);
	strcpy(cp.class_name, "nope");
	cp.window_s = 10;
	assert_int_equal(dt_clone_policy_set(f->t->ctx, &cp, &err), DT_ERR_NOT_FOUND);
}

static int collect_seen(void *arg, const struct dt_seen *s)
{
	struct dt_seen *out = arg;

	if (strcmp(s->device_id, "p1") == 0)
		*out = *s;
	return 0;
}

static void test_last_seen(void **state)
{
	struct fx *f = *state;
	struct dt_seen s;
	struct dt_error err;
	struct dt_verifier_stats st;

	memset(&s, 0, sizeof(s));
	assert_int_equal(dt_report_silent(f->t->ctx, 3600, collect_seen, &s, &err), DT_OK);
	assert_string_equal(s.device_id, "p1");
	assert_int_equal(s.last_seen, 0);
	for (int i = 0; i < 50; i++)
		decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v1/x", "10.0.0.7",
			  DT_VR_ALLOWED);
	decide_as(f->v, f->der, f->len, "telemetry", "GET", "/v9", "10.0.0.7", DT_VR_NOT_ALLOWED);
	/* Nothing is written per decision: not seen until the batch goes. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(dt_report_silent(f->t->ctx, 3600, collect_seen, &s, &err), DT_OK);
	assert_string_equal(s.device_id, "p1");
	sync_v(f->v);
	dt_verifier_stats(f->v, &st);
	assert_int_equal(st.seen_written, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(dt_report_silent(f->t->ctx, 3600, collect_seen, &s, &err), DT_OK);
	assert_string_equal(s.device_id, ""); /* seen: not silent */
	assert_int_equal(dt_report_silent(f->t->ctx, 0, collect_seen, &s, &err), DT_ERR_INVALID);
	tu2_sql(f->t, "UPDATE device_seen SET last_seen = last_seen - 7200");
	assert_int_equal(dt_report_silent(f->t->ctx, 3600, collect_seen, &s, &err), DT_OK);
	assert_string_equal(s.device_id, "p1");
	assert_string_equal(s.last_addr, "10.0.0.7");
	assert_string_equal(s.last_reason, "not-allowed");
	assert_false(s.last_allowed);
}

static int count_policy(void *arg, const struct dt_policy *p)
{
	(void)p;
	(*(int *)arg)++;
	return 0;
}

static void test_policy_crud(void **state)
{
	struct fx *f = *state;
	struct dt_policy p;
	struct dt_error err;
	int64_t removed;
	int n = 0;

	assert_int_equal(dt_policy_allow(f->t->ctx, "pump", "telemetry", "/v1/**", "PUT", &p, &err),
			 DT_OK);
	assert_int_equal(p.methods, DT_M_GET | DT_M_POST | DT_M_PUT); /* merged */
	assert_int_equal(dt_policy_allow(f->t->ctx, "nope", "telemetry", NULL, NULL, &p, &err),
			 DT_ERR_NOT_FOUND);
	assert_int_equal(dt_policy_allow(f->t->ctx, "pump", "Tele", NULL, NULL, &p, &err),
			 DT_ERR_INVALID);
	assert_int_equal(dt_policy_allow(f->t->ctx, "pump", "telemetry", "v1", NULL, &p, &err),
			 DT_ERR_INVALID);
	assert_int_equal(dt_policy_allow(f->t->ctx, "pump", "telemetry", NULL, "GOT", &p, &err),
			 DT_ERR_INVALID);
	assert_int_equal(dt_policy_allow(f->t->ctx, "pump", "mqtt", NULL, NULL, &p, &err), DT_OK);
	assert_string_equal(p.pattern, "/**");
	assert_int_equal(p.methods, DT_M_ANY);
	assert_int_equal(dt_policy_list(f->t->ctx, "pump", NULL, count_policy, &n, &err), DT_OK);
	assert_int_equal(n, 2);
	assert_int_equal(dt_policy_remove(f->t->ctx, "pump", "mqtt", "/x", &removed, &err),
			 DT_ERR_NOT_FOUND);
	assert_int_equal(dt_policy_remove(f->t->ctx, "pump", "mqtt", NULL, &removed, &err), DT_OK);
	assert_int_equal(removed, 1);
	for (int i = 0; i < DT_MAX_POLICIES_PER_CLASS; i++) {
		char pat[32];
		snprintf(pat, sizeof(pat), "/p%d", i);
		dt_code rc = dt_policy_allow(f->t->ctx, "imaging", "s", pat, NULL, NULL, &err);
		assert_int_equal(rc, DT_OK);
	}
	assert_int_equal(dt_policy_allow(f->t->ctx, "imaging", "s", "/one-more", NULL, NULL, &err),
			 DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "DT_MAX_POLICIES_PER_CLASS"));
}

struct blast {
	int classes, policies, devices;
	int64_t active_life_critical;
};

static int b_class(void *arg, const struct dt_blast_class *c)
{
	struct blast *b = arg;

	b->classes++;
	b->active_life_critical += c->devices[DT_STATE_ACTIVE][DT_CRIT_LIFE_CRITICAL];
	return 0;
}

static int b_policy(void *arg, const struct dt_policy *p)
{
	(void)p;
	((struct blast *)arg)->policies++;
	return 0;
}

static int b_device(void *arg, const struct dt_device *d)
{
	(void)d;
	((struct blast *)arg)->devices++;
	return 0;
}

static void test_blast_radius(void **state)
{
	struct fx *f = *state;
	struct blast b;
	struct dt_blast_cbs cbs = {b_class, b_policy, b_device, &b};
	struct dt_error err;

	tu2_class(f->t, "pump-b", "pumps", DT_KEY_EC_P256, 30 * 86400, 0);
	tu2_device(f->t, "p2", "pump-b", NULL);
	tu2_device(f->t, "x1", "imaging", NULL);
	memset(&b, 0, sizeof(b));
	assert_int_equal(dt_report_blast_radius(f->t->ctx, "pumps", NULL, &cbs, &err), DT_OK);
	assert_int_equal(b.classes, 2);
	assert_int_equal(b.devices, 2);
	assert_int_equal(b.policies, 1);
	assert_int_equal(b.active_life_critical, 1);
	memset(&b, 0, sizeof(b));
	assert_int_equal(dt_report_blast_radius(f->t->ctx, NULL, "imaging", &cbs, &err), DT_OK);
	assert_int_equal(b.classes, 1);
	assert_int_equal(b.devices, 1);
	assert_int_equal(b.policies, 0);
	assert_int_equal(dt_report_blast_radius(f->t->ctx, "root", NULL, &cbs, &err),
			 DT_ERR_INVALID);
	assert_int_equal(dt_report_blast_radius(f->t->ctx, "nope", NULL, &cbs, &err),
			 DT_ERR_NOT_FOUND);
	assert_int_equal(dt_report_blast_radius(f->t->ctx, "pumps", "pump", &cbs, &err),
			 DT_ERR_INVALID);
}

static void test_authz_headers(void **state)
{
	struct verify_authz_headers h;
	struct dt_verify_request req;
	struct dt_error err;
	char *buf = NULL;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.cert = "-----BEGIN%20CERTIFICATE-----%0AAA%3D%3D%0A";
	h.service = "telemetry";
	assert_int_equal(verify_authz_request(&h, &req, &buf, &err), DT_OK);
	assert_string_equal((const char *)req.cert, "-----BEGIN CERTIFICATE-----\nAA==\n");
	assert_string_equal(req.service, "telemetry");
	free(buf);
	h.cert = "%zz";
	assert_int_equal(verify_authz_request(&h, &req, &buf, &err), DT_ERR_INVALID);
	assert_null(buf);
	h.cert = ""; /* nginx without a client certificate */
	h.serial = "01";
	assert_int_equal(verify_authz_request(&h, &req, &buf, &err), DT_OK);
	assert_null(req.cert);
	assert_string_equal(req.serial, "01");
	assert_int_equal(dt_verify_reason_parse("clone-suspected"), DT_VR_CLONE_SUSPECTED);
	assert_int_equal(dt_verify_reason_parse("nope"), -1);
	assert_string_equal(dt_verify_reason_name(DT_VR_NOT_ALLOWED), "not-allowed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_parse),
	    cmocka_unit_test(test_patterns),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_firmware),
	    cmocka_unit_test(test_cert_input),
	    cmocka_unit_test(test_authz_headers),
	    cmocka_unit_test_setup_teardown(test_allow_and_summary, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_role, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_lifecycle, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_compromised_and_ca_revoked, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_validity_and_firmware, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_identity, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_by_serial, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_modes_agree, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_clones, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_last_seen, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_policy_crud, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_blast_radius, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
