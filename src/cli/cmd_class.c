/*
 * devtrust class: device class profiles (add, list, show).
 */
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "cli/cli.h"

static int list_one(void *arg, const struct dt_class *cl)
{
	json_t *arr = arg;

	if (arr)
		return json_array_append_new(arr, api_class_json(cl));
	printf("%-24s ca=%-16s lifetime=%llds renew_at=%.2f\n", cl->name, cl->ca,
	       (long long)cl->lifetime_s, cl->renew_at);
	return 0;
}

/* Applies the profile options to cl; add starts from defaults, set from the class. */
static int class_options(struct cli *c, const struct cli_args *a, const char *usage,
			 struct dt_class *cl)
{
	struct dt_error err;
	const char *v;
	char *end = NULL;

	if ((v = cli_opt(a, "lifetime")) && dt_duration_parse(v, &cl->lifetime_s, &err) != DT_OK)
		return cli_fail(c, &err);
	if ((v = cli_opt(a, "key-types")) && dt_key_types_parse(v, &cl->key_types, &err) != DT_OK)
		return cli_fail(c, &err);
	if ((v = cli_opt(a, "eku")) && dt_eku_parse(v, &cl->eku, &err) != DT_OK)
		return cli_fail(c, &err);
	if ((v = cli_opt(a, "renew-at"))) {
		cl->renew_at = strtod(v, &end);
		if (!end || *end)
			return cli_usage(usage, "--renew-at takes a fraction such as 0.66");
	}
	if ((v = cli_opt(a, "min-firmware")) && dt_copy(cl->min_firmware, sizeof(cl->min_firmware),
							v, "minimum firmware", &err) != DT_OK)
		return cli_fail(c, &err);
	if (cli_flag(a, "revoke-superseded"))
		cl->revoke_superseded = 1;
	if (cli_flag(a, "keep-superseded"))
		cl->revoke_superseded = 0;
	return 0;
}

static int class_set(struct cli *c, const struct cli_args *a, const char *usage)
{
	struct dt_class cl = {.lifetime_s = 0};
	struct dt_error err;
	int rc;

	if (cli_opt(a, "ca"))
		return cli_usage(usage, "a class never changes CA: create a new class instead");
	if (dt_class_get(c->ctx, a->pos[1], &cl, &err) != DT_OK)
		return cli_fail(c, &err);
	if ((rc = class_options(c, a, usage, &cl)) != 0)
		return rc;
	if (dt_class_update(c->ctx, &cl, &err) != DT_OK ||
	    dt_class_get(c->ctx, cl.name, &cl, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json)
		cli_json_print(api_class_json(&cl));
	else
		printf("updated class %s\n", cl.name);
	return EXIT_OK;
}

static int class_add(struct cli *c, const struct cli_args *a, const char *usage)
{
	struct dt_class cl = {.lifetime_s = 0};
	struct dt_error err;
	const char *v;
	int rc;

	dt_class_defaults(&cl);
	if (dt_copy(cl.name, sizeof(cl.name), a->pos[1], "class name", &err) != DT_OK)
		return cli_fail(c, &err);
	if (!(v = cli_opt(a, "ca")))
		return cli_usage(usage, "--ca is required: a class is bound to one issuing CA");
	if (dt_copy(cl.ca, sizeof(cl.ca), v, "CA name", &err) != DT_OK)
		return cli_fail(c, &err);
	if ((rc = class_options(c, a, usage, &cl)) != 0)
		return rc;
	if (dt_class_add(c->ctx, &cl, &err) != DT_OK || dt_class_get(c->ctx, cl.name, &cl, &err))
		return cli_fail(c, &err);
	if (c->json)
		cli_json_print(api_class_json(&cl));
	else
		printf("added class %s (issuing CA %s, lifetime %llds)\n", cl.name, cl.ca,
		       (long long)cl.lifetime_s);
	return EXIT_OK;
}

int cmd_class(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust class add NAME --ca CA [--lifetime 30d] [--key-types ec-p256,...] "
	    "[--eku clientAuth,serverAuth] [--renew-at 0.66] [--min-firmware V] "
	    "[--revoke-superseded] | set NAME [the same options but --ca, --keep-superseded] | "
	    "list | show NAME";
	struct cli_args a;
	struct dt_error err;
	struct dt_class cl = {.lifetime_s = 0};
	int rc;

	if ((rc = cli_parse(
		 argc, argv,
		 "ca= lifetime= key-types= eku= renew-at= min-firmware= revoke-superseded", 1, 2,
		 usage, &a)) != 0)
		return rc;
	if (strcmp(a.pos[0], "list") != 0 && a.npos != 2)
		return cli_usage(usage, "class %s needs a class name", a.pos[0]);
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (strcmp(a.pos[0], "add") == 0)
		return class_add(c, &a, usage);
	if (strcmp(a.pos[0], "set") == 0)
		return class_set(c, &a, usage);
	if (strcmp(a.pos[0], "list") == 0) {
		json_t *arr = c->json ? json_array() : NULL;
		if (dt_class_list(c->ctx, list_one, arr, &err) != DT_OK) {
			json_decref(arr);
			return cli_fail(c, &err);
		}
		if (arr)
			cli_json_print(arr);
		return EXIT_OK;
	}
	if (strcmp(a.pos[0], "show") == 0) {
		if (dt_class_get(c->ctx, a.pos[1], &cl, &err) != DT_OK)
			return cli_fail(c, &err);
		cli_json_print(api_class_json(&cl));
		return EXIT_OK;
	}
	return cli_usage(usage, "unknown class command '%s'", a.pos[0]);
}
