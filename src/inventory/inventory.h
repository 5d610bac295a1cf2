/*
 * Private helpers of the inventory module shared by its files.
 */
#ifndef DT_INVENTORY_PRIV_H
#define DT_INVENTORY_PRIV_H

#include "core/core.h"
#include "devtrust/inventory.h"

#define INV_TOKEN_TTL_S (7 * 86400)
/* The one message for every refused enrollment token (no enumeration). */
#define INV_TOKEN_REFUSED "unknown device '%s' or wrong, used or expired enrollment token"

/* Validates every field of d; *field names the first bad one. */
DT_MUST_USE dt_code inv_device_validate(const struct dt_device *d, const char **field,
					struct dt_error *err);
/* A fresh 128-bit token as hex text and the hash the store keeps. */
DT_MUST_USE dt_code inv_token_new(char token[DT_TOKEN_BUF], unsigned char hash[32],
				  struct dt_error *err);
/* Constant-time check of a presented token against the stored hash and expiry. */
DT_MUST_USE dt_code inv_token_verify(const struct dt_device *d, const unsigned char stored[32],
				     const char *token, struct dt_error *err);
/* Inserts a registered device with its audit event (inside a write job). */
DT_MUST_USE dt_code inv_device_insert(struct store_txn *txn, const char *actor, struct dt_device *d,
				      char token[DT_TOKEN_BUF], const char *why,
				      struct dt_error *err);

#endif
