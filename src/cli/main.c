/*
 * devtrust: the command line. Global options may stand anywhere; the first
 * word names the noun, the rest goes to that noun's command file.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define VERSION "0.1.0"

static const char usage_text[] =
    "usage: devtrust [--data DIR] [--json] [--passphrase-file FILE] [--actor NAME] COMMAND\n"
    "\n"
    "  init --org ORG [--public-url URL]       create a data dir and its CA hierarchy\n"
    "  ca add|list|show|cert|revoke ...         issuing CAs\n"
    "  ca renew-ocsp CA [--if-due]              renew a CA's delegated OCSP signer\n"
    "  class add|list|show ...                  device class profiles\n"
    "  device add|import|list|show|token ...    inventory\n"
    "  device suspend|resume|retire|compromised ID [--reason TEXT]\n"
    "  cert issue|revoke|list|show ...          certificates\n"
    "  crl --ca CA [--out FILE]                 generate a CRL (DER)\n"
    "  report expiring|drift|duplicates|weak    findings\n"
    "  report blast-radius|clones|silent        what a compromise reaches; clones; silent devices\n"
    "  policy allow|remove|list|clone ...       which class may use which service and route\n"
    "  verify CERT --service S [--path P]       the backend decision /authz gives\n"
    "  audit verify|list|checkpoint|export      the hash-chained, signed audit log\n"
    "  manufacturer add|list ...                IDevID trust anchors of device makers\n"
    "  admin add|list|revoke|ca ...             admin API credentials (roles, vendors)\n"
    "  serve [--listen ADDR:PORT] [--listen-http ADDR:PORT]   EST, OCSP, CRLs over HTTP(S)\n"
    "  version\n"
    "\n"
    "Data dir: --data, else $DEVTRUST_DATA, else ./devtrust-data.\n"
    "Exit status: 0 success, 1 refused, 2 usage. See devtrust(8).\n";

/* Removes the global options from argv, wherever they stand. */
static int take_globals(struct cli *c, int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;

		if (strcmp(a, "--json") == 0) {
			c->json = 1;
			continue;
		}
		static const struct {
			const char *name;
			size_t off;
		} globals[] = {{"--data", offsetof(struct cli, data_dir)},
			       {"--passphrase-file", offsetof(struct cli, passphrase_file)},
			       {"--actor", offsetof(struct cli, actor)}};
		for (size_t g = 0; g < sizeof(globals) / sizeof(globals[0]); g++) {
			size_t n = strlen(globals[g].name);
			if (strncmp(a, globals[g].name, n) != 0)
				continue;
			dst = (const char **)((char *)c + globals[g].off);
			if (a[n] == '=') {
				*dst = a + n + 1;
				a = NULL;
			} else if (a[n] != '\0') {
				dst = NULL;
			}
			break;
		}
		if (dst && !a)
			continue;
		if (dst) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "devtrust: %s needs a value\n", a);
				return EXIT_USAGE;
			}
			*dst = argv[++i];
			continue;
		}
		argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *noun;
		int (*fn)(struct cli *, int, char **);
	} nouns[] = {
	    {"init", cmd_init},	    {"ca", cmd_ca},	    {"class", cmd_class},
	    {"device", cmd_device}, {"cert", cmd_cert},	    {"crl", cmd_crl},
	    {"report", cmd_report}, {"audit", cmd_audit},   {"manufacturer", cmd_manufacturer},
	    {"serve", cmd_serve},   {"policy", cmd_policy}, {"verify", cmd_verify},
	    {"admin", cmd_admin},
	};
	struct cli c;
	const char *env = getenv("DEVTRUST_DATA");
	int rc;

	memset(&c, 0, sizeof(c));
	c.prog = argv[0];
	c.data_dir = env && *env ? env : "./devtrust-data";
	if ((rc = take_globals(&c, &argc, argv)) != 0)
		return rc;
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("devtrust %s\n", VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(nouns) / sizeof(nouns[0]); i++) {
		if (strcmp(argv[1], nouns[i].noun) == 0) {
			rc = nouns[i].fn(&c, argc - 2, argv + 2);
			/* The server writes its own; audit commands write theirs or none. */
			if (rc == EXIT_OK && strcmp(nouns[i].noun, "audit") != 0 &&
			    strcmp(nouns[i].noun, "serve") != 0)
				cmd_audit_after(&c);
			dt_close(c.ctx);
			return rc;
		}
	}
	fprintf(stderr, "devtrust: unknown command '%s'\n%s", argv[1], usage_text);
	return EXIT_USAGE;
}
