/*
 * devtrust init: create a data dir with its store and CA hierarchy.
 */
#include <string.h>

#include "cli/cli.h"

int cmd_init(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust init --org ORG [--public-url URL] [--ocsp-lifetime D]";
	struct cli_args a;
	struct dt_init_opts o;
	struct dt_error err;
	struct dt_ca_info root, def;
	int rc;

	if ((rc = cli_parse(argc, argv, "org= public-url= ocsp-lifetime=", 0, 0, usage, &a)) != 0)
		return rc;
	if (!cli_opt(&a, "org"))
		return cli_usage(usage, "--org is required");
	memset(&o, 0, sizeof(o));
	o.data_dir = c->data_dir;
	o.org = cli_opt(&a, "org");
	o.public_url = cli_opt(&a, "public-url");
	o.passphrase_file = c->passphrase_file;
	o.actor = c->actor;
	if (cli_opt(&a, "ocsp-lifetime") &&
	    dt_duration_parse(cli_opt(&a, "ocsp-lifetime"), &o.ocsp_lifetime_s, &err) != DT_OK)
		return cli_fail(c, &err);
	if (dt_init(&o, &err) != DT_OK)
		return cli_fail(c, &err);
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (dt_ca_get(c->ctx, "root", &root, &err) != DT_OK ||
	    dt_ca_get(c->ctx, "default", &def, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json) {
		cli_json_print(json_pack(
		    "{s:s,s:s,s:s,s:{s:s},s:{s:s},s:b,s:s}", "data_dir", c->data_dir, "org",
		    dt_org(c->ctx), "public_url", dt_public_url(c->ctx), "root", "fingerprint",
		    root.fingerprint, "default_ca", "fingerprint", def.fingerprint,
		    "passphrase_generated", o.generated_passphrase, "passphrase_file",
		    o.generated_passphrase ? "secrets/passphrase" : ""));
		return EXIT_OK;
	}
	printf("initialised %s for org %s\n", c->data_dir, dt_org(c->ctx));
	printf("  public URL     %s\n", dt_public_url(c->ctx));
	printf("  root CA        sha256 %s\n", root.fingerprint);
	printf("  issuing CA     default, sha256 %s\n", def.fingerprint);
	if (o.generated_passphrase)
		printf(
		    "  CA keys are encrypted with a generated passphrase in %s/secrets/passphrase "
		    "(0600):\n  keep a copy off this machine, or move it into your secret store "
		    "and use DEVTRUST_PASSPHRASE\n",
		    c->data_dir);
	return EXIT_OK;
}
