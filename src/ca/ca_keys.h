/*
 * Key files of the ca module (generation, encrypted storage, unlocking).
 * Included only by the files of src/ca.
 */
#ifndef DT_CA_KEYS_H
#define DT_CA_KEYS_H

#include <openssl/evp.h>

#include "ca/ca.h"

DT_MUST_USE dt_code ca_key_generate(const char *curve, EVP_PKEY **out, struct dt_error *err);
/* file is relative to DATA/keys, e.g. "root.key". */
DT_MUST_USE dt_code ca_key_save(struct dt_ctx *ctx, const char *file, EVP_PKEY *key,
				struct dt_error *err);
DT_MUST_USE dt_code ca_key_load(struct dt_ctx *ctx, const char *file, EVP_PKEY **out,
				struct dt_error *err);
DT_MUST_USE dt_code ca_key_path(struct dt_ctx *ctx, const char *file, char *path, size_t cap,
				struct dt_error *err);
DT_MUST_USE dt_code ca_sign_with_key(EVP_PKEY *key, X509 *x, struct dt_error *err);

/* Puts a freshly created CA into the context's keyring (takes ownership). */
DT_MUST_USE dt_code ca_signer_adopt(struct dt_ctx *ctx, const char *name, EVP_PKEY *key, X509 *cert,
				    const struct ca_signer **out, struct dt_error *err);
#endif
