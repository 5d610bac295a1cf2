/*
 * Reports of the verify module, each from one read snapshot: devices that
 * went silent (no decision about them for a while), and the blast radius of
 * a compromised issuing CA or class: its classes, their devices and the
 * services their policies open.
 */
#include <stdlib.h>
#include <string.h>

#include "verify/verify.h"

struct silent_job {
	int64_t before;
	dt_seen_cb cb;
	void *arg;
};

static dt_code silent_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct silent_job *j = arg;

	return txn->ops->report_silent(txn, j->before, j->cb, j->arg, err);
}

dt_code dt_report_silent(struct dt_ctx *ctx, int64_t silent_s, dt_seen_cb cb, void *arg,
			 struct dt_error *err)
{
	struct silent_job j = {0, cb, arg};

	if (silent_s <= 0)
		return dt_fail(err, DT_ERR_INVALID, "--for must be a positive duration");
	j.before = dt_now() - silent_s;
	return store_read(ctx->store, silent_job, &j, err);
}

struct blast_job {
	const char *ca, *class_name;
	const struct dt_blast_cbs *cbs;
	struct dt_class *classes;
	size_t n, cap;
	int oom;
};

static int collect_class(void *arg, const struct dt_class *c)
{
	void *grown;
	struct blast_job *j = arg;

	if (strcmp(c->ca, j->ca) != 0)
		return 0;
	if (!(grown = dt_grow(j->classes, j->n, &j->cap, sizeof(*j->classes)))) {
		j->oom = 1;
		return 1;
	}
	j->classes = grown;
	j->classes[j->n++] = *c;
	return 0;
}

static dt_code blast_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct blast_job *j = arg;
	const struct dt_blast_cbs *cbs = j->cbs;
	struct store_ca *ca = NULL;
	dt_code rc;

	if (j->ca) {
		if (!(ca = malloc(sizeof(*ca))))
			return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		rc = txn->ops->ca_get(txn, j->ca, ca, err);
		if (rc == DT_OK && strcmp(ca->info.kind, "issuing") != 0)
			rc = dt_fail(err, DT_ERR_INVALID,
				     "'%s' is the root: its compromise reaches every class (report "
				     "each issuing CA)",
				     j->ca);
		free(ca);
		if (rc == DT_OK)
			rc = txn->ops->class_list(txn, collect_class, j, err);
		if (rc == DT_OK && j->oom)
			rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		if (rc != DT_OK)
			return rc;
	} else {
		if (!(j->classes = calloc(1, sizeof(*j->classes))))
			return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		if ((rc = txn->ops->class_get(txn, j->class_name, j->classes, err)) != DT_OK)
			return rc;
		j->n = 1;
	}
	for (size_t i = 0; i < j->n && cbs->on_class; i++) {
		struct dt_blast_class bc;

		memset(&bc, 0, sizeof(bc));
		snprintf(bc.name, sizeof(bc.name), "%s", j->classes[i].name);
		snprintf(bc.ca, sizeof(bc.ca), "%s", j->classes[i].ca);
		if ((rc = txn->ops->class_device_counts(txn, bc.name, bc.devices, err)) != DT_OK)
			return rc;
		if (cbs->on_class(cbs->arg, &bc) != 0)
			break;
	}
	for (size_t i = 0; i < j->n && cbs->on_policy; i++)
		if ((rc = txn->ops->policy_list(txn, j->classes[i].name, NULL, cbs->on_policy,
						cbs->arg, err)) != DT_OK)
			return rc;
	for (size_t i = 0; i < j->n && cbs->on_device; i++) {
		struct dt_device_filter f = {j->classes[i].name, -1, NULL, NULL, NULL};
		if ((rc = txn->ops->device_list(txn, &f, cbs->on_device, cbs->arg, err)) != DT_OK)
			return rc;
	}
	return DT_OK;
}

dt_code dt_report_blast_radius(struct dt_ctx *ctx, const char *ca, const char *class_name,
			       const struct dt_blast_cbs *cbs, struct dt_error *err)
{
	struct blast_job j;
	dt_code rc;

	if (!ca == !class_name)
		return dt_fail(err, DT_ERR_INVALID, "name either an issuing CA or a class");
	if ((rc = dt_check_name(ca ? "CA name" : "class name", ca ? ca : class_name, err)) != DT_OK)
		return rc;
	memset(&j, 0, sizeof(j));
	j.ca = ca;
	j.class_name = class_name;
	j.cbs = cbs;
	rc = store_read(ctx->store, blast_job, &j, err);
	free(j.classes);
	return rc;
}
