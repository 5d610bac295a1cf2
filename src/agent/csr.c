/*
 * The PKCS#10 request (RFC 2986) for a new key: proof of possession by its
 * signature. The server takes every name from its inventory (DESIGN.md
 * section 3), so the subject is only CN=<device id> for a human reading it.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "agent/agent.h"

/* The digest that goes with the key: none for Ed25519, SHA-384 for P-384. */
static const EVP_MD *digest_for(EVP_PKEY *key)
{
	switch (ag_key_type_of(key)) {
	case AG_KEY_ED25519:
		return NULL;
	case AG_KEY_EC_P384:
		return EVP_sha384();
	default:
		return EVP_sha256();
	}
}

enum ag_code ag_csr_build(EVP_PKEY *key, const char *cn, unsigned char **der, size_t *len,
			  struct ag_error *e)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	int n;
	enum ag_code rc = AG_OK;

	*der = NULL;
	*len = 0;
	if (!req || !name || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1) {
		rc = ag_fail(e, AG_E_LOCAL, "cannot build the certificate request");
		goto out;
	}
	if (X509_REQ_sign(req, key, digest_for(key)) <= 0) {
		rc = ag_fail(e, AG_E_LOCAL, "cannot sign the certificate request");
		goto out;
	}
	if ((n = i2d_X509_REQ(req, der)) <= 0) {
		rc = ag_fail(e, AG_E_LOCAL, "cannot encode the certificate request");
		goto out;
	}
	*len = (size_t)n;
out:
	if (rc != AG_OK)
		ag_fail_ssl(e);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}
