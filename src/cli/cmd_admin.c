/*
 * devtrust admin: who may use the admin API. Operator client certificates of
 * the Admin CA (key and certificate files, or a PKCS#12) and bearer tokens,
 * each with a role and, for a vendor, one manufacturer and a maintenance
 * window; list and revoke them.
 */
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/json.h"
#include "cli/cli.h"
#include "core/core.h"

/* DIR/NAME.key (0600, never overwritten) and DIR/NAME.pem. */
static int write_pem_pair(struct cli *c, const char *dir, const char *name, const char *key,
			  const char *cert)
{
	char path[4096];
	struct dt_error err;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.key", dir, name) >= sizeof(path)) {
		dt_fail(&err, DT_ERR_INVALID, "--out path too long");
		return cli_fail(c, &err);
	}
	if (dt_write_private_file(path, key, strlen(key), &err) != DT_OK)
		return cli_fail(c, &err);
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if ((rc = cli_write_file(c, path, cert, strlen(cert))) != 0)
		return rc;
	return 0;
}

/* A PKCS#12 of key and certificate chain, protected with the first line of pass_file. */
static int write_p12(struct cli *c, const char *file, const char *pass_file, const char *name,
		     const char *key_pem, const char *cert_pem)
{
	unsigned char *raw = NULL, *der = NULL;
	size_t raw_len = 0;
	char pass[1025];
	BIO *kb = BIO_new_mem_buf(key_pem, -1), *cb = BIO_new_mem_buf(cert_pem, -1);
	EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL, *ca = NULL;
	STACK_OF(X509) *cas = sk_X509_new_null();
	PKCS12 *p12 = NULL;
	struct dt_error err;
	int rc = EXIT_REFUSED, n;

	memset(pass, 0, sizeof(pass));
	if ((rc = cli_read_input(c, pass_file, 1024, "PKCS#12 passphrase", &raw, &raw_len)) != 0)
		goto out;
	rc = EXIT_REFUSED;
	memcpy(pass, raw, raw_len < sizeof(pass) - 1 ? raw_len : sizeof(pass) - 1);
	pass[strcspn(pass, "\r\n")] = '\0';
	if (strlen(pass) < 8) {
		dt_fail(&err, DT_ERR_INVALID, "the PKCS#12 passphrase needs at least 8 characters");
		rc = cli_fail(c, &err);
		goto out;
	}
	if (cb && (ca = PEM_read_bio_X509(cb, NULL, NULL, NULL)) && cas && sk_X509_push(cas, ca))
		ca = NULL;
	if (!key || !cert || !(p12 = PKCS12_create(pass, name, key, cert, cas, 0, 0, 0, 0, 0)) ||
	    (n = i2d_PKCS12(p12, &der)) <= 0) {
		dt_fail(&err, DT_ERR_CRYPTO, "cannot build the PKCS#12");
		rc = cli_fail(c, &err);
		goto out;
	}
	if (dt_write_private_file(file, der, (size_t)n, &err) != DT_OK)
		rc = cli_fail(c, &err);
	else
		rc = 0;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	if (raw) {
		OPENSSL_cleanse(raw, raw_len);
		free(raw);
	}
	OPENSSL_free(der);
	PKCS12_free(p12);
	BIO_free(kb);
	BIO_free(cb);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

static int admin_add(struct cli *c, const struct cli_args *a, const char *usage)
{
	struct dt_admin_opts o = {a->pos[1], DT_ROLE_ADMIN, cli_opt(a, "manufacturer"), 0};
	const char *role = cli_opt(a, "role"), *exp = cli_opt(a, "expires");
	const char *out = cli_opt(a, "out"), *p12 = cli_opt(a, "p12");
	struct dt_admin_cred cr;
	struct dt_error err;
	char token[DT_ADMIN_TOKEN_BUF], na[32], *key = NULL, *cert = NULL;
	int r, rc = 0;

	if (!role || (r = dt_role_parse(role)) < 0)
		return cli_usage(usage, "--role is one of admin, operator, auditor, vendor");
	o.role = (enum dt_role)r;
	if (exp && dt_duration_parse(exp, &o.lifetime_s, &err) != DT_OK)
		return cli_usage(usage, "%s", err.msg);
	if (!cli_flag(a, "token") && !out && !p12)
		return cli_usage(usage, "say where the credential goes: --out DIR (key and "
					"certificate), --p12 FILE, or --token");
	if (p12 && !cli_opt(a, "p12-pass-file"))
		return cli_usage(usage, "--p12 needs --p12-pass-file");
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (cli_flag(a, "token")) {
		if (dt_admin_add_token(c->ctx, &o, token, &cr, &err) != DT_OK)
			return cli_fail(c, &err);
	} else if (dt_admin_add_cert(c->ctx, &o, &key, &cert, &cr, &err) != DT_OK) {
		return cli_fail(c, &err);
	} else {
		if (out)
			rc = write_pem_pair(c, out, cr.name, key, cert);
		if (rc == 0 && p12)
			rc = write_p12(c, p12, cli_opt(a, "p12-pass-file"), cr.name, key, cert);
		OPENSSL_cleanse(key, strlen(key));
		free(key);
		free(cert);
		if (rc != 0)
			return rc;
	}
	cli_time(cr.not_after, na, sizeof(na));
	if (c->json) {
		json_t *j = api_cred_json(&cr);
		if (cr.kind == DT_CRED_TOKEN)
			json_object_set_new(j, "token", json_string(token));
		cli_json_print(j);
	} else {
		printf("added %s credential %s for %s (role %s%s%s, until %s)\n",
		       cr.kind == DT_CRED_TOKEN ? "token" : "certificate", cr.id, cr.name,
		       dt_role_name(cr.role), cr.manufacturer[0] ? ", manufacturer " : "",
		       cr.manufacturer, na);
		if (cr.kind == DT_CRED_TOKEN)
			printf("API token (shown once): %s\n", token);
		else if (out)
			printf("wrote %s/%s.key and %s/%s.pem\n", out, cr.name, out, cr.name);
	}
	OPENSSL_cleanse(token, sizeof(token));
	return EXIT_OK;
}

static int print_cred(void *arg, const struct dt_admin_cred *cr)
{
	char na[32];

	if (arg)
		return json_array_append_new(arg, api_cred_json(cr));
	cli_time(cr->not_after, na, sizeof(na));
	printf("%-32s %-11s %-20s %-8s %-16s until %s%s\n", cr->id,
	       cr->kind == DT_CRED_TOKEN ? "token" : "certificate", cr->name,
	       dt_role_name(cr->role), cr->manufacturer[0] ? cr->manufacturer : "-", na,
	       cr->revoked_at			      ? " REVOKED"
	       : cr->not_after <= (int64_t)time(NULL) ? " expired"
						      : "");
	return 0;
}

int cmd_admin(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust admin add NAME --role admin|operator|auditor|vendor [--manufacturer M] "
	    "[--expires 8h] (--out DIR | --p12 FILE --p12-pass-file F | --token) | "
	    "list [--name NAME] | revoke NAME|ID | ca";
	struct cli_args a;
	struct dt_error err;
	json_t *arr;
	int rc;

	if ((rc = cli_parse(argc, argv,
			    "role= manufacturer= expires= out= p12= p12-pass-file= token name=", 1,
			    2, usage, &a)) != 0)
		return rc;
	if (strcmp(a.pos[0], "add") == 0) {
		if (a.npos != 2)
			return cli_usage(usage, "admin add needs the operator's name");
		return admin_add(c, &a, usage);
	}
	if (strcmp(a.pos[0], "revoke") == 0) {
		int64_t n = 0;
		if (a.npos != 2)
			return cli_usage(usage, "admin revoke needs a name or a credential id");
		if ((rc = cli_open(c)) != 0)
			return rc;
		if (dt_admin_revoke(c->ctx, a.pos[1], &n, &err) != DT_OK)
			return cli_fail(c, &err);
		if (c->json)
			cli_json_print(json_pack("{s:I}", "revoked", (json_int_t)n));
		else
			printf("revoked %lld credential%s of %s\n", (long long)n, n == 1 ? "" : "s",
			       a.pos[1]);
		return EXIT_OK;
	}
	if (strcmp(a.pos[0], "ca") == 0) {
		char *pem = NULL;
		if ((rc = cli_open(c)) != 0)
			return rc;
		if (dt_admin_ca_pem(c->ctx, &pem, &err) != DT_OK)
			return cli_fail(c, &err);
		fputs(pem, stdout);
		free(pem);
		return EXIT_OK;
	}
	if (strcmp(a.pos[0], "list") != 0)
		return cli_usage(usage, "unknown admin command '%s'", a.pos[0]);
	if ((rc = cli_open(c)) != 0)
		return rc;
	arr = c->json ? json_array() : NULL;
	if (dt_admin_list(c->ctx, cli_opt(&a, "name"), print_cred, arr, &err) != DT_OK) {
		json_decref(arr);
		return cli_fail(c, &err);
	}
	if (arr)
		cli_json_print(arr);
	return EXIT_OK;
}
