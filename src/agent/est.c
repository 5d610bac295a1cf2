/*
 * One EST exchange (RFC 7030) from the device's side: the trust anchor (a
 * pin is resolved at first contact), /cacerts, /csrattrs, a new key and its
 * CSR, /simpleenroll or /simplereenroll, and the reply verified and
 * installed. Which credential to use, and what an answer means for the
 * status, is decided here too.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"

#define CT_PKCS7 "application/pkcs7-mime"
#define CT_CSRATTRS "application/csrattrs"

/* ---- the context ---- */

enum ag_code ag_ctx_open(struct ag_ctx *x, struct ag_error *e)
{
	char real[PATH_MAX];
	struct ag_error ignored;
	enum ag_code rc;

	x->lock_fd = -1;
	if (mkdir(x->cfg.state_dir, 0700) != 0 && errno != EEXIST)
		return ag_fail(e, AG_E_LOCAL, "cannot create state dir %s: %s", x->cfg.state_dir,
			       strerror(errno));
	/* The links into STATE/current must hold an absolute path. */
	if (!realpath(x->cfg.state_dir, real) || strlen(real) >= sizeof(x->cfg.state_dir))
		return ag_fail(e, AG_E_LOCAL, "cannot resolve state dir %s: %s", x->cfg.state_dir,
			       strerror(errno));
	memcpy(x->cfg.state_dir, real, strlen(real) + 1);
	if ((rc = ag_lock(x->cfg.state_dir, &x->lock_fd, e)) != AG_OK)
		return rc;
	ag_install_cleanup(&x->cfg);
	ag_status_load(&x->cfg, &x->st);
	if ((rc = ag_anchors_load(&x->cfg, &x->anchors, e)) != AG_OK)
		return rc;
	/* Nothing usable installed (damaged by someone else): enrolling again
	 * with the bootstrap credential is the way out, so carry on without. */
	if (ag_current_load(&x->cfg, &x->cur, &ignored) != AG_OK)
		ag_log("%s: treating the device as not enrolled", ignored.msg);
	/* A missing or damaged bundle is fetched again. */
	if (ag_certs_load(x->cfg.cacerts_path, &x->bundle, &ignored) != AG_OK)
		x->bundle = NULL;
	return AG_OK;
}

void ag_ctx_close(struct ag_ctx *x)
{
	sk_X509_pop_free(x->anchors, X509_free);
	sk_X509_pop_free(x->bundle, X509_free);
	ag_set_free(&x->cur);
	x->anchors = x->bundle = NULL;
	if (x->lock_fd >= 0)
		close(x->lock_fd); /* releases the lock */
	x->lock_fd = -1;
}

void ag_record(struct ag_ctx *x, enum ag_code rc, const struct ag_error *e)
{
	struct ag_error ignored;
	time_t now = time(NULL);

	switch (rc) {
	case AG_OK:
		x->st.state = AG_ST_VALID;
		x->st.last_success_at = now;
		x->st.last_error[0] = '\0';
		x->st.last_error_at = 0;
		/* The nominal point; the daemon replaces it with its jittered plan. */
		x->st.next_renewal = ag_renewal_time(&x->cfg, x->cur.cert, 0);
		break;
	case AG_E_STOPPED:
		return;
	case AG_E_SUSPENDED:
		x->st.state = AG_ST_SUSPENDED;
		break;
	case AG_E_RETIRED:
		x->st.state = strstr(e->msg, "compromised") ? AG_ST_COMPROMISED : AG_ST_RETIRED;
		break;
	case AG_E_AUTH:
		x->st.state = AG_ST_NEEDS_CREDENTIAL;
		break;
	case AG_E_CONFIG:
	case AG_E_LOCAL:
		x->st.state = AG_ST_ERROR;
		break;
	default:
		x->st.state = AG_ST_RETRYING;
	}
	if (rc != AG_OK) {
		snprintf(x->st.last_error, sizeof(x->st.last_error), "%s", e->msg);
		x->st.last_error_at = now;
	}
	if (ag_status_save(&x->cfg, &x->st, &ignored) != AG_OK)
		ag_log("cannot save the status: %s", ignored.msg);
}

void ag_record_error(struct ag_ctx *x, const struct ag_error *e)
{
	struct ag_error ignored;

	snprintf(x->st.last_error, sizeof(x->st.last_error), "%s", e->msg);
	x->st.last_error_at = time(NULL);
	if (ag_status_save(&x->cfg, &x->st, &ignored) != AG_OK)
		ag_log("cannot save the status: %s", ignored.msg);
}

/* ---- credentials ---- */

/* The token file's first line, without surrounding blanks. */
static enum ag_code read_token(const struct ag_config *c, char *out, size_t cap, struct ag_error *e)
{
	unsigned char *buf = NULL;
	size_t len = 0, start = 0, end;
	enum ag_code rc;

	out[0] = '\0';
	if ((rc = ag_read_file(c->token_file, AG_MAX_TOKEN + 64, &buf, &len, e)) != AG_OK)
		return rc;
	while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	end = start;
	while (end < len && buf[end] > 0x20 && buf[end] < 0x7f)
		end++;
	if (end == start || end - start >= cap) {
		rc = ag_fail(e, AG_E_AUTH,
			     "token file %s holds no token: put the one from 'devtrust device "
			     "token ID' in it",
			     c->token_file);
	} else {
		memcpy(out, buf + start, end - start);
		out[end - start] = '\0';
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

static void token_hash(const char *token, char hex[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	hex[0] = '\0';
	if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static enum ag_code load_idevid(const struct ag_config *c, struct ag_set *id, struct ag_error *e)
{
	STACK_OF(X509) *extra = NULL;
	enum ag_code rc;

	memset(id, 0, sizeof(*id));
	if ((rc = ag_certs_load(c->idevid_cert, &id->chain, e)) != AG_OK ||
	    (rc = ag_key_load(c->idevid_key, &id->key, e)) != AG_OK)
		goto out;
	id->cert = sk_X509_shift(id->chain);
	if (X509_check_private_key(id->cert, id->key) != 1) {
		rc = ag_fail(e, AG_E_CONFIG, "idevid-key %s is not the key of idevid-cert %s",
			     c->idevid_key, c->idevid_cert);
		goto out;
	}
	if (c->idevid_chain[0] && (rc = ag_certs_load(c->idevid_chain, &extra, e)) == AG_OK)
		while (sk_X509_num(extra) > 0)
			if (!sk_X509_push(id->chain, sk_X509_value(extra, 0)) ||
			    !sk_X509_shift(extra)) {
				rc = ag_fail(e, AG_E_LOCAL, "out of memory");
				break;
			}
out:
	sk_X509_pop_free(extra, X509_free);
	if (rc != AG_OK)
		ag_set_free(id);
	return rc;
}

/* 1 if x is within its validity now; else why not, in why. */
static int cert_current(X509 *x, char *why, size_t cap)
{
	time_t nb = 0, na = 0, now = time(NULL);
	char t[32];

	if (!ag_cert_times(x, &nb, &na)) {
		snprintf(why, cap, "its validity does not parse");
		return 0;
	}
	if (now >= na) {
		ag_time_iso(na, t);
		snprintf(why, cap, "it expired at %s", t);
		return 0;
	}
	if (now < nb) {
		ag_time_iso(nb, t);
		snprintf(why, cap, "it is not valid before %s (check the clock)", t);
		return 0;
	}
	return 1;
}

enum ag_code ag_bootstrap_mode(struct ag_ctx *x, enum ag_mode *mode, struct ag_error *e)
{
	const struct ag_config *c = &x->cfg;
	char why[160] = "", token[AG_MAX_TOKEN + 1], hex[65];
	struct ag_set id;
	enum ag_code rc;

	if (c->idevid_cert[0]) {
		if ((rc = load_idevid(c, &id, e)) != AG_OK)
			return rc;
		rc = cert_current(id.cert, why, sizeof(why)) ? AG_OK : AG_E_AUTH;
		ag_set_free(&id);
		if (rc == AG_OK) {
			*mode = AG_MODE_IDEVID;
			return AG_OK;
		}
		if (!c->token_file[0])
			return ag_fail(e, AG_E_AUTH, "the IDevID %s cannot be used: %s",
				       c->idevid_cert, why);
	}
	if (!c->token_file[0])
		return ag_fail(e, AG_E_AUTH,
			       "no bootstrap credential: set token-file (a one-time enrollment "
			       "token) or idevid-cert and idevid-key");
	if ((rc = read_token(c, token, sizeof(token), e)) != AG_OK)
		return rc;
	token_hash(token, hex);
	OPENSSL_cleanse(token, sizeof(token));
	if (strcmp(hex, x->st.token_used) == 0)
		return ag_fail(
		    e, AG_E_AUTH,
		    "the token in %s was spent at enrollment (tokens are single-use)%s%s: "
		    "put a new one from 'devtrust device token %s' in it",
		    c->token_file, why[0] ? "; the IDevID cannot be used: " : "", why,
		    c->device_id[0] ? c->device_id : "ID");
	if (!c->device_id[0])
		return ag_fail(e, AG_E_CONFIG, "token-file needs device-id (the HTTP Basic user)");
	*mode = AG_MODE_TOKEN;
	return AG_OK;
}

/* ---- one session ---- */

struct session {
	struct ag_tls tls;
	struct ag_set id; /* the IDevID, when it authenticates */
	struct ag_http *http;
};

static void session_close(struct session *s)
{
	ag_http_close(s->http);
	X509_STORE_free(s->tls.trust);
	sk_X509_pop_free(s->tls.seen, X509_free);
	ag_set_free(&s->id);
	memset(s, 0, sizeof(*s));
}

static enum ag_code session_open(struct ag_ctx *x, enum ag_mode mode, int with_identity,
				 struct session *s, struct ag_error *e)
{
	enum ag_code rc;

	memset(s, 0, sizeof(*s));
	if ((rc = ag_trust_store(x->anchors, &s->tls.trust, e)) != AG_OK)
		return rc;
	if (with_identity && mode == AG_MODE_REENROLL) {
		s->tls.cert = x->cur.cert;
		s->tls.key = x->cur.key;
		s->tls.chain = x->cur.chain;
	} else if (with_identity && mode == AG_MODE_IDEVID) {
		if ((rc = load_idevid(&x->cfg, &s->id, e)) != AG_OK)
			goto fail;
		s->tls.cert = s->id.cert;
		s->tls.key = s->id.key;
		s->tls.chain = s->id.chain;
	}
	if ((rc = ag_http_open(&x->cfg, &s->tls, &s->http, e)) != AG_OK)
		goto fail;
	return AG_OK;
fail:
	session_close(s);
	return rc;
}

static int content_type_is(const struct ag_response *r, const char *want)
{
	return strncasecmp(r->content_type, want, strlen(want)) == 0;
}

/* GET /cacerts: the bundle as sent, not yet trusted. */
static enum ag_code fetch_cacerts(struct ag_http *h, STACK_OF(X509) * *out, struct ag_error *e)
{
	struct ag_response r;
	enum ag_code rc;

	*out = NULL;
	if ((rc = ag_http_get(h, "cacerts", &r, e)) != AG_OK)
		return rc;
	if (r.status != 200)
		rc = ag_http_refusal(&r, "cacerts", e);
	else if (!content_type_is(&r, CT_PKCS7))
		rc = ag_fail(e, AG_E_REFUSED,
			     "cacerts: content type '%s', want " CT_PKCS7
			     " (RFC 7030 section 4.1.3)",
			     r.content_type);
	else
		rc = ag_certs_only_parse(r.body, r.len, out, e);
	ag_response_free(&r);
	return rc;
}

/* First contact with a pin: the anchor from an unverified /cacerts. */
static enum ag_code first_contact(struct ag_ctx *x, struct ag_error *e)
{
	struct ag_tls tls;
	struct ag_http *h = NULL;
	STACK_OF(X509) *certs = NULL;
	X509 *anchor = NULL;
	enum ag_code rc;

	memset(&tls, 0, sizeof(tls));
	if ((rc = ag_http_open(&x->cfg, &tls, &h, e)) != AG_OK ||
	    (rc = fetch_cacerts(h, &certs, e)) != AG_OK ||
	    (rc = ag_anchor_from_pin(&x->cfg, certs, tls.seen, &anchor, e)) != AG_OK ||
	    (rc = ag_anchor_save(&x->cfg, anchor, e)) != AG_OK)
		goto out;
	if (!(x->anchors = sk_X509_new_null()) || !sk_X509_push(x->anchors, anchor)) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory");
		goto out;
	}
	anchor = NULL;
	ag_log("first contact: the pin matched; trust anchor kept in %s/anchor.pem",
	       x->cfg.state_dir);
out:
	X509_free(anchor);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(tls.seen, X509_free);
	ag_http_close(h);
	return rc;
}

/* GET /csrattrs: the key types the server asks for (0: no advice). */
static enum ag_code fetch_csrattrs(struct ag_http *h, unsigned *allowed, struct ag_error *e)
{
	struct ag_response r;
	enum ag_code rc;

	*allowed = 0;
	if ((rc = ag_http_get(h, "csrattrs", &r, e)) != AG_OK)
		return rc;
	if (r.status == 204 || r.status == 404) /* RFC 7030 section 4.5.2: none */
		rc = AG_OK;
	else if (r.status != 200)
		rc = ag_http_refusal(&r, "csrattrs", e);
	else if (r.len > 0 && !content_type_is(&r, CT_CSRATTRS))
		rc = ag_fail(e, AG_E_REFUSED, "csrattrs: content type '%s', want " CT_CSRATTRS,
			     r.content_type);
	else
		rc = ag_csrattrs_parse(r.body, r.len, allowed, e);
	ag_response_free(&r);
	return rc;
}

/* The name in the CSR, for people only: the server uses its inventory's. */
static void csr_name(struct ag_ctx *x, char *out, size_t cap)
{
	snprintf(out, cap, "%s", x->cfg.device_id[0] ? x->cfg.device_id : "devtrust-agent");
	if (!x->cfg.device_id[0] && x->cur.cert &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x->cur.cert), NID_commonName, out,
				      (int)cap) < 0)
		snprintf(out, cap, "devtrust-agent");
}

/* POSTs a CSR for key; *cert is the issued certificate for that key. */
static enum ag_code post_csr(struct ag_ctx *x, struct session *s, enum ag_mode mode, EVP_PKEY *key,
			     X509 **cert, struct ag_error *e)
{
	const char *op = mode == AG_MODE_REENROLL ? "simplereenroll" : "simpleenroll";
	char token[AG_MAX_TOKEN + 1] = "", hex[65] = "", cn[AG_MAX_ID + 1], *b64 = NULL;
	unsigned char *der = NULL;
	size_t der_len = 0, b64_len = 0;
	STACK_OF(X509) *certs = NULL;
	struct ag_response r;
	enum ag_code rc;

	memset(&r, 0, sizeof(r));
	*cert = NULL;
	csr_name(x, cn, sizeof(cn));
	if ((rc = ag_csr_build(key, cn, &der, &der_len, e)) != AG_OK ||
	    (rc = ag_base64_encode(der, der_len, &b64, &b64_len, e)) != AG_OK)
		goto out;
	if (mode == AG_MODE_TOKEN) {
		if ((rc = read_token(&x->cfg, token, sizeof(token), e)) != AG_OK)
			goto out;
		token_hash(token, hex);
	}
	rc = ag_http_post(s->http, op, b64, b64_len,
			  mode == AG_MODE_TOKEN ? x->cfg.device_id : NULL, token, &r, e);
	OPENSSL_cleanse(token, sizeof(token));
	if (rc != AG_OK)
		goto out;
	if (r.status != 200) {
		rc = ag_http_refusal(&r, op, e);
		goto out;
	}
	/* Issued: the token is spent whatever happens next. Its hash is kept,
	 * never the token, so that it is not offered again. */
	if (mode == AG_MODE_TOKEN)
		memcpy(x->st.token_used, hex, sizeof(hex));
	if (!content_type_is(&r, CT_PKCS7)) {
		rc = ag_fail(e, AG_E_REFUSED, "%s: content type '%s', want " CT_PKCS7, op,
			     r.content_type);
		goto out;
	}
	if ((rc = ag_certs_only_parse(r.body, r.len, &certs, e)) != AG_OK)
		goto out;
	for (int i = 0; i < sk_X509_num(certs) && !*cert; i++)
		if (X509_check_private_key(sk_X509_value(certs, i), key) == 1)
			*cert = sk_X509_delete(certs, i);
	if (!*cert)
		rc = ag_fail(e, AG_E_REFUSED,
			     "%s: the reply has no certificate for the key we sent (RFC 7030 "
			     "section 4.2.3)",
			     op);
out:
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	ag_response_free(&r);
	free(b64);
	free(der);
	return rc;
}

/* Writes the bundle to the cacerts path if it differs from the installed one. */
static enum ag_code install_bundle(struct ag_ctx *x, STACK_OF(X509) * bundle, int *changed,
				   struct ag_error *e)
{
	char *pem = NULL;
	size_t len = 0;
	enum ag_code rc;

	*changed = 0;
	if (x->bundle && ag_certs_equal(x->bundle, bundle))
		return AG_OK;
	if ((rc = ag_certs_pem(bundle, &pem, &len, e)) == AG_OK &&
	    (rc = ag_replace_file(x->cfg.cacerts_path, pem, len, 0644, e)) == AG_OK) {
		sk_X509_pop_free(x->bundle, X509_free);
		x->bundle = X509_chain_up_ref(bundle);
		*changed = 1;
	}
	free(pem);
	return rc;
}

static enum ag_code need_anchor(struct ag_ctx *x, struct ag_error *e)
{
	return x->anchors ? AG_OK : first_contact(x, e);
}

/* Issue, verify against the anchor with the bundle, install. */
static enum ag_code enroll_in(struct ag_ctx *x, struct session *s, enum ag_mode mode,
			      struct ag_error *e)
{
	STACK_OF(X509) *bundle = NULL;
	struct ag_set set;
	unsigned allowed = 0, type = 0;
	int changed = 0;
	enum ag_code rc;

	memset(&set, 0, sizeof(set));
	if ((rc = fetch_cacerts(s->http, &bundle, e)) != AG_OK ||
	    (rc = ag_bundle_check(x->anchors, bundle, e)) != AG_OK ||
	    (rc = fetch_csrattrs(s->http, &allowed, e)) != AG_OK ||
	    (rc = ag_key_type_choose(allowed, x->cfg.key_type, &type, e)) != AG_OK)
		goto out;
	if (x->cfg.key_type && type != x->cfg.key_type)
		ag_log("key-type %s is not one the server asks for (csrattrs); using %s",
		       ag_key_type_name(x->cfg.key_type), ag_key_type_name(type));
	if ((rc = ag_key_generate(type, &set.key, e)) != AG_OK ||
	    (rc = post_csr(x, s, mode, set.key, &set.cert, e)) != AG_OK)
		goto out;
	if ((rc = ag_verify_cert(x->anchors, bundle, set.cert, &set.chain, e)) != AG_OK) {
		rc = ag_fail_context(e, rc, "issued certificate refused: ");
		goto out;
	}
	if ((rc = ag_install(&x->cfg, x->anchors, &set, e)) != AG_OK ||
	    (rc = install_bundle(x, bundle, &changed, e)) != AG_OK)
		goto out;
	ag_set_free(&x->cur);
	x->cur = set;
	memset(&set, 0, sizeof(set));
out:
	ag_set_free(&set);
	sk_X509_pop_free(bundle, X509_free);
	return rc;
}

static void log_installed(struct ag_ctx *x, enum ag_mode mode)
{
	static const char *const how[] = {"renewed", "enrolled with the token",
					  "enrolled with the IDevID"};
	time_t nb, na;
	char t[32] = "";

	if (ag_cert_times(x->cur.cert, &nb, &na))
		ag_time_iso(na, t);
	ag_log("%s: generation %ld, %s key, valid until %s", how[mode], x->cur.gen,
	       ag_key_type_name(ag_key_type_of(x->cur.key)), t);
}

enum ag_code ag_est_enroll(struct ag_ctx *x, enum ag_mode mode, struct ag_error *e)
{
	struct session s;
	enum ag_code rc;

	if ((rc = need_anchor(x, e)) != AG_OK || (rc = session_open(x, mode, 1, &s, e)) != AG_OK)
		return rc;
	rc = enroll_in(x, &s, mode, e);
	session_close(&s);
	if (rc != AG_OK)
		return rc;
	log_installed(x, mode);
	ag_hook_run(&x->cfg, mode == AG_MODE_REENROLL ? "renewed" : "enrolled", x->cur.cert);
	return AG_OK;
}

enum ag_code ag_est_cacerts(struct ag_ctx *x, int *changed, struct ag_error *e)
{
	STACK_OF(X509) *bundle = NULL;
	struct session s;
	enum ag_code rc;

	*changed = 0;
	if ((rc = need_anchor(x, e)) != AG_OK ||
	    (rc = session_open(x, AG_MODE_REENROLL, 0, &s, e)) != AG_OK)
		return rc;
	if ((rc = fetch_cacerts(s.http, &bundle, e)) == AG_OK &&
	    (rc = ag_bundle_check(x->anchors, bundle, e)) == AG_OK &&
	    (rc = install_bundle(x, bundle, changed, e)) == AG_OK && *changed) {
		ag_log("cacerts: new trust bundle of %d certificates installed in %s",
		       sk_X509_num(bundle), x->cfg.cacerts_path);
		ag_hook_run(&x->cfg, "cacerts", x->cur.cert);
	}
	sk_X509_pop_free(bundle, X509_free);
	session_close(&s);
	return rc;
}

/* Bootstrap again; why says why re-enrollment is not possible. */
static enum ag_code rebootstrap(struct ag_ctx *x, const char *why, struct ag_error *e)
{
	enum ag_mode mode;
	enum ag_code rc;

	if ((rc = ag_bootstrap_mode(x, &mode, e)) != AG_OK)
		return ag_fail_context(e, rc, "%s, and ", why);
	ag_log("%s: enrolling again with the %s", why,
	       mode == AG_MODE_IDEVID ? "IDevID" : "enrollment token");
	snprintf(x->st.note, sizeof(x->st.note), "%s: enrolled again with the %s", why,
		 mode == AG_MODE_IDEVID ? "IDevID" : "enrollment token");
	return ag_est_enroll(x, mode, e);
}

enum ag_code ag_renew(struct ag_ctx *x, struct ag_error *e)
{
	char why[200], serial_why[AG_ERR_MSG];
	enum ag_mode mode;
	enum ag_code rc;

	if (!x->cur.cert) {
		if ((rc = ag_bootstrap_mode(x, &mode, e)) == AG_OK)
			rc = ag_est_enroll(x, mode, e);
	} else if (!cert_current(x->cur.cert, why, sizeof(why))) {
		char msg[240];
		snprintf(msg, sizeof(msg), "the certificate cannot renew itself: %s", why);
		rc = rebootstrap(x, msg, e);
	} else {
		x->st.note[0] = '\0';
		rc = ag_est_enroll(x, AG_MODE_REENROLL, e);
		/* 401: the server no longer takes this certificate (revoked, unknown). */
		if (rc == AG_E_AUTH) {
			snprintf(serial_why, sizeof(serial_why), "re-enrollment refused (%.400s)",
				 e->msg);
			rc = rebootstrap(x, serial_why, e);
		}
	}
	ag_record(x, rc, e);
	return rc;
}
