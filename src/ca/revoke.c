/*
 * Revocation: one certificate, every certificate of a class or an issuing
 * CA, and an issuing CA itself (listed on the root's CRL). Each is one
 * transaction with its audit event. Holds belong to the lifecycle
 * (device suspend/resume), not to this path.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"

dt_code dt_serial_normalize(const char *in, char out[DT_SERIAL_HEX_BUF], struct dt_error *err)
{
	char digits[2 * DT_MAX_SERIAL_OCTETS + 1];
	size_t n = 0, start = 0;

	out[0] = '\0';
	if (!in || !*in)
		return dt_fail(err, DT_ERR_INVALID, "serial is empty");
	if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
		in += 2;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == ':')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c + 32);
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return dt_fail(err, DT_ERR_INVALID, "serial '%.48s' is not hexadecimal",
				       in);
		if (n == sizeof(digits) - 1)
			return dt_fail(
			    err, DT_ERR_INVALID,
			    "serial is longer than 20 octets (RFC 5280 section 4.1.2.2)");
		digits[n++] = c;
	}
	digits[n] = '\0';
	while (start + 1 < n && digits[start] == '0')
		start++;
	n -= start;
	if (n == 0)
		return dt_fail(err, DT_ERR_INVALID, "serial is empty");
	if (n < 32) {
		memset(out, '0', 32 - n);
		memcpy(out + 32 - n, digits + start, n + 1);
	} else {
		memcpy(out, digits + start, n + 1);
	}
	return DT_OK;
}

static dt_code check_reason(int reason, struct dt_error *err)
{
	if (reason == DT_REASON_CERTIFICATE_HOLD)
		return dt_fail(err, DT_ERR_INVALID,
			       "certificateHold is set by 'device suspend' and lifted by 'device "
			       "resume'");
	if (reason < 0 || reason > 10 || reason == 7 || reason == DT_REASON_REMOVE_FROM_CRL)
		return dt_fail(err, DT_ERR_INVALID,
			       "reason must be one of unspecified, keyCompromise, cACompromise, "
			       "affiliationChanged, superseded, cessationOfOperation, "
			       "privilegeWithdrawn, aACompromise (RFC 5280 section 5.3.1)");
	return DT_OK;
}

struct revoke_job {
	struct dt_cert_filter scope;
	const char *object;
	int reason;
	const char *why;
	const char *actor;
	int64_t count;
	int single;
};

static dt_code revoke_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct revoke_job *j = arg;
	struct store_cert c;
	const char *before = "valid|on-hold";
	dt_code rc;

	if (j->single) {
		if ((rc = txn->ops->cert_get(txn, j->scope.serial, &c, 0, err)) != DT_OK)
			return rc;
		if (c.info.status == DT_CERT_REVOKED)
			return dt_fail(
			    err, DT_ERR_STATE,
			    "certificate %s is already revoked (%s); revocation is final",
			    j->scope.serial, dt_reason_name(c.info.reason));
		before = dt_cert_status_name(c.info.status);
	}
	if ((rc = txn->ops->cert_set_status(
		 txn, &j->scope, (1u << DT_CERT_VALID) | (1u << DT_CERT_HOLD), DT_CERT_REVOKED,
		 j->reason, dt_now(), NULL, NULL, &j->count, err)) != DT_OK)
		return rc;
	/* Before: the statuses the revocation moves certificates from (one certificate:
	 * its own); count: how many moved. */
	return audit_append_change(
	    txn, j->actor, j->single ? "cert.revoke" : "cert.revoke_all", j->object, j->why,
	    json_pack("{s:s}", "status", before),
	    json_pack("{s:s,s:s}", "status", "revoked", "reason", dt_reason_name(j->reason)),
	    json_pack("{s:I}", "count", (json_int_t)j->count), err);
}

dt_code dt_cert_revoke(struct dt_ctx *ctx, const char *serial, int reason, const char *why,
		       struct dt_error *err)
{
	char sn[DT_SERIAL_HEX_BUF];
	struct revoke_job j;
	dt_code rc;

	if ((rc = dt_serial_normalize(serial, sn, err)) != DT_OK ||
	    (rc = check_reason(reason, err)) != DT_OK ||
	    (rc = dt_check_text("reason text", why, DT_MAX_REASON_LEN, err)) != DT_OK)
		return rc;
	memset(&j, 0, sizeof(j));
	j.scope.serial = sn;
	j.object = sn;
	j.reason = reason;
	j.why = why ? why : "";
	j.actor = dt_actor(ctx);
	j.single = 1;
	return store_write(ctx->store, revoke_job, &j, err);
}

static dt_code scope_exists_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct revoke_job *j = arg;
	struct dt_class cl;
	struct store_ca *ca;
	dt_code rc;

	if (j->scope.class_name)
		return txn->ops->class_get(txn, j->scope.class_name, &cl, err);
	if (!(ca = malloc(sizeof(*ca))))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	rc = txn->ops->ca_get(txn, j->scope.ca, ca, err);
	free(ca);
	return rc;
}

static dt_code revoke_all_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	dt_code rc = scope_exists_job(txn, arg, err);

	return rc != DT_OK ? rc : revoke_job(txn, arg, err);
}

dt_code dt_cert_revoke_all(struct dt_ctx *ctx, enum dt_revoke_scope scope, const char *name,
			   int reason, const char *why, int64_t *count, struct dt_error *err)
{
	struct revoke_job j;
	dt_code rc;

	*count = 0;
	if ((rc = check_reason(reason, err)) != DT_OK ||
	    (rc = dt_check_text("reason text", why, DT_MAX_REASON_LEN, err)) != DT_OK ||
	    (rc = dt_check_name(scope == DT_SCOPE_CLASS ? "class name" : "CA name", name, err)) !=
		DT_OK)
		return rc;
	memset(&j, 0, sizeof(j));
	if (scope == DT_SCOPE_CLASS)
		j.scope.class_name = name;
	else
		j.scope.ca = name;
	j.object = name;
	j.reason = reason;
	j.why = why ? why : "";
	j.actor = dt_actor(ctx);
	rc = store_write(ctx->store, revoke_all_job, &j, err);
	*count = j.count;
	return rc;
}

struct ca_revoke_job {
	const char *name;
	int reason;
	const char *actor;
};

static dt_code ca_revoke_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct ca_revoke_job *j = arg;
	struct store_ca *ca = malloc(sizeof(*ca));
	dt_code rc;

	if (!ca)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = txn->ops->ca_get(txn, j->name, ca, err)) != DT_OK)
		goto out;
	if (strcmp(ca->info.kind, "issuing") != 0) {
		rc = dt_fail(err, DT_ERR_INVALID, "only issuing CAs can be revoked; '%s' is the %s",
			     j->name, ca->info.kind);
		goto out;
	}
	if (ca->info.revoked) {
		rc = dt_fail(err, DT_ERR_STATE, "CA '%s' is already revoked", j->name);
		goto out;
	}
	if ((rc = txn->ops->ca_set_revoked(txn, j->name, dt_now(), j->reason, err)) != DT_OK)
		goto out;
	rc = audit_append_change(
	    txn, j->actor, "ca.revoke", j->name, "", json_pack("{s:b}", "revoked", 0),
	    json_pack("{s:b,s:s}", "revoked", 1, "reason", dt_reason_name(j->reason)), NULL, err);
out:
	free(ca);
	return rc;
}

dt_code dt_ca_revoke(struct dt_ctx *ctx, const char *name, int reason, struct dt_error *err)
{
	struct ca_revoke_job j = {name, reason, dt_actor(ctx)};
	dt_code rc;

	if ((rc = check_reason(reason, err)) != DT_OK)
		return rc;
	if (strcmp(name, "root") == 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "the root cannot revoke itself: replace the hierarchy instead");
	if ((rc = store_write(ctx->store, ca_revoke_job, &j, err)) == DT_OK)
		ca_keyring_mark_revoked(ctx, name);
	return rc;
}
