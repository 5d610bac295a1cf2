/*
 * Manufacturer trust anchors (IEEE 802.1AR IDevID roots): registering a
 * maker's CA certificate, scoped to that manufacturer's devices, and listing
 * them. The EST bootstrap (src/est/idevid.c) verifies IDevIDs against them.
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "inventory/inventory.h"

/* Exactly one certificate, PEM (nothing but whitespace after it) or DER. */
static dt_code anchor_parse(const unsigned char *in, size_t len, X509 **out, struct dt_error *err)
{
	BIO *bio = NULL;
	X509 *x = NULL, *extra = NULL;
	dt_code rc = DT_OK;

	*out = NULL;
	if (len == 0 || len > DT_MAX_ANCHOR_BYTES)
		return dt_fail(err, DT_ERR_INVALID,
			       "anchor is %zu bytes; want one certificate of 1 to %d bytes "
			       "(DT_MAX_ANCHOR_BYTES)",
			       len, DT_MAX_ANCHOR_BYTES);
	if (len >= 11 && memcmp(in, "-----BEGIN ", 11) == 0) {
		if (!(bio = BIO_new_mem_buf(in, (int)len)) ||
		    !(x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			rc = dt_fail(err, DT_ERR_INVALID, "anchor is not a PEM CERTIFICATE");
			goto out;
		}
		if ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "anchor file holds more than one certificate: register each "
				     "anchor on its own");
			goto out;
		}
	} else if (!(x = ca_der_cert(in, len))) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "anchor is neither a PEM nor a DER certificate (or has trailing "
			     "bytes)");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	/* The look for a second PEM block leaves "no start line" behind. */
	ERR_clear_error();
	X509_free(extra);
	X509_free(x);
	BIO_free(bio);
	return rc;
}

/* RFC 5280 sections 4.2.1.9 and 4.2.1.3: a CA that may sign certificates. */
static dt_code anchor_check(X509 *x, struct dt_error *err)
{
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	int ca = bc && bc->ca;
	int64_t not_after = ca_asn1_time(X509_get0_notAfter(x));

	BASIC_CONSTRAINTS_free(bc);
	if (!ca)
		return dt_fail(err, DT_ERR_INVALID,
			       "anchor is not a CA certificate: want basicConstraints CA:TRUE (RFC "
			       "5280 section 4.2.1.9)");
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN))
		return dt_fail(err, DT_ERR_INVALID,
			       "anchor's keyUsage lacks keyCertSign (RFC 5280 section 4.2.1.3)");
	if (not_after <= dt_now())
		return dt_fail(err, DT_ERR_INVALID, "anchor has expired (notAfter %lld)",
			       (long long)not_after);
	return DT_OK;
}

/* RFC 2253 text of the subject, ASCII (non-ASCII escaped), cut to fit. */
static void subject_text(X509 *x, char *out, size_t cap)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;

	out[0] = '\0';
	if (!bio || X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0 ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0) {
		BIO_free(bio);
		return;
	}
	if ((size_t)n >= cap)
		n = (long)cap - 1;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
}

/* The audit object holds 127 bytes: cut the name on a UTF-8 boundary. */
static void audit_object(const char *name, char out[128])
{
	size_t n = strlen(name);

	if (n > 127) {
		n = 127;
		while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, name, n);
	out[n] = '\0';
}

struct add_job {
	struct store_anchor a;
	const char *actor;
};

static dt_code add_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct add_job *j = arg;
	char object[128];
	dt_code rc;

	if ((rc = txn->ops->anchor_insert(txn, &j->a, err)) != DT_OK)
		return rc;
	audit_object(j->a.manufacturer, object);
	return audit_append_change(txn, j->actor, "manufacturer.add", object, "IDevID trust anchor",
				   json_null(),
				   json_pack("{s:s,s:s,s:s,s:I}", "manufacturer", j->a.manufacturer,
					     "fingerprint", j->a.fingerprint, "subject",
					     j->a.subject, "not_after", (json_int_t)j->a.not_after),
				   NULL, err);
}

dt_code dt_manufacturer_add(struct dt_ctx *ctx, const char *name, const unsigned char *anchor,
			    size_t len, struct dt_error *err)
{
	struct add_job j;
	unsigned char *der = NULL;
	X509 *x = NULL;
	int n;
	dt_code rc;

	memset(&j, 0, sizeof(j));
	if (!name || !*name)
		return dt_fail(err, DT_ERR_INVALID,
			       "manufacturer name is empty: use the devices' manufacturer field");
	if ((rc = dt_check_text("manufacturer name", name, DT_MAX_FIELD_LEN, err)) != DT_OK ||
	    (rc = anchor_parse(anchor, len, &x, err)) != DT_OK ||
	    (rc = anchor_check(x, err)) != DT_OK)
		goto out;
	if ((n = i2d_X509(x, &der)) <= 0) {
		rc = dt_fail(err, DT_ERR_INVALID, "anchor certificate cannot be encoded");
		goto out;
	}
	memcpy(j.a.manufacturer, name, strlen(name) + 1);
	ca_fingerprint(x, j.a.fingerprint);
	subject_text(x, j.a.subject, sizeof(j.a.subject));
	j.a.not_after = ca_asn1_time(X509_get0_notAfter(x));
	j.a.created_at = dt_now();
	j.a.der = der;
	j.a.der_len = (size_t)n;
	j.actor = dt_actor(ctx);
	rc = store_write(ctx->store, add_job, &j, err);
out:
	OPENSSL_free(der);
	X509_free(x);
	return rc;
}

struct list_job {
	dt_manufacturer_cb cb;
	void *arg;
};

static int list_one(void *arg, const struct store_anchor *sa)
{
	struct list_job *j = arg;
	struct dt_manufacturer_anchor a;

	memset(&a, 0, sizeof(a));
	memcpy(a.manufacturer, sa->manufacturer, sizeof(a.manufacturer));
	memcpy(a.fingerprint, sa->fingerprint, sizeof(a.fingerprint));
	memcpy(a.subject, sa->subject, sizeof(a.subject));
	a.not_after = sa->not_after;
	a.created_at = sa->created_at;
	return j->cb(j->arg, &a);
}

static dt_code list_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return txn->ops->anchor_list(txn, NULL, list_one, arg, err);
}

dt_code dt_manufacturer_list(struct dt_ctx *ctx, dt_manufacturer_cb cb, void *arg,
			     struct dt_error *err)
{
	struct list_job j = {cb, arg};

	return store_read(ctx->store, list_job, &j, err);
}
