/*
 * devtrust manufacturer: IDevID trust anchors of device makers.
 */
#include "cli/cli.h"

int cmd_manufacturer(struct cli *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	return cli_usage("devtrust manufacturer add NAME --anchor FILE | list", "not built yet");
}
