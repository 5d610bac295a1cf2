/*
 * The Admin CA: a self-signed root of its own that issues operators' client
 * certificates for the admin API. It is apart from the device hierarchy, so
 * no issuing CA (and no compromise of one) can mint an operator. Its
 * certificate and the name of its key file are settings in the store; the key
 * is encrypted like every CA key.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "ca/ca_keys.h"

#define ADMIN_CA_LIFETIME_S (10LL * 365 * 86400)
#define ADMIN_CA_ENTRY "admin_ca" /* keyring entry; CA names have no '_' */
#define SETTING_CERT "admin_ca.cert"
#define SETTING_KEY "admin_ca.key_file"
#define PEM_MAX 4096

struct admin_ca_row {
	char pem[PEM_MAX];
	char key_file[CA_KEY_FILE_BUF];
	int found;
};

static dt_code read_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct admin_ca_row *r = arg;
	dt_code rc = txn->ops->setting_get(txn, SETTING_CERT, r->pem, sizeof(r->pem), err);

	if (rc == DT_ERR_NOT_FOUND)
		return DT_OK;
	if (rc == DT_OK)
		rc = txn->ops->setting_get(txn, SETTING_KEY, r->key_file, sizeof(r->key_file), err);
	r->found = rc == DT_OK;
	return rc;
}

struct create_job {
	const struct admin_ca_row *row;
	const char *actor;
	const char *fingerprint;
	int lost; /* another process created one first */
};

static dt_code create_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct create_job *j = arg;
	char seen[64], details[160];
	dt_code rc = txn->ops->setting_get(txn, SETTING_KEY, seen, sizeof(seen), err);

	if (rc == DT_OK) {
		j->lost = 1;
		return DT_OK;
	}
	if (rc != DT_ERR_NOT_FOUND)
		return rc;
	snprintf(details, sizeof(details), "{\"fingerprint\":\"%s\"}", j->fingerprint);
	if ((rc = txn->ops->setting_set(txn, SETTING_CERT, j->row->pem, err)) != DT_OK ||
	    (rc = txn->ops->setting_set(txn, SETTING_KEY, j->row->key_file, err)) != DT_OK)
		return rc;
	return audit_append(txn, j->actor, "admin.ca_create", "admin-ca",
			    "first operator credential", details, err);
}

static X509 *pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	return x;
}

static dt_code create(struct dt_ctx *ctx, struct admin_ca_row *row, struct dt_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *b = NULL;
	char cn[DT_MAX_FIELD_LEN + 16], serial[DT_SERIAL_HEX_BUF], fp[DT_SHA256_HEX_BUF];
	char *pem = NULL;
	long n;
	struct create_job job = {row, dt_actor(ctx), fp, 0};
	char path[4096];
	dt_code rc;

	snprintf(cn, sizeof(cn), "%s Admin CA", ctx->org);
	if ((rc = ca_key_generate_ca(ctx, "P-256", &key, err)) != DT_OK ||
	    (rc = ca_admin_build(ctx, 1, cn, key, NULL, ADMIN_CA_LIFETIME_S, &cert, err)) !=
		DT_OK ||
	    (rc = ca_cert_serial_hex(cert, serial, err)) != DT_OK)
		goto out;
	ca_fingerprint(cert, fp);
	snprintf(row->key_file, sizeof(row->key_file), "admin_ca.%s.key", serial);
	if (!(b = BIO_new(BIO_s_mem())) || PEM_write_bio_X509(b, cert) != 1 ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0 || (size_t)n >= sizeof(row->pem)) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode the Admin CA certificate");
		goto out;
	}
	memcpy(row->pem, pem, (size_t)n);
	row->pem[n] = '\0';
	/* The key is on disk before the store names it; if the commit fails or another
	 * process won, the file is removed again. */
	if ((rc = ca_key_save_ca(ctx, row->key_file, key, err)) != DT_OK)
		goto out;
	rc = store_write(ctx->store, create_job, &job, err);
	if ((rc != DT_OK || job.lost) &&
	    ca_key_path(ctx, row->key_file, path, sizeof(path), NULL) == DT_OK)
		unlink(path);
	if (rc == DT_OK && job.lost) /* use the winner's */
		rc = store_read(ctx->store, read_job, row, err);
out:
	BIO_free(b);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* The Admin CA's row; created first if create is set and there is none. */
static dt_code admin_row(struct dt_ctx *ctx, int create_it, struct admin_ca_row *row,
			 struct dt_error *err)
{
	dt_code rc;

	memset(row, 0, sizeof(*row));
	if ((rc = store_read(ctx->store, read_job, row, err)) != DT_OK)
		return rc;
	if (row->found)
		return DT_OK;
	if (!create_it)
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "there is no Admin CA yet: it is made with the first "
			       "`devtrust admin add`");
	return create(ctx, row, err);
}

dt_code ca_admin_ca_cert(struct dt_ctx *ctx, X509 **out, struct dt_error *err)
{
	struct admin_ca_row *row = malloc(sizeof(*row));
	dt_code rc;

	*out = NULL;
	if (!row)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = admin_row(ctx, 0, row, err)) == DT_OK && !(*out = pem_cert(row->pem)))
		rc = dt_fail(err, DT_ERR_INTERNAL, "the stored Admin CA certificate is damaged");
	free(row);
	return rc;
}

dt_code ca_admin_issue(struct dt_ctx *ctx, const char *name, int64_t lifetime_s, EVP_PKEY **key,
		       X509 **cert, X509 **ca_cert, struct dt_error *err)
{
	struct admin_ca_row *row = malloc(sizeof(*row));
	const struct ca_signer *s = NULL;
	X509 *signer_cert = NULL;
	dt_code rc;

	*key = NULL;
	*cert = NULL;
	*ca_cert = NULL;
	if (!row)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = admin_row(ctx, 1, row, err)) != DT_OK)
		goto out;
	if (!(signer_cert = pem_cert(row->pem)) || !(*ca_cert = pem_cert(row->pem))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "the stored Admin CA certificate is damaged");
		goto out;
	}
	if (!(s = ca_signer_find_ref(ctx, ADMIN_CA_ENTRY))) {
		rc = ca_signer_load(ctx, ADMIN_CA_ENTRY, signer_cert, row->key_file, 1, &s, err);
		signer_cert = NULL; /* taken */
		if (rc != DT_OK)
			goto out;
	}
	if ((rc = ca_key_generate("P-256", key, err)) == DT_OK)
		rc = ca_admin_build(ctx, 0, name, *key, s, lifetime_s, cert, err);
out:
	if (s)
		ca_signer_put(s);
	X509_free(signer_cert);
	free(row);
	if (rc != DT_OK) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		X509_free(*ca_cert);
		*key = NULL;
		*cert = NULL;
		*ca_cert = NULL;
	}
	return rc;
}
