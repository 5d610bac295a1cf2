/*
 * The JSON form of every object (json.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/json.h"

void api_time(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm)) {
		snprintf(buf, cap, "-");
		return;
	}
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *api_device_json(const struct dt_device *d)
{
	char created[32], updated[32], tok[32];

	api_time(d->created_at, created, sizeof(created));
	api_time(d->updated_at, updated, sizeof(updated));
	api_time(d->token_expires, tok, sizeof(tok));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", d->id,
			 "class", d->class_name, "state", dt_state_name(d->state), "serial",
			 d->serial, "manufacturer", d->manufacturer, "model", d->model, "firmware",
			 d->firmware, "owner", d->owner, "location", d->location, "criticality",
			 dt_criticality_name(d->criticality), "created_at", created, "updated_at",
			 updated, "token_expires", d->token_expires ? tok : "");
}

json_t *api_cert_json(const struct dt_cert_info *ci)
{
	char nb[32], na[32], ra[32], ia[32];

	api_time(ci->not_before, nb, sizeof(nb));
	api_time(ci->not_after, na, sizeof(na));
	api_time(ci->revoked_at, ra, sizeof(ra));
	api_time(ci->issued_at, ia, sizeof(ia));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "serial", ci->serial,
			 "device", ci->device_id, "ca", ci->ca, "key_type",
			 dt_key_type_name(ci->key_type), "status", dt_cert_status_name(ci->status),
			 "reason", ci->status == DT_CERT_VALID ? "" : dt_reason_name(ci->reason),
			 "revoked_at", ci->status == DT_CERT_VALID ? "" : ra, "not_before", nb,
			 "not_after", na, "issued_at", ia, "spki_sha256", ci->spki_sha256);
}

json_t *api_ca_json(const struct dt_ca_info *ca)
{
	char nb[32], na[32];

	api_time(ca->not_before, nb, sizeof(nb));
	api_time(ca->not_after, na, sizeof(na));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:I}", "name", ca->name, "kind",
			 ca->kind, "parent", ca->parent, "subject", ca->subject, "fingerprint",
			 ca->fingerprint, "not_before", nb, "not_after", na, "revoked", ca->revoked,
			 "reason", ca->revoked ? dt_reason_name(ca->reason) : "", "crl_number",
			 (json_int_t)ca->crl_number);
}

json_t *api_signer_json(const struct dt_ocsp_signer_info *s)
{
	char nb[32], na[32], ra[32];

	api_time(s->not_before, nb, sizeof(nb));
	api_time(s->not_after, na, sizeof(na));
	if (s->renew_at)
		api_time(s->renew_at, ra, sizeof(ra));
	else
		snprintf(ra, sizeof(ra), "never (ends with its CA)");
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "ca", s->ca, "serial", s->serial,
			 "fingerprint", s->fingerprint, "not_before", nb, "not_after", na,
			 "renew_at", ra);
}

json_t *api_class_json(const struct dt_class *cl)
{
	json_t *kt = json_array(), *eku = json_array();

	for (unsigned b = 1; b <= DT_KEY_ED25519; b <<= 1)
		if (cl->key_types & b)
			json_array_append_new(kt, json_string(dt_key_type_name(b)));
	if (cl->eku & DT_EKU_CLIENT_AUTH)
		json_array_append_new(eku, json_string("clientAuth"));
	if (cl->eku & DT_EKU_SERVER_AUTH)
		json_array_append_new(eku, json_string("serverAuth"));
	return json_pack("{s:s,s:s,s:I,s:o,s:o,s:f,s:s,s:b}", "name", cl->name, "ca", cl->ca,
			 "lifetime_s", (json_int_t)cl->lifetime_s, "key_types", kt, "eku", eku,
			 "renew_at", cl->renew_at, "min_firmware", cl->min_firmware,
			 "revoke_superseded", cl->revoke_superseded);
}

json_t *api_anchor_json(const struct dt_manufacturer_anchor *a)
{
	char na[32], ca[32];

	api_time(a->not_after, na, sizeof(na));
	api_time(a->created_at, ca, sizeof(ca));
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "manufacturer", a->manufacturer, "fingerprint",
			 a->fingerprint, "subject", a->subject, "not_after", na, "created_at", ca);
}

json_t *api_policy_json(const struct dt_policy *p)
{
	char methods[64], created[32];

	dt_methods_format(p->methods, methods, sizeof(methods));
	api_time(p->created_at, created, sizeof(created));
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "class", p->class_name, "service", p->service,
			 "pattern", p->pattern, "methods", methods, "created_at", created);
}

json_t *api_finding_json(const struct dt_finding *f)
{
	char na[32];

	api_time(f->not_after, na, sizeof(na));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "kind", dt_finding_kind_name(f->kind),
			 "device", f->device_id, "class", f->class_name, "state",
			 dt_state_name(f->state), "criticality",
			 dt_criticality_name(f->criticality), "serial", f->serial, "not_after",
			 f->not_after ? na : "", "detail", f->detail);
}

json_t *api_audit_json(const struct dt_audit_event *e)
{
	char t[32];

	api_time(e->time, t, sizeof(t));
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)e->seq, "time", t,
			 "actor", e->actor, "action", e->action, "object", e->object, "reason",
			 e->reason, "details", e->details, "hash", e->hash);
}

json_t *api_cred_json(const struct dt_admin_cred *c)
{
	char na[32], ca[32], ra[32];

	api_time(c->not_after, na, sizeof(na));
	api_time(c->created_at, ca, sizeof(ca));
	api_time(c->revoked_at, ra, sizeof(ra));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", c->id, "kind",
			 c->kind == DT_CRED_CERT ? "certificate" : "token", "name", c->name, "role",
			 dt_role_name(c->role), "manufacturer", c->manufacturer, "not_after", na,
			 "created_at", ca, "created_by", c->created_by, "revoked_at",
			 c->revoked_at ? ra : "");
}

dt_code api_device_parse(struct dt_device *d, const char *id, api_getter get, void *arg,
			 struct dt_error *err)
{
	static const struct {
		const char *name;
		size_t off, cap;
	} fields[] = {
	    {"class", offsetof(struct dt_device, class_name), DT_ID_BUF},
	    {"serial", offsetof(struct dt_device, serial), DT_ID_BUF},
	    {"manufacturer", offsetof(struct dt_device, manufacturer), DT_FIELD_BUF},
	    {"model", offsetof(struct dt_device, model), DT_FIELD_BUF},
	    {"firmware", offsetof(struct dt_device, firmware), DT_ID_BUF},
	    {"owner", offsetof(struct dt_device, owner), DT_FIELD_BUF},
	    {"location", offsetof(struct dt_device, location), DT_FIELD_BUF},
	};
	const char *crit = get(arg, "criticality");
	int v;
	dt_code rc;

	memset(d, 0, sizeof(*d));
	if (!get(arg, "class"))
		return dt_fail(err, DT_ERR_INVALID, "a device needs a class");
	if ((rc = dt_copy(d->id, sizeof(d->id), id, "device id", err)) != DT_OK)
		return rc;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if ((rc = dt_copy((char *)d + fields[i].off, fields[i].cap,
				  get(arg, fields[i].name), fields[i].name, err)) != DT_OK)
			return rc;
	v = crit ? dt_criticality_parse(crit) : DT_CRIT_MEDIUM;
	if (v < 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "criticality is one of low, medium, high, life-critical");
	d->criticality = (enum dt_criticality)v;
	return DT_OK;
}
