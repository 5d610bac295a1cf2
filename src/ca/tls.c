/*
 * The server's TLS credentials: the key (encrypted like the CA keys, so it
 * is unlocked here) and the chain written by init in DATA/tls/server.pem.
 */
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/ca_keys.h"

dt_code ca_tls_credentials(struct dt_ctx *ctx, EVP_PKEY **key, STACK_OF(X509) * *chain,
			   struct dt_error *err)
{
	char path[4096];
	BIO *bio = NULL;
	X509 *x;
	dt_code rc;

	*key = NULL;
	*chain = NULL;
	if ((rc = dt_path(path, sizeof(path), ctx->data_dir, "tls/server.pem", err)) != DT_OK)
		return rc;
	if (!(bio = BIO_new_file(path, "r")) || !(*chain = sk_X509_new_null())) {
		rc = dt_fail(err, DT_ERR_IO, "cannot read the TLS certificate %s", path);
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(*chain, x)) {
			X509_free(x);
			rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
			goto out;
		}
	ERR_clear_error();
	if (sk_X509_num(*chain) < 1) {
		rc = dt_fail(err, DT_ERR_IO, "%s holds no certificate", path);
		goto out;
	}
	if ((rc = ca_key_load(ctx, "tls.key", key, err)) != DT_OK)
		goto out;
	if (X509_check_private_key(sk_X509_value(*chain, 0), *key) != 1) {
		ERR_clear_error();
		rc = dt_fail(err, DT_ERR_CRYPTO, "keys/tls.key does not match %s", path);
	}
out:
	BIO_free(bio);
	if (rc != DT_OK) {
		EVP_PKEY_free(*key);
		sk_X509_pop_free(*chain, X509_free);
		*key = NULL;
		*chain = NULL;
	}
	return rc;
}
