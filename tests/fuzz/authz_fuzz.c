/*
 * libFuzzer harness for the /authz request as a relying party sends it: the
 * header values (nginx's URL-escaped PEM client certificate, or a serial and
 * issuer key id, the method, the request target, the service, the client
 * address) through verify_authz_request and then dt_verify against a real
 * data dir (org "fuzz": class pump on CA pumps, device p1 with a
 * certificate, policy "pump may GET below /v1" for service telemetry).
 * Input: the seven values separated by '\n'; a certificate value "@" stands
 * for p1's real escaped certificate, so fuzzed routes, methods and services
 * reach the policy check too.
 * The contract: a rejection of the headers is DT_ERR_INVALID with a message;
 * dt_verify always decides (DT_OK), with a known reason and a detail; allow
 * only for p1's own certificate (byte for byte), service telemetry, GET or
 * HEAD, a path below /v1; an identified decision names p1.
 */
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devtrust/verify.h"
#include "fuzz_datadir.h"
#include "verify/verify.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dt_ctx *ctx;
static struct dt_verifier *ver;
static char *p1_escaped;
static unsigned char *p1_der;
static size_t p1_len;

/* Runs before the data dir's own cleanup (atexit order), which closes ctx. */
static void cleanup(void)
{
	dt_verifier_free(ver);
	free(p1_escaped);
	OPENSSL_free(p1_der);
}

/* p1's certificate: key, CSR, issuance; kept as DER and as nginx escapes PEM. */
static void enroll_p1(void)
{
	const unsigned char *p;
	X509 *x;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n;
	size_t o = 0;

	fuzz_issue("p1", &p1_der, &p1_len, NULL);
	p = p1_der;
	if (!b || !(x = d2i_X509(NULL, &p, (long)p1_len)) || PEM_write_bio_X509(b, x) != 1)
		fuzz_die("PEM", NULL);
	n = BIO_get_mem_data(b, &pem);
	if (!(p1_escaped = malloc((size_t)n * 3 + 1)))
		fuzz_die("malloc", NULL);
	/* What nginx's $ssl_client_escaped_cert does: escape all but unreserved. */
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pem[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			p1_escaped[o++] = (char)c;
		else
			o += (size_t)sprintf(p1_escaped + o, "%%%02X", c);
	}
	p1_escaped[o] = '\0';
	X509_free(x);
	BIO_free(b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dt_verifier_opts vo = {.no_record = 1, .no_thread = 1};
	struct dt_error err = {0};
	struct dt_class cl;
	struct dt_device d;
	char tok[DT_TOKEN_BUF];

	(void)argc;
	(void)argv;
	fuzz_datadir_init("authz", &ctx);
	atexit(cleanup);
	if (dt_ca_add(ctx, "pumps", &err) != DT_OK)
		fuzz_die_err("dt_ca_add", &err);
	dt_class_defaults(&cl);
	strcpy(cl.name, "pump");
	strcpy(cl.ca, "pumps");
	strcpy(cl.min_firmware, "1.0");
	memset(&d, 0, sizeof(d));
	strcpy(d.id, "p1");
	strcpy(d.class_name, "pump");
	strcpy(d.firmware, "1.2");
	if (dt_class_add(ctx, &cl, &err) != DT_OK || dt_device_add(ctx, &d, tok, &err) != DT_OK)
		fuzz_die_err("class and device", &err);
	enroll_p1();
	if (dt_policy_allow(ctx, "pump", "telemetry", "/v1/**", "GET", NULL, &err) != DT_OK ||
	    dt_verifier_new(ctx, &vo, &ver, &err) != DT_OK)
		fuzz_die_err("policy and verifier", &err);
	return 0;
}

/* The decoded path (query dropped) starts with /v1 as a whole segment. */
static int below_v1(const char *target)
{
	struct verify_route r;
	struct dt_error err;

	if (verify_route_parse("telemetry", "GET", target, &r, &err) != DT_OK)
		return 0;
	return strcmp(r.path, "/v1") == 0 || strncmp(r.path, "/v1/", 4) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *field[7] = {0}, *p, *buf = NULL;
	struct verify_authz_headers h;
	struct dt_verify_request req;
	struct dt_verify_result res;
	struct dt_error err = {0};
	int n = 0;
	dt_code rc;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; n < 7; n++) {
		field[n] = p;
		if (!(p = strchr(p, '\n')))
			break;
		*p++ = '\0';
	}
	memset(&h, 0, sizeof(h));
	h.cert = field[0] && strcmp(field[0], "@") == 0 ? p1_escaped : field[0];
	h.method = field[1];
	h.uri = field[2];
	h.service = field[3];
	h.addr = field[4];
	h.serial = field[5];
	h.keyid = field[6];
	rc = verify_authz_request(&h, &req, &buf, &err);
	if (rc != DT_OK) {
		if (rc != DT_ERR_INVALID || err.code != rc || !err.msg[0] || buf)
			fuzz_die_err("a header rejection without DT_ERR_INVALID and a message",
				     &err);
		free(copy);
		return 0;
	}
	rc = dt_verify(ver, &req, &res, &err);
	if (rc != DT_OK)
		fuzz_die_err("dt_verify did not decide", &err);
	if ((unsigned)res.reason >= DT_VR_COUNT || !res.detail[0] ||
	    res.allowed != (res.reason == DT_VR_ALLOWED))
		fuzz_die("a decision without a known reason, a detail, or consistent allow", NULL);
	if (res.identified && strcmp(res.device.id, "p1") != 0)
		fuzz_die("identified a device other than p1", NULL);
	if (res.allowed) {
		unsigned char *dbuf = NULL;
		const unsigned char *der = NULL;
		size_t dlen = 0;
		struct dt_error e2;
		int same =
		    req.cert &&
		    verify_leaf_der(req.cert, req.cert_len, &dbuf, &der, &dlen, &e2) == DT_OK &&
		    dlen == p1_len && memcmp(der, p1_der, dlen) == 0;

		OPENSSL_free(dbuf);
		if (!same || strcmp(req.service, "telemetry") != 0 || !req.method ||
		    (strcmp(req.method, "GET") != 0 && strcmp(req.method, "HEAD") != 0) ||
		    !req.path || !below_v1(req.path))
			fuzz_die("allowed something the policy does not allow", NULL);
	}
	free(buf);
	free(copy);
	return 0;
}
