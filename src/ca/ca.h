/*
 * Private interface of the ca module, the only code that touches CA keys.
 * Callers hand it objects to sign; a key never leaves this module, so it can
 * move into a separate process or an HSM behind the same calls.
 */
#ifndef DT_CA_H
#define DT_CA_H

#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <sys/types.h>

#include "core/core.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"

/* A CA's certificate and unlocked signing key, cached per context. */
struct ca_signer;

/* The unlocked signer of CA `name` ("root" or an issuing CA). */
enum ca_use { CA_USE_ISSUE, CA_USE_CRL };
/* A revoked CA still signs its CRLs (a final one after revocation), never certificates. */
DT_MUST_USE dt_code ca_signer_get(struct dt_ctx *ctx, const char *name, enum ca_use use,
				  const struct ca_signer **out, struct dt_error *err);
const X509 *ca_signer_cert(const struct ca_signer *s);
/* Sign *x as the CA: the result may be a new object in *x (the signer process hands
 * back the signed certificate, checked against what was sent), the old one freed. */
DT_MUST_USE dt_code ca_sign_cert(const struct ca_signer *s, X509 **x, struct dt_error *err);
/* Signs the to-be-signed CRL tbs (len bytes of DER) as the CA: its signature value into
 * sig[cap] (CA_MAX_SIG is enough). The caller verifies it before the CRL is used. */
#define CA_MAX_SIG 256
DT_MUST_USE dt_code ca_sign_crl(const struct ca_signer *s, const unsigned char *tbs, size_t len,
				unsigned char *sig, size_t cap, size_t *sig_len,
				struct dt_error *err);
void ca_keyring_free(struct ca_keyring *k);
/* After a CA is revoked: its cached signer stops issuing in this process too. */
void ca_keyring_mark_revoked(struct dt_ctx *ctx, const char *name);

/* A parsed, signature-checked CSR (RFC 2986). */
struct dt_csr;
struct csr_info {
	struct dt_csr *req;
	EVP_PKEY *pkey;			  /* the decoded public key */
	const X509_ALGOR *spki_alg;	  /* the SubjectPublicKeyInfo as sent, */
	const ASN1_BIT_STRING *spki_bits; /* both owned by req */
	unsigned key_type;		  /* enum dt_key_type */
	unsigned char spki_hash[32];	  /* SHA-256 of the DER SubjectPublicKeyInfo */
};

/* Accepts DER or PEM; checks size, structure and proof of possession. */
DT_MUST_USE dt_code csr_parse(const unsigned char *in, size_t len, struct csr_info *out,
			      struct dt_error *err);
void csr_free(struct csr_info *c);
/* The request's DER, as parsed; *der is OPENSSL_malloc'ed. Returns its length or -1. */
int csr_encode(const struct csr_info *c, unsigned char **der);
/* enum dt_key_type of a public key, or an error naming what is unsupported. */
DT_MUST_USE dt_code ca_key_type_of(EVP_PKEY *pk, unsigned *out, struct dt_error *err);

/* Issues a device certificate; names come from d, never from the CSR. */
struct ca_issued {
	unsigned char *der; /* OPENSSL_malloc'ed */
	size_t der_len;
	X509 *x; /* the signed certificate, der's source: callers that need an X509
		  * (a PKCS#7 reply) take it instead of decoding der again */
	struct dt_cert_info info;
};
void ca_issued_free(struct ca_issued *issued);
DT_MUST_USE dt_code ca_issue_device_cert(struct dt_ctx *ctx, const struct dt_device *d,
					 const struct dt_class *cl, const struct csr_info *csr,
					 struct ca_issued *out, struct dt_error *err);

/* What the pre-issuance lint checks an issued device certificate against. */
struct ca_lint_want {
	const struct dt_device *d;
	const struct dt_class *cl;
	const X509 *ca;
	const ASN1_OCTET_STRING *ca_ski;
	const char *serial_hex;
	const char *urn;
	const char *ocsp_url;
	const char *org;
	const unsigned char *spki_hash; /* of the CSR's SubjectPublicKeyInfo */
};
/* Re-parses the DER and checks it against want; any mismatch is DT_ERR_INTERNAL. */
DT_MUST_USE dt_code ca_lint_device_cert(const unsigned char *der, size_t len,
					const struct ca_lint_want *w, struct dt_error *err);

/* Builds the hierarchy of a new data dir (root, default CA, OCSP signers, TLS);
 * ocsp_lifetime_s 0: DT_OCSP_SIGNER_LIFETIME_S. */
DT_MUST_USE dt_code ca_init_hierarchy(struct dt_ctx *ctx, int64_t ocsp_lifetime_s,
				      struct dt_error *err);
/* An OCSP signer lifetime given by a user: 0 becomes the default; else it must lie
 * within DT_MIN_LIFETIME_S and DT_MAX_OCSP_SIGNER_LIFETIME_S. */
DT_MUST_USE dt_code ca_ocsp_lifetime_check(int64_t *lifetime_s, struct dt_error *err);

/* Serials: 128-bit random, positive; text is 32 lower-case hex digits. */
DT_MUST_USE dt_code ca_new_serial(ASN1_INTEGER **out, char hex[DT_SERIAL_HEX_BUF],
				  struct dt_error *err);

/* Extension helpers shared by every certificate we build. */
DT_MUST_USE dt_code ca_add_ext(X509 *x, const X509 *issuer, int nid, const char *value,
			       struct dt_error *err);
/* X509 time to seconds since the epoch. */
int64_t ca_asn1_time(const ASN1_TIME *t);
void ca_fingerprint(const X509 *x, char hex[DT_SHA256_HEX_BUF]);

/* The server's TLS key and chain (leaf first) from the data dir. */
DT_MUST_USE dt_code ca_tls_credentials(struct dt_ctx *ctx, EVP_PKEY **key, STACK_OF(X509) * *chain,
				       struct dt_error *err);

/* ---- OCSP from the CA's side (ocsp_sign.c) ---- */
/* What a CertID (RFC 6960 section 4.1.1) says about a CA certificate. */
#define CA_CERTID_ISSUER 1u /* issuerNameHash and issuerKeyHash are this CA's */
#define CA_CERTID_SERIAL 2u /* serialNumber is this certificate's own serial */
/*
 * For each of the n CertIDs, which CA_CERTID_* bits hold for the CA certificate der.
 * Hash algorithms other than SHA-1 (what clients send), SHA-256, SHA-384 and SHA-512
 * match nothing. The hashes of each certificate are computed once per process.
 */
DT_MUST_USE dt_code ca_certid_match(const unsigned char *der, size_t len, OCSP_CERTID *const *ids,
				    int n, unsigned *rel, struct dt_error *err);
/* The delegated OCSP signer of CA name ("root" or an issuing CA), unlocked once per
 * context; DT_ERR_NOT_FOUND if the CA has none. A revoked CA's signer still answers.
 * The caller holds a reference (a renewal may swap the signer meanwhile) and gives
 * it back with ca_signer_put. */
DT_MUST_USE dt_code ca_ocsp_signer_get(struct dt_ctx *ctx, const char *name,
				       const struct ca_signer **out, struct dt_error *err);
void ca_signer_put(const struct ca_signer *s);
/* Signs bs as that delegated responder: responderID byKey (RFC 5019 section 2.2), the
 * signer's certificate in certs (RFC 6960 section 4.2.2.2), producedAt now. */
DT_MUST_USE dt_code ca_sign_ocsp(const struct ca_signer *s, OCSP_BASICRESP *bs,
				 struct dt_error *err);

/* The certificate that is exactly der (no trailing bytes), or NULL (ocsp_sign.c). */
X509 *ca_der_cert(const unsigned char *der, size_t len);
/* cert's serial as dt_cert_info writes it: 32 lower-case hex digits, at least (ocsp_sign.c). */
DT_MUST_USE dt_code ca_cert_serial_hex(const X509 *cert, char serial[DT_SERIAL_HEX_BUF],
				       struct dt_error *err);
/* The Admin CA (admin_ca.c): its certificate (DT_ERR_NOT_FOUND before the first operator),
 * and a new operator credential: a fresh P-256 key and a clientAuth certificate with CN
 * name for lifetime_s, with the Admin CA's certificate (created on first use). */
DT_MUST_USE dt_code ca_admin_ca_cert(struct dt_ctx *ctx, X509 **out, struct dt_error *err);
DT_MUST_USE dt_code ca_admin_issue(struct dt_ctx *ctx, const char *name, int64_t lifetime_s,
				   EVP_PKEY **key, X509 **cert, X509 **ca_cert,
				   struct dt_error *err);

/* ---- The audit signer (audit_key.c) ---- */
/* The audit key's id: hex SHA-256 of the certificate's DER SubjectPublicKeyInfo. */
DT_MUST_USE dt_code ca_spki_id(const X509 *cert, char id[DT_SHA256_HEX_BUF], struct dt_error *err);
/* Unlocks the newest audit key, or creates one (P-256, its certificate issued by the root,
 * an audit event) when the data dir has none yet: init, or a data dir made before. */
DT_MUST_USE dt_code ca_audit_key_ready(struct dt_ctx *ctx, char key_id[DT_SHA256_HEX_BUF],
				       struct dt_error *err);
/* Signs a checkpoint's to-be-signed text with the audit key (ECDSA P-256, SHA-256, the
 * signature DER-encoded into sig[cap]); key_id names the key that signed. */
DT_MUST_USE dt_code ca_audit_sign(struct dt_ctx *ctx, const unsigned char *tbs, size_t len,
				  unsigned char *sig, size_t cap, size_t *sig_len,
				  char key_id[DT_SHA256_HEX_BUF], struct dt_error *err);

/* ---- Key isolation: the signer process (keyd_client.c, keyd_child.c) ---- */
struct ca_keyd;
/*
 * Starts the signer process of devtrust serve: exe (NULL: /proc/self/exe) run as
 * `exe --data DIR [--passphrase-file F] serve --key-signer N`, with its N sockets as
 * fds 3 to N+2. From then on ctx's CA keys (root, issuing CAs, Admin CA) live in that
 * process only: this one keeps their certificates, signs certificates and CRLs through
 * it, and refuses to load or write a CA key itself. A supervisor thread restarts the
 * signer whenever it exits. Call it before anything parses network input.
 */
DT_MUST_USE dt_code ca_keyd_start(struct dt_ctx *ctx, const char *exe, struct dt_error *err);
/* The signer's pid (0 while it is restarted, or without isolation). */
int ca_keyd_pid(struct dt_ctx *ctx);
/* How many times the signer was restarted. */
int ca_keyd_restarts(struct dt_ctx *ctx);
/* Stops the signer and its supervisor, once nothing signs any more. CA keys stay out of
 * this process: signing fails from then on. */
void ca_keyd_stop(struct dt_ctx *ctx);
/* The signer process itself: serves the nconns sockets at fds 3.. until all close;
 * returns the exit status. */
int ca_keyd_main(const char *data_dir, const char *passphrase_file, int nconns);

/* ---- Privilege separation of devtrust serve started as root (privsep.c, DECISIONS 78) ---- */
struct ca_users {
	uid_t uid; /* the server's user */
	gid_t gid; /* and its group, which the data dir gets */
	int signer;
	uid_t s_uid; /* with signer: the signer's user, owner of the CA keys */
	gid_t s_gid;
	char user[64], signer_user[64];
};
/* Looks up user and signer_user (NULL: the signer runs as the server's user), neither
 * of them root nor the same; the process must be root. */
DT_MUST_USE dt_code ca_privsep_users(const char *user, const char *signer_user, struct ca_users *u,
				     struct dt_error *err);
/* Gives the data dir to u: everything in it to the server's user, except with a signer
 * user the CA key files (ca_key_file_is_ca), which go to it, 0600, in DATA/keys
 * (signer user, the server's group, 1770) under DATA (0750), and the passphrase file,
 * which its group may read (0640). Nothing is followed out of the data dir. */
DT_MUST_USE dt_code ca_privsep_prepare(const char *data_dir, const struct ca_users *u,
				       struct dt_error *err);
/* Starts the launcher process, as u's signer user, through which the next ca_keyd_start
 * starts its signers (keyd_launcher.c). Call it as root, before ca_privsep_become. */
DT_MUST_USE dt_code ca_keyd_launcher_start(const char *data_dir, const char *passphrase_file,
					   const struct ca_users *u, struct dt_error *err);
/* The launcher process itself (ids from ca_keyd_launcher_start); its exit status. */
int ca_keyd_launcher_main(const char *data_dir, const char *passphrase_file, const char *ids);
/* For a command run as root on a data dir given to other users: *found 1 and u its
 * users, read from the files (the data dir's owner and group; with a signer user, the
 * owner of a DATA/keys that ca_privsep_prepare laid out). *found 0 for a process other
 * than root's, a data dir of root's, or none. */
DT_MUST_USE dt_code ca_privsep_owners(const char *data_dir, struct ca_users *u, int *found,
				      struct dt_error *err);
/* Becomes uid:gid for good, with the n supplementary groups (none of root's), no way
 * back, non-dumpable. */
DT_MUST_USE dt_code ca_privsep_become(uid_t uid, gid_t gid, const gid_t *groups, size_t n,
				      struct dt_error *err);
/* As root: starts the launcher if u has a signer user (ca_keyd_launcher_start), then
 * becomes u's server user for good. */
DT_MUST_USE dt_code ca_privsep_enter(const char *data_dir, const char *passphrase_file,
				     const struct ca_users *u, struct dt_error *err);

#endif
