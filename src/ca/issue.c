/*
 * Device certificates: built from the inventory record and the class
 * profile (never from the CSR's names), signed by the class's issuing CA,
 * then re-parsed and checked against the profile before anyone sees them.
 */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "ca/ca.h"

#define BACKDATE_S 60

static dt_code set_subject(X509 *x, const char *org, const struct dt_device *d,
			   struct dt_error *err)
{
	X509_NAME *n = X509_get_subject_name(x);

	if (X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1,
				       0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)d->id, -1, -1,
				       0) != 1 ||
	    (d->serial[0] &&
	     X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC,
					(const unsigned char *)d->serial, -1, -1, 0) != 1))
		return dt_fail(err, DT_ERR_CRYPTO, "cannot build the subject of device '%s'",
			       d->id);
	return DT_OK;
}

/*
 * Moves the CSR's SubjectPublicKeyInfo into the certificate as it is.
 * X509_set_pubkey() would encode the key and decode it again through
 * OpenSSL 3.0's provider decoders, which costs more than the signature.
 */
static int copy_spki(X509 *x, const struct csr_info *csr)
{
	const ASN1_OBJECT *alg = NULL;
	const unsigned char *bits = ASN1_STRING_get0_data(csr->spki_bits);
	int bits_len = ASN1_STRING_length(csr->spki_bits), ptype;
	const void *pval = NULL;
	ASN1_OBJECT *alg_dup = NULL;
	void *pval_dup = NULL;
	unsigned char *bits_dup = NULL;

	if (!bits || bits_len <= 0)
		return 0;
	X509_ALGOR_get0(&alg, &ptype, &pval, csr->spki_alg);
	if (!(alg_dup = OBJ_dup(alg)) || !(bits_dup = OPENSSL_memdup(bits, (size_t)bits_len)))
		goto fail;
	if (ptype == V_ASN1_OBJECT && !(pval_dup = OBJ_dup(pval)))
		goto fail;
	if (ptype == V_ASN1_SEQUENCE && !(pval_dup = ASN1_STRING_dup(pval)))
		goto fail;
	if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_SEQUENCE && ptype != V_ASN1_NULL &&
	    ptype != V_ASN1_UNDEF)
		goto fail;
	if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), alg_dup, ptype, pval_dup, bits_dup,
				   bits_len) != 1)
		goto fail;
	return 1;
fail:
	ASN1_OBJECT_free(alg_dup);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pval_dup);
	else
		ASN1_STRING_free(pval_dup);
	OPENSSL_free(bits_dup);
	return 0;
}

static void device_urn(const struct dt_ctx *ctx, const struct dt_device *d, char *out, size_t cap)
{
	snprintf(out, cap, "urn:devtrust:%s:%s:%s", ctx->org, d->class_name, d->id);
}

static dt_code add_device_exts(struct dt_ctx *ctx, X509 *x, const X509 *ca,
			       const struct dt_device *d, const struct dt_class *cl,
			       unsigned key_type, struct dt_error *err)
{
	char buf[DT_MAX_URL_LEN * 2 + 640], urn[512];
	const char *url = ctx->public_url;
	const char *ku = (key_type & (DT_KEY_RSA_2048 | DT_KEY_RSA_3072 | DT_KEY_RSA_4096))
			     ? "critical,digitalSignature,keyEncipherment"
			     : "critical,digitalSignature";
	const char *eku =
	    (cl->eku & DT_EKU_SERVER_AUTH)
		? ((cl->eku & DT_EKU_CLIENT_AUTH) ? "clientAuth,serverAuth" : "serverAuth")
		: "clientAuth";
	dt_code rc;

	if ((rc = ca_add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE", err)) != DT_OK ||
	    (rc = ca_add_ext(x, ca, NID_key_usage, ku, err)) != DT_OK ||
	    (rc = ca_add_ext(x, ca, NID_ext_key_usage, eku, err)) != DT_OK ||
	    (rc = ca_add_ext(x, ca, NID_subject_key_identifier, "hash", err)) != DT_OK ||
	    (rc = ca_add_ext(x, ca, NID_authority_key_identifier, "keyid:always", err)) != DT_OK)
		return rc;
	device_urn(ctx, d, urn, sizeof(urn));
	snprintf(buf, sizeof(buf), "URI:%s", urn);
	if ((rc = ca_add_ext(x, ca, NID_subject_alt_name, buf, err)) != DT_OK)
		return rc;
	snprintf(buf, sizeof(buf), "OCSP;URI:%s/ocsp,caIssuers;URI:%s/ca/%s.crt", url, url, cl->ca);
	if ((rc = ca_add_ext(x, ca, NID_info_access, buf, err)) != DT_OK)
		return rc;
	snprintf(buf, sizeof(buf), "URI:%s/crl/%s.crl", url, cl->ca);
	return ca_add_ext(x, ca, NID_crl_distribution_points, buf, err);
}

dt_code ca_issue_device_cert(struct dt_ctx *ctx, const struct dt_device *d,
			     const struct dt_class *cl, const struct csr_info *csr,
			     struct ca_issued *out, struct dt_error *err)
{
	const struct ca_signer *signer = NULL;
	const X509 *ca;
	X509 *x = NULL;
	ASN1_INTEGER *serial = NULL;
	unsigned char *der = NULL;
	int der_len;
	char urn[512], ocsp_url[DT_MAX_URL_LEN + 16];
	struct ca_lint_want want;
	int64_t now = dt_now(), not_after = now + cl->lifetime_s, ca_end;
	/* One clock reading for both ends, so the validity is exactly the lifetime. */
	time_t now_t = (time_t)now;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ca_signer_get(ctx, cl->ca, CA_USE_ISSUE, &signer, err)) != DT_OK)
		return rc;
	ca = ca_signer_cert(signer);
	ca_end = ca_asn1_time(X509_get0_notAfter(ca));
	if (not_after > ca_end)
		not_after = ca_end;
	if (not_after <= now)
		return dt_fail(err, DT_ERR_STATE, "issuing CA '%s' has expired", cl->ca);
	if (!(x = X509_new()) || X509_set_version(x, 2) != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot create a certificate");
		goto out;
	}
	if ((rc = ca_new_serial(&serial, out->info.serial, err)) != DT_OK ||
	    (rc = set_subject(x, ctx->org, d, err)) != DT_OK)
		goto out;
	if (X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    !X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_S, &now_t) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 0, (long)(not_after - now), &now_t) ||
	    copy_spki(x, csr) != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot fill the certificate of device '%s'",
			     d->id);
		goto out;
	}
	if ((rc = add_device_exts(ctx, x, ca, d, cl, csr->key_type, err)) != DT_OK ||
	    (rc = ca_sign_cert(signer, &x, err)) != DT_OK)
		goto out;
	if ((der_len = i2d_X509(x, &der)) <= 0) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode the certificate");
		goto out;
	}
	device_urn(ctx, d, urn, sizeof(urn));
	snprintf(ocsp_url, sizeof(ocsp_url), "%s/ocsp", ctx->public_url);
	want = (struct ca_lint_want){.d = d,
				     .cl = cl,
				     .ca = ca,
				     .ca_ski = X509_get0_subject_key_id((X509 *)ca),
				     .serial_hex = out->info.serial,
				     .urn = urn,
				     .ocsp_url = ocsp_url,
				     .org = ctx->org,
				     .spki_hash = csr->spki_hash};
	if ((rc = ca_lint_device_cert(der, (size_t)der_len, &want, err)) != DT_OK)
		goto out;
	snprintf(out->info.device_id, sizeof(out->info.device_id), "%s", d->id);
	snprintf(out->info.ca, sizeof(out->info.ca), "%s", cl->ca);
	out->info.key_type = csr->key_type;
	out->info.not_before = ca_asn1_time(X509_get0_notBefore(x));
	out->info.not_after = ca_asn1_time(X509_get0_notAfter(x));
	out->info.status = DT_CERT_VALID;
	out->info.issued_at = now;
	dt_hex(csr->spki_hash, 32, out->info.spki_sha256);
	out->der = der;
	out->der_len = (size_t)der_len;
	out->x = x;
	der = NULL;
	x = NULL;
out:
	OPENSSL_free(der);
	X509_free(x);
	ASN1_INTEGER_free(serial);
	return rc;
}

void ca_issued_free(struct ca_issued *issued)
{
	OPENSSL_free(issued->der);
	X509_free(issued->x);
	issued->der = NULL;
	issued->x = NULL;
}
