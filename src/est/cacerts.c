/*
 * /cacerts (RFC 7030 section 4.1): the CA certificates a client needs to
 * trust what it is issued: the issuing CA of the label's class (or the
 * default issuing CA) and the root, as certs-only PKCS#7.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <string.h>

#include "ca/ca.h"
#include "est/est.h"

static dt_code push_ca(struct dt_ctx *ctx, const char *name, STACK_OF(X509) * certs,
		       struct dt_error *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	X509 *x = NULL;
	dt_code rc;

	if ((rc = dt_ca_cert_der(ctx, name, &der, &len, err)) != DT_OK)
		return rc;
	if (!(x = ca_der_cert(der, len))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "stored certificate of CA '%s' does not parse",
			     name);
		goto out;
	}
	if (!sk_X509_push(certs, x)) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	x = NULL;
out:
	X509_free(x);
	OPENSSL_free(der);
	return rc;
}

dt_code dt_est_cacerts(struct dt_ctx *ctx, const char *label, struct dt_est_reply *out,
		       struct dt_error *err)
{
	STACK_OF(X509) *certs = NULL;
	struct dt_class cls = {.lifetime_s = 0};
	unsigned char *der = NULL;
	size_t len = 0;
	int found = 0;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if ((rc = est_label_class(ctx, label, &cls, &found, err)) != DT_OK)
		return rc;
	if (!(certs = sk_X509_new_null())) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = push_ca(ctx, found ? cls.ca : "default", certs, err)) != DT_OK ||
	    (rc = push_ca(ctx, "root", certs, err)) != DT_OK ||
	    (rc = est_certs_only(certs, &der, &len, err)) != DT_OK)
		goto out;
	rc = est_reply_set(out, der, len, DT_EST_CT_CACERTS, err);
out:
	OPENSSL_free(der);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}
