/*
 * What the harnesses on a real data dir share (api, import, ocsp, authz):
 * a data dir of org "fuzz" in a new directory under /dev/shm (or $TMPDIR, or
 * /tmp), open as actor "fuzz", removed at exit and before a failed check
 * aborts; a snapshot of its database and key files to put the store back
 * now and then; certificates for new P-256 keys. The CAs, classes, devices
 * and the rest of the setup stay in each harness.
 * Link tests/fuzz/fuzz_datadir.c with the harness.
 */
#ifndef DT_FUZZ_DATADIR_H
#define DT_FUZZ_DATADIR_H

#include <stddef.h>

#include "devtrust/devtrust.h"
#include "devtrust/pki.h"

/*
 * Creates the data dir of harness name ("api": messages start "api_fuzz: ",
 * the directory is devtrust-api-fuzz.XXXXXX) and opens it into *ctx, which
 * the other calls here close and reopen. At exit *ctx is closed and the
 * directory removed; a harness that frees more (anything using *ctx first)
 * registers its own atexit handler after this call, so it runs before.
 * Call once, from LLVMFuzzerInitialize.
 */
void fuzz_datadir_init(const char *name, struct dt_ctx **ctx);

/* Prints "<name>_fuzz: what[: detail]", removes the data dir (abort() skips
 * atexit: it would stay in /dev/shm, once per failing input when the corpus
 * test replays them one by one) and aborts. */
__attribute__((noreturn)) void fuzz_die(const char *what, const char *detail);
/* The same with err's message as the detail (err may be NULL). */
__attribute__((noreturn)) void fuzz_die_err(const char *what, const struct dt_error *err);

/* Takes the snapshot fuzz_datadir_reset goes back to: the database and the
 * list of key files as they are now. Closes the store for it and reopens. */
void fuzz_datadir_snapshot(void);
/* Puts the database back as it was at the snapshot, removes the key files of
 * CAs and operators created since, and reopens the store. */
void fuzz_datadir_reset(void);

/* Issues device id a certificate for a new P-256 key: the DER in *der
 * (OPENSSL_free it), its details in *info unless info is NULL. */
void fuzz_issue(const char *id, unsigned char **der, size_t *der_len, struct dt_cert_info *info);

#endif
