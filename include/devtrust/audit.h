/*
 * The audit log: append-only, each event linked to the previous one by
 * SHA-256, so an edited, deleted, inserted or reordered entry is detected;
 * checkpoints signed by the audit key (issued by the root) every N events or
 * minutes, so a rewrite of the whole chain before the last checkpoint, or a
 * truncation below it, is detected too. Formats: docs/ARCHITECTURE.md.
 */
#ifndef DEVTRUST_AUDIT_H
#define DEVTRUST_AUDIT_H

#include "devtrust/devtrust.h"

/* Event details: a JSON object {"before":..,"after":..[, context]}; the largest
 * (device.add with every inventory field at its limit, escaped) is under 3 KiB. */
#define DT_AUDIT_DETAILS_BUF 4096

struct dt_audit_event {
	int64_t seq;
	int64_t time;
	char actor[128];
	char action[64];
	char object[128];
	char reason[513]; /* DT_MAX_REASON_LEN + 1 */
	char details[DT_AUDIT_DETAILS_BUF];
	char hash[65]; /* hex of this event's link */
};

typedef int (*dt_audit_cb)(void *arg, const struct dt_audit_event *e);

/* Walks the chain; on a broken link returns DT_ERR_STATE naming its seq. */
DT_MUST_USE dt_code dt_audit_verify(struct dt_ctx *ctx, int64_t *checked, int64_t *bad_seq,
				    struct dt_error *err);
/* Events, oldest first; object NULL: all. */
DT_MUST_USE dt_code dt_audit_list(struct dt_ctx *ctx, const char *object, dt_audit_cb cb, void *arg,
				  struct dt_error *err);

/* ---- Signed checkpoints ---- */

struct dt_audit_checkpoint {
	int64_t seq;	 /* the last event it covers; 0: none */
	int64_t time;	 /* when it was signed */
	char hash[65];	 /* hex of the link of event seq */
	char key_id[65]; /* hex SHA-256 of the audit key's SubjectPublicKeyInfo */
};

/* What dt_audit_verify_full checked. */
struct dt_audit_report {
	int64_t events;			 /* events whose sequence number and links verify */
	int64_t head;			 /* the newest event's seq */
	int64_t bad_seq;		 /* the first broken event or checkpoint; 0: none */
	int64_t checkpoints;		 /* checkpoints whose signature and hash verify */
	struct dt_audit_checkpoint last; /* the newest of those (seq 0: none) */
	int64_t uncovered;		 /* events after it: not yet protected by a signature */
	int64_t keys;			 /* audit keys registered */
	char root_fingerprint[65];	 /* the anchor the audit keys chain to */
};

/*
 * Verifies the chain and every checkpoint: its signature by a registered audit
 * key whose certificate the root issued, and its hash against the chain at its
 * seq (a chain recomputed from an earlier point, or truncated below it, fails).
 * root_fingerprint (hex SHA-256 of the root certificate, colons allowed) pins the
 * anchor; NULL trusts the store's root. DT_ERR_STATE: tampering, with the first
 * problem in err and out->bad_seq; out is filled either way.
 */
DT_MUST_USE dt_code dt_audit_verify_full(struct dt_ctx *ctx, const char *root_fingerprint,
					 struct dt_audit_report *out, struct dt_error *err);

/* When checkpoints are written: after every_events new events, or every_s seconds after
 * the last one when there are new events. */
struct dt_audit_checkpoint_policy {
	int64_t every_events; /* default 1000 */
	int64_t every_s;      /* default 600 */
};
DT_MUST_USE dt_code dt_audit_checkpoint_policy_get(struct dt_ctx *ctx,
						   struct dt_audit_checkpoint_policy *out,
						   struct dt_error *err);
/* Stores the policy (an audit event with before and after). */
DT_MUST_USE dt_code dt_audit_checkpoint_policy_set(struct dt_ctx *ctx,
						   const struct dt_audit_checkpoint_policy *p,
						   struct dt_error *err);

/*
 * Signs a checkpoint over the newest event unless the last checkpoint covers it
 * (*written 0, out the last one). The chain since the last checkpoint is verified
 * first: a broken one is refused (DT_ERR_STATE), never signed. The audit key is
 * created (issued by the root) if the data dir has none yet.
 */
DT_MUST_USE dt_code dt_audit_checkpoint(struct dt_ctx *ctx, struct dt_audit_checkpoint *out,
					int *written, struct dt_error *err);
/*
 * dt_audit_checkpoint when the policy says one is due; for the server's timer and
 * the CLI after a command. Does nothing before *next_check (0: look now) and sets
 * it to when to look again.
 */
DT_MUST_USE dt_code dt_audit_checkpoint_tick(struct dt_ctx *ctx, int64_t *next_check,
					     struct dt_error *err);

/*
 * The export for outside verification, as JSON lines handed to cb one at a time
 * (without the newline): a header, the root certificate, the audit keys, the
 * checkpoints and the events with seq > after_seq, and an end line with counts.
 * cb returns nonzero to stop (DT_ERR_IO).
 */
typedef int (*dt_audit_line_cb)(void *arg, const char *line, size_t len);
DT_MUST_USE dt_code dt_audit_export(struct dt_ctx *ctx, int64_t after_seq, dt_audit_line_cb cb,
				    void *arg, struct dt_error *err);

#endif
