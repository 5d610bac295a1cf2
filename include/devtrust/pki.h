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
};

typedef int (*dt_ca_cb)(void *arg, const struct dt_ca_info *ca);
typedef int (*dt_cert_cb)(void *arg, const struct dt_cert_info *c);

const char *dt_reason_name(int reason);
int dt_reason_parse(const char *s);
const char *dt_cert_status_name(enum dt_cert_status s);

DT_MUST_USE dt_code dt_ca_add(struct dt_ctx *ctx, const char *name, struct dt_error *err);
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

/* Generates and records the next CRL of a CA; *der is OPENSSL_malloc'ed. */
DT_MUST_USE dt_code dt_crl_generate(struct dt_ctx *ctx, const char *ca, unsigned char **der,
				    size_t *len, struct dt_error *err);

#endif
