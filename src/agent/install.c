/*
 * Atomic installation of a key, its certificate and their chain
 * (DECISIONS.md 42). Three renames are not atomic together, so each set is a
 * generation directory STATE/gen-N/{key,cert,chain}.pem, written and synced
 * whole, verified as read back, and then made current by one rename of the
 * symlink STATE/current. The configured key, cert and chain paths are
 * symlinks into STATE/current/, so whoever opens them after a power cut at any
 * instant finds all of the old set or all of the new one. STATE/previous
 * keeps the set before; older generations and crash leftovers are removed.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"

#define GEN_PREFIX "gen-"
#define GEN_MAX 999999999L

void ag_set_free(struct ag_set *s)
{
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	memset(s, 0, sizeof(*s));
}

void ag_install_step(void)
{
	static long delay_ms = -1;
	struct timespec ts;
	const char *v;

	if (delay_ms < 0) {
		v = getenv("DEVTRUST_AGENT_STEP_DELAY_MS");
		delay_ms = v ? strtol(v, NULL, 10) : 0;
		if (delay_ms < 0 || delay_ms > 10000)
			delay_ms = 0;
	}
	if (delay_ms == 0)
		return;
	ts.tv_sec = delay_ms / 1000;
	ts.tv_nsec = (delay_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* N of "gen-N", or -1. */
static long gen_number(const char *name)
{
	char *end = NULL;
	long n;

	if (strncmp(name, GEN_PREFIX, 4) != 0 || !(name[4] >= '1' && name[4] <= '9'))
		return -1;
	n = strtol(name + 4, &end, 10);
	return (end && *end == '\0' && n > 0 && n <= GEN_MAX) ? n : -1;
}

/* The generation a link in STATE points to ("current", "previous"), or 0. */
static long link_gen(const char *state_dir, const char *name)
{
	char path[AG_MAX_PATH + 16], target[64];
	ssize_t n;
	long gen;

	if (ag_join(path, sizeof(path), state_dir, name, NULL) != AG_OK ||
	    (n = readlink(path, target, sizeof(target) - 1)) <= 0)
		return 0;
	target[n] = '\0';
	gen = gen_number(target);
	return gen > 0 ? gen : 0;
}

static enum ag_code switch_link(const char *dir, const char *name, const char *target,
				struct ag_error *e);

/* A chain file may be empty: a certificate issued straight by the anchor. */
static enum ag_code load_chain(const char *path, STACK_OF(X509) * *out, struct ag_error *e)
{
	struct stat sb;

	if (stat(path, &sb) == 0 && sb.st_size == 0) {
		*out = sk_X509_new_null();
		return *out ? AG_OK : ag_fail(e, AG_E_LOCAL, "out of memory");
	}
	return ag_certs_load(path, out, e);
}

/* Loads gen-N (or "current") of STATE and checks that key and cert match. */
static enum ag_code load_set(const struct ag_config *c, const char *dir_name, struct ag_set *s,
			     struct ag_error *e)
{
	char dir[AG_MAX_PATH + 32], path[AG_MAX_PATH + 48];
	STACK_OF(X509) *certs = NULL;
	enum ag_code rc;

	memset(s, 0, sizeof(*s));
	if ((rc = ag_join(dir, sizeof(dir), c->state_dir, dir_name, e)) != AG_OK ||
	    (rc = ag_join(path, sizeof(path), dir, "key.pem", e)) != AG_OK ||
	    (rc = ag_key_load(path, &s->key, e)) != AG_OK ||
	    (rc = ag_join(path, sizeof(path), dir, "cert.pem", e)) != AG_OK ||
	    (rc = ag_certs_load(path, &certs, e)) != AG_OK ||
	    (rc = ag_join(path, sizeof(path), dir, "chain.pem", e)) != AG_OK ||
	    (rc = load_chain(path, &s->chain, e)) != AG_OK)
		goto out;
	s->cert = sk_X509_shift(certs);
	if (sk_X509_num(certs) != 0 || X509_check_private_key(s->cert, s->key) != 1) {
		rc = ag_fail(e, AG_E_LOCAL,
			     "%s: cert.pem is not one certificate for key.pem: remove the "
			     "directory and enroll again",
			     dir);
		goto out;
	}
out:
	sk_X509_pop_free(certs, X509_free);
	if (rc != AG_OK)
		ag_set_free(s);
	return rc;
}

enum ag_code ag_current_load(const struct ag_config *c, struct ag_set *s, struct ag_error *e)
{
	long gen = link_gen(c->state_dir, "current"), prev = link_gen(c->state_dir, "previous");
	char name[32];
	struct ag_error ignored;
	enum ag_code rc;

	memset(s, 0, sizeof(*s));
	if (gen == 0)
		return AG_OK;
	if ((rc = load_set(c, "current", s, e)) == AG_OK) {
		s->gen = gen;
		return AG_OK;
	}
	/* Damaged by someone else (we never leave current incomplete): the
	 * previous set, if whole and unexpired, is better than bootstrapping. */
	if (prev == 0 || prev == gen || load_set(c, "previous", s, &ignored) != AG_OK)
		return rc;
	snprintf(name, sizeof(name), GEN_PREFIX "%ld", prev);
	if (switch_link(c->state_dir, "current", name, &ignored) != AG_OK ||
	    ag_fsync_dir(c->state_dir, &ignored) != AG_OK) {
		ag_set_free(s);
		return rc;
	}
	ag_log("%s; switched back to the previous generation %s", e->msg, name);
	s->gen = prev;
	return AG_OK;
}

/* Removes a generation directory: its files, then itself. */
static void remove_gen(const char *state_dir, const char *name)
{
	char dir[AG_MAX_PATH + 32], path[AG_MAX_PATH + 300];
	struct dirent *d;
	DIR *dh;

	if (ag_join(dir, sizeof(dir), state_dir, name, NULL) != AG_OK || !(dh = opendir(dir)))
		return;
	while ((d = readdir(dh)))
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0 &&
		    ag_join(path, sizeof(path), dir, d->d_name, NULL) == AG_OK)
			unlink(path);
	closedir(dh);
	rmdir(dir);
}

void ag_install_cleanup(const struct ag_config *c)
{
	long cur = link_gen(c->state_dir, "current"), prev = link_gen(c->state_dir, "previous");
	char path[AG_MAX_PATH + 16];
	struct dirent *d;
	DIR *dh;
	long n;

	if (!(dh = opendir(c->state_dir)))
		return;
	while ((d = readdir(dh))) {
		n = gen_number(d->d_name);
		if (n > 0 && n != cur && n != prev)
			remove_gen(c->state_dir, d->d_name);
	}
	closedir(dh);
	if (ag_join(path, sizeof(path), c->state_dir, "current.tmp", NULL) == AG_OK)
		unlink(path);
	if (ag_join(path, sizeof(path), c->state_dir, "previous.tmp", NULL) == AG_OK)
		unlink(path);
}

static long next_gen(const char *state_dir)
{
	struct dirent *d;
	DIR *dh;
	long max = 0, n;

	if (!(dh = opendir(state_dir)))
		return 1;
	while ((d = readdir(dh)))
		if ((n = gen_number(d->d_name)) > max)
			max = n;
	closedir(dh);
	return max < GEN_MAX ? max + 1 : 1;
}

/* dir/name := symlink to target, by rename of a fresh link over it. */
static enum ag_code switch_link(const char *dir, const char *name, const char *target,
				struct ag_error *e)
{
	char path[AG_MAX_PATH + 16], tmp[AG_MAX_PATH + 24];
	enum ag_code rc;

	if ((rc = ag_join(path, sizeof(path), dir, name, e)) != AG_OK)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return ag_fail(e, AG_E_LOCAL, "path %s is too long", path);
	if (unlink(tmp) != 0 && errno != ENOENT)
		return ag_fail(e, AG_E_LOCAL, "cannot remove %s: %s", tmp, strerror(errno));
	if (symlink(target, tmp) != 0)
		return ag_fail(e, AG_E_LOCAL, "cannot create symlink %s: %s", tmp, strerror(errno));
	ag_install_step();
	if (rename(tmp, path) != 0) {
		rc = ag_fail(e, AG_E_LOCAL, "cannot rename %s to %s: %s", tmp, path,
			     strerror(errno));
		unlink(tmp);
		return rc;
	}
	return AG_OK;
}

/*
 * A configured path must be ours to manage: absent, or a symlink. A regular
 * file there would make key, cert and chain three separate renames again.
 */
static enum ag_code check_link_path(const char *path, struct ag_error *e)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT
			   ? AG_OK
			   : ag_fail(e, AG_E_LOCAL, "cannot inspect %s: %s", path, strerror(errno));
	if (!S_ISLNK(sb.st_mode))
		return ag_fail(e, AG_E_CONFIG,
			       "%s exists and is not a symlink: move it away; devtrust-agent keeps "
			       "it as a link into its state dir so that key, certificate and chain "
			       "change together",
			       path);
	return AG_OK;
}

/* path -> STATE/current/name, if it does not point there already. */
static enum ag_code stable_link(const struct ag_config *c, const char *path, const char *name,
				struct ag_error *e)
{
	char target[AG_MAX_PATH + 32], now[AG_MAX_PATH + 32], dir[AG_MAX_PATH];
	const char *base;
	ssize_t n;
	enum ag_code rc;

	if (snprintf(target, sizeof(target), "%s/current/%s", c->state_dir, name) >=
	    (int)sizeof(target))
		return ag_fail(e, AG_E_LOCAL, "state dir path is too long");
	n = readlink(path, now, sizeof(now) - 1);
	if (n > 0 && (size_t)n == strlen(target) && memcmp(now, target, (size_t)n) == 0)
		return AG_OK;
	base = ag_path_split(path, dir, sizeof(dir));
	if ((rc = switch_link(dir, base, target, e)) != AG_OK)
		return rc;
	return ag_fsync_dir(dir, e);
}

static enum ag_code write_gen(const char *dir, struct ag_set *s, struct ag_error *e)
{
	char path[AG_MAX_PATH + 48], *pem = NULL;
	STACK_OF(X509) *one = sk_X509_new_null();
	size_t len = 0;
	enum ag_code rc;

	if (!one || !sk_X509_push(one, s->cert)) {
		sk_X509_free(one);
		return ag_fail(e, AG_E_LOCAL, "out of memory");
	}
	/* The key first, created exclusively and 0600, wiped from memory after. */
	if ((rc = ag_join(path, sizeof(path), dir, "key.pem", e)) != AG_OK ||
	    (rc = ag_key_pem(s->key, &pem, &len, e)) != AG_OK)
		goto out;
	rc = ag_write_new(path, pem, len, 0600, e);
	ag_secret_free(pem, len);
	pem = NULL;
	if (rc != AG_OK)
		goto out;
	ag_install_step();
	if ((rc = ag_join(path, sizeof(path), dir, "cert.pem", e)) != AG_OK ||
	    (rc = ag_certs_pem(one, &pem, &len, e)) != AG_OK ||
	    (rc = ag_write_new(path, pem, len, 0644, e)) != AG_OK)
		goto out;
	free(pem);
	pem = NULL;
	ag_install_step();
	if ((rc = ag_join(path, sizeof(path), dir, "chain.pem", e)) != AG_OK ||
	    (rc = ag_certs_pem(s->chain, &pem, &len, e)) != AG_OK ||
	    (rc = ag_write_new(path, pem, len, 0644, e)) != AG_OK)
		goto out;
	ag_install_step();
	rc = ag_fsync_dir(dir, e);
out:
	free(pem);
	sk_X509_free(one);
	return rc;
}

/* The set as written must be the set we meant: read back, matched, verified. */
static enum ag_code verify_written(const struct ag_config *c, const char *name,
				   STACK_OF(X509) * anchors, struct ag_set *want,
				   struct ag_error *e)
{
	struct ag_set got;
	enum ag_code rc;

	if ((rc = load_set(c, name, &got, e)) != AG_OK)
		return rc;
	if (X509_cmp(got.cert, want->cert) != 0 || EVP_PKEY_eq(got.key, want->key) != 1 ||
	    !ag_certs_equal(got.chain, want->chain)) {
		rc = ag_fail(e, AG_E_LOCAL, "%s/%s does not read back as written", c->state_dir,
			     name);
	} else if ((rc = ag_verify_cert(anchors, got.chain, got.cert, NULL, e)) != AG_OK) {
		rc = ag_fail_context(e, rc, "new certificate not installed: ");
	}
	ag_set_free(&got);
	return rc;
}

enum ag_code ag_install(const struct ag_config *c, STACK_OF(X509) * anchors, struct ag_set *s,
			struct ag_error *e)
{
	const char *links[3][2] = {
	    {c->key_path, "key.pem"}, {c->cert_path, "cert.pem"}, {c->chain_path, "chain.pem"}};
	char name[32], dir[AG_MAX_PATH + 32], prev[32];
	long gen = next_gen(c->state_dir), cur = link_gen(c->state_dir, "current");
	enum ag_code rc;

	for (int i = 0; i < 3; i++)
		if ((rc = check_link_path(links[i][0], e)) != AG_OK)
			return rc;
	snprintf(name, sizeof(name), GEN_PREFIX "%ld", gen);
	if ((rc = ag_join(dir, sizeof(dir), c->state_dir, name, e)) != AG_OK)
		return rc;
	if (mkdir(dir, 0755) != 0)
		return ag_fail(e, AG_E_LOCAL, "cannot create %s: %s", dir, strerror(errno));
	ag_install_step();
	if ((rc = write_gen(dir, s, e)) != AG_OK || (rc = ag_fsync_dir(c->state_dir, e)) != AG_OK ||
	    (rc = verify_written(c, name, anchors, s, e)) != AG_OK) {
		remove_gen(c->state_dir, name);
		return rc;
	}
	ag_install_step();
	/* previous first: a crash between the two renames leaves previous == current. */
	if (cur > 0) {
		snprintf(prev, sizeof(prev), GEN_PREFIX "%ld", cur);
		if ((rc = switch_link(c->state_dir, "previous", prev, e)) != AG_OK)
			return rc;
	}
	ag_install_step();
	if ((rc = switch_link(c->state_dir, "current", name, e)) != AG_OK ||
	    (rc = ag_fsync_dir(c->state_dir, e)) != AG_OK)
		return rc;
	ag_install_step();
	s->gen = gen;
	for (int i = 0; i < 3; i++)
		if ((rc = stable_link(c, links[i][0], links[i][1], e)) != AG_OK)
			return rc;
	ag_install_cleanup(c);
	return AG_OK;
}
