/*
 * Private files: created 0600 with O_EXCL, written fully and synced, so a
 * key file is never readable by others nor left half-written; directories
 * 0700.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

dt_code dt_path(char *out, size_t cap, const char *dir, const char *name, struct dt_error *err)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= cap)
		return dt_fail(err, DT_ERR_INVALID, "path %s/%s is too long", dir, name);
	return DT_OK;
}

dt_code dt_mkdir_private(const char *path, struct dt_error *err)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return dt_fail(err, DT_ERR_IO, "cannot create directory %s: %s", path,
			       strerror(errno));
	if (chmod(path, 0700) != 0)
		return dt_fail(err, DT_ERR_IO, "cannot set mode 0700 on %s: %s", path,
			       strerror(errno));
	return DT_OK;
}

static dt_code sync_dir_of(const char *path, struct dt_error *err)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 1;
	int fd;

	if (n >= sizeof(dir))
		return dt_fail(err, DT_ERR_IO, "path %s is too long", path);
	memcpy(dir, slash ? path : ".", n);
	dir[n ? n : 1] = '\0';
	if (n == 0)
		dir[0] = '/';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return dt_fail(err, DT_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
	fsync(fd);
	close(fd);
	return DT_OK;
}

dt_code dt_write_private_file(const char *path, const void *data, size_t len, struct dt_error *err)
{
	const unsigned char *p = data;
	mode_t old = umask(077);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	dt_code rc = DT_OK;

	umask(old);
	if (fd < 0)
		return dt_fail(err, DT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = dt_fail(err, DT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (rc == DT_OK && fsync(fd) != 0)
		rc = dt_fail(err, DT_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
	close(fd);
	if (rc != DT_OK) {
		unlink(path);
		return rc;
	}
	return sync_dir_of(path, err);
}

dt_code dt_read_file(const char *path, size_t max, unsigned char **out, size_t *len,
		     struct dt_error *err)
{
	FILE *f = NULL;
	unsigned char *buf = NULL;
	size_t n = 0;
	dt_code rc = DT_OK;

	*out = NULL;
	*len = 0;
	if (!(f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb")))
		return dt_fail(err, DT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (!(buf = malloc(max + 1))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		rc = dt_fail(err, DT_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (n > max) {
		rc = dt_fail(err, DT_ERR_INVALID, "%s is larger than the limit of %zu bytes", path,
			     max);
		goto out;
	}
	*out = buf;
	*len = n;
	buf = NULL;
out:
	if (buf)
		OPENSSL_clear_free(buf, max + 1);
	if (f && f != stdin)
		fclose(f);
	return rc;
}

dt_code dt_read_passphrase(const char *file, const char *data_dir, char **out, size_t *len,
			   struct dt_error *err)
{
	char path[4096];
	const char *env = getenv("DEVTRUST_PASSPHRASE");
	unsigned char *buf = NULL;
	size_t n = 0;
	dt_code rc;

	*out = NULL;
	*len = 0;
	if (!file && env && *env) {
		n = strlen(env);
		if (n > DT_MAX_PASSPHRASE_LEN)
			return dt_fail(err, DT_ERR_INVALID,
				       "DEVTRUST_PASSPHRASE is longer than %d bytes",
				       DT_MAX_PASSPHRASE_LEN);
		if (!(*out = malloc(n + 1)))
			return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		memcpy(*out, env, n + 1);
		*len = n;
		return DT_OK;
	}
	if (!file) {
		if (!data_dir)
			return dt_fail(err, DT_ERR_AUTH, "no passphrase for the CA keys");
		if ((rc = dt_path(path, sizeof(path), data_dir, "secrets/passphrase", err)) !=
		    DT_OK)
			return rc;
		file = path;
		if (access(file, F_OK) != 0)
			return dt_fail(err, DT_ERR_AUTH,
				       "no passphrase for the CA keys: set DEVTRUST_PASSPHRASE or "
				       "use --passphrase-file");
	}
	if ((rc = dt_read_file(file, DT_MAX_PASSPHRASE_LEN, &buf, &n, err)) != DT_OK)
		return rc;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0) {
		OPENSSL_clear_free(buf, DT_MAX_PASSPHRASE_LEN + 1);
		return dt_fail(err, DT_ERR_INVALID, "the passphrase file %s is empty", file);
	}
	buf[n] = '\0';
	*out = (char *)buf;
	*len = n;
	return DT_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void dt_remove_tree(const char *path)
{
	if (path && *path)
		nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
