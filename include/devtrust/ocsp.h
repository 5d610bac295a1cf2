/*
 * The OCSP responder (RFC 6960, RFC 5019 profile): one DER request in, one
 * DER response out, signed by the delegated OCSP signer of the CA that issued
 * the certificates asked about. Transport and caching belong to the caller.
 */
#ifndef DEVTRUST_OCSP_H
#define DEVTRUST_OCSP_H

#include "devtrust/devtrust.h"
#include "devtrust/inventory.h" /* DT_ID_BUF */

/* OCSPResponseStatus (RFC 6960 section 4.2.1). */
enum dt_ocsp_status {
	DT_OCSP_SUCCESSFUL = 0,
	DT_OCSP_MALFORMED_REQUEST = 1,
	DT_OCSP_INTERNAL_ERROR = 2,
	DT_OCSP_TRY_LATER = 3,
	DT_OCSP_SIG_REQUIRED = 5,
	DT_OCSP_UNAUTHORIZED = 6,
};

struct dt_ocsp_result {
	unsigned char *der; /* the OCSP response (always set on DT_OK, also for
			       malformedRequest/unauthorized), OPENSSL_malloc'ed */
	size_t len;
	int cacheable; /* 1: a pre-signable answer (no nonce, successful): the server may cache
			  it until refresh_at */
	int64_t this_update, next_update, produced_at;
	int64_t refresh_at; /* this_update + half the validity (RFC 5019 guidance: re-sign
			       before half passed) */
	int status;	    /* OCSP response status (0 successful, 1 malformedRequest, 6
			       unauthorized ...) */
	int has_nonce;	    /* the request carried a nonce, echoed in the response */
	int count;	    /* SingleResponses in a successful response (one per CertID) */
	char ca[DT_ID_BUF]; /* successful: the CA whose OCSP signer answered ("root" for
			       issuing CAs) */
	char why[256];	    /* not successful: what was refused and why, for the log */
};

/*
 * Answers one DER OCSP request. Returns DT_OK with a response for every request it can
 * answer, including malformedRequest/unauthorized responses; an error only for internal
 * failures (store, keys, an expired OCSP signer), which the caller answers with
 * internalError or tryLater. Thread-safe: one context may serve many threads.
 */
DT_MUST_USE dt_code dt_ocsp_respond(struct dt_ctx *ctx, const unsigned char *req, size_t len,
				    struct dt_ocsp_result *out, struct dt_error *err);
void dt_ocsp_result_free(struct dt_ocsp_result *r);

/* An unsigned response with only a status (RFC 6960 section 4.2.1), for the errors the
 * caller meets before a request exists (internalError, tryLater, or a request that the
 * transport could not decode: malformedRequest). */
DT_MUST_USE dt_code dt_ocsp_error_response(int status, struct dt_ocsp_result *out,
					   struct dt_error *err);

#endif
