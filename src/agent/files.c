/*
 * Files of the agent: bounded reads, writes that are complete and synced
 * before anyone can rely on them (O_EXCL, fsync, rename, fsync of the
 * directory), and the state dir's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"

enum ag_code ag_join(char *dst, size_t cap, const char *dir, const char *name, struct ag_error *e)
{
	int n = snprintf(dst, cap, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= cap)
		return ag_fail(e, AG_E_LOCAL, "path %s/%s is longer than %zu characters", dir, name,
			       cap - 1);
	return AG_OK;
}

enum ag_code ag_read_file(const char *path, size_t max, unsigned char **out, size_t *len,
			  struct ag_error *e)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	FILE *f;
	enum ag_code rc = AG_OK;

	*out = NULL;
	*len = 0;
	if (!(f = fopen(path, "rb")))
		return ag_fail(e, AG_E_LOCAL, "cannot open %s: %s", path, strerror(errno));
	if (!(buf = malloc(max + 1))) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		rc = ag_fail(e, AG_E_LOCAL, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (n > max) {
		rc = ag_fail(e, AG_E_LOCAL, "%s is larger than %zu bytes", path, max);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return rc;
}

static enum ag_code write_all(int fd, const char *path, const void *data, size_t len,
			      struct ag_error *e)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ag_fail(e, AG_E_LOCAL, "cannot write %s: %s", path,
				       w < 0 ? strerror(errno) : "short write");
		p += w;
		len -= (size_t)w;
	}
	return AG_OK;
}

enum ag_code ag_write_new(const char *path, const void *data, size_t len, int mode,
			  struct ag_error *e)
{
	mode_t old = umask(077);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	enum ag_code rc;

	umask(old);
	if (fd < 0)
		return ag_fail(e, AG_E_LOCAL, "cannot create %s: %s", path, strerror(errno));
	rc = write_all(fd, path, data, len, e);
	if (rc == AG_OK && fchmod(fd, (mode_t)mode) != 0)
		rc = ag_fail(e, AG_E_LOCAL, "cannot set the mode of %s: %s", path, strerror(errno));
	if (rc == AG_OK && fsync(fd) != 0)
		rc = ag_fail(e, AG_E_LOCAL, "cannot sync %s: %s", path, strerror(errno));
	if (close(fd) != 0 && rc == AG_OK)
		rc = ag_fail(e, AG_E_LOCAL, "cannot close %s: %s", path, strerror(errno));
	if (rc != AG_OK)
		unlink(path);
	return rc;
}

enum ag_code ag_fsync_dir(const char *dir, struct ag_error *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum ag_code rc = AG_OK;

	if (fd < 0)
		return ag_fail(e, AG_E_LOCAL, "cannot open directory %s: %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		rc = ag_fail(e, AG_E_LOCAL, "cannot sync directory %s: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

const char *ag_path_split(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
	return slash ? slash + 1 : path;
}

enum ag_code ag_replace_file(const char *path, const void *data, size_t len, int mode,
			     struct ag_error *e)
{
	char tmp[AG_MAX_PATH + 8], dir[AG_MAX_PATH];
	enum ag_code rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return ag_fail(e, AG_E_LOCAL, "path %s is too long", path);
	/* A .tmp left by a crash is ours and incomplete. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		return ag_fail(e, AG_E_LOCAL, "cannot remove %s: %s", tmp, strerror(errno));
	if ((rc = ag_write_new(tmp, data, len, mode, e)) != AG_OK)
		return rc;
	if (rename(tmp, path) != 0) {
		rc = ag_fail(e, AG_E_LOCAL, "cannot rename %s to %s: %s", tmp, path,
			     strerror(errno));
		unlink(tmp);
		return rc;
	}
	ag_path_split(path, dir, sizeof(dir));
	return ag_fsync_dir(dir, e);
}

enum ag_code ag_lock(const char *state_dir, int *fd, struct ag_error *e)
{
	char path[AG_MAX_PATH + 8];
	enum ag_code rc;

	*fd = -1;
	if ((rc = ag_join(path, sizeof(path), state_dir, "lock", e)) != AG_OK)
		return rc;
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return ag_fail(e, AG_E_LOCAL, "cannot open %s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		rc = ag_fail(e, errno == EWOULDBLOCK ? AG_E_CONFIG : AG_E_LOCAL,
			     "another devtrust-agent holds %s (%s): stop it first, or wait", path,
			     strerror(errno));
		close(*fd);
		*fd = -1;
		return rc;
	}
	return AG_OK;
}

int ag_lock_held(const char *state_dir)
{
	char path[AG_MAX_PATH + 8];
	int fd, held;

	if (ag_join(path, sizeof(path), state_dir, "lock", NULL) != AG_OK ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}
