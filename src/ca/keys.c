/*
 * CA keys: generated here, written PKCS#8-encrypted (PBES2, PBKDF2-SHA256,
 * AES-256-CBC) to 0600 files, unlocked once per process into a keyring, and
 * used only through ca_sign_*(). Nothing else in devtrust sees an EVP_PKEY
 * of a CA.
 */
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca_keys.h"

/* PBKDF2 iterations: slows offline guessing of a stolen key file while an
 * unlock stays well under a second on the appliances we target. */
#define CA_KEY_PBKDF2_ITER 100000
#define CA_KEYRING_MAX 256

struct ca_signer {
	char name[DT_ID_BUF];
	EVP_PKEY *key;
	X509 *cert;
	int revoked;
	/* The keyring's reference, plus one per user of an OCSP signer (which a renewal
	 * may swap out of the keyring while a worker still signs with it). */
	atomic_int refs;
};

struct ca_keyring {
	struct ca_signer *items[CA_KEYRING_MAX];
	int n;
};

dt_code ca_key_generate(const char *curve, EVP_PKEY **out, struct dt_error *err)
{
	*out = EVP_EC_gen(curve);
	if (!*out)
		return dt_fail(err, DT_ERR_CRYPTO, "cannot generate an EC %s key", curve);
	return DT_OK;
}

dt_code ca_key_path(struct dt_ctx *ctx, const char *file, char *path, size_t cap,
		    struct dt_error *err)
{
	char name[CA_KEY_FILE_BUF + 8];

	if ((size_t)snprintf(name, sizeof(name), "keys/%s", file) >= sizeof(name))
		return dt_fail(err, DT_ERR_INTERNAL, "key file name %.40s... is too long", file);
	return dt_path(path, cap, ctx->data_dir, name, err);
}

dt_code ca_key_save(struct dt_ctx *ctx, const char *file, EVP_PKEY *key, struct dt_error *err)
{
	char path[4096];
	char *pass = NULL;
	size_t pass_len = 0;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_SIG *enc = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	long pem_len;
	dt_code rc;

	if ((rc = ca_key_path(ctx, file, path, sizeof(path), err)) != DT_OK)
		return rc;
	if ((rc = dt_passphrase(ctx, &pass, &pass_len, err)) != DT_OK)
		return rc;
	if (!(p8 = EVP_PKEY2PKCS8(key)) ||
	    !(enc = PKCS8_encrypt(-1, EVP_aes_256_cbc(), pass, (int)pass_len, NULL, 0,
				  CA_KEY_PBKDF2_ITER, p8)) ||
	    !(bio = BIO_new(BIO_s_mem())) || PEM_write_bio_PKCS8(bio, enc) != 1 ||
	    (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encrypt the key for %s", file);
		goto out;
	}
	rc = dt_write_private_file(path, pem, (size_t)pem_len, err);
out:
	OPENSSL_cleanse(pass, pass_len);
	free(pass);
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(enc);
	BIO_free(bio);
	return rc;
}

dt_code ca_key_load(struct dt_ctx *ctx, const char *file, EVP_PKEY **out, struct dt_error *err)
{
	char path[4096];
	char *pass = NULL;
	size_t pass_len = 0;
	unsigned char *pem = NULL;
	size_t pem_len = 0;
	BIO *bio = NULL;
	dt_code rc;

	*out = NULL;
	if ((rc = ca_key_path(ctx, file, path, sizeof(path), err)) != DT_OK)
		return rc;
	if ((rc = dt_read_file(path, 64 * 1024, &pem, &pem_len, err)) != DT_OK)
		return rc;
	if ((rc = dt_passphrase(ctx, &pass, &pass_len, err)) != DT_OK)
		goto out;
	if (!(bio = BIO_new_mem_buf(pem, (int)pem_len)) ||
	    !(*out = PEM_read_bio_PrivateKey(bio, NULL, NULL, pass))) {
		ERR_clear_error();
		rc = dt_fail(err, DT_ERR_AUTH,
			     "cannot unlock %s: wrong passphrase or damaged key file", path);
		goto out;
	}
out:
	OPENSSL_cleanse(pass, pass_len);
	free(pass);
	if (pem)
		OPENSSL_cleanse(pem, pem_len);
	free(pem);
	BIO_free(bio);
	return rc;
}

static const EVP_MD *digest_for(EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
		return NULL;
	return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
}

dt_code ca_sign_with_key(EVP_PKEY *key, X509 *x, struct dt_error *err)
{
	if (X509_sign(x, key, digest_for(key)) <= 0)
		return dt_fail(err, DT_ERR_CRYPTO, "signing a certificate failed");
	return DT_OK;
}

dt_code ca_sign_cert(const struct ca_signer *s, X509 *x, struct dt_error *err)
{
	return ca_sign_with_key(s->key, x, err);
}

dt_code ca_sign_crl(const struct ca_signer *s, X509_CRL *crl, struct dt_error *err)
{
	if (X509_CRL_sign(crl, s->key, digest_for(s->key)) <= 0)
		return dt_fail(err, DT_ERR_CRYPTO, "signing the CRL of %s failed", s->name);
	return DT_OK;
}

const X509 *ca_signer_cert(const struct ca_signer *s)
{
	return s->cert;
}

static void signer_free(struct ca_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	free(s);
}

void ca_signer_put(const struct ca_signer *cs)
{
	/* The keyring hands out const pointers; the count is the one mutable part. */
	struct ca_signer *s = (struct ca_signer *)cs;

	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		signer_free(s);
}

void ca_keyring_mark_revoked(struct dt_ctx *ctx, const char *name)
{
	pthread_mutex_lock(&ctx->keys_mu);
	for (int i = 0; ctx->keys && i < ctx->keys->n; i++)
		if (strcmp(ctx->keys->items[i]->name, name) == 0)
			ctx->keys->items[i]->revoked = 1;
	pthread_mutex_unlock(&ctx->keys_mu);
}

void ca_keyring_free(struct ca_keyring *k)
{
	if (!k)
		return;
	for (int i = 0; i < k->n; i++)
		ca_signer_put(k->items[i]);
	free(k);
}

struct ca_read_job {
	const char *name;
	struct store_ca *ca;
};

static dt_code read_ca_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct ca_read_job *j = arg;

	return txn->ops->ca_get(txn, j->name, j->ca, err);
}

dt_code ca_row_read(struct dt_ctx *ctx, const char *name, struct store_ca **out,
		    struct dt_error *err)
{
	struct ca_read_job job = {name, calloc(1, sizeof(struct store_ca))};
	dt_code rc;

	*out = NULL;
	if (!job.ca)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = store_read(ctx->store, read_ca_job, &job, err)) != DT_OK) {
		free(job.ca);
		return rc;
	}
	*out = job.ca;
	return DT_OK;
}

/* The entry's index in the keyring, or -1 (keys_mu held). */
static int find_locked(struct dt_ctx *ctx, const char *entry)
{
	for (int i = 0; ctx->keys && i < ctx->keys->n; i++)
		if (strcmp(ctx->keys->items[i]->name, entry) == 0)
			return i;
	return -1;
}

/* Signs a fixed message and verifies it with the certificate's public key. */
static int self_test(const struct ca_signer *s)
{
	static const unsigned char msg[] = "devtrust CA key self-test";
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const EVP_MD *dg = digest_for(s->key);
	int ok = md && EVP_DigestSignInit(md, NULL, dg, NULL, s->key) == 1 &&
		 EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg)) == 1;

	EVP_MD_CTX_free(md);
	md = ok ? EVP_MD_CTX_new() : NULL;
	ok = md && EVP_DigestVerifyInit(md, NULL, dg, NULL, X509_get0_pubkey(s->cert)) == 1 &&
	     EVP_DigestVerify(md, sig, sig_len, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

dt_code ca_signer_get(struct dt_ctx *ctx, const char *name, enum ca_use use,
		      const struct ca_signer **out, struct dt_error *err)
{
	struct store_ca *row = NULL;
	const struct ca_signer *cached = NULL;
	const unsigned char *p;
	char file[DT_ID_BUF + 8];
	X509 *cert = NULL;
	int i, revoked = 0;
	dt_code rc = DT_OK;

	*out = NULL;
	pthread_mutex_lock(&ctx->keys_mu);
	if ((i = find_locked(ctx, name)) >= 0) {
		cached = ctx->keys->items[i];
		revoked = ctx->keys->items[i]->revoked;
	}
	pthread_mutex_unlock(&ctx->keys_mu);
	if (!cached) {
		if ((rc = ca_row_read(ctx, name, &row, err)) != DT_OK)
			return rc;
		revoked = row->info.revoked;
	}
	if (revoked && use == CA_USE_ISSUE) {
		rc = dt_fail(err, DT_ERR_STATE, "CA '%s' is revoked and cannot issue", name);
		goto out;
	}
	if (cached) {
		*out = cached;
		goto out;
	}
	p = row->cert;
	if (!(cert = d2i_X509(NULL, &p, (long)row->cert_len))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "the stored certificate of CA '%s' is damaged",
			     name);
		goto out;
	}
	snprintf(file, sizeof(file), "%s.key", name);
	rc = ca_signer_load(ctx, name, cert, file, 0, out, err);
	cert = NULL;
	if (rc == DT_OK && revoked)
		ca_keyring_mark_revoked(ctx, name);
out:
	X509_free(cert);
	free(row);
	return rc;
}

dt_code ca_signer_adopt(struct dt_ctx *ctx, const char *name, EVP_PKEY *key, X509 *cert,
			const struct ca_signer **out, struct dt_error *err)
{
	struct ca_signer *s = NULL;
	dt_code rc = DT_OK;

	*out = NULL;
	pthread_mutex_lock(&ctx->keys_mu);
	if ((!ctx->keys && !(ctx->keys = calloc(1, sizeof(*ctx->keys)))) ||
	    ctx->keys->n == CA_KEYRING_MAX || !(s = calloc(1, sizeof(*s)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->key = key;
	s->cert = cert;
	atomic_init(&s->refs, 1);
	ctx->keys->items[ctx->keys->n++] = s;
	*out = s;
	key = NULL;
	cert = NULL;
out:
	pthread_mutex_unlock(&ctx->keys_mu);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* ---- Delegated OCSP signers (ocsp_sign.c): keyring entries "<ca>#ocsp" ---- */

const struct ca_signer *ca_signer_find_ref(struct dt_ctx *ctx, const char *entry)
{
	struct ca_signer *s = NULL;
	int i;

	pthread_mutex_lock(&ctx->keys_mu);
	if ((i = find_locked(ctx, entry)) >= 0) {
		s = ctx->keys->items[i];
		atomic_fetch_add(&s->refs, 1);
	}
	pthread_mutex_unlock(&ctx->keys_mu);
	return s;
}

/* A signer for cert (taken) and key (taken, or NULL: unlocked from DATA/keys/<key_file>),
 * checked to match (sign/verify self-test); not in the keyring yet. */
static dt_code signer_open(struct dt_ctx *ctx, const char *entry, X509 *cert, EVP_PKEY *key,
			   const char *key_file, struct ca_signer **out, struct dt_error *err)
{
	struct ca_signer *s = NULL;
	dt_code rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		X509_free(cert);
		EVP_PKEY_free(key);
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	atomic_init(&s->refs, 1);
	s->cert = cert;
	s->key = key;
	if ((rc = dt_copy(s->name, sizeof(s->name), entry, "keyring entry", err)) != DT_OK)
		goto out;
	if (!s->key && (rc = ca_key_load(ctx, key_file, &s->key, err)) != DT_OK)
		goto out;
	if (X509_check_private_key(s->cert, s->key) != 1 || self_test(s) != 1) {
		ERR_clear_error();
		rc = dt_fail(err, DT_ERR_CRYPTO,
			     "the key %s does not match its certificate or fails its sign/verify "
			     "self-test",
			     key_file ? key_file : entry);
		goto out;
	}
	*out = s;
	s = NULL;
out:
	signer_free(s);
	return rc;
}

dt_code ca_signer_load(struct dt_ctx *ctx, const char *entry, X509 *cert, const char *key_file,
		       int ref, const struct ca_signer **out, struct dt_error *err)
{
	struct ca_signer *s = NULL;
	int i;
	dt_code rc;

	*out = NULL;
	if ((rc = signer_open(ctx, entry, cert, NULL, key_file, &s, err)) != DT_OK)
		return rc;
	pthread_mutex_lock(&ctx->keys_mu);
	if (!ctx->keys && !(ctx->keys = calloc(1, sizeof(*ctx->keys)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	/* Another thread may have unlocked it meanwhile: theirs stays, ours goes. */
	if ((i = find_locked(ctx, entry)) >= 0) {
		signer_free(s);
		s = ctx->keys->items[i];
	} else if (ctx->keys->n == CA_KEYRING_MAX) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "too many CA keys unlocked at once");
		goto out;
	} else {
		ctx->keys->items[ctx->keys->n++] = s;
	}
	if (ref)
		atomic_fetch_add(&s->refs, 1);
	*out = s;
	s = NULL;
out:
	pthread_mutex_unlock(&ctx->keys_mu);
	signer_free(s);
	return rc;
}

/* Puts s in the place of the entry of its name, if there is one; else drops s. */
static void swap_in(struct dt_ctx *ctx, struct ca_signer *s)
{
	struct ca_signer *old = NULL;
	int i;

	pthread_mutex_lock(&ctx->keys_mu);
	if ((i = find_locked(ctx, s->name)) >= 0) {
		old = ctx->keys->items[i];
		ctx->keys->items[i] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&ctx->keys_mu);
	/* Whoever still signs with the old one holds a reference; the last one frees it. */
	ca_signer_put(old);
	ca_signer_put(s);
}

dt_code ca_signer_replace(struct dt_ctx *ctx, const char *entry, EVP_PKEY *key, X509 *cert,
			  struct dt_error *err)
{
	struct ca_signer *s = NULL;
	dt_code rc;

	if ((rc = signer_open(ctx, entry, cert, key, NULL, &s, err)) != DT_OK)
		return rc;
	swap_in(ctx, s);
	return DT_OK;
}

dt_code ca_signer_reload(struct dt_ctx *ctx, const char *entry, X509 *cert, const char *key_file,
			 struct dt_error *err)
{
	const struct ca_signer *held = ca_signer_find_ref(ctx, entry);
	struct ca_signer *s = NULL;
	int same = held && X509_cmp(held->cert, cert) == 0;
	dt_code rc;

	ca_signer_put(held);
	/* Not unlocked in this process (it will be on first use), or already current. */
	if (!held || same) {
		X509_free(cert);
		return DT_OK;
	}
	/* Unlocked before the swap, so no request waits for the key derivation. */
	if ((rc = signer_open(ctx, entry, cert, NULL, key_file, &s, err)) != DT_OK)
		return rc;
	swap_in(ctx, s);
	return DT_OK;
}

dt_code ca_sign_ocsp_basic(const struct ca_signer *s, OCSP_BASICRESP *bs, unsigned long flags,
			   struct dt_error *err)
{
	if (OCSP_basic_sign(bs, s->cert, s->key, digest_for(s->key), NULL, flags) != 1) {
		ERR_clear_error();
		return dt_fail(err, DT_ERR_CRYPTO, "signing an OCSP response as %s failed",
			       s->name);
	}
	return DT_OK;
}
