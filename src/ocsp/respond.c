/*
 * dt_ocsp_respond: one request in, one DER OCSPResponse out (RFC 6960
 * section 4.2). Successful responses are signed by the delegated signer of
 * the CA asked about; refusals are the unsigned status-only responses of
 * RFC 6960 section 2.3.
 */
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "ocsp/ocsp.h"

/* An unsigned response carrying only status (RFC 6960 section 4.2.1). */
static dt_code status_only(int status, const char *why, struct dt_ocsp_result *out,
			   struct dt_error *err)
{
	OCSP_RESPONSE *resp = OCSP_response_create(status, NULL);
	unsigned char *der = NULL;
	int n = resp ? i2d_OCSP_RESPONSE(resp, &der) : -1;

	OCSP_RESPONSE_free(resp);
	if (n <= 0) {
		ERR_clear_error();
		return dt_fail(err, DT_ERR_CRYPTO, "cannot encode an OCSP response");
	}
	dt_ocsp_result_free(out);
	out->der = der;
	out->len = (size_t)n;
	out->status = status;
	snprintf(out->why, sizeof(out->why), "%s", why ? why : "");
	return DT_OK;
}

dt_code dt_ocsp_error_response(int status, struct dt_ocsp_result *out, struct dt_error *err)
{
	memset(out, 0, sizeof(*out));
	if (status != DT_OCSP_MALFORMED_REQUEST && status != DT_OCSP_INTERNAL_ERROR &&
	    status != DT_OCSP_TRY_LATER && status != DT_OCSP_SIG_REQUIRED &&
	    status != DT_OCSP_UNAUTHORIZED)
		return dt_fail(err, DT_ERR_INVALID,
			       "OCSP response status %d carries no response bytes or does not "
			       "exist (RFC 6960 section 4.2.1)",
			       status);
	return status_only(status, NULL, out, err);
}

/* The signed part: one SingleResponse per CertID, in request order, and the nonce. */
static dt_code build(const struct ocsp_request *r, const struct ocsp_answer *a, int64_t now,
		     int64_t next, OCSP_BASICRESP *bs, struct dt_error *err)
{
	ASN1_TIME *this_t = ASN1_TIME_set(NULL, (time_t)now);
	ASN1_TIME *next_t = ASN1_TIME_set(NULL, (time_t)next);
	ASN1_TIME *rev_t = NULL;
	dt_code rc = DT_OK;

	if (!this_t || !next_t) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode OCSP times");
		goto out;
	}
	for (int i = 0; i < r->n; i++) {
		const struct ocsp_single *s = &a->single[i];

		ASN1_TIME_free(rev_t);
		rev_t = NULL;
		if (s->status == V_OCSP_CERTSTATUS_REVOKED &&
		    !(rev_t = ASN1_TIME_set(NULL, (time_t)s->revoked_at))) {
			rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode a revocation time");
			goto out;
		}
		if (!OCSP_basic_add1_status(bs, r->ids[i], s->status, s->reason, rev_t, this_t,
					    next_t)) {
			rc = dt_fail(err, DT_ERR_CRYPTO, "cannot add an OCSP SingleResponse");
			goto out;
		}
	}
	/* RFC 9654 section 2.1: the response echoes the request's nonce as sent. */
	if (r->has_nonce && OCSP_copy_nonce(bs, r->req) != 1)
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot copy the nonce into the response");
out:
	ASN1_TIME_free(this_t);
	ASN1_TIME_free(next_t);
	ASN1_TIME_free(rev_t);
	return rc;
}

/* nextUpdate, capped at the signer's notAfter: a response must not outlive the
 * certificate that vouches for its signature. */
static dt_code next_update(const struct ca_signer *signer, const char *ca, int64_t now,
			   int64_t *next, struct dt_error *err)
{
	int64_t end = ca_asn1_time(X509_get0_notAfter(ca_signer_cert(signer)));

	if (end <= now)
		return dt_fail(err, DT_ERR_STATE,
			       "the OCSP signer of CA '%s' has expired; it must be renewed before "
			       "its responses can be trusted",
			       ca);
	*next = now + OCSP_VALIDITY_S < end ? now + OCSP_VALIDITY_S : end;
	return DT_OK;
}

static dt_code sign_and_encode(const struct ca_signer *signer, OCSP_BASICRESP *bs,
			       struct dt_ocsp_result *out, struct dt_error *err)
{
	OCSP_RESPONSE *resp = NULL;
	int n;
	dt_code rc;

	if ((rc = ca_sign_ocsp(signer, bs, err)) != DT_OK)
		return rc;
	if (!(resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) ||
	    (n = i2d_OCSP_RESPONSE(resp, &out->der)) <= 0) {
		OCSP_RESPONSE_free(resp);
		out->der = NULL;
		return dt_fail(err, DT_ERR_CRYPTO, "cannot encode the OCSP response");
	}
	OCSP_RESPONSE_free(resp);
	out->len = (size_t)n;
	out->produced_at = ca_asn1_time(OCSP_resp_get0_produced_at(bs));
	return DT_OK;
}

dt_code dt_ocsp_respond(struct dt_ctx *ctx, const unsigned char *req, size_t len,
			struct dt_ocsp_result *out, struct dt_error *err)
{
	struct ocsp_request r;
	struct ocsp_answer *a = NULL;
	struct dt_error why = {0};
	const struct ca_signer *signer = NULL;
	OCSP_BASICRESP *bs = NULL;
	int64_t now, next = 0;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	rc = ocsp_request_parse(req, len, &r, &why);
	if (rc == DT_ERR_INVALID)
		return status_only(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, why.msg, out, err);
	if (rc != DT_OK)
		return dt_fail(err, rc, "%s", why.msg);
	if (!(a = malloc(sizeof(*a)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = ocsp_status_lookup(ctx, &r, a, err)) != DT_OK)
		goto out;
	if (!a->ca[0]) {
		rc = status_only(OCSP_RESPONSE_STATUS_UNAUTHORIZED, a->why, out, err);
		goto out;
	}
	rc = ca_ocsp_signer_get(ctx, a->ca, &signer, &why);
	if (rc == DT_ERR_NOT_FOUND) {
		rc = status_only(OCSP_RESPONSE_STATUS_UNAUTHORIZED, why.msg, out, err);
		goto out;
	}
	if (rc != DT_OK) {
		rc = dt_fail(err, rc, "%s", why.msg);
		goto out;
	}
	now = dt_now();
	if ((rc = next_update(signer, a->ca, now, &next, err)) != DT_OK)
		goto out;
	if (!(bs = OCSP_BASICRESP_new())) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = build(&r, a, now, next, bs, err)) != DT_OK ||
	    (rc = sign_and_encode(signer, bs, out, err)) != DT_OK)
		goto out;
	out->status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
	out->has_nonce = r.has_nonce;
	out->cacheable = !r.has_nonce;
	out->count = r.n;
	out->this_update = now;
	out->next_update = next;
	out->refresh_at = now + (next - now) / 2;
	snprintf(out->ca, sizeof(out->ca), "%s", a->ca);
	snprintf(out->serial, sizeof(out->serial), "%s", a->serial);
	snprintf(out->device_id, sizeof(out->device_id), "%s", a->device_id);
out:
	ERR_clear_error();
	ca_signer_put(signer);
	OCSP_BASICRESP_free(bs);
	ocsp_request_free(&r);
	free(a);
	if (rc != DT_OK)
		dt_ocsp_result_free(out);
	return rc;
}

void dt_ocsp_result_free(struct dt_ocsp_result *r)
{
	if (!r)
		return;
	OPENSSL_free(r->der);
	memset(r, 0, sizeof(*r));
}
