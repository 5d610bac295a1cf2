/*
 * Pre-issuance lint: the signed certificate is re-parsed from its DER and
 * checked against the class profile and the inventory record before anyone
 * sees it. A mismatch is an error, never a certificate.
 *
 * The DER is parsed with OpenSSL's ASN.1 templates into a structure that
 * keeps the SubjectPublicKeyInfo as bytes: d2i_X509() on OpenSSL 3.0 would
 * build a key decoder chain for every certificate. The key is instead
 * compared byte for byte with the one the CSR proved possession of.
 */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "ca/asn1.h"
#include "ca/ca.h"

#define LINT(...) dt_fail(err, DT_ERR_INTERNAL, "pre-issuance lint: " __VA_ARGS__)

static dt_code lint_serial(const DT_TBS *t, const char *want_hex, struct dt_error *err)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(t->serial, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	char padded[DT_SERIAL_HEX_BUF];
	size_t n = hex ? strlen(hex) : 0;
	dt_code rc = DT_OK;

	if (!hex || BN_is_negative(bn) || BN_is_zero(bn) ||
	    ASN1_STRING_length(t->serial) > DT_MAX_SERIAL_OCTETS || n > 32)
		rc = LINT("serial is not a positive integer of at most 20 octets");
	if (rc == DT_OK) {
		memset(padded, '0', 32 - n);
		for (size_t i = 0; i <= n; i++)
			padded[32 - n + i] =
			    (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
		if (strcmp(padded, want_hex) != 0)
			rc = LINT("serial differs from the one recorded");
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

static dt_code lint_subject(const X509_NAME *n, const struct ca_lint_want *w, struct dt_error *err)
{
	char cn[DT_ID_BUF + 1], sn[DT_ID_BUF + 1], o[DT_FIELD_BUF + 1];
	int want = 2 + (w->d->serial[0] ? 1 : 0);

	if (X509_NAME_entry_count(n) != want ||
	    X509_NAME_get_text_by_NID((X509_NAME *)n, NID_commonName, cn, sizeof(cn)) < 0 ||
	    strcmp(cn, w->d->id) != 0 ||
	    X509_NAME_get_text_by_NID((X509_NAME *)n, NID_organizationName, o, sizeof(o)) < 0 ||
	    strcmp(o, w->org) != 0)
		return LINT("subject is not O=<org>, CN=<device id>");
	if (w->d->serial[0] &&
	    (X509_NAME_get_text_by_NID((X509_NAME *)n, NID_serialNumber, sn, sizeof(sn)) < 0 ||
	     strcmp(sn, w->d->serial) != 0))
		return LINT("subject serialNumber is not the device's");
	return DT_OK;
}

static int uri_is(const GENERAL_NAME *gn, const char *want)
{
	const ASN1_IA5STRING *s = gn->d.uniformResourceIdentifier;

	return gn->type == GEN_URI && (size_t)ASN1_STRING_length(s) == strlen(want) &&
	       memcmp(ASN1_STRING_get0_data(s), want, strlen(want)) == 0;
}

/* Checks one decoded extension; returns a bit of `seen` or an error. */
static dt_code lint_one_ext(X509_EXTENSION *ext, const struct ca_lint_want *w, unsigned *seen,
			    struct dt_error *err)
{
	int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
	int crit = X509_EXTENSION_get_critical(ext);
	void *v = X509V3_EXT_d2i(ext);
	unsigned bit = 0;
	dt_code rc = DT_OK;

	switch (nid) {
	case NID_basic_constraints:
		bit = 1;
		if (!v || ((BASIC_CONSTRAINTS *)v)->ca || !crit)
			rc = LINT("basicConstraints must be critical CA:FALSE");
		break;
	case NID_key_usage:
		bit = 2;
		if (!v || !crit || !ASN1_BIT_STRING_get_bit(v, 0) ||
		    ASN1_BIT_STRING_get_bit(v, 5) || ASN1_BIT_STRING_get_bit(v, 6))
			rc = LINT("keyUsage must be critical digitalSignature, no CA bits");
		break;
	case NID_ext_key_usage: {
		unsigned got = 0;
		bit = 4;
		for (int i = 0; v && i < sk_ASN1_OBJECT_num(v); i++) {
			int k = OBJ_obj2nid(sk_ASN1_OBJECT_value(v, i));
			got |= k == NID_client_auth   ? DT_EKU_CLIENT_AUTH
			       : k == NID_server_auth ? DT_EKU_SERVER_AUTH
						      : 0x100;
		}
		if (!v || got != w->cl->eku)
			rc = LINT("EKU differs from the class");
		break;
	}
	case NID_subject_key_identifier:
		bit = 8;
		if (!v || ASN1_STRING_length(v) == 0)
			rc = LINT("subjectKeyIdentifier is empty");
		break;
	case NID_authority_key_identifier:
		bit = 16;
		if (!v || !((AUTHORITY_KEYID *)v)->keyid || !w->ca_ski ||
		    ASN1_OCTET_STRING_cmp(((AUTHORITY_KEYID *)v)->keyid, w->ca_ski) != 0)
			rc = LINT("authorityKeyIdentifier is not the CA's key id");
		break;
	case NID_subject_alt_name:
		bit = 32;
		if (!v || sk_GENERAL_NAME_num(v) != 1 ||
		    !uri_is(sk_GENERAL_NAME_value(v, 0), w->urn))
			rc = LINT("SAN is not exactly the device URN %s", w->urn);
		break;
	case NID_info_access: {
		int ocsp = 0;
		bit = 64;
		for (int i = 0; v && i < sk_ACCESS_DESCRIPTION_num(v); i++) {
			ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(v, i);
			if (OBJ_obj2nid(ad->method) == NID_ad_OCSP &&
			    uri_is(ad->location, w->ocsp_url))
				ocsp++;
		}
		if (ocsp != 1)
			rc = LINT("AIA OCSP is not %s", w->ocsp_url);
		break;
	}
	case NID_crl_distribution_points:
		bit = 128;
		if (!v || sk_DIST_POINT_num(v) < 1)
			rc = LINT("no CRL distribution point");
		break;
	default:
		rc = LINT("unexpected extension %s", OBJ_nid2sn(nid));
	}
	if (v)
		ASN1_item_free(v, ASN1_ITEM_ptr(X509V3_EXT_get(ext)->it));
	if (rc == DT_OK && (*seen & bit))
		rc = LINT("extension %s appears twice (RFC 5280 section 4.2)", OBJ_nid2sn(nid));
	*seen |= bit;
	return rc;
}

dt_code ca_lint_device_cert(const unsigned char *der, size_t len, const struct ca_lint_want *w,
			    struct dt_error *err)
{
	const unsigned char *p = der;
	DT_CERT *c = (DT_CERT *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(DT_CERT));
	unsigned char *spki = NULL, h[32];
	int spki_len;
	unsigned seen = 0;
	int64_t nb, na;
	dt_code rc = DT_OK;

	if (!c || p != der + len) {
		rc = LINT("certificate does not re-parse");
		goto out;
	}
	if (!c->tbs->version || ASN1_INTEGER_get(c->tbs->version) != 2 ||
	    X509_ALGOR_cmp(c->sig_alg, c->tbs->sig_alg) != 0) {
		rc = LINT(
		    "not a v3 certificate with matching signature algorithms (RFC 5280 4.1.1.2)");
		goto out;
	}
	if ((rc = lint_serial(c->tbs, w->serial_hex, err)) != DT_OK)
		goto out;
	if (X509_NAME_cmp(c->tbs->issuer, X509_get_subject_name(w->ca)) != 0) {
		rc = LINT("issuer is not the subject of CA %s", w->cl->ca);
		goto out;
	}
	nb = ca_asn1_time(c->tbs->validity->notBefore);
	na = ca_asn1_time(c->tbs->validity->notAfter);
	if (na <= nb || na - nb > w->cl->lifetime_s + 60 ||
	    na > ca_asn1_time(X509_get0_notAfter(w->ca))) {
		rc = LINT("validity exceeds the class lifetime or the CA's");
		goto out;
	}
	if ((rc = lint_subject(c->tbs->subject, w, err)) != DT_OK)
		goto out;
	spki_len = ASN1_item_i2d((ASN1_VALUE *)c->tbs->spki, &spki, ASN1_ITEM_rptr(DT_SPKI));
	if (spki_len <= 0 || (dt_sha256(spki, (size_t)spki_len, h), memcmp(h, w->spki_hash, 32))) {
		rc = LINT("public key is not the one the CSR proved possession of");
		goto out;
	}
	if (c->tbs->issuer_uid || c->tbs->subject_uid) {
		rc = LINT("unique identifiers must not be present (RFC 5280 4.1.2.8)");
		goto out;
	}
	for (int i = 0; i < sk_X509_EXTENSION_num(c->tbs->extensions); i++)
		if ((rc = lint_one_ext(sk_X509_EXTENSION_value(c->tbs->extensions, i), w, &seen,
				       err)) != DT_OK)
			goto out;
	if (seen != 255)
		rc = LINT("a required extension is missing (have mask %u)", seen);
	/* The signature itself is not re-verified here: the CA key passed a sign and
	 * verify self-test when it was unlocked (keys.c), and every relying party and
	 * the agent verify the chain. See docs/DECISIONS.md. */
out:
	ERR_clear_error();
	OPENSSL_free(spki);
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(DT_CERT));
	return rc;
}
