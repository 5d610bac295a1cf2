/*
 * Device classes: the profile every certificate of a device is issued under
 * (one issuing CA, lifetime, key types, EKU, renewal point, minimum firmware).
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "inventory/inventory.h"

static dt_code class_validate(const struct dt_class *c, struct dt_error *err)
{
	dt_code rc;

	if ((rc = dt_check_name("class name", c->name, err)) != DT_OK ||
	    (rc = dt_check_name("CA name", c->ca, err)) != DT_OK ||
	    (rc = dt_check_text("minimum firmware", c->min_firmware, DT_MAX_ID_LEN, err)) != DT_OK)
		return rc;
	if (strcmp(c->ca, "root") == 0)
		return dt_fail(
		    err, DT_ERR_INVALID,
		    "a class is bound to an issuing CA, not the root (offline use only)");
	if (c->lifetime_s < DT_MIN_LIFETIME_S || c->lifetime_s > DT_MAX_LIFETIME_S)
		return dt_fail(err, DT_ERR_INVALID, "lifetime must be between 60s and 20y");
	if (!c->key_types || (c->key_types & ~(unsigned)DT_KEY_ALL))
		return dt_fail(err, DT_ERR_INVALID, "a class needs at least one key type");
	if (!c->eku || (c->eku & ~(unsigned)(DT_EKU_CLIENT_AUTH | DT_EKU_SERVER_AUTH)))
		return dt_fail(err, DT_ERR_INVALID, "a class needs clientAuth and/or serverAuth");
	if (!(c->renew_at > 0.0 && c->renew_at < 1.0))
		return dt_fail(err, DT_ERR_INVALID,
			       "renewal point must be a fraction of the lifetime between 0 and 1");
	return DT_OK;
}

/* ["ec-p256","rsa-2048"]: the names of the key types in mask. */
static json_t *key_type_names(unsigned mask)
{
	json_t *a = json_array();

	for (unsigned bit = 1; a && bit <= DT_KEY_ALL; bit <<= 1) {
		if (!(mask & bit))
			continue;
		if (json_array_append_new(a, json_string(dt_key_type_name(bit))) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* A class's settings as the audit log records them (before and after a change). */
static json_t *class_json(const struct dt_class *c)
{
	return json_pack("{s:s,s:I,s:o,s:[s*s*],s:f,s:s,s:b}", "ca", c->ca, "lifetime_s",
			 (json_int_t)c->lifetime_s, "key_types", key_type_names(c->key_types),
			 "eku", (c->eku & DT_EKU_CLIENT_AUTH) ? "clientAuth" : NULL,
			 (c->eku & DT_EKU_SERVER_AUTH) ? "serverAuth" : NULL, "renew_at",
			 c->renew_at, "min_firmware", c->min_firmware, "revoke_superseded",
			 c->revoke_superseded);
}

struct class_add_job {
	const struct dt_class *c;
	const char *actor;
};

static dt_code class_add_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct class_add_job *j = arg;
	struct store_ca *ca = malloc(sizeof(*ca));
	dt_code rc;

	if (!ca)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	rc = txn->ops->ca_get(txn, j->c->ca, ca, err);
	if (rc == DT_OK && strcmp(ca->info.kind, "issuing") != 0)
		rc = dt_fail(err, DT_ERR_INVALID, "CA '%s' is not an issuing CA", j->c->ca);
	if (rc == DT_OK && ca->info.revoked)
		rc = dt_fail(err, DT_ERR_STATE, "CA '%s' is revoked", j->c->ca);
	free(ca);
	if (rc != DT_OK)
		return rc;
	if ((rc = txn->ops->class_insert(txn, j->c, err)) != DT_OK)
		return rc;
	return audit_append_change(txn, j->actor, "class.add", j->c->name, "", json_null(),
				   class_json(j->c), NULL, err);
}

dt_code dt_class_add(struct dt_ctx *ctx, const struct dt_class *c, struct dt_error *err)
{
	struct dt_class copy = *c;
	struct class_add_job j = {&copy, dt_actor(ctx)};
	dt_code rc;

	if ((rc = class_validate(c, err)) != DT_OK)
		return rc;
	copy.created_at = dt_now();
	return store_write(ctx->store, class_add_job, &j, err);
}

static dt_code class_update_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct class_add_job *j = arg;
	struct dt_class old;
	dt_code rc;

	if ((rc = txn->ops->class_get(txn, j->c->name, &old, err)) != DT_OK)
		return rc;
	if (strcmp(old.ca, j->c->ca) != 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "class '%s' is bound to CA '%s'; a class never changes CA (create a "
			       "new class instead)",
			       old.name, old.ca);
	if ((rc = txn->ops->class_update(txn, j->c, err)) != DT_OK)
		return rc;
	return audit_append_change(txn, j->actor, "class.update", j->c->name, "", class_json(&old),
				   class_json(j->c), NULL, err);
}

dt_code dt_class_update(struct dt_ctx *ctx, const struct dt_class *c, struct dt_error *err)
{
	struct class_add_job j = {c, dt_actor(ctx)};
	dt_code rc;

	if ((rc = class_validate(c, err)) != DT_OK)
		return rc;
	return store_write(ctx->store, class_update_job, &j, err);
}

struct class_get_job {
	const char *name;
	struct dt_class *out;
	dt_class_cb cb;
	void *arg;
};

static dt_code class_get_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct class_get_job *j = arg;

	if (j->cb)
		return txn->ops->class_list(txn, j->cb, j->arg, err);
	return txn->ops->class_get(txn, j->name, j->out, err);
}

dt_code dt_class_get(struct dt_ctx *ctx, const char *name, struct dt_class *out,
		     struct dt_error *err)
{
	char key[DT_ID_BUF];
	struct class_get_job j = {key, out, NULL, NULL};

	/* name may point into out; copy it before out is cleared. */
	if (dt_copy(key, sizeof(key), name, "class name", err) != DT_OK)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no class named '%.64s'", name ? name : "");
	memset(out, 0, sizeof(*out));
	return store_read(ctx->store, class_get_job, &j, err);
}

dt_code dt_class_list(struct dt_ctx *ctx, dt_class_cb cb, void *arg, struct dt_error *err)
{
	struct class_get_job j = {NULL, NULL, cb, arg};

	return store_read(ctx->store, class_get_job, &j, err);
}
