/*
 * CRLs (RFC 5280 section 5): one v2 CRL per issuing CA listing its revoked
 * and held certificates, and one for the root listing revoked issuing CAs.
 * CRL numbers come from the store and are committed before the CRL is built,
 * so a number is never reused, even after a crash.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"

/* How long relying parties may cache a CRL: issuing CAs change often, the root
 * rarely (RFC 5280 section 5.1.2.5). devtrust serve regenerates well before. */
#define CRL_NEXT_UPDATE_ISSUING_S (3 * 86400)
#define CRL_NEXT_UPDATE_ROOT_S (30 * 86400)

struct crl_build {
	X509_CRL *crl;
	ASN1_TIME *when;
	X509_EXTENSION *reason_ext[11]; /* pre-encoded reasonCode per RFC 5280 reason */
	dt_code rc;
	struct dt_error *err;
	int64_t count;
};

static dt_code reason_exts(struct crl_build *b)
{
	for (int r = 1; r <= 10; r++) {
		ASN1_ENUMERATED *e;

		if (r == 7)
			continue;
		e = ASN1_ENUMERATED_new();
		if (!e || ASN1_ENUMERATED_set(e, r) != 1 ||
		    !(b->reason_ext[r] = X509V3_EXT_i2d(NID_crl_reason, 0, e))) {
			ASN1_ENUMERATED_free(e);
			return dt_fail(b->err, DT_ERR_CRYPTO, "cannot encode CRL reason codes");
		}
		ASN1_ENUMERATED_free(e);
	}
	return DT_OK;
}

/* Adds one entry; serial is hex text of at most 20 octets. */
static dt_code add_entry(struct crl_build *b, const unsigned char *serial, int serial_len,
			 int64_t revoked_at, int reason)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	int skip = 0;

	while (skip < serial_len - 1 && serial[skip] == 0)
		skip++;
	if (!r || !sn || ASN1_STRING_set(sn, serial + skip, serial_len - skip) != 1 ||
	    X509_REVOKED_set_serialNumber(r, sn) != 1 ||
	    !ASN1_TIME_set(b->when, (time_t)revoked_at) ||
	    X509_REVOKED_set_revocationDate(r, b->when) != 1 ||
	    /* RFC 5280 section 5.3.1: omit reasonCode rather than use unspecified. */
	    (reason > 0 && reason <= 10 && b->reason_ext[reason] &&
	     X509_REVOKED_add_ext(r, b->reason_ext[reason], -1) != 1) ||
	    X509_CRL_add0_revoked(b->crl, r) != 1) {
		X509_REVOKED_free(r);
		ASN1_INTEGER_free(sn);
		return dt_fail(b->err, DT_ERR_CRYPTO, "cannot add a CRL entry");
	}
	ASN1_INTEGER_free(sn);
	b->count++;
	return DT_OK;
}

static int add_cert_entry(void *arg, const struct store_revoked *rv)
{
	struct crl_build *b = arg;
	unsigned char raw[DT_MAX_SERIAL_OCTETS];
	size_t n = strlen(rv->serial);

	if (n == 0 || n % 2 || n / 2 > sizeof(raw)) {
		b->rc =
		    dt_fail(b->err, DT_ERR_INTERNAL, "stored serial '%s' is malformed", rv->serial);
		return 1;
	}
	for (size_t i = 0; i < n / 2; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)rv->serial[2 * i]),
		    lo = OPENSSL_hexchar2int((unsigned char)rv->serial[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			b->rc = dt_fail(b->err, DT_ERR_INTERNAL, "stored serial '%s' is malformed",
					rv->serial);
			return 1;
		}
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	b->rc = add_entry(b, raw, (int)(n / 2), rv->revoked_at, rv->reason);
	return b->rc != DT_OK;
}

static int add_ca_entry(void *arg, const struct store_ca *ca)
{
	struct crl_build *b = arg;
	const unsigned char *p = ca->cert;
	X509 *x;
	const ASN1_INTEGER *sn;

	if (!ca->info.revoked || strcmp(ca->info.kind, "issuing") != 0)
		return 0;
	if (!(x = d2i_X509(NULL, &p, (long)ca->cert_len))) {
		b->rc = dt_fail(b->err, DT_ERR_INTERNAL, "stored certificate of CA %s is damaged",
				ca->info.name);
		return 1;
	}
	sn = X509_get0_serialNumber(x);
	b->rc = add_entry(b, ASN1_STRING_get0_data(sn), ASN1_STRING_length(sn), ca->info.revoked_at,
			  ca->info.reason);
	X509_free(x);
	return b->rc != DT_OK;
}

struct crl_job {
	const char *ca;
	const char *actor;
	int64_t number;
	int64_t now;
	struct crl_build *build;
};

static dt_code number_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct crl_job *j = arg;
	char details[96];
	dt_code rc;

	if ((rc = txn->ops->ca_next_crl_number(txn, j->ca, &j->number, err)) != DT_OK)
		return rc;
	/* Numbers are never reused: the one before is the previous CRL's. */
	snprintf(details, sizeof(details),
		 "{\"before\":{\"crl_number\":%lld},\"after\":{\"crl_number\":%lld}}",
		 (long long)(j->number - 1), (long long)j->number);
	return audit_append(txn, j->actor, "crl.generate", j->ca, "", details, err);
}

static dt_code entries_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct crl_job *j = arg;
	dt_code rc;

	if (strcmp(j->ca, "root") == 0)
		rc = txn->ops->ca_list(txn, add_ca_entry, j->build, err);
	else
		rc = txn->ops->cert_revoked_each(txn, j->ca, j->now, add_cert_entry, j->build, err);
	return rc != DT_OK ? rc : j->build->rc;
}

static dt_code add_crl_exts(X509_CRL *crl, const X509 *ca, int64_t number, struct dt_error *err)
{
	X509V3_CTX v3;
	X509_EXTENSION *aki = NULL;
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	dt_code rc = DT_OK;

	X509V3_set_ctx(&v3, (X509 *)ca, NULL, NULL, crl, 0);
	X509V3_set_ctx_nodb(&v3);
	if (!num || ASN1_INTEGER_set_int64(num, number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    !(aki = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always")) ||
	    X509_CRL_add_ext(crl, aki, -1) != 1)
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot add the CRL number and AKI");
	ASN1_INTEGER_free(num);
	X509_EXTENSION_free(aki);
	return rc;
}

dt_code dt_crl_generate(struct dt_ctx *ctx, const char *ca_name, unsigned char **der, size_t *len,
			struct dt_error *err)
{
	int64_t next_update;

	return dt_crl_generate_until(ctx, ca_name, der, len, &next_update, err);
}

dt_code dt_crl_generate_until(struct dt_ctx *ctx, const char *ca_name, unsigned char **der,
			      size_t *len, int64_t *next_update, struct dt_error *err)
{
	const struct ca_signer *signer = NULL;
	struct crl_build b;
	struct crl_job j = {.ca = ca_name, .actor = dt_actor(ctx), .now = dt_now(), .build = &b};
	const X509 *ca;
	int64_t next =
	    strcmp(ca_name, "root") == 0 ? CRL_NEXT_UPDATE_ROOT_S : CRL_NEXT_UPDATE_ISSUING_S;
	int n;
	dt_code rc;

	*der = NULL;
	*len = 0;
	*next_update = 0;
	memset(&b, 0, sizeof(b));
	b.err = err;
	if ((rc = ca_signer_get(ctx, ca_name, CA_USE_CRL, &signer, err)) != DT_OK)
		return rc;
	ca = ca_signer_cert(signer);
	if (!(b.crl = X509_CRL_new()) || !(b.when = ASN1_TIME_new()) ||
	    X509_CRL_set_version(b.crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(b.crl, X509_get_subject_name(ca)) != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot create a CRL");
		goto out;
	}
	if ((rc = reason_exts(&b)) != DT_OK)
		goto out;
	if ((rc = store_write(ctx->store, number_job, &j, err)) != DT_OK)
		goto out;
	if ((rc = store_read(ctx->store, entries_job, &j, err)) != DT_OK)
		goto out;
	if (!ASN1_TIME_set(b.when, (time_t)j.now) || X509_CRL_set1_lastUpdate(b.crl, b.when) != 1 ||
	    !ASN1_TIME_set(b.when, (time_t)(j.now + next)) ||
	    X509_CRL_set1_nextUpdate(b.crl, b.when) != 1) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot set the CRL's update times");
		goto out;
	}
	if ((rc = add_crl_exts(b.crl, ca, j.number, err)) != DT_OK ||
	    (rc = ca_sign_crl(signer, &b.crl, err)) != DT_OK)
		goto out;
	if ((n = i2d_X509_CRL(b.crl, der)) <= 0) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode the CRL");
		goto out;
	}
	*len = (size_t)n;
	*next_update = j.now + next;
out:
	ERR_clear_error();
	for (int r = 0; r <= 10; r++)
		X509_EXTENSION_free(b.reason_ext[r]);
	ASN1_TIME_free(b.when);
	X509_CRL_free(b.crl);
	return rc;
}
