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
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* The user uid's name and primary group: 0, or -1 if it has no passwd entry. */
static int user_by_uid(uid_t uid, gid_t *gid, char *name, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -1;
	*gid = res->pw_gid;
	snprintf(name, cap, "%s", res->pw_name);
	return 0;
}

/* The signer user of a DATA/keys laid out as ca_privsep_prepare leaves it (sticky
 * 1770, the server's group, neither root's nor the server user's); 0 if it is not. */
static uid_t keys_signer(int data_fd, uid_t server, gid_t group)
{
	struct stat keys;

	if (fstatat(data_fd, "keys", &keys, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(keys.st_mode) ||
	    (keys.st_mode & 07777) != 01770 || keys.st_gid != group || keys.st_uid == 0 ||
	    keys.st_uid == server)
		return 0;
	return keys.st_uid;
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
 * owners (apply 0: only checks that it may, so that a refusal changes nothing). It
 * runs on the first start with --user, while the data dir is still
 * root's and closed to everyone else (0700), so no other user can have put anything
 * there or change anything meanwhile; still, every step goes through a descriptor
 * opened without following links and checked to be what was seen, links and special
 * files are left alone, and anything that is not root's, has another hard link or is
 * on another file system stops the start.
 */
static dt_code give_dir(int fd, const char *rel, const struct ca_users *u, dev_t dev, int depth,
			int apply, struct dt_error *err)
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
	rewinddir(d); /* a dup shares the offset, which the checking pass left at the end */
	while (rc == DT_OK && (e = readdir(d))) {
		char sub[512];
		struct stat st, now;
		uid_t uid;
		gid_t gid;
		mode_t mode;
		int cfd, dir;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = dt_fail(err, DT_ERR_IO, "cannot stat %s: %s", sub, strerror(errno));
			break;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue; /* a link or a socket: whose it is changes nothing */
		dir = S_ISDIR(st.st_mode);
		cfd = openat(fd, e->d_name,
			     O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
				 (dir ? O_DIRECTORY : 0));
		if (cfd < 0 || fstat(cfd, &now) != 0 || now.st_ino != st.st_ino ||
		    now.st_dev != st.st_dev || (now.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
			rc = dt_fail(err, DT_ERR_IO, "%s changed while it was given to its owner",
				     sub);
		else if (now.st_dev != dev)
			rc = dt_fail(err, DT_ERR_INVALID,
				     "%s is on another file system than the data dir: move it "
				     "out",
				     sub);
		else if (!dir && now.st_nlink != 1)
			rc = dt_fail(err, DT_ERR_INVALID,
				     "%s has %lu hard links: a data dir file has one; remove the "
				     "others",
				     sub, (unsigned long)now.st_nlink);
		else if (now.st_uid != 0)
			rc = dt_fail(err, DT_ERR_INVALID,
				     "%s belongs to uid %lu, not root, in a data dir of root's: "
				     "chown it if it belongs here",
				     sub, (unsigned long)now.st_uid);
		else {
			wanted(u, sub, dir, !dir, &uid, &gid, &mode);
			if (apply &&
			    (fchown(cfd, uid, gid) != 0 || (mode && fchmod(cfd, mode) != 0)))
				rc = dt_fail(err, DT_ERR_IO, "cannot give %s to its owner: %s", sub,
					     strerror(errno));
			else if (dir)
				rc = give_dir(cfd, sub, u, dev, depth + 1, apply, err);
		}
		if (cfd >= 0)
			close(cfd);
	}
	closedir(d);
	return rc;
}

/*
 * Opens the data dir for root without following a path someone else controls: the
 * path as given (from the working directory if relative), one component at a time,
 * without following links, each directory above the data dir root's and writable by
 * no one else (or sticky, as /tmp, where no one else may rename root's entries):
 * otherwise another user could put a link to / in place of the data dir, or of a
 * directory above it. *fd, or -1 if there is no data dir there.
 */
static dt_code open_data_dir(const char *data_dir, int *fd, struct dt_error *err)
{
	char path[4096], *save = NULL, *comp, *next_comp;
	int cur, n;
	dt_code rc = DT_OK;

	*fd = -1;
	if (data_dir[0] == '/')
		n = snprintf(path, sizeof(path), "%s", data_dir);
	else {
		char cwd[2048];

		if (!getcwd(cwd, sizeof(cwd)))
			return dt_fail(err, DT_ERR_IO, "getcwd: %s", strerror(errno));
		n = snprintf(path, sizeof(path), "%s/%s", cwd, data_dir);
	}
	if (n < 0 || (size_t)n >= sizeof(path))
		return dt_fail(err, DT_ERR_INVALID, "the data dir's path is too long");
	if ((cur = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return dt_fail(err, DT_ERR_IO, "cannot open /: %s", strerror(errno));
	comp = strtok_r(path, "/", &save);
	if (!comp)
		rc = dt_fail(err, DT_ERR_INVALID, "/ is no data dir");
	for (; comp && rc == DT_OK; comp = next_comp) {
		struct stat st;
		int next;

		next_comp = strtok_r(NULL, "/", &save);
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "name the data dir %s without '..' when root uses it",
				     data_dir);
			break;
		}
		if (fstat(cur, &st) != 0 || st.st_uid != 0 ||
		    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "a directory above the data dir %s is not root's or is "
				     "writable by others: root will not work below it",
				     data_dir);
			break;
		}
		if ((next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
		    0) {
			if (errno == ENOENT && !next_comp)
				break; /* no data dir: the caller says so */
			rc = dt_fail(err, DT_ERR_INVALID,
				     "cannot open %s without following a link (%s): name the data "
				     "dir by its real path",
				     data_dir, strerror(errno));
			break;
		}
		close(cur);
		cur = next;
		if (!next_comp)
			*fd = cur;
	}
	if (*fd < 0)
		close(cur);
	return rc;
}

dt_code ca_privsep_prepare(const char *data_dir, const struct ca_users *u, struct dt_error *err)
{
	struct stat st, keys;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	dt_code rc;
	int fd;

	if ((rc = open_data_dir(data_dir, &fd, err)) != DT_OK)
		return rc;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return dt_fail(err, DT_ERR_NOT_FOUND, "no data dir at %s: run devtrust init first",
			       data_dir);
	}
	if (st.st_uid == u->uid) {
		/* Given away on an earlier start: nothing to walk (root has not written there
		 * since, and a walk would race the user that owns it). Only check that the
		 * signer user is the same. */
		int same = fstatat(fd, "keys", &keys, AT_SYMLINK_NOFOLLOW) == 0 &&
			   (u->signer ? keys_signer(fd, u->uid, u->gid) == u->s_uid
				      : S_ISDIR(keys.st_mode) && keys.st_uid == u->uid);

		close(fd);
		if (!same)
			return dt_fail(err, DT_ERR_INVALID,
				       "%s/keys belongs to uid %lu, not to %s: the data dir was "
				       "given to other users before; start with the same users, or "
				       "give the CA keys and DATA/keys to the new one yourself",
				       data_dir, (unsigned long)keys.st_uid,
				       u->signer ? u->signer_user : u->user);
		return DT_OK;
	}
	if (st.st_uid != 0) {
		close(fd);
		return dt_fail(err, DT_ERR_INVALID,
			       "%s belongs to uid %lu, neither root nor --user: chown it if it is "
			       "yours",
			       data_dir, (unsigned long)st.st_uid);
	}
	/* The first start: closed to everyone while it is walked, given away last. */
	wanted(u, "", 1, 0, &uid, &gid, &mode);
	if (fchmod(fd, 0700) != 0)
		rc = dt_fail(err, DT_ERR_IO, "cannot close %s: %s", data_dir, strerror(errno));
	/* Everything checked first, so that a refusal changes nothing; then given. */
	else if ((rc = give_dir(fd, "", u, st.st_dev, 0, 0, err)) == DT_OK &&
		 (rc = give_dir(fd, "", u, st.st_dev, 0, 1, err)) == DT_OK &&
		 (fchown(fd, uid, gid) != 0 || fchmod(fd, mode) != 0))
		rc = dt_fail(err, DT_ERR_IO, "cannot give %s to %s: %s", data_dir, u->user,
			     strerror(errno));
	close(fd);
	return rc;
}

dt_code ca_privsep_owners(const char *data_dir, struct ca_users *u, int *found,
			  struct dt_error *err)
{
	struct stat st;
	gid_t pgid;
	int fd = -1;
	dt_code rc;

	memset(u, 0, sizeof(*u));
	*found = 0;
	if (geteuid() != 0)
		return DT_OK;
	/* A data dir of root's stays root's: no other user may rename it (its own, or a
	 * sticky directory's entry), unless the directory above is another user's, where
	 * root does not keep a data dir. Failing closed when there is none: another user
	 * must not make one appear between this look and dt_open's. */
	if (lstat(data_dir, &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid != 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "%s is a symbolic link of uid %lu: root follows only its own; name "
			       "the data dir by its real path",
			       data_dir, (unsigned long)st.st_uid);
	if (stat(data_dir, &st) != 0)
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "no devtrust data dir at %s: run 'devtrust init --org ORG' first "
			       "(or pass --data DIR)",
			       data_dir);
	if (st.st_uid == 0)
		return DT_OK;
	/* Another user's: looked at again through a path no one else controls, and
	 * decided on what was opened. */
	if ((rc = open_data_dir(data_dir, &fd, err)) != DT_OK)
		return rc;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_uid == 0) {
		if (fd >= 0)
			close(fd);
		return dt_fail(err, DT_ERR_INVALID, "%s changed while it was opened: try again",
			       data_dir);
	}
	/* A data dir as ca_privsep_prepare leaves it: its owner's own group (not root's),
	 * not sticky (a DATA/keys moved into its place is the signer user's, sticky, of
	 * another group). */
	if ((st.st_mode & S_ISVTX) || st.st_gid == 0 ||
	    user_by_uid(st.st_uid, &pgid, u->user, sizeof(u->user)) != 0 || pgid != st.st_gid) {
		close(fd);
		return dt_fail(err, DT_ERR_INVALID,
			       "%s is not laid out as a data dir of uid %lu (its group is not that "
			       "user's own, or it is sticky): root will not work in it",
			       data_dir, (unsigned long)st.st_uid);
	}
	u->uid = st.st_uid;
	u->gid = st.st_gid;
	u->s_uid = keys_signer(fd, u->uid, u->gid);
	close(fd);
	if (u->s_uid) {
		if (user_by_uid(u->s_uid, &u->s_gid, u->signer_user, sizeof(u->signer_user)) != 0)
			return dt_fail(err, DT_ERR_NOT_FOUND,
				       "the owner of %s/keys (uid %lu) is no user on this machine",
				       data_dir, (unsigned long)u->s_uid);
		if (u->s_gid == 0 || u->s_gid == u->gid)
			return dt_fail(err, DT_ERR_INVALID,
				       "the owner of %s/keys is in root's or the server's group: "
				       "give the signer user a group of its own",
				       data_dir);
		u->signer = 1;
	}
	*found = 1;
	return DT_OK;
}

dt_code ca_privsep_become(uid_t uid, gid_t gid, const gid_t *groups, size_t n, struct dt_error *err)
{
	if (setgroups(n, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot become uid %lu: %s",
			       (unsigned long)uid, strerror(errno));
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    setuid(0) == 0)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot become uid %lu for good",
			       (unsigned long)uid);
	/* The kernel makes it so after a change of ids unless fs.suid_dumpable says
	 * otherwise: a root command's terminal must stay out of that user's reach. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "PR_SET_DUMPABLE: %s", strerror(errno));
	return DT_OK;
}

dt_code ca_privsep_enter(const char *data_dir, const char *passphrase_file,
			 const struct ca_users *u, struct dt_error *err)
{
	dt_code rc;

	if (u->signer && (rc = ca_keyd_launcher_start(data_dir, passphrase_file, u, err)) != DT_OK)
		return rc;
	return ca_privsep_become(u->uid, u->gid, NULL, 0, err);
}
