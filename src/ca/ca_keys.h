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

/* Delegated OCSP signers, cached in the keyring beside the CA keys under their own entry
 * names ("<ca>#ocsp"). ca_signer_find returns NULL when the entry is not unlocked yet. */
const struct ca_signer *ca_signer_find(struct dt_ctx *ctx, const char *entry);
/* Unlocks DATA/keys/<key_file> for cert (taken), checks they match (sign/verify self-test)
 * and caches them as entry; a concurrent caller that got there first wins. */
DT_MUST_USE dt_code ca_signer_load(struct dt_ctx *ctx, const char *entry, X509 *cert,
				   const char *key_file, const struct ca_signer **out,
				   struct dt_error *err);
/* OCSP_basic_sign with the signer's key and certificate; flags as OCSP_basic_sign's. */
DT_MUST_USE dt_code ca_sign_ocsp_basic(const struct ca_signer *s, OCSP_BASICRESP *bs,
				       unsigned long flags, struct dt_error *err);
#endif
