/*
 * Private audit interface: modules append events inside the transaction of
 * the change they record, so the change and its evidence commit together;
 * the chain walk, the checkpoint format and the audit keys' checks shared by
 * verification, the checkpoint writer and the export.
 */
#ifndef DT_AUDIT_PRIV_H
#define DT_AUDIT_PRIV_H

#include <jansson.h>
#include <openssl/x509.h>

#include "store/store.h"

/*
 * Appends one event linked to the previous one. Fields longer than the event
 * buffers are truncated before hashing, so what is stored is what is linked.
 */
DT_MUST_USE dt_code audit_append(struct store_txn *txn, const char *actor, const char *action,
				 const char *object, const char *reason, const char *details,
				 struct dt_error *err);

/*
 * audit_append with details {"before":before,"after":after} followed by the members
 * of extra (context such as counts). Pass json_null() for "none" (before a creation,
 * after a removal) and NULL for no extra; the references are taken. A NULL before or
 * after means its encoding failed (out of memory, text that is not UTF-8): refused.
 */
DT_MUST_USE dt_code audit_append_change(struct store_txn *txn, const char *actor,
					const char *action, const char *object, const char *reason,
					json_t *before, json_t *after, json_t *extra,
					struct dt_error *err);

/*
 * s as a JSON string literal, quotes included, into out[cap] (RFC 8259 section 7:
 * '"', '\\' and control characters escaped; s is UTF-8 text already checked by
 * dt_check_text). For details built on bulk paths (import) without jansson's
 * allocations. Returns the length, or 0 if it does not fit.
 */
size_t audit_json_str(char *out, size_t cap, const char *s);

/* The link of a row: SHA-256 over the previous link and the event's fields. */
void audit_link(const struct store_audit_row *row, unsigned char out[32]);

/* A walk along the chain, one row at a time, in seq order. */
struct audit_walk {
	int64_t next_seq;	/* the seq the next row must have */
	unsigned char prev[32]; /* the link it must point to: once a row passed, its own */
	int trust_first_prev;	/* starting mid-chain: take the first row's prev_hash */
	int64_t checked;	/* rows that passed */
	int64_t last_seq;	/* the last row that passed (its link is prev) */
	int64_t bad_seq;
	char why[200];
};

/* A walk from the first event (seq 1, zero link), or from event seq onwards. */
void audit_walk_init(struct audit_walk *w, int64_t from_seq);
/* 0: the row continues the chain; 1: it breaks it (bad_seq and why say how). */
int audit_walk_row(struct audit_walk *w, const struct store_audit_row *row);

/*
 * The bytes a checkpoint's signature covers (ECDSA P-256 with SHA-256):
 *   "devtrust-audit-checkpoint-v1\nseq=<seq>\nhash=<hex>\ntime=<time>\nkey=<key id>\n"
 * Returns the length, or 0 if cap is too small.
 */
#define AUDIT_TBS_MAX 320
size_t audit_checkpoint_tbs(const struct store_checkpoint *cp, char *buf, size_t cap);
/* cp as the public API reports it (hash "" for seq 0: no checkpoint yet). */
void audit_checkpoint_fill(struct dt_audit_checkpoint *out, const struct store_checkpoint *cp);

/* The registered audit keys, each checked against the root certificate. */
struct audit_key_check {
	char key_id[DT_SHA256_HEX_BUF];
	EVP_PKEY *pub; /* NULL when the key is unusable (why says so) */
	int64_t not_before, not_after;
	char why[200];
};
struct audit_keyset {
	X509 *root;
	char root_fingerprint[DT_SHA256_HEX_BUF];
	struct audit_key_check *keys;
	size_t n;
	int oom;
};

/*
 * Loads the root certificate and every audit key of the store, within the caller's
 * snapshot; with pin (hex, colons allowed), the root must have that fingerprint
 * (DT_ERR_STATE otherwise).
 */
DT_MUST_USE dt_code audit_keyset_load(struct store_txn *txn, const char *pin,
				      struct audit_keyset *ks, struct dt_error *err);
void audit_keyset_free(struct audit_keyset *ks);
/* 0: cp carries a valid signature by a usable audit key, made within its certificate's
 * validity; 1: it does not (why says how). */
int audit_checkpoint_check(const struct audit_keyset *ks, const struct store_checkpoint *cp,
			   char *why, size_t cap);

#endif
