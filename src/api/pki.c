/*
 * /api/v1 classes, CAs and certificates.
 */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/json.h"

static int class_into(void *arg, const struct dt_class *cl)
{
	return json_array_append_new(arg, api_class_json(cl));
}

void api_classes_list(struct api_call *c)
{
	json_t *arr = json_array();
	struct dt_error err;
	dt_code rc = dt_class_list(c->ctx, class_into, arr, &err);

	api_reply_items(c, rc, arr, &err);
}

/* The profile fields of a class body applied to cl (absent ones keep cl's); 0 after a
 * reply. */
static int class_fields(struct api_call *c, json_t *b, struct dt_class *cl)
{
	const char *lifetime, *key_types, *eku, *min_fw;
	struct dt_error err;
	json_t *v;

	if (!api_field(c, "lifetime", 0, &lifetime) || !api_field(c, "key_types", 0, &key_types) ||
	    !api_field(c, "eku", 0, &eku) || !api_field(c, "min_firmware", 0, &min_fw))
		return 0;
	if ((lifetime && dt_duration_parse(lifetime, &cl->lifetime_s, &err) != DT_OK) ||
	    (key_types && dt_key_types_parse(key_types, &cl->key_types, &err) != DT_OK) ||
	    (eku && dt_eku_parse(eku, &cl->eku, &err) != DT_OK) ||
	    (min_fw && dt_copy(cl->min_firmware, sizeof(cl->min_firmware), min_fw,
			       "minimum firmware", &err) != DT_OK)) {
		api_fail_dt(c, &err);
		return 0;
	}
	if ((v = json_object_get(b, "renew_at"))) {
		if (!json_is_number(v)) {
			api_fail(c, 400, "invalid", "renew_at is a fraction such as 0.66");
			return 0;
		}
		cl->renew_at = json_number_value(v);
	}
	if ((v = json_object_get(b, "revoke_superseded"))) {
		if (!json_is_boolean(v)) {
			api_fail(c, 400, "invalid", "revoke_superseded is true or false");
			return 0;
		}
		cl->revoke_superseded = json_is_true(v);
	}
	return 1;
}

void api_classes_add(struct api_call *c)
{
	json_t *b = api_body(c);
	const char *name, *ca;
	struct dt_class cl;
	struct dt_error err;

	if (!b || !api_field(c, "name", 1, &name) || !api_field(c, "ca", 1, &ca))
		return;
	dt_class_defaults(&cl);
	if (dt_copy(cl.name, sizeof(cl.name), name, "class name", &err) != DT_OK ||
	    dt_copy(cl.ca, sizeof(cl.ca), ca, "CA name", &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	if (!class_fields(c, b, &cl))
		return;
	if (dt_class_add(c->ctx, &cl, &err) != DT_OK ||
	    dt_class_get(c->ctx, cl.name, &cl, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 201, api_class_json(&cl));
}

/* A class's profile changes; never its CA (make a new class instead). */
void api_class_update(struct api_call *c)
{
	json_t *b = api_body(c);
	struct dt_class cl = {.lifetime_s = 0};
	struct dt_error err;

	if (!b)
		return;
	if (json_object_get(b, "ca")) {
		api_fail(c, 400, "invalid", "a class never changes CA: create a new class instead");
		return;
	}
	if (dt_class_get(c->ctx, c->param[0], &cl, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	if (!class_fields(c, b, &cl))
		return;
	if (dt_class_update(c->ctx, &cl, &err) != DT_OK ||
	    dt_class_get(c->ctx, cl.name, &cl, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 200, api_class_json(&cl));
}

void api_class_show(struct api_call *c)
{
	struct dt_class cl = {.lifetime_s = 0};
	struct dt_error err;

	if (dt_class_get(c->ctx, c->param[0], &cl, &err) != DT_OK)
		api_fail_dt(c, &err);
	else
		api_reply(c, 200, api_class_json(&cl));
}

static int ca_into(void *arg, const struct dt_ca_info *ca)
{
	return json_array_append_new(arg, api_ca_json(ca));
}

void api_cas_list(struct api_call *c)
{
	json_t *arr = json_array();
	struct dt_error err;
	dt_code rc = dt_ca_list(c->ctx, ca_into, arr, &err);

	api_reply_items(c, rc, arr, &err);
}

static void ca_reply(struct api_call *c, int status, const char *name)
{
	struct dt_ca_info ca;
	struct dt_ocsp_signer_info s;
	struct dt_error err;
	json_t *o;

	if (dt_ca_get(c->ctx, name, &ca, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	o = api_ca_json(&ca);
	if (o && dt_ca_ocsp_signer(c->ctx, ca.name, &s, &err) == DT_OK)
		json_object_set_new(o, "ocsp_signer", api_signer_json(&s));
	api_reply(c, status, o);
}

void api_cas_add(struct api_call *c)
{
	const char *name;
	struct dt_error err;

	if (!api_field(c, "name", 1, &name))
		return;
	if (dt_ca_add(c->ctx, name, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	ca_reply(c, 201, name);
}

void api_ca_show(struct api_call *c)
{
	ca_reply(c, 200, c->param[0]);
}

/* The body's "reason" as a CRL reason, or dflt when absent; -1 after a 400 reply. */
static int body_reason(struct api_call *c, int dflt)
{
	const char *r = NULL;
	int v;

	if (c->rq->body_len && !api_field(c, "reason", 0, &r))
		return -1;
	if (!r)
		return dflt;
	if ((v = dt_reason_parse(r)) < 0)
		api_fail(c, 400, "invalid",
			 "reason is an RFC 5280 reason such as keyCompromise, superseded, "
			 "cessationOfOperation");
	return v;
}

void api_ca_revoke(struct api_call *c)
{
	struct dt_error err;
	int reason = body_reason(c, DT_REASON_CA_COMPROMISE);

	if (reason < 0)
		return;
	if (dt_ca_revoke(c->ctx, c->param[0], reason, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	ca_reply(c, 200, c->param[0]);
}

void api_ca_renew_ocsp(struct api_call *c)
{
	struct dt_ocsp_signer_info si;
	struct dt_error err;
	const char *lifetime = NULL;
	int64_t s = 0;

	if (c->rq->body_len && !api_field(c, "lifetime", 0, &lifetime))
		return;
	if ((lifetime && dt_duration_parse(lifetime, &s, &err) != DT_OK) ||
	    dt_ca_ocsp_renew(c->ctx, c->param[0], s, &si, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 200, api_signer_json(&si));
}

static int anchor_into(void *arg, const struct dt_manufacturer_anchor *a)
{
	return json_array_append_new(arg, api_anchor_json(a));
}

void api_manufacturers_list(struct api_call *c)
{
	json_t *arr = json_array();
	struct dt_error err;
	dt_code rc = dt_manufacturer_list(c->ctx, anchor_into, arr, &err);

	api_reply_items(c, rc, arr, &err);
}

struct anchors_of {
	const char *manufacturer;
	json_t *arr;
};

static int anchor_of(void *arg, const struct dt_manufacturer_anchor *a)
{
	struct anchors_of *o = arg;

	return strcmp(a->manufacturer, o->manufacturer) != 0 ? 0 : anchor_into(o->arr, a);
}

/* The body is the anchor certificate, PEM or DER, as for `manufacturer add --anchor`; the
 * reply lists that manufacturer's anchors. */
void api_manufacturer_add(struct api_call *c)
{
	struct dt_error err;
	json_t *arr;
	struct anchors_of of;

	if (!c->rq->body_len) {
		api_fail(c, 400, "invalid", "the body is the manufacturer's CA certificate");
		return;
	}
	if (dt_manufacturer_add(c->ctx, c->param[0], c->rq->body, c->rq->body_len, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	of.manufacturer = c->param[0];
	of.arr = arr = json_array();
	if (dt_manufacturer_list(c->ctx, anchor_of, &of, &err) != DT_OK) {
		json_decref(arr);
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 201, json_pack("{s:s,s:o}", "manufacturer", c->param[0], "anchors", arr));
}

static int cert_page_one(void *arg, const struct dt_cert_info *ci)
{
	struct api_page *p = arg;

	if (api_page_full(p))
		return 1;
	snprintf(p->next, sizeof(p->next), "%lld.%s", (long long)ci->issued_at, ci->serial);
	return api_page_add(p, api_cert_json(ci));
}

void api_certs_list(struct api_call *c)
{
	const char *status = api_query(c, "status"), *cursor = api_query(c, "cursor");
	struct dt_cert_filter f = {.device_id = api_query(c, "device"),
				   .ca = api_query(c, "ca"),
				   .class_name = api_query(c, "class"),
				   .status = -1};
	char after[DT_SERIAL_HEX_BUF];
	struct api_page p;
	struct dt_device d;
	struct dt_error err;
	long long at;
	int used = 0;

	if (c->rq->who->role == DT_ROLE_VENDOR) {
		if (!f.device_id) {
			api_fail(c, 403, "forbidden",
				 "a vendor lists certificates one device at a time (?device=)");
			return;
		}
		if (!api_device_visible(c, f.device_id, &d))
			return;
	}
	if (status && strcmp(status, "hold") == 0)
		status = "on-hold"; /* the dashboard's word for it */
	if (status && (f.status = strcmp(status, "valid") == 0	   ? DT_CERT_VALID
				  : strcmp(status, "on-hold") == 0 ? DT_CERT_HOLD
				  : strcmp(status, "revoked") == 0 ? DT_CERT_REVOKED
								   : -2) == -2) {
		api_fail(c, 400, "invalid", "status is one of valid, on-hold, revoked");
		return;
	}
	/* The cursor is "<issued_at>.<serial>" of the last certificate sent, whole. */
	if (cursor && (sscanf(cursor, "%lld.%40[0-9a-f]%n", &at, after, &used) != 2 ||
		       cursor[used] != '\0')) {
		api_fail(c, 400, "invalid", "malformed cursor");
		return;
	}
	if (cursor) {
		f.after_serial = after;
		f.after_issued_at = (int64_t)at;
	}
	if (!api_page_begin(c, &p))
		return;
	api_page_reply(c, &p, dt_cert_list(c->ctx, &f, cert_page_one, &p, &err), &err);
}

/* The certificate, if the caller may see its device; 0 after a reply. */
static int cert_visible(struct api_call *c, const char *serial, struct dt_cert_info *ci)
{
	struct dt_device d;
	struct dt_error err;

	if (dt_cert_get(c->ctx, serial, ci, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return 0;
	}
	if (c->rq->who->role == DT_ROLE_VENDOR && !api_device_visible(c, ci->device_id, &d)) {
		api_response_free(c->rs);
		api_fail(c, 404, "not_found", "no such certificate");
		return 0;
	}
	return 1;
}

void api_cert_show(struct api_call *c)
{
	struct dt_cert_info ci;
	struct dt_error err;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509 *x = NULL;
	BIO *b = NULL;
	char *pem = NULL;
	long n;
	json_t *o;

	if (!cert_visible(c, c->param[0], &ci))
		return;
	if (dt_cert_der(c->ctx, ci.serial, &der, &len, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	p = der;
	o = api_cert_json(&ci);
	if ((x = d2i_X509(NULL, &p, (long)len)) && (b = BIO_new(BIO_s_mem())) &&
	    PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &pem)) > 0)
		json_object_set_new(o, "pem", json_stringn(pem, (size_t)n));
	BIO_free(b);
	X509_free(x);
	OPENSSL_free(der);
	api_reply(c, 200, o);
}

void api_cert_revoke(struct api_call *c)
{
	struct dt_cert_info ci;
	struct dt_error err;
	const char *why = NULL;
	int reason = body_reason(c, DT_REASON_UNSPECIFIED);

	if (reason < 0 || (c->rq->body_len && !api_field(c, "why", 0, &why)))
		return;
	if (dt_cert_revoke(c->ctx, c->param[0], reason, why, &err) != DT_OK ||
	    dt_cert_get(c->ctx, c->param[0], &ci, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	api_reply(c, 200, api_cert_json(&ci));
}

/* {"class": C} or {"ca": CA} (every unrevoked certificate of it), or {"serials": [...]}. */
void api_certs_revoke_bulk(struct api_call *c)
{
	json_t *b = api_body(c), *serials, *v, *done;
	const char *cls = NULL, *ca = NULL, *why = NULL;
	struct dt_error err;
	int64_t count = 0;
	int reason;
	size_t i;

	if (!b || !api_field(c, "class", 0, &cls) || !api_field(c, "ca", 0, &ca) ||
	    !api_field(c, "why", 0, &why) || (reason = body_reason(c, DT_REASON_UNSPECIFIED)) < 0)
		return;
	serials = json_object_get(b, "serials");
	if (!!cls + !!ca + !!serials != 1) {
		api_fail(c, 400, "invalid", "give exactly one of class, ca or serials");
		return;
	}
	if (ca && c->rq->who->role != DT_ROLE_ADMIN) {
		api_fail(c, 403, "forbidden", "revoking everything a CA issued is a CA operation");
		return;
	}
	if (!serials) {
		if (dt_cert_revoke_all(c->ctx, cls ? DT_SCOPE_CLASS : DT_SCOPE_CA, cls ? cls : ca,
				       reason, why, &count, &err) != DT_OK)
			api_fail_dt(c, &err);
		else
			api_reply(c, 200, json_pack("{s:I}", "revoked", (json_int_t)count));
		return;
	}
	if (!json_is_array(serials) || json_array_size(serials) == 0 ||
	    json_array_size(serials) > API_LIMIT_MAX) {
		api_fail(c, 400, "invalid", "serials is an array of 1 to 1000 serials");
		return;
	}
	for (i = 0; i < json_array_size(serials); i++) {
		if (!json_is_string(json_array_get(serials, i))) {
			api_fail(c, 400, "invalid", "serials holds strings only");
			return;
		}
	}
	/* One by one: each is its own transaction and audit event; the reply says which
	 * were revoked before any failure. */
	done = json_array();
	for (i = 0; i < json_array_size(serials); i++) {
		v = json_array_get(serials, i);
		if (dt_cert_revoke(c->ctx, json_string_value(v), reason, why, &err) != DT_OK) {
			char msg[DT_ERR_MSG_MAX + 64];
			snprintf(msg, sizeof(msg), "stopped at %s after %zu revoked: %s",
				 json_string_value(v), i, err.msg);
			json_decref(done);
			if (err.code == DT_ERR_INTERNAL || err.code == DT_ERR_IO)
				api_fail_dt(c, &err);
			else
				api_fail(c, err.code == DT_ERR_NOT_FOUND ? 404 : 409,
					 err.code == DT_ERR_NOT_FOUND ? "not_found" : "state", msg);
			return;
		}
		json_array_append(done, v);
	}
	api_reply(
	    c, 200,
	    json_pack("{s:I,s:o}", "revoked", (json_int_t)json_array_size(done), "serials", done));
}
