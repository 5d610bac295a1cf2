/*
 * Admin API credentials: creation (client certificates through the ca
 * module's Admin CA, bearer tokens kept as SHA-256 hashes), listing,
 * revocation, and authentication of a request's certificate or token. Every
 * change is an audit event in the same transaction.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "devtrust/admin.h"
#include "store/store.h"

#define TOKEN_PREFIX "dta_"
#define TOKEN_ID_BYTES 8
#define TOKEN_SECRET_BYTES 32

static const char *const role_names[DT_ROLE_COUNT] = {"admin", "operator", "auditor", "vendor"};

const char *dt_role_name(enum dt_role r)
{
	return (unsigned)r < DT_ROLE_COUNT ? role_names[r] : "?";
}

int dt_role_parse(const char *s)
{
	for (int i = 0; s && i < DT_ROLE_COUNT; i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return -1;
}

static dt_code check_opts(const struct dt_admin_opts *o, int64_t *lifetime, struct dt_error *err)
{
	dt_code rc;
	int vendor = o->role == DT_ROLE_VENDOR;

	if ((rc = dt_check_id("operator name", o->name, err)) != DT_OK)
		return rc;
	if ((unsigned)o->role >= DT_ROLE_COUNT)
		return dt_fail(err, DT_ERR_INVALID,
			       "unknown role: use admin, operator, auditor or vendor");
	if (vendor && (!o->manufacturer || !o->manufacturer[0]))
		return dt_fail(err, DT_ERR_INVALID,
			       "a vendor credential needs --manufacturer: the one maker whose "
			       "devices it may touch");
	if (!vendor && o->manufacturer && o->manufacturer[0])
		return dt_fail(err, DT_ERR_INVALID,
			       "--manufacturer scopes only vendor credentials");
	if (vendor &&
	    (rc = dt_check_text("manufacturer", o->manufacturer, DT_MAX_FIELD_LEN, err)) != DT_OK)
		return rc;
	*lifetime = o->lifetime_s ? o->lifetime_s : DT_ADMIN_DEFAULT_LIFETIME_S;
	if (*lifetime < 60 || *lifetime > DT_ADMIN_MAX_LIFETIME_S)
		return dt_fail(err, DT_ERR_INVALID, "a credential lives from 1 minute to 366 days");
	if (vendor && *lifetime > DT_ADMIN_VENDOR_MAX_LIFETIME_S)
		return dt_fail(err, DT_ERR_INVALID,
			       "a vendor credential covers one maintenance window: at most 7 days "
			       "(--expires)");
	return DT_OK;
}

static void cred_fill(struct dt_ctx *ctx, const struct dt_admin_opts *o, int64_t lifetime,
		      enum dt_cred_kind kind, struct dt_admin_cred *c)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	snprintf(c->name, sizeof(c->name), "%s", o->name);
	c->role = o->role;
	snprintf(c->manufacturer, sizeof(c->manufacturer), "%s",
		 o->role == DT_ROLE_VENDOR ? o->manufacturer : "");
	c->created_at = dt_now();
	c->not_after = c->created_at + lifetime;
	snprintf(c->created_by, sizeof(c->created_by), "%s", dt_actor(ctx));
}

struct add_job {
	const struct store_admin_cred *a;
	const char *actor;
};

static dt_code add_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct add_job *j = arg;
	const struct dt_admin_cred *c = &j->a->c;
	dt_code rc;

	if ((rc = txn->ops->admin_insert(txn, j->a, err)) != DT_OK)
		return rc;
	return audit_append_change(txn, j->actor, "admin.add", c->name, "", json_null(),
				   json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", c->id, "kind",
					     c->kind == DT_CRED_CERT ? "certificate" : "token",
					     "role", dt_role_name(c->role), "manufacturer",
					     c->manufacturer, "not_after",
					     (json_int_t)c->not_after),
				   NULL, err);
}

/* PEM of what write() writes into a memory BIO, malloc'ed and NUL-terminated. */
static char *bio_text(BIO *b)
{
	char *data = NULL, *out;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || !(out = malloc((size_t)n + 1)))
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	return out;
}

dt_code dt_admin_add_cert(struct dt_ctx *ctx, const struct dt_admin_opts *o, char **key_pem,
			  char **cert_pem, struct dt_admin_cred *out, struct dt_error *err)
{
	struct store_admin_cred a;
	struct add_job job = {&a, dt_actor(ctx)};
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *ca = NULL;
	BIO *kb = NULL, *cb = NULL;
	int64_t lifetime;
	dt_code rc;

	*key_pem = NULL;
	*cert_pem = NULL;
	memset(&a, 0, sizeof(a));
	if ((rc = check_opts(o, &lifetime, err)) != DT_OK)
		return rc;
	cred_fill(ctx, o, lifetime, DT_CRED_CERT, &a.c);
	if ((rc = ca_admin_issue(ctx, o->name, lifetime, &key, &cert, &ca, err)) != DT_OK)
		return rc;
	if ((rc = ca_cert_serial_hex(cert, a.c.id, err)) != DT_OK)
		goto out;
	a.c.not_after = ca_asn1_time(X509_get0_notAfter(cert));
	if (!(kb = BIO_new(BIO_s_mem())) || !(cb = BIO_new(BIO_s_mem())) ||
	    PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cb, cert) != 1 || PEM_write_bio_X509(cb, ca) != 1 ||
	    !(*key_pem = bio_text(kb)) || !(*cert_pem = bio_text(cb))) {
		rc =
		    dt_fail(err, DT_ERR_CRYPTO, "cannot encode the operator's key and certificate");
		goto out;
	}
	/* Durable before anyone receives it. */
	if ((rc = store_write(ctx->store, add_job, &job, err)) != DT_OK)
		goto out;
	if (out)
		*out = a.c;
out:
	if (rc != DT_OK) {
		if (*key_pem)
			OPENSSL_cleanse(*key_pem, strlen(*key_pem));
		free(*key_pem);
		free(*cert_pem);
		*key_pem = NULL;
		*cert_pem = NULL;
	}
	BIO_free(kb);
	BIO_free(cb);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	return rc;
}

dt_code dt_admin_add_token(struct dt_ctx *ctx, const struct dt_admin_opts *o,
			   char token[DT_ADMIN_TOKEN_BUF], struct dt_admin_cred *out,
			   struct dt_error *err)
{
	struct store_admin_cred a;
	struct add_job job = {&a, dt_actor(ctx)};
	unsigned char id[TOKEN_ID_BYTES], secret[TOKEN_SECRET_BYTES];
	char id_hex[2 * TOKEN_ID_BYTES + 1], secret_hex[2 * TOKEN_SECRET_BYTES + 1];
	int64_t lifetime;
	dt_code rc;

	token[0] = '\0';
	memset(&a, 0, sizeof(a));
	if ((rc = check_opts(o, &lifetime, err)) != DT_OK)
		return rc;
	cred_fill(ctx, o, lifetime, DT_CRED_TOKEN, &a.c);
	if ((rc = dt_random(id, sizeof(id), err)) != DT_OK ||
	    (rc = dt_random(secret, sizeof(secret), err)) != DT_OK)
		return rc;
	dt_hex(id, sizeof(id), id_hex);
	dt_hex(secret, sizeof(secret), secret_hex);
	memcpy(a.c.id, id_hex, sizeof(id_hex));
	snprintf(token, DT_ADMIN_TOKEN_BUF, TOKEN_PREFIX "%s_%s", id_hex, secret_hex);
	dt_sha256(token, strlen(token), a.token_hash);
	a.has_hash = 1;
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(secret_hex, sizeof(secret_hex));
	if ((rc = store_write(ctx->store, add_job, &job, err)) != DT_OK) {
		OPENSSL_cleanse(token, DT_ADMIN_TOKEN_BUF);
		token[0] = '\0';
		return rc;
	}
	if (out)
		*out = a.c;
	return DT_OK;
}

struct list_job {
	const char *name;
	dt_admin_cb cb;
	void *arg;
};

static dt_code list_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct list_job *j = arg;

	return txn->ops->admin_list(txn, j->name, j->cb, j->arg, err);
}

dt_code dt_admin_list(struct dt_ctx *ctx, const char *name, dt_admin_cb cb, void *arg,
		      struct dt_error *err)
{
	struct list_job j = {name, cb, arg};

	return store_read(ctx->store, list_job, &j, err);
}

struct revoke_job {
	const char *what;
	const char *actor;
	int64_t count;
};

static dt_code revoke_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct revoke_job *j = arg;
	dt_code rc = txn->ops->admin_revoke(txn, j->what, dt_now(), &j->count, err);

	if (rc != DT_OK)
		return rc;
	if (j->count == 0)
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "no live admin credential named or with id %s", j->what);
	return audit_append_change(txn, j->actor, "admin.revoke", j->what, "",
				   json_pack("{s:b}", "revoked", 0),
				   json_pack("{s:b}", "revoked", 1),
				   json_pack("{s:I}", "credentials", (json_int_t)j->count), err);
}

dt_code dt_admin_revoke(struct dt_ctx *ctx, const char *name_or_id, int64_t *count,
			struct dt_error *err)
{
	struct revoke_job j = {name_or_id, dt_actor(ctx), 0};
	dt_code rc;

	*count = 0;
	if ((rc = dt_check_id("operator name or credential id", name_or_id, err)) != DT_OK)
		return rc;
	if ((rc = store_write(ctx->store, revoke_job, &j, err)) == DT_OK)
		*count = j.count;
	return rc;
}

dt_code dt_admin_ca_pem(struct dt_ctx *ctx, char **pem, struct dt_error *err)
{
	X509 *ca = NULL;
	BIO *b = NULL;
	dt_code rc;

	*pem = NULL;
	if ((rc = ca_admin_ca_cert(ctx, &ca, err)) != DT_OK)
		return rc;
	if (!(b = BIO_new(BIO_s_mem())) || PEM_write_bio_X509(b, ca) != 1 || !(*pem = bio_text(b)))
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode the Admin CA certificate");
	BIO_free(b);
	X509_free(ca);
	return rc;
}

struct get_job {
	const char *id;
	struct store_admin_cred a;
};

static dt_code get_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct get_job *j = arg;

	return txn->ops->admin_get(txn, j->id, &j->a, err);
}

/* The live credential id of this kind, or DT_ERR_AUTH. */
static dt_code live_cred(struct dt_ctx *ctx, const char *id, enum dt_cred_kind kind,
			 struct get_job *j, struct dt_error *err)
{
	struct dt_error e;
	dt_code rc;

	j->id = id;
	if ((rc = store_read(ctx->store, get_job, j, &e)) == DT_ERR_NOT_FOUND ||
	    (rc == DT_OK && j->a.c.kind != kind))
		return dt_fail(err, DT_ERR_AUTH, "unknown admin credential");
	if (rc != DT_OK) {
		*err = e;
		return rc;
	}
	if (j->a.c.revoked_at)
		return dt_fail(err, DT_ERR_AUTH, "this admin credential was revoked");
	if (j->a.c.not_after <= dt_now())
		return dt_fail(err, DT_ERR_AUTH,
			       j->a.c.role == DT_ROLE_VENDOR
				   ? "this vendor credential's maintenance window has ended"
				   : "this admin credential has expired");
	return DT_OK;
}

dt_code dt_admin_auth_token(struct dt_ctx *ctx, const char *token, struct dt_admin_cred *out,
			    struct dt_error *err)
{
	struct get_job *j = calloc(1, sizeof(*j));
	char id[2 * TOKEN_ID_BYTES + 1];
	unsigned char hash[32];
	size_t n = token ? strlen(token) : 0;
	const size_t pre = sizeof(TOKEN_PREFIX) - 1;
	dt_code rc;

	if (!j)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if (n != DT_ADMIN_TOKEN_BUF - 1 || strncmp(token, TOKEN_PREFIX, pre) != 0 ||
	    token[pre + 2 * TOKEN_ID_BYTES] != '_') {
		rc = dt_fail(err, DT_ERR_AUTH, "malformed API token");
		goto out;
	}
	memcpy(id, token + pre, sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	if ((rc = dt_check_id("token id", id, NULL)) != DT_OK) {
		rc = dt_fail(err, DT_ERR_AUTH, "malformed API token");
		goto out;
	}
	if ((rc = live_cred(ctx, id, DT_CRED_TOKEN, j, err)) != DT_OK)
		goto out;
	dt_sha256(token, n, hash);
	if (!j->a.has_hash || CRYPTO_memcmp(hash, j->a.token_hash, sizeof(hash)) != 0) {
		rc = dt_fail(err, DT_ERR_AUTH, "unknown admin credential");
		goto out;
	}
	*out = j->a.c;
out:
	free(j);
	return rc;
}

dt_code dt_admin_auth_cert(struct dt_ctx *ctx, X509 *peer, STACK_OF(X509) * chain,
			   struct dt_admin_cred *out, struct dt_error *err)
{
	X509 *ca = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *vc = NULL;
	struct get_job *j = NULL;
	char serial[DT_SERIAL_HEX_BUF];
	struct dt_error e;
	dt_code rc;

	if (!peer)
		return dt_fail(err, DT_ERR_AUTH, "no client certificate");
	if ((rc = ca_admin_ca_cert(ctx, &ca, &e)) != DT_OK)
		return dt_fail(err, DT_ERR_AUTH,
			       rc == DT_ERR_NOT_FOUND ? "no operator credential exists yet"
						      : "cannot check the client certificate");
	/* The Admin CA is the only anchor: a device certificate cannot chain to it. */
	if (!(st = X509_STORE_new()) || X509_STORE_add_cert(st, ca) != 1 ||
	    !(vc = X509_STORE_CTX_new()) || X509_STORE_CTX_init(vc, st, peer, chain) != 1 ||
	    X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT) != 1) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (X509_verify_cert(vc) != 1) {
		rc = dt_fail(err, DT_ERR_AUTH,
			     "the client certificate is not an operator credential of this "
			     "server's Admin CA (%s)",
			     X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
		goto out;
	}
	if ((rc = ca_cert_serial_hex(peer, serial, err)) != DT_OK)
		goto out;
	if (!(j = calloc(1, sizeof(*j)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = live_cred(ctx, serial, DT_CRED_CERT, j, err)) == DT_OK)
		*out = j->a.c;
out:
	ERR_clear_error();
	free(j);
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	X509_free(ca);
	return rc;
}
