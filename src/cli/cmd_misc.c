/*
 * devtrust crl and report (audit: cmd_audit.c).
 */
#include <openssl/crypto.h>
#include <string.h>

#include "cli/cli.h"

int cmd_crl(struct cli *c, int argc, char **argv)
{
	static const char usage[] = "devtrust crl --ca CA [--out FILE]";
	struct cli_args a;
	struct dt_error err;
	unsigned char *der = NULL;
	size_t len = 0;
	const char *out;
	int rc;

	if ((rc = cli_parse(argc, argv, "ca= out=", 0, 0, usage, &a)) != 0)
		return rc;
	if (!cli_opt(&a, "ca"))
		return cli_usage(usage, "--ca is required (an issuing CA, or root)");
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (dt_crl_generate(c->ctx, cli_opt(&a, "ca"), &der, &len, &err) != DT_OK)
		return cli_fail(c, &err);
	out = cli_opt(&a, "out");
	if (out)
		rc = cli_write_file(c, out, der, len);
	else
		rc = fwrite(der, 1, len, stdout) == len ? EXIT_OK : EXIT_REFUSED;
	OPENSSL_free(der);
	if (rc != EXIT_OK || !out)
		return rc;
	if (c->json) {
		struct dt_ca_info info;
		if (dt_ca_get(c->ctx, cli_opt(&a, "ca"), &info, &err) != DT_OK)
			return cli_fail(c, &err);
		cli_json_print(json_pack("{s:s,s:I,s:s,s:I}", "ca", info.name, "crl_number",
					 (json_int_t)info.crl_number, "out", out, "bytes",
					 (json_int_t)len));
	} else {
		printf("wrote the CRL of %s to %s (%zu bytes)\n", cli_opt(&a, "ca"), out, len);
	}
	return rc;
}

struct report_out {
	json_t *arr;
	long count;
};

static int print_finding(void *arg, const struct dt_finding *f)
{
	struct report_out *o = arg;
	char na[32];

	o->count++;
	cli_time(f->not_after, na, sizeof(na));
	if (o->arr)
		return json_array_append_new(
		    o->arr,
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "kind",
			      dt_finding_kind_name(f->kind), "device", f->device_id, "class",
			      f->class_name, "state", dt_state_name(f->state), "criticality",
			      dt_criticality_name(f->criticality), "serial", f->serial, "not_after",
			      f->not_after ? na : "", "detail", f->detail));
	printf("%-30s %-24s %-13s %-32s %s\n", dt_finding_kind_name(f->kind), f->device_id,
	       dt_criticality_name(f->criticality), f->serial[0] ? f->serial : "-", f->detail);
	return 0;
}

int cmd_report(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust report expiring [--within 30d] | drift | duplicates | weak | blast-radius | "
	    "clones | silent";
	struct cli_args a;
	struct dt_error err;
	struct report_out o = {NULL, 0};
	const char *kind;
	dt_code code;
	int rc;

	if (argc > 0 && cmd_report_is_verify(argv[0]))
		return cmd_report_verify(c, argc, argv);

	if ((rc = cli_parse(argc, argv, "within=", 1, 1, usage, &a)) != 0)
		return rc;
	kind = a.pos[0];
	if ((rc = cli_open(c)) != 0)
		return rc;
	o.arr = c->json ? json_array() : NULL;
	if (strcmp(kind, "expiring") == 0) {
		int64_t within = 30 * 86400;
		if (cli_opt(&a, "within") &&
		    dt_duration_parse(cli_opt(&a, "within"), &within, &err) != DT_OK) {
			json_decref(o.arr);
			return cli_fail(c, &err);
		}
		code = dt_report_expiring(c->ctx, within, print_finding, &o, &err);
	} else if (strcmp(kind, "drift") == 0) {
		code = dt_report_drift(c->ctx, print_finding, &o, &err);
	} else if (strcmp(kind, "duplicates") == 0) {
		code = dt_report_duplicates(c->ctx, print_finding, &o, &err);
	} else if (strcmp(kind, "weak") == 0) {
		code = dt_report_weak(c->ctx, print_finding, &o, &err);
	} else {
		json_decref(o.arr);
		return cli_usage(usage, "unknown report '%s'", kind);
	}
	if (code != DT_OK) {
		json_decref(o.arr);
		return cli_fail(c, &err);
	}
	if (o.arr)
		cli_json_print(o.arr);
	else if (o.count == 0)
		printf("no findings\n");
	return EXIT_OK;
}
