/*
 * /csrattrs (RFC 7030 section 4.5): tells a client which key to generate.
 * CsrAttrs ::= SEQUENCE OF AttrOrOID, each an OID or an Attribute. A key type
 * is an Attribute whose type is the key algorithm and whose values are its
 * parameters, as in the example of RFC 7030 section 4.5.2 (id-ecPublicKey
 * with the named curves) and draft-ietf-lamps-rfc7030-csrattrs (rsaEncryption
 * with the modulus sizes); Ed25519 has no parameters and is a bare OID.
 * Built with OpenSSL's ASN.1 types, never by hand.
 */
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>

#include "est/est.h"

/* Appends x (an encoded Attribute) to the sequence as one element. */
static int push_attribute(ASN1_SEQUENCE_ANY *seq, X509_ATTRIBUTE *a)
{
	unsigned char *der = NULL;
	ASN1_STRING *s = NULL;
	ASN1_TYPE *t = NULL;
	int n, ok = 0;

	/* An ASN1_TYPE of V_ASN1_SEQUENCE holds the element's whole encoding. */
	if ((n = i2d_X509_ATTRIBUTE(a, &der)) <= 0 || !(s = ASN1_STRING_new()) ||
	    ASN1_STRING_set(s, der, n) != 1 || !(t = ASN1_TYPE_new()))
		goto out;
	ASN1_TYPE_set(t, V_ASN1_SEQUENCE, s);
	s = NULL;
	if (!sk_ASN1_TYPE_push(seq, t))
		goto out;
	t = NULL;
	ok = 1;
out:
	ASN1_TYPE_free(t);
	ASN1_STRING_free(s);
	OPENSSL_free(der);
	return ok;
}

static int push_oid(ASN1_SEQUENCE_ANY *seq, int nid)
{
	ASN1_TYPE *t = ASN1_TYPE_new();

	if (!t || ASN1_TYPE_set1(t, V_ASN1_OBJECT, OBJ_nid2obj(nid)) != 1 ||
	    !sk_ASN1_TYPE_push(seq, t)) {
		ASN1_TYPE_free(t);
		return 0;
	}
	return 1;
}

/* id-ecPublicKey with the allowed named curves (RFC 5480 section 2.1.1.1). */
static int push_ec(ASN1_SEQUENCE_ANY *seq, unsigned key_types)
{
	X509_ATTRIBUTE *a = X509_ATTRIBUTE_new();
	int ok = 0;

	if (!a || X509_ATTRIBUTE_set1_object(a, OBJ_nid2obj(NID_X9_62_id_ecPublicKey)) != 1)
		goto out;
	if ((key_types & DT_KEY_EC_P256) &&
	    X509_ATTRIBUTE_set1_data(a, V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), -1) != 1)
		goto out;
	if ((key_types & DT_KEY_EC_P384) &&
	    X509_ATTRIBUTE_set1_data(a, V_ASN1_OBJECT, OBJ_nid2obj(NID_secp384r1), -1) != 1)
		goto out;
	ok = push_attribute(seq, a);
out:
	X509_ATTRIBUTE_free(a);
	return ok;
}

/* rsaEncryption with the allowed modulus sizes in bits. */
static int push_rsa(ASN1_SEQUENCE_ANY *seq, unsigned key_types)
{
	static const struct {
		unsigned type;
		long bits;
	} sizes[] = {{DT_KEY_RSA_2048, 2048}, {DT_KEY_RSA_3072, 3072}, {DT_KEY_RSA_4096, 4096}};
	X509_ATTRIBUTE *a = X509_ATTRIBUTE_new();
	ASN1_INTEGER *bits = ASN1_INTEGER_new();
	int ok = 0;

	if (!a || !bits || X509_ATTRIBUTE_set1_object(a, OBJ_nid2obj(NID_rsaEncryption)) != 1)
		goto out;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if ((key_types & sizes[i].type) &&
		    (ASN1_INTEGER_set(bits, sizes[i].bits) != 1 ||
		     X509_ATTRIBUTE_set1_data(a, V_ASN1_INTEGER, bits, -1) != 1))
			goto out;
	ok = push_attribute(seq, a);
out:
	ASN1_INTEGER_free(bits);
	X509_ATTRIBUTE_free(a);
	return ok;
}

struct common_keys {
	unsigned key_types;
	int classes;
};

static int intersect_class(void *arg, const struct dt_class *c)
{
	struct common_keys *k = arg;

	k->key_types &= c->key_types;
	k->classes++;
	return 0;
}

dt_code dt_est_csrattrs(struct dt_ctx *ctx, const char *label, struct dt_est_reply *out,
			struct dt_error *err)
{
	ASN1_SEQUENCE_ANY *seq = NULL;
	struct dt_class cls = {.lifetime_s = 0};
	unsigned char *der = NULL;
	struct common_keys common = {DT_KEY_ALL, 0};
	unsigned kt;
	int found = 0, n;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if ((rc = est_label_class(ctx, label, &cls, &found, err)) != DT_OK)
		return rc;
	/* The default path serves every class: ask for a key all of them accept
	 * (none in common: no advice, an empty sequence, RFC 7030 section 4.5.2). */
	if (!found) {
		if ((rc = dt_class_list(ctx, intersect_class, &common, err)) != DT_OK)
			return rc;
		/* No class yet: what a new class accepts by default. */
		dt_class_defaults(&cls);
		if (common.classes > 0)
			cls.key_types = common.key_types;
	}
	kt = cls.key_types;
	if (!(seq = sk_ASN1_TYPE_new_null())) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (((kt & (DT_KEY_EC_P256 | DT_KEY_EC_P384)) && !push_ec(seq, kt)) ||
	    ((kt & (DT_KEY_RSA_2048 | DT_KEY_RSA_3072 | DT_KEY_RSA_4096)) && !push_rsa(seq, kt)) ||
	    ((kt & DT_KEY_ED25519) && !push_oid(seq, NID_ED25519)) ||
	    (n = i2d_ASN1_SEQUENCE_ANY(seq, &der)) <= 0) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "cannot encode the CSR attributes");
		goto out;
	}
	rc = est_reply_set(out, der, (size_t)n, DT_EST_CT_CSRATTRS, err);
out:
	OPENSSL_free(der);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	return rc;
}
