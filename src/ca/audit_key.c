/*
 * The audit signer: a P-256 key with a certificate issued by the root, that
 * signs the audit log's checkpoints and nothing else. Kept like a CA key
 * (encrypted PKCS#8, 0600, DATA/keys/audit-<first 16 hex digits of its id>.key)
 * and cached in the keyring as "#audit"; created by init, or on first need in
 * a data dir made before audit keys existed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "ca/ca_keys.h"

/* Not a CA name ([a-z0-9-]), so it cannot collide with one in the keyring. */
#define AUDIT_ENTRY "#audit"
/* Ten years, never beyond the root: checkpoints of a long-lived fleet stay verifiable.
 * A new key is added beside the old one (checkpoints name theirs), never swapped in. */
#define AUDIT_KEY_LIFETIME_S (10LL * 365 * 86400)

/* One creator per process: the server's watcher and its API threads may both ask. */
static pthread_mutex_t audit_key_mu = PTHREAD_MUTEX_INITIALIZER;

dt_code ca_spki_id(const X509 *cert, char id[DT_SHA256_HEX_BUF], struct dt_error *err)
{
	unsigned char *der = NULL, h[32];
	int n = i2d_PUBKEY(X509_get0_pubkey(cert), &der);

	id[0] = '\0';
	if (n <= 0)
		return dt_fail(err, DT_ERR_CRYPTO, "cannot encode a certificate's public key");
	dt_sha256(der, (size_t)n, h);
	OPENSSL_free(der);
	dt_hex(h, 32, id);
	return DT_OK;
}

static void key_file(const char *key_id, char file[CA_KEY_FILE_BUF])
{
	snprintf(file, CA_KEY_FILE_BUF, "audit-%.16s.key", key_id);
}

struct insert_job {
	struct store_audit_key k;
	const char *actor;
	char fingerprint[DT_SHA256_HEX_BUF];
	int64_t not_after;
};

static dt_code insert_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct insert_job *j = arg;
	dt_code rc;

	if ((rc = txn->ops->audit_key_insert(txn, &j->k, err)) != DT_OK)
		return rc;
	return audit_append_change(
	    txn, j->actor, "audit.key_create", j->k.key_id, "signs audit checkpoints", json_null(),
	    json_pack("{s:s,s:s,s:s,s:I}", "key_id", j->k.key_id, "issuer", "root", "fingerprint",
		      j->fingerprint, "not_after", (json_int_t)j->not_after),
	    NULL, err);
}

/* A new audit key: key file, certificate, store row and event; adopted into the keyring. */
static dt_code create_key(struct dt_ctx *ctx, struct dt_error *err)
{
	const struct ca_signer *root = NULL, *adopted = NULL;
	struct insert_job *j = calloc(1, sizeof(*j));
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char file[CA_KEY_FILE_BUF], path[4096];
	struct dt_error ignored;
	unsigned char *p;
	int n, saved = 0;
	dt_code rc;

	if (!j)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = ca_signer_get(ctx, "root", CA_USE_ISSUE, &root, err)) != DT_OK ||
	    (rc = ca_key_generate("P-256", &key, err)) != DT_OK ||
	    (rc = ca_audit_key_build(ctx, root, key, AUDIT_KEY_LIFETIME_S, &cert, err)) != DT_OK ||
	    (rc = ca_spki_id(cert, j->k.key_id, err)) != DT_OK)
		goto out;
	n = i2d_X509(cert, NULL);
	if (n <= 0 || (size_t)n > sizeof(j->k.cert)) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode the audit key's certificate");
		goto out;
	}
	p = j->k.cert;
	j->k.cert_len = (size_t)i2d_X509(cert, &p);
	j->k.created_at = dt_now();
	j->actor = dt_actor(ctx);
	ca_fingerprint(cert, j->fingerprint);
	j->not_after = ca_asn1_time(X509_get0_notAfter(cert));
	key_file(j->k.key_id, file);
	if ((rc = ca_key_save(ctx, file, key, err)) != DT_OK)
		goto out;
	saved = 1;
	if ((rc = store_write(ctx->store, insert_job, j, err)) != DT_OK)
		goto out;
	rc = ca_signer_adopt(ctx, AUDIT_ENTRY, key, cert, &adopted, err);
	key = NULL;
	cert = NULL;
	saved = 0;
out:
	/* A key whose certificate never reached the store signs nothing: remove it. */
	if (saved && ca_key_path(ctx, file, path, sizeof(path), &ignored) == DT_OK)
		(void)unlink(path);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(j);
	return rc;
}

static int keep_newest(void *arg, const struct store_audit_key *k)
{
	struct store_audit_key *newest = arg;

	*newest = *k;
	return 0;
}

static dt_code newest_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return txn->ops->audit_key_each(txn, keep_newest, arg, err);
}

/* The keyring's audit signer: the newest registered key, unlocked, or a new one. */
static dt_code open_signer(struct dt_ctx *ctx, const struct ca_signer **out, struct dt_error *err)
{
	struct store_audit_key *k = calloc(1, sizeof(*k));
	char file[CA_KEY_FILE_BUF], id[DT_SHA256_HEX_BUF];
	X509 *cert = NULL;
	dt_code rc;

	*out = NULL;
	if (!k)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = store_read(ctx->store, newest_job, k, err)) != DT_OK)
		goto out;
	if (!k->key_id[0]) {
		if ((rc = create_key(ctx, err)) == DT_OK)
			*out = ca_signer_find_ref(ctx, AUDIT_ENTRY);
		if (rc == DT_OK && !*out)
			rc = dt_fail(err, DT_ERR_INTERNAL,
				     "the new audit key is not in the keyring");
		goto out;
	}
	if (!(cert = ca_der_cert(k->cert, k->cert_len)) ||
	    (rc = ca_spki_id(cert, id, err)) != DT_OK || strcmp(id, k->key_id) != 0) {
		rc = dt_fail(
		    err, DT_ERR_STATE,
		    "the stored certificate of audit key %.16s... is damaged or not its own "
		    "(run devtrust audit verify)",
		    k->key_id);
		goto out;
	}
	key_file(k->key_id, file);
	rc = ca_signer_load(ctx, AUDIT_ENTRY, cert, file, 1, out, err);
	cert = NULL;
out:
	X509_free(cert);
	free(k);
	return rc;
}

/* A reference to the audit signer (ca_signer_put it). */
static dt_code audit_signer(struct dt_ctx *ctx, const struct ca_signer **out, struct dt_error *err)
{
	dt_code rc = DT_OK;

	pthread_mutex_lock(&audit_key_mu);
	if (!(*out = ca_signer_find_ref(ctx, AUDIT_ENTRY)))
		rc = open_signer(ctx, out, err);
	pthread_mutex_unlock(&audit_key_mu);
	return rc;
}

dt_code ca_audit_key_ready(struct dt_ctx *ctx, char key_id[DT_SHA256_HEX_BUF], struct dt_error *err)
{
	const struct ca_signer *s = NULL;
	dt_code rc;

	key_id[0] = '\0';
	if ((rc = audit_signer(ctx, &s, err)) != DT_OK)
		return rc;
	rc = ca_spki_id(ca_signer_cert(s), key_id, err);
	ca_signer_put(s);
	return rc;
}

dt_code ca_audit_sign(struct dt_ctx *ctx, const unsigned char *tbs, size_t len, unsigned char *sig,
		      size_t cap, size_t *sig_len, char key_id[DT_SHA256_HEX_BUF],
		      struct dt_error *err)
{
	const struct ca_signer *s = NULL;
	dt_code rc;

	*sig_len = 0;
	key_id[0] = '\0';
	if ((rc = audit_signer(ctx, &s, err)) != DT_OK)
		return rc;
	if ((rc = ca_spki_id(ca_signer_cert(s), key_id, err)) == DT_OK)
		rc = ca_sign_bytes(s, tbs, len, sig, cap, sig_len, err);
	ca_signer_put(s);
	return rc;
}
