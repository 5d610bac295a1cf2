/* The data dir of the fuzz harnesses on a real store: see fuzz_datadir.h. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "fuzz_datadir.h"

/* Key files kept across resets: those of the setup. */
#define MAX_KEEP_FILES 32

static const char *harness = "fuzz";
static struct dt_ctx **ctxp;
static char base_dir[256];
static char data_dir[300];
static char db_path[340];
static char keys_dir[340];
static char keep[MAX_KEEP_FILES][256];
static int nkeep;
static unsigned char *db_snapshot;
static size_t db_snapshot_len;

void fuzz_die(const char *what, const char *detail)
{
	fprintf(stderr, "%s_fuzz: %s%s%s\n", harness, what, detail ? ": " : "",
		detail ? detail : "");
	if (base_dir[0])
		dt_remove_tree(base_dir);
	abort();
}

void fuzz_die_err(const char *what, const struct dt_error *err)
{
	fuzz_die(what, err ? err->msg : NULL);
}

static void cleanup(void)
{
	dt_close(*ctxp);
	*ctxp = NULL;
	if (base_dir[0])
		dt_remove_tree(base_dir);
	free(db_snapshot);
}

static void open_store(void)
{
	struct dt_open_opts o = {.data_dir = data_dir, .actor = "fuzz"};
	struct dt_error err = {0};

	if (dt_open(&o, ctxp, &err) != DT_OK)
		fuzz_die("dt_open", err.msg);
}

void fuzz_datadir_init(const char *name, struct dt_ctx **ctx)
{
	struct dt_init_opts io = {0};
	struct dt_error err = {0};
	/* tmpfs when there is one: every write is an fsync'ed commit. */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	char dir[sizeof(base_dir)];

	harness = name;
	ctxp = ctx;
	setenv("DEVTRUST_PASSPHRASE", "fuzz-only-passphrase", 1);
	snprintf(dir, sizeof(dir), "%s/devtrust-%s-fuzz.XXXXXX", tmp ? tmp : "/tmp", name);
	if (!mkdtemp(dir))
		fuzz_die("mkdtemp", dir);
	memcpy(base_dir, dir, sizeof(base_dir));
	atexit(cleanup);
	snprintf(data_dir, sizeof(data_dir), "%s/data", base_dir);
	snprintf(db_path, sizeof(db_path), "%s/devtrust.db", data_dir);
	snprintf(keys_dir, sizeof(keys_dir), "%s/keys", data_dir);
	io.data_dir = data_dir;
	io.org = "fuzz";
	io.actor = "fuzz";
	if (dt_init(&io, &err) != DT_OK)
		fuzz_die("dt_init", err.msg);
	open_store();
}

/* The key files that exist now are the ones a reset keeps. */
static void list_keys(void)
{
	DIR *d = opendir(keys_dir);
	struct dirent *e;

	if (!d)
		fuzz_die("cannot list the key files", keys_dir);
	nkeep = 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			if (nkeep == MAX_KEEP_FILES)
				fuzz_die("more key files than MAX_KEEP_FILES", NULL);
			snprintf(keep[nkeep++], sizeof(keep[0]), "%s", e->d_name);
		}
	closedir(d);
}

/* Removes the key files created since the snapshot. */
static void prune_keys(void)
{
	DIR *d = opendir(keys_dir);
	struct dirent *e;
	char path[600];
	int i;

	if (!d)
		fuzz_die("cannot list the key files", keys_dir);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		for (i = 0; i < nkeep && strcmp(keep[i], e->d_name) != 0; i++)
			;
		if (i == nkeep) {
			snprintf(path, sizeof(path), "%s/%s", keys_dir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
}

void fuzz_datadir_snapshot(void)
{
	FILE *f;
	struct stat st;
	char wal[360];

	dt_close(*ctxp);
	*ctxp = NULL;
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	if (stat(wal, &st) == 0 && st.st_size > 0)
		fuzz_die("the database kept a WAL after close; the snapshot would be incomplete",
			 NULL);
	free(db_snapshot);
	db_snapshot = NULL;
	if (!(f = fopen(db_path, "rb")) || fstat(fileno(f), &st) != 0 ||
	    !(db_snapshot = malloc((size_t)st.st_size)) ||
	    fread(db_snapshot, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		fuzz_die("cannot read the database snapshot", db_path);
	db_snapshot_len = (size_t)st.st_size;
	fclose(f);
	list_keys();
	open_store();
}

void fuzz_datadir_reset(void)
{
	static const char *const suffix[] = {"-wal", "-shm", "-journal"};
	char path[360];
	int fd;

	if (!db_snapshot)
		fuzz_die("a reset without a snapshot", NULL);
	dt_close(*ctxp);
	*ctxp = NULL;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]);
		unlink(path);
	}
	if ((fd = open(db_path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0 ||
	    write(fd, db_snapshot, db_snapshot_len) != (ssize_t)db_snapshot_len || close(fd) != 0)
		fuzz_die("cannot restore the database snapshot", db_path);
	prune_keys();
	open_store();
}

void fuzz_issue(const char *id, unsigned char **der, size_t *der_len, struct dt_cert_info *info)
{
	struct dt_error err = {0};
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *r = X509_REQ_new();
	unsigned char *csr = NULL;
	int len;

	if (!k || !r || X509_REQ_set_pubkey(r, k) != 1 || X509_REQ_sign(r, k, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(r, &csr)) <= 0)
		fuzz_die("making a CSR", NULL);
	if (dt_cert_issue(*ctxp, id, csr, (size_t)len, NULL, der, der_len, info, &err) != DT_OK)
		fuzz_die("dt_cert_issue", err.msg);
	OPENSSL_free(csr);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}
