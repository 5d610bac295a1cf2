/*
 * /api/v1/devices: the inventory and the lifecycle, and who is signed in.
 */
#define _GNU_SOURCE /* fmemopen, open_memstream */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/json.h"

void api_me(struct api_call *c)
{
	api_reply(c, 200, api_cred_json(c->rq->who));
}

static int page_device(void *arg, const struct dt_device *d)
{
	struct api_page *p = arg;

	if (api_page_full(p))
		return 1;
	snprintf(p->next, sizeof(p->next), "%s", d->id);
	return api_page_add(p, api_device_json(d));
}

void api_devices_list(struct api_call *c)
{
	const struct dt_admin_cred *who = c->rq->who;
	const char *state = api_query(c, "state");
	struct dt_device_filter f = {api_query(c, "class"), -1, api_query(c, "owner"),
				     api_query(c, "manufacturer"), api_query(c, "cursor")};
	struct api_page p;
	struct dt_error err;

	if (state && (f.state = dt_state_parse(state)) < 0) {
		api_fail(c, 400, "invalid",
			 "state is one of registered, active, suspended, retired, compromised");
		return;
	}
	if (!api_page_begin(c, &p))
		return;
	if (who->role == DT_ROLE_VENDOR) {
		if (f.manufacturer && strcmp(f.manufacturer, who->manufacturer) != 0) {
			api_page_reply(c, &p, DT_OK, &err); /* nothing of another maker */
			return;
		}
		f.manufacturer = who->manufacturer;
	}
	api_page_reply(c, &p, dt_device_list(c->ctx, &f, page_device, &p, &err), &err);
}

static const char *body_get(void *arg, const char *name)
{
	json_t *v = json_object_get(arg, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

void api_devices_add(struct api_call *c)
{
	json_t *b = api_body(c), *o;
	const char *id;
	struct dt_device d;
	struct dt_error err;
	char token[DT_TOKEN_BUF];

	if (!b || !api_field(c, "id", 1, &id))
		return;
	if (api_device_parse(&d, id, body_get, b, &err) != DT_OK ||
	    dt_device_add(c->ctx, &d, token, &err) != DT_OK ||
	    dt_device_get(c->ctx, d.id, &d, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	o = api_device_json(&d);
	json_object_set_new(o, "enrollment_token", json_string(token));
	OPENSSL_cleanse(token, sizeof(token));
	api_reply(c, 201, o);
}

void api_devices_import(struct api_call *c)
{
	FILE *in = NULL, *tok = NULL;
	char *tokens = NULL, *line, *save = NULL;
	size_t tokens_len = 0;
	int64_t n = 0;
	struct dt_error err;
	json_t *arr;

	if (!c->rq->body_len) {
		api_fail(c, 400, "invalid", "the body is the CSV to import");
		return;
	}
	if (!(in = fmemopen((void *)c->rq->body, c->rq->body_len, "r")) ||
	    !(tok = open_memstream(&tokens, &tokens_len))) {
		api_fail(c, 500, "internal", "internal error");
		goto out;
	}
	if (dt_device_import_csv(c->ctx, in, tok, &n, &err) != DT_OK) {
		api_fail_dt(c, &err);
		goto out;
	}
	fclose(tok);
	tok = NULL;
	arr = json_array();
	/* "id,token" lines: the tokens are shown once, here. */
	for (line = tokens ? strtok_r(tokens, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *comma = strchr(line, ',');
		if (comma) {
			*comma = '\0';
			json_array_append_new(
			    arr, json_pack("{s:s,s:s}", "id", line, "enrollment_token", comma + 1));
		}
	}
	api_reply(c, 201, json_pack("{s:I,s:o}", "imported", (json_int_t)n, "devices", arr));
out:
	if (in)
		fclose(in);
	if (tok)
		fclose(tok);
	if (tokens) {
		OPENSSL_cleanse(tokens, tokens_len);
		free(tokens);
	}
}

static int cert_into(void *arg, const struct dt_cert_info *ci)
{
	return json_array_append_new(arg, api_cert_json(ci));
}

void api_device_show(struct api_call *c)
{
	struct dt_device d;
	struct dt_cert_filter f = {.device_id = c->param[0], .status = -1};
	struct dt_error err;
	json_t *o, *certs;

	if (!api_device_visible(c, c->param[0], &d))
		return;
	o = api_device_json(&d);
	certs = json_array();
	if (dt_cert_list(c->ctx, &f, cert_into, certs, &err) != DT_OK) {
		json_decref(o);
		json_decref(certs);
		api_fail_dt(c, &err);
		return;
	}
	json_object_set_new(o, "certificates", certs);
	api_reply(c, 200, o);
}

static int event_into(void *arg, const struct dt_audit_event *e)
{
	return json_array_append_new(arg, api_audit_json(e));
}

static int serial_into(void *arg, const struct dt_cert_info *ci)
{
	return json_array_append_new(arg, json_string(ci->serial));
}

static int by_seq(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "seq"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "seq"));

	return x < y ? -1 : x > y;
}

/* The device's timeline: its own events and those of its certificates (issued,
 * revoked), oldest first. */
void api_device_audit(struct api_call *c)
{
	struct dt_device d;
	struct dt_cert_filter f = {.device_id = c->param[0], .status = -1};
	struct dt_error err;
	json_t *arr, *serials, *v;
	size_t i;
	dt_code rc;

	if (!api_device_visible(c, c->param[0], &d))
		return;
	arr = json_array();
	serials = json_array();
	rc = dt_audit_list(c->ctx, d.id, event_into, arr, &err);
	if (rc == DT_OK)
		rc = dt_cert_list(c->ctx, &f, serial_into, serials, &err);
	json_array_foreach(serials, i, v)
	{
		if (rc == DT_OK)
			rc = dt_audit_list(c->ctx, json_string_value(v), event_into, arr, &err);
	}
	json_decref(serials);
	api_reply_items(c, rc, rc == DT_OK ? api_sorted(arr, by_seq) : arr, &err);
}

void api_device_token(struct api_call *c)
{
	struct dt_device d;
	struct dt_error err;
	char token[DT_TOKEN_BUF], exp[32];
	json_t *o;

	if (!api_device_visible(c, c->param[0], &d))
		return;
	if (dt_device_token(c->ctx, d.id, 0, token, &err) != DT_OK ||
	    dt_device_get(c->ctx, d.id, &d, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	api_time(d.token_expires, exp, sizeof(exp));
	o = json_pack("{s:s,s:s,s:s}", "id", d.id, "enrollment_token", token, "expires", exp);
	OPENSSL_cleanse(token, sizeof(token));
	api_reply(c, 200, o);
}

void api_device_transition(struct api_call *c)
{
	static const struct {
		const char *name;
		enum dt_transition t;
	} tr[] = {{"suspend", DT_TR_SUSPEND},
		  {"resume", DT_TR_RESUME},
		  {"retire", DT_TR_RETIRE},
		  {"compromised", DT_TR_COMPROMISED}};
	const char *action = strrchr(c->rq->path, '/') + 1, *reason = NULL;
	struct dt_device d;
	struct dt_error err;
	int64_t changed = 0;
	size_t i;
	json_t *o;

	if (!api_device_visible(c, c->param[0], &d))
		return;
	/* The reason is optional, and so is a body at all. */
	if (c->rq->body_len && !api_field(c, "reason", 0, &reason))
		return;
	for (i = 0; i < sizeof(tr) / sizeof(tr[0]) && strcmp(tr[i].name, action) != 0; i++)
		;
	if (i == sizeof(tr) / sizeof(tr[0])) {
		api_fail(c, 404, "not_found", "no such lifecycle action");
		return;
	}
	if (dt_device_transition(c->ctx, d.id, tr[i].t, reason, &changed, &err) != DT_OK ||
	    dt_device_get(c->ctx, d.id, &d, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return;
	}
	o = api_device_json(&d);
	json_object_set_new(o, "certificates_changed", json_integer(changed));
	api_reply(c, 200, o);
}

/* After investigation: the device's open clone findings are closed. */
void api_device_clear_clone(struct api_call *c)
{
	struct dt_device d;
	struct dt_error err;
	const char *reason = NULL;
	int64_t n = 0;

	if (!api_device_visible(c, c->param[0], &d))
		return;
	if (c->rq->body_len && !api_field(c, "reason", 0, &reason))
		return;
	if (dt_clone_clear(c->ctx, d.id, reason, &n, &err) != DT_OK)
		api_fail_dt(c, &err);
	else
		api_reply(c, 200, json_pack("{s:s,s:I}", "id", d.id, "cleared", (json_int_t)n));
}
