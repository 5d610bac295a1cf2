/*
 * libFuzzer harness for dt_ocsp_respond against a real data dir (org "fuzz"):
 * certificates good, revoked (keyCompromise), on hold, and below a revoked
 * CA. Each input is answered as sent and, when OpenSSL parses it, once more
 * with every CertID re-aimed at this data dir (issuer and serial picked from
 * the fuzzed serial, hash algorithm, extensions and count kept), so fuzzed
 * requests reach the status paths as well as the parser.
 * The contract: DT_OK for every input (nothing here is an internal failure);
 * the DER response parses whole with the status the result reports; a
 * refusal is malformedRequest or unauthorized with a reason; a successful
 * response verifies with OpenSSL against the hierarchy, answers each CertID
 * once, echoes the nonce exactly when one was sent, is cacheable exactly when
 * none was, and says what the store says about the re-aimed serials.
 */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"
#include "devtrust/ocsp.h"
#include "devtrust/pki.h"
#include "fuzz_datadir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dt_ctx *ctx;
static X509_STORE *trust;

/* What a re-aimed CertID asks about, and the answer the store holds. */
struct target {
	X509 *issuer;
	ASN1_INTEGER *serial; /* NULL: keep the fuzzed serial (unknown) */
	int status, reason;
};
enum {
	T_GOOD,
	T_REVOKED,
	T_HOLD,
	T_BELOW_REVOKED_CA,
	T_CA_GOOD,
	T_CA_REVOKED,
	T_LEAF_FUZZED,
	T_ROOT_FUZZED,
	T_COUNT
};
static struct target targets[T_COUNT];
static X509 *root, *def, *vendor;

static X509 *ca_cert(const char *name)
{
	struct dt_error err = {0};
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509 *x;

	if (dt_ca_cert_der(ctx, name, &der, &len, &err) != DT_OK)
		fuzz_die_err("dt_ca_cert_der", &err);
	p = der;
	if (!(x = d2i_X509(NULL, &p, (long)len)) || X509_STORE_add_cert(trust, x) != 1)
		fuzz_die("a CA certificate does not load", NULL);
	OPENSSL_free(der);
	return x;
}

/* Issues a certificate to a new device of class cls; returns its serial. */
static ASN1_INTEGER *issue(const char *id, const char *cls)
{
	struct dt_error err = {0};
	struct dt_device d;
	char token[DT_TOKEN_BUF];
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t der_len = 0;
	X509 *x;
	ASN1_INTEGER *sn;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.class_name, sizeof(d.class_name), "%s", cls);
	if (dt_device_add(ctx, &d, token, &err) != DT_OK)
		fuzz_die_err("dt_device_add", &err);
	fuzz_issue(id, &der, &der_len, NULL);
	p = der;
	if (!(x = d2i_X509(NULL, &p, (long)der_len)) ||
	    !(sn = ASN1_INTEGER_dup(X509_get0_serialNumber(x))))
		fuzz_die("the issued certificate does not parse", NULL);
	X509_free(x);
	OPENSSL_free(der);
	return sn;
}

static void add_class(const char *name, const char *ca)
{
	struct dt_error err = {0};
	struct dt_class cl;

	dt_class_defaults(&cl);
	snprintf(cl.name, sizeof(cl.name), "%s", name);
	snprintf(cl.ca, sizeof(cl.ca), "%s", ca);
	if (dt_class_add(ctx, &cl, &err) != DT_OK)
		fuzz_die_err("dt_class_add", &err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dt_error err = {0};

	(void)argc;
	(void)argv;
	fuzz_datadir_init("ocsp", &ctx);
	if (!(trust = X509_STORE_new()))
		fuzz_die("X509_STORE_new", NULL);
	if (dt_ca_add(ctx, "vendor", &err) != DT_OK)
		fuzz_die_err("dt_ca_add", &err);
	add_class("pump", "default");
	add_class("infusion", "vendor");
	root = ca_cert("root");
	def = ca_cert("default");
	vendor = ca_cert("vendor");

	targets[T_GOOD] = (struct target){def, issue("good", "pump"), V_OCSP_CERTSTATUS_GOOD, -1};
	targets[T_REVOKED] = (struct target){def, issue("lost", "pump"), V_OCSP_CERTSTATUS_REVOKED,
					     OCSP_REVOKED_STATUS_KEYCOMPROMISE};
	targets[T_HOLD] = (struct target){def, issue("held", "pump"), V_OCSP_CERTSTATUS_REVOKED,
					  OCSP_REVOKED_STATUS_CERTIFICATEHOLD};
	targets[T_BELOW_REVOKED_CA] =
	    (struct target){vendor, issue("inf", "infusion"), V_OCSP_CERTSTATUS_REVOKED,
			    OCSP_REVOKED_STATUS_CACOMPROMISE};
	targets[T_CA_GOOD] = (struct target){root, ASN1_INTEGER_dup(X509_get0_serialNumber(def)),
					     V_OCSP_CERTSTATUS_GOOD, -1};
	targets[T_CA_REVOKED] =
	    (struct target){root, ASN1_INTEGER_dup(X509_get0_serialNumber(vendor)),
			    V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_KEYCOMPROMISE};
	targets[T_LEAF_FUZZED] = (struct target){def, NULL, V_OCSP_CERTSTATUS_UNKNOWN, -1};
	targets[T_ROOT_FUZZED] = (struct target){root, NULL, V_OCSP_CERTSTATUS_UNKNOWN, -1};
	if (dt_device_transition(ctx, "lost", DT_TR_COMPROMISED, "fuzz", NULL, &err) != DT_OK ||
	    dt_device_transition(ctx, "held", DT_TR_SUSPEND, "fuzz", NULL, &err) != DT_OK ||
	    dt_ca_revoke(ctx, "vendor", DT_REASON_KEY_COMPROMISE, &err) != DT_OK)
		fuzz_die_err("setting up the statuses", &err);
	return 0;
}

/* What a re-aimed request must get beyond the contract. */
enum expect {
	EXPECT_ANY,	/* the input as sent */
	EXPECT_MIXED,	/* CertIDs of several CAs: never successful (RFC 6960 4.2.2.2) */
	EXPECT_TARGETS, /* one CA: not unauthorized, and each status as the store holds */
};

/* The checks of a response to req (req may be NULL: the input did not parse). */
static void check(const unsigned char *in, size_t len, OCSP_REQUEST *req, enum expect expect,
		  const int *tgt)
{
	struct dt_ocsp_result r;
	struct dt_error err = {0};
	const unsigned char *p;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	int n;

	if (dt_ocsp_respond(ctx, in, len, &r, &err) != DT_OK)
		fuzz_die_err("dt_ocsp_respond failed", &err);
	p = r.der;
	if (!r.der || !(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r.len)) || p != r.der + r.len)
		fuzz_die("the response is not one whole DER OCSPResponse", NULL);
	if (OCSP_response_status(resp) != r.status)
		fuzz_die("the result's status is not the response's", NULL);
	bs = OCSP_response_get1_basic(resp);
	if (r.status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		if ((r.status != OCSP_RESPONSE_STATUS_MALFORMEDREQUEST &&
		     r.status != OCSP_RESPONSE_STATUS_UNAUTHORIZED) ||
		    bs || r.cacheable || r.why[0] == '\0')
			fuzz_die(
			    "a refusal that is not malformedRequest/unauthorized with a reason, "
			    "or that carries a body",
			    NULL);
		if (expect == EXPECT_TARGETS && r.status == OCSP_RESPONSE_STATUS_UNAUTHORIZED) {
			fprintf(stderr, "ocsp_fuzz: %s\n", r.why);
			fuzz_die("unauthorized for CertIDs that all name one of our CAs", NULL);
		}
		goto out;
	}
	if (!req)
		fuzz_die("answered a request OpenSSL cannot parse", NULL);
	if (expect == EXPECT_MIXED)
		fuzz_die("one responder answered for CertIDs of several CAs", NULL);
	if (!bs || OCSP_basic_verify(bs, NULL, trust, 0) != 1)
		fuzz_die("OCSP_basic_verify refuses a successful response", NULL);
	n = OCSP_request_onereq_count(req);
	if (OCSP_resp_count(bs) != n || r.count != n)
		fuzz_die("not one SingleResponse per CertID", NULL);
	for (int i = 0; i < n; i++) {
		OCSP_CERTID *id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));
		int status = -1, reason = -1;

		if (OCSP_resp_find_status(bs, id, &status, &reason, NULL, NULL, NULL) != 1)
			fuzz_die("a CertID of the request is not answered", NULL);
		if (expect == EXPECT_TARGETS &&
		    (status != targets[tgt[i]].status || reason != targets[tgt[i]].reason)) {
			fprintf(stderr, "ocsp_fuzz: target %d: status %d reason %d\n", tgt[i],
				status, reason);
			fuzz_die("the status is not what the store holds", NULL);
		}
	}
	n = OCSP_check_nonce(req, bs);
	if (r.has_nonce ? n != 1 : n != 2)
		fuzz_die("the nonce is not echoed exactly when sent", NULL);
	if (r.cacheable != !r.has_nonce || r.next_update <= r.this_update ||
	    r.refresh_at <= r.this_update || r.refresh_at >= r.next_update)
		fuzz_die("cacheable or the update times are wrong", NULL);
out:
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	dt_ocsp_result_free(&r);
}

/* The request re-aimed at this data dir; which target each CertID got goes to tgt. */
static OCSP_REQUEST *reaim(OCSP_REQUEST *req, int *tgt, int max)
{
	OCSP_REQUEST *out = OCSP_REQUEST_new();
	int n = OCSP_request_onereq_count(req);

	if (!out || n > max)
		goto fail;
	for (int i = 0; i < n; i++) {
		OCSP_ONEREQ *one = OCSP_request_onereq_get0(req, i), *mine;
		ASN1_OBJECT *alg = NULL;
		ASN1_INTEGER *serial = NULL;
		const EVP_MD *md;
		const struct target *t;
		unsigned pick = 0;
		OCSP_CERTID *id;

		OCSP_id_get0_info(NULL, &alg, NULL, &serial, OCSP_onereq_get0_id(one));
		for (int k = 0; serial && k < ASN1_STRING_length(serial); k++)
			pick += ASN1_STRING_get0_data(serial)[k];
		tgt[i] = (int)(pick % T_COUNT);
		t = &targets[tgt[i]];
		/* Unsupported algorithms are unauthorized: keep them only as SHA-1 here. */
		md = EVP_get_digestbyobj(alg);
		if (!md || (EVP_MD_get_type(md) != NID_sha1 && EVP_MD_get_type(md) != NID_sha256 &&
			    EVP_MD_get_type(md) != NID_sha384 && EVP_MD_get_type(md) != NID_sha512))
			md = EVP_sha1();
		if (!(id = OCSP_cert_id_new(md, X509_get_subject_name(t->issuer),
					    X509_get0_pubkey_bitstr(t->issuer),
					    t->serial ? t->serial : serial)))
			goto fail;
		if (!(mine = OCSP_request_add0_id(out, id))) {
			OCSP_CERTID_free(id);
			goto fail;
		}
		for (int k = 0; k < OCSP_ONEREQ_get_ext_count(one); k++)
			if (OCSP_ONEREQ_add_ext(mine, OCSP_ONEREQ_get_ext(one, k), -1) != 1)
				goto fail;
	}
	for (int k = 0; k < OCSP_REQUEST_get_ext_count(req); k++)
		if (OCSP_REQUEST_add_ext(out, OCSP_REQUEST_get_ext(req, k), -1) != 1)
			goto fail;
	return out;
fail:
	OCSP_REQUEST_free(out);
	return NULL;
}

/* Fuzzed serials keep T_*_FUZZED unknown only if they are not ours by chance. */
static int fuzzed_serial_is_ours(OCSP_REQUEST *req, const int *tgt)
{
	for (int i = 0; i < OCSP_request_onereq_count(req); i++) {
		ASN1_INTEGER *serial = NULL;

		if (targets[tgt[i]].serial)
			continue;
		OCSP_id_get0_info(NULL, NULL, NULL, &serial,
				  OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i)));
		for (int k = 0; k < T_COUNT; k++)
			if (serial && targets[k].serial &&
			    ASN1_INTEGER_cmp(serial, targets[k].serial) == 0)
				return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	OCSP_REQUEST *req = size <= 1 << 20 ? d2i_OCSP_REQUEST(NULL, &p, (long)size) : NULL;
	OCSP_REQUEST *aimed = NULL;
	unsigned char *der = NULL;
	int tgt[16], n;

	/* What dt_ocsp_respond parses is the whole input, or nothing. */
	if (req && p != data + size) {
		OCSP_REQUEST_free(req);
		req = NULL;
	}
	check(data, size, req, EXPECT_ANY, NULL);
	if (req && (aimed = reaim(req, tgt, 16)) && (n = i2d_OCSP_REQUEST(aimed, &der)) > 0) {
		enum expect e = EXPECT_TARGETS;

		for (int i = 1; i < OCSP_request_onereq_count(aimed); i++)
			if (targets[tgt[i]].issuer != targets[tgt[0]].issuer)
				e = EXPECT_MIXED;
		if (e == EXPECT_TARGETS && fuzzed_serial_is_ours(aimed, tgt))
			e = EXPECT_ANY;
		check(der, (size_t)n, aimed, e, tgt);
	}
	OPENSSL_free(der);
	OCSP_REQUEST_free(aimed);
	OCSP_REQUEST_free(req);
	/* The error queue keeps strings: left there, every input would look like a
	 * leak to libFuzzer and cost a full LeakSanitizer scan. */
	ERR_clear_error();
	return 0;
}
