/*
 * Private core of libdevtrust: the context behind struct dt_ctx and small
 * helpers every module needs (time, hex, randomness, private files, input
 * validation).
 */
#ifndef DT_CORE_H
#define DT_CORE_H

#include <pthread.h>

#include "core/limits.h"
#include "devtrust/devtrust.h"
#include "store/store.h"

struct ca_keyring; /* owned by the ca module */

struct dt_ctx {
	char *data_dir;
	char org[DT_MAX_FIELD_LEN + 1];
	char public_url[DT_MAX_URL_LEN + 1];
	char actor[128];
	char *passphrase_file;
	struct store *store;
	struct ca_keyring *keys;
	pthread_mutex_t keys_mu;
};

/* Who acts, for the audit log: the calling thread's actor if it set one
 * (dt_actor_set_thread), else the context's. */
const char *dt_actor(const struct dt_ctx *ctx);

int64_t dt_now(void);
void dt_hex(const unsigned char *in, size_t n, char *out);
DT_MUST_USE dt_code dt_random(unsigned char *buf, size_t n, struct dt_error *err);
/* The array items (n elements of size bytes, room for *cap) with room for one more: items
 * itself, or a larger copy (the capacity doubles, first 16; *cap updated). NULL when out
 * of memory, items then untouched. */
void *dt_grow(void *items, size_t n, size_t *cap, size_t size);
/* SHA-256 of data. */
void dt_sha256(const void *data, size_t n, unsigned char out[32]);
/* Gives the freed heap back to the system, holes included (glibc's malloc_trim(0));
 * locks each malloc arena while it walks it. Nothing without glibc. */
void dt_heap_give_back(void);
/* The heap's bytes allocated and not freed (mapped blocks included), and the freed
 * bytes malloc still holds (glibc's mallinfo2, over every arena; it walks their free
 * lists under each arena's lock). 0 without glibc, both then 0. */
int dt_heap_usage(size_t *in_use, size_t *free_held);

/* Identifier rules: device ids [A-Za-z0-9._-], names [a-z0-9-] (used in URLs). */
DT_MUST_USE dt_code dt_check_id(const char *what, const char *s, struct dt_error *err);
DT_MUST_USE dt_code dt_check_name(const char *what, const char *s, struct dt_error *err);
/* Printable UTF-8 text without control characters, at most max bytes. */
DT_MUST_USE dt_code dt_check_text(const char *what, const char *s, size_t max,
				  struct dt_error *err);

/* Directories 0700; private files 0600 created with O_EXCL and synced. */
DT_MUST_USE dt_code dt_mkdir_private(const char *path, struct dt_error *err);
DT_MUST_USE dt_code dt_write_private_file(const char *path, const void *data, size_t len,
					  struct dt_error *err);
/* Reads at most max bytes; more is an error naming the limit. *out is malloc'ed. */
DT_MUST_USE dt_code dt_read_file(const char *path, size_t max, unsigned char **out, size_t *len,
				 struct dt_error *err);
/* Removes a directory tree (not following links); for cleanup, errors ignored. */
void dt_remove_tree(const char *path);
/* path = dir + "/" + name, failing if it does not fit. */
DT_MUST_USE dt_code dt_path(char *out, size_t cap, const char *dir, const char *name,
			    struct dt_error *err);

/* The passphrase that protects CA keys: --passphrase-file, $DEVTRUST_PASSPHRASE
 * or DATA/secrets/passphrase. The caller wipes and frees it. */
DT_MUST_USE dt_code dt_passphrase(struct dt_ctx *ctx, char **out, size_t *len,
				  struct dt_error *err);
DT_MUST_USE dt_code dt_read_passphrase(const char *file, const char *data_dir, char **out,
				       size_t *len, struct dt_error *err);

#define DT_DB_NAME "devtrust.db"

#endif
