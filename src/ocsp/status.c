/*
 * What an OCSP request asks about, read from one store snapshot: the CA whose
 * name and key hashes every CertID carries (RFC 6960 section 4.1.1), then
 * each serial's status: a device certificate in that CA's certificates, or,
 * when the root is asked, one of its issuing CAs.
 */
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "ocsp/ocsp.h"

struct lookup_job {
	const struct ocsp_request *r;
	struct ocsp_answer *a;
	struct dt_error *err;
	dt_code rc;
	/* Per CertID: the CA its issuer hashes name, and the issuing CA its serial names. */
	struct dt_ca_info issuer[DT_MAX_OCSP_CERTIDS];
	struct dt_ca_info subject[DT_MAX_OCSP_CERTIDS];
	int has_issuer[DT_MAX_OCSP_CERTIDS];
	int has_subject[DT_MAX_OCSP_CERTIDS];
};

static int scan_ca(void *arg, const struct store_ca *ca)
{
	struct lookup_job *j = arg;
	unsigned rel[DT_MAX_OCSP_CERTIDS];

	j->rc = ca_certid_match(ca->cert, ca->cert_len, j->r->ids, j->r->n, rel, j->err);
	if (j->rc != DT_OK)
		return 1;
	for (int i = 0; i < j->r->n; i++) {
		if ((rel[i] & CA_CERTID_ISSUER) && !j->has_issuer[i]) {
			j->issuer[i] = ca->info;
			j->has_issuer[i] = 1;
		}
		if ((rel[i] & CA_CERTID_SERIAL) && strcmp(ca->info.kind, "issuing") == 0) {
			j->subject[i] = ca->info;
			j->has_subject[i] = 1;
		}
	}
	return 0;
}

/* RFC 5280 section 5.3.1: a stored reason that is not a CRLReason, or unspecified,
 * is left out of the response rather than sent. */
static int reason_or_none(int reason)
{
	if (reason < 1 || reason > 10 || reason == 7)
		return OCSP_REVOKED_STATUS_NOSTATUS;
	return reason;
}

static void revoked(struct ocsp_single *s, int64_t at, int reason)
{
	s->status = V_OCSP_CERTSTATUS_REVOKED;
	s->revoked_at = at;
	s->reason = reason_or_none(reason);
}

/* The serial of a CertID as stored (32 lower-case hex digits), or 0 if it cannot be
 * one of ours: negative, or longer than RFC 5280 section 4.1.2.2 allows. */
static int stored_serial(OCSP_CERTID *id, char out[DT_SERIAL_HEX_BUF])
{
	ASN1_INTEGER *sn = NULL;
	char digits[2 * DT_MAX_SERIAL_OCTETS + 1];
	int n;

	if (OCSP_id_get0_info(NULL, NULL, NULL, &sn, id) != 1 || !sn ||
	    ASN1_STRING_type(sn) != V_ASN1_INTEGER)
		return 0;
	n = ASN1_STRING_length(sn);
	if (n < 1 || n > DT_MAX_SERIAL_OCTETS)
		return 0;
	dt_hex(ASN1_STRING_get0_data(sn), (size_t)n, digits);
	return dt_serial_normalize(digits, out, NULL) == DT_OK;
}

/* The root answering for one of its issuing CAs (DESIGN section 3). */
static void issuing_ca_status(const struct lookup_job *j, int i, struct ocsp_single *s)
{
	const struct dt_ca_info *ca = &j->subject[i];

	if (!j->has_subject[i] || strcmp(ca->parent, j->issuer[i].name) != 0) {
		s->status = V_OCSP_CERTSTATUS_UNKNOWN;
		return;
	}
	if (i == 0)
		stored_serial(j->r->ids[0], j->a->serial);
	if (ca->revoked)
		revoked(s, ca->revoked_at, ca->reason);
	else
		s->status = V_OCSP_CERTSTATUS_GOOD;
}

/* A certificate of a revoked CA is revoked from then on: a relying party that checks
 * only the leaf (nginx ssl_ocsp leaf) must not hear "good". The CA's key compromise is
 * cACompromise for the certificates below it (RFC 5280 section 5.3.1). */
static void revoked_by_ca(struct ocsp_single *s, const struct dt_ca_info *ca)
{
	int reason = ca->reason;

	if (reason == DT_REASON_KEY_COMPROMISE || reason == DT_REASON_CA_COMPROMISE)
		reason = DT_REASON_CA_COMPROMISE;
	revoked(s, ca->revoked_at, reason);
}

static dt_code device_cert_status(struct store_txn *txn, const struct lookup_job *j, int i,
				  struct ocsp_single *s, struct dt_error *err)
{
	const struct dt_ca_info *ca = &j->issuer[i];
	char serial[DT_SERIAL_HEX_BUF];
	struct store_cert c;
	dt_code rc;

	s->status = V_OCSP_CERTSTATUS_UNKNOWN;
	if (!stored_serial(j->r->ids[i], serial))
		return DT_OK;
	rc = txn->ops->cert_get(txn, serial, &c, 0, err);
	if (rc == DT_ERR_NOT_FOUND) {
		dt_error_clear(err);
		return DT_OK;
	}
	if (rc != DT_OK)
		return rc;
	/* A serial of another CA is not one this CA issued. */
	if (strcmp(c.info.ca, ca->name) != 0)
		return DT_OK;
	if (i == 0) {
		snprintf(j->a->serial, sizeof(j->a->serial), "%s", c.info.serial);
		snprintf(j->a->device_id, sizeof(j->a->device_id), "%s", c.info.device_id);
	}
	/* Expired certificates keep their recorded status: revoked stays revoked. */
	if (ca->revoked &&
	    !(c.info.status == DT_CERT_REVOKED && c.info.revoked_at <= ca->revoked_at))
		revoked_by_ca(s, ca);
	else if (c.info.status == DT_CERT_VALID)
		s->status = V_OCSP_CERTSTATUS_GOOD;
	else if (c.info.status == DT_CERT_HOLD)
		revoked(s, c.info.revoked_at, DT_REASON_CERTIFICATE_HOLD);
	else
		revoked(s, c.info.revoked_at, c.info.reason);
	return DT_OK;
}

static dt_code lookup_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct lookup_job *j = arg;
	struct ocsp_answer *a = j->a;
	dt_code rc;

	j->err = err;
	if ((rc = txn->ops->ca_list(txn, scan_ca, j, err)) != DT_OK || (rc = j->rc) != DT_OK)
		return rc;
	for (int i = 0; i < j->r->n; i++) {
		if (!j->has_issuer[i]) {
			snprintf(a->why, sizeof(a->why),
				 "RFC 6960 section 2.3: CertID %d names an issuer (or a hash "
				 "algorithm) this responder does not serve",
				 i + 1);
			return DT_OK;
		}
		if (strcmp(j->issuer[i].name, j->issuer[0].name) != 0) {
			snprintf(a->why, sizeof(a->why),
				 "RFC 6960 section 4.2.2.2: CertIDs of CAs '%s' and '%s' cannot be "
				 "answered by one delegated responder",
				 j->issuer[0].name, j->issuer[i].name);
			return DT_OK;
		}
	}
	for (int i = 0; i < j->r->n; i++) {
		if (strcmp(j->issuer[i].kind, "root") == 0)
			issuing_ca_status(j, i, &a->single[i]);
		else if ((rc = device_cert_status(txn, j, i, &a->single[i], err)) != DT_OK)
			return rc;
	}
	snprintf(a->ca, sizeof(a->ca), "%s", j->issuer[0].name);
	return DT_OK;
}

dt_code ocsp_status_lookup(struct dt_ctx *ctx, const struct ocsp_request *r,
			   struct ocsp_answer *out, struct dt_error *err)
{
	struct lookup_job *j = calloc(1, sizeof(*j));
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if (!j)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	j->r = r;
	j->a = out;
	rc = store_read(ctx->store, lookup_job, j, err);
	if (rc != DT_OK)
		memset(out, 0, sizeof(*out));
	free(j);
	return rc;
}
