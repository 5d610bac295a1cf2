/*
 * Private to src/api: one call being answered, the helpers every handler
 * uses, and the handlers (devices.c, pki.c, misc.c).
 */
#ifndef DT_API_HANDLERS_H
#define DT_API_HANDLERS_H

#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "api/api.h"

#define API_MAX_PARAMS 2

struct api_call {
	struct dt_ctx *ctx;
	const struct api_request *rq;
	struct api_response *rs;
	char param[API_MAX_PARAMS][DT_FIELD_BUF]; /* the path's {} segments */
	struct evkeyvalq q;			  /* the query */
	json_t *body;				  /* parsed on first use */
};

typedef void (*api_handler)(struct api_call *c);

/* Replies (body taken; NULL: out of memory, a 500). */
void api_reply(struct api_call *c, int status, json_t *body);
void api_fail(struct api_call *c, int status, const char *code, const char *msg);
/* The library's error as status and code: 400 invalid, 404 not_found, 409 exists or
 * state, 500 internal (without details). */
void api_fail_dt(struct api_call *c, const struct dt_error *err);
/* One page of a list: {"items":[...],"next_cursor":...}, the cursor null on the last. */
struct api_page {
	json_t *items;
	int limit, n, more;
	char next[DT_FIELD_BUF]; /* the cursor of the last item added */
};
/* Starts a page of ?limit= items; 0 after a 400 reply. */
int api_page_begin(struct api_call *c, struct api_page *p);
/* In a list callback, before building an item: 1 (stop) when the page is full, and then
 * marks that there is more. */
int api_page_full(struct api_page *p);
/* Adds item (taken); set p->next to its cursor first. Returns the callback's value. */
int api_page_add(struct api_page *p, json_t *item);
/* The page when rc is DT_OK, else err's reply; the items are taken either way. */
void api_page_reply(struct api_call *c, struct api_page *p, dt_code rc, const struct dt_error *err);
/* {"items": arr} when rc is DT_OK, else err's reply (arr is taken either way). */
void api_reply_items(struct api_call *c, dt_code rc, json_t *arr, const struct dt_error *err);
/* arr's items in cmp's order (qsort on json_t **), as a new array; arr is taken.
 * NULL when out of memory. */
json_t *api_sorted(json_t *arr, int (*cmp)(const void *, const void *));
const char *api_query(const struct api_call *c, const char *name);
/* ?limit=, 1..API_LIMIT_MAX; replies 400 and returns 0 when malformed. */
int api_limit(struct api_call *c, int *limit);
/* The body as a JSON object; replies 400 and returns NULL when it is not one. */
json_t *api_body(struct api_call *c);
/* A string field of the body (NULL when absent and not required); 0 after a 400 reply. */
int api_field(struct api_call *c, const char *name, int required, const char **out);
/* The device, if the caller may see it (a vendor: its manufacturer's); 0 after a reply. */
int api_device_visible(struct api_call *c, const char *id, struct dt_device *d);

void api_me(struct api_call *c);
void api_overview(struct api_call *c);
void api_devices_list(struct api_call *c);
void api_devices_add(struct api_call *c);
void api_devices_import(struct api_call *c);
void api_device_show(struct api_call *c);
void api_device_audit(struct api_call *c);
void api_device_token(struct api_call *c);
void api_device_transition(struct api_call *c);
void api_classes_list(struct api_call *c);
void api_classes_add(struct api_call *c);
void api_class_show(struct api_call *c);
void api_class_update(struct api_call *c);
void api_ca_renew_ocsp(struct api_call *c);
void api_manufacturers_list(struct api_call *c);
void api_manufacturer_add(struct api_call *c);
void api_report_blast(struct api_call *c);
void api_device_clear_clone(struct api_call *c);
void api_cas_list(struct api_call *c);
void api_cas_add(struct api_call *c);
void api_ca_show(struct api_call *c);
void api_ca_revoke(struct api_call *c);
void api_certs_list(struct api_call *c);
void api_certs_revoke_bulk(struct api_call *c);
void api_cert_show(struct api_call *c);
void api_cert_revoke(struct api_call *c);
void api_policies_list(struct api_call *c);
void api_policies_add(struct api_call *c);
void api_policies_remove(struct api_call *c);
void api_report(struct api_call *c);
void api_audit_list(struct api_call *c);
void api_audit_verify(struct api_call *c);
void api_admins_list(struct api_call *c);
void api_admins_add(struct api_call *c);
void api_admins_revoke(struct api_call *c);

#endif
