/*
 * Certificates: issuing CAs, issuance from a CSR under a class profile,
 * revocation, and CRLs. Names always come from the inventory, never the CSR.
 */
#ifndef DEVTRUST_PKI_H
#define DEVTRUST_PKI_H

#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"

/* 32 hex characters of a 128-bit serial, or 40 for other CAs' serials. */
#define DT_SERIAL_HEX_BUF 41
#define DT_SHA256_HEX_BUF 65

enum dt_cert_status {
	DT_CERT_VALID = 0,
	DT_CERT_HOLD = 1,
	DT_CERT_REVOKED = 2,
};

/* RFC 5280 section 5.3.1 CRLReason values. */
enum dt_reason {
	DT_REASON_UNSPECIFIED = 0,
	DT_REASON_KEY_COMPROMISE = 1,
	DT_REASON_CA_COMPROMISE = 2,
	DT_REASON_AFFILIATION_CHANGED = 3,
	DT_REASON_SUPERSEDED = 4,
	DT_REASON_CESSATION = 5,
	DT_REASON_CERTIFICATE_HOLD = 6,
	DT_REASON_REMOVE_FROM_CRL = 8,
	DT_REASON_PRIVILEGE_WITHDRAWN = 9,
	DT_REASON_AA_COMPROMISE = 10,
};

struct dt_ca_info {
	char name[DT_ID_BUF];
	char kind[16]; /* "root" or "issuing" */
	char parent[DT_ID_BUF];
	char subject[DT_FIELD_BUF];
	char fingerprint[DT_SHA256_HEX_BUF]; /* SHA-256 of the DER certificate */
	int64_t not_before;
	int64_t not_after;
	int revoked;
	int64_t revoked_at;
	int reason;
	int64_t crl_number; /* last CRL number issued, 0: none yet */
};

struct dt_cert_info {
	char serial[DT_SERIAL_HEX_BUF];
	char device_id[DT_ID_BUF];
	char ca[DT_ID_BUF];
	unsigned key_type;
	int64_t not_before;
	int64_t not_after;
	enum dt_cert_status status;
	int reason;
	int64_t revoked_at;
	int64_t issued_at;
	char spki_sha256[DT_SHA256_HEX_BUF];
};

struct dt_cert_filter {
	const char *serial;    /* NULL: any */
	const char *device_id; /* NULL: any */
	const char *ca;
	const char *class_name;
	int status; /* -1: any */
	/* Pagination: only certificates after (after_issued_at, after_serial) in the list's
	 * order (issued_at, serial); after_serial NULL: from the first. */
	const char *after_serial;
	int64_t after_issued_at;
};

typedef int (*dt_ca_cb)(void *arg, const struct dt_ca_info *ca);
typedef int (*dt_cert_cb)(void *arg, const struct dt_cert_info *c);

const char *dt_reason_name(int reason);
int dt_reason_parse(const char *s);
const char *dt_cert_status_name(enum dt_cert_status s);

DT_MUST_USE dt_code dt_ca_add(struct dt_ctx *ctx, const char *name, struct dt_error *err);
struct dt_ca_opts {
	int64_t ocsp_lifetime_s; /* the CA's OCSP signer; 0: DT_OCSP_SIGNER_LIFETIME_S */
};
/* dt_ca_add with options (o may be NULL). */
DT_MUST_USE dt_code dt_ca_add_opts(struct dt_ctx *ctx, const char *name, const struct dt_ca_opts *o,
				   struct dt_error *err);
DT_MUST_USE dt_code dt_ca_list(struct dt_ctx *ctx, dt_ca_cb cb, void *arg, struct dt_error *err);
DT_MUST_USE dt_code dt_ca_get(struct dt_ctx *ctx, const char *name, struct dt_ca_info *out,
			      struct dt_error *err);
/* DER certificate of a CA ("root" or an issuing CA); *der is OPENSSL_malloc'ed. */
DT_MUST_USE dt_code dt_ca_cert_der(struct dt_ctx *ctx, const char *name, unsigned char **der,
				   size_t *len, struct dt_error *err);
/* Revokes an issuing CA at the root (it appears on the root's CRL). */
DT_MUST_USE dt_code dt_ca_revoke(struct dt_ctx *ctx, const char *name, int reason,
				 struct dt_error *err);

struct dt_issue_opts {
	const char *token; /* if set: consumed in the same transaction (EST bootstrap) */
	int supersede;	   /* re-enrollment: revoke older certificates if the class says so */
	const char *actor; /* who asks, for the audit log; NULL: the context's actor */
};

/*
 * Issues a certificate for a device from a DER or PEM CSR. The certificate is
 * committed durably before this returns; *der_out is OPENSSL_malloc'ed.
 */
DT_MUST_USE dt_code dt_cert_issue(struct dt_ctx *ctx, const char *device_id,
				  const unsigned char *csr, size_t csr_len,
				  const struct dt_issue_opts *opts, unsigned char **der_out,
				  size_t *der_len, struct dt_cert_info *info, struct dt_error *err);
DT_MUST_USE dt_code dt_cert_revoke(struct dt_ctx *ctx, const char *serial, int reason,
				   const char *why, struct dt_error *err);

enum dt_revoke_scope {
	DT_SCOPE_CLASS = 0,
	DT_SCOPE_CA,
};
/* Revokes every unrevoked certificate of a class or of an issuing CA. */
DT_MUST_USE dt_code dt_cert_revoke_all(struct dt_ctx *ctx, enum dt_revoke_scope scope,
				       const char *name, int reason, const char *why,
				       int64_t *count, struct dt_error *err);
DT_MUST_USE dt_code dt_cert_get(struct dt_ctx *ctx, const char *serial, struct dt_cert_info *out,
				struct dt_error *err);
/* The stored DER certificate; *der is OPENSSL_malloc'ed. */
DT_MUST_USE dt_code dt_cert_der(struct dt_ctx *ctx, const char *serial, unsigned char **der,
				size_t *len, struct dt_error *err);
DT_MUST_USE dt_code dt_cert_list(struct dt_ctx *ctx, const struct dt_cert_filter *f, dt_cert_cb cb,
				 void *arg, struct dt_error *err);
/* Normalises a serial given by a user (hex, any case, optional colons). */
DT_MUST_USE dt_code dt_serial_normalize(const char *in, char out[DT_SERIAL_HEX_BUF],
					struct dt_error *err);

/*
 * Delegated OCSP signers (RFC 6960 section 4.2.2.2): every CA, the root included, answers
 * OCSP through a signer certificate it issued (id-kp-OCSPSigning, id-pkix-ocsp-nocheck).
 * They are renewed with a fresh key once a third of their validity is left: by the
 * server on its own, or with dt_ca_ocsp_renew.
 */
#define DT_OCSP_SIGNER_LIFETIME_S (365LL * 24 * 3600)

struct dt_ocsp_signer_info {
	char ca[DT_ID_BUF];
	char serial[DT_SERIAL_HEX_BUF];
	char fingerprint[DT_SHA256_HEX_BUF]; /* SHA-256 of the DER certificate */
	int64_t not_before;
	int64_t not_after;
	int64_t renew_at; /* 0: renewing cannot extend it (it already ends with its CA) */
};

/*
 * When a signer valid from not_before to not_after, of a CA valid until ca_not_after,
 * is to be renewed: once two thirds of its validity have passed. 0 when renewing
 * cannot extend it, because it already ends when its CA does.
 */
int64_t dt_ocsp_signer_renew_at(int64_t not_before, int64_t not_after, int64_t ca_not_after);
/* The current OCSP signer of CA ("root" or an issuing CA); DT_ERR_NOT_FOUND if it has none. */
DT_MUST_USE dt_code dt_ca_ocsp_signer(struct dt_ctx *ctx, const char *ca,
				      struct dt_ocsp_signer_info *out, struct dt_error *err);
/*
 * Replaces the OCSP signer of CA with a new key (P-256, encrypted like every CA key) and
 * a certificate issued by the CA for lifetime_s (0: the current signer's lifetime, or
 * the default for a root that has none yet), recorded with a ca.ocsp_renew audit event;
 * the previous key file is removed. Unlocks the CA's key; refused for a revoked or
 * expired CA, and if another process renewed it meanwhile.
 */
DT_MUST_USE dt_code dt_ca_ocsp_renew(struct dt_ctx *ctx, const char *ca, int64_t lifetime_s,
				     struct dt_ocsp_signer_info *out, struct dt_error *err);
/*
 * Renews every OCSP signer whose renew_at is at or before now (unrevoked CAs that have
 * one). *renewed counts the renewals, *next_at is the earliest renew_at still ahead
 * (0: none). Every due signer is tried; the first failure is returned.
 */
DT_MUST_USE dt_code dt_ca_ocsp_renew_due(struct dt_ctx *ctx, int64_t now, int *renewed,
					 int64_t *next_at, struct dt_error *err);
/*
 * For a long-running process: if it holds CA's OCSP signer unlocked and the store names
 * another one (renewed by this or another process), unlocks the new one and swaps it in;
 * requests signing with the old one finish with it.
 */
DT_MUST_USE dt_code dt_ca_ocsp_signer_reload(struct dt_ctx *ctx, const char *ca,
					     struct dt_error *err);

/* Generates and records the next CRL of a CA; *der is OPENSSL_malloc'ed. */
DT_MUST_USE dt_code dt_crl_generate(struct dt_ctx *ctx, const char *ca, unsigned char **der,
				    size_t *len, struct dt_error *err);
/* The same, with its nextUpdate (seconds since the epoch) in *next_update. */
DT_MUST_USE dt_code dt_crl_generate_until(struct dt_ctx *ctx, const char *ca, unsigned char **der,
					  size_t *len, int64_t *next_update, struct dt_error *err);

#endif
