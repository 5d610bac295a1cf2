/*
 * /api/v1 policies, reports, audit, operator credentials and the overview the
 * dashboard opens on.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/json.h"

static int policy_into(void *arg, const struct dt_policy *p)
{
	return json_array_append_new(arg, api_policy_json(p));
}

void api_policies_list(struct api_call *c)
{
	json_t *arr = json_array();
	struct dt_error err;

	if (dt_policy_list(c->ctx, api_query(c, "class"), api_query(c, "service"), policy_into, arr,
			   &err) != DT_OK) {
		json_decref(arr);
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 200, json_pack("{s:o}", "items", arr));
}

void api_policies_add(struct api_call *c)
{
	const char *cls, *service, *pattern, *methods;
	struct dt_policy p;
	struct dt_error err;

	if (!api_field(c, "class", 1, &cls) || !api_field(c, "service", 1, &service) ||
	    !api_field(c, "pattern", 0, &pattern) || !api_field(c, "methods", 0, &methods))
		return;
	if (dt_policy_allow(c->ctx, cls, service, pattern ? pattern : "/*", methods ? methods : "*",
			    &p, &err) != DT_OK)
		api_fail_dt(c, &err);
	else
		api_reply(c, 201, api_policy_json(&p));
}

void api_policies_remove(struct api_call *c)
{
	const char *cls = api_query(c, "class"), *service = api_query(c, "service");
	struct dt_error err;
	int64_t removed = 0;

	if (!cls || !service) {
		api_fail(c, 400, "invalid",
			 "give ?class= and ?service= (and ?pattern= for one rule)");
		return;
	}
	if (dt_policy_remove(c->ctx, cls, service, api_query(c, "pattern"), &removed, &err) !=
	    DT_OK)
		api_fail_dt(c, &err);
	else
		api_reply(c, 200, json_pack("{s:I}", "removed", (json_int_t)removed));
}

static int finding_into(void *arg, const struct dt_finding *f)
{
	return json_array_append_new(arg, api_finding_json(f));
}

static int seen_into(void *arg, const struct dt_seen *s)
{
	char t[32];

	api_time(s->last_seen, t, sizeof(t));
	return json_array_append_new(
	    arg, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "kind", "silent", "device",
			   s->device_id, "class", s->class_name, "state", dt_state_name(s->state),
			   "criticality", dt_criticality_name(s->criticality), "last_seen",
			   s->last_seen ? t : "", "last_addr", s->last_addr));
}

static int clone_into(void *arg, const struct dt_clone_finding *f)
{
	char t[32];

	api_time(f->second_seen, t, sizeof(t));
	return json_array_append_new(
	    arg, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "kind", "clone", "device",
			   f->device_id, "class", f->class_name, "serial", f->serial, "criticality",
			   dt_criticality_name(f->criticality), "first_addr", f->first_addr,
			   "second_addr", f->second_addr, "seen", t));
}

/* A duration from the query, or dflt. 0 after a 400 reply. */
static int query_duration(struct api_call *c, const char *name, int64_t dflt, int64_t *out)
{
	const char *v = api_query(c, name);
	struct dt_error err;

	*out = dflt;
	if (v && dt_duration_parse(v, out, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return 0;
	}
	return 1;
}

void api_report(struct api_call *c)
{
	const char *kind = c->param[0];
	json_t *arr = json_array();
	struct dt_error err;
	int64_t s;
	dt_code rc;

	if (strcmp(kind, "expiring") == 0) {
		if (!query_duration(c, "within", 30LL * 86400, &s))
			goto out;
		rc = dt_report_expiring(c->ctx, s, finding_into, arr, &err);
	} else if (strcmp(kind, "drift") == 0) {
		rc = dt_report_drift(c->ctx, finding_into, arr, &err);
	} else if (strcmp(kind, "duplicates") == 0) {
		rc = dt_report_duplicates(c->ctx, finding_into, arr, &err);
	} else if (strcmp(kind, "weak") == 0) {
		rc = dt_report_weak(c->ctx, finding_into, arr, &err);
	} else if (strcmp(kind, "silent") == 0) {
		if (!query_duration(c, "silent", 86400, &s))
			goto out;
		rc = dt_report_silent(c->ctx, s, seen_into, arr, &err);
	} else if (strcmp(kind, "clones") == 0) {
		rc = dt_clone_list(c->ctx, 0, clone_into, arr, &err);
	} else {
		api_fail(c, 404, "not_found",
			 "reports are expiring, drift, duplicates, weak, silent and clones");
		goto out;
	}
	if (rc != DT_OK) {
		api_fail_dt(c, &err);
		goto out;
	}
	api_reply(c, 200, json_pack("{s:s,s:o}", "report", kind, "items", arr));
	return;
out:
	json_decref(arr);
}

struct audit_page {
	struct api_page page;
	int64_t after; /* the cursor: the seq of the last event sent */
};

static int audit_page_one(void *arg, const struct dt_audit_event *e)
{
	struct audit_page *a = arg;

	if (e->seq <= a->after)
		return 0;
	if (api_page_full(&a->page))
		return 1;
	snprintf(a->page.next, sizeof(a->page.next), "%lld", (long long)e->seq);
	return api_page_add(&a->page, api_audit_json(e));
}

void api_audit_list(struct api_call *c)
{
	const char *cursor = api_query(c, "cursor");
	struct audit_page a = {.after = 0};
	struct dt_error err;
	char *end = NULL;

	if (cursor && ((a.after = strtoll(cursor, &end, 10)) < 0 || !*cursor || *end)) {
		api_fail(c, 400, "invalid", "malformed cursor");
		return;
	}
	if (!api_page_begin(c, &a.page))
		return;
	api_page_reply(c, &a.page,
		       dt_audit_list(c->ctx, api_query(c, "object"), audit_page_one, &a, &err),
		       &err);
}

void api_audit_verify(struct api_call *c)
{
	int64_t checked = 0, bad = 0;
	struct dt_error err;
	dt_code rc = dt_audit_verify(c->ctx, &checked, &bad, &err);

	if (rc != DT_OK && rc != DT_ERR_STATE) {
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 200,
		  json_pack("{s:b,s:I,s:I,s:s}", "ok", rc == DT_OK, "verified", (json_int_t)checked,
			    "first_broken", (json_int_t)bad, "message",
			    rc == DT_OK ? "" : err.msg));
}

static int cred_into(void *arg, const struct dt_admin_cred *cr)
{
	return json_array_append_new(arg, api_cred_json(cr));
}

void api_admins_list(struct api_call *c)
{
	json_t *arr = json_array();
	struct dt_error err;
	dt_code rc = dt_admin_list(c->ctx, api_query(c, "name"), cred_into, arr, &err);

	api_reply_items(c, rc, arr, &err);
}

/* {"name","role","manufacturer","expires":"8h","kind":"token"|"certificate"} */
void api_admins_add(struct api_call *c)
{
	const char *name, *role, *manufacturer, *expires, *kind;
	struct dt_admin_opts o = {NULL, DT_ROLE_ADMIN, NULL, 0};
	struct dt_admin_cred cr;
	struct dt_error err;
	char token[DT_ADMIN_TOKEN_BUF], *key = NULL, *cert = NULL;
	int r;
	json_t *out;

	if (!api_field(c, "name", 1, &name) || !api_field(c, "role", 1, &role) ||
	    !api_field(c, "manufacturer", 0, &manufacturer) ||
	    !api_field(c, "expires", 0, &expires) || !api_field(c, "kind", 0, &kind))
		return;
	if ((r = dt_role_parse(role)) < 0) {
		api_fail(c, 400, "invalid", "role is one of admin, operator, auditor, vendor");
		return;
	}
	o.name = name;
	o.role = (enum dt_role)r;
	o.manufacturer = manufacturer;
	if (expires && dt_duration_parse(expires, &o.lifetime_s, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	if (!kind || strcmp(kind, "token") == 0) {
		if (dt_admin_add_token(c->ctx, &o, token, &cr, &err) != DT_OK) {
			api_fail_dt(c, &err);
			return;
		}
		out = api_cred_json(&cr);
		json_object_set_new(out, "token", json_string(token));
		OPENSSL_cleanse(token, sizeof(token));
	} else if (strcmp(kind, "certificate") == 0) {
		if (dt_admin_add_cert(c->ctx, &o, &key, &cert, &cr, &err) != DT_OK) {
			api_fail_dt(c, &err);
			return;
		}
		out = api_cred_json(&cr);
		json_object_set_new(out, "key_pem", json_string(key));
		json_object_set_new(out, "cert_pem", json_string(cert));
		OPENSSL_cleanse(key, strlen(key));
		free(key);
		free(cert);
	} else {
		api_fail(c, 400, "invalid", "kind is token or certificate");
		return;
	}
	api_reply(c, 201, out);
}

void api_admins_revoke(struct api_call *c)
{
	struct dt_error err;
	int64_t n = 0;

	if (dt_admin_revoke(c->ctx, c->param[0], &n, &err) != DT_OK)
		api_fail_dt(c, &err);
	else
		api_reply(c, 200, json_pack("{s:I}", "revoked", (json_int_t)n));
}

/* ---- Overview: what the dashboard opens on ---- */

#define WEEKS 13 /* 91 days */

struct overview {
	json_t *by_state;
	json_t *by_class;
	int64_t devices;
	int64_t expiring[WEEKS];
	int64_t now;
	json_t *findings;
};

static int count_device(void *arg, const struct dt_device *d)
{
	struct overview *o = arg;
	const char *st = dt_state_name(d->state);
	json_t *cls = json_object_get(o->by_class, d->class_name);

	o->devices++;
	json_object_set_new(o->by_state, st,
			    json_integer(json_integer_value(json_object_get(o->by_state, st)) + 1));
	if (!cls) {
		cls = json_object();
		json_object_set_new(o->by_class, d->class_name, cls);
	}
	json_object_set_new(cls, st,
			    json_integer(json_integer_value(json_object_get(cls, st)) + 1));
	return 0;
}

static int count_expiring(void *arg, const struct dt_finding *f)
{
	struct overview *o = arg;
	int64_t w = (f->not_after - o->now) / (7 * 86400);

	if (w >= 0 && w < WEEKS)
		o->expiring[w]++;
	return 0;
}

static int add_finding(void *arg, const struct dt_finding *f)
{
	return json_array_append_new(((struct overview *)arg)->findings, api_finding_json(f));
}

static int add_seen(void *arg, const struct dt_seen *s)
{
	return seen_into(((struct overview *)arg)->findings, s);
}

static int add_clone(void *arg, const struct dt_clone_finding *f)
{
	return clone_into(((struct overview *)arg)->findings, f);
}

static int crit_rank(const char *c)
{
	int v = dt_criticality_parse(c);

	return v < 0 ? 0 : v;
}

static int by_criticality(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return crit_rank(json_string_value(json_object_get(y, "criticality"))) -
	       crit_rank(json_string_value(json_object_get(x, "criticality")));
}

void api_overview(struct api_call *c)
{
	struct overview o;
	struct dt_error err;
	json_t *weeks, *sorted;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.now = dt_now();
	o.by_state = json_object();
	o.by_class = json_object();
	o.findings = json_array();
	if (dt_device_list(c->ctx, NULL, count_device, &o, &err) != DT_OK ||
	    dt_report_expiring(c->ctx, WEEKS * 7 * 86400LL, count_expiring, &o, &err) != DT_OK ||
	    dt_report_drift(c->ctx, add_finding, &o, &err) != DT_OK ||
	    dt_report_duplicates(c->ctx, add_finding, &o, &err) != DT_OK ||
	    dt_report_weak(c->ctx, add_finding, &o, &err) != DT_OK ||
	    dt_clone_list(c->ctx, 0, add_clone, &o, &err) != DT_OK ||
	    dt_report_silent(c->ctx, 86400, add_seen, &o, &err) != DT_OK) {
		json_decref(o.by_state);
		json_decref(o.by_class);
		json_decref(o.findings);
		api_fail_dt(c, &err);
		return;
	}
	weeks = json_array();
	for (i = 0; i < WEEKS; i++)
		json_array_append_new(weeks, json_integer(o.expiring[i]));
	/* Open findings, the most critical devices first. */
	sorted = api_sorted(o.findings, by_criticality);
	api_reply(c, 200,
		  json_pack("{s:I,s:o,s:o,s:o,s:o}", "devices", (json_int_t)o.devices, "by_state",
			    o.by_state, "by_class", o.by_class, "expiring_weekly", weeks,
			    "findings", sorted));
}

/* ---- Blast radius: ?ca=CA or ?class=CLASS ---- */

struct blast {
	json_t *classes, *services, *devices;
};

static int blast_class(void *arg, const struct dt_blast_class *bc)
{
	struct blast *b = arg;
	json_t *states = json_object();

	for (int s = 0; s < DT_STATE_COUNT; s++) {
		json_int_t n = 0;
		for (int k = 0; k < 4; k++)
			n += bc->devices[s][k];
		json_object_set_new(states, dt_state_name((enum dt_state)s), json_integer(n));
	}
	return json_array_append_new(b->classes, json_pack("{s:s,s:s,s:o}", "name", bc->name, "ca",
							   bc->ca, "devices", states));
}

static int blast_policy(void *arg, const struct dt_policy *p)
{
	return json_array_append_new(((struct blast *)arg)->services, api_policy_json(p));
}

static int blast_device(void *arg, const struct dt_device *d)
{
	return json_array_append_new(((struct blast *)arg)->devices, api_device_json(d));
}

void api_report_blast(struct api_call *c)
{
	struct blast b = {json_array(), json_array(), json_array()};
	struct dt_blast_cbs cbs = {blast_class, blast_policy, blast_device, &b};
	struct dt_error err;

	if (dt_report_blast_radius(c->ctx, api_query(c, "ca"), api_query(c, "class"), &cbs, &err) !=
	    DT_OK) {
		json_decref(b.classes);
		json_decref(b.services);
		json_decref(b.devices);
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 200,
		  json_pack("{s:s,s:o,s:o,s:o}", "report", "blast-radius", "classes", b.classes,
			    "services", b.services, "devices", b.devices));
}
