/*
 * CA keys: generated here, written PKCS#8-encrypted (PBES2, PBKDF2-SHA256,
 * AES-256-CBC) to 0600 files, unlocked once per process into a keyring, and
 * used only through ca_sign_*(). Nothing else in devtrust sees an EVP_PKEY
 * of a CA. With key isolation (devtrust serve) a CA's keyring entry holds its
 * certificate only, and ca_sign_*() hand the work to the signer process.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ca/keyd.h"

/* PBKDF2 iterations: slows offline guessing of a stolen key file while an
 * unlock stays well under a second on the appliances we target. */
#define CA_KEY_PBKDF2_ITER 100000
#define CA_KEYRING_MAX 256

struct ca_signer {
	char name[DT_ID_BUF];
	EVP_PKEY *key; /* NULL when the signer process holds it (keyd) */
	X509 *cert;
	int revoked;
	/* The keyring's reference, plus one per user of an OCSP signer (which a renewal
	 * may swap out of the keyring while a worker still signs with it). */
	atomic_int refs;
	/* Key isolation: the signer process keyd signs with DATA/keys/<key_file>; the
	 * certificate's DER goes with every request. */
	struct ca_keyd *keyd;
	char key_file[CA_KEY_FILE_BUF];
	unsigned char *cert_der;
	size_t cert_len;
};

struct ca_keyring {
	struct ca_signer *items[CA_KEYRING_MAX];
	int n;
	struct ca_keyd *keyd; /* key isolation is on: CA keys live in that process */
};

/* The signer process of ctx, or NULL: CA keys are unlocked in this process. */
static struct ca_keyd *keyd_of(struct dt_ctx *ctx)
{
	struct ca_keyd *k;

	pthread_mutex_lock(&ctx->keys_mu);
	k = ctx->keys ? ctx->keys->keyd : NULL;
	pthread_mutex_unlock(&ctx->keys_mu);
	return k;
}

/* Keyring entries of CA keys are CA names and "admin_ca"; the keys the server signs
 * with itself have a '#' in theirs ("<ca>#ocsp", "#audit"). */
static int entry_is_ca(const char *entry)
{
	return strchr(entry, '#') == NULL;
}

int ca_key_file_is_ca(const char *file)
{
	static const char hex[] = "0123456789abcdef";
	const char *ocsp = strstr(file, "-ocsp.");
	size_t n;

	if (strcmp(file, "tls.key") == 0)
		return 0;
	if (strncmp(file, "audit-", 6) == 0 && strspn(file + 6, hex) == 16 &&
	    strcmp(file + 22, ".key") == 0)
		return 0;
	if (ocsp && strcmp(ocsp, "-ocsp.key") == 0)
		return 0;
	if (ocsp && (n = strspn(ocsp + 6, hex)) > 0 && strcmp(ocsp + 6 + n, ".key") == 0)
		return 0;
	return 1;
}

/* Whether key holds a private part: a CA's must never reach this process under isolation. */
static int has_private(const EVP_PKEY *key)
{
	BIGNUM *priv = NULL;
	int has = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;

	BN_clear_free(priv);
	ERR_clear_error();
	return has;
}

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

	if (keyd_of(ctx) && ca_key_file_is_ca(file))
		return dt_fail(err, DT_ERR_INTERNAL,
			       "refusing to write the CA key %s in the server process: with key "
			       "isolation, CA keys are made and kept by the signer process",
			       file);
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
	if (keyd_of(ctx) && ca_key_file_is_ca(file))
		return dt_fail(err, DT_ERR_INTERNAL,
			       "refusing to load the CA key %s into the server process: with key "
			       "isolation only the signer process holds CA keys",
			       file);
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

const EVP_MD *ca_key_digest(const EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
		return NULL;
	return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
}

int ca_key_sig_nid(const EVP_PKEY *key)
{
	const EVP_MD *md = ca_key_digest(key);
	int nid = NID_undef;

	return OBJ_find_sigid_by_algs(&nid, md ? EVP_MD_get_type(md) : NID_undef,
				      EVP_PKEY_get_base_id(key))
		   ? nid
		   : NID_undef;
}

int ca_key_algor(X509_ALGOR *a, const EVP_PKEY *key)
{
	int nid = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? ca_key_sig_nid(key) : NID_undef;

	return nid != NID_undef && X509_ALGOR_set0(a, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL) == 1;
}

int ca_bits_set(ASN1_BIT_STRING *bits, const unsigned char *sig, size_t len)
{
	if (len == 0 || len > INT_MAX ||
	    ASN1_BIT_STRING_set(bits, (unsigned char *)sig, (int)len) != 1)
		return 0;
	bits->flags = (bits->flags & ~0x07L) | ASN1_STRING_FLAG_BITS_LEFT;
	return 1;
}

dt_code ca_key_generate_ca(struct dt_ctx *ctx, const char *curve, EVP_PKEY **out,
			   struct dt_error *err)
{
	struct ca_keyd *k = keyd_of(ctx);

	*out = NULL;
	return k ? keyd_genkey(k, curve, out, err) : ca_key_generate(curve, out, err);
}

dt_code ca_key_save_ca(struct dt_ctx *ctx, const char *file, EVP_PKEY *key, struct dt_error *err)
{
	struct ca_keyd *k = keyd_of(ctx);

	return k ? keyd_savekey(k, file, key, err) : ca_key_save(ctx, file, key, err);
}

dt_code ca_sign_self(struct dt_ctx *ctx, EVP_PKEY *key, X509 **x, struct dt_error *err)
{
	struct ca_keyd *k = keyd_of(ctx);

	if (k)
		return keyd_sign_self(k, key, x, err);
	if (X509_sign(*x, key, ca_key_digest(key)) <= 0)
		return dt_fail(err, DT_ERR_CRYPTO, "signing a certificate failed");
	return DT_OK;
}

dt_code ca_sign_cert(const struct ca_signer *s, X509 **x, struct dt_error *err)
{
	if (!s->key)
		return keyd_sign_cert(s->keyd, s->key_file, s->cert, s->cert_der, s->cert_len, x,
				      err);
	if (X509_sign(*x, s->key, ca_key_digest(s->key)) <= 0)
		return dt_fail(err, DT_ERR_CRYPTO, "signing a certificate as %s failed", s->name);
	return DT_OK;
}

/* The signers that sign other things (checkpoints, OCSP responses) are never isolated. */
static dt_code need_key(const struct ca_signer *s, struct dt_error *err)
{
	if (!s->key)
		return dt_fail(err, DT_ERR_INTERNAL,
			       "%s's key is in the signer process, which signs certificates and "
			       "CRLs only",
			       s->name);
	return DT_OK;
}

int ca_key_sign(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char *sig, size_t cap,
		size_t *sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = cap;
	int ok = md && EVP_DigestSignInit(md, NULL, ca_key_digest(key), NULL, key) == 1 &&
		 EVP_DigestSign(md, sig, &n, msg, len) == 1;

	EVP_MD_CTX_free(md);
	*sig_len = ok ? n : 0;
	return ok;
}

int ca_key_verifies(EVP_PKEY *pub, const unsigned char *msg, size_t len, const unsigned char *sig,
		    size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, ca_key_digest(pub), NULL, pub) == 1 &&
		 EVP_DigestVerify(md, sig, sig_len, msg, len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* Signs tbs with s's own key: the signature into sig[cap]. */
static dt_code sign_here(const struct ca_signer *s, const unsigned char *tbs, size_t len,
			 unsigned char *sig, size_t cap, size_t *sig_len, struct dt_error *err)
{
	if (!ca_key_sign(s->key, tbs, len, sig, cap, sig_len)) {
		ERR_clear_error();
		return dt_fail(err, DT_ERR_CRYPTO, "signing as %s failed", s->name);
	}
	return DT_OK;
}

dt_code ca_sign_bytes(const struct ca_signer *s, const unsigned char *tbs, size_t len,
		      unsigned char *sig, size_t cap, size_t *sig_len, struct dt_error *err)
{
	*sig_len = 0;
	if (need_key(s, err) != DT_OK)
		return DT_ERR_INTERNAL;
	return sign_here(s, tbs, len, sig, cap, sig_len, err);
}

dt_code ca_sign_crl(const struct ca_signer *s, const unsigned char *tbs, size_t len,
		    unsigned char *sig, size_t cap, size_t *sig_len, struct dt_error *err)
{
	if (!s->key)
		return keyd_sign_crl(s->keyd, s->key_file, s->cert_der, s->cert_len, tbs, len, sig,
				     cap, sig_len, err);
	return sign_here(s, tbs, len, sig, cap, sig_len, err);
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
	OPENSSL_free(s->cert_der);
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
	keyd_free(k->keyd);
	free(k);
}

dt_code ca_keyring_set_keyd(struct dt_ctx *ctx, struct ca_keyd *keyd, struct dt_error *err)
{
	struct ca_keyring *k;
	dt_code rc = DT_OK;
	int n = 0;

	pthread_mutex_lock(&ctx->keys_mu);
	if (!ctx->keys && !(ctx->keys = calloc(1, sizeof(*ctx->keys)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	k = ctx->keys;
	/* A CA key unlocked before isolation began leaves this process now. */
	for (int i = 0; i < k->n; i++) {
		if (k->items[i]->key && entry_is_ca(k->items[i]->name))
			ca_signer_put(k->items[i]);
		else
			k->items[n++] = k->items[i];
	}
	k->n = n;
	k->keyd = keyd;
out:
	pthread_mutex_unlock(&ctx->keys_mu);
	return rc;
}

struct ca_keyd *ca_keyring_keyd(struct dt_ctx *ctx)
{
	return keyd_of(ctx);
}

int ca_keyring_ca_keys_loaded(struct dt_ctx *ctx)
{
	int n = 0;

	pthread_mutex_lock(&ctx->keys_mu);
	for (int i = 0; ctx->keys && i < ctx->keys->n; i++)
		n += ctx->keys->items[i]->key && entry_is_ca(ctx->keys->items[i]->name);
	pthread_mutex_unlock(&ctx->keys_mu);
	return n;
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
static int self_test(EVP_PKEY *key, const X509 *cert)
{
	static const unsigned char msg[] = "devtrust CA key self-test";
	unsigned char sig[CA_MAX_SIG];
	size_t sig_len = 0;

	return ca_key_sign(key, msg, sizeof(msg), sig, sizeof(sig), &sig_len) &&
	       ca_key_verifies(X509_get0_pubkey(cert), msg, sizeof(msg), sig, sig_len);
}

int ca_key_matches(EVP_PKEY *key, const X509 *cert)
{
	int ok = X509_check_private_key(cert, key) == 1 && self_test(key, cert) == 1;

	ERR_clear_error();
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
	atomic_init(&s->refs, 1);
	if (ctx->keys->keyd && entry_is_ca(name)) {
		/* Made by the signer process (ca_key_generate_ca): key is its public half. */
		int n = has_private(key) ? -1 : i2d_X509(cert, &s->cert_der);

		if (n <= 0) {
			rc = dt_fail(err, DT_ERR_INTERNAL,
				     n < 0 ? "a private key of CA '%s' reached the server process"
					   : "cannot encode the certificate of CA '%s'",
				     name);
			free(s);
			s = NULL;
			goto out;
		}
		s->cert_len = (size_t)n;
		s->keyd = ctx->keys->keyd;
		snprintf(s->key_file, sizeof(s->key_file), "%s.key", name);
		EVP_PKEY_free(key);
		key = NULL;
	}
	s->key = key;
	s->cert = cert;
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
	if ((s->keyd = keyd_of(ctx)) && entry_is_ca(entry)) {
		/* Isolation: the signer process unlocks and self-tests it; nothing comes back. */
		int n = s->key ? -1 : i2d_X509(s->cert, &s->cert_der);

		if (n <= 0 || !key_file) {
			rc = dt_fail(err, DT_ERR_INTERNAL,
				     "CA key %s cannot be opened in the server process",
				     key_file ? key_file : entry);
			goto out;
		}
		s->cert_len = (size_t)n;
		if ((rc = dt_copy(s->key_file, sizeof(s->key_file), key_file, "key file", err)) !=
		    DT_OK)
			goto out;
		rc = keyd_unlock(s->keyd, s->key_file, s->cert_der, s->cert_len, err);
		if (rc == DT_OK) {
			*out = s;
			s = NULL;
		}
		goto out;
	}
	s->keyd = NULL;
	if (!s->key && (rc = ca_key_load(ctx, key_file, &s->key, err)) != DT_OK)
		goto out;
	if (!ca_key_matches(s->key, s->cert)) {
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
	if (need_key(s, err) != DT_OK)
		return DT_ERR_INTERNAL;
	if (OCSP_basic_sign(bs, s->cert, s->key, ca_key_digest(s->key), NULL, flags) != 1) {
		ERR_clear_error();
		return dt_fail(err, DT_ERR_CRYPTO, "signing an OCSP response as %s failed",
			       s->name);
	}
	return DT_OK;
}
