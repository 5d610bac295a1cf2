/*
 * Private audit interface: modules append events inside the transaction of
 * the change they record, so the change and its evidence commit together.
 */
#ifndef DT_AUDIT_PRIV_H
#define DT_AUDIT_PRIV_H

#include "store/store.h"

/*
 * Appends one event linked to the previous one. Fields longer than the event
 * buffers are truncated before hashing, so what is stored is what is linked.
 */
DT_MUST_USE dt_code audit_append(struct store_txn *txn, const char *actor, const char *action,
				 const char *object, const char *reason, const char *details,
				 struct dt_error *err);

/* The link of a row: SHA-256 over the previous link and the event's fields. */
void audit_link(const struct store_audit_row *row, unsigned char out[32]);

#endif
