/*
 * OCSP from the CA's side: which CA certificate a CertID names (RFC 6960
 * section 4.1.1), the delegated OCSP signer of each CA (certificate in the
 * CA's row, key in DATA/keys/<ca>-ocsp.<serial>.key, or <ca>-ocsp.key for
 * the one made with the CA), and signing with it.
 */
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/bn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/asn1.h"
#include "ca/ca_keys.h"

/* CertID hash algorithms we answer for: SHA-1 is what RFC 5019 clients and
 * OpenSSL send; RFC 6960 section 4.1.1 allows others, and the SHA-2 family
 * is what newer clients move to. */
static const int certid_nids[] = {NID_sha1, NID_sha256, NID_sha384, NID_sha512};
#define CERTID_ALGS ((int)(sizeof(certid_nids) / sizeof(certid_nids[0])))

/*
 * A CA certificate as CertIDs see it: its CertID (without serial) under each
 * algorithm, and its own serial. Parsing and hashing a certificate costs more
 * than the rest of an answer, so these are cached. Keyed by the whole DER and
 * derived from it alone, an entry is right for every context that meets the
 * same certificate, so one cache serves the process; entries are immutable.
 */
struct certid_entry {
	unsigned char *der;
	size_t len;
	ASN1_INTEGER *serial;
	OCSP_CERTID *ids[CERTID_ALGS];
};

/* More CAs than this only cost the cache misses. */
#define CERTID_CACHE_MAX 256
static struct certid_entry certid_cache[CERTID_CACHE_MAX];
static int certid_used;
static unsigned certid_victim; /* when full, entries are replaced in turn */
static pthread_rwlock_t certid_lock = PTHREAD_RWLOCK_INITIALIZER;

static void entry_clear(struct certid_entry *e)
{
	OPENSSL_free(e->der);
	ASN1_INTEGER_free(e->serial);
	for (int k = 0; k < CERTID_ALGS; k++)
		OCSP_CERTID_free(e->ids[k]);
	memset(e, 0, sizeof(*e));
}

static dt_code entry_build(const unsigned char *der, size_t len, struct certid_entry *e,
			   struct dt_error *err)
{
	const unsigned char *p = der;
	DT_CERT *c = NULL;
	dt_code rc = DT_OK;

	memset(e, 0, sizeof(*e));
	/* The template keeps the key as bits: decoding it would cost more than the rest. */
	if (len > LONG_MAX || !(c = (DT_CERT *)ASN1_item_d2i(NULL, &p, (long)len, DT_CERT_it())) ||
	    p != der + len) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "a stored CA certificate is damaged");
		goto out;
	}
	if (!(e->der = OPENSSL_memdup(der, len)) ||
	    !(e->serial = ASN1_INTEGER_dup(c->tbs->serial))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	e->len = len;
	for (int k = 0; k < CERTID_ALGS; k++)
		if (!(e->ids[k] =
			  OCSP_cert_id_new(EVP_get_digestbynid(certid_nids[k]), c->tbs->subject,
					   c->tbs->spki->public_key, NULL))) {
			rc = dt_fail(err, DT_ERR_CRYPTO, "cannot hash a CA's name and key");
			goto out;
		}
out:
	ERR_clear_error();
	ASN1_item_free((ASN1_VALUE *)c, DT_CERT_it());
	if (rc != DT_OK)
		entry_clear(e);
	return rc;
}

static const struct certid_entry *entry_find(const unsigned char *der, size_t len)
{
	for (int i = 0; i < certid_used; i++)
		if (certid_cache[i].len == len && memcmp(certid_cache[i].der, der, len) == 0)
			return &certid_cache[i];
	return NULL;
}

static void entry_compare(const struct certid_entry *e, OCSP_CERTID *const *ids, int n,
			  unsigned *rel)
{
	for (int i = 0; i < n; i++) {
		ASN1_OBJECT *alg = NULL;
		ASN1_INTEGER *serial = NULL;
		int nid, k = 0;

		rel[i] = 0;
		if (OCSP_id_get0_info(NULL, &alg, NULL, &serial, ids[i]) != 1)
			continue;
		nid = OBJ_obj2nid(alg);
		while (k < CERTID_ALGS && certid_nids[k] != nid)
			k++;
		if (k == CERTID_ALGS)
			continue;
		if (OCSP_id_issuer_cmp(ids[i], e->ids[k]) == 0)
			rel[i] |= CA_CERTID_ISSUER;
		if (serial && ASN1_INTEGER_cmp(serial, e->serial) == 0)
			rel[i] |= CA_CERTID_SERIAL;
	}
}

dt_code ca_certid_match(const unsigned char *der, size_t len, OCSP_CERTID *const *ids, int n,
			unsigned *rel, struct dt_error *err)
{
	const struct certid_entry *hit;
	struct certid_entry fresh;
	dt_code rc;

	pthread_rwlock_rdlock(&certid_lock);
	if ((hit = entry_find(der, len)))
		entry_compare(hit, ids, n, rel);
	pthread_rwlock_unlock(&certid_lock);
	if (hit)
		return DT_OK;
	if ((rc = entry_build(der, len, &fresh, err)) != DT_OK) {
		for (int i = 0; i < n; i++)
			rel[i] = 0;
		return rc;
	}
	entry_compare(&fresh, ids, n, rel);
	pthread_rwlock_wrlock(&certid_lock);
	if (!entry_find(der, len)) {
		int slot = certid_used < CERTID_CACHE_MAX
			       ? certid_used++
			       : (int)(certid_victim++ % CERTID_CACHE_MAX);
		entry_clear(&certid_cache[slot]);
		certid_cache[slot] = fresh;
		memset(&fresh, 0, sizeof(fresh));
	}
	pthread_rwlock_unlock(&certid_lock);
	entry_clear(&fresh);
	return DT_OK;
}

X509 *ca_der_cert(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = len && len <= LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;

	if (x && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

dt_code ca_cert_serial_hex(const X509 *cert, char serial[DT_SERIAL_HEX_BUF], struct dt_error *err)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	dt_code rc;

	rc = hex ? dt_serial_normalize(hex, serial, err)
		 : dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

dt_code ca_ocsp_renewed_key_file(const char *name, const X509 *cert, char *file, size_t cap,
				 struct dt_error *err)
{
	char serial[DT_SERIAL_HEX_BUF];
	dt_code rc;

	/* CA names have no '.', so no CA's own key file can take this name. */
	if ((rc = ca_cert_serial_hex(cert, serial, err)) == DT_OK &&
	    (size_t)snprintf(file, cap, "%s-ocsp.%s.key", name, serial) >= cap)
		rc = dt_fail(err, DT_ERR_INTERNAL, "key file name too long");
	return rc;
}

dt_code ca_ocsp_key_file(struct dt_ctx *ctx, const char *name, const X509 *cert, char *file,
			 size_t cap, struct dt_error *err)
{
	char path[4096];
	dt_code rc;

	if ((rc = ca_ocsp_renewed_key_file(name, cert, file, cap, err)) != DT_OK)
		return rc;
	if ((rc = ca_key_path(ctx, file, path, sizeof(path), err)) != DT_OK)
		return rc;
	/* The signer made with its CA, by init or ca add, keeps the name it always had. */
	if (access(path, F_OK) != 0 && (size_t)snprintf(file, cap, "%s-ocsp.key", name) >= cap)
		return dt_fail(err, DT_ERR_INTERNAL, "key file name too long");
	return DT_OK;
}

/* CA name's OCSP signer as stored: its certificate (the caller's), parsed from the CA's
 * row and checked, and the file of its key. */
static dt_code signer_stored(struct dt_ctx *ctx, const char *name, X509 **out,
			     char file[CA_KEY_FILE_BUF], struct dt_error *err)
{
	struct store_ca *row = NULL;
	X509 *ca = NULL, *cert = NULL;
	dt_code rc;

	*out = NULL;
	if ((rc = ca_row_read(ctx, name, &row, err)) != DT_OK)
		return rc;
	if (row->ocsp_cert_len == 0) {
		rc = dt_fail(err, DT_ERR_NOT_FOUND,
			     "CA '%s' has no OCSP signer (a root initialised before devtrust "
			     "answered OCSP has none: 'devtrust ca renew-ocsp root' makes one)",
			     name);
		goto out;
	}
	if (!(ca = ca_der_cert(row->cert, row->cert_len)) ||
	    !(cert = ca_der_cert(row->ocsp_cert, row->ocsp_cert_len))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "the stored certificates of CA '%s' are damaged",
			     name);
		goto out;
	}
	/* RFC 6960 section 4.2.2.2: a delegated responder is issued directly by the CA
	 * and carries id-kp-OCSPSigning; relying parties reject anything else. */
	if (X509_check_issued(ca, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ca)) != 1 ||
	    !(X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(cert) & XKU_OCSP_SIGN)) {
		rc = dt_fail(err, DT_ERR_INTERNAL,
			     "the OCSP signer certificate of CA '%s' is not an OCSPSigning "
			     "certificate issued by that CA (RFC 6960 section 4.2.2.2)",
			     name);
		goto out;
	}
	if ((rc = ca_ocsp_key_file(ctx, name, cert, file, CA_KEY_FILE_BUF, err)) != DT_OK)
		goto out;
	*out = cert;
	cert = NULL;
out:
	ERR_clear_error();
	X509_free(ca);
	X509_free(cert);
	free(row);
	return rc;
}

void ca_ocsp_entry(const char *name, char entry[CA_OCSP_ENTRY_BUF])
{
	snprintf(entry, CA_OCSP_ENTRY_BUF, "%s#ocsp", name);
}

/* CA name checked, the keyring entry of its OCSP signer and, unless hit finds that entry
 * unlocked already (*hit, a reference), the signer as stored (signer_stored). */
static dt_code signer_lookup(struct dt_ctx *ctx, const char *name, const struct ca_signer **hit,
			     char entry[CA_OCSP_ENTRY_BUF], X509 **cert, char file[CA_KEY_FILE_BUF],
			     struct dt_error *err)
{
	dt_code rc;

	*cert = NULL;
	if ((rc = dt_check_name("CA name", name, err)) != DT_OK)
		return rc;
	ca_ocsp_entry(name, entry);
	if (hit && (*hit = ca_signer_find_ref(ctx, entry)))
		return DT_OK;
	return signer_stored(ctx, name, cert, file, err);
}

dt_code ca_ocsp_signer_get(struct dt_ctx *ctx, const char *name, const struct ca_signer **out,
			   struct dt_error *err)
{
	X509 *cert = NULL;
	char entry[CA_OCSP_ENTRY_BUF], file[CA_KEY_FILE_BUF];
	dt_code rc;

	*out = NULL;
	if ((rc = signer_lookup(ctx, name, out, entry, &cert, file, err)) != DT_OK || *out)
		return rc;
	return ca_signer_load(ctx, entry, cert, file, 1, out, err);
}

dt_code dt_ca_ocsp_signer_reload(struct dt_ctx *ctx, const char *name, struct dt_error *err)
{
	X509 *cert = NULL;
	char entry[CA_OCSP_ENTRY_BUF], file[CA_KEY_FILE_BUF];
	dt_code rc;

	if ((rc = signer_lookup(ctx, name, NULL, entry, &cert, file, err)) != DT_OK)
		return rc;
	return ca_signer_reload(ctx, entry, cert, file, err);
}

dt_code ca_sign_ocsp(const struct ca_signer *s, OCSP_BASICRESP *bs, struct dt_error *err)
{
	/* byKey: the SHA-1 of the signer's key, what RFC 5019 asks for, and smaller
	 * than the name. OCSP_basic_sign adds the signer's certificate to certs. */
	return ca_sign_ocsp_basic(s, bs, OCSP_RESPID_KEY, err);
}
