/*
 * Privilege separation (DECISIONS.md 78): devtrust serve started as root with
 * --user gives the data dir to that user and becomes it before it opens the
 * store; with --signer-user too, the CA key files belong to a second user,
 * under which a launcher (keyd_launcher.c) starts the signer processes, so
 * that code running in the server can neither read a CA key file nor reach
 * the signer's memory.
 */
#define _GNU_SOURCE /* setgroups */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/ca.h"
#include "ca/ca_keys.h"

static dt_code lookup(const char *name, const char *option, uid_t *uid, gid_t *gid,
		      struct dt_error *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);

	if (e != 0 || !res)
		return dt_fail(err, DT_ERR_NOT_FOUND, "%s: no user '%.64s' on this machine%s%s",
			       option, name, e ? ": " : "", e ? strerror(e) : "");
	if (res->pw_uid == 0 || res->pw_gid == 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "%s: '%.64s' is root or in root's group; give it a user of its own",
			       option, name);
	*uid = res->pw_uid;
	*gid = res->pw_gid;
	return DT_OK;
}

dt_code ca_privsep_users(const char *user, const char *signer_user, struct ca_users *u,
			 struct dt_error *err)
{
	dt_code rc;

	memset(u, 0, sizeof(*u));
	if (geteuid() != 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "--user needs devtrust serve to be started as root (it is uid %lu)",
			       (unsigned long)geteuid());
	if ((rc = lookup(user, "--user", &u->uid, &u->gid, err)) != DT_OK)
		return rc;
	snprintf(u->user, sizeof(u->user), "%s", user);
	if (!signer_user)
		return DT_OK;
	if ((rc = lookup(signer_user, "--signer-user", &u->s_uid, &u->s_gid, err)) != DT_OK)
		return rc;
	if (u->s_uid == u->uid || u->s_gid == u->gid)
		return dt_fail(err, DT_ERR_INVALID,
			       "--signer-user must be another user than --user, with another "
			       "group: the point is that the server cannot read its files");
	snprintf(u->signer_user, sizeof(u->signer_user), "%s", signer_user);
	u->signer = 1;
	return DT_OK;
}

/* What an entry of the data dir becomes (rel: its path inside; "" the data dir): its
 * owner and group, and a mode (0: unchanged). */
static void wanted(const struct ca_users *u, const char *rel, int dir, int reg, uid_t *uid,
		   gid_t *gid, mode_t *mode)
{
	*uid = u->uid;
	*gid = u->gid;
	*mode = 0;
	if (!*rel)
		*mode = u->signer ? 0750 : 0700;
	else if (strcmp(rel, "keys") == 0 && dir) {
		*mode = u->signer ? 01770 : 0700;
		if (u->signer)
			*uid = u->s_uid;
	} else if (strncmp(rel, "keys/", 5) == 0 && !strchr(rel + 5, '/') && reg && u->signer &&
		   ca_key_file_is_ca(rel + 5)) {
		*uid = u->s_uid;
		*gid = u->s_gid;
		*mode = 0600;
	} else if (strcmp(rel, "secrets") == 0 && dir)
		*mode = u->signer ? 0750 : 0700;
	else if (strcmp(rel, "secrets/passphrase") == 0 && reg)
		*mode = u->signer ? 0640 : 0600;
}

/*
 * Gives the directory fd (rel inside the data dir) and everything below it to their
 * owners. The server's user may own these directories from an earlier run, and could
 * swap an entry for a symbolic link meanwhile: so every step goes through a
 * descriptor opened without following links, and is checked to be what was seen.
 */
static dt_code give_dir(int fd, const char *rel, const struct ca_users *u, int depth,
			struct dt_error *err)
{
	DIR *d;
	struct dirent *e;
	dt_code rc = DT_OK;
	int dfd;

	if (depth > 8)
		return dt_fail(err, DT_ERR_INVALID, "the data dir is nested too deep at %s", rel);
	if ((dfd = dup(fd)) < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return dt_fail(err, DT_ERR_IO, "cannot list %s: %s", rel, strerror(errno));
	}
	while (rc == DT_OK && (e = readdir(d))) {
		char sub[512];
		struct stat st, again;
		uid_t uid;
		gid_t gid;
		mode_t mode;
		int cfd;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = dt_fail(err, DT_ERR_IO, "cannot stat %s: %s", sub, strerror(errno));
			break;
		}
		wanted(u, sub, S_ISDIR(st.st_mode), S_ISREG(st.st_mode), &uid, &gid, &mode);
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
			/* A link or a socket: itself, never what it names. */
			if (fchownat(fd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
				rc = dt_fail(err, DT_ERR_IO, "cannot give %s to its owner: %s", sub,
					     strerror(errno));
			continue;
		}
		cfd = openat(fd, e->d_name,
			     O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
				 (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (cfd < 0 || fstat(cfd, &again) != 0 || again.st_ino != st.st_ino ||
		    again.st_dev != st.st_dev) {
			rc = dt_fail(err, DT_ERR_IO, "%s changed while it was given to its owner",
				     sub);
		} else if (fchown(cfd, uid, gid) != 0 || (mode && fchmod(cfd, mode) != 0)) {
			rc = dt_fail(err, DT_ERR_IO, "cannot give %s to its owner: %s", sub,
				     strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = give_dir(cfd, sub, u, depth + 1, err);
		}
		if (cfd >= 0)
			close(cfd);
	}
	closedir(d);
	return rc;
}

dt_code ca_privsep_prepare(const char *data_dir, const struct ca_users *u, struct dt_error *err)
{
	uid_t uid;
	gid_t gid;
	mode_t mode;
	dt_code rc;
	/* The data dir itself as the operator named it (it may be a link they made). */
	int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return dt_fail(err, DT_ERR_NOT_FOUND, "no data dir at %s: run devtrust init first",
			       data_dir);
	wanted(u, "", 1, 0, &uid, &gid, &mode);
	if (fchown(fd, uid, gid) != 0 || fchmod(fd, mode) != 0)
		rc = dt_fail(err, DT_ERR_IO, "cannot give %s to %s: %s", data_dir, u->user,
			     strerror(errno));
	else
		rc = give_dir(fd, "", u, 0, err);
	close(fd);
	return rc;
}

dt_code ca_privsep_drop(const struct ca_users *u, struct dt_error *err)
{
	if (setgroups(0, NULL) != 0 || setgid(u->gid) != 0 || setuid(u->uid) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot become %s: %s", u->user,
			       strerror(errno));
	if (getuid() != u->uid || geteuid() != u->uid || getegid() != u->gid || setuid(0) == 0)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot become %s for good", u->user);
	return DT_OK;
}

dt_code ca_privsep_owner(const char *data_dir, const char *file, uid_t *uid, gid_t *gid,
			 struct dt_error *err)
{
	char dir[4096];
	struct stat d;
	dt_code rc;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() != 0)
		return DT_OK;
	if ((rc = dt_path(dir, sizeof(dir), data_dir, ca_key_file_is_ca(file) ? "keys" : ".",
			  err)) != DT_OK)
		return rc;
	if (stat(dir, &d) != 0 || d.st_uid == 0)
		return DT_OK;
	if (ca_key_file_is_ca(file)) {
		/* DATA/keys belongs to the signer user: its own group, not the server's. */
		struct passwd pw, *res = NULL;
		char buf[4096];

		if (getpwuid_r(d.st_uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
			return dt_fail(err, DT_ERR_IO, "the owner %lu of %s is no user",
				       (unsigned long)d.st_uid, dir);
		*gid = res->pw_gid;
	} else {
		*gid = d.st_gid;
	}
	*uid = d.st_uid;
	return DT_OK;
}
