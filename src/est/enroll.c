/*
 * /simpleenroll and /simplereenroll (RFC 7030 sections 4.2.1 and 4.2.2): find
 * out who the client is, hold it to the label, and issue through
 * dt_cert_issue, the same path as the CLI (which consumes a token and
 * supersedes old certificates inside its commit). The reply is the new
 * certificate as certs-only PKCS#7 (section 4.2.3).
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "est/est.h"
#include "inventory/inventory.h"

/* Who the client proved to be, and with which credential. */
struct est_client {
	struct dt_device dev;
	int with_token;
	char token[DT_FIELD_BUF]; /* the Basic password; wiped before returning */
};

static dt_code auth_basic(struct dt_ctx *ctx, const char *header, struct est_client *cl,
			  struct dt_error *err)
{
	char user[DT_ID_BUF];
	struct dt_error why;
	dt_code rc;

	if ((rc = dt_http_basic_parse(header, user, sizeof(user), cl->token, sizeof(cl->token),
				      err)) != DT_OK)
		return rc;
	if (dt_check_id("device id", user, &why) != DT_OK)
		return dt_fail(err, DT_ERR_AUTH, "HTTP Basic user name is not a device id: %s",
			       why.msg);
	/* The token is checked before anything about the device is told;
	 * dt_cert_issue checks it again and ends it in its commit. */
	rc = inv_device_token_auth(ctx, user, cl->token, &cl->dev, err);
	if (rc == DT_ERR_NOT_FOUND)
		return dt_fail(err, DT_ERR_AUTH, INV_TOKEN_REFUSED, user);
	if (rc != DT_OK)
		return rc;
	cl->with_token = 1;
	return DT_OK;
}

/* Both an IDevID and Basic credentials: they must name the same device. */
static dt_code same_device(const char *header, struct est_client *cl, struct dt_error *err)
{
	char user[DT_ID_BUF], pass[DT_FIELD_BUF];
	struct dt_error ignored;
	int differ;

	if (dt_http_basic_parse(header, user, sizeof(user), pass, sizeof(pass), &ignored) != DT_OK)
		return DT_OK;
	OPENSSL_cleanse(pass, sizeof(pass));
	differ = strcmp(user, cl->dev.id) != 0;
	return differ ? dt_fail(err, DT_ERR_AUTH,
				"the IDevID names device '%s' and the HTTP Basic user name another",
				cl->dev.id)
		      : DT_OK;
}

/*
 * RFC 7030 section 3.3.2: a client certificate that does not authenticate
 * leaves HTTP authentication; one of our device certificates renews through
 * simplereenroll and never bootstraps.
 */
static dt_code auth_bootstrap(struct dt_ctx *ctx, const struct dt_est_auth *auth,
			      struct est_client *cl, struct dt_error *err)
{
	const char *header = auth ? auth->authorization : NULL;
	struct dt_error cert_err;
	char serial[DT_SERIAL_HEX_BUF];
	int ours = 0;
	dt_code rc;

	if (auth && auth->peer) {
		if ((rc = est_cert_is_ours(ctx, auth->peer, &ours, err)) != DT_OK)
			return rc;
		if (ours) {
			if (est_cert_serial(auth->peer, serial, &cert_err) != DT_OK)
				serial[0] = '\0';
			dt_fail(&cert_err, DT_ERR_AUTH,
				"TLS client certificate %s is a device certificate of this CA: it "
				"renews through simplereenroll (RFC 7030 section 4.2.2) and is no "
				"bootstrap credential",
				serial);
		} else {
			rc =
			    est_auth_idevid(ctx, auth->peer, auth->peer_chain, &cl->dev, &cert_err);
			if (rc == DT_OK)
				return header ? same_device(header, cl, err) : DT_OK;
			if (rc != DT_ERR_AUTH) {
				*err = cert_err;
				return rc;
			}
		}
		if (!header) {
			*err = cert_err;
			return DT_ERR_AUTH;
		}
	}
	if (!header)
		return dt_fail(err, DT_ERR_AUTH,
			       "simpleenroll needs credentials: a TLS client certificate from a "
			       "registered manufacturer (IDevID) or HTTP Basic with the device id "
			       "and its enrollment token (RFC 7030 section 3.2.3)");
	return auth_basic(ctx, header, cl, err);
}

/* Maps issuance refusals onto the codes the HTTP server turns into statuses. */
static dt_code issue_code(dt_code rc, struct dt_error *err)
{
	switch (rc) {
	case DT_ERR_NOT_FOUND: /* the device went away since authentication */
		err->code = DT_ERR_AUTH;
		return DT_ERR_AUTH;
	case DT_ERR_EXISTS: /* the key is another device's or revoked: a bad request */
		err->code = DT_ERR_INVALID;
		return DT_ERR_INVALID;
	default:
		return rc;
	}
}

/* An enrollment between signing and its commit (dt_est_enroll_start). */
struct dt_est_pending {
	struct est_client cl;
	struct dt_issue_opts opts;
	char actor[DT_ID_BUF + 8];
	struct issue_job *job;
	dt_est_done_fn done;
	void *done_arg;
	dt_code rc; /* the commit's */
	struct dt_error err;
};

static void pending_free(struct dt_est_pending *p)
{
	if (!p)
		return;
	inv_issue_free(p->job);
	OPENSSL_cleanse(p->cl.token, sizeof(p->cl.token));
	free(p);
}

dt_code dt_est_enroll_start(struct dt_ctx *ctx, const char *label, int reenroll,
			    const unsigned char *body, size_t len, const struct dt_est_auth *auth,
			    struct dt_est_pending **out, struct dt_error *err)
{
	struct dt_est_pending *p;
	struct dt_class cls = {.lifetime_s = 0};
	unsigned char *csr = NULL;
	size_t csr_len = 0;
	int found = 0;
	dt_code rc;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = est_label_class(ctx, label, &cls, &found, err)) != DT_OK)
		goto out;
	if (!body)
		len = 0;
	if ((rc = est_body_decode(body, len, &csr, &csr_len, err)) != DT_OK)
		goto out;
	if (reenroll)
		rc = est_auth_current_cert(ctx, auth ? auth->peer : NULL, &p->cl.dev, err);
	else
		rc = auth_bootstrap(ctx, auth, &p->cl, err);
	if (rc != DT_OK)
		goto out;
	if (found && strcmp(p->cl.dev.class_name, cls.name) != 0) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "device '%s' is in class '%s', not '%s': enroll at "
			     "/.well-known/est/%s/ or the default path",
			     p->cl.dev.id, p->cl.dev.class_name, cls.name, p->cl.dev.class_name);
		goto out;
	}
	p->opts.token = p->cl.with_token ? p->cl.token : NULL;
	p->opts.supersede = reenroll ? 1 : 0;
	/* The audit log names the device that asked, over EST. */
	snprintf(p->actor, sizeof(p->actor), "est:%s", p->cl.dev.id);
	p->opts.actor = p->actor;
	if ((rc = inv_issue_begin(ctx, p->cl.dev.id, csr, csr_len, &p->opts, &p->cl.dev,
				  found ? &cls : NULL, &p->job, err)) != DT_OK) {
		rc = issue_code(rc, err);
		goto out;
	}
	*out = p;
	p = NULL;
out:
	pending_free(p);
	OPENSSL_free(csr);
	return rc;
}

static void committed(void *arg, dt_code rc)
{
	struct dt_est_pending *p = arg;

	p->rc = rc;
	p->done(p->done_arg);
}

void dt_est_enroll_commit(struct dt_ctx *ctx, struct dt_est_pending *p, dt_est_done_fn done,
			  void *done_arg)
{
	p->done = done;
	p->done_arg = done_arg;
	inv_issue_commit_async(ctx, p->job, &p->err, committed, p);
}

dt_code dt_est_enroll_finish(struct dt_est_pending *p, struct dt_est_reply *out,
			     struct dt_error *err)
{
	struct ca_issued *issued = inv_issue_result(p->job);
	STACK_OF(X509) *certs = NULL;
	unsigned char *p7 = NULL;
	size_t p7_len = 0;
	dt_code rc = p->rc;

	memset(out, 0, sizeof(*out));
	if (rc != DT_OK) {
		*err = p->err;
		rc = issue_code(rc, err);
		goto out;
	}
	/* The reply wraps the X509 that was signed: decoding the stored DER again
	 * would cost a provider key decode per enrollment. */
	if (!(certs = sk_X509_new_null()) || !sk_X509_push(certs, issued->x)) {
		rc = dt_fail(err, DT_ERR_INTERNAL,
			     "certificate %s was issued but cannot be encoded; fetch it with "
			     "'devtrust cert show %s'",
			     issued->info.serial, issued->info.serial);
		goto out;
	}
	issued->x = NULL; /* the stack owns it now */
	if ((rc = est_certs_only(certs, &p7, &p7_len, err)) != DT_OK ||
	    (rc = est_reply_set(out, p7, p7_len, DT_EST_CT_CERTS, err)) != DT_OK)
		goto out;
	memcpy(out->device_id, p->cl.dev.id, sizeof(out->device_id));
	memcpy(out->serial, issued->info.serial, sizeof(out->serial));
out:
	sk_X509_pop_free(certs, X509_free);
	OPENSSL_free(p7);
	pending_free(p);
	return rc;
}

void dt_est_enroll_abandon(struct dt_est_pending *p)
{
	pending_free(p);
}

dt_code dt_est_enroll(struct dt_ctx *ctx, const char *label, int reenroll,
		      const unsigned char *body, size_t len, const struct dt_est_auth *auth,
		      struct dt_est_reply *out, struct dt_error *err)
{
	struct dt_est_pending *p;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if ((rc = dt_est_enroll_start(ctx, label, reenroll, body, len, auth, &p, err)) != DT_OK)
		return rc;
	p->rc = inv_issue_commit(ctx, p->job, &p->err);
	return dt_est_enroll_finish(p, out, err);
}
