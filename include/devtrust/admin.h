/*
 * Who may govern the fleet through the admin API: operator client certificates
 * from a separate Admin CA, and bearer API tokens kept only as hashes. Each
 * credential carries a role and, for vendors, the one manufacturer whose
 * devices it may touch. Role, scope and expiry are read from the store on every
 * request, so revoking a credential or reaching the end of a maintenance window
 * takes effect on the next request, even on an open connection.
 */
#ifndef DEVTRUST_ADMIN_H
#define DEVTRUST_ADMIN_H

#include "devtrust/inventory.h"

enum dt_role {
	DT_ROLE_ADMIN = 0, /* everything */
	DT_ROLE_OPERATOR,  /* inventory and lifecycle; no CA operations, no credentials */
	DT_ROLE_AUDITOR,   /* read-only, audit verification and export */
	DT_ROLE_VENDOR,	   /* one manufacturer's devices: read and maintenance, time-boxed */
	DT_ROLE_COUNT
};

enum dt_cred_kind {
	DT_CRED_CERT = 0,  /* client certificate of the Admin CA; id = its serial */
	DT_CRED_TOKEN = 1, /* bearer token "dta_<id>_<secret>"; id = its public part */
};

/* "dta_" + 16 hex digits (the id) + "_" + 64 hex digits (256 secret bits), and the NUL. */
#define DT_ADMIN_TOKEN_BUF 86
/* Longest lifetime of any credential, and of a vendor's (a maintenance window). */
#define DT_ADMIN_MAX_LIFETIME_S (366LL * 86400)
#define DT_ADMIN_VENDOR_MAX_LIFETIME_S (7LL * 86400)
#define DT_ADMIN_DEFAULT_LIFETIME_S (8LL * 3600)

struct dt_admin_cred {
	char id[DT_ID_BUF];
	enum dt_cred_kind kind;
	char name[DT_ID_BUF];
	enum dt_role role;
	char manufacturer[DT_FIELD_BUF]; /* vendor only */
	int64_t not_after;
	int64_t created_at;
	char created_by[DT_ID_BUF * 2];
	int64_t revoked_at; /* 0: not revoked */
};

typedef int (*dt_admin_cb)(void *arg, const struct dt_admin_cred *c);

const char *dt_role_name(enum dt_role r);
/* -1 when s names no role. */
int dt_role_parse(const char *s);

struct dt_admin_opts {
	const char *name; /* the operator: [A-Za-z0-9._-], as device ids */
	enum dt_role role;
	const char *manufacturer; /* required for vendor, refused otherwise */
	int64_t lifetime_s;	  /* 0: DT_ADMIN_DEFAULT_LIFETIME_S */
};

/*
 * A client certificate for an operator: a fresh P-256 key and a certificate of the Admin CA
 * (created on first use: its own self-signed root, so no device hierarchy can mint an
 * operator). *key_pem and *cert_pem (the certificate, then the Admin CA's) are malloc'ed
 * and the key is never stored.
 */
DT_MUST_USE dt_code dt_admin_add_cert(struct dt_ctx *ctx, const struct dt_admin_opts *o,
				      char **key_pem, char **cert_pem, struct dt_admin_cred *out,
				      struct dt_error *err);
/* A bearer token for an operator, shown once; only its SHA-256 is stored. */
DT_MUST_USE dt_code dt_admin_add_token(struct dt_ctx *ctx, const struct dt_admin_opts *o,
				       char token[DT_ADMIN_TOKEN_BUF], struct dt_admin_cred *out,
				       struct dt_error *err);
/* name NULL: every credential, newest first. */
DT_MUST_USE dt_code dt_admin_list(struct dt_ctx *ctx, const char *name, dt_admin_cb cb, void *arg,
				  struct dt_error *err);
/* Revokes the credential with this id, or every credential of this name. */
DT_MUST_USE dt_code dt_admin_revoke(struct dt_ctx *ctx, const char *name_or_id, int64_t *count,
				    struct dt_error *err);
/* The Admin CA's certificate in PEM (malloc'ed); DT_ERR_NOT_FOUND before the first operator. */
DT_MUST_USE dt_code dt_admin_ca_pem(struct dt_ctx *ctx, char **pem, struct dt_error *err);

/*
 * Authentication for the admin API. A client certificate must chain to the Admin CA
 * alone (a device certificate never does) and be a live credential; a token must match
 * a live credential's hash. DT_ERR_AUTH otherwise, with a message safe to show.
 */
struct x509_st;
struct stack_st_X509;
DT_MUST_USE dt_code dt_admin_auth_cert(struct dt_ctx *ctx, struct x509_st *peer,
				       struct stack_st_X509 *chain, struct dt_admin_cred *out,
				       struct dt_error *err);
DT_MUST_USE dt_code dt_admin_auth_token(struct dt_ctx *ctx, const char *token,
					struct dt_admin_cred *out, struct dt_error *err);

/*
 * Who the calling thread acts for in the audit log, when it is not the context's actor
 * (the API's thread acts for each signed-in operator in turn). NULL restores the default.
 */
void dt_actor_set_thread(const char *actor);

#endif
