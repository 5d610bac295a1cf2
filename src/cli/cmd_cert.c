/*
 * devtrust cert: issue from a CSR, revoke (one, a class, a CA), list, show.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "cli/cli.h"
#include "core/limits.h"

/*
 * Writes a certificate: DER or PEM, to FILE or stdout; with --json the record
 * and its PEM. Used by issue and show.
 */
static int output_cert(struct cli *c, const unsigned char *der, size_t der_len,
		       const struct dt_cert_info *info, const char *out, int as_der,
		       const char *verb)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)der_len);
	BIO *bio = BIO_new(BIO_s_mem());
	struct dt_error err;
	char *pem = NULL;
	long pem_len = 0;
	int rc = EXIT_OK;

	if (!x || !bio || PEM_write_bio_X509(bio, x) != 1 ||
	    (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
		dt_fail(&err, DT_ERR_CRYPTO,
			"certificate %s is stored but cannot be encoded; fetch it with 'devtrust "
			"cert show %s --pem'",
			info->serial, info->serial);
		rc = cli_fail(c, &err);
		goto out;
	}
	if (out)
		rc = as_der ? cli_write_file(c, out, der, der_len)
			    : cli_write_file(c, out, pem, (size_t)pem_len);
	else if (as_der && !c->json)
		fwrite(der, 1, der_len, stdout);
	else if (!c->json)
		fwrite(pem, 1, (size_t)pem_len, stdout);
	if (rc != EXIT_OK)
		goto out;
	if (c->json) {
		json_t *o = api_cert_json(info);
		json_object_set_new(o, "pem", json_stringn(pem, (size_t)pem_len));
		cli_json_print(o);
	} else if (out) {
		printf("%s certificate %s for %s into %s\n", verb, info->serial, info->device_id,
		       out);
	}
out:
	X509_free(x);
	BIO_free(bio);
	return rc;
}

static int cert_issue(struct cli *c, const struct cli_args *a, const char *usage)
{
	const char *device = cli_opt(a, "device"), *csr_path = cli_opt(a, "csr");
	unsigned char *csr = NULL, *der = NULL;
	size_t csr_len = 0, der_len = 0;
	struct dt_cert_info info;
	struct dt_error err;
	int rc;

	if (!device || !csr_path)
		return cli_usage(usage, "cert issue needs --device ID and --csr FILE");
	if ((rc = cli_read_input(c, csr_path, DT_MAX_CSR_BYTES, "CSR", &csr, &csr_len)) != 0)
		return rc;
	rc = dt_cert_issue(c->ctx, device, csr, csr_len, NULL, &der, &der_len, &info, &err);
	free(csr);
	if (rc != DT_OK)
		return cli_fail(c, &err);
	rc = output_cert(c, der, der_len, &info, cli_opt(a, "out"), cli_flag(a, "der"), "issued");
	OPENSSL_free(der);
	return rc;
}

static int cert_show(struct cli *c, const struct cli_args *a)
{
	struct dt_cert_info ci;
	struct dt_error err;
	unsigned char *der = NULL;
	size_t len = 0;
	int rc;

	if (dt_cert_get(c->ctx, a->pos[1], &ci, &err) != DT_OK)
		return cli_fail(c, &err);
	if (!cli_flag(a, "pem") && !cli_flag(a, "der") && !cli_opt(a, "out")) {
		cli_json_print(api_cert_json(&ci));
		return EXIT_OK;
	}
	if (dt_cert_der(c->ctx, a->pos[1], &der, &len, &err) != DT_OK)
		return cli_fail(c, &err);
	rc = output_cert(c, der, len, &ci, cli_opt(a, "out"), cli_flag(a, "der"), "wrote");
	OPENSSL_free(der);
	return rc;
}

static int cert_revoke(struct cli *c, const struct cli_args *a, const char *usage)
{
	const char *rs = cli_opt(a, "reason"), *why = cli_opt(a, "why");
	const char *cls = cli_opt(a, "class"), *ca = cli_opt(a, "ca");
	struct dt_error err;
	int64_t n = 0;
	int reason;

	if (!rs)
		return cli_usage(usage, "--reason is required (RFC 5280 section 5.3.1)");
	if ((reason = dt_reason_parse(rs)) < 0)
		return cli_usage(usage, "unknown reason '%s'", rs);
	if ((a->npos == 2) + !!cls + !!ca != 1)
		return cli_usage(usage, "revoke one of: SERIAL, --class C or --ca CA");
	if (a->npos == 2) {
		if (dt_cert_revoke(c->ctx, a->pos[1], reason, why, &err) != DT_OK)
			return cli_fail(c, &err);
		n = 1;
	} else if (dt_cert_revoke_all(c->ctx, cls ? DT_SCOPE_CLASS : DT_SCOPE_CA, cls ? cls : ca,
				      reason, why, &n, &err) != DT_OK) {
		return cli_fail(c, &err);
	}
	if (c->json)
		cli_json_print(json_pack("{s:I,s:s}", "revoked", (json_int_t)n, "reason",
					 dt_reason_name(reason)));
	else
		printf("revoked %lld certificate%s (%s)\n", (long long)n, n == 1 ? "" : "s",
		       dt_reason_name(reason));
	return EXIT_OK;
}

static int list_one(void *arg, const struct dt_cert_info *ci)
{
	json_t *arr = arg;
	char na[32];

	if (arr)
		return json_array_append_new(arr, api_cert_json(ci));
	cli_time(ci->not_after, na, sizeof(na));
	printf("%s %-24s %-16s %-8s %-9s %s\n", ci->serial, ci->device_id, ci->ca,
	       dt_key_type_name(ci->key_type), dt_cert_status_name(ci->status), na);
	return 0;
}

int cmd_cert(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust cert issue --device ID --csr FILE [--out FILE] [--der]"
	    "\n       devtrust cert revoke SERIAL|--class C|--ca CA --reason REASON [--why TEXT]"
	    "\n       devtrust cert list [--device ID] [--ca CA] [--class C] [--status S]"
	    "\n       devtrust cert show SERIAL [--pem|--der] [--out FILE]";
	struct cli_args a;
	struct dt_error err;
	int rc;

	if ((rc = cli_parse(argc, argv, "device= csr= out= der pem reason= why= class= ca= status=",
			    1, 2, usage, &a)) != 0)
		return rc;
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (strcmp(a.pos[0], "issue") == 0)
		return cert_issue(c, &a, usage);
	if (strcmp(a.pos[0], "revoke") == 0)
		return cert_revoke(c, &a, usage);
	if (strcmp(a.pos[0], "list") == 0) {
		struct dt_cert_filter f = {.device_id = cli_opt(&a, "device"),
					   .ca = cli_opt(&a, "ca"),
					   .class_name = cli_opt(&a, "class"),
					   .status = -1};
		const char *st = cli_opt(&a, "status");
		json_t *arr;

		if (st) {
			for (f.status = DT_CERT_VALID; f.status <= DT_CERT_REVOKED; f.status++)
				if (strcmp(st, dt_cert_status_name(f.status)) == 0)
					break;
			if (f.status > DT_CERT_REVOKED)
				return cli_usage(usage, "--status is valid, on-hold or revoked");
		}
		arr = c->json ? json_array() : NULL;
		if (dt_cert_list(c->ctx, &f, list_one, arr, &err) != DT_OK) {
			json_decref(arr);
			return cli_fail(c, &err);
		}
		if (arr)
			cli_json_print(arr);
		return EXIT_OK;
	}
	if (strcmp(a.pos[0], "show") == 0 && a.npos == 2)
		return cert_show(c, &a);
	return cli_usage(usage, "unknown cert command '%s'", a.pos[0]);
}
