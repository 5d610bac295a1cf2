/*
 * devtrust serve: the EST, OCSP and CRL server.
 */
#include "cli/cli.h"

int cmd_serve(struct cli *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	return cli_usage("devtrust serve [--listen ADDR:PORT] [--listen-http ADDR:PORT]",
			 "not built yet");
}
