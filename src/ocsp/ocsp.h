/*
 * Private to the ocsp module: a checked OCSP request, and the status of each
 * certificate it asks about as read in one store snapshot.
 */
#ifndef DT_OCSP_PRIV_H
#define DT_OCSP_PRIV_H

#include <openssl/ocsp.h>

#include "core/core.h"
#include "devtrust/ocsp.h"
#include "devtrust/pki.h"

/*
 * nextUpdate - thisUpdate. A cached response outlives a status change by at
 * most this long: our server re-signs at once, but CDNs, nginx and clients may
 * keep what they fetched until nextUpdate. A day bounds that exposure while
 * keeping responses useful to a device that is offline for hours; the server
 * re-signs after half of it, as the RFC 5019 profile advises.
 */
#define OCSP_VALIDITY_S (24 * 3600)
/* RFC 9654 section 2.1 (which obsoletes RFC 8954): Nonce ::= OCTET STRING (SIZE(1..128)). */
#define OCSP_NONCE_MAX 128

struct ocsp_request {
	OCSP_REQUEST *req;
	int n;				       /* CertIDs, 1..DT_MAX_OCSP_CERTIDS */
	OCSP_CERTID *ids[DT_MAX_OCSP_CERTIDS]; /* owned by req */
	int has_nonce;
};

/* Parses and checks one DER request; DT_ERR_INVALID, with the reason and the
 * RFC section in err, for what deserves malformedRequest. */
DT_MUST_USE dt_code ocsp_request_parse(const unsigned char *der, size_t len,
				       struct ocsp_request *out, struct dt_error *err);
void ocsp_request_free(struct ocsp_request *r);

struct ocsp_single {
	int status;	    /* V_OCSP_CERTSTATUS_GOOD, _REVOKED or _UNKNOWN */
	int reason;	    /* CRLReason, or OCSP_REVOKED_STATUS_NOSTATUS to omit it */
	int64_t revoked_at; /* revoked only */
};

struct ocsp_answer {
	char ca[DT_ID_BUF]; /* the CA whose signer answers; "" when none may (unauthorized) */
	char why[256];	    /* unauthorized: the reason */
	char serial[DT_SERIAL_HEX_BUF]; /* the first CertID's certificate, if we issued it */
	char device_id[DT_ID_BUF];
	struct ocsp_single single[DT_MAX_OCSP_CERTIDS];
};

/* Finds the CA that issued what every CertID names and reads each status, in one
 * snapshot. An error only for store failures. */
DT_MUST_USE dt_code ocsp_status_lookup(struct dt_ctx *ctx, const struct ocsp_request *r,
				       struct ocsp_answer *out, struct dt_error *err);

#endif
