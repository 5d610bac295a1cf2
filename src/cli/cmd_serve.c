/*
 * devtrust serve: the EST, OCSP and CRL server on the data dir.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "http/http.h"

int cmd_serve(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust serve [--listen ADDR:PORT] [--listen-http ADDR:PORT] [--workers N] "
	    "[--issue-threads N] [--max-connections N] [--request-timeout SECONDS] "
	    "[--no-key-isolation] [--user USER [--signer-user USER]]";
	struct cli_args a;
	struct http_config cfg;
	struct dt_open_opts o = {c->data_dir, c->passphrase_file, c->actor, 1};
	struct dt_error err;
	const char *v;
	int rc;

	if ((rc = cli_parse(argc, argv,
			    "listen= listen-http= workers= issue-threads= max-connections= "
			    "request-timeout= no-key-isolation key-signer= key-launcher= user= "
			    "signer-user=",
			    0, 0, usage, &a)) != 0)
		return rc;
	/* Internal: the CA key signer process the server starts (key isolation), and the
	 * launcher that starts it under a user of its own (privilege separation). */
	if ((v = cli_opt(&a, "key-signer")))
		return http_key_signer(c->data_dir, c->passphrase_file, atoi(v));
	if ((v = cli_opt(&a, "key-launcher")))
		return http_key_launcher(c->data_dir, c->passphrase_file, v);
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.https_addr, sizeof(cfg.https_addr), "%s",
		 cli_opt(&a, "listen") ? cli_opt(&a, "listen") : "127.0.0.1:8443");
	snprintf(cfg.http_addr, sizeof(cfg.http_addr), "%s",
		 cli_opt(&a, "listen-http") ? cli_opt(&a, "listen-http") : "127.0.0.1:8080");
	if ((v = cli_opt(&a, "workers")) && ((cfg.workers = atoi(v)) < 1 || cfg.workers > 64))
		return cli_usage(usage, "--workers takes 1 to 64");
	if ((v = cli_opt(&a, "issue-threads")) &&
	    ((cfg.issue_threads = atoi(v)) < 1 || cfg.issue_threads > 256))
		return cli_usage(usage, "--issue-threads takes 1 to 256");
	if ((v = cli_opt(&a, "max-connections")) &&
	    ((cfg.max_connections = atoi(v)) < 1 || cfg.max_connections > 1000000))
		return cli_usage(usage, "--max-connections takes 1 to 1000000");
	if ((v = cli_opt(&a, "request-timeout")) &&
	    ((cfg.request_timeout_s = atoi(v)) < 1 ||
	     cfg.request_timeout_s > HTTP_REQUEST_TIMEOUT_MAX_S))
		return cli_usage(usage, "--request-timeout takes 1 to %d seconds",
				 HTTP_REQUEST_TIMEOUT_MAX_S);
	cfg.no_key_isolation = cli_flag(&a, "no-key-isolation");
	if (cli_opt(&a, "signer-user") && !cli_opt(&a, "user"))
		return cli_usage(usage, "--signer-user needs --user");
	if (cli_opt(&a, "signer-user") && cfg.no_key_isolation)
		return cli_usage(usage, "--signer-user needs key isolation");
	/* Before the store is opened: from here on this process is --user. Root without it
	 * on a data dir given to other users would follow paths they control. */
	if ((cli_opt(&a, "user")
		 ? http_privsep(c->data_dir, c->passphrase_file, cli_opt(&a, "user"),
				cli_opt(&a, "signer-user"), &err)
		 : http_privsep_refuse_root(c->data_dir, &err)) != DT_OK)
		return cli_fail(c, &err);
	/* The server's store batches concurrent issuances into one commit. */
	if (dt_open(&o, &c->ctx, &err) != DT_OK || http_serve(c->ctx, &cfg, &err) != DT_OK)
		return cli_fail(c, &err);
	return EXIT_OK;
}
