/*
 * libFuzzer harness for dt_device_import_csv against a real data dir (org
 * "fuzz", class "pump" on CA "default"). Each input is one import that must
 * succeed or fail cleanly, all or nothing: the device count moves by exactly
 * the number imported, one token line is written per imported device, and
 * a failed import writes no token at all.
 * The store is reset from a snapshot of its database now and then so it
 * stays small.
 */
#define _XOPEN_SOURCE 700 /* fmemopen, open_memstream */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"
#include "fuzz_datadir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reset after this many devices: listing them for the count stays cheap. */
#define RESET_AFTER_DEVICES 256

static struct dt_ctx *ctx;
static int64_t devices;
static int verbose; /* IMPORT_FUZZ_VERBOSE=1: one line per input on stderr */

/* Puts the database back as it was after init: no devices. */
static void reset_store(void)
{
	fuzz_datadir_reset();
	devices = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dt_class cl;
	struct dt_error err = {0};

	(void)argc;
	(void)argv;
	verbose = getenv("IMPORT_FUZZ_VERBOSE") != NULL;
	fuzz_datadir_init("import", &ctx);
	dt_class_defaults(&cl);
	snprintf(cl.name, sizeof(cl.name), "pump");
	if (dt_class_add(ctx, &cl, &err) != DT_OK)
		fuzz_die_err("dt_class_add", &err);
	fuzz_datadir_snapshot();
	return 0;
}

static int count_one(void *arg, const struct dt_device *d)
{
	(void)d;
	++*(int64_t *)arg;
	return 0;
}

static int64_t device_count(void)
{
	struct dt_device_filter f = {.state = -1};
	struct dt_error err = {0};
	int64_t n = 0;

	if (dt_device_list(ctx, &f, count_one, &n, &err) != DT_OK)
		fuzz_die_err("dt_device_list", &err);
	return n;
}

static int64_t count_lines(const char *s, size_t len)
{
	int64_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dt_error err = {0};
	FILE *in, *tokens;
	char *tok_buf = NULL;
	size_t tok_len = 0;
	int64_t imported = -1, after;
	/* fmemopen wants at least one byte; an empty file is /dev/null. */
	char *copy = malloc(size ? size : 1);
	dt_code rc;

	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	in = size ? fmemopen(copy, size, "r") : fopen("/dev/null", "r");
	tokens = open_memstream(&tok_buf, &tok_len);
	if (!in || !tokens)
		fuzz_die("cannot open the memory streams", NULL);
	rc = dt_device_import_csv(ctx, in, tokens, &imported, &err);
	fclose(tokens);
	fclose(in);
	after = device_count();
	if (rc == DT_OK) {
		if (imported < 0 || after != devices + imported ||
		    count_lines(tok_buf, tok_len) != imported)
			fuzz_die("a successful import does not add what it reports", NULL);
	} else {
		/* DT_ERR_INTERNAL is a bug by definition; IO cannot come from memory. */
		if (rc == DT_ERR_INTERNAL || rc == DT_ERR_IO || err.code != rc ||
		    err.msg[0] == '\0')
			fuzz_die_err("unexpected failure", &err);
		if (imported != 0 || after != devices)
			fuzz_die_err("a failed import changed the store", &err);
		/* Tokens of devices that were rolled back must not reach the caller. */
		if (tok_len != 0)
			fuzz_die_err("a failed import wrote tokens", &err);
	}
	if (verbose)
		fprintf(stderr, "import_fuzz: %s, %lld imported, %lld devices: %s\n",
			dt_code_name(rc), (long long)imported, (long long)after, err.msg);
	devices = after;
	if (devices > RESET_AFTER_DEVICES)
		reset_store();
	free(tok_buf);
	free(copy);
	return 0;
}
