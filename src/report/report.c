/*
 * Fleet findings, each from one read snapshot: certificates about to
 * expire, drift between inventory state and certificates, public keys on
 * more than one device, and keys below the class policy.
 */
#include <string.h>

#include "core/core.h"
#include "devtrust/report.h"

struct report_job {
	int kind;
	int64_t within_s;
	dt_finding_cb cb;
	void *arg;
};

/* Rewrites the store's raw detail column into words an operator reads. */
static int describe(void *arg, const struct dt_finding *f)
{
	struct report_job *j = arg;
	struct dt_finding out = *f;

	switch (f->kind) {
	case DT_FIND_EXPIRING:
		snprintf(out.detail, sizeof(out.detail), "expires in %lld h",
			 (long long)((f->not_after - dt_now()) / 3600));
		break;
	case DT_FIND_CERT_ON_INACTIVE:
		snprintf(out.detail, sizeof(out.detail),
			 "valid certificate on a %s device: revoke it or fix the state",
			 dt_state_name(f->state));
		break;
	case DT_FIND_ACTIVE_NO_CERT:
		snprintf(out.detail, sizeof(out.detail),
			 "active device without a valid certificate: it cannot authenticate");
		break;
	case DT_FIND_DUPLICATE_KEY:
		snprintf(out.detail, sizeof(out.detail), "public key sha256 %.64s is shared",
			 f->detail);
		break;
	case DT_FIND_WEAK_KEY: {
		int kt = 0;
		sscanf(f->detail, "%d", &kt);
		snprintf(out.detail, sizeof(out.detail), "key type %s is not allowed by class %s",
			 dt_key_type_name((unsigned)kt), f->class_name);
		break;
	}
	}
	return j->cb(j->arg, &out);
}

static dt_code report_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct report_job *j = arg;
	int64_t now = dt_now();

	switch (j->kind) {
	case DT_FIND_EXPIRING:
		return txn->ops->report_expiring(txn, now, now + j->within_s, describe, j, err);
	case DT_FIND_CERT_ON_INACTIVE:
		return txn->ops->report_drift(txn, now, describe, j, err);
	case DT_FIND_DUPLICATE_KEY:
		return txn->ops->report_duplicates(txn, describe, j, err);
	default:
		return txn->ops->report_weak(txn, now, describe, j, err);
	}
}

static dt_code run(struct dt_ctx *ctx, int kind, int64_t within_s, dt_finding_cb cb, void *arg,
		   struct dt_error *err)
{
	struct report_job j = {kind, within_s, cb, arg};

	return store_read(ctx->store, report_job, &j, err);
}

dt_code dt_report_expiring(struct dt_ctx *ctx, int64_t within_s, dt_finding_cb cb, void *arg,
			   struct dt_error *err)
{
	if (within_s <= 0)
		return dt_fail(err, DT_ERR_INVALID, "--within must be a positive duration");
	return run(ctx, DT_FIND_EXPIRING, within_s, cb, arg, err);
}

dt_code dt_report_drift(struct dt_ctx *ctx, dt_finding_cb cb, void *arg, struct dt_error *err)
{
	return run(ctx, DT_FIND_CERT_ON_INACTIVE, 0, cb, arg, err);
}

dt_code dt_report_duplicates(struct dt_ctx *ctx, dt_finding_cb cb, void *arg, struct dt_error *err)
{
	return run(ctx, DT_FIND_DUPLICATE_KEY, 0, cb, arg, err);
}

dt_code dt_report_weak(struct dt_ctx *ctx, dt_finding_cb cb, void *arg, struct dt_error *err)
{
	return run(ctx, DT_FIND_WEAK_KEY, 0, cb, arg, err);
}
