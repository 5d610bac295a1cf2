/*
 * The OCSP responder (RFC 6960, RFC 5019 profile): one DER request in, one
 * DER response out, signed by the delegated OCSP signer of the CA that issued
 * the certificates asked about. Transport and caching belong to the caller.
 */
#ifndef DEVTRUST_OCSP_H
#define DEVTRUST_OCSP_H

#include "devtrust/devtrust.h"
#include "devtrust/inventory.h" /* DT_ID_BUF */
#include "devtrust/pki.h"	/* DT_SERIAL_HEX_BUF */

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
	/* The OCSP response, always set on DT_OK (also for malformedRequest and
	 * unauthorized); OPENSSL_malloc'ed. */
	unsigned char *der;
	size_t len;
	/* 1: a pre-signable answer (successful, no nonce): the server may cache it until
	 * refresh_at. */
	int cacheable;
	int64_t this_update, next_update, produced_at;
	/* this_update + half the validity: re-sign before half of it has passed, as the
	 * RFC 5019 profile advises. */
	int64_t refresh_at;
	/* OCSPResponseStatus: 0 successful, 1 malformedRequest, 6 unauthorized. */
	int status;
	int has_nonce; /* the request carried a nonce, echoed in the response */
	int count;     /* SingleResponses in a successful response (one per CertID) */
	/* Successful: the CA whose OCSP signer answered ("root" for issuing CAs). */
	char ca[DT_ID_BUF];
	/* Not successful: what was refused and why, with the RFC section, for the log. */
	char why[256];
	/* Successful, for the first CertID when it names a certificate we issued, so a
	 * cache can drop the answer when that certificate or its device changes: its
	 * serial as stored (32 hex digits) and its device ("" for an issuing CA). */
	char serial[DT_SERIAL_HEX_BUF];
	char device_id[DT_ID_BUF];
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
