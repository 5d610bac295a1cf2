/*
 * The audit log: append-only, each event linked to the previous one by
 * SHA-256, so an edited, deleted, inserted or reordered entry is detected.
 */
#ifndef DEVTRUST_AUDIT_H
#define DEVTRUST_AUDIT_H

#include "devtrust/devtrust.h"

struct dt_audit_event {
	int64_t seq;
	int64_t time;
	char actor[128];
	char action[64];
	char object[128];
	char reason[513];   /* DT_MAX_REASON_LEN + 1 */
	char details[1024]; /* JSON object */
	char hash[65];	    /* hex of this event's link */
};

typedef int (*dt_audit_cb)(void *arg, const struct dt_audit_event *e);

/* Walks the chain; on a broken link returns DT_ERR_STATE naming its seq. */
DT_MUST_USE dt_code dt_audit_verify(struct dt_ctx *ctx, int64_t *checked, int64_t *bad_seq,
				    struct dt_error *err);
/* Events, oldest first; object NULL: all. */
DT_MUST_USE dt_code dt_audit_list(struct dt_ctx *ctx, const char *object, dt_audit_cb cb, void *arg,
				  struct dt_error *err);

#endif
