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

struct lint_want {
	const struct dt_device *d;
	const struct dt_class *cl;
	const X509 *ca;
	const char *serial_hex;
	const char *urn;
	const char *ocsp_url;
	const char *org;
};

static dt_code lint_names(X509 *x, const struct lint_want *w, struct dt_error *err)
{
	X509_NAME *n = X509_get_subject_name(x);
	GENERAL_NAMES *san = NULL;
	const GENERAL_NAME *gn;
	char cn[DT_ID_BUF + 1], sn[DT_ID_BUF + 1];
	dt_code rc = DT_OK;
	int want_entries = 2 + (w->d->serial[0] ? 1 : 0);

	if (X509_NAME_entry_count(n) != want_entries ||
	    X509_NAME_get_text_by_NID(n, NID_commonName, cn, sizeof(cn)) < 0 ||
	    strcmp(cn, w->d->id) != 0)
		return dt_fail(err, DT_ERR_INTERNAL,
			       "pre-issuance lint: subject is not the device's");
	if (w->d->serial[0] &&
	    (X509_NAME_get_text_by_NID(n, NID_serialNumber, sn, sizeof(sn)) < 0 ||
	     strcmp(sn, w->d->serial) != 0))
		return dt_fail(err, DT_ERR_INTERNAL,
			       "pre-issuance lint: subject serialNumber is not the device's");
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (!san || sk_GENERAL_NAME_num(san) != 1 ||
	    (gn = sk_GENERAL_NAME_value(san, 0))->type != GEN_URI ||
	    (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier) != strlen(w->urn) ||
	    memcmp(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), w->urn,
		   strlen(w->urn)) != 0)
		rc = dt_fail(err, DT_ERR_INTERNAL,
			     "pre-issuance lint: SAN is not exactly the device URN %s", w->urn);
	GENERAL_NAMES_free(san);
	return rc;
}

static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static dt_code lint_exts(X509 *x, const struct lint_want *w, struct dt_error *err)
{
	uint32_t ku = X509_get_key_usage(x), xku = X509_get_extended_key_usage(x);
	uint32_t want_xku = ((w->cl->eku & DT_EKU_CLIENT_AUTH) ? XKU_SSL_CLIENT : 0) |
			    ((w->cl->eku & DT_EKU_SERVER_AUTH) ? XKU_SSL_SERVER : 0);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	const ASN1_OCTET_STRING *ca_ski = X509_get0_subject_key_id((X509 *)w->ca);
	STACK_OF(OPENSSL_STRING) *ocsp = NULL;
	dt_code rc = DT_OK;

	if (X509_get_extension_flags(x) & (EXFLAG_CA | EXFLAG_INVALID))
		return dt_fail(err, DT_ERR_INTERNAL,
			       "pre-issuance lint: basicConstraints not CA:FALSE");
	if (!ext_critical(x, NID_key_usage) || !(ku & KU_DIGITAL_SIGNATURE) ||
	    (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)))
		return dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: keyUsage is wrong");
	if (xku != want_xku)
		return dt_fail(err, DT_ERR_INTERNAL,
			       "pre-issuance lint: EKU differs from the class");
	if (!X509_get0_subject_key_id(x) || !aki || !ca_ski || ASN1_OCTET_STRING_cmp(aki, ca_ski))
		return dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: SKI/AKI missing or wrong");
	if (X509_get_ext_by_NID(x, NID_crl_distribution_points, -1) < 0)
		return dt_fail(err, DT_ERR_INTERNAL,
			       "pre-issuance lint: no CRL distribution point");
	ocsp = X509_get1_ocsp(x);
	if (!ocsp || sk_OPENSSL_STRING_num(ocsp) != 1 ||
	    strcmp(sk_OPENSSL_STRING_value(ocsp, 0), w->ocsp_url) != 0)
		rc = dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: AIA OCSP is not %s",
			     w->ocsp_url);
	X509_email_free(ocsp);
	return rc;
}

static dt_code lint(const unsigned char *der, size_t len, const struct lint_want *w,
		    struct dt_error *err)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	const ASN1_INTEGER *sn;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	unsigned key_type = 0;
	int64_t nb, na, ca_na;
	dt_code rc = DT_OK;

	if (!x || p != der + len) {
		rc = dt_fail(err, DT_ERR_INTERNAL,
			     "pre-issuance lint: certificate does not re-parse");
		goto out;
	}
	sn = X509_get0_serialNumber(x);
	if (X509_get_version(x) != 2 || !sn || ASN1_STRING_length(sn) > DT_MAX_SERIAL_OCTETS ||
	    !(bn = ASN1_INTEGER_to_BN(sn, NULL)) || BN_is_negative(bn) || BN_is_zero(bn) ||
	    !(hex = BN_bn2hex(bn))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: version or serial is wrong");
		goto out;
	}
	{
		char padded[DT_SERIAL_HEX_BUF];
		size_t n = strlen(hex);
		if (n > 32) {
			rc = dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: serial too long");
			goto out;
		}
		memset(padded, '0', 32 - n);
		for (size_t i = 0; i <= n; i++)
			padded[32 - n + i] =
			    (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
		if (strcmp(padded, w->serial_hex) != 0) {
			rc = dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: serial mismatch");
			goto out;
		}
	}
	if (X509_check_issued((X509 *)w->ca, x) != X509_V_OK ||
	    X509_verify(x, X509_get0_pubkey(w->ca)) != 1) {
		rc = dt_fail(err, DT_ERR_INTERNAL,
			     "pre-issuance lint: not issued or not verifiable by CA %s", w->cl->ca);
		goto out;
	}
	nb = ca_asn1_time(X509_get0_notBefore(x));
	na = ca_asn1_time(X509_get0_notAfter(x));
	ca_na = ca_asn1_time(X509_get0_notAfter(w->ca));
	if (na <= nb || na - nb > w->cl->lifetime_s + BACKDATE_S || na > ca_na) {
		rc = dt_fail(err, DT_ERR_INTERNAL,
			     "pre-issuance lint: validity exceeds the class "
			     "lifetime or the CA's");
		goto out;
	}
	if ((rc = ca_key_type_of(X509_get0_pubkey(x), &key_type, err)) != DT_OK)
		goto out;
	if (!(key_type & w->cl->key_types)) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: key type %s not in class",
			     dt_key_type_name(key_type));
		goto out;
	}
	if ((rc = lint_names(x, w, err)) != DT_OK)
		goto out;
	rc = lint_exts(x, w, err);
out:
	ERR_clear_error();
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	return rc;
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
	struct lint_want want;
	int64_t now = dt_now(), not_after = now + cl->lifetime_s, ca_end;
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
	    !X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_S, NULL) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 0, (long)(not_after - now), NULL) ||
	    copy_spki(x, csr) != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot fill the certificate of device '%s'",
			     d->id);
		goto out;
	}
	if ((rc = add_device_exts(ctx, x, ca, d, cl, csr->key_type, err)) != DT_OK ||
	    (rc = ca_sign_cert(signer, x, err)) != DT_OK)
		goto out;
	if ((der_len = i2d_X509(x, &der)) <= 0) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode the certificate");
		goto out;
	}
	device_urn(ctx, d, urn, sizeof(urn));
	snprintf(ocsp_url, sizeof(ocsp_url), "%s/ocsp", ctx->public_url);
	want = (struct lint_want){d, cl, ca, out->info.serial, urn, ocsp_url, ctx->org};
	if ((rc = lint(der, (size_t)der_len, &want, err)) != DT_OK)
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
	der = NULL;
out:
	OPENSSL_free(der);
	X509_free(x);
	ASN1_INTEGER_free(serial);
	return rc;
}
