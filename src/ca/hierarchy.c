/*
 * The CA hierarchy: a root (offline use: signs issuing CAs and its CRL),
 * issuing CAs each with a delegated OCSP signer, and the server's TLS
 * certificate; beside them the Admin CA and its operators' client
 * certificates (admin_ca.c) and the audit signer (audit_key.c). Every
 * certificate of the device hierarchy carries the AIA and CRL DP a relying
 * party needs to check it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "ca/ca_keys.h"

#define ROOT_LIFETIME_S (20LL * 365 * 86400)
#define ISSUING_LIFETIME_S (10LL * 365 * 86400)
#define TLS_LIFETIME_S (365LL * 86400)

enum cert_kind {
	KIND_ROOT,
	KIND_ISSUING,
	KIND_OCSP,
	KIND_TLS,
	KIND_ADMIN_ROOT,
	KIND_OPERATOR,
	KIND_AUDIT
};

struct cert_spec {
	enum cert_kind kind;
	const char *ca_name; /* the CA this certificate is, or belongs to */
	const char *cn;
	EVP_PKEY *key;			/* subject key */
	const struct ca_signer *issuer; /* NULL: self-signed */
	int64_t lifetime_s;
	const char *san; /* TLS only */
};

static dt_code set_subject(X509 *x, const char *org, const char *cn, struct dt_error *err)
{
	X509_NAME *n = X509_get_subject_name(x);

	if (X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1,
				       0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1)
		return dt_fail(err, DT_ERR_CRYPTO, "cannot build the subject name %s", cn);
	return DT_OK;
}

static dt_code add_exts(struct dt_ctx *ctx, X509 *x, const struct cert_spec *s,
			struct dt_error *err)
{
	const X509 *iss = s->issuer ? ca_signer_cert(s->issuer) : x;
	const char *url = ctx->public_url;
	char aia[DT_MAX_URL_LEN * 2 + 64], cdp[DT_MAX_URL_LEN + 64];
	const char *parent = s->kind == KIND_ISSUING ? "root" : s->ca_name;
	dt_code rc;

	snprintf(aia, sizeof(aia), "OCSP;URI:%s/ocsp,caIssuers;URI:%s/ca/%s.crt", url, url, parent);
	snprintf(cdp, sizeof(cdp), "URI:%s/crl/%s.crl", url, parent);
	switch (s->kind) {
	case KIND_ROOT:
	case KIND_ISSUING:
	case KIND_ADMIN_ROOT:
		rc = ca_add_ext(x, iss, NID_basic_constraints,
				s->kind == KIND_ROOT ? "critical,CA:TRUE,pathlen:1"
						     : "critical,CA:TRUE,pathlen:0",
				err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign", err);
		break;
	case KIND_OCSP:
		rc = ca_add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_key_usage, "critical,digitalSignature", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_ext_key_usage, "OCSPSigning", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_id_pkix_OCSP_noCheck, "ignored", err);
		break;
	case KIND_OPERATOR:
		rc = ca_add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_key_usage, "critical,digitalSignature", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_ext_key_usage, "clientAuth", err);
		break;
	case KIND_AUDIT: /* signs audit checkpoints only: no EKU fits, none is set */
		rc = ca_add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_key_usage, "critical,digitalSignature", err);
		break;
	case KIND_TLS:
		rc = ca_add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_key_usage, "critical,digitalSignature", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_ext_key_usage, "serverAuth", err);
		if (rc == DT_OK)
			rc = ca_add_ext(x, iss, NID_subject_alt_name, s->san, err);
		break;
	default:
		rc = dt_fail(err, DT_ERR_INTERNAL, "unknown certificate kind");
	}
	if (rc == DT_OK)
		rc = ca_add_ext(x, iss, NID_subject_key_identifier, "hash", err);
	if (rc == DT_OK)
		rc = ca_add_ext(x, iss, NID_authority_key_identifier, "keyid:always", err);
	/* The Admin CA's certificates are checked against the store, not by revocation
	 * URLs: only the device hierarchy's carry them. */
	if (rc == DT_OK && (s->kind == KIND_ISSUING || s->kind == KIND_TLS))
		rc = ca_add_ext(x, iss, NID_info_access, aia, err);
	if (rc == DT_OK && (s->kind == KIND_ISSUING || s->kind == KIND_TLS))
		rc = ca_add_ext(x, iss, NID_crl_distribution_points, cdp, err);
	return rc;
}

static dt_code build_cert(struct dt_ctx *ctx, const struct cert_spec *s, X509 **out,
			  struct dt_error *err)
{
	X509 *x = NULL;
	ASN1_INTEGER *serial = NULL;
	char serial_hex[DT_SERIAL_HEX_BUF];
	int64_t now = dt_now(), not_after = now + s->lifetime_s;
	time_t now_t = (time_t)now;
	dt_code rc;

	*out = NULL;
	if (!(x = X509_new()) || X509_set_version(x, 2) != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot create a certificate");
		goto out;
	}
	if ((rc = ca_new_serial(&serial, serial_hex, err)) != DT_OK)
		goto out;
	if ((rc = set_subject(x, ctx->org, s->cn, err)) != DT_OK)
		goto out;
	if (s->issuer) {
		int64_t ca_end = ca_asn1_time(X509_get0_notAfter(ca_signer_cert(s->issuer)));
		if (ca_end && not_after > ca_end)
			not_after = ca_end;
	}
	if (X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(ca_signer_cert(s->issuer))
					      : X509_get_subject_name(x)) != 1 ||
	    !X509_time_adj_ex(X509_getm_notBefore(x), 0, -CA_BACKDATE_S, &now_t) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 0, (long)(not_after - now), &now_t) ||
	    X509_set_pubkey(x, s->key) != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot fill the certificate of %s", s->cn);
		goto out;
	}
	if ((rc = add_exts(ctx, x, s, err)) != DT_OK)
		goto out;
	rc = s->issuer ? ca_sign_cert(s->issuer, &x, err) : ca_sign_self(ctx, s->key, &x, err);
	if (rc != DT_OK)
		goto out;
	*out = x;
	x = NULL;
out:
	X509_free(x);
	ASN1_INTEGER_free(serial);
	return rc;
}

static dt_code der_into(const X509 *x, unsigned char *buf, size_t cap, size_t *len,
			struct dt_error *err)
{
	int n = i2d_X509(x, NULL);
	unsigned char *p = buf;

	if (n <= 0 || (size_t)n > cap)
		return dt_fail(err, DT_ERR_CRYPTO, "cannot encode a CA certificate");
	*len = (size_t)i2d_X509(x, &p);
	return DT_OK;
}

static void fill_info(struct store_ca *ca, const X509 *x, const char *name, const char *kind,
		      const char *parent)
{
	memset(&ca->info, 0, sizeof(ca->info));
	snprintf(ca->info.name, sizeof(ca->info.name), "%s", name);
	snprintf(ca->info.kind, sizeof(ca->info.kind), "%s", kind);
	snprintf(ca->info.parent, sizeof(ca->info.parent), "%s", parent);
	X509_NAME_oneline(X509_get_subject_name(x), ca->info.subject, sizeof(ca->info.subject));
	ca_fingerprint(x, ca->info.fingerprint);
	ca->info.not_before = ca_asn1_time(X509_get0_notBefore(x));
	ca->info.not_after = ca_asn1_time(X509_get0_notAfter(x));
}

dt_code ca_admin_build(struct dt_ctx *ctx, int root, const char *cn, EVP_PKEY *key,
		       const struct ca_signer *issuer, int64_t lifetime_s, X509 **out,
		       struct dt_error *err)
{
	struct cert_spec spec = {root ? KIND_ADMIN_ROOT : KIND_OPERATOR,
				 "admin",
				 cn,
				 key,
				 root ? NULL : issuer,
				 lifetime_s,
				 NULL};

	return build_cert(ctx, &spec, out, err);
}

dt_code ca_audit_key_build(struct dt_ctx *ctx, const struct ca_signer *root, EVP_PKEY *key,
			   int64_t lifetime_s, X509 **out, struct dt_error *err)
{
	struct cert_spec spec = {KIND_AUDIT, "root", "Audit Signer", key, root, lifetime_s, NULL};

	return build_cert(ctx, &spec, out, err);
}

dt_code ca_ocsp_signer_create(struct dt_ctx *ctx, const char *name, const struct ca_signer *issuer,
			      int64_t lifetime_s, int renewal, EVP_PKEY **key, X509 **cert,
			      char key_file[CA_KEY_FILE_BUF], struct dt_error *err)
{
	char cn[DT_MAX_FIELD_LEN + 32];
	struct cert_spec spec;
	dt_code rc;

	*cert = NULL;
	key_file[0] = '\0';
	if ((rc = ca_key_generate("P-256", key, err)) != DT_OK)
		return rc;
	snprintf(cn, sizeof(cn), "%s OCSP Signer", name);
	spec = (struct cert_spec){KIND_OCSP, name, cn, *key, issuer, lifetime_s, NULL};
	if ((rc = build_cert(ctx, &spec, cert, err)) != DT_OK)
		goto out;
	if (renewal)
		rc = ca_ocsp_renewed_key_file(name, *cert, key_file, CA_KEY_FILE_BUF, err);
	else
		snprintf(key_file, CA_KEY_FILE_BUF, "%s-ocsp.key", name);
	if (rc == DT_OK)
		rc = ca_key_save(ctx, key_file, *key, err);
out:
	if (rc != DT_OK) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
	}
	return rc;
}

/* The first delegated OCSP signer of a CA (the root or an issuing CA): key in
 * DATA/keys/<name>-ocsp.key, certificate into out->ocsp_cert. */
static dt_code create_ocsp_signer(struct dt_ctx *ctx, const char *name,
				  const struct ca_signer *issuer, int64_t lifetime_s,
				  struct store_ca *out, struct dt_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char file[CA_KEY_FILE_BUF];
	dt_code rc;

	if ((rc = ca_ocsp_signer_create(ctx, name, issuer, lifetime_s, 0, &key, &cert, file,
					err)) != DT_OK)
		return rc;
	rc = der_into(cert, out->ocsp_cert, sizeof(out->ocsp_cert), &out->ocsp_cert_len, err);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* Keys, certificate and OCSP signer of a new issuing CA; adopted into the keyring. */
static dt_code create_issuing(struct dt_ctx *ctx, const char *name, const struct ca_signer *root,
			      int64_t ocsp_lifetime_s, struct store_ca *out,
			      const struct ca_signer **signer, struct dt_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char cn[DT_ID_BUF + 32], file[DT_ID_BUF + 16];
	struct cert_spec spec;
	dt_code rc;

	/* With key isolation the signer process makes and keeps the key: key is its public half. */
	if ((rc = ca_key_generate_ca(ctx, "P-256", &key, err)) != DT_OK)
		goto out;
	snprintf(cn, sizeof(cn), "%s Issuing CA", name);
	spec = (struct cert_spec){KIND_ISSUING, name, cn, key, root, ISSUING_LIFETIME_S, NULL};
	if ((rc = build_cert(ctx, &spec, &cert, err)) != DT_OK)
		goto out;
	if ((rc = der_into(cert, out->cert, sizeof(out->cert), &out->cert_len, err)) != DT_OK)
		goto out;
	fill_info(out, cert, name, "issuing", "root");
	snprintf(file, sizeof(file), "%s.key", name);
	if ((rc = ca_key_save_ca(ctx, file, key, err)) != DT_OK)
		goto out;
	rc = ca_signer_adopt(ctx, name, key, cert, signer, err);
	key = NULL;
	cert = NULL;
	if (rc != DT_OK)
		goto out;
	rc = create_ocsp_signer(ctx, name, *signer, ocsp_lifetime_s, out, err);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* "DNS:localhost,IP:127.0.0.1" plus the host of the public URL. */
static void tls_san(const char *url, char *san, size_t cap)
{
	char host[DT_MAX_URL_LEN + 1];
	const char *p = strstr(url, "://");
	size_t n = 0;
	unsigned char bin[16];

	p = p ? p + 3 : url;
	if (*p == '[') {
		p++;
		while (p[n] && p[n] != ']' && n < sizeof(host) - 1)
			n++;
	} else {
		while (p[n] && p[n] != ':' && p[n] != '/' && n < sizeof(host) - 1)
			n++;
	}
	memcpy(host, p, n);
	host[n] = '\0';
	snprintf(san, cap, "DNS:localhost,IP:127.0.0.1");
	if (n == 0 || strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0)
		return;
	if (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1)
		snprintf(san + strlen(san), cap - strlen(san), ",IP:%s", host);
	else
		snprintf(san + strlen(san), cap - strlen(san), ",DNS:%s", host);
}

static dt_code write_chain_pem(const char *path, X509 *leaf, const X509 *ca, struct dt_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n;
	dt_code rc;

	if (!bio || PEM_write_bio_X509(bio, leaf) != 1 || PEM_write_bio_X509(bio, ca) != 1 ||
	    (n = BIO_get_mem_data(bio, &pem)) <= 0) {
		BIO_free(bio);
		return dt_fail(err, DT_ERR_CRYPTO, "cannot encode %s", path);
	}
	rc = dt_write_private_file(path, pem, (size_t)n, err);
	BIO_free(bio);
	return rc;
}

static dt_code create_tls(struct dt_ctx *ctx, const struct ca_signer *issuer, struct dt_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char san[DT_MAX_URL_LEN + 64], path[4096];
	struct cert_spec spec;
	dt_code rc;

	tls_san(ctx->public_url, san, sizeof(san));
	if ((rc = ca_key_generate("P-256", &key, err)) != DT_OK)
		goto out;
	spec = (struct cert_spec){KIND_TLS,	  "default", "devtrust server", key, issuer,
				  TLS_LIFETIME_S, san};
	if ((rc = build_cert(ctx, &spec, &cert, err)) != DT_OK)
		goto out;
	if ((rc = ca_key_save(ctx, "tls.key", key, err)) != DT_OK)
		goto out;
	if ((rc = dt_path(path, sizeof(path), ctx->data_dir, "tls/server.pem", err)) != DT_OK)
		goto out;
	rc = write_chain_pem(path, cert, ca_signer_cert(issuer), err);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

struct insert_job {
	struct store_ca *cas[2];
	int n;
	const char *actor;
	const char *action;
};

static dt_code insert_cas_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct insert_job *j = arg;
	dt_code rc;

	for (int i = 0; i < j->n; i++) {
		const struct dt_ca_info *ca = &j->cas[i]->info;

		if ((rc = txn->ops->ca_insert(txn, j->cas[i], err)) != DT_OK)
			return rc;
		if ((rc = audit_append_change(txn, j->actor, j->action, ca->name, "", json_null(),
					      json_pack("{s:s,s:s,s:s,s:s,s:I}", "kind", ca->kind,
							"parent", ca->parent, "subject",
							ca->subject, "fingerprint", ca->fingerprint,
							"not_after", (json_int_t)ca->not_after),
					      NULL, err)) != DT_OK)
			return rc;
	}
	return DT_OK;
}

dt_code ca_init_hierarchy(struct dt_ctx *ctx, int64_t ocsp_lifetime_s, struct dt_error *err)
{
	struct store_ca *root = NULL, *def = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	const struct ca_signer *root_signer = NULL, *def_signer = NULL;
	char cn[DT_MAX_FIELD_LEN + 16];
	struct cert_spec spec;
	struct insert_job job;
	dt_code rc;

	if ((rc = ca_ocsp_lifetime_check(&ocsp_lifetime_s, err)) != DT_OK)
		return rc;
	if (!(root = calloc(1, sizeof(*root))) || !(def = calloc(1, sizeof(*def)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = ca_key_generate_ca(ctx, "P-384", &key, err)) != DT_OK)
		goto out;
	snprintf(cn, sizeof(cn), "%s Root CA", ctx->org);
	spec = (struct cert_spec){KIND_ROOT, "root", cn, key, NULL, ROOT_LIFETIME_S, NULL};
	if ((rc = build_cert(ctx, &spec, &cert, err)) != DT_OK ||
	    (rc = der_into(cert, root->cert, sizeof(root->cert), &root->cert_len, err)) != DT_OK ||
	    (rc = ca_key_save_ca(ctx, "root.key", key, err)) != DT_OK)
		goto out;
	fill_info(root, cert, "root", "root", "");
	rc = ca_signer_adopt(ctx, "root", key, cert, &root_signer, err);
	key = NULL;
	cert = NULL;
	if (rc != DT_OK)
		goto out;
	/* The root answers OCSP for its issuing CAs through its own delegated signer, so
	 * relying parties that check the whole chain never need the root key online. */
	if ((rc = create_ocsp_signer(ctx, "root", root_signer, ocsp_lifetime_s, root, err)) !=
	    DT_OK)
		goto out;
	if ((rc = create_issuing(ctx, "default", root_signer, ocsp_lifetime_s, def, &def_signer,
				 err)) != DT_OK ||
	    (rc = create_tls(ctx, def_signer, err)) != DT_OK)
		goto out;
	job = (struct insert_job){{root, def}, 2, dt_actor(ctx), "ca.create"};
	rc = store_write(ctx->store, insert_cas_job, &job, err);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	free(root);
	free(def);
	return rc;
}

struct exists_job {
	const char *name;
	int exists;
	struct store_ca ca;
};

static dt_code exists_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct exists_job *j = arg;
	dt_code rc = txn->ops->ca_get(txn, j->name, &j->ca, err);

	j->exists = rc == DT_OK;
	if (rc == DT_ERR_NOT_FOUND) {
		dt_error_clear(err);
		return DT_OK;
	}
	return rc;
}

/* A key file with no CA row is left by a crash between the two: keep it aside. */
static dt_code set_aside_orphan(struct dt_ctx *ctx, const char *file, struct dt_error *err)
{
	char path[4096], aside[4200];
	dt_code rc;

	if ((rc = ca_key_path(ctx, file, path, sizeof(path), err)) != DT_OK)
		return rc;
	if (access(path, F_OK) != 0)
		return DT_OK;
	snprintf(aside, sizeof(aside), "%s.orphan-%lld", path, (long long)dt_now());
	if (rename(path, aside) != 0)
		return dt_fail(err, DT_ERR_IO, "cannot move the orphaned key %s aside: %s", path,
			       strerror(errno));
	fprintf(stderr, "devtrust: moved an orphaned key file aside to %s\n", aside);
	return DT_OK;
}

/* Undoes the key files of a CA whose creation failed (orphans were set aside first). */
static void remove_keys(struct dt_ctx *ctx, const char *name)
{
	static const char *const suffix[] = {".key", "-ocsp.key"};
	char file[CA_KEY_FILE_BUF], path[4096];

	for (size_t i = 0; i < 2; i++) {
		snprintf(file, sizeof(file), "%s%s", name, suffix[i]);
		if (ca_key_path(ctx, file, path, sizeof(path), NULL) == DT_OK)
			unlink(path);
	}
}

dt_code dt_ca_add(struct dt_ctx *ctx, const char *name, struct dt_error *err)
{
	return dt_ca_add_opts(ctx, name, NULL, err);
}

dt_code dt_ca_add_opts(struct dt_ctx *ctx, const char *name, const struct dt_ca_opts *o,
		       struct dt_error *err)
{
	struct exists_job *ex = NULL;
	struct store_ca *ca = NULL;
	const struct ca_signer *root = NULL, *signer = NULL;
	char file[CA_KEY_FILE_BUF];
	int64_t ocsp_lifetime_s = o ? o->ocsp_lifetime_s : 0;
	struct insert_job job;
	dt_code rc;

	if ((rc = dt_check_name("CA name", name, err)) != DT_OK)
		return rc;
	if ((rc = ca_ocsp_lifetime_check(&ocsp_lifetime_s, err)) != DT_OK)
		return rc;
	if (strlen(name) > DT_MAX_CA_NAME_LEN)
		return dt_fail(
		    err, DT_ERR_INVALID,
		    "CA name is %zu characters; the limit is %d (its CN \"<name> Issuing "
		    "CA\" must fit X.520's 64)",
		    strlen(name), DT_MAX_CA_NAME_LEN);
	if (strcmp(name, "root") == 0)
		return dt_fail(err, DT_ERR_INVALID, "'root' is reserved for the root CA");
	/* Key files are DATA/keys/<ca>.key and <ca>-ocsp.key beside tls.key and
	 * audit-<16 hex>.key: these names would take (and on failure delete) another key's
	 * file, and key isolation tells CA keys from the others by name (ca_key_file_is_ca). */
	if (strcmp(name, "tls") == 0 || strncmp(name, "audit-", 6) == 0 ||
	    (strlen(name) >= 5 && strcmp(name + strlen(name) - 5, "-ocsp") == 0))
		return dt_fail(err, DT_ERR_INVALID,
			       "CA name '%s' is reserved: 'tls', names starting with 'audit-' and "
			       "names ending in '-ocsp' would share a key file with the TLS key, "
			       "an audit key or an OCSP signer",
			       name);
	if (!(ex = calloc(1, sizeof(*ex))) || !(ca = calloc(1, sizeof(*ca)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	ex->name = name;
	if ((rc = store_read(ctx->store, exists_job, ex, err)) != DT_OK)
		goto out;
	if (ex->exists) {
		rc = dt_fail(err, DT_ERR_EXISTS, "a CA named '%s' already exists", name);
		goto out;
	}
	snprintf(file, sizeof(file), "%s.key", name);
	if ((rc = set_aside_orphan(ctx, file, err)) != DT_OK)
		goto out;
	snprintf(file, sizeof(file), "%s-ocsp.key", name);
	if ((rc = set_aside_orphan(ctx, file, err)) != DT_OK)
		goto out;
	if ((rc = ca_signer_get(ctx, "root", CA_USE_ISSUE, &root, err)) != DT_OK)
		goto out;
	if ((rc = create_issuing(ctx, name, root, ocsp_lifetime_s, ca, &signer, err)) != DT_OK) {
		remove_keys(ctx, name);
		goto out;
	}
	job = (struct insert_job){{ca, NULL}, 1, dt_actor(ctx), "ca.add"};
	rc = store_write(ctx->store, insert_cas_job, &job, err);
	if (rc != DT_OK)
		remove_keys(ctx, name);
out:
	free(ex);
	free(ca);
	return rc;
}

struct list_job {
	dt_ca_cb cb;
	void *arg;
};

static int list_one(void *arg, const struct store_ca *ca)
{
	struct list_job *j = arg;

	return j->cb(j->arg, &ca->info);
}

static dt_code list_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return txn->ops->ca_list(txn, list_one, arg, err);
}

dt_code dt_ca_list(struct dt_ctx *ctx, dt_ca_cb cb, void *arg, struct dt_error *err)
{
	struct list_job j = {cb, arg};

	return store_read(ctx->store, list_job, &j, err);
}

dt_code dt_ca_get(struct dt_ctx *ctx, const char *name, struct dt_ca_info *out,
		  struct dt_error *err)
{
	struct exists_job *ex = calloc(1, sizeof(*ex));
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if (!ex)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	ex->name = name;
	rc = store_read(ctx->store, exists_job, ex, err);
	if (rc == DT_OK && !ex->exists)
		rc = dt_fail(err, DT_ERR_NOT_FOUND, "no CA named '%s'", name);
	if (rc == DT_OK)
		*out = ex->ca.info;
	free(ex);
	return rc;
}

dt_code dt_ca_cert_der(struct dt_ctx *ctx, const char *name, unsigned char **der, size_t *len,
		       struct dt_error *err)
{
	struct exists_job *ex = calloc(1, sizeof(*ex));
	dt_code rc;

	*der = NULL;
	*len = 0;
	if (!ex)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	ex->name = name;
	rc = store_read(ctx->store, exists_job, ex, err);
	if (rc == DT_OK && !ex->exists)
		rc = dt_fail(err, DT_ERR_NOT_FOUND, "no CA named '%s'", name);
	if (rc == DT_OK && !(*der = OPENSSL_memdup(ex->ca.cert, ex->ca.cert_len)))
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if (rc == DT_OK)
		*len = ex->ca.cert_len;
	free(ex);
	return rc;
}
