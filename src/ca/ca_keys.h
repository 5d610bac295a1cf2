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
/* The digest a key signs with: SHA-384 over 256 bits (the root), SHA-256, none for Ed25519. */
const EVP_MD *ca_key_digest(const EVP_PKEY *key);
/* The signature algorithm (NID) a CA key signs with, with ca_key_digest; NID_undef if
 * there is none. */
int ca_key_sig_nid(const EVP_PKEY *key);
/* Signs msg with key and its digest (ca_key_digest): the signature into sig[cap]
 * (CA_MAX_SIG is enough for a CA key), its length in *sig_len; 1 or 0. */
int ca_key_sign(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char *sig, size_t cap,
		size_t *sig_len);
/* Whether sig is pub's signature of msg with pub's digest (ca_key_digest). */
int ca_key_verifies(EVP_PKEY *pub, const unsigned char *msg, size_t len, const unsigned char *sig,
		    size_t sig_len);
/* Sets a to the algorithm identifier an EC CA key signs with, as X509_sign would
 * (ECDSA: no parameters, RFC 5758 section 3.2); 0 for a key that is not EC. */
int ca_key_algor(X509_ALGOR *a, const EVP_PKEY *key);
/* Sets a signature's BIT STRING to sig, whole octets (as ASN1_item_sign_ctx does). */
int ca_bits_set(ASN1_BIT_STRING *bits, const unsigned char *sig, size_t len);
/* Whether key is cert's private key: they match and pass a sign/verify self-test. */
int ca_key_matches(EVP_PKEY *key, const X509 *cert);
/* Whether DATA/keys/<file> holds a CA key (the root, an issuing CA, the Admin CA), which
 * key isolation keeps in the signer process, rather than a key the server signs with
 * itself: tls.key, <ca>-ocsp.key, <ca>-ocsp.<serial>.key, audit-<16 hex>.key. */
int ca_key_file_is_ca(const char *file);

/*
 * A new CA's key (the root, an issuing CA, the Admin CA). Without key isolation it is
 * generated here and *out is the key; with it (devtrust serve) the signer process
 * generates and keeps it, and *out is its public half. Either way the key is saved
 * with ca_key_save_ca, self-signed with ca_sign_self, and adopted with ca_signer_adopt.
 */
DT_MUST_USE dt_code ca_key_generate_ca(struct dt_ctx *ctx, const char *curve, EVP_PKEY **out,
				       struct dt_error *err);
DT_MUST_USE dt_code ca_key_save_ca(struct dt_ctx *ctx, const char *file, EVP_PKEY *key,
				   struct dt_error *err);
/* Self-signs *x with key (a new root of trust); *x may be replaced by the signed object. */
DT_MUST_USE dt_code ca_sign_self(struct dt_ctx *ctx, EVP_PKEY *key, X509 **x, struct dt_error *err);

/* Key isolation in the keyring (keys.c): from ca_keyring_set_keyd on, CA keys live in
 * the signer process keyd; any CA key unlocked here before is dropped. */
DT_MUST_USE dt_code ca_keyring_set_keyd(struct dt_ctx *ctx, struct ca_keyd *keyd,
					struct dt_error *err);
struct ca_keyd *ca_keyring_keyd(struct dt_ctx *ctx);
/* How many CA keys (not OCSP or audit signers) this process holds unlocked. */
int ca_keyring_ca_keys_loaded(struct dt_ctx *ctx);

/* Signs the to-be-signed bytes tbs with the signer's key (SHA-256 for P-256; the
 * signature DER-encoded into sig[cap]): the audit key's checkpoints (audit_key.c). */
DT_MUST_USE dt_code ca_sign_bytes(const struct ca_signer *s, const unsigned char *tbs, size_t len,
				  unsigned char *sig, size_t cap, size_t *sig_len,
				  struct dt_error *err);
/* Puts a freshly created CA into the context's keyring (takes ownership). */
DT_MUST_USE dt_code ca_signer_adopt(struct dt_ctx *ctx, const char *name, EVP_PKEY *key, X509 *cert,
				    const struct ca_signer **out, struct dt_error *err);

/* CA name's row from the store, calloc'ed: the caller frees it. */
DT_MUST_USE dt_code ca_row_read(struct dt_ctx *ctx, const char *name, struct store_ca **out,
				struct dt_error *err);

/* Delegated OCSP signers, cached in the keyring beside the CA keys under their own entry
 * names ("<ca>#ocsp"). A renewal swaps an entry while workers may still sign with the
 * old signer, so these are counted references: ca_signer_find_ref takes one (NULL when
 * the entry is not unlocked yet), ca_signer_put (ca.h) drops it. */
const struct ca_signer *ca_signer_find_ref(struct dt_ctx *ctx, const char *entry);
/* The keyring entry of CA name's OCSP signer, "<name>#ocsp" (ocsp_sign.c). */
#define CA_OCSP_ENTRY_BUF (DT_ID_BUF + 8)
void ca_ocsp_entry(const char *name, char entry[CA_OCSP_ENTRY_BUF]);
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
/* The Admin CA (admin_ca.c): root 1 builds its self-signed certificate for key, root 0 an
 * operator's client certificate (clientAuth) for key, issued by issuer (hierarchy.c). */
DT_MUST_USE dt_code ca_admin_build(struct dt_ctx *ctx, int root, const char *cn, EVP_PKEY *key,
				   const struct ca_signer *issuer, int64_t lifetime_s, X509 **out,
				   struct dt_error *err);
/* An audit key's certificate (audit_key.c): O = org, CN = "Audit Signer", not a CA,
 * digitalSignature only, no revocation URLs; issued to key by the root for lifetime_s,
 * never beyond the root's notAfter (hierarchy.c). */
DT_MUST_USE dt_code ca_audit_key_build(struct dt_ctx *ctx, const struct ca_signer *root,
				       EVP_PKEY *key, int64_t lifetime_s, X509 **out,
				       struct dt_error *err);
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
