/*
 * Issuance for a device (the path the CLI and EST share): the CSR proves
 * possession, the inventory supplies every name and the class every limit,
 * the ca module signs, and the certificate is committed with its audit event
 * before it is returned. First issuance activates a registered device.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "inventory/inventory.h"

struct key_check {
	const char *device_id;
	dt_code rc;
	struct dt_error *err;
};

/* A key already on another device is a shared secret; a revoked key is burnt. */
static int check_key_use(void *arg, const struct dt_cert_info *c)
{
	struct key_check *k = arg;

	if (strcmp(c->device_id, k->device_id) != 0)
		k->rc = dt_fail(k->err, DT_ERR_EXISTS,
				"this public key is already used by another device (certificate "
				"%s): every device needs its own key",
				c->serial);
	else if (c->status == DT_CERT_REVOKED)
		k->rc = dt_fail(k->err, DT_ERR_EXISTS,
				"this public key was in certificate %s, which is revoked (%s): "
				"generate a new key",
				c->serial, dt_reason_name(c->reason));
	return k->rc != DT_OK;
}

struct issue_job {
	char device_id[DT_ID_BUF];
	const struct dt_issue_opts *opts;
	struct csr_info csr;
	struct dt_device dev;
	struct dt_class cls;
	struct ca_issued issued;
	const char *actor;
	int activated;
};

/* Every rule of issuance, checked before signing and again inside the commit. */
static dt_code check_rules(struct store_txn *txn, struct issue_job *j, struct dt_error *err)
{
	unsigned char token_hash[32];
	struct key_check k = {j->device_id, DT_OK, err};
	dt_code rc;

	if ((rc = txn->ops->device_get(txn, j->device_id, &j->dev, token_hash, err)) != DT_OK ||
	    (rc = txn->ops->class_get(txn, j->dev.class_name, &j->cls, err)) != DT_OK)
		return rc;
	if (j->dev.state != DT_STATE_REGISTERED && j->dev.state != DT_STATE_ACTIVE)
		return dt_fail(err, DT_ERR_STATE,
			       "device '%s' is %s: certificates are issued only to registered or "
			       "active devices",
			       j->device_id, dt_state_name(j->dev.state));
	if (j->opts && j->opts->token &&
	    (rc = inv_token_verify(&j->dev, token_hash, j->opts->token, err)) != DT_OK)
		return rc;
	if (!(j->csr.key_type & j->cls.key_types))
		return dt_fail(
		    err, DT_ERR_INVALID,
		    "key type %s is not allowed by class '%s' (see 'devtrust class list')",
		    dt_key_type_name(j->csr.key_type), j->cls.name);
	if ((rc = txn->ops->cert_by_spki(txn, j->csr.spki_hash, check_key_use, &k, err)) != DT_OK)
		return rc;
	return k.rc;
}

static dt_code precheck_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return check_rules(txn, arg, err);
}

static dt_code commit_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct issue_job *j = arg;
	struct store_cert sc;
	struct dt_cert_filter scope = {.device_id = j->device_id, .status = -1};
	char details[384];
	int64_t superseded = 0;
	dt_code rc;

	if ((rc = check_rules(txn, j, err)) != DT_OK)
		return rc;
	if (strcmp(j->cls.ca, j->issued.info.ca) != 0)
		return dt_fail(err, DT_ERR_STATE, "class '%s' changed CA during issuance; retry",
			       j->cls.name);
	if (j->opts && j->opts->supersede && j->cls.revoke_superseded &&
	    (rc = txn->ops->cert_set_status(txn, &scope, 1u << DT_CERT_VALID, DT_CERT_REVOKED,
					    DT_REASON_SUPERSEDED, dt_now(), NULL, NULL, &superseded,
					    err)) != DT_OK)
		return rc;
	memset(&sc, 0, sizeof(sc));
	sc.info = j->issued.info;
	memcpy(sc.spki_hash, j->csr.spki_hash, 32);
	sc.der = j->issued.der;
	sc.der_len = j->issued.der_len;
	if ((rc = txn->ops->cert_insert(txn, &sc, err)) != DT_OK)
		return rc;
	/* A bootstrap token is single use: enrollment with it, or the first
	 * certificate by any path, ends it. */
	if (((j->opts && j->opts->token) || j->dev.state == DT_STATE_REGISTERED) &&
	    (rc = txn->ops->device_set_token(txn, j->device_id, NULL, 0, err)) != DT_OK)
		return rc;
	/* The issuance path: one snprintf of names already validated, no read, no jansson.
	 * "superseded" is the count of older certificates this one revoked (the server's
	 * watcher looks for "superseded":0). */
	snprintf(details, sizeof(details),
		 "{\"before\":null,\"after\":{\"device\":\"%s\",\"ca\":\"%s\",\"key_type\":\"%s\","
		 "\"not_after\":%lld,\"status\":\"valid\"},\"superseded\":%lld}",
		 j->device_id, j->issued.info.ca, dt_key_type_name(j->issued.info.key_type),
		 (long long)j->issued.info.not_after, (long long)superseded);
	if ((rc = audit_append(txn, j->actor, "cert.issue", j->issued.info.serial,
			       j->opts && j->opts->token ? "enrollment token" : "", details,
			       err)) != DT_OK)
		return rc;
	j->activated = 0;
	if (j->dev.state == DT_STATE_REGISTERED) {
		if ((rc = txn->ops->device_set_state(txn, j->device_id, DT_STATE_ACTIVE, dt_now(),
						     err)) != DT_OK ||
		    (rc = audit_append(
			 txn, j->actor, "device.activate", j->device_id, "first certificate issued",
			 "{\"before\":{\"state\":\"registered\"},\"after\":{\"state\":\"active\"}}",
			 err)) != DT_OK)
			return rc;
		j->activated = 1;
	}
	return DT_OK;
}

void inv_issue_free(struct issue_job *j)
{
	if (!j)
		return;
	ca_issued_free(&j->issued);
	csr_free(&j->csr);
	free(j);
}

dt_code inv_issue_begin(struct dt_ctx *ctx, const char *device_id, const unsigned char *csr,
			size_t csr_len, const struct dt_issue_opts *opts,
			const struct dt_device *known_dev, const struct dt_class *known_cls,
			struct issue_job **out, struct dt_error *err)
{
	struct issue_job *j = NULL;
	dt_code rc;

	*out = NULL;
	if ((rc = dt_check_id("device id", device_id, err)) != DT_OK)
		return rc;
	if (!(j = calloc(1, sizeof(*j))))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	snprintf(j->device_id, sizeof(j->device_id), "%s", device_id);
	j->opts = opts;
	j->actor = opts && opts->actor ? opts->actor : dt_actor(ctx);
	if ((rc = csr_parse(csr, csr_len, &j->csr, err)) != DT_OK)
		goto fail;
	/* A caller that has just read the device and its class (EST, to
	 * authenticate) saves the read before signing: the commit checks every
	 * rule again on current rows whichever way. */
	if (known_dev && known_cls && strcmp(known_dev->id, device_id) == 0 &&
	    strcmp(known_dev->class_name, known_cls->name) == 0) {
		j->dev = *known_dev;
		j->cls = *known_cls;
	} else if ((rc = store_read(ctx->store, precheck_job, j, err)) != DT_OK) {
		goto fail;
	}
	if ((rc = ca_issue_device_cert(ctx, &j->dev, &j->cls, &j->csr, &j->issued, err)) != DT_OK)
		goto fail;
	*out = j;
	return DT_OK;
fail:
	inv_issue_free(j);
	return rc;
}

dt_code inv_issue_commit(struct dt_ctx *ctx, struct issue_job *j, struct dt_error *err)
{
	return store_write(ctx->store, commit_job, j, err);
}

void inv_issue_commit_async(struct dt_ctx *ctx, struct issue_job *j, struct dt_error *err,
			    store_done_fn done, void *done_arg)
{
	store_write_async(ctx->store, commit_job, j, err, done, done_arg);
}

struct ca_issued *inv_issue_result(struct issue_job *j)
{
	return &j->issued;
}

dt_code dt_cert_issue(struct dt_ctx *ctx, const char *device_id, const unsigned char *csr,
		      size_t csr_len, const struct dt_issue_opts *opts, unsigned char **der_out,
		      size_t *der_len, struct dt_cert_info *info, struct dt_error *err)
{
	struct issue_job *j;
	dt_code rc;

	*der_out = NULL;
	*der_len = 0;
	if (info)
		memset(info, 0, sizeof(*info));
	if ((rc = inv_issue_begin(ctx, device_id, csr, csr_len, opts, NULL, NULL, &j, err)) !=
	    DT_OK)
		return rc;
	if ((rc = inv_issue_commit(ctx, j, err)) == DT_OK) {
		*der_out = j->issued.der;
		*der_len = j->issued.der_len;
		if (info)
			*info = j->issued.info;
		j->issued.der = NULL;
	}
	inv_issue_free(j);
	return rc;
}
