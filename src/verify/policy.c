/*
 * Policies (which class may use which service, route and method), each
 * class's clone-detection setting, and clone findings: the operator's side
 * of verification. Every change is one transaction with its audit event,
 * which is also how running verifiers learn of it.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "verify/verify.h"

/* Clone windows longer than a week would flag devices that legitimately
 * moved between networks days apart. */
#define CLONE_WINDOW_MAX (7 * 86400)

struct policy_job {
	struct dt_policy p;
	struct dt_policy out;
	const char *actor;
	int64_t removed;
	int whole; /* remove: every pattern of class and service */
};

static dt_code class_exists(struct store_txn *txn, const char *name, struct dt_error *err)
{
	struct dt_class c;
	dt_code rc = txn->ops->class_get(txn, name, &c, err);

	if (rc == DT_ERR_NOT_FOUND)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no class named '%s' (devtrust class list)",
			       name);
	return rc;
}

/* The rules of a class and service (with pattern, only that one), for the audit log. */
struct rules_json {
	json_t *arr;
	const char *pattern;
};

static int add_rule_json(void *arg, const struct dt_policy *p)
{
	struct rules_json *r = arg;
	char methods[64];

	if (!r->arr || (r->pattern && strcmp(p->pattern, r->pattern) != 0))
		return 0;
	dt_methods_format(p->methods, methods, sizeof(methods));
	if (json_array_append_new(
		r->arr, json_pack("{s:s,s:s}", "pattern", p->pattern, "methods", methods)) != 0) {
		json_decref(r->arr);
		r->arr = NULL;
	}
	return 0;
}

/* NULL if out of memory (audit_append_change then refuses the change). */
static dt_code rules_json(struct store_txn *txn, const struct dt_policy *p, const char *pattern,
			  json_t **out, struct dt_error *err)
{
	struct rules_json r = {json_array(), pattern};
	dt_code rc = txn->ops->policy_list(txn, p->class_name, p->service, add_rule_json, &r, err);

	if (rc != DT_OK)
		json_decref(r.arr);
	*out = rc == DT_OK ? r.arr : NULL;
	return rc;
}

static dt_code allow_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct policy_job *j = arg;
	char methods[64], object[2 * DT_ID_BUF];
	json_t *before = NULL, *old;
	int64_t n = 0;
	dt_code rc;

	if ((rc = class_exists(txn, j->p.class_name, err)) != DT_OK ||
	    (rc = txn->ops->policy_count(txn, j->p.class_name, &n, err)) != DT_OK)
		return rc;
	if (n >= DT_MAX_POLICIES_PER_CLASS)
		return dt_fail(err, DT_ERR_INVALID,
			       "class '%s' has %lld rules; the limit is %d "
			       "(DT_MAX_POLICIES_PER_CLASS): merge patterns with '*' or '/**'",
			       j->p.class_name, (long long)n, DT_MAX_POLICIES_PER_CLASS);
	/* Before: the rule as it was (its methods grow), or null for a new one. */
	if ((rc = rules_json(txn, &j->p, j->p.pattern, &before, err)) != DT_OK)
		return rc;
	if ((rc = txn->ops->policy_put(txn, &j->p, &j->out, err)) != DT_OK) {
		json_decref(before);
		return rc;
	}
	old = before ? json_array_get(before, 0) : NULL;
	old = old ? json_incref(old) : before ? json_null() : NULL;
	json_decref(before);
	dt_methods_format(j->out.methods, methods, sizeof(methods));
	snprintf(object, sizeof(object), "%s/%s", j->p.class_name, j->p.service);
	return audit_append_change(
	    txn, j->actor, "policy.allow", object, "", old,
	    json_pack("{s:s,s:s}", "pattern", j->out.pattern, "methods", methods), NULL, err);
}

static dt_code check_names(const char *class_name, const char *service, struct dt_error *err)
{
	dt_code rc;

	if ((rc = dt_check_name("class name", class_name, err)) != DT_OK)
		return rc;
	if (!service || !*service)
		return dt_fail(err, DT_ERR_INVALID, "a service name is required");
	return dt_check_name("service", service, err);
}

dt_code dt_policy_allow(struct dt_ctx *ctx, const char *class_name, const char *service,
			const char *pattern, const char *methods, struct dt_policy *out,
			struct dt_error *err)
{
	struct policy_job j;
	dt_code rc;

	memset(&j, 0, sizeof(j));
	if (out)
		memset(out, 0, sizeof(*out));
	if ((rc = check_names(class_name, service, err)) != DT_OK ||
	    (rc = dt_pattern_check(pattern, err)) != DT_OK ||
	    (rc = dt_methods_parse(methods, &j.p.methods, err)) != DT_OK)
		return rc;
	snprintf(j.p.class_name, sizeof(j.p.class_name), "%s", class_name);
	snprintf(j.p.service, sizeof(j.p.service), "%s", service);
	snprintf(j.p.pattern, sizeof(j.p.pattern), "%s", pattern ? pattern : "/**");
	j.p.created_at = dt_now();
	j.actor = dt_actor(ctx);
	if ((rc = store_write(ctx->store, allow_job, &j, err)) == DT_OK && out)
		*out = j.out;
	return rc;
}

static dt_code remove_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct policy_job *j = arg;
	char object[2 * DT_ID_BUF];
	json_t *before = NULL;
	dt_code rc;

	/* Before: the rules that go; after: none of them. */
	if ((rc = rules_json(txn, &j->p, j->whole ? NULL : j->p.pattern, &before, err)) != DT_OK)
		return rc;
	if ((rc = txn->ops->policy_remove(txn, j->p.class_name, j->p.service,
					  j->whole ? NULL : j->p.pattern, &j->removed, err)) !=
	    DT_OK) {
		json_decref(before);
		return rc;
	}
	if (j->removed == 0) {
		json_decref(before);
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "class '%s' has no rule for service '%s'%s%s (devtrust policy list)",
			       j->p.class_name, j->p.service, j->whole ? "" : " with pattern ",
			       j->whole ? "" : j->p.pattern);
	}
	snprintf(object, sizeof(object), "%s/%s", j->p.class_name, j->p.service);
	return audit_append_change(txn, j->actor, "policy.remove", object, "",
				   before ? json_pack("{s:o}", "rules", before) : NULL, json_null(),
				   json_pack("{s:s,s:I}", "pattern", j->whole ? "*" : j->p.pattern,
					     "removed", (json_int_t)j->removed),
				   err);
}

dt_code dt_policy_remove(struct dt_ctx *ctx, const char *class_name, const char *service,
			 const char *pattern, int64_t *removed, struct dt_error *err)
{
	struct policy_job j;
	dt_code rc;

	memset(&j, 0, sizeof(j));
	if (removed)
		*removed = 0;
	if ((rc = check_names(class_name, service, err)) != DT_OK ||
	    (rc = dt_pattern_check(pattern, err)) != DT_OK)
		return rc;
	snprintf(j.p.class_name, sizeof(j.p.class_name), "%s", class_name);
	snprintf(j.p.service, sizeof(j.p.service), "%s", service);
	snprintf(j.p.pattern, sizeof(j.p.pattern), "%s", pattern ? pattern : "");
	j.whole = pattern == NULL;
	j.actor = dt_actor(ctx);
	rc = store_write(ctx->store, remove_job, &j, err);
	if (rc == DT_OK && removed)
		*removed = j.removed;
	return rc;
}

struct list_job {
	const char *class_name, *service;
	dt_policy_cb cb;
	void *arg;
};

static dt_code list_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct list_job *j = arg;

	return txn->ops->policy_list(txn, j->class_name, j->service, j->cb, j->arg, err);
}

dt_code dt_policy_list(struct dt_ctx *ctx, const char *class_name, const char *service,
		       dt_policy_cb cb, void *arg, struct dt_error *err)
{
	struct list_job j = {class_name, service, cb, arg};

	return store_read(ctx->store, list_job, &j, err);
}

struct clone_policy_job {
	struct dt_clone_policy p;
	const char *actor;
};

static dt_code clone_policy_set_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct clone_policy_job *j = arg;
	struct dt_clone_policy old;
	int set_before;
	dt_code rc;

	if ((rc = class_exists(txn, j->p.class_name, err)) != DT_OK)
		return rc;
	/* Before: the class's setting, or the defaults it had without one. */
	rc = txn->ops->clone_policy_get(txn, j->p.class_name, &old, err);
	if (rc != DT_OK && rc != DT_ERR_NOT_FOUND)
		return rc;
	set_before = rc == DT_OK;
	if (!set_before) {
		old.window_s = DT_CLONE_WINDOW_DEFAULT;
		old.action = DT_CLONE_REPORT;
	}
	if ((rc = txn->ops->clone_policy_set(txn, &j->p, err)) != DT_OK)
		return rc;
	return audit_append_change(txn, j->actor, "policy.clone", j->p.class_name, "",
				   json_pack("{s:I,s:s,s:b}", "window_s", (json_int_t)old.window_s,
					     "action", dt_clone_action_name(old.action), "default",
					     !set_before),
				   json_pack("{s:I,s:s}", "window_s", (json_int_t)j->p.window_s,
					     "action", dt_clone_action_name(j->p.action)),
				   NULL, err);
}

dt_code dt_clone_policy_set(struct dt_ctx *ctx, const struct dt_clone_policy *p,
			    struct dt_error *err)
{
	struct clone_policy_job j;
	dt_code rc;

	if ((rc = dt_check_name("class name", p->class_name, err)) != DT_OK)
		return rc;
	if (p->window_s < 0 || p->window_s > CLONE_WINDOW_MAX)
		return dt_fail(err, DT_ERR_INVALID,
			       "clone window must be 0 (off) to 7d; a longer one flags devices "
			       "that moved between networks days apart");
	if ((unsigned)p->action > DT_CLONE_SUSPEND)
		return dt_fail(err, DT_ERR_INVALID, "clone action is report, deny or suspend");
	j.p = *p;
	j.actor = dt_actor(ctx);
	return store_write(ctx->store, clone_policy_set_job, &j, err);
}

static dt_code clone_policy_get_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct dt_clone_policy *p = arg;
	char name[DT_ID_BUF];
	dt_code rc;

	memcpy(name, p->class_name, sizeof(name));
	if ((rc = class_exists(txn, name, err)) != DT_OK)
		return rc;
	rc = txn->ops->clone_policy_get(txn, name, p, err);
	if (rc == DT_ERR_NOT_FOUND) {
		memset(p, 0, sizeof(*p));
		memcpy(p->class_name, name, sizeof(name));
		p->window_s = DT_CLONE_WINDOW_DEFAULT;
		p->action = DT_CLONE_REPORT;
		rc = DT_OK;
	}
	return rc;
}

dt_code dt_clone_policy_get(struct dt_ctx *ctx, const char *class_name, struct dt_clone_policy *out,
			    struct dt_error *err)
{
	memset(out, 0, sizeof(*out));
	if (dt_copy(out->class_name, sizeof(out->class_name), class_name, "class name", err) !=
	    DT_OK)
		return err->code;
	return store_read(ctx->store, clone_policy_get_job, out, err);
}

struct clone_list_job {
	int include_cleared;
	dt_clone_cb cb;
	void *arg;
};

static dt_code clone_list_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct clone_list_job *j = arg;

	return txn->ops->clone_list(txn, j->include_cleared, j->cb, j->arg, err);
}

dt_code dt_clone_list(struct dt_ctx *ctx, int include_cleared, dt_clone_cb cb, void *arg,
		      struct dt_error *err)
{
	struct clone_list_job j = {include_cleared, cb, arg};

	return store_read(ctx->store, clone_list_job, &j, err);
}

struct clone_clear_job {
	const char *id, *reason, *actor;
	int64_t cleared;
};

static dt_code clone_clear_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct clone_clear_job *j = arg;
	struct dt_device d;
	dt_code rc;

	if ((rc = txn->ops->device_get(txn, j->id, &d, NULL, err)) != DT_OK ||
	    (rc = txn->ops->clone_clear(txn, j->id, dt_now(), j->actor, &j->cleared, err)) != DT_OK)
		return rc;
	if (j->cleared == 0)
		return dt_fail(err, DT_ERR_NOT_FOUND, "device '%s' has no open clone finding",
			       j->id);
	return audit_append_change(
	    txn, j->actor, "device.clone_cleared", j->id, j->reason,
	    json_pack("{s:I}", "open_clone_findings", (json_int_t)j->cleared),
	    json_pack("{s:I}", "open_clone_findings", (json_int_t)0),
	    json_pack("{s:I}", "cleared", (json_int_t)j->cleared), err);
}

dt_code dt_clone_clear(struct dt_ctx *ctx, const char *device_id, const char *reason,
		       int64_t *cleared, struct dt_error *err)
{
	struct clone_clear_job j = {device_id, reason ? reason : "", dt_actor(ctx), 0};
	dt_code rc;

	if (cleared)
		*cleared = 0;
	if ((rc = dt_check_id("device id", device_id, err)) != DT_OK ||
	    (rc = dt_check_text("reason", j.reason, DT_MAX_REASON_LEN, err)) != DT_OK)
		return rc;
	rc = store_write(ctx->store, clone_clear_job, &j, err);
	if (rc == DT_OK && cleared)
		*cleared = j.cleared;
	return rc;
}
