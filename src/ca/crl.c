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
#include "ca/asn1.h"
#include "ca/ca.h"
#include "ca/ca_keys.h"
#include "ca/keyd.h"

/* How long relying parties may cache a CRL: issuing CAs change often, the root
 * rarely (RFC 5280 section 5.1.2.5). devtrust serve regenerates well before. */
#define CRL_NEXT_UPDATE_ISSUING_S (3 * 86400)
#define CRL_NEXT_UPDATE_ROOT_S (30 * 86400)
_Static_assert(CRL_NEXT_UPDATE_ROOT_S <= KEYD_CRL_MAX_S, "the signer refuses such a CRL");

/* Room before the entries for their SEQUENCE OF's tag and length: a tag octet and a
 * length of up to five (a length of 2^32 or more is refused before). */
#define CRL_HEAD_ROOM 7
/* The entries of one CRL, at most: the rest of the to-be-signed part fits in what is
 * left of the signer's limit. */
#define CRL_MAX_ENTRIES_BYTES (KEYD_MAX_TBS - 64 * 1024)

/*
 * A CRL under construction. Its entries are DER in one growing buffer, each encoded
 * as it comes from the store from the prebuilt entry of its reason (serial and date
 * set anew): an X509_CRL holding them as objects took about 1 KB per entry at its peak
 * (RELIABILITY.md, soak 5).
 */
struct crl_build {
	unsigned char *buf; /* CRL_HEAD_ROOM octets, then len - CRL_HEAD_ROOM of entries */
	size_t len, cap;
	/* Per RFC 5280 reason, an entry with that reasonCode; [0] without one (unspecified
	 * is expressed by omitting it, section 5.3.1), also for reason 7, which is unused. */
	X509_REVOKED *entry[11];
	ASN1_INTEGER *serial;
	ASN1_TIME *when;
	dt_code rc;
	struct dt_error *err;
	int64_t count;
};

static dt_code reason_entries(struct crl_build *b)
{
	for (int r = 0; r <= 10; r++) {
		ASN1_ENUMERATED *e = NULL;
		int ok;

		if (!(b->entry[r] = X509_REVOKED_new()))
			return dt_fail(b->err, DT_ERR_CRYPTO, "cannot create a CRL entry");
		if (r == 0 || r == 7)
			continue;
		ok = (e = ASN1_ENUMERATED_new()) && ASN1_ENUMERATED_set(e, r) == 1 &&
		     X509_REVOKED_add1_ext_i2d(b->entry[r], NID_crl_reason, e, 0, 0) == 1;
		ASN1_ENUMERATED_free(e);
		if (!ok)
			return dt_fail(b->err, DT_ERR_CRYPTO, "cannot encode CRL reason codes");
	}
	return DT_OK;
}

/* Room for n more octets; the buffer grows by a quarter at least (realloc moves the
 * pages of a large one without copying them). */
static int crl_room(struct crl_build *b, size_t n)
{
	size_t cap = b->cap;
	unsigned char *p;

	if (b->cap - b->len >= n)
		return 1;
	cap = cap < 65536 ? 65536 : cap + cap / 4;
	if (cap - b->len < n)
		cap = b->len + n;
	if (!(p = OPENSSL_realloc(b->buf, cap)))
		return 0;
	b->buf = p;
	b->cap = cap;
	return 1;
}

/* Encodes one entry after the others; serial is the big-endian magnitude of at most 20
 * octets. */
static dt_code add_entry(struct crl_build *b, const unsigned char *serial, int serial_len,
			 int64_t revoked_at, int reason)
{
	X509_REVOKED *r = b->entry[reason > 0 && reason <= 10 ? reason : 0];
	unsigned char *p;
	int skip = 0, n = -1;

	while (skip < serial_len - 1 && serial[skip] == 0)
		skip++;
	if (ASN1_STRING_set(b->serial, serial + skip, serial_len - skip) == 1 &&
	    X509_REVOKED_set_serialNumber(r, b->serial) == 1 &&
	    ASN1_TIME_set(b->when, (time_t)revoked_at) &&
	    X509_REVOKED_set_revocationDate(r, b->when) == 1)
		n = i2d_X509_REVOKED(r, NULL);
	if (n <= 0)
		return dt_fail(b->err, DT_ERR_CRYPTO, "cannot add a CRL entry");
	if (b->len - CRL_HEAD_ROOM + (size_t)n > CRL_MAX_ENTRIES_BYTES)
		return dt_fail(b->err, DT_ERR_INVALID,
			       "the CRL's entries would be larger than %d bytes: too many revoked "
			       "certificates that have not expired for one CRL",
			       CRL_MAX_ENTRIES_BYTES);
	if (!crl_room(b, (size_t)n))
		return dt_fail(b->err, DT_ERR_INTERNAL, "out of memory");
	p = b->buf + b->len;
	if (i2d_X509_REVOKED(r, &p) != n)
		return dt_fail(b->err, DT_ERR_CRYPTO, "cannot add a CRL entry");
	b->len += (size_t)n;
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

/* The CRL number and the authority key identifier (RFC 5280 sections 5.2.3 and 5.2.1),
 * as the DER crlExtensions the template keeps as bytes. */
static dt_code add_crl_exts(DT_TBS_CRL *t, const X509 *ca, int64_t number, struct dt_error *err)
{
	X509V3_CTX v3;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *aki = NULL;
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	unsigned char *der = NULL;
	int n = -1;

	X509V3_set_ctx(&v3, (X509 *)ca, NULL, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&v3);
	if (num && ASN1_INTEGER_set_int64(num, number) == 1 &&
	    X509V3_add1_i2d(&exts, NID_crl_number, num, 0, X509V3_ADD_APPEND) == 1 &&
	    (aki = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always")) &&
	    X509v3_add_ext(&exts, aki, -1) && (n = i2d_X509_EXTENSIONS(exts, &der)) > 0 &&
	    (t->extensions = ASN1_STRING_type_new(V_ASN1_SEQUENCE)))
		ASN1_STRING_set0(t->extensions, der, n);
	else
		OPENSSL_free(der);
	ASN1_INTEGER_free(num);
	X509_EXTENSION_free(aki);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (!t->extensions)
		return dt_fail(err, DT_ERR_CRYPTO, "cannot add the CRL number and AKI");
	return DT_OK;
}

/* The entries as one DER SEQUENCE OF: its tag and length go into the room before them,
 * then all of it to the start of the buffer, which *out takes. */
static dt_code entries_seq(struct crl_build *b, ASN1_STRING **out)
{
	size_t body = b->len - CRL_HEAD_ROOM;
	/* add_entry kept body within CRL_MAX_ENTRIES_BYTES. */
	int total = ASN1_object_size(1, (long)body, V_ASN1_SEQUENCE);
	unsigned char *head, *p;

	*out = NULL;
	if (total <= 0 || (size_t)total - body > CRL_HEAD_ROOM ||
	    !(*out = ASN1_STRING_type_new(V_ASN1_SEQUENCE)))
		return dt_fail(b->err, DT_ERR_CRYPTO, "cannot encode the CRL's entries");
	head = p = b->buf + CRL_HEAD_ROOM - ((size_t)total - body);
	ASN1_put_object(&p, 1, (long)body, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memmove(b->buf, head, (size_t)total);
	/* Down to its size: the to-be-signed part is encoded next, beside it. */
	if ((p = OPENSSL_realloc(b->buf, (size_t)total)))
		b->buf = p;
	ASN1_STRING_set0(*out, b->buf, total);
	b->buf = NULL;
	b->len = b->cap = 0;
	return DT_OK;
}

/* The TBSCertList (RFC 5280 section 5.1.2), DER into *tbs: version 2, the CA key's
 * algorithm, the CA's subject, this and next update, the entries (absent when there
 * are none, 5.1.2.6), the CRL number and the authority key identifier. */
static dt_code crl_tbs(struct crl_build *b, const X509 *ca, const struct crl_job *j, int64_t next,
		       unsigned char **tbs, int *tbs_len)
{
	DT_TBS_CRL *t = (DT_TBS_CRL *)ASN1_item_new(ASN1_ITEM_rptr(DT_TBS_CRL));
	const unsigned char *name = NULL;
	size_t name_len = 0;
	dt_code rc = DT_OK;

	*tbs = NULL;
	if (!t || !(t->version = ASN1_INTEGER_new()) || ASN1_INTEGER_set(t->version, 1) != 1 ||
	    !ca_key_algor(t->sig_alg, X509_get0_pubkey(ca)) ||
	    X509_NAME_get0_der(X509_get_subject_name(ca), &name, &name_len) != 1 ||
	    ASN1_STRING_set(t->issuer, name, (int)name_len) != 1 ||
	    !ASN1_TIME_set(t->this_update, (time_t)j->now) ||
	    !(t->next_update = ASN1_TIME_set(NULL, (time_t)(j->now + next))))
		rc = dt_fail(b->err, DT_ERR_CRYPTO, "cannot create a CRL");
	if (rc == DT_OK && b->count > 0)
		rc = entries_seq(b, &t->revoked);
	if (rc == DT_OK)
		rc = add_crl_exts(t, ca, j->number, b->err);
	if (rc == DT_OK &&
	    (*tbs_len = ASN1_item_i2d((ASN1_VALUE *)t, tbs, ASN1_ITEM_rptr(DT_TBS_CRL))) <= 0)
		rc = dt_fail(b->err, DT_ERR_CRYPTO, "cannot encode the CRL");
	ASN1_item_free((ASN1_VALUE *)t, ASN1_ITEM_rptr(DT_TBS_CRL));
	return rc;
}

/* The signed CRL, DER into *der: the to-be-signed bytes (tbs, taken), checked first
 * against the CA's key, whoever signed them (the signer process, or this one). */
static dt_code crl_signed(const X509 *ca, unsigned char *tbs, int tbs_len, const unsigned char *sig,
			  size_t sig_len, unsigned char **der, int *len, struct dt_error *err)
{
	EVP_PKEY *pub = X509_get0_pubkey(ca);
	DT_CRL *c = (DT_CRL *)ASN1_item_new(ASN1_ITEM_rptr(DT_CRL));
	dt_code rc = DT_OK;

	*der = NULL;
	if (!c) {
		OPENSSL_free(tbs);
		return dt_fail(err, DT_ERR_CRYPTO, "cannot encode the CRL");
	}
	ASN1_STRING_set0(c->tbs, tbs, tbs_len);
	if (!ca_key_verifies(pub, tbs, (size_t)tbs_len, sig, sig_len))
		rc = dt_fail(err, DT_ERR_CRYPTO,
			     "the CRL's signature does not verify with the CA's key");
	else if (!ca_key_algor(c->sig_alg, pub) || !ca_bits_set(c->signature, sig, sig_len) ||
		 (*len = ASN1_item_i2d((ASN1_VALUE *)c, der, ASN1_ITEM_rptr(DT_CRL))) <= 0)
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode the CRL");
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(DT_CRL));
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
	unsigned char *tbs = NULL, sig[CA_MAX_SIG];
	size_t sig_len = 0;
	int n = 0, tbs_len = 0;
	dt_code rc;

	*der = NULL;
	*len = 0;
	*next_update = 0;
	memset(&b, 0, sizeof(b));
	b.err = err;
	if ((rc = ca_signer_get(ctx, ca_name, CA_USE_CRL, &signer, err)) != DT_OK)
		return rc;
	ca = ca_signer_cert(signer);
	if (!(b.serial = ASN1_INTEGER_new()) || !(b.when = ASN1_TIME_new()) ||
	    !crl_room(&b, CRL_HEAD_ROOM)) {
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot create a CRL");
		goto out;
	}
	b.len = CRL_HEAD_ROOM;
	if ((rc = reason_entries(&b)) != DT_OK ||
	    (rc = store_write(ctx->store, number_job, &j, err)) != DT_OK ||
	    (rc = store_read(ctx->store, entries_job, &j, err)) != DT_OK)
		goto out;
	/* The entries move into the to-be-signed part; tbs moves into the CRL. */
	if ((rc = crl_tbs(&b, ca, &j, next, &tbs, &tbs_len)) != DT_OK ||
	    (rc = ca_sign_crl(signer, tbs, (size_t)tbs_len, sig, sizeof(sig), &sig_len, err)) !=
		DT_OK)
		goto out;
	rc = crl_signed(ca, tbs, tbs_len, sig, sig_len, der, &n, err);
	tbs = NULL;
	if (rc != DT_OK)
		goto out;
	*len = (size_t)n;
	*next_update = j.now + next;
out:
	ERR_clear_error();
	OPENSSL_free(tbs);
	OPENSSL_free(b.buf);
	for (int r = 0; r <= 10; r++)
		X509_REVOKED_free(b.entry[r]);
	ASN1_TIME_free(b.when);
	ASN1_INTEGER_free(b.serial);
	return rc;
}
