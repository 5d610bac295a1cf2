/*
 * devtrust manufacturer: IDevID trust anchors of device makers (add, list).
 */
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "cli/cli.h"
#include "core/limits.h"

struct list_ctx {
	json_t *arr;	  /* --json: every anchor */
	const char *only; /* add: the manufacturer just extended */
	struct dt_manufacturer_anchor last;
	int found;
};

static int list_one(void *arg, const struct dt_manufacturer_anchor *a)
{
	struct list_ctx *l = arg;
	char na[32];

	if (l->only) {
		/* Oldest first: the last one of this manufacturer is the newest. */
		if (strcmp(a->manufacturer, l->only) == 0 && a->created_at >= l->last.created_at) {
			l->last = *a;
			l->found = 1;
		}
		return 0;
	}
	if (l->arr)
		return json_array_append_new(l->arr, api_anchor_json(a));
	cli_time(a->not_after, na, sizeof(na));
	printf("%-24s %s  until %s  %s\n", a->manufacturer, a->fingerprint, na, a->subject);
	return 0;
}

static int manufacturer_add(struct cli *c, const struct cli_args *a, const char *usage)
{
	struct list_ctx l = {.only = a->pos[1]};
	struct dt_error err;
	unsigned char *buf = NULL;
	const char *path = cli_opt(a, "anchor");
	size_t len = 0;
	int rc;

	if (!path)
		return cli_usage(usage, "--anchor FILE is required: the manufacturer's CA "
					"certificate (PEM or DER)");
	if ((rc = cli_read_input(c, path, DT_MAX_ANCHOR_BYTES, "anchor", &buf, &len)) != 0)
		return rc;
	if ((rc = cli_open(c)) != 0) {
		free(buf);
		return rc;
	}
	if (dt_manufacturer_add(c->ctx, a->pos[1], buf, len, &err) != DT_OK ||
	    dt_manufacturer_list(c->ctx, list_one, &l, &err) != DT_OK) {
		free(buf);
		return cli_fail(c, &err);
	}
	free(buf);
	if (!l.found) {
		dt_fail(&err, DT_ERR_INTERNAL, "the anchor was added but is not listed");
		return cli_fail(c, &err);
	}
	if (c->json)
		cli_json_print(api_anchor_json(&l.last));
	else
		printf("added anchor %s for manufacturer %s (%s)\n", l.last.fingerprint,
		       l.last.manufacturer, l.last.subject);
	return EXIT_OK;
}

int cmd_manufacturer(struct cli *c, int argc, char **argv)
{
	static const char usage[] = "devtrust manufacturer add NAME --anchor FILE | list";
	struct cli_args a;
	struct dt_error err;
	struct list_ctx l = {.arr = NULL};
	int rc;

	if ((rc = cli_parse(argc, argv, "anchor=", 1, 2, usage, &a)) != 0)
		return rc;
	if (strcmp(a.pos[0], "add") == 0) {
		if (a.npos != 2)
			return cli_usage(usage, "manufacturer add needs a manufacturer name");
		return manufacturer_add(c, &a, usage);
	}
	if (strcmp(a.pos[0], "list") != 0)
		return cli_usage(usage, "unknown manufacturer command '%s'", a.pos[0]);
	if (a.npos != 1)
		return cli_usage(usage, "manufacturer list takes no name");
	if ((rc = cli_open(c)) != 0)
		return rc;
	l.arr = c->json ? json_array() : NULL;
	if (dt_manufacturer_list(c->ctx, list_one, &l, &err) != DT_OK) {
		json_decref(l.arr);
		return cli_fail(c, &err);
	}
	if (l.arr)
		cli_json_print(l.arr);
	return EXIT_OK;
}
