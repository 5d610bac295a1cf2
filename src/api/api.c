/*
 * Routing, authorization and replies of the admin API (api.h). Each route
 * names the roles that may call it; a vendor also only ever sees the devices
 * (and their certificates and events) of its own manufacturer, and anything
 * else is answered as if it did not exist.
 */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "api/api.h"
#include "api/handlers.h"
#include "api/json.h"

#define RA (1u << DT_ROLE_ADMIN)
#define RO (1u << DT_ROLE_OPERATOR)
#define RU (1u << DT_ROLE_AUDITOR)
#define RV (1u << DT_ROLE_VENDOR)

struct route {
	const char *method;
	const char *pattern; /* "{}" matches one path segment */
	unsigned roles;
	api_handler fn;
};

static const struct route routes[] = {
    {"GET", "/me", RA | RO | RU | RV, api_me},
    {"GET", "/overview", RA | RO | RU, api_overview},
    {"GET", "/devices", RA | RO | RU | RV, api_devices_list},
    {"POST", "/devices", RA | RO, api_devices_add},
    {"POST", "/devices/import", RA | RO, api_devices_import},
    {"GET", "/devices/{}", RA | RO | RU | RV, api_device_show},
    {"GET", "/devices/{}/audit", RA | RO | RU | RV, api_device_audit},
    {"POST", "/devices/{}/token", RA | RO | RV, api_device_token},
    {"POST", "/devices/{}/suspend", RA | RO | RV, api_device_transition},
    {"POST", "/devices/{}/resume", RA | RO | RV, api_device_transition},
    {"POST", "/devices/{}/retire", RA | RO, api_device_transition},
    {"POST", "/devices/{}/compromised", RA | RO, api_device_transition},
    {"GET", "/classes", RA | RO | RU, api_classes_list},
    {"POST", "/classes", RA | RO, api_classes_add},
    {"GET", "/classes/{}", RA | RO | RU, api_class_show},
    {"POST", "/classes/{}", RA | RO, api_class_update},
    {"GET", "/cas", RA | RO | RU, api_cas_list},
    {"POST", "/cas", RA, api_cas_add},
    {"GET", "/cas/{}", RA | RO | RU, api_ca_show},
    {"POST", "/cas/{}/revoke", RA, api_ca_revoke},
    {"POST", "/cas/{}/renew-ocsp", RA, api_ca_renew_ocsp},
    {"GET", "/manufacturers", RA | RO | RU, api_manufacturers_list},
    {"POST", "/manufacturers/{}", RA | RO, api_manufacturer_add},
    {"GET", "/certificates", RA | RO | RU | RV, api_certs_list},
    {"POST", "/certificates/revoke", RA | RO, api_certs_revoke_bulk},
    {"GET", "/certificates/{}", RA | RO | RU | RV, api_cert_show},
    {"POST", "/certificates/{}/revoke", RA | RO, api_cert_revoke},
    {"GET", "/policies", RA | RO | RU, api_policies_list},
    {"POST", "/policies", RA | RO, api_policies_add},
    {"DELETE", "/policies", RA | RO, api_policies_remove},
    {"GET", "/reports/blast-radius", RA | RO | RU, api_report_blast},
    {"GET", "/reports/{}", RA | RO | RU, api_report},
    {"POST", "/devices/{}/clear-clone", RA | RO, api_device_clear_clone},
    {"GET", "/audit", RA | RO | RU, api_audit_list},
    {"GET", "/audit/verify", RA | RU, api_audit_verify},
    {"GET", "/admins", RA, api_admins_list},
    {"POST", "/admins", RA, api_admins_add},
    {"DELETE", "/admins/{}", RA, api_admins_revoke},
};

void api_response_free(struct api_response *rs)
{
	free(rs->body);
	rs->body = NULL;
}

void api_reply(struct api_call *c, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (!text) {
		api_error(c->rs, 500, "internal", "internal error");
		return;
	}
	free(c->rs->body);
	c->rs->status = status;
	c->rs->body = text;
	c->rs->len = strlen(text);
	c->rs->content_type = "application/json";
}

/* Length of the UTF-8 sequence at s (RFC 3629 section 4), 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80			  ? 1
		   : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		   : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		   : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						  : 0;
	unsigned char lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : 0x80;
	unsigned char hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : 0xbf;

	for (size_t i = 1; i < n; i++)
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
			return 0;
	return n;
}

/* msg with '?' for each byte that is not UTF-8: messages quote the request, whose path
 * and query decode to any bytes, and a JSON string is UTF-8 (RFC 8259 section 8.1). */
static void utf8_clean(char *dst, size_t cap, const char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t o = 0, n;

	while (*s && o + 4 < cap) {
		if ((n = utf8_len(s)) == 0) {
			dst[o++] = '?';
			s++;
		} else {
			memcpy(dst + o, s, n);
			o += n;
			s += n;
		}
	}
	dst[o] = '\0';
}

void api_error(struct api_response *rs, int status, const char *code, const char *msg)
{
	char clean[DT_ERR_MSG_MAX + 64];
	json_t *o;
	char *text;

	utf8_clean(clean, sizeof(clean), msg);
	o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", clean);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	free(rs->body);
	rs->status = status;
	rs->body = text;
	rs->len = text ? strlen(text) : 0;
	rs->content_type = "application/json";
	snprintf(rs->note, sizeof(rs->note), "%.90s", msg);
}

void api_fail(struct api_call *c, int status, const char *code, const char *msg)
{
	api_error(c->rs, status, code, msg);
}

void api_fail_dt(struct api_call *c, const struct dt_error *err)
{
	switch (err->code) {
	case DT_ERR_INVALID:
		api_fail(c, 400, "invalid", err->msg);
		break;
	case DT_ERR_NOT_FOUND:
		api_fail(c, 404, "not_found", err->msg);
		break;
	case DT_ERR_EXISTS:
		api_fail(c, 409, "exists", err->msg);
		break;
	case DT_ERR_STATE:
		api_fail(c, 409, "state", err->msg);
		break;
	case DT_ERR_AUTH:
		api_fail(c, 401, "unauthenticated", err->msg);
		break;
	default:
		/* Details go to the log's note, never to the caller. */
		api_fail(c, 500, "internal", "internal error");
		snprintf(c->rs->note, sizeof(c->rs->note), "%.90s", err->msg);
	}
}

void api_reply_items(struct api_call *c, dt_code rc, json_t *arr, const struct dt_error *err)
{
	if (rc != DT_OK) {
		json_decref(arr);
		api_fail_dt(c, err);
		return;
	}
	api_reply(c, 200, json_pack("{s:o}", "items", arr));
}

json_t *api_sorted(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t i, n = json_array_size(arr);
	json_t **items = n ? malloc(n * sizeof(*items)) : NULL, *out;

	if (n && !items) {
		json_decref(arr);
		return NULL;
	}
	for (i = 0; i < n; i++)
		items[i] = json_array_get(arr, i);
	if (n)
		qsort(items, n, sizeof(*items), cmp);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append(out, items[i]);
	free(items);
	json_decref(arr);
	return out;
}

const char *api_query(const struct api_call *c, const char *name)
{
	return evhttp_find_header(&c->q, name);
}

int api_page_begin(struct api_call *c, struct api_page *p)
{
	memset(p, 0, sizeof(*p));
	if (!api_limit(c, &p->limit))
		return 0;
	p->items = json_array();
	return 1;
}

int api_page_full(struct api_page *p)
{
	if (p->n < p->limit)
		return 0;
	p->more = 1;
	return 1;
}

int api_page_add(struct api_page *p, json_t *item)
{
	p->n++;
	return json_array_append_new(p->items, item);
}

void api_page_reply(struct api_call *c, struct api_page *p, dt_code rc, const struct dt_error *err)
{
	if (rc != DT_OK) {
		json_decref(p->items);
		api_fail_dt(c, err);
		return;
	}
	api_reply(c, 200,
		  json_pack("{s:o,s:o}", "items", p->items, "next_cursor",
			    p->more ? json_string(p->next) : json_null()));
}

int api_limit(struct api_call *c, int *limit)
{
	const char *v = api_query(c, "limit");
	char *end = NULL;
	long n;

	*limit = API_LIMIT_DEFAULT;
	if (!v)
		return 1;
	n = strtol(v, &end, 10);
	if (!*v || *end || n < 1 || n > API_LIMIT_MAX) {
		api_fail(c, 400, "invalid", "limit must be a number from 1 to 1000");
		return 0;
	}
	*limit = (int)n;
	return 1;
}

json_t *api_body(struct api_call *c)
{
	json_error_t je;
	json_t *b;

	if (c->body)
		return c->body;
	if (!c->rq->body_len) {
		api_fail(c, 400, "invalid", "this call takes a JSON object as its body");
		return NULL;
	}
	b = json_loadb((const char *)c->rq->body, c->rq->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!b || !json_is_object(b)) {
		json_decref(b);
		api_fail(c, 400, "invalid", "the body is not a JSON object");
		return NULL;
	}
	return c->body = b;
}

int api_field(struct api_call *c, const char *name, int required, const char **out)
{
	json_t *b = api_body(c), *v;
	char msg[128];

	*out = NULL;
	if (!b)
		return 0;
	v = json_object_get(b, name);
	if (!v || json_is_null(v)) {
		if (!required)
			return 1;
		snprintf(msg, sizeof(msg), "the body needs the string field \"%s\"", name);
	} else if (json_is_string(v)) {
		*out = json_string_value(v);
		return 1;
	} else {
		snprintf(msg, sizeof(msg), "\"%s\" must be a string", name);
	}
	api_fail(c, 400, "invalid", msg);
	return 0;
}

int api_device_visible(struct api_call *c, const char *id, struct dt_device *d)
{
	struct dt_error err;
	char msg[DT_ID_BUF + 32];

	if (dt_device_get(c->ctx, id, d, &err) != DT_OK) {
		api_fail_dt(c, &err);
		return 0;
	}
	/* Another maker's device does not exist for a vendor. */
	if (c->rq->who->role == DT_ROLE_VENDOR &&
	    strcmp(d->manufacturer, c->rq->who->manufacturer) != 0) {
		snprintf(msg, sizeof(msg), "no device with id '%s'", id);
		api_fail(c, 404, "not_found", msg);
		return 0;
	}
	return 1;
}

/* Matches path against pattern; fills params. */
static int match(const char *pattern, const char *path, char params[API_MAX_PARAMS][DT_FIELD_BUF])
{
	int n = 0;

	while (*pattern && *path) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t len = strcspn(path, "/");
			if (len == 0 || len >= DT_FIELD_BUF || n == API_MAX_PARAMS)
				return 0;
			memcpy(params[n], path, len);
			params[n++][len] = '\0';
			path += len;
			pattern += 2;
		} else if (*pattern++ != *path++) {
			return 0;
		}
	}
	return !*pattern && !*path;
}

void api_handle(struct dt_ctx *ctx, const struct api_request *rq, struct api_response *rs)
{
	struct api_call c;
	char actor[DT_ID_BUF + 8];
	int path_known = 0, i;
	size_t n = sizeof(routes) / sizeof(routes[0]);

	memset(rs, 0, sizeof(*rs));
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.rq = rq;
	c.rs = rs;
	TAILQ_INIT(&c.q);
	if (!rq->who) {
		api_error(rs, 401, "unauthenticated",
			  "sign in with an operator certificate or an API token");
		return;
	}
	if (rq->query && evhttp_parse_query_str(rq->query, &c.q) != 0) {
		api_error(rs, 400, "invalid", "malformed query string");
		return;
	}
	for (i = 0; i < (int)n; i++) {
		if (!match(routes[i].pattern, rq->path, c.param))
			continue;
		path_known = 1;
		if (strcmp(routes[i].method, rq->method) == 0)
			break;
	}
	if (i == (int)n) {
		if (path_known)
			api_error(rs, 405, "method_not_allowed",
				  "this path does not take that method");
		else
			api_error(rs, 404, "not_found", "no such API endpoint");
	} else if (!(routes[i].roles & (1u << rq->who->role))) {
		api_error(rs, 403, "forbidden", "the signed-in role may not do this");
	} else {
		snprintf(actor, sizeof(actor), "api:%s", rq->who->name);
		dt_actor_set_thread(actor);
		routes[i].fn(&c);
		dt_actor_set_thread(NULL);
	}
	if (!rs->body)
		api_error(rs, 500, "internal", "internal error");
	evhttp_clear_headers(&c.q);
	json_decref(c.body);
}
