/*
 * CSR intake (RFC 2986): size limit, DER (or PEM of DER), no trailing bytes,
 * one encoding only (no BER), a key type we issue for, and a signature that
 * proves possession of the key.
 * Only the public key is taken from a CSR; its names are ignored.
 *
 * The CSR is parsed with OpenSSL's ASN.1 templates into a structure that
 * keeps the SubjectPublicKeyInfo as it was sent, and the key is decoded once
 * through a per-thread cached OSSL_DECODER_CTX. On OpenSSL 3.0 d2i_X509_REQ()
 * builds a fresh decoder chain for every key (about 100 us, more than the
 * signature check itself).
 */
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <string.h>

#include "ca/asn1.h"
#include "ca/ca.h"

static void DT_CSR_free(DT_CSR *c)
{
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(DT_CSR));
}

/* Per-thread decoders, one per key algorithm we accept. */
enum { DEC_EC, DEC_RSA, DEC_ED25519, DEC_COUNT };
static const char *const dec_types[DEC_COUNT] = {"EC", "RSA", "ED25519"};

struct dec_cache {
	OSSL_DECODER_CTX *ctx[DEC_COUNT];
	EVP_PKEY *out[DEC_COUNT];
};

static pthread_key_t dec_key;
static pthread_once_t dec_once = PTHREAD_ONCE_INIT;

static void dec_cache_free(void *p)
{
	struct dec_cache *c = p;

	for (int i = 0; c && i < DEC_COUNT; i++)
		OSSL_DECODER_CTX_free(c->ctx[i]);
	OPENSSL_free(c);
}

static void dec_key_init(void)
{
	(void)pthread_key_create(&dec_key, dec_cache_free);
}

/* Decodes a DER SubjectPublicKeyInfo of algorithm `which` into a new EVP_PKEY. */
static EVP_PKEY *decode_spki(int which, const unsigned char *der, size_t len)
{
	struct dec_cache *c;
	EVP_PKEY *pk;

	pthread_once(&dec_once, dec_key_init);
	if (!(c = pthread_getspecific(dec_key))) {
		if (!(c = OPENSSL_zalloc(sizeof(*c))))
			return NULL;
		if (pthread_setspecific(dec_key, c) != 0) {
			OPENSSL_free(c);
			return NULL;
		}
	}
	if (!c->ctx[which] && !(c->ctx[which] = OSSL_DECODER_CTX_new_for_pkey(
				    &c->out[which], "DER", "SubjectPublicKeyInfo", dec_types[which],
				    EVP_PKEY_PUBLIC_KEY, NULL, NULL)))
		return NULL;
	c->out[which] = NULL;
	if (OSSL_DECODER_from_data(c->ctx[which], &der, &len) != 1 || len != 0) {
		EVP_PKEY_free(c->out[which]);
		c->out[which] = NULL;
		return NULL;
	}
	pk = c->out[which];
	c->out[which] = NULL;
	return pk;
}

void csr_free(struct csr_info *c)
{
	if (!c)
		return;
	DT_CSR_free(c->req);
	EVP_PKEY_free(c->pkey);
	c->req = NULL;
	c->pkey = NULL;
}

int csr_encode(const struct csr_info *c, unsigned char **der)
{
	*der = NULL;
	if (!c->req)
		return -1;
	return ASN1_item_i2d((const ASN1_VALUE *)c->req, der, ASN1_ITEM_rptr(DT_CSR));
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

/* Which decoder the key's algorithm needs, before decoding anything. */
static dt_code decoder_for(const X509_ALGOR *alg, int *which, struct dt_error *err)
{
	const ASN1_OBJECT *obj = NULL;
	char name[80];

	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	switch (OBJ_obj2nid(obj)) {
	case NID_X9_62_id_ecPublicKey: {
		const void *param = NULL;
		int ptype = 0, curve;

		X509_ALGOR_get0(NULL, &ptype, &param, alg);
		curve = ptype == V_ASN1_OBJECT ? OBJ_obj2nid(param) : NID_undef;
		if (ptype != V_ASN1_OBJECT)
			return dt_fail(
			    err, DT_ERR_INVALID,
			    "CSR: EC key without a named curve (RFC 5480 section 2.1.1)");
		if (curve != NID_X9_62_prime256v1 && curve != NID_secp384r1)
			return dt_fail(err, DT_ERR_INVALID,
				       "CSR: EC curve %s is not supported: use P-256 or P-384",
				       OBJ_nid2sn(curve));
		*which = DEC_EC;
		return DT_OK;
	}
	case NID_rsaEncryption:
		*which = DEC_RSA;
		return DT_OK;
	case NID_ED25519:
		*which = DEC_ED25519;
		return DT_OK;
	default:
		OBJ_obj2txt(name, sizeof(name), obj, 0);
		return dt_fail(err, DT_ERR_INVALID,
			       "CSR: key algorithm %s is not supported: use EC P-256/P-384, RSA or "
			       "Ed25519",
			       name);
	}
}

/*
 * RFC 2986 section 4: a request is sent as DER, and its signature is over the DER of
 * CertificationRequestInfo. OpenSSL's decoder takes BER as well (indefinite and long-form
 * lengths, constructed strings) and verifies the signature over the signed part's bytes as
 * sent, so without this check anyone could re-encode the unsigned outer layers of a request
 * (and a device could sign a BER encoding) and it would still be accepted: one request, many
 * byte strings. The request must be exactly what OpenSSL re-encodes from what it parsed. The
 * signed part and its key are re-encoded from their fields, not replayed from the bytes kept
 * for the signature check; the subject name and attribute values, which we never read and
 * which the signature covers as sent, are compared as OpenSSL keeps them (it caches their
 * encoding as received).
 */
static int csr_is_der(DT_CSR *req, const unsigned char *der, long len)
{
	unsigned char *again = NULL;
	int n, same;

	/* ASN1_ENCODING.modified: "the cached encoding is stale", as OpenSSL's setters mark it. */
	req->info->enc.modified = 1;
	req->info->spki->enc.modified = 1;
	n = ASN1_item_i2d((ASN1_VALUE *)req, &again, ASN1_ITEM_rptr(DT_CSR));
	req->info->enc.modified = 0;
	req->info->spki->enc.modified = 0;
	same = n > 0 && n == len && memcmp(again, der, (size_t)n) == 0;
	OPENSSL_free(again);
	return same;
}

/* PEM armour off, if there is any; *der is OPENSSL_malloc'ed when converted. */
static dt_code unarmour(const unsigned char *in, size_t len, unsigned char **der, long *der_len,
			struct dt_error *err)
{
	static const char pem_tag[] = "-----BEGIN";
	BIO *bio;
	char *name = NULL, *header = NULL;
	int ok;

	*der = NULL;
	*der_len = 0;
	if (len < sizeof(pem_tag) - 1 || memcmp(in, pem_tag, sizeof(pem_tag) - 1) != 0)
		return DT_OK;
	if (!(bio = BIO_new_mem_buf(in, (int)len)))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	ok = PEM_read_bio(bio, &name, &header, der, der_len) == 1 &&
	     (strcmp(name, PEM_STRING_X509_REQ) == 0 || strcmp(name, PEM_STRING_X509_REQ_OLD) == 0);
	/* One request and nothing after it but white space. */
	if (ok) {
		char rest[64];
		int n;
		while (ok && (n = BIO_read(bio, rest, sizeof(rest))) > 0)
			for (int i = 0; i < n; i++)
				if (!strchr(" \t\r\n", rest[i]))
					ok = 0;
		if (!ok) {
			BIO_free(bio);
			OPENSSL_free(name);
			OPENSSL_free(header);
			OPENSSL_free(*der);
			*der = NULL;
			return dt_fail(err, DT_ERR_INVALID,
				       "CSR: data after the PEM request; send exactly one request");
		}
	}
	BIO_free(bio);
	OPENSSL_free(name);
	OPENSSL_free(header);
	if (!ok) {
		OPENSSL_free(*der);
		*der = NULL;
		return dt_fail(err, DT_ERR_INVALID,
			       "CSR: PEM is not a CERTIFICATE REQUEST (RFC 7468 section 7)");
	}
	return DT_OK;
}

dt_code csr_parse(const unsigned char *in, size_t len, struct csr_info *out, struct dt_error *err)
{
	DT_CSR *req = NULL;
	unsigned char *pem_der = NULL, *spki = NULL;
	long der_len = 0;
	const unsigned char *p, *der;
	int spki_len, which = 0;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return dt_fail(err, DT_ERR_INVALID, "CSR is empty");
	if (len > DT_MAX_CSR_BYTES)
		return dt_fail(err, DT_ERR_INVALID, "CSR is %zu bytes; the limit is %d", len,
			       DT_MAX_CSR_BYTES);
	if ((rc = unarmour(in, len, &pem_der, &der_len, err)) != DT_OK)
		return rc;
	der = pem_der ? pem_der : in;
	if (!pem_der)
		der_len = (long)len;
	p = der;
	if (!(req = (DT_CSR *)ASN1_item_d2i(NULL, &p, der_len, ASN1_ITEM_rptr(DT_CSR)))) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "CSR is not a PKCS#10 request in DER or PEM (RFC 2986 section 4)");
		goto out;
	}
	if (p != der + der_len) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "CSR has %ld bytes after its DER structure (RFC 2986 section 4)",
			     (long)(der + der_len - p));
		goto out;
	}
	if (!csr_is_der(req, der, der_len)) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "the CSR is not DER-encoded (RFC 2986 section 4: no indefinite or "
			     "long-form lengths, no constructed strings, sorted SETs); re-encode "
			     "it as DER, e.g. with openssl req -outform DER");
		goto out;
	}
	if (ASN1_INTEGER_get(req->info->version) != 0) {
		rc = dt_fail(err, DT_ERR_INVALID, "CSR version must be 0 (RFC 2986 section 4.1)");
		goto out;
	}
	if ((rc = decoder_for(req->info->spki->algor, &which, err)) != DT_OK)
		goto out;
	if ((spki_len = ASN1_item_i2d((ASN1_VALUE *)req->info->spki, &spki,
				      ASN1_ITEM_rptr(DT_SPKI))) <= 0 ||
	    !(out->pkey = decode_spki(which, spki, (size_t)spki_len))) {
		rc = dt_fail(err, DT_ERR_INVALID, "CSR: public key cannot be decoded");
		goto out;
	}
	if ((rc = ca_key_type_of(out->pkey, &out->key_type, err)) != DT_OK)
		goto out;
	if (ASN1_item_verify(ASN1_ITEM_rptr(DT_CSR_INFO), req->sig_alg, req->signature, req->info,
			     out->pkey) != 1) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "CSR signature does not verify: no proof of possession of the key "
			     "(RFC 2986 section 3)");
		goto out;
	}
	dt_sha256(spki, (size_t)spki_len, out->spki_hash);
	out->spki_alg = req->info->spki->algor;
	out->spki_bits = req->info->spki->public_key;
	out->req = req;
	req = NULL;
out:
	ERR_clear_error();
	OPENSSL_free(spki);
	OPENSSL_free(pem_der);
	DT_CSR_free(req);
	if (rc != DT_OK)
		csr_free(out);
	return rc;
}
