/*
 * devtrust policy: which class may use which service, route and method
 * (allow, remove, list), and each class's clone-detection setting (clone).
 */
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "cli/cli.h"
#include "devtrust/verify.h"

struct list_out {
	json_t *arr;
	long n;
};

static int print_policy(void *arg, const struct dt_policy *p)
{
	struct list_out *o = arg;
	char methods[64];

	o->n++;
	if (o->arr)
		return json_array_append_new(o->arr, api_policy_json(p));
	dt_methods_format(p->methods, methods, sizeof(methods));
	printf("%-24s %-20s %-40s %s\n", p->class_name, p->service, p->pattern, methods);
	return 0;
}

static int policy_allow(struct cli *c, const struct cli_args *a)
{
	struct dt_policy p;
	struct dt_error err;
	char methods[64];

	if (dt_policy_allow(c->ctx, a->pos[1], a->pos[2], a->npos > 3 ? a->pos[3] : NULL,
			    a->npos > 4 ? a->pos[4] : NULL, &p, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json) {
		cli_json_print(api_policy_json(&p));
	} else {
		dt_methods_format(p.methods, methods, sizeof(methods));
		printf("class %s may use %s on %s with %s\n", p.class_name, p.service, p.pattern,
		       strcmp(methods, "*") == 0 ? "any method" : methods);
	}
	return EXIT_OK;
}

static int policy_remove(struct cli *c, const struct cli_args *a)
{
	struct dt_error err;
	int64_t n = 0;

	if (dt_policy_remove(c->ctx, a->pos[1], a->pos[2], a->npos > 3 ? a->pos[3] : NULL, &n,
			     &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json)
		cli_json_print(json_pack("{s:s,s:s,s:I}", "class", a->pos[1], "service", a->pos[2],
					 "removed", (json_int_t)n));
	else
		printf("removed %lld rule%s of class %s for %s\n", (long long)n, n == 1 ? "" : "s",
		       a->pos[1], a->pos[2]);
	return EXIT_OK;
}

static int policy_list(struct cli *c, const struct cli_args *a)
{
	struct list_out o = {c->json ? json_array() : NULL, 0};
	struct dt_error err;

	if (dt_policy_list(c->ctx, cli_opt(a, "class"), cli_opt(a, "service"), print_policy, &o,
			   &err) != DT_OK) {
		json_decref(o.arr);
		return cli_fail(c, &err);
	}
	if (o.arr)
		cli_json_print(o.arr);
	else if (o.n == 0)
		printf("no policies: every verification is denied (not-allowed)\n");
	return EXIT_OK;
}

static int policy_clone(struct cli *c, const struct cli_args *a, const char *usage)
{
	struct dt_clone_policy p;
	struct dt_error err;
	const char *w = cli_opt(a, "window"), *act = cli_opt(a, "action");

	if (dt_clone_policy_get(c->ctx, a->pos[1], &p, &err) != DT_OK)
		return cli_fail(c, &err);
	if (w && dt_duration_parse(w, &p.window_s, &err) != DT_OK)
		return cli_fail(c, &err);
	if (act) {
		int v = dt_clone_action_parse(act);
		if (v < 0)
			return cli_usage(usage, "--action is one of report, deny, suspend");
		p.action = (enum dt_clone_action)v;
	}
	if ((w || act) && dt_clone_policy_set(c->ctx, &p, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json)
		cli_json_print(json_pack("{s:s,s:I,s:s}", "class", p.class_name, "window_s",
					 (json_int_t)p.window_s, "action",
					 dt_clone_action_name(p.action)));
	else if (p.window_s == 0)
		printf("class %s: clone detection off\n", p.class_name);
	else
		printf("class %s: one certificate from two addresses within %lld s is a clone "
		       "finding; action %s\n",
		       p.class_name, (long long)p.window_s, dt_clone_action_name(p.action));
	return EXIT_OK;
}

int cmd_policy(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust policy allow CLASS SERVICE [PATH-PATTERN] [METHODS]"
	    "\n       devtrust policy remove CLASS SERVICE [PATH-PATTERN]"
	    "\n       devtrust policy list [--class C] [--service S]"
	    "\n       devtrust policy clone CLASS [--window 60s] [--action report|deny|suspend]";
	struct cli_args a;
	const char *verb;
	int rc;

	if ((rc = cli_parse(argc, argv, "class= service= window= action=", 1, 5, usage, &a)) != 0)
		return rc;
	verb = a.pos[0];
	if (strcmp(verb, "allow") == 0 || strcmp(verb, "remove") == 0) {
		if (a.npos < 3)
			return cli_usage(usage, "policy %s needs a class and a service", verb);
		if (strcmp(verb, "remove") == 0 && a.npos > 4)
			return cli_usage(usage,
					 "policy remove takes a class, a service and a pattern");
	} else if (strcmp(verb, "clone") == 0) {
		if (a.npos != 2)
			return cli_usage(usage, "policy clone needs a class");
	} else if (strcmp(verb, "list") == 0) {
		if (a.npos != 1)
			return cli_usage(usage, "policy list takes options only");
	} else {
		return cli_usage(usage, "unknown policy command '%s'", verb);
	}
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (strcmp(verb, "allow") == 0)
		return policy_allow(c, &a);
	if (strcmp(verb, "remove") == 0)
		return policy_remove(c, &a);
	if (strcmp(verb, "clone") == 0)
		return policy_clone(c, &a, usage);
	return policy_list(c, &a);
}
