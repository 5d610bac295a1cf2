/*
 * Re-enrollment authentication (RFC 7030 section 4.2.2): the TLS client
 * certificate must be the device's current certificate, byte for byte one we
 * issued and stored, still verifying against our unrevoked CAs, unrevoked
 * itself, on an active device.
 */
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "est/est.h"

dt_code est_cert_serial(const X509 *x, char hex[41], struct dt_error *err)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	dt_code rc;

	hex[0] = '\0';
	if (!h)
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	else if (BN_is_negative(bn))
		rc = dt_fail(err, DT_ERR_INVALID,
			     "certificate serial is negative (RFC 5280 section 4.1.2.2)");
	else
		rc = dt_serial_normalize(h, hex, err);
	OPENSSL_free(h);
	BN_free(bn);
	return rc;
}

/* What one snapshot says about a presented certificate. */
struct current_job {
	const char *serial;
	int with_trust;		  /* also collect our CAs and the device */
	struct store_cert cert;	  /* der malloc'ed by the store */
	X509 *root;		  /* trusted */
	STACK_OF(X509) * issuing; /* untrusted intermediates: unrevoked issuing CAs */
	struct dt_device dev;
	int bad_ca;
};

static int collect_ca(void *arg, const struct store_ca *ca)
{
	struct current_job *j = arg;
	X509 *x;

	if (ca->info.revoked)
		return 0;
	if (!(x = ca_der_cert(ca->cert, ca->cert_len))) {
		j->bad_ca = 1;
		return 1;
	}
	if (strcmp(ca->info.kind, "root") == 0 && !j->root) {
		j->root = x;
	} else if (!sk_X509_push(j->issuing, x)) {
		X509_free(x);
		j->bad_ca = 1;
		return 1;
	}
	return 0;
}

static dt_code current_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct current_job *j = arg;
	dt_code rc;

	if ((rc = txn->ops->cert_get(txn, j->serial, &j->cert, 1, err)) != DT_OK || !j->with_trust)
		return rc;
	if ((rc = txn->ops->ca_list(txn, collect_ca, j, err)) != DT_OK)
		return rc;
	if (j->bad_ca || !j->root)
		return dt_fail(err, DT_ERR_INTERNAL, "stored CA certificates do not parse");
	return txn->ops->device_get(txn, j->cert.info.device_id, &j->dev, NULL, err);
}

static void current_free(struct current_job *j)
{
	free((void *)j->cert.der);
	X509_free(j->root);
	sk_X509_pop_free(j->issuing, X509_free);
}

/* 1 if x encodes to exactly the stored DER. */
static int same_der(X509 *x, const struct store_cert *c)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	int same =
	    n > 0 && c->der && (size_t)n == c->der_len && memcmp(der, c->der, c->der_len) == 0;

	OPENSSL_free(der);
	return same;
}

dt_code est_cert_is_ours(struct dt_ctx *ctx, X509 *x, int *ours, struct dt_error *err)
{
	char serial[DT_SERIAL_HEX_BUF];
	struct current_job j;
	struct dt_error ignored;
	dt_code rc;

	*ours = 0;
	memset(&j, 0, sizeof(j));
	if (est_cert_serial(x, serial, &ignored) != DT_OK)
		return DT_OK; /* a serial we never draw */
	j.serial = serial;
	rc = store_read(ctx->store, current_job, &j, err);
	if (rc == DT_OK)
		*ours = same_der(x, &j.cert);
	else if (rc == DT_ERR_NOT_FOUND)
		rc = DT_OK;
	current_free(&j);
	return rc;
}

static dt_code verify_with_our_cas(struct current_job *j, X509 *x, struct dt_error *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	dt_code rc = DT_OK;

	if (!st || !vc || X509_STORE_add_cert(st, j->root) != 1 ||
	    X509_STORE_CTX_init(vc, st, x, j->issuing) != 1) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(vc), DT_MAX_CHAIN_DEPTH);
	/* Identity is the stored DER; a class may issue serverAuth-only
	 * certificates, so no TLS purpose is imposed here. */
	X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_ANY);
	if (X509_verify_cert(vc) != 1)
		rc =
		    dt_fail(err, DT_ERR_AUTH,
			    "TLS client certificate %s does not verify against this CA's "
			    "unrevoked CAs: %s",
			    j->serial, X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
out:
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	return rc;
}

dt_code est_auth_current_cert(struct dt_ctx *ctx, X509 *x, struct dt_device *dev,
			      struct dt_error *err)
{
	char serial[DT_SERIAL_HEX_BUF];
	struct current_job j;
	struct dt_error why;
	const struct dt_cert_info *ci;
	dt_code rc;

	memset(dev, 0, sizeof(*dev));
	memset(&j, 0, sizeof(j));
	if (!x)
		return dt_fail(
		    err, DT_ERR_AUTH,
		    "simplereenroll needs the device's current certificate as TLS client "
		    "certificate (RFC 7030 section 4.2.2)");
	if (est_cert_serial(x, serial, &why) != DT_OK)
		return dt_fail(err, DT_ERR_AUTH,
			       "TLS client certificate was not issued by this CA (%s)", why.msg);
	j.serial = serial;
	j.with_trust = 1;
	if (!(j.issuing = sk_X509_new_null())) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	rc = store_read(ctx->store, current_job, &j, err);
	if (rc == DT_ERR_NOT_FOUND || (rc == DT_OK && !same_der(x, &j.cert))) {
		rc = dt_fail(err, DT_ERR_AUTH,
			     "TLS client certificate %s was not issued by this CA: re-enrollment "
			     "needs the device's current certificate (RFC 7030 section 4.2.2)",
			     serial);
		goto out;
	}
	if (rc != DT_OK || (rc = verify_with_our_cas(&j, x, err)) != DT_OK)
		goto out;
	ci = &j.cert.info;
	/* The certificate is authentic: now the device's state may be told. */
	if (j.dev.state != DT_STATE_ACTIVE) {
		rc = dt_fail(err, DT_ERR_STATE,
			     "device '%s' is %s: re-enrollment needs an active device", j.dev.id,
			     dt_state_name(j.dev.state));
		goto out;
	}
	if (ci->status != DT_CERT_VALID) {
		rc = dt_fail(err, DT_ERR_AUTH,
			     "certificate %s of device '%s' is %s (%s): re-enroll with the current "
			     "certificate, or bootstrap with a new enrollment token",
			     ci->serial, ci->device_id, dt_cert_status_name(ci->status),
			     dt_reason_name(ci->reason));
		goto out;
	}
	if (ci->not_after <= dt_now()) {
		rc = dt_fail(err, DT_ERR_AUTH, "certificate %s has expired", ci->serial);
		goto out;
	}
	*dev = j.dev;
out:
	current_free(&j);
	return rc;
}
