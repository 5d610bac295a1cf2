/*
 * The stand-in public keys of keyd_fuzz: a signer's GENKEY answer is a new
 * random key, so a seed cannot carry it. Seeds carry, where the key the
 * signer generated goes, the SubjectPublicKeyInfo of the curve's generator
 * point (the public key of private key 1) instead, and the harness puts the
 * key it was given in its place. Shared by keyd_fuzz.c and keyd_seeds.c.
 */
#ifndef DT_KEYD_STANDIN_H
#define DT_KEYD_STANDIN_H

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

/* The stand-in of curve ("P-256", "P-384") as SubjectPublicKeyInfo DER in *der
 * (OPENSSL_free it): its length, or 0. */
static int keyd_standin(const char *curve, unsigned char **der)
{
	const char *group = curve[2] == '2' ? "prime256v1" : "secp384r1";
	EC_GROUP *g = EC_GROUP_new_by_curve_name(OBJ_sn2nid(group));
	unsigned char point[1 + 2 * 48];
	size_t n = g ? EC_POINT_point2oct(g, EC_GROUP_get0_generator(g),
					  POINT_CONVERSION_UNCOMPRESSED, point, sizeof(point), NULL)
		     : 0;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *p = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	int len = 0;

	*der = NULL;
	if (n > 0 && b && c &&
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, n) &&
	    (p = OSSL_PARAM_BLD_to_param(b)) && EVP_PKEY_fromdata_init(c) == 1 &&
	    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p) == 1)
		len = i2d_PUBKEY(k, der);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EC_GROUP_free(g);
	return len > 0 ? len : 0;
}

#endif
