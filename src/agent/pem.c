/*
 * Certificates and keys to and from PEM, through OpenSSL's PEM and DER
 * codecs only. A key's bytes in memory are wiped once decoded or written.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

/* Never prompt: an encrypted key is a configuration error, not a terminal question. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static enum ag_code parse_certs(const unsigned char *buf, size_t len, const char *what,
				STACK_OF(X509) * *out, struct ag_error *e)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio = NULL;
	X509 *x = NULL;
	const unsigned char *p;
	enum ag_code rc = AG_OK;

	if (!certs || len > INT_MAX || !(bio = BIO_new_mem_buf(buf, (int)len))) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory reading %s", what);
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL))) {
		if (sk_X509_num(certs) >= AG_MAX_CERTS || !sk_X509_push(certs, x)) {
			X509_free(x);
			rc = ag_fail(e, AG_E_LOCAL, "%s: more than %d certificates", what,
				     AG_MAX_CERTS);
			goto out;
		}
	}
	ERR_clear_error(); /* the end of the PEM data is an "error" */
	if (sk_X509_num(certs) == 0) {
		/* Not PEM: one DER certificate and nothing after it. */
		p = buf;
		x = d2i_X509(NULL, &p, (long)len);
		if (!x || p != buf + len || !sk_X509_push(certs, x)) {
			X509_free(x);
			rc = ag_fail(e, AG_E_LOCAL, "%s holds no certificate (PEM or DER)", what);
			ERR_clear_error();
			goto out;
		}
	}
	*out = certs;
	certs = NULL;
out:
	BIO_free(bio);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

enum ag_code ag_certs_load(const char *path, STACK_OF(X509) * *out, struct ag_error *e)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum ag_code rc;

	*out = NULL;
	if ((rc = ag_read_file(path, AG_MAX_PEM_FILE, &buf, &len, e)) != AG_OK)
		return rc;
	rc = parse_certs(buf, len, path, out, e);
	free(buf);
	return rc;
}

enum ag_code ag_key_load(const char *path, EVP_PKEY **out, struct ag_error *e)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	enum ag_code rc = AG_OK;

	*out = NULL;
	if ((rc = ag_read_file(path, AG_MAX_PEM_FILE, &buf, &len, e)) != AG_OK)
		return rc;
	if (!(bio = BIO_new_mem_buf(buf, (int)len)) ||
	    !(*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL))) {
		rc = ag_fail(e, AG_E_LOCAL,
			     "%s holds no unencrypted PEM private key (PKCS#8, or the "
			     "traditional EC or RSA form)",
			     path);
		ERR_clear_error();
	}
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* The contents of a memory BIO as a malloc'ed string. */
static enum ag_code bio_string(BIO *bio, char **out, size_t *len, struct ag_error *e)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);

	if (n < 0 || !(*out = malloc((size_t)n + 1)))
		return ag_fail(e, AG_E_LOCAL, "out of memory");
	if (n > 0) /* an empty BIO has no data pointer */
		memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*len = (size_t)n;
	return AG_OK;
}

enum ag_code ag_certs_pem(STACK_OF(X509) * certs, char **out, size_t *len, struct ag_error *e)
{
	BIO *bio = BIO_new(BIO_s_mem());
	enum ag_code rc;

	*out = NULL;
	*len = 0;
	if (!bio)
		return ag_fail(e, AG_E_LOCAL, "out of memory");
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (PEM_write_bio_X509(bio, sk_X509_value(certs, i)) != 1) {
			BIO_free(bio);
			return ag_fail(e, AG_E_LOCAL, "cannot encode a certificate as PEM");
		}
	rc = bio_string(bio, out, len, e);
	BIO_free(bio);
	return rc;
}

enum ag_code ag_key_pem(EVP_PKEY *key, char **out, size_t *len, struct ag_error *e)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	enum ag_code rc;

	*out = NULL;
	*len = 0;
	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		rc = ag_fail(e, AG_E_LOCAL, "cannot encode the private key as PEM");
	else
		rc = bio_string(bio, out, len, e);
	BIO_free(bio); /* a secure-memory BIO wipes its buffer */
	return rc;
}

void ag_secret_free(char *p, size_t len)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

int ag_cert_sha256(X509 *x, unsigned char md[32])
{
	unsigned int n = 0;

	return X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32;
}

int ag_certs_equal(STACK_OF(X509) * a, STACK_OF(X509) * b)
{
	if (sk_X509_num(a) != sk_X509_num(b))
		return 0;
	for (int i = 0; i < sk_X509_num(a); i++)
		if (X509_cmp(sk_X509_value(a, i), sk_X509_value(b, i)) != 0)
			return 0;
	return 1;
}
