/*
 * libFuzzer harness for dt_device_import_csv against a real data dir (org
 * "fuzz", class "pump" on CA "default"). Each input is one import that must
 * succeed or fail cleanly, all or nothing: the device count moves by exactly
 * the number imported, one token line is written per imported device, and
 * a failed import writes no token at all.
 * The store is reset from a snapshot of its database now and then so it
 * stays small.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reset after this many devices: listing them for the count stays cheap. */
#define RESET_AFTER_DEVICES 256

static char base_dir[256];
static char data_dir[300];
static char db_path[340];
static unsigned char *db_snapshot;
static size_t db_snapshot_len;
static struct dt_ctx *ctx;
static int64_t devices;
static int verbose; /* IMPORT_FUZZ_VERBOSE=1: one line per input on stderr */

__attribute__((noreturn)) static void die(const char *what, const struct dt_error *err)
{
	fprintf(stderr, "import_fuzz: %s: %s\n", what, err ? err->msg : "");
	abort();
}

static void remove_base_dir(void)
{
	dt_close(ctx);
	ctx = NULL;
	if (base_dir[0])
		dt_remove_tree(base_dir);
	free(db_snapshot);
}

static void read_snapshot(void)
{
	FILE *f = fopen(db_path, "rb");
	struct stat st;
	char wal[360];

	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	if (stat(wal, &st) == 0 && st.st_size > 0)
		die("the database kept a WAL after close; the snapshot would be incomplete", NULL);
	if (!f || fstat(fileno(f), &st) != 0 || !(db_snapshot = malloc((size_t)st.st_size)) ||
	    fread(db_snapshot, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		die("cannot read the database snapshot", NULL);
	db_snapshot_len = (size_t)st.st_size;
	fclose(f);
}

static void open_store(void)
{
	struct dt_open_opts o = {.data_dir = data_dir, .actor = "fuzz"};
	struct dt_error err = {0};

	if (dt_open(&o, &ctx, &err) != DT_OK)
		die("dt_open", &err);
	devices = 0;
}

/* Puts the database back as it was after init: no devices. */
static void reset_store(void)
{
	static const char *const suffix[] = {"-wal", "-shm", "-journal"};
	char path[360];
	int fd;

	dt_close(ctx);
	ctx = NULL;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]);
		unlink(path);
	}
	if ((fd = open(db_path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0 ||
	    write(fd, db_snapshot, db_snapshot_len) != (ssize_t)db_snapshot_len || close(fd) != 0)
		die("cannot restore the database snapshot", NULL);
	open_store();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dt_init_opts io = {0};
	struct dt_class cl;
	struct dt_error err = {0};
	/* tmpfs when there is one: every successful import is an fsync'ed commit. */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	(void)argc;
	(void)argv;
	verbose = getenv("IMPORT_FUZZ_VERBOSE") != NULL;
	setenv("DEVTRUST_PASSPHRASE", "fuzz-only-passphrase", 1);
	snprintf(base_dir, sizeof(base_dir), "%s/devtrust-import-fuzz.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir))
		die("mkdtemp", NULL);
	atexit(remove_base_dir);
	snprintf(data_dir, sizeof(data_dir), "%s/data", base_dir);
	snprintf(db_path, sizeof(db_path), "%s/devtrust.db", data_dir);
	io.data_dir = data_dir;
	io.org = "fuzz";
	io.actor = "fuzz";
	if (dt_init(&io, &err) != DT_OK)
		die("dt_init", &err);
	open_store();
	dt_class_defaults(&cl);
	snprintf(cl.name, sizeof(cl.name), "pump");
	if (dt_class_add(ctx, &cl, &err) != DT_OK)
		die("dt_class_add", &err);
	dt_close(ctx);
	ctx = NULL;
	read_snapshot();
	open_store();
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
		die("dt_device_list", &err);
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
		die("cannot open the memory streams", NULL);
	rc = dt_device_import_csv(ctx, in, tokens, &imported, &err);
	fclose(tokens);
	fclose(in);
	after = device_count();
	if (rc == DT_OK) {
		if (imported < 0 || after != devices + imported ||
		    count_lines(tok_buf, tok_len) != imported)
			die("a successful import does not add what it reports", NULL);
	} else {
		/* DT_ERR_INTERNAL is a bug by definition; IO cannot come from memory. */
		if (rc == DT_ERR_INTERNAL || rc == DT_ERR_IO || err.code != rc ||
		    err.msg[0] == '\0')
			die("unexpected failure", &err);
		if (imported != 0 || after != devices)
			die("a failed import changed the store", &err);
		/* Tokens of devices that were rolled back must not reach the caller. */
		if (tok_len != 0)
			die("a failed import wrote tokens", &err);
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
