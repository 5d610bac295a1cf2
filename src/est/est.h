/*
 * Private interface of the est module: the base64 transfer encoding of EST
 * bodies, certs-only PKCS#7 replies, label resolution and the three ways a
 * client authenticates (IDevID, HTTP Basic token, current certificate).
 */
#ifndef DT_EST_PRIV_H
#define DT_EST_PRIV_H

#include <openssl/x509.h>

#include "core/core.h"
#include "devtrust/est.h"
#include "devtrust/inventory.h"

/*
 * Decodes an EST body: base64 (RFC 4648 section 4) with optional CR, LF, space
 * and tab between characters (RFC 7030 section 4.2.1 sends it with
 * Content-Transfer-Encoding: base64). At most DT_MAX_EST_BODY bytes in and
 * DT_MAX_CSR_BYTES out. *out is OPENSSL_malloc'ed.
 */
DT_MUST_USE dt_code est_body_decode(const unsigned char *in, size_t len, unsigned char **out,
				    size_t *out_len, struct dt_error *err);
/* Sets r->body to the base64 of data, 64 characters per line, and r->content_type. */
DT_MUST_USE dt_code est_reply_set(struct dt_est_reply *r, const unsigned char *data, size_t len,
				  const char *content_type, struct dt_error *err);
/* A degenerate SignedData carrying only certificates (RFC 7030 section 4.1.3,
 * RFC 5652 section 5); *der is OPENSSL_malloc'ed. */
DT_MUST_USE dt_code est_certs_only(STACK_OF(X509) * certs, unsigned char **der, size_t *len,
				   struct dt_error *err);

/* The class a label names; NULL label: *found = 0 and cls untouched. Unknown
 * or malformed labels are DT_ERR_NOT_FOUND. */
DT_MUST_USE dt_code est_label_class(struct dt_ctx *ctx, const char *label, struct dt_class *cls,
				    int *found, struct dt_error *err);

/* Lower-case hex of a certificate's serial as the store keeps it; DT_ERR_INVALID
 * for a negative or over-long serial (not one of ours). */
DT_MUST_USE dt_code est_cert_serial(const X509 *x, char hex[41], struct dt_error *err);
/* 1 if x is byte for byte a certificate we issued (whatever its status). */
DT_MUST_USE dt_code est_cert_is_ours(struct dt_ctx *ctx, X509 *x, int *ours, struct dt_error *err);
/*
 * Re-enrollment: x must be a certificate we issued, verifying against our
 * unrevoked CAs now, on an active device, and itself valid (not revoked or on
 * hold). Fills the device.
 */
DT_MUST_USE dt_code est_auth_current_cert(struct dt_ctx *ctx, X509 *x, struct dt_device *dev,
					  struct dt_error *err);
/*
 * IEEE 802.1AR bootstrap: the peer chains (through chain, if given) to an
 * anchor of manufacturer M and its subject serialNumber names exactly one
 * device of M. DT_ERR_AUTH when it does not.
 */
DT_MUST_USE dt_code est_auth_idevid(struct dt_ctx *ctx, X509 *peer, STACK_OF(X509) * chain,
				    struct dt_device *dev, struct dt_error *err);

#endif
