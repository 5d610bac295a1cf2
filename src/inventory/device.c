/*
 * Devices and their one-time enrollment tokens. A token is 128 random bits,
 * shown once, stored only as its SHA-256, single use and short-lived.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "audit/audit.h"
#include "inventory/inventory.h"

/* X.520 serialNumber is a PrintableString (RFC 5280 appendix A.1). */
static dt_code check_printable(const char *what, const char *s, struct dt_error *err)
{
	static const char extra[] = " '()+,-./:=?";

	if (strlen(s) > DT_MAX_SERIAL_LEN)
		return dt_fail(err, DT_ERR_INVALID, "%s is longer than %d characters", what,
			       DT_MAX_SERIAL_LEN);
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return dt_fail(err, DT_ERR_INVALID,
				       "%s has a character outside PrintableString (X.520)", what);
	}
	return DT_OK;
}

dt_code inv_device_validate(const struct dt_device *d, const char **field, struct dt_error *err)
{
	dt_code rc;

#define CHECK(name, expr)                                                                          \
	do {                                                                                       \
		if ((rc = (expr)) != DT_OK) {                                                      \
			*field = name;                                                             \
			return rc;                                                                 \
		}                                                                                  \
	} while (0)
	CHECK("id", dt_check_id("device id", d->id, err));
	CHECK("class", dt_check_name("class", d->class_name, err));
	CHECK("serial", check_printable("serial", d->serial, err));
	CHECK("manufacturer",
	      dt_check_text("manufacturer", d->manufacturer, DT_MAX_FIELD_LEN, err));
	CHECK("model", dt_check_text("model", d->model, DT_MAX_FIELD_LEN, err));
	CHECK("firmware", dt_check_text("firmware", d->firmware, DT_MAX_ID_LEN, err));
	CHECK("owner", dt_check_text("owner", d->owner, DT_MAX_FIELD_LEN, err));
	CHECK("location", dt_check_text("location", d->location, DT_MAX_FIELD_LEN, err));
#undef CHECK
	if ((unsigned)d->criticality > DT_CRIT_LIFE_CRITICAL) {
		*field = "criticality";
		return dt_fail(err, DT_ERR_INVALID,
			       "criticality must be low, medium, high or life-critical");
	}
	*field = NULL;
	return DT_OK;
}

dt_code inv_token_new(char token[DT_TOKEN_BUF], unsigned char hash[32], struct dt_error *err)
{
	unsigned char raw[16];
	dt_code rc;

	if ((rc = dt_random(raw, sizeof(raw), err)) != DT_OK)
		return rc;
	dt_hex(raw, sizeof(raw), token);
	dt_sha256(token, 32, hash);
	OPENSSL_cleanse(raw, sizeof(raw));
	return DT_OK;
}

dt_code inv_token_verify(const struct dt_device *d, const unsigned char stored[32],
			 const char *token, struct dt_error *err)
{
	unsigned char h[32];
	int ok;

	/* One answer for every refusal, so a caller cannot tell which devices exist
	 * or hold a token; the operator sees the token's state in `device show`. */
	if (!token || strlen(token) != 32 || d->token_expires == 0)
		return dt_fail(err, DT_ERR_AUTH, INV_TOKEN_REFUSED, d->id);
	dt_sha256(token, 32, h);
	ok = CRYPTO_memcmp(h, stored, 32) == 0;
	if (!ok || d->token_expires <= dt_now())
		return dt_fail(err, DT_ERR_AUTH, INV_TOKEN_REFUSED, d->id);
	return DT_OK;
}

/* {"before":null,"after":{<the new record>}}: the details of device.add; "{}" if the
 * record does not fit (it always does: every field has a length limit). */
static const char *device_details(const struct dt_device *d, int token, char *out, size_t cap)
{
	const char *text[] = {d->serial,   d->manufacturer, d->model,
			      d->firmware, d->owner,	    d->location};
	char q[6][2 * DT_FIELD_BUF + 2];
	int n;

	for (size_t i = 0; i < 6; i++)
		if (!audit_json_str(q[i], sizeof(q[i]), text[i]))
			return "{}";
	n = snprintf(out, cap,
		     "{\"before\":null,\"after\":{\"class\":\"%s\",\"state\":\"%s\",\"serial\":%s,"
		     "\"manufacturer\":%s,\"model\":%s,\"firmware\":%s,\"owner\":%s,"
		     "\"location\":%s,\"criticality\":\"%s\",\"token\":%s}}",
		     d->class_name, dt_state_name(d->state), q[0], q[1], q[2], q[3], q[4], q[5],
		     dt_criticality_name(d->criticality), token ? "true" : "false");
	return n > 0 && (size_t)n < cap ? out : "{}";
}

dt_code inv_device_insert(struct store_txn *txn, const char *actor, struct dt_device *d,
			  char token[DT_TOKEN_BUF], const char *why, struct dt_error *err)
{
	unsigned char hash[32] = {0};
	char details[DT_AUDIT_DETAILS_BUF];
	dt_code rc;

	d->state = DT_STATE_REGISTERED;
	d->created_at = d->updated_at = dt_now();
	d->token_expires = 0;
	if (token) {
		if ((rc = inv_token_new(token, hash, err)) != DT_OK)
			return rc;
		d->token_expires = d->created_at + INV_TOKEN_TTL_S;
	}
	if ((rc = txn->ops->device_insert(txn, d, token ? hash : NULL, err)) != DT_OK)
		return rc;
	/* The import path adds a million devices in one job: no jansson allocations here. */
	return audit_append(txn, actor, "device.add", d->id, why,
			    device_details(d, token != NULL, details, sizeof(details)), err);
}

struct add_job {
	struct dt_device *d;
	char *token;
	const char *actor;
};

static dt_code add_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct add_job *j = arg;
	struct dt_class cl;
	dt_code rc;

	if ((rc = txn->ops->class_get(txn, j->d->class_name, &cl, err)) != DT_OK)
		return rc;
	return inv_device_insert(txn, j->actor, j->d, j->token, "", err);
}

dt_code dt_device_add(struct dt_ctx *ctx, const struct dt_device *d, char token[DT_TOKEN_BUF],
		      struct dt_error *err)
{
	struct dt_device copy = *d;
	struct add_job j = {&copy, token, dt_actor(ctx)};
	const char *field = NULL;
	dt_code rc;

	token[0] = '\0';
	if ((rc = inv_device_validate(d, &field, err)) != DT_OK)
		return rc;
	rc = store_write(ctx->store, add_job, &j, err);
	if (rc != DT_OK)
		OPENSSL_cleanse(token, DT_TOKEN_BUF);
	return rc;
}

struct get_job {
	const char *id;
	struct dt_device *out;
	const struct dt_device_filter *filter;
	dt_device_cb cb;
	void *arg;
	const char *token;
};

static dt_code get_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct get_job *j = arg;
	unsigned char hash[32];
	dt_code rc;

	if (j->cb)
		return txn->ops->device_list(txn, j->filter, j->cb, j->arg, err);
	if ((rc = txn->ops->device_get(txn, j->id, j->out, hash, err)) != DT_OK)
		return rc;
	return j->token ? inv_token_verify(j->out, hash, j->token, err) : DT_OK;
}

dt_code dt_device_get(struct dt_ctx *ctx, const char *id, struct dt_device *out,
		      struct dt_error *err)
{
	struct get_job j = {.id = id, .out = out};

	return store_read(ctx->store, get_job, &j, err);
}

dt_code dt_device_list(struct dt_ctx *ctx, const struct dt_device_filter *f, dt_device_cb cb,
		       void *arg, struct dt_error *err)
{
	struct get_job j = {.filter = f, .cb = cb, .arg = arg};

	return store_read(ctx->store, get_job, &j, err);
}

dt_code inv_device_token_auth(struct dt_ctx *ctx, const char *id, const char *token,
			      struct dt_device *out, struct dt_error *err)
{
	struct get_job j = {.id = id, .out = out, .token = token};

	return store_read(ctx->store, get_job, &j, err);
}

dt_code dt_device_token_check(struct dt_ctx *ctx, const char *id, const char *token,
			      struct dt_error *err)
{
	struct dt_device d;

	return inv_device_token_auth(ctx, id, token, &d, err);
}

struct token_job {
	const char *id;
	char *token;
	int64_t ttl_s;
	const char *actor;
};

static dt_code token_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct token_job *j = arg;
	struct dt_device d;
	unsigned char hash[32];
	int64_t expires = dt_now() + j->ttl_s;
	dt_code rc;

	if ((rc = txn->ops->device_get(txn, j->id, &d, hash, err)) != DT_OK)
		return rc;
	if (d.state == DT_STATE_RETIRED || d.state == DT_STATE_COMPROMISED ||
	    d.state == DT_STATE_SUSPENDED)
		return dt_fail(err, DT_ERR_STATE,
			       "device '%s' is %s: enrollment tokens are issued only to registered "
			       "or active devices",
			       j->id, dt_state_name(d.state));
	if ((rc = inv_token_new(j->token, hash, err)) != DT_OK ||
	    (rc = txn->ops->device_set_token(txn, j->id, hash, expires, err)) != DT_OK)
		return rc;
	/* The token itself is a secret: only whether one was pending, and until when. */
	return audit_append_change(txn, j->actor, "device.token", j->id,
				   "previous token invalidated",
				   json_pack("{s:I}", "token_expires", (json_int_t)d.token_expires),
				   json_pack("{s:I}", "token_expires", (json_int_t)expires),
				   json_pack("{s:I}", "ttl_s", (json_int_t)j->ttl_s), err);
}

dt_code dt_device_token(struct dt_ctx *ctx, const char *id, int64_t ttl_s, char token[DT_TOKEN_BUF],
			struct dt_error *err)
{
	struct token_job j = {id, token, ttl_s > 0 ? ttl_s : INV_TOKEN_TTL_S, dt_actor(ctx)};
	dt_code rc;

	token[0] = '\0';
	if ((rc = dt_check_id("device id", id, err)) != DT_OK)
		return rc;
	if (j.ttl_s > 365 * 86400LL)
		return dt_fail(err, DT_ERR_INVALID, "token lifetime is at most 365d");
	rc = store_write(ctx->store, token_job, &j, err);
	if (rc != DT_OK)
		OPENSSL_cleanse(token, DT_TOKEN_BUF);
	return rc;
}
