/*
 * CSR intake (RFC 2986): size limit, DER or PEM, no trailing bytes, a key
 * type we issue for, and a signature that proves possession of the key.
 * Only the public key is taken from a CSR; its names are ignored.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

#include "ca/ca.h"

void csr_free(struct csr_info *c)
{
	if (c) {
		X509_REQ_free(c->req);
		c->req = NULL;
	}
}

dt_code ca_key_type_of(EVP_PKEY *pk, unsigned *out, struct dt_error *err)
{
	char group[64];
	size_t glen = 0;
	int bits = EVP_PKEY_get_bits(pk);

	*out = 0;
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), &glen) != 1)
			return dt_fail(err, DT_ERR_INVALID, "CSR: EC key without a named curve");
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			*out = DT_KEY_EC_P256;
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			*out = DT_KEY_EC_P384;
		else
			return dt_fail(err, DT_ERR_INVALID,
				       "CSR: EC curve %s is not supported: use P-256 or P-384",
				       group);
		return DT_OK;
	case EVP_PKEY_RSA:
		if (bits == 2048)
			*out = DT_KEY_RSA_2048;
		else if (bits == 3072)
			*out = DT_KEY_RSA_3072;
		else if (bits == 4096)
			*out = DT_KEY_RSA_4096;
		else
			return dt_fail(err, DT_ERR_INVALID,
				       "CSR: RSA-%d is not supported: use 2048, 3072 or 4096 bits",
				       bits);
		return DT_OK;
	case EVP_PKEY_ED25519:
		*out = DT_KEY_ED25519;
		return DT_OK;
	default:
		return dt_fail(err, DT_ERR_INVALID,
			       "CSR: key algorithm %s is not supported: use EC P-256/P-384, RSA or "
			       "Ed25519",
			       OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
	}
}

dt_code csr_parse(const unsigned char *in, size_t len, struct csr_info *out, struct dt_error *err)
{
	static const char pem_tag[] = "-----BEGIN";
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	unsigned char *spki = NULL;
	int spki_len;
	dt_code rc = DT_OK;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return dt_fail(err, DT_ERR_INVALID, "CSR is empty");
	if (len > DT_MAX_CSR_BYTES)
		return dt_fail(err, DT_ERR_INVALID, "CSR is %zu bytes; the limit is %d", len,
			       DT_MAX_CSR_BYTES);
	if (len >= sizeof(pem_tag) - 1 && memcmp(in, pem_tag, sizeof(pem_tag) - 1) == 0) {
		BIO *bio = BIO_new_mem_buf(in, (int)len);
		req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	} else {
		const unsigned char *p = in;
		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req && p != in + len) {
			rc = dt_fail(
			    err, DT_ERR_INVALID,
			    "CSR has %zu bytes after its DER structure (RFC 2986 section 4)",
			    (size_t)(in + len - p));
			goto out;
		}
	}
	if (!req) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "CSR is not a PKCS#10 request in DER or PEM (RFC 2986 section 4)");
		goto out;
	}
	if (!(pk = X509_REQ_get0_pubkey(req))) {
		rc = dt_fail(err, DT_ERR_INVALID, "CSR: public key cannot be decoded");
		goto out;
	}
	if ((rc = ca_key_type_of(pk, &out->key_type, err)) != DT_OK)
		goto out;
	if (X509_REQ_verify(req, pk) != 1) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "CSR signature does not verify: no proof of possession of the key "
			     "(RFC 2986 section 3)");
		goto out;
	}
	if ((spki_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki)) <= 0) {
		rc = dt_fail(err, DT_ERR_INVALID, "CSR: public key cannot be encoded");
		goto out;
	}
	dt_sha256(spki, (size_t)spki_len, out->spki_hash);
	out->req = req;
	req = NULL;
out:
	ERR_clear_error();
	OPENSSL_free(spki);
	X509_REQ_free(req);
	return rc;
}
