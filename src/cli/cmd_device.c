/*
 * devtrust device: inventory (add, import, list, show, token) and the
 * lifecycle transitions (suspend, resume, retire, compromised).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "api/json.h"
#include "cli/cli.h"

static const char *opt_get(void *arg, const char *name)
{
	return cli_opt(arg, name);
}

static int device_add(struct cli *c, const struct cli_args *a, const char *usage)
{
	struct dt_device d;
	struct dt_error err;
	char token[DT_TOKEN_BUF];
	const char *crit = cli_opt(a, "criticality");

	if (!cli_opt(a, "class"))
		return cli_usage(usage, "--class is required");
	if (crit && dt_criticality_parse(crit) < 0)
		return cli_usage(usage, "--criticality is one of low, medium, high, life-critical");
	if (api_device_parse(&d, a->pos[1], opt_get, (void *)a, &err) != DT_OK)
		return cli_fail(c, &err);
	if (dt_device_add(c->ctx, &d, token, &err) != DT_OK ||
	    dt_device_get(c->ctx, d.id, &d, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json) {
		json_t *o = api_device_json(&d);
		json_object_set_new(o, "enrollment_token", json_string(token));
		cli_json_print(o);
	} else {
		printf("added device %s (class %s, registered)\n", d.id, d.class_name);
		char exp[32];
		cli_time(d.token_expires, exp, sizeof(exp));
		printf("enrollment token (shown once, expires %s): %s\n", exp, token);
	}
	OPENSSL_cleanse(token, sizeof(token));
	return EXIT_OK;
}

static int device_import(struct cli *c, const struct cli_args *a)
{
	const char *tokens_path = cli_opt(a, "tokens-out");
	char tmp[4096];
	FILE *in = NULL, *tok = NULL;
	struct dt_error err;
	int64_t n = 0;
	int fd, rc = EXIT_OK;

	if (!(in = strcmp(a->pos[1], "-") == 0 ? stdin : fopen(a->pos[1], "r"))) {
		dt_fail(&err, DT_ERR_IO, "cannot open %s: %s", a->pos[1], strerror(errno));
		return cli_fail(c, &err);
	}
	if (tokens_path) {
		snprintf(tmp, sizeof(tmp), "%s.tmp-%d", tokens_path, (int)getpid());
		if (access(tokens_path, F_OK) == 0) {
			dt_fail(&err, DT_ERR_EXISTS, "%s exists: tokens are never overwritten",
				tokens_path);
			rc = cli_fail(c, &err);
			goto out;
		}
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
		    !(tok = fdopen(fd, "w"))) {
			dt_fail(&err, DT_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
			rc = cli_fail(c, &err);
			goto out;
		}
		fputs("id,token\n", tok);
	}
	if (dt_device_import_csv(c->ctx, in, tok, &n, &err) != DT_OK) {
		rc = cli_fail(c, &err);
		goto out;
	}
	if (tok) {
		if (fflush(tok) != 0 || fsync(fileno(tok)) != 0 || fclose(tok) != 0 ||
		    rename(tmp, tokens_path) != 0) {
			tok = NULL;
			dt_fail(&err, DT_ERR_IO,
				"devices imported, but writing %s failed: %s; issue fresh tokens "
				"with 'devtrust device token'",
				tokens_path, strerror(errno));
			rc = cli_fail(c, &err);
			goto out;
		}
		tok = NULL;
	}
	if (c->json)
		cli_json_print(json_pack("{s:I,s:s}", "imported", (json_int_t)n, "tokens_file",
					 tokens_path ? tokens_path : ""));
	else
		printf("imported %lld devices%s%s\n", (long long)n,
		       tokens_path ? "; enrollment tokens in " : "",
		       tokens_path ? tokens_path : "");
out:
	if (tok) {
		fclose(tok);
		unlink(tmp);
	}
	if (in && in != stdin)
		fclose(in);
	return rc;
}

static int list_one(void *arg, const struct dt_device *d)
{
	json_t *arr = arg;

	if (arr)
		return json_array_append_new(arr, api_device_json(d));
	printf("%-24s %-20s %-12s %-13s %-20s %s\n", d->id, d->class_name, dt_state_name(d->state),
	       dt_criticality_name(d->criticality), d->manufacturer, d->owner);
	return 0;
}

static int device_list(struct cli *c, const struct cli_args *a, const char *usage)
{
	struct dt_device_filter f = {cli_opt(a, "class"), -1, cli_opt(a, "owner"),
				     cli_opt(a, "manufacturer"), NULL};
	json_t *arr = c->json ? json_array() : NULL;
	struct dt_error err;

	if (cli_opt(a, "state") && (f.state = dt_state_parse(cli_opt(a, "state"))) < 0) {
		json_decref(arr);
		return cli_usage(usage, "--state is one of registered, active, suspended, retired, "
					"compromised");
	}
	if (dt_device_list(c->ctx, &f, list_one, arr, &err) != DT_OK) {
		json_decref(arr);
		return cli_fail(c, &err);
	}
	if (arr)
		cli_json_print(arr);
	return EXIT_OK;
}

static int add_cert(void *arg, const struct dt_cert_info *ci)
{
	return json_array_append_new(arg, api_cert_json(ci));
}

static int add_event(void *arg, const struct dt_audit_event *e)
{
	char t[32];

	cli_time(e->time, t, sizeof(t));
	return json_array_append_new(
	    arg, json_pack("{s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)e->seq, "time", t, "actor",
			   e->actor, "action", e->action, "reason", e->reason));
}

static int device_show(struct cli *c, const char *id)
{
	struct dt_device d;
	struct dt_cert_filter f = {.device_id = id, .status = -1};
	struct dt_error err;
	json_t *o, *certs = json_array(), *events = json_array();

	if (dt_device_get(c->ctx, id, &d, &err) != DT_OK ||
	    dt_cert_list(c->ctx, &f, add_cert, certs, &err) != DT_OK ||
	    dt_audit_list(c->ctx, id, add_event, events, &err) != DT_OK) {
		json_decref(certs);
		json_decref(events);
		return cli_fail(c, &err);
	}
	o = api_device_json(&d);
	json_object_set_new(o, "certificates", certs);
	json_object_set_new(o, "timeline", events);
	cli_json_print(o);
	return EXIT_OK;
}

static int device_token(struct cli *c, const struct cli_args *a)
{
	char token[DT_TOKEN_BUF];
	struct dt_error err;
	int64_t ttl = 0;

	if (cli_opt(a, "ttl") && dt_duration_parse(cli_opt(a, "ttl"), &ttl, &err) != DT_OK)
		return cli_fail(c, &err);
	if (dt_device_token(c->ctx, a->pos[1], ttl, token, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json)
		cli_json_print(json_pack("{s:s,s:s}", "id", a->pos[1], "enrollment_token", token));
	else
		printf("%s\n", token);
	OPENSSL_cleanse(token, sizeof(token));
	return EXIT_OK;
}

int cmd_device(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust device add ID --class C [--serial S] [--manufacturer M] [--model M] "
	    "[--firmware V] [--owner O] [--location L] [--criticality "
	    "low|medium|high|life-critical]"
	    "\n       devtrust device import FILE.csv [--tokens-out FILE]"
	    "\n       devtrust device list [--class C] [--state S] [--owner O] [--manufacturer M]"
	    "\n       devtrust device show ID | token ID [--ttl 7d]"
	    "\n       devtrust device suspend|resume|retire|compromised ID [--reason TEXT]"
	    "\n       devtrust device clear-clone ID [--reason TEXT]";
	static const struct {
		const char *verb;
		enum dt_transition t;
	} transitions[] = {{"suspend", DT_TR_SUSPEND},
			   {"resume", DT_TR_RESUME},
			   {"retire", DT_TR_RETIRE},
			   {"compromised", DT_TR_COMPROMISED}};
	struct cli_args a;
	struct dt_error err;
	const char *verb;
	int rc;

	if ((rc = cli_parse(argc, argv,
			    "class= serial= manufacturer= model= firmware= owner= location= "
			    "criticality= state= tokens-out= ttl= reason=",
			    1, 2, usage, &a)) != 0)
		return rc;
	verb = a.pos[0];
	if (strcmp(verb, "list") != 0 && a.npos != 2)
		return cli_usage(usage, "device %s needs an argument", verb);
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (strcmp(verb, "add") == 0)
		return device_add(c, &a, usage);
	if (strcmp(verb, "import") == 0)
		return device_import(c, &a);
	if (strcmp(verb, "list") == 0)
		return device_list(c, &a, usage);
	if (strcmp(verb, "show") == 0)
		return device_show(c, a.pos[1]);
	if (strcmp(verb, "token") == 0)
		return device_token(c, &a);
	if (strcmp(verb, "clear-clone") == 0)
		return cmd_device_clear_clone(c, a.pos[1], cli_opt(&a, "reason"));
	for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
		struct dt_device d;
		int64_t n = 0;

		if (strcmp(verb, transitions[i].verb) != 0)
			continue;
		if (dt_device_transition(c->ctx, a.pos[1], transitions[i].t, cli_opt(&a, "reason"),
					 &n, &err) != DT_OK ||
		    dt_device_get(c->ctx, a.pos[1], &d, &err) != DT_OK)
			return cli_fail(c, &err);
		if (c->json) {
			json_t *o = api_device_json(&d);
			json_object_set_new(o, "certificates_changed", json_integer(n));
			cli_json_print(o);
		} else {
			printf("device %s is now %s (%lld certificate%s changed)\n", d.id,
			       dt_state_name(d.state), (long long)n, n == 1 ? "" : "s");
		}
		return EXIT_OK;
	}
	return cli_usage(usage, "unknown device command '%s'", verb);
}
