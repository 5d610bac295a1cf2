/*
 * devtrust public API: the library context and the error model shared by
 * every operation. Operations live in inventory.h, pki.h, report.h, audit.h.
 */
#ifndef DEVTRUST_DEVTRUST_H
#define DEVTRUST_DEVTRUST_H

#include <stddef.h>
#include <stdint.h>

#define DT_MUST_USE __attribute__((warn_unused_result))

/* Every fallible call returns one of these; the message says what to do. */
typedef enum {
	DT_OK = 0,
	DT_ERR_INVALID,	  /* bad input: malformed, oversized, not allowed */
	DT_ERR_NOT_FOUND, /* the named object does not exist */
	DT_ERR_EXISTS,	  /* the object already exists, or a key is in use */
	DT_ERR_STATE,	  /* refused by the lifecycle or the object's state */
	DT_ERR_AUTH,	  /* credential missing, wrong, used or expired */
	DT_ERR_IO,	  /* filesystem or database failure */
	DT_ERR_CRYPTO,	  /* signing or key handling failure */
	DT_ERR_INTERNAL,  /* a bug: never shown with details to remote users */
} dt_code;

#define DT_ERR_MSG_MAX 512

struct dt_error {
	dt_code code;
	char msg[DT_ERR_MSG_MAX];
};

/* Sets err (if not NULL) and returns code. */
dt_code dt_fail(struct dt_error *err, dt_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dt_error_clear(struct dt_error *err);
const char *dt_code_name(dt_code code);
/* Copies src (NULL: "") into dst[cap], failing rather than truncating. */
DT_MUST_USE dt_code dt_copy(char *dst, size_t cap, const char *src, const char *what,
			    struct dt_error *err);

/* The open data directory: store, settings and (lazily) CA keys. */
struct dt_ctx;

struct dt_open_opts {
	const char *data_dir;	     /* required */
	const char *passphrase_file; /* NULL: $DEVTRUST_PASSPHRASE or DATA/secrets/passphrase */
	const char *actor;	     /* who acts, for the audit log; NULL: "cli:$USER" */
	int group_commit;	     /* 1: one writer thread batches concurrent writes */
};

DT_MUST_USE dt_code dt_open(const struct dt_open_opts *opts, struct dt_ctx **out,
			    struct dt_error *err);
void dt_close(struct dt_ctx *ctx);
const char *dt_org(const struct dt_ctx *ctx);
const char *dt_public_url(const struct dt_ctx *ctx);
const char *dt_data_dir(const struct dt_ctx *ctx);

struct dt_init_opts {
	const char *data_dir;
	const char *org;
	const char *public_url;	     /* NULL: http://127.0.0.1:8080 */
	const char *passphrase_file; /* NULL: $DEVTRUST_PASSPHRASE or generated */
	const char *actor;
	int generated_passphrase; /* out: 1 if DATA/secrets/passphrase was written */
	int64_t ocsp_lifetime_s;  /* the OCSP signers' lifetime; 0: one year */
};

/* Creates a new data dir: store, root CA, default issuing CA, OCSP signer, TLS cert. */
DT_MUST_USE dt_code dt_init(struct dt_init_opts *opts, struct dt_error *err);

#endif
