/*
 * Enrollment over Secure Transport (RFC 7030): the logic behind
 * /.well-known/est[/<label>]/{cacerts,csrattrs,simpleenroll,simplereenroll}.
 * The HTTP server hands over the body, the Authorization header and the TLS
 * peer; these calls authenticate, issue through dt_cert_issue and return
 * the base64 body to send. Codes map to HTTP: DT_ERR_AUTH 401, DT_ERR_STATE
 * 403, DT_ERR_INVALID 400, DT_ERR_NOT_FOUND 404; messages never carry secrets.
 */
#ifndef DEVTRUST_EST_H
#define DEVTRUST_EST_H

#include <openssl/x509.h>

#include "devtrust/devtrust.h"

/* What the client presented. Everything is borrowed for the call. */
struct dt_est_auth {
	const char *authorization;   /* the HTTP Authorization header value or NULL */
	X509 *peer;		     /* TLS client certificate or NULL */
	STACK_OF(X509) * peer_chain; /* intermediates the client sent, may be NULL */
};

#define DT_EST_CT_CERTS "application/pkcs7-mime; smime-type=certs-only"
#define DT_EST_CT_CACERTS "application/pkcs7-mime"
#define DT_EST_CT_CSRATTRS "application/csrattrs"

/* A reply body (send with Content-Transfer-Encoding: base64). */
struct dt_est_reply {
	char *body; /* base64 with 64-character lines (malloc'ed); free with dt_est_reply_free */
	size_t len;
	const char *content_type; /* one of DT_EST_CT_* */
	char device_id[65];	  /* who enrolled, for the log (never secrets) */
	char serial[41];	  /* the certificate issued, hex */
};

/*
 * label: the class name from /.well-known/est/<label>/..., or NULL for the
 * default path. An unknown label is DT_ERR_NOT_FOUND.
 */

/* RFC 7030 section 4.1.3: the label's issuing CA and the root as a certs-only
 * PKCS#7; without a label, the default issuing CA and the root. */
DT_MUST_USE dt_code dt_est_cacerts(struct dt_ctx *ctx, const char *label, struct dt_est_reply *out,
				   struct dt_error *err);

/* RFC 7030 section 4.5.2: the key types the label's class accepts (EC curves,
 * RSA sizes, Ed25519); without a label, those every class accepts. */
DT_MUST_USE dt_code dt_est_csrattrs(struct dt_ctx *ctx, const char *label, struct dt_est_reply *out,
				    struct dt_error *err);

/*
 * simpleenroll (reenroll 0, RFC 7030 section 4.2.1) and simplereenroll
 * (reenroll 1, section 4.2.2). body is the base64 DER PKCS#10 as received.
 *
 * simpleenroll authenticates, in this order: a TLS client certificate chaining
 * to a registered anchor of the manufacturer whose device has the
 * certificate's subject serialNumber (IEEE 802.1AR IDevID); else HTTP Basic
 * with the device id and its one-time enrollment token, consumed by the
 * issuance. One of our own device certificates is no bootstrap credential.
 *
 * simplereenroll authenticates with the device's current certificate, which
 * must be one we issued, valid and unrevoked, on an active device; the
 * previous certificates are revoked if the class asks for it.
 *
 * With a label, the device must be in that class (else DT_ERR_INVALID).
 */
DT_MUST_USE dt_code dt_est_enroll(struct dt_ctx *ctx, const char *label, int reenroll,
				  const unsigned char *body, size_t len,
				  const struct dt_est_auth *auth, struct dt_est_reply *out,
				  struct dt_error *err);

/*
 * dt_est_enroll() in three steps, for a server whose threads must not wait
 * for the commit: _start authenticates, parses and signs (refusals here);
 * _commit hands the certificate to the store and calls done(done_arg) once
 * it is durable or refused, on the store's writer thread (keep done short);
 * _finish, on any thread after done, gives the reply or the refusal and frees
 * the pending enrollment. _abandon frees one that was never committed.
 */
struct dt_est_pending;
typedef void (*dt_est_done_fn)(void *done_arg);
DT_MUST_USE dt_code dt_est_enroll_start(struct dt_ctx *ctx, const char *label, int reenroll,
					const unsigned char *body, size_t len,
					const struct dt_est_auth *auth, struct dt_est_pending **out,
					struct dt_error *err);
void dt_est_enroll_commit(struct dt_ctx *ctx, struct dt_est_pending *p, dt_est_done_fn done,
			  void *done_arg);
DT_MUST_USE dt_code dt_est_enroll_finish(struct dt_est_pending *p, struct dt_est_reply *out,
					 struct dt_error *err);
void dt_est_enroll_abandon(struct dt_est_pending *p);

void dt_est_reply_free(struct dt_est_reply *r);

/*
 * Parses "Basic <base64(user:pass)>" (RFC 7617; the scheme is
 * case-insensitive): the user is non-empty and fits user_cap, the password
 * fits pass_cap, neither holds control characters. Failures are DT_ERR_AUTH;
 * on failure pass is wiped.
 */
DT_MUST_USE dt_code dt_http_basic_parse(const char *header, char *user, size_t user_cap, char *pass,
					size_t pass_cap, struct dt_error *err);

#endif
