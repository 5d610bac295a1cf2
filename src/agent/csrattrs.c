/*
 * /csrattrs (RFC 7030 section 4.5): which key the server wants. CsrAttrs ::=
 * SEQUENCE OF AttrOrOID; a key type is an Attribute whose type is the key
 * algorithm and whose values are its parameters (id-ecPublicKey with named
 * curves, rsaEncryption with modulus sizes), or a bare algorithm OID
 * (Ed25519). Other elements (signature algorithms, challengePassword) are not
 * key advice and are skipped. Decoded with OpenSSL's ASN.1 types only.
 */
#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/agent.h"

struct advice {
	unsigned allowed; /* key types we can generate */
	int asked;	  /* the server named a key algorithm at all */
};

static void ec_values(X509_ATTRIBUTE *a, struct advice *adv)
{
	int n = X509_ATTRIBUTE_count(a), known = 0;

	for (int i = 0; i < n; i++) {
		ASN1_OBJECT *curve = X509_ATTRIBUTE_get0_data(a, i, V_ASN1_OBJECT, NULL);
		int nid = curve ? OBJ_obj2nid(curve) : NID_undef;

		if (nid == NID_X9_62_prime256v1)
			adv->allowed |= AG_KEY_EC_P256;
		else if (nid == NID_secp384r1)
			adv->allowed |= AG_KEY_EC_P384;
		else
			continue;
		known++;
	}
	/* id-ecPublicKey with no parameters: any curve, so the common one. */
	if (n == 0 && !known)
		adv->allowed |= AG_KEY_EC_P256;
}

static void rsa_values(X509_ATTRIBUTE *a, struct advice *adv)
{
	int n = X509_ATTRIBUTE_count(a);

	for (int i = 0; i < n; i++) {
		ASN1_INTEGER *bits = X509_ATTRIBUTE_get0_data(a, i, V_ASN1_INTEGER, NULL);
		int64_t v = 0;

		if (!bits || ASN1_INTEGER_get_int64(&v, bits) != 1)
			continue;
		if (v == 2048)
			adv->allowed |= AG_KEY_RSA_2048;
		else if (v == 3072)
			adv->allowed |= AG_KEY_RSA_3072;
		else if (v == 4096)
			adv->allowed |= AG_KEY_RSA_4096;
	}
	if (n == 0)
		adv->allowed |= AG_KEY_RSA_2048;
}

/* One AttrOrOID, given as its own DER encoding. */
static void element(const unsigned char *der, long len, struct advice *adv)
{
	const unsigned char *p = der;
	ASN1_OBJECT *oid = NULL;
	X509_ATTRIBUTE *a = NULL;
	int nid;

	if ((oid = d2i_ASN1_OBJECT(NULL, &p, len)) && p == der + len) {
		nid = OBJ_obj2nid(oid);
		if (nid == NID_ED25519) {
			adv->allowed |= AG_KEY_ED25519;
			adv->asked = 1;
		} else if (nid == NID_X9_62_id_ecPublicKey || nid == NID_rsaEncryption ||
			   nid == NID_ED448) {
			adv->asked = 1;
			if (nid == NID_X9_62_id_ecPublicKey)
				adv->allowed |= AG_KEY_EC_P256;
			else if (nid == NID_rsaEncryption)
				adv->allowed |= AG_KEY_RSA_2048;
		}
		goto out;
	}
	p = der;
	if (!(a = d2i_X509_ATTRIBUTE(NULL, &p, len)) || p != der + len)
		goto out;
	nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a));
	if (nid == NID_X9_62_id_ecPublicKey) {
		adv->asked = 1;
		ec_values(a, adv);
	} else if (nid == NID_rsaEncryption) {
		adv->asked = 1;
		rsa_values(a, adv);
	}
out:
	ASN1_OBJECT_free(oid);
	X509_ATTRIBUTE_free(a);
	ERR_clear_error();
}

enum ag_code ag_csrattrs_parse(const unsigned char *body, size_t len, unsigned *allowed,
			       struct ag_error *e)
{
	struct advice adv = {0, 0};
	unsigned char *der = NULL, *el = NULL;
	const unsigned char *p;
	size_t der_len = 0, lead = 0;
	ASN1_SEQUENCE_ANY *seq = NULL;
	enum ag_code rc = AG_OK;

	*allowed = 0;
	/* No body (204, or an empty 200): no advice (RFC 7030 section 4.5.2). */
	while (lead < len && (body[lead] == '\r' || body[lead] == '\n' || body[lead] == ' ' ||
			      body[lead] == '\t'))
		lead++;
	if (lead == len)
		return AG_OK;
	if ((rc = ag_base64_decode(body, len, AG_MAX_DER, &der, &der_len, e)) != AG_OK)
		return rc;
	p = der;
	if (!(seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)der_len)) || p != der + der_len) {
		rc = ag_fail(e, AG_E_REFUSED,
			     "csrattrs reply is not a DER SEQUENCE OF AttrOrOID (RFC 7030 section "
			     "4.5.2)");
		goto out;
	}
	if (sk_ASN1_TYPE_num(seq) > AG_MAX_CSRATTRS) {
		rc = ag_fail(e, AG_E_REFUSED, "csrattrs reply has %d elements; the limit is %d",
			     sk_ASN1_TYPE_num(seq), AG_MAX_CSRATTRS);
		goto out;
	}
	for (int i = 0; i < sk_ASN1_TYPE_num(seq); i++) {
		/* Each element re-encoded on its own and decoded as OID or Attribute:
		 * no walking of ASN1_TYPE internals. */
		int n = i2d_ASN1_TYPE(sk_ASN1_TYPE_value(seq, i), &el);
		if (n > 0)
			element(el, n, &adv);
		OPENSSL_free(el);
		el = NULL;
	}
	if (adv.asked && adv.allowed == 0) {
		rc = ag_fail(e, AG_E_REFUSED,
			     "the server asks for a key type this agent does not generate (it "
			     "makes ec-p256, ec-p384, ed25519, rsa-2048, rsa-3072, rsa-4096)");
		goto out;
	}
	*allowed = adv.allowed;
out:
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	free(der);
	ERR_clear_error();
	return rc;
}

enum ag_code ag_key_type_choose(unsigned allowed, unsigned configured, unsigned *out,
				struct ag_error *e)
{
	static const unsigned order[] = {AG_KEY_EC_P256,  AG_KEY_EC_P384,  AG_KEY_ED25519,
					 AG_KEY_RSA_2048, AG_KEY_RSA_3072, AG_KEY_RSA_4096};

	*out = AG_KEY_NONE;
	if (allowed == 0) {
		*out = configured ? configured : AG_KEY_EC_P256;
		return AG_OK;
	}
	if (configured && (allowed & configured)) {
		*out = configured;
		return AG_OK;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (allowed & order[i]) {
			*out = order[i];
			return AG_OK;
		}
	return ag_fail(e, AG_E_REFUSED, "no key type in common with the server's csrattrs");
}
