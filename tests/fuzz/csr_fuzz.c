/*
 * libFuzzer harness for csr_parse (RFC 2986 intake, DER or PEM). Beyond "no
 * crash", it checks the contract: a result is either a request with one known
 * key type, or an error with a message; an accepted request survives a
 * DER round trip with the same key, and one sent as DER is its own
 * re-encoding (no BER); and OpenSSL's own X509_REQ parser agrees
 * that it is a request whose signature verifies with that key (csr_parse
 * decodes through its own ASN.1 template, so this is a differential check).
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static void fail(const char *why, const struct dt_error *err)
{
	fprintf(stderr, "csr_fuzz: %s (%s)\n", why, err->msg);
	abort();
}

static int one_key_type(unsigned k)
{
	return k != 0 && (k & (k - 1)) == 0 && (k & ~(unsigned)DT_KEY_ALL) == 0;
}

/* What OpenSSL's X509_REQ makes of the DER we accepted. */
static void check_with_openssl(const unsigned char *der, int der_len, const struct csr_info *c,
			       const struct dt_error *err)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, der_len);
	EVP_PKEY *pk;
	unsigned char *spki = NULL, hash[32];
	unsigned hash_len = 0;
	int spki_len, explicit = 0;

	if (!req || p != der + der_len)
		fail("accepted a request that d2i_X509_REQ refuses", err);
	if (!(pk = X509_REQ_get0_pubkey(req)) || X509_REQ_verify(req, pk) != 1)
		fail("accepted a request whose signature X509_REQ_verify refuses", err);
	if (!EVP_PKEY_eq(pk, c->pkey))
		fail("the key differs from the one X509_REQ decodes", err);
	/* The SPKI is copied into the certificate as sent. */
	if (EVP_PKEY_get_int_param(c->pkey, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS,
				   &explicit) == 1 &&
	    explicit)
		fail("accepted explicit EC parameters (RFC 5480 section 2.1.1: namedCurve only)",
		     err);
	if ((spki_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki)) <= 0 ||
	    !EVP_Digest(spki, (size_t)spki_len, hash, &hash_len, EVP_sha256(), NULL) ||
	    memcmp(hash, c->spki_hash, sizeof(hash)) != 0)
		fail("spki_hash is not the SHA-256 of the SubjectPublicKeyInfo", err);
	OPENSSL_free(spki);
	X509_REQ_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr_info c, again;
	struct dt_error err = {0};
	unsigned char *der = NULL;
	int der_len;
	dt_code rc;

	rc = csr_parse(data, size, &c, &err);
	if (rc != DT_OK) {
		/* A rejection must carry its code and a message the user can act on. */
		if (c.req != NULL || err.code != rc || err.msg[0] == '\0')
			fail("a rejection without its code and message, or with a request", &err);
		return 0;
	}
	if (c.req == NULL || !one_key_type(c.key_type))
		fail("accepted without a request or with no single known key type", &err);
	if ((der_len = csr_encode(&c, &der)) <= 0)
		fail("an accepted request cannot be re-encoded", &err);
	/* RFC 2986 section 4: only DER is accepted, so a request sent without PEM armour is
	 * byte for byte its own re-encoding. */
	if (size > 0 && data[0] != '-' && ((size_t)der_len != size || memcmp(der, data, size) != 0))
		fail("accepted a request that is not DER (its re-encoding differs)", &err);
	check_with_openssl(der, der_len, &c, &err);
	rc = csr_parse(der, (size_t)der_len, &again, &err);
	if (rc == DT_OK && (again.key_type != c.key_type ||
			    memcmp(again.spki_hash, c.spki_hash, sizeof(c.spki_hash)) != 0))
		fail("the re-encoded request has another key", &err);
	/* Only the size limit may refuse the re-encoding of a request we accepted. */
	if (rc != DT_OK && (size_t)der_len <= DT_MAX_CSR_BYTES)
		fail("the re-encoded request is refused", &err);
	csr_free(&again);
	OPENSSL_free(der);
	csr_free(&c);
	return 0;
}
