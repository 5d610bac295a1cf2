/*
 * Opening and creating a data dir. init builds everything in a temporary
 * sibling directory and renames it into place, so a failed init leaves
 * nothing behind and a data dir is either complete or absent.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/ca.h"
#include "audit/audit.h"
#include "core/core.h"
#include "devtrust/admin.h"

#define DEFAULT_PUBLIC_URL "http://127.0.0.1:8080"

const char *dt_org(const struct dt_ctx *ctx)
{
	return ctx->org;
}

const char *dt_public_url(const struct dt_ctx *ctx)
{
	return ctx->public_url;
}

const char *dt_data_dir(const struct dt_ctx *ctx)
{
	return ctx->data_dir;
}

/* Set by a thread that acts for someone else than the context's actor (the API). */
static _Thread_local const char *thread_actor;

void dt_actor_set_thread(const char *actor)
{
	thread_actor = actor;
}

const char *dt_actor(const struct dt_ctx *ctx)
{
	return thread_actor ? thread_actor : ctx->actor;
}

dt_code dt_passphrase(struct dt_ctx *ctx, char **out, size_t *len, struct dt_error *err)
{
	return dt_read_passphrase(ctx->passphrase_file, ctx->data_dir, out, len, err);
}

static void default_actor(char *buf, size_t cap, const char *actor)
{
	const char *user = getenv("USER");
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (actor && *actor) {
		snprintf(buf, cap, "%s", actor); /* at most 127 bytes, as the audit event holds */
		return;
	}
	if ((!user || !*user) && getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		user = res->pw_name;
	snprintf(buf, cap, "cli:%s", user && *user ? user : "unknown");
}

static dt_code ctx_new(const char *dir, const char *pass_file, const char *actor,
		       struct dt_ctx **out, struct dt_error *err)
{
	struct dt_ctx *ctx = calloc(1, sizeof(*ctx));

	*out = NULL;
	if (!ctx || !(ctx->data_dir = strdup(dir)) ||
	    (pass_file && !(ctx->passphrase_file = strdup(pass_file)))) {
		if (ctx)
			free(ctx->data_dir);
		free(ctx);
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	pthread_mutex_init(&ctx->keys_mu, NULL);
	default_actor(ctx->actor, sizeof(ctx->actor), actor);
	*out = ctx;
	return DT_OK;
}

void dt_close(struct dt_ctx *ctx)
{
	if (!ctx)
		return;
	store_close(ctx->store);
	ca_keyring_free(ctx->keys);
	pthread_mutex_destroy(&ctx->keys_mu);
	free(ctx->passphrase_file);
	free(ctx->data_dir);
	free(ctx);
}

struct settings_job {
	struct dt_ctx *ctx;
};

static dt_code load_settings_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct dt_ctx *ctx = ((struct settings_job *)arg)->ctx;
	dt_code rc;

	if ((rc = txn->ops->setting_get(txn, "org", ctx->org, sizeof(ctx->org), err)) != DT_OK)
		return rc;
	return txn->ops->setting_get(txn, "public_url", ctx->public_url, sizeof(ctx->public_url),
				     err);
}

dt_code dt_open(const struct dt_open_opts *o, struct dt_ctx **out, struct dt_error *err)
{
	struct dt_ctx *ctx = NULL;
	struct store_open_opts so = {0};
	struct settings_job sj;
	char db[4096];
	dt_code rc;

	*out = NULL;
	if ((rc = dt_path(db, sizeof(db), o->data_dir, DT_DB_NAME, err)) != DT_OK)
		return rc;
	if (access(db, F_OK) != 0)
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "no devtrust data dir at %s: run 'devtrust init --org ORG' first "
			       "(or pass --data DIR)",
			       o->data_dir);
	if ((rc = ctx_new(o->data_dir, o->passphrase_file, o->actor, &ctx, err)) != DT_OK)
		return rc;
	so.path = db;
	so.group_commit = o->group_commit;
	if ((rc = store_open_sqlite(&so, &ctx->store, err)) != DT_OK)
		goto out;
	sj.ctx = ctx;
	if ((rc = store_read(ctx->store, load_settings_job, &sj, err)) != DT_OK)
		goto out;
	*out = ctx;
	ctx = NULL;
out:
	dt_close(ctx);
	return rc;
}

static dt_code check_url(const char *url, struct dt_error *err)
{
	size_t n = strlen(url);

	if (n > DT_MAX_URL_LEN)
		return dt_fail(err, DT_ERR_INVALID, "public URL is longer than %d characters",
			       DT_MAX_URL_LEN);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "public URL must start with http:// (OCSP clients such as nginx "
			       "speak only http) or https://");
	for (const char *p = url; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".-_~:/[]%", *p)))
			return dt_fail(
			    err, DT_ERR_INVALID,
			    "public URL has '%c': use a plain scheme://host[:port][/path]",
			    *p >= 0x20 && *p < 0x7f ? *p : '?');
	return DT_OK;
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static dt_code generate_passphrase(const char *dir, struct dt_error *err)
{
	unsigned char raw[32], text[64];
	char path[4096];
	int n;
	dt_code rc;

	if ((rc = dt_random(raw, sizeof(raw), err)) != DT_OK)
		return rc;
	n = EVP_EncodeBlock(text, raw, sizeof(raw));
	text[n++] = '\n';
	if ((rc = dt_path(path, sizeof(path), dir, "secrets/passphrase", err)) == DT_OK)
		rc = dt_write_private_file(path, text, (size_t)n, err);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

struct init_job {
	const struct dt_init_opts *o;
	const char *url;
	const char *actor;
};

static dt_code init_settings_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct init_job *j = arg;
	char now[32];
	dt_code rc;

	snprintf(now, sizeof(now), "%lld", (long long)dt_now());
	if ((rc = txn->ops->setting_set(txn, "org", j->o->org, err)) != DT_OK ||
	    (rc = txn->ops->setting_set(txn, "public_url", j->url, err)) != DT_OK ||
	    (rc = txn->ops->setting_set(txn, "created_at", now, err)) != DT_OK)
		return rc;
	return audit_append_change(txn, j->actor, "init", j->o->org, "", json_null(),
				   json_pack("{s:s,s:s}", "org", j->o->org, "public_url", j->url),
				   NULL, err);
}

dt_code dt_init(struct dt_init_opts *o, struct dt_error *err)
{
	char tmp[4096], path[4096], url[DT_MAX_URL_LEN + 1];
	struct dt_ctx *ctx = NULL;
	struct store_open_opts so = {0};
	struct init_job job;
	struct dt_audit_checkpoint checkpoint;
	int written = 0;
	char *pass = NULL;
	size_t pass_len = 0;
	int made_tmp = 0;
	mode_t old_mask;
	dt_code rc;

	o->generated_passphrase = 0;
	if ((rc = dt_check_id("org", o->org, err)) != DT_OK)
		return rc;
	if (strlen(o->org) > DT_MAX_ORG_LEN)
		return dt_fail(
		    err, DT_ERR_INVALID,
		    "org is %zu characters; the limit is %d (the root's CN is \"<org> Root "
		    "CA\")",
		    strlen(o->org), DT_MAX_ORG_LEN);
	snprintf(url, sizeof(url), "%s", o->public_url ? o->public_url : DEFAULT_PUBLIC_URL);
	if ((rc = check_url(o->public_url ? o->public_url : DEFAULT_PUBLIC_URL, err)) != DT_OK)
		return rc;
	while (strlen(url) > 8 && url[strlen(url) - 1] == '/')
		url[strlen(url) - 1] = '\0';
	if (access(o->data_dir, F_OK) == 0 && !dir_is_empty(o->data_dir))
		return dt_fail(err, DT_ERR_EXISTS,
			       "%s already exists and is not empty: init refuses to touch an "
			       "existing data dir",
			       o->data_dir);
	if (o->passphrase_file || !getenv("DEVTRUST_PASSPHRASE") ||
	    !*getenv("DEVTRUST_PASSPHRASE")) {
		if (o->passphrase_file && (rc = dt_read_passphrase(o->passphrase_file, NULL, &pass,
								   &pass_len, err)) != DT_OK)
			return rc;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.init-XXXXXX", o->data_dir) >= (int)sizeof(tmp) ||
	    !mkdtemp(tmp)) {
		rc = dt_fail(err, DT_ERR_IO, "cannot create a directory next to %s: %s",
			     o->data_dir, strerror(errno));
		goto out;
	}
	made_tmp = 1;
	if ((rc = dt_mkdir_private(tmp, err)) != DT_OK ||
	    (rc = dt_path(path, sizeof(path), tmp, "keys", err)) != DT_OK ||
	    (rc = dt_mkdir_private(path, err)) != DT_OK ||
	    (rc = dt_path(path, sizeof(path), tmp, "secrets", err)) != DT_OK ||
	    (rc = dt_mkdir_private(path, err)) != DT_OK ||
	    (rc = dt_path(path, sizeof(path), tmp, "tls", err)) != DT_OK ||
	    (rc = dt_mkdir_private(path, err)) != DT_OK)
		goto out;
	if (!pass && (!getenv("DEVTRUST_PASSPHRASE") || !*getenv("DEVTRUST_PASSPHRASE"))) {
		if ((rc = generate_passphrase(tmp, err)) != DT_OK)
			goto out;
		o->generated_passphrase = 1;
	}
	if ((rc = ctx_new(tmp, o->passphrase_file, o->actor, &ctx, err)) != DT_OK)
		goto out;
	snprintf(ctx->org, sizeof(ctx->org), "%s", o->org);
	snprintf(ctx->public_url, sizeof(ctx->public_url), "%s", url);
	if ((rc = dt_path(path, sizeof(path), tmp, DT_DB_NAME, err)) != DT_OK)
		goto out;
	so.path = path;
	so.create = 1;
	old_mask = umask(077); /* the database and its WAL are private too */
	rc = store_open_sqlite(&so, &ctx->store, err);
	umask(old_mask);
	if (rc != DT_OK)
		goto out;
	job = (struct init_job){o, url, ctx->actor};
	/* The first checkpoint creates the audit key and covers init's events. */
	if ((rc = store_write(ctx->store, init_settings_job, &job, err)) != DT_OK ||
	    (rc = ca_init_hierarchy(ctx, o->ocsp_lifetime_s, err)) != DT_OK ||
	    (rc = dt_audit_checkpoint(ctx, &checkpoint, &written, err)) != DT_OK)
		goto out;
	dt_close(ctx);
	ctx = NULL;
	if (access(o->data_dir, F_OK) == 0 && rmdir(o->data_dir) != 0) {
		rc = dt_fail(err, DT_ERR_IO, "cannot replace the empty directory %s: %s",
			     o->data_dir, strerror(errno));
		goto out;
	}
	if (rename(tmp, o->data_dir) != 0) {
		rc = dt_fail(err, DT_ERR_IO, "cannot move the new data dir into %s: %s",
			     o->data_dir, strerror(errno));
		goto out;
	}
	made_tmp = 0;
out:
	dt_close(ctx);
	if (made_tmp)
		dt_remove_tree(tmp);
	if (pass) {
		OPENSSL_cleanse(pass, pass_len);
		free(pass);
	}
	return rc;
}
