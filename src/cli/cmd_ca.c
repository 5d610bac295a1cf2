/*
 * devtrust ca: issuing CAs (add, list, show, cert, revoke) and the renewal of
 * their delegated OCSP signers (renew-ocsp).
 */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <time.h>

#include "api/json.h"
#include "cli/cli.h"

/* The CA as JSON, with its OCSP signer when it has one. */
static json_t *ca_show_json(struct cli *c, const struct dt_ca_info *ca)
{
	struct dt_ocsp_signer_info s;
	struct dt_error err;
	json_t *o = api_ca_json(ca);

	if (o && dt_ca_ocsp_signer(c->ctx, ca->name, &s, &err) == DT_OK)
		json_object_set_new(o, "ocsp_signer", api_signer_json(&s));
	return o;
}

/* ca renew-ocsp NAME [--ocsp-lifetime D] [--if-due] */
static int ca_renew_ocsp(struct cli *c, const struct cli_args *a)
{
	struct dt_ocsp_signer_info s;
	struct dt_error err;
	int64_t lifetime = 0;
	const char *v = cli_opt(a, "ocsp-lifetime");
	char na[32], ra[32];

	if (v && dt_duration_parse(v, &lifetime, &err) != DT_OK)
		return cli_fail(c, &err);
	if (cli_flag(a, "if-due") && dt_ca_ocsp_signer(c->ctx, a->pos[1], &s, &err) == DT_OK &&
	    (s.renew_at == 0 || s.renew_at > (int64_t)time(NULL))) {
		if (c->json) {
			json_t *o = api_signer_json(&s);
			json_object_set_new(o, "renewed", json_false());
			cli_json_print(o);
		} else if (s.renew_at == 0) {
			printf("the OCSP signer of CA %s ends with its CA and cannot be renewed\n",
			       s.ca);
		} else {
			cli_time(s.renew_at, ra, sizeof(ra));
			printf("the OCSP signer of CA %s is not due before %s\n", s.ca, ra);
		}
		return EXIT_OK;
	}
	if (dt_ca_ocsp_renew(c->ctx, a->pos[1], lifetime, &s, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json) {
		json_t *o = api_signer_json(&s);
		json_object_set_new(o, "renewed", json_true());
		cli_json_print(o);
		return EXIT_OK;
	}
	cli_time(s.not_after, na, sizeof(na));
	cli_time(s.renew_at, ra, sizeof(ra));
	printf("renewed the OCSP signer of CA %s: serial %s, valid until %s (renew after %s)\n",
	       s.ca, s.serial, na, ra);
	return EXIT_OK;
}

static int list_one(void *arg, const struct dt_ca_info *ca)
{
	json_t *arr = arg;
	char na[32];

	if (arr)
		return json_array_append_new(arr, api_ca_json(ca));
	cli_time(ca->not_after, na, sizeof(na));
	printf("%-20s %-8s %-8s %s  %.16s...\n", ca->name, ca->kind,
	       ca->revoked ? "revoked" : "valid", na, ca->fingerprint);
	return 0;
}

static int ca_cert(struct cli *c, const struct cli_args *a)
{
	unsigned char *der = NULL;
	size_t len = 0;
	struct dt_error err;
	const char *out = cli_opt(a, "out");
	int rc = EXIT_OK;

	if (dt_ca_cert_der(c->ctx, a->pos[1], &der, &len, &err) != DT_OK)
		return cli_fail(c, &err);
	if (cli_flag(a, "der")) {
		if (out)
			rc = cli_write_file(c, out, der, len);
		else
			fwrite(der, 1, len, stdout);
	} else {
		const unsigned char *p = der;
		X509 *x = d2i_X509(NULL, &p, (long)len);
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem = NULL;
		long n = 0;

		if (x && bio && PEM_write_bio_X509(bio, x) == 1)
			n = BIO_get_mem_data(bio, &pem);
		if (n <= 0) {
			dt_fail(&err, DT_ERR_CRYPTO, "cannot encode the CA certificate");
			rc = cli_fail(c, &err);
		} else if (out) {
			rc = cli_write_file(c, out, pem, (size_t)n);
		} else if (c->json) {
			cli_json_print(
			    json_pack("{s:s,s:s%}", "name", a->pos[1], "pem", pem, (size_t)n));
		} else {
			fwrite(pem, 1, (size_t)n, stdout);
		}
		X509_free(x);
		BIO_free(bio);
	}
	OPENSSL_free(der);
	return rc;
}

int cmd_ca(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust ca add NAME [--ocsp-lifetime D] | list | show NAME | cert NAME [--der] "
	    "[--out FILE] | revoke NAME --reason REASON | renew-ocsp NAME [--ocsp-lifetime D] "
	    "[--if-due]";
	struct cli_args a;
	struct dt_error err;
	struct dt_ca_info info;
	const char *verb;
	int rc;

	if ((rc = cli_parse(argc, argv, "der out= reason= ocsp-lifetime= if-due", 1, 2, usage,
			    &a)) != 0)
		return rc;
	verb = a.pos[0];
	if (strcmp(verb, "list") != 0 && a.npos != 2)
		return cli_usage(usage, "ca %s needs a CA name", verb);
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (strcmp(verb, "add") == 0) {
		struct dt_ca_opts o = {0};
		const char *v = cli_opt(&a, "ocsp-lifetime");

		if (v && dt_duration_parse(v, &o.ocsp_lifetime_s, &err) != DT_OK)
			return cli_fail(c, &err);
		if (dt_ca_add_opts(c->ctx, a.pos[1], &o, &err) != DT_OK ||
		    dt_ca_get(c->ctx, a.pos[1], &info, &err) != DT_OK)
			return cli_fail(c, &err);
		if (c->json)
			cli_json_print(api_ca_json(&info));
		else
			printf("added issuing CA %s (sha256 %s)\n", info.name, info.fingerprint);
		return EXIT_OK;
	}
	if (strcmp(verb, "list") == 0) {
		json_t *arr = c->json ? json_array() : NULL;
		if (dt_ca_list(c->ctx, list_one, arr, &err) != DT_OK) {
			json_decref(arr);
			return cli_fail(c, &err);
		}
		if (arr)
			cli_json_print(arr);
		return EXIT_OK;
	}
	if (strcmp(verb, "show") == 0) {
		if (dt_ca_get(c->ctx, a.pos[1], &info, &err) != DT_OK)
			return cli_fail(c, &err);
		cli_json_print(ca_show_json(c, &info));
		return EXIT_OK;
	}
	if (strcmp(verb, "cert") == 0)
		return ca_cert(c, &a);
	if (strcmp(verb, "renew-ocsp") == 0)
		return ca_renew_ocsp(c, &a);
	if (strcmp(verb, "revoke") == 0) {
		int reason = dt_reason_parse(cli_opt(&a, "reason"));
		if (!cli_opt(&a, "reason"))
			return cli_usage(usage, "--reason is required");
		if (reason < 0)
			return cli_usage(usage, "unknown reason '%s'", cli_opt(&a, "reason"));
		if (dt_ca_revoke(c->ctx, a.pos[1], reason, &err) != DT_OK)
			return cli_fail(c, &err);
		if (c->json)
			cli_json_print(json_pack("{s:s,s:b}", "name", a.pos[1], "revoked", 1));
		else
			printf("revoked issuing CA %s (%s); regenerate the root CRL with "
			       "'devtrust crl --ca root'\n",
			       a.pos[1], dt_reason_name(reason));
		return EXIT_OK;
	}
	return cli_usage(usage, "unknown ca command '%s'", verb);
}
