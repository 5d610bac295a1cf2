/*
 * Key files of the ca module (generation, encrypted storage, unlocking).
 * Included only by the files of src/ca.
 */
#ifndef DT_CA_KEYS_H
#define DT_CA_KEYS_H

#include <openssl/evp.h>

#include "ca/ca.h"

/* Key file names under DATA/keys: "<ca>-ocsp.<40 hex digits>.key" is the longest. */
#define CA_KEY_FILE_BUF 128
/* notBefore is backdated this much for clock skew, in every certificate we build. */
#define CA_BACKDATE_S 60

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

/* CA name's row from the store, calloc'ed: the caller frees it. */
DT_MUST_USE dt_code ca_row_read(struct dt_ctx *ctx, const char *name, struct store_ca **out,
				struct dt_error *err);
/* The certificate that is exactly der (no trailing bytes), or NULL (ocsp_sign.c). */
X509 *ca_der_cert(const unsigned char *der, size_t len);
/* cert's serial as dt_cert_info writes it: 32 lower-case hex digits, at least (ocsp_sign.c). */
DT_MUST_USE dt_code ca_cert_serial_hex(const X509 *cert, char serial[DT_SERIAL_HEX_BUF],
				       struct dt_error *err);

/* Delegated OCSP signers, cached in the keyring beside the CA keys under their own entry
 * names ("<ca>#ocsp"). A renewal swaps an entry while workers may still sign with the
 * old signer, so these are counted references: ca_signer_find_ref takes one (NULL when
 * the entry is not unlocked yet), ca_signer_put (ca.h) drops it. */
const struct ca_signer *ca_signer_find_ref(struct dt_ctx *ctx, const char *entry);
/* Unlocks DATA/keys/<key_file> for cert (taken), checks they match (sign/verify self-test)
 * and caches them as entry; a concurrent caller that got there first wins. With ref, the
 * caller gets a reference to put. */
DT_MUST_USE dt_code ca_signer_load(struct dt_ctx *ctx, const char *entry, X509 *cert,
				   const char *key_file, int ref, const struct ca_signer **out,
				   struct dt_error *err);
/* Puts cert (taken) with key (taken) in the place of entry if this process has it
 * unlocked; otherwise drops them (it is unlocked from the store on first use). */
DT_MUST_USE dt_code ca_signer_replace(struct dt_ctx *ctx, const char *entry, EVP_PKEY *key,
				      X509 *cert, struct dt_error *err);
/* The same for a signer whose key is in DATA/keys/<key_file>: if the entry is unlocked
 * and its certificate is not cert (taken), unlocks the new one and swaps it in. */
DT_MUST_USE dt_code ca_signer_reload(struct dt_ctx *ctx, const char *entry, X509 *cert,
				     const char *key_file, struct dt_error *err);
/*
 * A new delegated OCSP signer of CA name (hierarchy.c): a P-256 key and a certificate
 * issued by issuer for lifetime_s, never beyond the issuer's notAfter; the key is
 * written encrypted to a new file DATA/keys/<key_file>: "<name>-ocsp.key" for the one
 * made with the CA (init, ca add), "<name>-ocsp.<serial>.key" for a renewal, so the
 * old key stays where it is until the new certificate is committed. *key and *cert
 * are the caller's.
 */
DT_MUST_USE dt_code ca_ocsp_signer_create(struct dt_ctx *ctx, const char *name,
					  const struct ca_signer *issuer, int64_t lifetime_s,
					  int renewal, EVP_PKEY **key, X509 **cert,
					  char key_file[CA_KEY_FILE_BUF], struct dt_error *err);
/* "<name>-ocsp.<serial>.key": the key file of a renewed signer certificate (ocsp_sign.c). */
DT_MUST_USE dt_code ca_ocsp_renewed_key_file(const char *name, const X509 *cert, char *file,
					     size_t cap, struct dt_error *err);
/* The key file of CA name's OCSP signer certificate cert: the renewal's name if that
 * file exists, else the first signer's. */
DT_MUST_USE dt_code ca_ocsp_key_file(struct dt_ctx *ctx, const char *name, const X509 *cert,
				     char *file, size_t cap, struct dt_error *err);
/* OCSP_basic_sign with the signer's key and certificate; flags as OCSP_basic_sign's. */
DT_MUST_USE dt_code ca_sign_ocsp_basic(const struct ca_signer *s, OCSP_BASICRESP *bs,
				       unsigned long flags, struct dt_error *err);
#endif
