/*
 * Private helpers of the inventory module shared by its files.
 */
#ifndef DT_INVENTORY_PRIV_H
#define DT_INVENTORY_PRIV_H

#include "core/core.h"
#include "store/store.h"
#include "devtrust/inventory.h"

#define INV_TOKEN_TTL_S (7 * 86400)
/* The one message for every refused enrollment token (no enumeration). */
#define INV_TOKEN_REFUSED "unknown device '%s' or wrong, used or expired enrollment token"

/* dt_device_token_check() that also returns the device it read. */
DT_MUST_USE dt_code inv_device_token_auth(struct dt_ctx *ctx, const char *id, const char *token,
					  struct dt_device *out, struct dt_error *err);
/*
 * Issuance in two steps for callers that must not wait for the commit (the
 * server's EST path): inv_issue_begin() parses the CSR and signs;
 * inv_issue_commit_async() commits the certificate with every rule checked
 * again and calls done once it is durable (or refused: err);
 * inv_issue_commit() does the same and returns when it is. opts must live
 * until then. inv_issue_result() is the certificate, inv_issue_free() ends it.
 * known_dev and known_cls, if the caller has just read them, save a read
 * before signing; the commit re-checks every rule on current rows.
 */
struct ca_issued;
struct issue_job;
DT_MUST_USE dt_code inv_issue_begin(struct dt_ctx *ctx, const char *device_id,
				    const unsigned char *csr, size_t csr_len,
				    const struct dt_issue_opts *opts,
				    const struct dt_device *known_dev,
				    const struct dt_class *known_cls, struct issue_job **out,
				    struct dt_error *err);
DT_MUST_USE dt_code inv_issue_commit(struct dt_ctx *ctx, struct issue_job *j, struct dt_error *err);
void inv_issue_commit_async(struct dt_ctx *ctx, struct issue_job *j, struct dt_error *err,
			    store_done_fn done, void *done_arg);
struct ca_issued *inv_issue_result(struct issue_job *j);
void inv_issue_free(struct issue_job *j);
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
