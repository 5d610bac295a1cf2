/*
 * OCSP request intake (RFC 6960 section 4.1): size, DER with nothing after
 * it, one to DT_MAX_OCSP_CERTIDS CertIDs, at most one well-formed nonce, and
 * no critical extension we do not understand. The optional request signature
 * is ignored, as RFC 5019 section 2.1.2 allows.
 */
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "ocsp/ocsp.h"

/* RFC 9654 section 2.1 (RFC 8954 before it): a nonce is an OCTET STRING of
 * 1 to OCSP_NONCE_MAX octets inside extnValue; anything else is malformed. */
static dt_code check_nonce(X509_EXTENSION *ext, struct dt_error *err)
{
	const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
	const unsigned char *der = ASN1_STRING_get0_data(v), *p = der;
	long len = ASN1_STRING_length(v);
	ASN1_OCTET_STRING *nonce = d2i_ASN1_OCTET_STRING(NULL, &p, len);
	int n = nonce ? ASN1_STRING_length(nonce) : -1;
	dt_code rc = DT_OK;

	if (!nonce || p != der + len)
		rc = dt_fail(err, DT_ERR_INVALID,
			     "RFC 9654 section 2.1: the nonce extension does not hold one OCTET "
			     "STRING");
	else if (n < 1 || n > OCSP_NONCE_MAX)
		rc = dt_fail(err, DT_ERR_INVALID,
			     "RFC 9654 section 2.1: nonce of %d octets; want 1 to %d", n,
			     OCSP_NONCE_MAX);
	ASN1_OCTET_STRING_free(nonce);
	return rc;
}

/* RFC 6960 section 4.4: unrecognised extensions are ignored unless critical. */
static dt_code check_critical(X509_EXTENSION *ext, const char *where, struct dt_error *err)
{
	char oid[80];

	if (!X509_EXTENSION_get_critical(ext))
		return DT_OK;
	OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1);
	return dt_fail(err, DT_ERR_INVALID,
		       "RFC 6960 section 4.4: critical %s extension %s is not understood", where,
		       oid);
}

static dt_code check_extensions(struct ocsp_request *r, struct dt_error *err)
{
	int count = OCSP_REQUEST_get_ext_count(r->req);
	dt_code rc;

	for (int i = 0; i < count; i++) {
		X509_EXTENSION *ext = OCSP_REQUEST_get_ext(r->req, i);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_id_pkix_OCSP_Nonce) {
			if ((rc = check_critical(ext, "request", err)) != DT_OK)
				return rc;
			continue;
		}
		/* RFC 5280 section 4.2, which RFC 6960 follows: one instance per extension. */
		if (r->has_nonce)
			return dt_fail(err, DT_ERR_INVALID,
				       "RFC 6960 section 4.4.1: the request carries two nonces");
		if ((rc = check_nonce(ext, err)) != DT_OK)
			return rc;
		r->has_nonce = 1;
	}
	for (int i = 0; i < r->n; i++) {
		OCSP_ONEREQ *one = OCSP_request_onereq_get0(r->req, i);
		int n = OCSP_ONEREQ_get_ext_count(one);

		for (int k = 0; k < n; k++)
			if ((rc = check_critical(OCSP_ONEREQ_get_ext(one, k), "singleRequest",
						 err)) != DT_OK)
				return rc;
	}
	return DT_OK;
}

dt_code ocsp_request_parse(const unsigned char *der, size_t len, struct ocsp_request *out,
			   struct dt_error *err)
{
	const unsigned char *p = der;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if (!der || len == 0)
		return dt_fail(err, DT_ERR_INVALID, "RFC 6960 section 4.1.1: the request is empty");
	if (len > DT_MAX_OCSP_REQUEST_BYTES)
		return dt_fail(err, DT_ERR_INVALID,
			       "the request is %zu bytes; the limit is %d "
			       "(DT_MAX_OCSP_REQUEST_BYTES)",
			       len, DT_MAX_OCSP_REQUEST_BYTES);
	if (!(out->req = d2i_OCSP_REQUEST(NULL, &p, (long)len))) {
		ERR_clear_error();
		return dt_fail(err, DT_ERR_INVALID,
			       "RFC 6960 section 4.1.1: not a DER OCSPRequest");
	}
	if (p != der + len) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "RFC 6960 section 4.1.1: %zu bytes after the OCSPRequest",
			     (size_t)(der + len - p));
		goto fail;
	}
	out->n = OCSP_request_onereq_count(out->req);
	if (out->n < 1 || out->n > DT_MAX_OCSP_CERTIDS) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "RFC 6960 section 4.1.1: %d CertIDs; want 1 to %d "
			     "(DT_MAX_OCSP_CERTIDS; RFC 5019 section 2.1.1 sends one)",
			     out->n, DT_MAX_OCSP_CERTIDS);
		goto fail;
	}
	for (int i = 0; i < out->n; i++)
		out->ids[i] = OCSP_onereq_get0_id(OCSP_request_onereq_get0(out->req, i));
	if ((rc = check_extensions(out, err)) != DT_OK)
		goto fail;
	return DT_OK;
fail:
	ocsp_request_free(out);
	return rc;
}

void ocsp_request_free(struct ocsp_request *r)
{
	if (!r)
		return;
	OCSP_REQUEST_free(r->req);
	memset(r, 0, sizeof(*r));
}
