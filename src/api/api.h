/*
 * The admin REST API (/api/v1), independent of the HTTP server: a request
 * (method, path under /api/v1, query, body, the authenticated operator) in,
 * a status and a JSON body out. Every operation is the library's own, the
 * same the CLI calls; the API adds authorization (roles, a vendor's
 * manufacturer scope), pagination and one error shape:
 * {"error":{"code":"...","message":"..."}}. docs/openapi.json describes it.
 */
#ifndef DT_API_H
#define DT_API_H

#include <stddef.h>

#include "core/core.h"
#include "devtrust/admin.h"

/* Page sizes of list endpoints (?limit=). */
#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX 1000

struct api_request {
	const char *method; /* "GET", "POST", "DELETE" */
	const char *path;   /* decoded, after "/api/v1", e.g. "/devices/pump-1" */
	const char *query;  /* raw query string, or NULL */
	const unsigned char *body;
	size_t body_len;
	const struct dt_admin_cred *who; /* NULL: not authenticated */
};

struct api_response {
	int status;
	char *body; /* malloc'ed */
	size_t len;
	const char *content_type;
	char note[96]; /* for the request log: never a secret */
};

/* Answers rq into rs (always: errors too). Runs store operations: call it off the event
 * loops. The audit log names the operator as "api:<name>". */
void api_handle(struct dt_ctx *ctx, const struct api_request *rq, struct api_response *rs);
void api_response_free(struct api_response *rs);
/* An error reply in the API's shape, for failures before api_handle (authentication). */
void api_error(struct api_response *rs, int status, const char *code, const char *msg);

#endif
