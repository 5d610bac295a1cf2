/*
 * devtrust verify (the backend decision for a certificate, as /authz would
 * give it, without recording anything), the verification reports
 * (report blast-radius, clones, silent) and device clear-clone.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "devtrust/verify.h"

/* The library's limit (DT_MAX_VERIFY_CERT_BYTES): it names it in its error. */
#define CERT_FILE_MAX (12 * 1024)

static json_t *summary_json(const struct dt_verify_device *d)
{
	char na[32];

	cli_time(d->not_after, na, sizeof(na));
	return json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", d->id, "class", d->class_name,
	    "ca", d->ca, "serial", d->serial, "state", dt_state_name(d->state), "criticality",
	    dt_criticality_name(d->criticality), "firmware", d->firmware, "manufacturer",
	    d->manufacturer, "model", d->model, "location", d->location, "not_after", na);
}

int cmd_verify(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust verify CERT-FILE --service S [--method M] [--path P] [--peer ADDR]";
	struct dt_verifier_opts o = {.no_record = 1, .no_thread = 1};
	struct dt_verifier *v = NULL;
	struct dt_verify_request req;
	struct dt_verify_result res;
	struct cli_args a;
	struct dt_error err;
	unsigned char *buf = NULL;
	size_t len = 0;
	dt_code code;
	int rc;

	if ((rc = cli_parse(argc, argv, "service= method= path= peer=", 1, 1, usage, &a)) != 0)
		return rc;
	if (!cli_opt(&a, "service"))
		return cli_usage(usage, "--service is required");
	if ((rc = cli_open(c)) != 0 ||
	    (rc = cli_read_input(c, a.pos[0], CERT_FILE_MAX, "certificate", &buf, &len)) != 0)
		return rc;
	memset(&req, 0, sizeof(req));
	req.cert = buf;
	req.cert_len = len;
	req.service = cli_opt(&a, "service");
	req.method = cli_opt(&a, "method");
	req.path = cli_opt(&a, "path");
	req.peer = cli_opt(&a, "peer");
	if ((code = dt_verifier_new(c->ctx, &o, &v, &err)) == DT_OK)
		code = dt_verify(v, &req, &res, &err);
	dt_verifier_free(v);
	free(buf);
	if (code != DT_OK)
		return cli_fail(c, &err);
	if (c->json) {
		json_t *j =
		    json_pack("{s:s,s:s,s:s}", "decision", res.allowed ? "allow" : "deny", "reason",
			      dt_verify_reason_name(res.reason), "detail", res.detail);
		if (j && res.identified)
			json_object_set_new(j, "device", summary_json(&res.device));
		cli_json_print(j);
	} else {
		printf("%s %s: %s\n", res.allowed ? "allow" : "deny",
		       dt_verify_reason_name(res.reason), res.detail);
	}
	return res.allowed ? EXIT_OK : EXIT_REFUSED;
}

int cmd_device_clear_clone(struct cli *c, const char *id, const char *reason)
{
	struct dt_error err;
	int64_t n = 0;

	if (dt_clone_clear(c->ctx, id, reason, &n, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json)
		cli_json_print(json_pack("{s:s,s:I}", "device", id, "cleared", (json_int_t)n));
	else
		printf("cleared %lld clone finding%s of device %s\n", (long long)n,
		       n == 1 ? "" : "s", id);
	return EXIT_OK;
}

/* ---- report blast-radius ---- */

struct blast_out {
	json_t *classes, *services, *devices;
	int64_t total, by_crit[4], by_state[DT_STATE_COUNT];
	long nservices;
};

static int blast_class(void *arg, const struct dt_blast_class *bc)
{
	struct blast_out *o = arg;
	int64_t n = 0, s[DT_STATE_COUNT] = {0}, k[4] = {0};

	for (int i = 0; i < DT_STATE_COUNT; i++)
		for (int j = 0; j < 4; j++) {
			s[i] += bc->devices[i][j];
			k[j] += bc->devices[i][j];
			n += bc->devices[i][j];
		}
	o->total += n;
	for (int i = 0; i < DT_STATE_COUNT; i++)
		o->by_state[i] += s[i];
	for (int j = 0; j < 4; j++)
		o->by_crit[j] += k[j];
	if (o->classes) {
		json_t *st = json_object(), *cr = json_object();
		for (int i = 0; i < DT_STATE_COUNT; i++)
			json_object_set_new(st, dt_state_name((enum dt_state)i),
					    json_integer(s[i]));
		for (int j = 0; j < 4; j++)
			json_object_set_new(cr, dt_criticality_name((enum dt_criticality)j),
					    json_integer(k[j]));
		return json_array_append_new(o->classes,
					     json_pack("{s:s,s:s,s:I,s:o,s:o}", "name", bc->name,
						       "ca", bc->ca, "devices", (json_int_t)n,
						       "by_state", st, "by_criticality", cr));
	}
	printf("  %-24s CA %-16s %lld devices: %lld active, %lld suspended, %lld registered, "
	       "%lld retired, %lld compromised; %lld life-critical, %lld high\n",
	       bc->name, bc->ca, (long long)n, (long long)s[DT_STATE_ACTIVE],
	       (long long)s[DT_STATE_SUSPENDED], (long long)s[DT_STATE_REGISTERED],
	       (long long)s[DT_STATE_RETIRED], (long long)s[DT_STATE_COMPROMISED],
	       (long long)k[DT_CRIT_LIFE_CRITICAL], (long long)k[DT_CRIT_HIGH]);
	return 0;
}

static int blast_policy(void *arg, const struct dt_policy *p)
{
	struct blast_out *o = arg;
	char methods[64];

	o->nservices++;
	dt_methods_format(p->methods, methods, sizeof(methods));
	if (o->services)
		return json_array_append_new(
		    o->services, json_pack("{s:s,s:s,s:s,s:s}", "class", p->class_name, "service",
					   p->service, "pattern", p->pattern, "methods", methods));
	if (o->nservices == 1)
		printf("services their policies open:\n");
	printf("  %-24s %-20s %-40s %s\n", p->class_name, p->service, p->pattern, methods);
	return 0;
}

static int blast_device(void *arg, const struct dt_device *d)
{
	struct blast_out *o = arg;

	if (o->devices)
		return json_array_append_new(
		    o->devices, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", d->id, "class",
					  d->class_name, "state", dt_state_name(d->state),
					  "criticality", dt_criticality_name(d->criticality),
					  "location", d->location, "owner", d->owner));
	printf("  %-24s %-20s %-12s %-14s %s\n", d->id, d->class_name, dt_state_name(d->state),
	       dt_criticality_name(d->criticality), d->location);
	return 0;
}

static int report_blast(struct cli *c, const struct cli_args *a, const char *usage)
{
	const char *ca = cli_opt(a, "ca"), *cls = cli_opt(a, "class");
	struct blast_out o;
	struct dt_blast_cbs cbs = {blast_class, blast_policy, NULL, &o};
	struct dt_error err;
	dt_code code;

	if (!ca == !cls)
		return cli_usage(usage, "blast-radius needs --ca CA or --class C");
	memset(&o, 0, sizeof(o));
	if (c->json) {
		o.classes = json_array();
		o.services = json_array();
		o.devices = json_array();
		cbs.on_device = blast_device;
		code = dt_report_blast_radius(c->ctx, ca, cls, &cbs, &err);
	} else {
		printf("classes a compromise of %s %s reaches:\n", ca ? "issuing CA" : "class",
		       ca ? ca : cls);
		code = dt_report_blast_radius(c->ctx, ca, cls, &cbs, &err);
		if (code == DT_OK && o.nservices == 0)
			printf("services their policies open: none\n");
		if (code == DT_OK && o.total > 0 && !cli_flag(a, "summary")) {
			struct dt_blast_cbs dev = {NULL, NULL, blast_device, &o};
			printf("devices:\n");
			code = dt_report_blast_radius(c->ctx, ca, cls, &dev, &err);
		}
		if (code == DT_OK)
			printf(
			    "total: %lld devices (%lld active, %lld life-critical) in scope, %ld "
			    "service rules\n",
			    (long long)o.total, (long long)o.by_state[DT_STATE_ACTIVE],
			    (long long)o.by_crit[DT_CRIT_LIFE_CRITICAL], o.nservices);
	}
	if (code != DT_OK) {
		json_decref(o.classes);
		json_decref(o.services);
		json_decref(o.devices);
		return cli_fail(c, &err);
	}
	if (c->json)
		cli_json_print(json_pack(
		    "{s:{s:s,s:s},s:o,s:o,s:o,s:{s:I,s:I,s:I}}", "scope", "kind",
		    ca ? "ca" : "class", "name", ca ? ca : cls, "classes", o.classes, "services",
		    o.services, "devices", o.devices, "totals", "devices", (json_int_t)o.total,
		    "active", (json_int_t)o.by_state[DT_STATE_ACTIVE], "life_critical",
		    (json_int_t)o.by_crit[DT_CRIT_LIFE_CRITICAL]));
	return EXIT_OK;
}

/* ---- report clones, report silent ---- */

struct rows_out {
	json_t *arr;
	long n;
};

static int print_clone(void *arg, const struct dt_clone_finding *f)
{
	struct rows_out *o = arg;
	char first[32], second[32], cleared[32];

	o->n++;
	cli_time(f->first_seen, first, sizeof(first));
	cli_time(f->second_seen, second, sizeof(second));
	cli_time(f->cleared_at, cleared, sizeof(cleared));
	if (o->arr)
		return json_array_append_new(
		    o->arr,
		    json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "id",
			      (json_int_t)f->id, "device", f->device_id, "class", f->class_name,
			      "serial", f->serial, "first_addr", f->first_addr, "second_addr",
			      f->second_addr, "first_seen", first, "second_seen", second,
			      "window_s", (json_int_t)f->window_s, "action",
			      dt_clone_action_name(f->action), "criticality",
			      dt_criticality_name(f->criticality), "cleared_at",
			      f->cleared_at ? cleared : "", "cleared_by", f->cleared_by));
	printf("%-6lld %-24s %-14s %s from %s then %s at %s (window %lld s, %s)%s%s\n",
	       (long long)f->id, f->device_id, dt_criticality_name(f->criticality), f->serial,
	       f->first_addr, f->second_addr, second, (long long)f->window_s,
	       dt_clone_action_name(f->action), f->cleared_at ? "; cleared " : "",
	       f->cleared_at ? cleared : "");
	return 0;
}

static int print_silent(void *arg, const struct dt_seen *s)
{
	struct rows_out *o = arg;
	char seen[32];

	o->n++;
	cli_time(s->last_seen, seen, sizeof(seen));
	if (o->arr)
		return json_array_append_new(
		    o->arr,
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s}", "device", s->device_id, "class",
			      s->class_name, "criticality", dt_criticality_name(s->criticality),
			      "last_seen", s->last_seen ? seen : "", "last_addr", s->last_addr,
			      "last_service", s->last_service, "last_allowed", s->last_allowed,
			      "last_reason", s->last_reason));
	printf("%-24s %-20s %-14s %s%s%s%s%s\n", s->device_id, s->class_name,
	       dt_criticality_name(s->criticality), s->last_seen ? "last seen " : "never seen",
	       s->last_seen ? seen : "", s->last_seen ? " from " : "", s->last_addr,
	       s->last_seen ? (s->last_allowed ? " (allowed)" : " (denied)") : "");
	return 0;
}

int cmd_report_verify(struct cli *c, int argc, char **argv)
{
	static const char usage[] = "devtrust report blast-radius --ca CA | --class C [--summary]"
				    "\n       devtrust report clones [--all]"
				    "\n       devtrust report silent [--for 1d]";
	struct cli_args a;
	struct dt_error err;
	struct rows_out o = {NULL, 0};
	const char *kind;
	dt_code code;
	int rc;

	if ((rc = cli_parse(argc, argv, "ca= class= summary all for=", 1, 1, usage, &a)) != 0)
		return rc;
	kind = a.pos[0];
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (strcmp(kind, "blast-radius") == 0)
		return report_blast(c, &a, usage);
	o.arr = c->json ? json_array() : NULL;
	if (strcmp(kind, "clones") == 0) {
		code = dt_clone_list(c->ctx, cli_flag(&a, "all"), print_clone, &o, &err);
	} else {
		int64_t silent = 86400;
		if (cli_opt(&a, "for") &&
		    dt_duration_parse(cli_opt(&a, "for"), &silent, &err) != DT_OK) {
			json_decref(o.arr);
			return cli_fail(c, &err);
		}
		code = dt_report_silent(c->ctx, silent, print_silent, &o, &err);
	}
	if (code != DT_OK) {
		json_decref(o.arr);
		return cli_fail(c, &err);
	}
	if (o.arr)
		cli_json_print(o.arr);
	else if (o.n == 0)
		printf("no findings\n");
	return EXIT_OK;
}

int cmd_report_is_verify(const char *kind)
{
	return strcmp(kind, "blast-radius") == 0 || strcmp(kind, "clones") == 0 ||
	       strcmp(kind, "silent") == 0;
}
