/*
 * Renewal of the delegated OCSP signers: when (a third of the validity left),
 * how (a fresh key, a new certificate from the CA, committed with its audit
 * event only if no one else renewed meanwhile, the old key file removed
 * after), and for which CAs (every unrevoked one that has a signer).
 */
#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "ca/ca_keys.h"

int64_t dt_ocsp_signer_renew_at(int64_t not_before, int64_t not_after, int64_t ca_not_after)
{
	/* A new signer would end with the CA just the same: renewing gains nothing. The
	 * CA itself must be renewed, which no renewal of its signer can stand in for. */
	if (not_after >= ca_not_after || not_after <= not_before)
		return 0;
	/* Two thirds, as devices renew (a class's renew_at): a year-long signer is renewed
	 * four months ahead, which leaves time to notice and fix a failing renewal, and
	 * short test lifetimes scale along. */
	return not_after - (not_after - not_before) / 3;
}

dt_code ca_ocsp_lifetime_check(int64_t *lifetime_s, struct dt_error *err)
{
	if (*lifetime_s == 0)
		*lifetime_s = DT_OCSP_SIGNER_LIFETIME_S;
	if (*lifetime_s < DT_MIN_LIFETIME_S || *lifetime_s > DT_MAX_OCSP_SIGNER_LIFETIME_S)
		return dt_fail(err, DT_ERR_INVALID,
			       "an OCSP signer lifetime must be between 60s and 366d, got %llds "
			       "(it carries id-pkix-ocsp-nocheck: RFC 6960 section 4.2.2.2.1 "
			       "advises short lifetimes)",
			       (long long)*lifetime_s);
	return DT_OK;
}

static dt_code signer_info(const char *ca, const X509 *cert, int64_t ca_not_after,
			   struct dt_ocsp_signer_info *out, struct dt_error *err)
{
	dt_code rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->ca, sizeof(out->ca), "%s", ca);
	rc = ca_cert_serial_hex(cert, out->serial, err);
	ca_fingerprint(cert, out->fingerprint);
	out->not_before = ca_asn1_time(X509_get0_notBefore(cert));
	out->not_after = ca_asn1_time(X509_get0_notAfter(cert));
	out->renew_at = dt_ocsp_signer_renew_at(out->not_before, out->not_after, ca_not_after);
	return rc;
}

dt_code dt_ca_ocsp_signer(struct dt_ctx *ctx, const char *ca, struct dt_ocsp_signer_info *out,
			  struct dt_error *err)
{
	struct store_ca *row = NULL;
	X509 *cert = NULL;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if ((rc = dt_check_name("CA name", ca, err)) != DT_OK ||
	    (rc = ca_row_read(ctx, ca, &row, err)) != DT_OK)
		return rc;
	if (row->ocsp_cert_len == 0)
		rc = dt_fail(err, DT_ERR_NOT_FOUND, "CA '%s' has no OCSP signer", ca);
	else if (!(cert = ca_der_cert(row->ocsp_cert, row->ocsp_cert_len)))
		rc = dt_fail(err, DT_ERR_INTERNAL, "the stored OCSP signer of CA '%s' is damaged",
			     ca);
	else
		rc = signer_info(ca, cert, row->info.not_after, out, err);
	X509_free(cert);
	free(row);
	return rc;
}

struct swap_job {
	const char *name;
	const char *actor;
	const struct store_ca *seen; /* the row the renewal started from */
	const unsigned char *der;
	size_t len;
	const struct dt_ocsp_signer_info *info;
	const char *previous; /* serial, "" if none */
	struct store_ca now;
};

/* Commits the new signer only if the row still holds the one we started from:
 * two processes renewing at once (the server and the CLI) cannot both win. */
static dt_code swap_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct swap_job *j = arg;
	dt_code rc;

	if ((rc = txn->ops->ca_get(txn, j->name, &j->now, err)) != DT_OK)
		return rc;
	if (j->now.ocsp_cert_len != j->seen->ocsp_cert_len ||
	    memcmp(j->now.ocsp_cert, j->seen->ocsp_cert, j->seen->ocsp_cert_len) != 0)
		return dt_fail(err, DT_ERR_STATE,
			       "the OCSP signer of CA '%s' was renewed by another process "
			       "meanwhile; nothing changed",
			       j->name);
	if (j->now.info.revoked)
		return dt_fail(err, DT_ERR_STATE, "CA '%s' was revoked meanwhile", j->name);
	if ((rc = txn->ops->ca_set_ocsp_cert(txn, j->name, j->der, j->len, err)) != DT_OK)
		return rc;
	return audit_append_change(
	    txn, j->actor, "ca.ocsp_renew", j->name, "", json_pack("{s:s}", "serial", j->previous),
	    json_pack("{s:s,s:I,s:s}", "serial", j->info->serial, "not_after",
		      (json_int_t)j->info->not_after, "fingerprint", j->info->fingerprint),
	    NULL, err);
}

/* The key file of the signer the renewal replaced; "" if none is left to remove. */
static void old_key_file(struct dt_ctx *ctx, const char *name, const struct store_ca *seen,
			 char file[CA_KEY_FILE_BUF])
{
	X509 *old = ca_der_cert(seen->ocsp_cert, seen->ocsp_cert_len);

	file[0] = '\0';
	if (old && ca_ocsp_key_file(ctx, name, old, file, CA_KEY_FILE_BUF, NULL) != DT_OK)
		file[0] = '\0';
	X509_free(old);
}

static void remove_key_file(struct dt_ctx *ctx, const char *file)
{
	char path[4096];

	if (file[0] && ca_key_path(ctx, file, path, sizeof(path), NULL) == DT_OK &&
	    unlink(path) != 0 && errno != ENOENT)
		fprintf(stderr, "devtrust: cannot remove the replaced OCSP signer key %s: %s\n",
			path, strerror(errno));
}

dt_code dt_ca_ocsp_renew(struct dt_ctx *ctx, const char *ca, int64_t lifetime_s,
			 struct dt_ocsp_signer_info *out, struct dt_error *err)
{
	struct store_ca *row = NULL;
	struct swap_job *job = NULL;
	struct dt_ocsp_signer_info prev;
	const struct ca_signer *issuer = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *current = NULL;
	unsigned char *der = NULL;
	char file[CA_KEY_FILE_BUF] = "", old_file[CA_KEY_FILE_BUF] = "", entry[CA_OCSP_ENTRY_BUF];
	int der_len, committed = 0;
	dt_code rc;

	memset(out, 0, sizeof(*out));
	memset(&prev, 0, sizeof(prev));
	if ((rc = dt_check_name("CA name", ca, err)) != DT_OK ||
	    (rc = ca_row_read(ctx, ca, &row, err)) != DT_OK)
		return rc;
	if (row->info.revoked) {
		rc = dt_fail(err, DT_ERR_STATE,
			     "CA '%s' is revoked: it signs nothing new, so its OCSP signer is not "
			     "renewed",
			     ca);
		goto out;
	}
	if (row->info.not_after <= dt_now() + CA_BACKDATE_S) {
		rc = dt_fail(err, DT_ERR_STATE,
			     "CA '%s' has expired: a signer it issues now would not be valid", ca);
		goto out;
	}
	if (row->ocsp_cert_len) {
		if (!(current = ca_der_cert(row->ocsp_cert, row->ocsp_cert_len))) {
			rc = dt_fail(err, DT_ERR_INTERNAL,
				     "the stored OCSP signer of CA '%s' is damaged", ca);
			goto out;
		}
		if ((rc = signer_info(ca, current, row->info.not_after, &prev, err)) != DT_OK)
			goto out;
		/* The lifetime the current one was made with, unless told otherwise (within
		 * the bounds: a signer from elsewhere may have any validity). */
		if (lifetime_s == 0) {
			lifetime_s = prev.not_after - prev.not_before - CA_BACKDATE_S;
			if (lifetime_s > DT_MAX_OCSP_SIGNER_LIFETIME_S)
				lifetime_s = DT_MAX_OCSP_SIGNER_LIFETIME_S;
			if (lifetime_s < DT_MIN_LIFETIME_S)
				lifetime_s = DT_MIN_LIFETIME_S;
		}
	}
	if ((rc = ca_ocsp_lifetime_check(&lifetime_s, err)) != DT_OK)
		goto out;
	if ((rc = ca_signer_get(ctx, ca, CA_USE_ISSUE, &issuer, err)) != DT_OK)
		goto out;
	if ((rc = ca_ocsp_signer_create(ctx, ca, issuer, lifetime_s, 1, &key, &cert, file, err)) !=
	    DT_OK)
		goto out;
	if ((rc = signer_info(ca, cert, row->info.not_after, out, err)) != DT_OK)
		goto out;
	if ((der_len = i2d_X509(cert, &der)) <= 0 || der_len > STORE_CA_DER_MAX) {
		rc =
		    dt_fail(err, DT_ERR_CRYPTO, "cannot encode the new OCSP signer of CA '%s'", ca);
		goto out;
	}
	if (!(job = calloc(1, sizeof(*job)))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	old_key_file(ctx, ca, row, old_file);
	job->name = ca;
	job->actor = dt_actor(ctx);
	job->seen = row;
	job->der = der;
	job->len = (size_t)der_len;
	job->info = out;
	job->previous = prev.serial;
	if ((rc = store_write(ctx->store, swap_job, job, err)) != DT_OK)
		goto out;
	committed = 1;
	/* The replaced key signs nothing from now on: it goes, so a copy of keys/ made
	 * later holds no key the relying parties still trust. A process that still has
	 * it unlocked signs with it until it reloads (the server does within 200 ms). */
	if (strcmp(old_file, file) != 0)
		remove_key_file(ctx, old_file);
	ca_ocsp_entry(ca, entry);
	/* This process switches at once if it was signing with the old one. */
	rc = ca_signer_replace(ctx, entry, key, cert, err);
	key = NULL;
	cert = NULL;
	if (rc != DT_OK) {
		/* Committed all the same: the next use unlocks it from the store. */
		dt_error_clear(err);
		rc = DT_OK;
	}
out:
	if (!committed && file[0])
		remove_key_file(ctx, file);
	if (rc != DT_OK)
		memset(out, 0, sizeof(*out));
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(current);
	free(job);
	free(row);
	return rc;
}

struct due {
	char name[DT_ID_BUF];
	int64_t renew_at;
};

struct due_job {
	struct due *items;
	size_t n, cap;
	int oom;
};

static int collect(void *arg, const struct store_ca *ca)
{
	void *grown;
	struct due_job *j = arg;
	X509 *cert;

	if (ca->info.revoked || ca->ocsp_cert_len == 0)
		return 0;
	if (!(grown = dt_grow(j->items, j->n, &j->cap, sizeof(*j->items)))) {
		j->oom = 1;
		return 1;
	}
	j->items = grown;
	if (!(cert = ca_der_cert(ca->ocsp_cert, ca->ocsp_cert_len)))
		return 0; /* reported when someone asks it for OCSP */
	snprintf(j->items[j->n].name, sizeof(j->items[j->n].name), "%s", ca->info.name);
	j->items[j->n].renew_at =
	    dt_ocsp_signer_renew_at(ca_asn1_time(X509_get0_notBefore(cert)),
				    ca_asn1_time(X509_get0_notAfter(cert)), ca->info.not_after);
	j->n++;
	X509_free(cert);
	return 0;
}

static dt_code collect_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return txn->ops->ca_list(txn, collect, arg, err);
}

dt_code dt_ca_ocsp_renew_due(struct dt_ctx *ctx, int64_t now, int *renewed, int64_t *next_at,
			     struct dt_error *err)
{
	struct due_job j = {NULL, 0, 0, 0};
	struct dt_ocsp_signer_info info;
	struct dt_error one;
	dt_code rc, first = DT_OK;

	*renewed = 0;
	*next_at = 0;
	if ((rc = store_read(ctx->store, collect_job, &j, err)) != DT_OK)
		goto out;
	if (j.oom) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < j.n; i++) {
		int64_t at = j.items[i].renew_at;

		if (at == 0)
			continue;
		if (at > now) {
			if (*next_at == 0 || at < *next_at)
				*next_at = at;
			continue;
		}
		if ((rc = dt_ca_ocsp_renew(ctx, j.items[i].name, 0, &info, &one)) == DT_OK) {
			(*renewed)++;
			at = info.renew_at;
			if (at && (*next_at == 0 || at < *next_at))
				*next_at = at;
		} else if (first == DT_OK) {
			first = dt_fail(err, rc, "renewing the OCSP signer of CA '%s': %s",
					j.items[i].name, one.msg);
		}
	}
	rc = first;
out:
	free(j.items);
	return rc;
}
