/*
 * The explicit trust anchor (RFC 7030 section 4.1.1): a CA certificate file
 * given by the operator, or a SHA-256 pin checked at first contact and then
 * kept as STATE/anchor.pem. Everything the server sends is trusted only when
 * it verifies against it: its TLS chain, a cacerts bundle, a new certificate.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"

enum ag_code ag_pin_parse(const char *s, unsigned char pin[32], struct ag_error *e)
{
	size_t n = 0;

	memset(pin, 0, 32);
	if (strncmp(s, "sha256:", 7) != 0)
		goto bad;
	for (s += 7; *s; s++) {
		int v = OPENSSL_hexchar2int((unsigned char)*s);
		if (*s == ':')
			continue;
		if (v < 0 || n >= 64)
			goto bad;
		pin[n / 2] = (unsigned char)(pin[n / 2] | (n % 2 ? v : v << 4));
		n++;
	}
	if (n == 64)
		return AG_OK;
bad:
	memset(pin, 0, 32);
	return ag_fail(e, AG_E_CONFIG,
		       "pin: want sha256: and 64 hex digits (colons allowed), as printed by "
		       "openssl x509 -noout -fingerprint -sha256");
}

static void pin_hex(const unsigned char pin[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", pin[i]);
}

static void subject_of(X509 *x, char *buf, size_t cap)
{
	if (!X509_NAME_oneline(X509_get_subject_name(x), buf, (int)cap))
		snprintf(buf, cap, "?");
}

/* The first line of STATE/anchor.pem names the pin that chose it. */
static void pin_line(const unsigned char pin[32], char out[128])
{
	char hex[65];

	pin_hex(pin, hex);
	snprintf(out, 128, "# pinned at first contact: sha256:%s\n", hex);
}

static enum ag_code pinned_anchor(const struct ag_config *c, STACK_OF(X509) * *out,
				  struct ag_error *e)
{
	char path[AG_MAX_PATH + 16], want[128];
	unsigned char *buf = NULL;
	size_t len = 0;
	enum ag_code rc;

	*out = NULL;
	if ((rc = ag_join(path, sizeof(path), c->state_dir, "anchor.pem", e)) != AG_OK)
		return rc;
	if (access(path, F_OK) != 0)
		return errno == ENOENT
			   ? AG_OK
			   : ag_fail(e, AG_E_LOCAL, "cannot access %s: %s", path, strerror(errno));
	if ((rc = ag_read_file(path, AG_MAX_PEM_FILE, &buf, &len, e)) != AG_OK)
		return rc;
	pin_line(c->pin, want);
	/* Another pin configured since: that anchor no longer counts. */
	if (len < strlen(want) || memcmp(buf, want, strlen(want)) != 0) {
		free(buf);
		ag_log("%s was pinned with another pin; contacting the server afresh", path);
		return AG_OK;
	}
	free(buf);
	return ag_certs_load(path, out, e);
}

enum ag_code ag_anchors_load(const struct ag_config *c, STACK_OF(X509) * *out, struct ag_error *e)
{
	STACK_OF(X509) *certs = NULL;
	char subj[256];
	enum ag_code rc;

	*out = NULL;
	if (c->has_pin)
		rc = pinned_anchor(c, &certs, e);
	else
		rc = ag_certs_load(c->ca_file, &certs, e);
	if (rc != AG_OK) {
		if (!c->has_pin)
			e->code = AG_E_CONFIG;
		return e->code;
	}
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (X509_check_ca(sk_X509_value(certs, i)) < 1) {
			subject_of(sk_X509_value(certs, i), subj, sizeof(subj));
			sk_X509_pop_free(certs, X509_free);
			return ag_fail(e, AG_E_CONFIG,
				       "trust anchor %s is not a CA certificate (basicConstraints "
				       "CA:TRUE, RFC 5280 section 4.2.1.9)",
				       subj);
		}
	*out = certs;
	return AG_OK;
}

enum ag_code ag_trust_store(STACK_OF(X509) * anchors, X509_STORE **out, struct ag_error *e)
{
	X509_STORE *st = X509_STORE_new();

	*out = NULL;
	if (!st)
		return ag_fail(e, AG_E_LOCAL, "out of memory");
	for (int i = 0; i < sk_X509_num(anchors); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(anchors, i)) != 1) {
			X509_STORE_free(st);
			ERR_clear_error();
			return ag_fail(e, AG_E_LOCAL, "cannot add the trust anchor to a store");
		}
	/* An anchor may be an issuing CA (a pin of it): the path may end there. */
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	X509_STORE_set_depth(st, AG_MAX_CHAIN_DEPTH);
	*out = st;
	return AG_OK;
}

/* The verified path without its first element and without a self-signed root. */
static STACK_OF(X509) * path_between(STACK_OF(X509) * path)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	int n = sk_X509_num(path);

	if (!chain)
		return NULL;
	if (n > 1 && (X509_get_extension_flags(sk_X509_value(path, n - 1)) & EXFLAG_SS))
		n--;
	for (int i = 1; i < n; i++) {
		X509 *x = sk_X509_value(path, i);
		if (X509_up_ref(x) != 1 || !sk_X509_push(chain, x)) {
			sk_X509_pop_free(chain, X509_free);
			return NULL;
		}
	}
	return chain;
}

enum ag_code ag_verify_cert(STACK_OF(X509) * anchors, STACK_OF(X509) * untrusted, X509 *x,
			    STACK_OF(X509) * *chain, struct ag_error *e)
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *vc = NULL;
	STACK_OF(X509) *path = NULL;
	char subj[256];
	enum ag_code rc;

	if (chain)
		*chain = NULL;
	if ((rc = ag_trust_store(anchors, &st, e)) != AG_OK)
		return rc;
	if (!(vc = X509_STORE_CTX_new()) || X509_STORE_CTX_init(vc, st, x, untrusted) != 1) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory");
		goto out;
	}
	if (X509_verify_cert(vc) != 1) {
		subject_of(x, subj, sizeof(subj));
		rc = ag_fail(e, AG_E_TRUST, "%s does not verify against the trust anchor: %s", subj,
			     X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
		goto out;
	}
	if (chain && (!(path = X509_STORE_CTX_get1_chain(vc)) || !(*chain = path_between(path)))) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory");
		goto out;
	}
out:
	ERR_clear_error();
	sk_X509_pop_free(path, X509_free);
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	return rc;
}

static int is_anchor(STACK_OF(X509) * anchors, X509 *x)
{
	for (int i = 0; i < sk_X509_num(anchors); i++)
		if (X509_cmp(sk_X509_value(anchors, i), x) == 0)
			return 1;
	return 0;
}

enum ag_code ag_bundle_check(STACK_OF(X509) * anchors, STACK_OF(X509) * bundle, struct ag_error *e)
{
	char subj[256];
	enum ag_code rc;

	if (sk_X509_num(bundle) < 1)
		return ag_fail(e, AG_E_TRUST, "cacerts: the bundle is empty");
	for (int i = 0; i < sk_X509_num(bundle); i++) {
		X509 *x = sk_X509_value(bundle, i);

		subject_of(x, subj, sizeof(subj));
		if (X509_check_ca(x) < 1)
			return ag_fail(e, AG_E_TRUST,
				       "cacerts: %s is not a CA certificate (RFC 7030 section "
				       "4.1.3)",
				       subj);
		if (is_anchor(anchors, x))
			continue;
		if ((rc = ag_verify_cert(anchors, bundle, x, NULL, e)) != AG_OK)
			return ag_fail_context(e, rc, "cacerts refused: ");
	}
	return AG_OK;
}

/* The one self-signed CA certificate of a bundle, or NULL. */
static X509 *bundle_root(STACK_OF(X509) * certs)
{
	X509 *root = NULL;

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if ((X509_get_extension_flags(x) & EXFLAG_SS) && X509_check_ca(x) >= 1) {
			if (root)
				return NULL;
			root = x;
		}
	}
	return root;
}

static int matches_pin(X509 *x, const unsigned char pin[32])
{
	unsigned char md[32];

	return ag_cert_sha256(x, md) && CRYPTO_memcmp(md, pin, 32) == 0;
}

/* Does the server's TLS chain (leaf first) verify against root, with cacerts? */
static int tls_chain_verifies(X509 *root, STACK_OF(X509) * tls_chain, STACK_OF(X509) * cacerts)
{
	STACK_OF(X509) *anchors = sk_X509_new_null(), *untrusted = sk_X509_dup(tls_chain);
	struct ag_error ignored;
	int ok = 0;

	if (anchors && untrusted && sk_X509_push(anchors, root)) {
		for (int i = 0; i < sk_X509_num(cacerts); i++)
			if (!sk_X509_push(untrusted, sk_X509_value(cacerts, i)))
				goto out;
		ok = ag_verify_cert(anchors, untrusted, sk_X509_value(tls_chain, 0), NULL,
				    &ignored) == AG_OK;
	}
out:
	sk_X509_free(anchors);
	sk_X509_free(untrusted);
	return ok;
}

/* *anchor = x, with a reference of its own. */
static enum ag_code keep_anchor(X509 *x, X509 **anchor, struct ag_error *e)
{
	if (X509_up_ref(x) != 1)
		return ag_fail(e, AG_E_LOCAL, "out of memory");
	*anchor = x;
	return AG_OK;
}

enum ag_code ag_anchor_from_pin(const struct ag_config *c, STACK_OF(X509) * cacerts,
				STACK_OF(X509) * tls_chain, X509 **anchor, struct ag_error *e)
{
	char hex[65];
	X509 *root;

	*anchor = NULL;
	pin_hex(c->pin, hex);
	/* The pin names a CA certificate in /cacerts: that is the anchor. */
	for (int i = 0; i < sk_X509_num(cacerts); i++) {
		X509 *x = sk_X509_value(cacerts, i);
		if (!matches_pin(x, c->pin))
			continue;
		if (X509_check_ca(x) < 1)
			return ag_fail(e, AG_E_TRUST,
				       "pin sha256:%s names a certificate that is "
				       "not a CA",
				       hex);
		return keep_anchor(x, anchor, e);
	}
	/* The pin names a certificate of the server's TLS chain: the connection
	 * was authentic, so its /cacerts root is (RFC 7030 section 4.1.1). */
	for (int i = 0; i < sk_X509_num(tls_chain); i++) {
		if (!matches_pin(sk_X509_value(tls_chain, i), c->pin))
			continue;
		if (!(root = bundle_root(cacerts)) || !tls_chain_verifies(root, tls_chain, cacerts))
			return ag_fail(e, AG_E_TRUST,
				       "pin sha256:%s matches the server's TLS chain, but /cacerts "
				       "has no single root that the TLS chain verifies against",
				       hex);
		return keep_anchor(root, anchor, e);
	}
	return ag_fail(e, AG_E_TRUST,
		       "no certificate of the server matches pin sha256:%s (neither in /cacerts "
		       "nor in its TLS chain): check the pin and the server URL",
		       hex);
}

/* Writes STATE/anchor.pem: the pin line, then the certificate. */
enum ag_code ag_anchor_save(const struct ag_config *c, X509 *anchor, struct ag_error *e)
{
	STACK_OF(X509) *one = sk_X509_new_null();
	char path[AG_MAX_PATH + 16], line[128], *pem = NULL, *all = NULL;
	size_t len = 0, ll;
	enum ag_code rc;

	if (!one || !sk_X509_push(one, anchor)) {
		sk_X509_free(one);
		return ag_fail(e, AG_E_LOCAL, "out of memory");
	}
	if ((rc = ag_join(path, sizeof(path), c->state_dir, "anchor.pem", e)) != AG_OK ||
	    (rc = ag_certs_pem(one, &pem, &len, e)) != AG_OK)
		goto out;
	pin_line(c->pin, line);
	ll = strlen(line);
	if (!(all = malloc(ll + len + 1))) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory");
		goto out;
	}
	memcpy(all, line, ll);
	memcpy(all + ll, pem, len);
	rc = ag_replace_file(path, all, ll + len, 0644, e);
out:
	free(all);
	free(pem);
	sk_X509_free(one);
	return rc;
}
