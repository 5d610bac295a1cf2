/*
 * IEEE 802.1AR bootstrap: a device proves who it is with the IDevID its
 * manufacturer installed. The certificate must chain to a trust anchor
 * registered for manufacturer M, and its subject serialNumber (802.1AR
 * section 8.6) must name exactly one device of M in the inventory. Anchors
 * are scoped: each manufacturer's anchors vouch only for its own devices.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "est/est.h"

struct anchor {
	char manufacturer[DT_FIELD_BUF];
	X509 *cert;
};

struct anchors_job {
	struct anchor *a; /* ordered by manufacturer (anchor_list) */
	size_t n, cap;
	int overflow, bad;
};

static int collect_anchor(void *arg, const struct store_anchor *sa)
{
	void *grown;
	struct anchors_job *j = arg;

	if (j->n == DT_MAX_ANCHORS) {
		j->overflow = 1;
		return 1;
	}
	if (!(grown = dt_grow(j->a, j->n, &j->cap, sizeof(*j->a)))) {
		j->bad = 1;
		return 1;
	}
	j->a = grown;
	if (!(j->a[j->n].cert = ca_der_cert(sa->der, sa->der_len))) {
		j->bad = 1;
		return 1;
	}
	memcpy(j->a[j->n].manufacturer, sa->manufacturer, sizeof(sa->manufacturer));
	j->n++;
	return 0;
}

static dt_code anchors_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct anchors_job *j = arg;
	dt_code rc;

	if ((rc = txn->ops->anchor_list(txn, NULL, collect_anchor, j, err)) != DT_OK)
		return rc;
	if (j->overflow)
		return dt_fail(err, DT_ERR_INTERNAL,
			       "more than %d manufacturer anchors (DT_MAX_ANCHORS)",
			       DT_MAX_ANCHORS);
	if (j->bad)
		return dt_fail(err, DT_ERR_INTERNAL,
			       "out of memory, or a stored manufacturer anchor does not parse");
	return DT_OK;
}

struct serial_job {
	const char *manufacturer;
	const char *serial;
	struct dt_device *dev;
};

static dt_code serial_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct serial_job *j = arg;

	return txn->ops->device_by_serial(txn, j->manufacturer, j->serial, j->dev, err);
}

/* The single subject serialNumber, as UTF-8 text of at most DT_MAX_SERIAL_LEN. */
static dt_code subject_serial(X509 *x, char out[DT_ID_BUF], struct dt_error *err)
{
	const X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);
	unsigned char *utf8 = NULL;
	int n;
	dt_code rc = DT_OK;

	out[0] = '\0';
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_serialNumber, i) >= 0)
		return dt_fail(err, DT_ERR_AUTH,
			       "TLS client certificate is no IDevID: want exactly one subject "
			       "serialNumber (IEEE 802.1AR section 8.6), have %s",
			       i < 0 ? "none" : "several");
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n <= 0 || n > DT_MAX_SERIAL_LEN || memchr(utf8, '\0', (size_t)n)) {
		rc = dt_fail(err, DT_ERR_AUTH,
			     "IDevID subject serialNumber is empty, longer than %d bytes (X.520 "
			     "ub-serial-number) or not text",
			     DT_MAX_SERIAL_LEN);
		goto out;
	}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
	if (dt_check_text("IDevID serialNumber", out, DT_MAX_SERIAL_LEN, err) != DT_OK)
		rc = dt_fail(err, DT_ERR_AUTH, "IDevID subject serialNumber is not printable text");
out:
	OPENSSL_free(utf8);
	return rc;
}

/* Verifies peer against the anchors a[from..to) of one manufacturer. */
static int chains_to(X509 *peer, STACK_OF(X509) * chain, const struct anchor *a, size_t from,
		     size_t to, int *verr)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int ok = 0;

	*verr = X509_V_ERR_UNSPECIFIED;
	if (!st || !vc)
		goto out;
	for (size_t i = from; i < to; i++)
		if (X509_STORE_add_cert(st, a[i].cert) != 1)
			goto out;
	if (X509_STORE_CTX_init(vc, st, peer, chain) != 1)
		goto out;
	/* An anchor may be a manufacturer's intermediate rather than its root:
	 * the registered certificate is where trust starts. */
	X509_STORE_CTX_set_flags(vc, X509_V_FLAG_PARTIAL_CHAIN);
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(vc), DT_MAX_CHAIN_DEPTH);
	X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(vc) == 1;
	*verr = X509_STORE_CTX_get_error(vc);
out:
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	return ok;
}

dt_code est_auth_idevid(struct dt_ctx *ctx, X509 *peer, STACK_OF(X509) * chain,
			struct dt_device *dev, struct dt_error *err)
{
	struct anchors_job aj = {NULL, 0, 0, 0, 0};
	struct dt_device found;
	char serial[DT_ID_BUF];
	int matches = 0, verified = 0, verr = X509_V_OK;
	dt_code rc;

	memset(dev, 0, sizeof(*dev));
	if (!peer)
		return dt_fail(err, DT_ERR_AUTH, "no TLS client certificate");
	if (chain && sk_X509_num(chain) > DT_MAX_CHAIN_DEPTH)
		return dt_fail(err, DT_ERR_AUTH,
			       "TLS client sent %d chain certificates; the limit is %d "
			       "(DT_MAX_CHAIN_DEPTH)",
			       sk_X509_num(chain), DT_MAX_CHAIN_DEPTH);
	/* A CA certificate (an anchor itself, say) is nobody's device identity. */
	if (X509_check_ca(peer) != 0)
		return dt_fail(err, DT_ERR_AUTH,
			       "TLS client certificate is a CA certificate, not an IDevID (IEEE "
			       "802.1AR section 8)");
	if ((rc = subject_serial(peer, serial, err)) != DT_OK)
		return rc;
	if ((rc = store_read(ctx->store, anchors_job, &aj, err)) != DT_OK)
		goto out;
	for (size_t from = 0, to; from < aj.n; from = to) {
		struct serial_job sj = {aj.a[from].manufacturer, serial, &found};
		struct dt_error miss;
		int e;

		for (to = from + 1;
		     to < aj.n && strcmp(aj.a[to].manufacturer, aj.a[from].manufacturer) == 0; to++)
			;
		if (!chains_to(peer, chain, aj.a, from, to, &e)) {
			verr = e;
			continue;
		}
		verified = 1;
		rc = store_read(ctx->store, serial_job, &sj, &miss);
		if (rc == DT_ERR_NOT_FOUND)
			continue;
		if (rc != DT_OK) {
			*err = miss;
			goto out;
		}
		if (++matches > 1) {
			rc = dt_fail(err, DT_ERR_AUTH,
				     "IDevID serialNumber '%s' names devices of several "
				     "manufacturers whose anchors it chains to: fix the inventory",
				     serial);
			goto out;
		}
		*dev = found;
	}
	if (matches == 1)
		rc = DT_OK;
	else if (verified)
		rc = dt_fail(err, DT_ERR_AUTH,
			     "IDevID chains to a registered manufacturer anchor, but no device of "
			     "that manufacturer has serial '%s' (see 'devtrust device add "
			     "--manufacturer')",
			     serial);
	else
		rc = dt_fail(err, DT_ERR_AUTH,
			     "TLS client certificate does not chain to a registered manufacturer "
			     "anchor (%s; see 'devtrust manufacturer list')",
			     aj.n ? X509_verify_cert_error_string(verr) : "none registered");
out:
	for (size_t i = 0; i < aj.n; i++)
		X509_free(aj.a[i].cert);
	free(aj.a);
	return rc;
}
