/*
 * The device lifecycle (DESIGN.md section 4): each transition changes the
 * device state, its certificates' statuses and the audit log in one
 * transaction. Anything not in the table is refused.
 */
#include <string.h>

#include "audit/audit.h"
#include "inventory/inventory.h"

#define S(x) (1u << (x))

static const struct rule {
	enum dt_transition t;
	const char *verb;
	unsigned from; /* states the transition starts from */
	enum dt_state to;
	unsigned cert_from; /* certificate statuses it changes */
	enum dt_cert_status cert_to;
	int reason;
} rules[] = {
    {DT_TR_SUSPEND, "suspend", S(DT_STATE_ACTIVE), DT_STATE_SUSPENDED, S(DT_CERT_VALID),
     DT_CERT_HOLD, DT_REASON_CERTIFICATE_HOLD},
    {DT_TR_RESUME, "resume", S(DT_STATE_SUSPENDED), DT_STATE_ACTIVE, S(DT_CERT_HOLD), DT_CERT_VALID,
     0},
    {DT_TR_RETIRE, "retire", S(DT_STATE_REGISTERED) | S(DT_STATE_ACTIVE) | S(DT_STATE_SUSPENDED),
     DT_STATE_RETIRED, S(DT_CERT_VALID) | S(DT_CERT_HOLD), DT_CERT_REVOKED, DT_REASON_CESSATION},
    {DT_TR_COMPROMISED, "compromised",
     S(DT_STATE_REGISTERED) | S(DT_STATE_ACTIVE) | S(DT_STATE_SUSPENDED), DT_STATE_COMPROMISED,
     S(DT_CERT_VALID) | S(DT_CERT_HOLD), DT_CERT_REVOKED, DT_REASON_KEY_COMPROMISE},
};
#define N_RULES (sizeof(rules) / sizeof(rules[0]))

/* "suspend, retire, compromised" or "none (terminal)" for a state. */
static void allowed_from(enum dt_state s, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_RULES; i++)
		if (rules[i].from & S(s))
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? ", " : "",
					      rules[i].verb);
	if (s == DT_STATE_REGISTERED)
		snprintf(buf + n, n < cap ? cap - n : 0, "%sactivation by first enrollment",
			 n ? ", " : "");
	else if (n == 0)
		snprintf(buf, cap, "none (%s is terminal)", dt_state_name(s));
}

/* "valid|hold": the certificate statuses in a rule's mask. */
static void cert_statuses(unsigned mask, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int st = DT_CERT_VALID; st <= DT_CERT_REVOKED; st++)
		if (mask & S(st))
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "|" : "",
					      dt_cert_status_name((enum dt_cert_status)st));
}

struct transition_job {
	const char *id;
	const struct rule *r;
	const char *reason;
	const char *actor;
	int64_t changed;
};

static dt_code transition_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct transition_job *j = arg;
	struct dt_device d;
	struct dt_cert_filter scope = {.device_id = j->id, .status = -1};
	char allowed[160], details[256], action[48], from[32];
	int64_t now = dt_now();
	dt_code rc;

	if ((rc = txn->ops->device_get(txn, j->id, &d, NULL, err)) != DT_OK)
		return rc;
	if (!(j->r->from & S(d.state))) {
		allowed_from(d.state, allowed, sizeof(allowed));
		return dt_fail(err, DT_ERR_STATE,
			       "device '%s' is %s: '%s' is not allowed; allowed from %s: %s", j->id,
			       dt_state_name(d.state), j->r->verb, dt_state_name(d.state), allowed);
	}
	if ((rc = txn->ops->device_set_state(txn, j->id, j->r->to, now, err)) != DT_OK ||
	    (rc = txn->ops->cert_set_status(txn, &scope, j->r->cert_from, j->r->cert_to,
					    j->r->reason, now, NULL, NULL, &j->changed, err)) !=
		DT_OK)
		return rc;
	if (j->r->to == DT_STATE_RETIRED || j->r->to == DT_STATE_COMPROMISED) {
		if ((rc = txn->ops->device_set_token(txn, j->id, NULL, 0, err)) != DT_OK)
			return rc;
	}
	cert_statuses(j->r->cert_from, from, sizeof(from));
	snprintf(details, sizeof(details),
		 "{\"before\":{\"state\":\"%s\"},\"after\":{\"state\":\"%s\"},"
		 "\"certificates\":{\"count\":%lld,\"from\":\"%s\",\"to\":\"%s\"}}",
		 dt_state_name(d.state), dt_state_name(j->r->to), (long long)j->changed, from,
		 dt_cert_status_name(j->r->cert_to));
	snprintf(action, sizeof(action), "device.%s", j->r->verb);
	return audit_append(txn, j->actor, action, j->id, j->reason, details, err);
}

dt_code dt_device_transition(struct dt_ctx *ctx, const char *id, enum dt_transition t,
			     const char *reason, int64_t *changed_certs, struct dt_error *err)
{
	struct transition_job j = {
	    .id = id, .reason = reason ? reason : "", .actor = dt_actor(ctx)};
	dt_code rc;

	if (changed_certs)
		*changed_certs = 0;
	for (size_t i = 0; i < N_RULES; i++)
		if (rules[i].t == t)
			j.r = &rules[i];
	if (!j.r)
		return dt_fail(err, DT_ERR_INVALID, "unknown lifecycle transition");
	if ((rc = dt_check_id("device id", id, err)) != DT_OK ||
	    (rc = dt_check_text("reason", reason, DT_MAX_REASON_LEN, err)) != DT_OK)
		return rc;
	rc = store_write(ctx->store, transition_job, &j, err);
	if (rc == DT_OK && changed_certs)
		*changed_certs = j.changed;
	return rc;
}
