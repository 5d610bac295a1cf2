/*
 * The signer process of devtrust serve (key isolation, docs/RELIABILITY.md).
 * Started by the server before it parses any network input, it alone holds
 * the CA keys, and signs only what a CA may sign: certificates that are no
 * CA and CRLs, under the CA's own name and within its validity; a CA
 * certificate only for a key it generated itself for that new CA, once. It
 * opens no socket and reads nothing but its requests and DATA/keys; its seccomp
 * filter (keyd_sandbox.c) kills it if it tries anything else.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/asn1.h"
#include "ca/keyd.h"

struct held_key {
	char file[CA_KEY_FILE_BUF]; /* "" for a generated key not saved yet */
	EVP_PKEY *key;
	X509 *cert;		 /* the CA certificate last checked against the key */
	unsigned char *cert_der; /* and its DER, so the next request's is compared, not parsed */
	size_t cert_len;
	int certifiable; /* generated here, not certified yet: may get one CA certificate */
	int64_t made;	 /* generation order, so the oldest unsaved one can go */
};

struct keyd_signer {
	struct dt_ctx ctx; /* only the data dir and the passphrase file (ca_key_load/save) */
	struct held_key keys[KEYD_MAX_KEYS];
	int n;
	int64_t made;
	int64_t clock; /* keyd_signer_set_clock; 0: dt_now() */
};

struct reply {
	dt_code status;
	unsigned char *der; /* OPENSSL_malloc'ed result */
	int len;
	struct dt_error err;
};

static void drop(struct keyd_signer *sg, int i)
{
	EVP_PKEY_free(sg->keys[i].key);
	X509_free(sg->keys[i].cert);
	OPENSSL_free(sg->keys[i].cert_der);
	sg->keys[i] = sg->keys[--sg->n];
	memset(&sg->keys[sg->n], 0, sizeof(sg->keys[0]));
}

static int find_file(const struct keyd_signer *sg, const char *file)
{
	for (int i = 0; i < sg->n; i++)
		if (sg->keys[i].file[0] && strcmp(sg->keys[i].file, file) == 0)
			return i;
	return -1;
}

/* A key generated here whose public half is pub: any (certifiable 0) or one that may
 * still be certified (1), or not saved yet (2). */
static int find_generated(const struct keyd_signer *sg, const EVP_PKEY *pub, int which)
{
	int found = -1;

	for (int i = 0; i < sg->n && found < 0; i++) {
		const struct held_key *h = &sg->keys[i];

		if ((which == 1 && !h->certifiable) || (which == 2 && h->file[0]))
			continue;
		if (EVP_PKEY_eq(h->key, pub) == 1)
			found = i;
	}
	ERR_clear_error();
	return found;
}

/* File names as the server makes them ("<ca>.key", "admin_ca.<serial>.key"): nothing
 * that leaves DATA/keys, and CA keys only. */
static dt_code check_file(const char *file, struct dt_error *err)
{
	size_t n = strlen(file);

	if (n < 5 || file[0] == '.' || strstr(file, "..") ||
	    strspn(file, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n ||
	    strcmp(file + n - 4, ".key") != 0)
		return dt_fail(err, DT_ERR_INVALID, "'%.64s' is not a key file name of DATA/keys",
			       file);
	if (!ca_key_file_is_ca(file))
		return dt_fail(err, DT_ERR_INVALID,
			       "%s is not a CA key: the signer process holds CA keys only", file);
	return DT_OK;
}

/* The key of DATA/keys/<file>, unlocked on first use and checked against the CA
 * certificate ca_der (the one the server holds for it). */
static dt_code issuer_key(struct keyd_signer *sg, const char *file, const unsigned char *ca_der,
			  size_t ca_len, struct held_key **out, struct dt_error *err)
{
	X509 *ca = NULL;
	EVP_PKEY *key = NULL;
	struct held_key *h;
	int i;
	dt_code rc;

	*out = NULL;
	if ((rc = check_file(file, err)) != DT_OK)
		return rc;
	/* The same certificate as last time (every request carries it): nothing to parse. */
	if ((i = find_file(sg, file)) >= 0 && sg->keys[i].cert_der && !sg->keys[i].certifiable &&
	    sg->keys[i].cert_len == ca_len && memcmp(sg->keys[i].cert_der, ca_der, ca_len) == 0) {
		*out = &sg->keys[i];
		return DT_OK;
	}
	if (ca_len > KEYD_MAX_CERT || !(ca = ca_der_cert(ca_der, ca_len)))
		return dt_fail(err, DT_ERR_INVALID,
			       "the CA certificate sent for %s is not one DER certificate", file);
	if ((i = find_file(sg, file)) >= 0) {
		h = &sg->keys[i];
		if (h->certifiable) {
			rc = dt_fail(err, DT_ERR_STATE,
				     "%s has no CA certificate yet: it signs nothing before", file);
		} else if (h->cert && X509_cmp(h->cert, ca) == 0) {
			*out = h;
		} else if (!ca_key_matches(h->key, ca)) {
			rc = dt_fail(err, DT_ERR_CRYPTO,
				     "the certificate sent for %s is not its key's", file);
		} else {
			X509_free(h->cert);
			h->cert = ca;
			ca = NULL;
			*out = h;
		}
		goto remember;
	}
	if (sg->n == KEYD_MAX_KEYS) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "the signer holds %d keys, its limit",
			     KEYD_MAX_KEYS);
		goto out;
	}
	if ((rc = ca_key_load(&sg->ctx, file, &key, err)) != DT_OK)
		goto out;
	if (!ca_key_matches(key, ca)) {
		rc = dt_fail(err, DT_ERR_CRYPTO,
			     "the key %s does not match its certificate or fails its sign/verify "
			     "self-test",
			     file);
		goto out;
	}
	h = &sg->keys[sg->n++];
	memset(h, 0, sizeof(*h));
	snprintf(h->file, sizeof(h->file), "%s", file);
	h->key = key;
	h->cert = ca;
	key = NULL;
	ca = NULL;
	*out = h;
remember:
	if (*out) {
		OPENSSL_free((*out)->cert_der);
		(*out)->cert_len = 0;
		if (((*out)->cert_der = OPENSSL_memdup(ca_der, ca_len)))
			(*out)->cert_len = ca_len;
	}
out:
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}

/* RFC 5280 section 4.2.1.3 and 4.2.1.9: the issuer is a CA allowed to sign this. */
static dt_code check_issuer(X509 *ca, uint32_t usage, const char *file, struct dt_error *err)
{
	if (X509_check_ca(ca) < 1 || !(X509_get_key_usage(ca) & usage))
		return dt_fail(err, DT_ERR_INVALID,
			       "the certificate of %s is not a CA's with keyUsage %s (RFC 5280 "
			       "section 4.2.1.3)",
			       file, usage == KU_CRL_SIGN ? "cRLSign" : "keyCertSign");
	return DT_OK;
}

/* A new CA (an issuing CA, the Admin CA) may issue end-entity certificates only. */
static dt_code check_new_ca(X509 *x, struct dt_error *err)
{
	if (!(X509_get_extension_flags(x) & EXFLAG_CA) || X509_get_pathlen(x) != 0 ||
	    !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN))
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: a new CA's certificate must have basicConstraints CA:TRUE "
			       "with pathLenConstraint 0 and keyCertSign (RFC 5280 section "
			       "4.2.1.9)");
	return DT_OK;
}

/* The one extension nid of a to-be-signed certificate, decoded (NULL: absent); *dup
 * is set when it occurs more than once. */
static void *one_ext(const STACK_OF(X509_EXTENSION) * exts, int nid, int *dup)
{
	int crit = -1;
	void *v = X509V3_get_d2i(exts, nid, &crit, NULL);

	if (crit == -2)
		*dup = 1;
	return v;
}

/* Whether t is a time as RFC 5280 section 4.1.2.5 writes it (UTCTime through 2049,
 * GeneralizedTime from 2050, seconds, no fraction, Z): what ASN1_TIME_normalize makes
 * of it. ASN1_TIME_check alone takes offsets, fractions and missing seconds. */
static int time_strict(const ASN1_TIME *t)
{
	ASN1_TIME *n = t ? ASN1_STRING_dup(t) : NULL;
	int ok = n && ASN1_TIME_normalize(n) == 1 && ASN1_STRING_cmp(n, t) == 0;

	ASN1_TIME_free(n);
	return ok;
}

/* Whether an extension occurs more than once (RFC 5280 sections 4.2 and 5.2). */
static int ext_twice(const STACK_OF(X509_EXTENSION) * exts)
{
	for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		const ASN1_OBJECT *o = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));

		if (X509v3_get_ext_by_OBJ(exts, o, i) >= 0)
			return 1;
	}
	return 0;
}

/* Whether alg is the signature algorithm of the CA key, without parameters as ECDSA's
 * are (RFC 5280 sections 4.1.1.2 and 5.1.1.2). */
static int alg_is_keys(const X509_ALGOR *alg, EVP_PKEY *key)
{
	const ASN1_OBJECT *oid = NULL;
	int ptype = 0, want = ca_key_sig_nid(key);

	X509_ALGOR_get0(&oid, &ptype, NULL, alg);
	return want != NID_undef && OBJ_obj2nid(oid) == want && ptype == V_ASN1_UNDEF;
}

/* Whether tbs (len bytes), just signed by X509_sign, is the to-be-signed part of der
 * (the first element of its outer SEQUENCE) as sent, byte for byte: it re-encodes what
 * it signed, with the CA key's algorithm, so a sender's BER or other
 * algorithm would get a signature over bytes it never sent. */
static int signed_as_sent(const unsigned char *tbs, int tbs_len, const unsigned char *der,
			  size_t len)
{
	const unsigned char *p = der;
	long body = 0;
	int tag = 0, cls = 0;

	return tbs_len > 0 && !(ASN1_get_object(&p, &body, &tag, &cls, (long)len) & 0x80) &&
	       (size_t)tbs_len <= len - (size_t)(p - der) && memcmp(p, tbs, (size_t)tbs_len) == 0;
}

/* Whether the to-be-signed bytes are DER, exactly what the template parsed from them
 * (what is checked is what gets signed), as csr.c does for requests. */
static int tbs_is_der(DT_TBS *t, const unsigned char *der, size_t len)
{
	unsigned char *again = NULL;
	int n, same;

	t->enc.modified = 1;
	t->spki->enc.modified = 1;
	n = ASN1_item_i2d((ASN1_VALUE *)t, &again, ASN1_ITEM_rptr(DT_TBS));
	same = n > 0 && (size_t)n == len && memcmp(again, der, len) == 0;
	OPENSSL_free(again);
	return same;
}

/* The public key of a to-be-signed certificate, decoded (the rare path: a new CA). */
static EVP_PKEY *tbs_key(const DT_TBS *t)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = ASN1_item_i2d((ASN1_VALUE *)t->spki, &der, ASN1_ITEM_rptr(DT_SPKI));
	EVP_PKEY *k = NULL;

	p = der;
	if (n > 0)
		k = d2i_PUBKEY(NULL, &p, n);
	OPENSSL_free(der);
	return k;
}

/*
 * What a CA may sign: a version 3 certificate (RFC 5280 section 4.1.2.1) whose signature
 * algorithm is the CA key's (4.1.2.3), whose issuer is the CA's subject (4.1.2.4), valid
 * within the CA's validity (4.1.2.5), with each extension at most once (4.2), that is no
 * CA: basicConstraints present with cA false and a keyUsage without keyCertSign
 * (4.2.1.9, 4.2.1.3). A CA certificate only for a key generated here for a new CA, with
 * pathLenConstraint 0; *grant is then that key's index. The to-be-signed part is parsed
 * with the template of asn1.h, which keeps the public key as bytes: d2i_X509 would
 * decode it, at four times the cost of the signature on OpenSSL 3.0.
 */
static dt_code check_tbs(const struct keyd_signer *sg, const struct held_key *h, DT_TBS *t,
			 const unsigned char *der, size_t len, int *grant, struct dt_error *err)
{
	int dup = 0, is_ca;
	BASIC_CONSTRAINTS *bc = NULL;
	ASN1_BIT_STRING *ku = NULL;
	EVP_PKEY *pub = NULL;
	dt_code rc = DT_OK;

	*grant = -1;
	if (!tbs_is_der(t, der, len) || !t->version || ASN1_INTEGER_get(t->version) != 2)
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: not a DER version 3 certificate (RFC 5280 section 4.1)");
	if (!alg_is_keys(t->sig_alg, h->key))
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: the signature algorithm is not the CA key's (RFC 5280 "
			       "section 4.1.2.3)");
	if (X509_NAME_cmp(t->issuer, X509_get_subject_name(h->cert)) != 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: the issuer is not the CA's subject (RFC 5280 section "
			       "4.1.2.4)");
	/* ASN1_TIME_compare is -2 for a time it cannot read: a refusal in this order too. */
	if (!time_strict(t->validity->notBefore) || !time_strict(t->validity->notAfter) ||
	    ASN1_TIME_compare(t->validity->notBefore, X509_get0_notBefore(h->cert)) < 0 ||
	    ASN1_TIME_compare(X509_get0_notAfter(h->cert), t->validity->notAfter) < 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: the validity is not within the CA's, or not written as "
			       "RFC 5280 section 4.1.2.5 writes it");
	dup = ext_twice(t->extensions);
	bc = one_ext(t->extensions, NID_basic_constraints, &dup);
	ku = one_ext(t->extensions, NID_key_usage, &dup);
	if (dup) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "refused: an extension occurs more than once (RFC 5280 section 4.2)");
		goto out;
	}
	is_ca = !bc || bc->ca || !ku || ASN1_BIT_STRING_get_bit(ku, 5); /* keyCertSign */
	if (!is_ca)
		goto out;
	if (!(pub = tbs_key(t)) || (*grant = find_generated(sg, pub, 1)) < 0) {
		rc = dt_fail(err, DT_ERR_STATE,
			     "refused: a CA certificate (or one without basicConstraints or "
			     "keyUsage) for a key the signer did not generate for a new CA");
		goto out;
	}
	if (!bc || !bc->ca || !bc->pathlen || ASN1_INTEGER_get(bc->pathlen) != 0 || !ku ||
	    !ASN1_BIT_STRING_get_bit(ku, 5))
		rc = dt_fail(err, DT_ERR_INVALID,
			     "refused: a new CA's certificate must have basicConstraints CA:TRUE "
			     "with pathLenConstraint 0 and keyCertSign (RFC 5280 section "
			     "4.2.1.9)");
out:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	return rc;
}

/* Signs the to-be-signed bytes f->b, as sent, with h's key: the signature value into r. */
static dt_code sign_sent(const struct held_key *h, const struct keyd_frame *f, struct reply *r)
{
	unsigned char sig[CA_MAX_SIG];
	size_t n = 0;

	if (!ca_key_sign(h->key, f->b, f->h.len[1], sig, sizeof(sig), &n) ||
	    !(r->der = OPENSSL_memdup(sig, n)))
		return dt_fail(&r->err, DT_ERR_CRYPTO, "signing as %s failed", f->name);
	r->len = (int)n;
	return DT_OK;
}

/* Signs the to-be-signed certificate f->b as the CA of f->name: the answer is the
 * signature value alone, which the server puts into its own certificate (whose
 * to-be-signed part is these bytes) and verifies. */
static void sign_cert(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r)
{
	struct held_key *h = NULL;
	const unsigned char *p = f->b;
	DT_TBS *t = NULL;
	int grant = -1;

	if ((r->status = issuer_key(sg, f->name, f->a, f->h.len[0], &h, &r->err)) != DT_OK ||
	    (r->status = check_issuer(h->cert, KU_KEY_CERT_SIGN, f->name, &r->err)) != DT_OK)
		return;
	/* The server's certificates are KEYD_MAX_CERT bytes at most (cert_for_signer). */
	t = f->h.len[1] && f->h.len[1] <= KEYD_MAX_CERT
		? (DT_TBS *)ASN1_item_d2i(NULL, &p, (long)f->h.len[1], ASN1_ITEM_rptr(DT_TBS))
		: NULL;
	if (!t || p != f->b + f->h.len[1]) {
		r->status = dt_fail(&r->err, DT_ERR_INVALID,
				    "the certificate to sign is not one DER TBSCertificate of at "
				    "most %d bytes",
				    KEYD_MAX_CERT);
		goto out;
	}
	if ((r->status = check_tbs(sg, h, t, f->b, f->h.len[1], &grant, &r->err)) != DT_OK ||
	    (r->status = sign_sent(h, f, r)) != DT_OK)
		goto out;
	if (grant >= 0)
		sg->keys[grant].certifiable = 0;
out:
	ASN1_item_free((ASN1_VALUE *)t, ASN1_ITEM_rptr(DT_TBS));
	ERR_clear_error();
}

/* The signature value of a signed certificate: what the server puts into its own. */
static dt_code signature_of(const X509 *x, struct reply *r)
{
	const ASN1_BIT_STRING *sig = NULL;

	X509_get0_signature(&sig, NULL, x);
	if (!sig || ASN1_STRING_length(sig) <= 0 ||
	    !(r->der = OPENSSL_memdup(ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig))))
		return DT_ERR_CRYPTO;
	r->len = ASN1_STRING_length(sig);
	return DT_OK;
}

/* Signs x (a new CA's certificate) with h's key and hands back the signature value, if
 * what got signed is the to-be-signed part as sent (signed_as_sent). */
static dt_code sign_as_sent(const struct held_key *h, X509 *x, const struct keyd_frame *f,
			    struct reply *r)
{
	unsigned char *tbs = NULL;
	int n = 0;
	dt_code rc;

	if (X509_sign(x, h->key, ca_key_digest(h->key)) > 0)
		n = i2d_re_X509_tbs(x, &tbs);
	if (n <= 0)
		rc = dt_fail(&r->err, DT_ERR_CRYPTO, "self-signing a new CA failed");
	else if (!signed_as_sent(tbs, n, f->b, f->h.len[1]))
		rc = dt_fail(&r->err, DT_ERR_INVALID,
			     "refused: the certificate to sign is not DER with the CA key's "
			     "signature algorithm (RFC 5280 section 4.1.2.3)");
	else if ((rc = signature_of(x, r)) != DT_OK)
		rc = dt_fail(&r->err, rc, "self-signing a new CA failed");
	OPENSSL_free(tbs);
	return rc;
}

/* The one value of the extension nid in exts, decoded, if it is there once and not
 * critical; NULL otherwise. */
static void *plain_ext(const STACK_OF(X509_EXTENSION) * exts, int nid)
{
	int i = X509v3_get_ext_by_NID(exts, nid, -1);

	if (i < 0 || X509v3_get_ext_by_NID(exts, nid, i) >= 0 ||
	    X509_EXTENSION_get_critical(X509v3_get_ext(exts, i)))
		return NULL;
	return X509V3_EXT_d2i(X509v3_get_ext(exts, i));
}

/*
 * Whether e is a revokedCertificate as crl.c writes one (RFC 5280 section 5.1.2.6): a
 * positive serial of at most 20 octets (4.1.2.2), a strict revocation date, and no
 * extension but a non-critical reasonCode other than unspecified (5.3.1: omitted
 * instead) and the unused 7.
 */
static int entry_allowed(const X509_REVOKED *e)
{
	const ASN1_INTEGER *sn = X509_REVOKED_get0_serialNumber(e);
	const STACK_OF(X509_EXTENSION) *exts = X509_REVOKED_get0_extensions(e);
	BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
	ASN1_ENUMERATED *reason = NULL;
	long r = -1;
	int ok = bn && !BN_is_zero(bn) && !BN_is_negative(bn) && BN_num_bytes(bn) <= 20 &&
		 time_strict(X509_REVOKED_get0_revocationDate(e));

	BN_free(bn);
	if (!ok || !exts)
		return ok;
	if (sk_X509_EXTENSION_num(exts) == 1 && (reason = plain_ext(exts, NID_crl_reason)))
		r = ASN1_ENUMERATED_get(reason);
	ASN1_ENUMERATED_free(reason);
	return r >= 1 && r <= 10 && r != 7;
}

/*
 * Whether seq, a CRL's revokedCertificates, is one DER SEQUENCE OF at least one entry
 * (RFC 5280 section 5.1.2.6: absent when empty), each entry a DER revokedCertificate
 * of at most KEYD_CRL_MAX_ENTRY bytes that entry_allowed: parsed, encoded again and
 * compared one at a time, so that a CRL of a million entries is never a million
 * objects here.
 */
static int entries_allowed(const ASN1_STRING *seq)
{
	const unsigned char *p = ASN1_STRING_get0_data(seq), *end;
	long body = 0;
	int tag = 0, cls = 0, len = ASN1_STRING_length(seq), ok = 1, count = 0;

	if (len <= 0 || ASN1_get_object(&p, &body, &tag, &cls, len) != V_ASN1_CONSTRUCTED ||
	    tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL ||
	    ASN1_object_size(1, body, V_ASN1_SEQUENCE) != len)
		return 0;
	for (end = p + body; ok && p < end; count++) {
		const unsigned char *at = p, *q = p;
		long elen = 0;
		X509_REVOKED *e = NULL;
		unsigned char *again = NULL;
		int n = -1;

		/* The entry's size before it is decoded: extensions are not decoded in bulk. */
		if (!(ASN1_get_object(&q, &elen, &tag, &cls, end - p) & 0x80) &&
		    (q - p) + elen <= KEYD_CRL_MAX_ENTRY &&
		    (e = d2i_X509_REVOKED(NULL, &p, end - p)))
			n = i2d_X509_REVOKED(e, &again);
		ok = n > 0 && n == p - at && memcmp(again, at, (size_t)n) == 0 && entry_allowed(e);
		OPENSSL_free(again);
		X509_REVOKED_free(e);
	}
	return ok && count > 0;
}

/* Whether the crlExtensions (ext, DER as sent, at most KEYD_CRL_MAX_EXTS bytes) are
 * what crl.c writes and RFC 5280 section 5.2 asks of a CA: the authority key
 * identifier and the CRL number, each once, not critical, and nothing else. */
static int crl_exts_allowed(const ASN1_STRING *ext)
{
	const unsigned char *p = ext ? ASN1_STRING_get0_data(ext) : NULL;
	int len = ext ? ASN1_STRING_length(ext) : 0, n = -1;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	AUTHORITY_KEYID *aki = NULL;
	ASN1_INTEGER *num = NULL;
	unsigned char *again = NULL;
	int ok;

	if (len > 0 && len <= KEYD_CRL_MAX_EXTS && (exts = d2i_X509_EXTENSIONS(NULL, &p, len)))
		n = i2d_X509_EXTENSIONS(exts, &again);
	ok = n == len && memcmp(again, ASN1_STRING_get0_data(ext), (size_t)len) == 0 &&
	     sk_X509_EXTENSION_num(exts) == 2 &&
	     (aki = plain_ext(exts, NID_authority_key_identifier)) && aki->keyid &&
	     (num = plain_ext(exts, NID_crl_number)) && ASN1_STRING_type(num) == V_ASN1_INTEGER;
	OPENSSL_free(again);
	AUTHORITY_KEYID_free(aki);
	ASN1_INTEGER_free(num);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ok;
}

/*
 * Whether the to-be-signed CRL (der, len) is DER, given that its entries and
 * extensions are (the template keeps them as bytes): what the template parses from it,
 * encoded again without the entries, is der without them. The entries go back where
 * they were, between nextUpdate and the extensions, and are compared in place, so
 * that no copy of a CRL of a million entries is made here (the frame and the
 * template's copy of the entries are the two there are).
 */
static int tbs_crl_is_der(DT_TBS_CRL *t, const unsigned char *der, size_t len)
{
	ASN1_STRING *revoked = t->revoked;
	const unsigned char *p = der, *q, *rev = revoked ? ASN1_STRING_get0_data(revoked) : NULL;
	unsigned char *rest = NULL;
	long body = 0, rest_body = 0;
	int tag = 0, cls = 0, n, ok = 0;
	size_t rlen = revoked ? (size_t)ASN1_STRING_length(revoked) : 0, exts = 0, head;

	t->revoked = NULL;
	n = ASN1_item_i2d((ASN1_VALUE *)t, &rest, ASN1_ITEM_rptr(DT_TBS_CRL));
	t->revoked = revoked;
	q = rest;
	if (t->extensions)
		exts = (size_t)ASN1_object_size(1, ASN1_STRING_length(t->extensions), 0);
	/* One SEQUENCE, its length in DER's form (the size DER gives it is len), of the
	 * fields without the entries and then the entries. */
	if (n > 0 && len <= LONG_MAX &&
	    ASN1_get_object(&p, &body, &tag, &cls, (long)len) == V_ASN1_CONSTRUCTED &&
	    tag == V_ASN1_SEQUENCE && cls == V_ASN1_UNIVERSAL &&
	    (size_t)ASN1_object_size(1, body, V_ASN1_SEQUENCE) == len &&
	    ASN1_get_object(&q, &rest_body, &tag, &cls, n) == V_ASN1_CONSTRUCTED &&
	    (size_t)rest_body == (size_t)body - rlen && (size_t)rest_body >= exts) {
		head = (size_t)rest_body - exts;
		ok = memcmp(p, q, head) == 0 && (!rlen || memcmp(p + head, rev, rlen) == 0) &&
		     memcmp(p + head + rlen, q + head, exts) == 0;
	}
	OPENSSL_free(rest);
	return ok;
}

/* Whether the issuer (a Name's DER, undecoded) is the CA's subject byte for byte:
 * X509_NAME_cmp compares canonical forms, which fold case and spaces. */
static int same_name(const ASN1_STRING *issuer, const X509 *ca)
{
	const unsigned char *der = NULL;
	size_t len = 0;

	return X509_NAME_get0_der(X509_get_subject_name(ca), &der, &len) == 1 &&
	       (size_t)ASN1_STRING_length(issuer) == len &&
	       memcmp(ASN1_STRING_get0_data(issuer), der, len) == 0;
}

/* Whether this and next update are strict times, thisUpdate near the signer's clock,
 * and nextUpdate after it by at most KEYD_CRL_MAX_S (RFC 5280 section 5.1.2.4, 5.1.2.5). */
static int crl_times_allowed(const DT_TBS_CRL *t, int64_t clock)
{
	time_t now = (time_t)(clock ? clock : dt_now()), ahead = now + KEYD_CRL_AHEAD_S,
	       behind = now - KEYD_CRL_BEHIND_S;
	int day = 0, sec = 0;

	return time_strict(t->this_update) && time_strict(t->next_update) &&
	       X509_cmp_time(t->this_update, &ahead) < 0 &&
	       X509_cmp_time(t->this_update, &behind) > 0 &&
	       ASN1_TIME_diff(&day, &sec, t->this_update, t->next_update) == 1 &&
	       (day > 0 || (day == 0 && sec > 0)) && (int64_t)day * 86400 + sec <= KEYD_CRL_MAX_S;
}

static dt_code not_der_v2_crl(struct dt_error *err)
{
	return dt_fail(err, DT_ERR_INVALID,
		       "refused: not a DER version 2 CRL (RFC 5280 section 5.1)");
}

/*
 * What a CA may sign as its CRL, which is what crl.c builds: a DER version 2 CRL (RFC
 * 5280 section 5.1.2.1) whose signature algorithm is the CA key's (5.1.2.2), whose
 * issuer is the CA's subject byte for byte (5.1.2.3), with strict update times near
 * now (crl_times_allowed), entries as entries_allowed, and as extensions the AKI and
 * the CRL number (crl_exts_allowed). Sizes are checked before anything is decoded in
 * bulk (the issuer, the entries and the extensions stay bytes in the template); the
 * whole check is linear in the CRL's size, the cheap parts first.
 */
static dt_code check_tbs_crl(const struct keyd_signer *sg, const struct held_key *h, DT_TBS_CRL *t,
			     const unsigned char *der, size_t len, struct dt_error *err)
{
	if (!t->version || ASN1_INTEGER_get(t->version) != 1)
		return not_der_v2_crl(err);
	if (!alg_is_keys(t->sig_alg, h->key))
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: the CRL's signature algorithm is not the CA key's (RFC "
			       "5280 section 5.1.2.2)");
	if (!same_name(t->issuer, h->cert))
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: the CRL's issuer is not the CA's subject (RFC 5280 "
			       "section 5.1.2.3)");
	if (!t->next_update || !crl_times_allowed(t, sg->clock))
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: the CRL's thisUpdate is not now, or its nextUpdate is "
			       "missing, not after it or more than %d days later, or a time is "
			       "not as RFC 5280 section 5.1.2.4 writes it",
			       KEYD_CRL_MAX_S / 86400);
	if (!crl_exts_allowed(t->extensions))
		return dt_fail(err, DT_ERR_INVALID,
			       "refused: a CRL's extensions are its authority key identifier and "
			       "CRL number, once each, not critical (RFC 5280 section 5.2)");
	if (t->revoked && !entries_allowed(t->revoked))
		return dt_fail(
		    err, DT_ERR_INVALID,
		    "refused: an entry is not a DER revokedCertificate with a positive "
		    "serial of at most 20 octets, a strict date and at most a reasonCode "
		    "(RFC 5280 section 5.1.2.6), or the list is empty");
	/* Last: it reads the whole CRL once more. */
	return tbs_crl_is_der(t, der, len) ? DT_OK : not_der_v2_crl(err);
}

/* Signs the to-be-signed CRL f->b as the CA of f->name: the answer is the signature
 * value alone, which the server puts into its CRL and verifies. */
static void sign_crl(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r)
{
	struct held_key *h = NULL;
	const unsigned char *p = f->b;
	DT_TBS_CRL *t = NULL;

	if ((r->status = issuer_key(sg, f->name, f->a, f->h.len[0], &h, &r->err)) != DT_OK ||
	    (r->status = check_issuer(h->cert, KU_CRL_SIGN, f->name, &r->err)) != DT_OK)
		return;
	t = f->h.len[1] ? (DT_TBS_CRL *)ASN1_item_d2i(NULL, &p, (long)f->h.len[1],
						      ASN1_ITEM_rptr(DT_TBS_CRL))
			: NULL;
	if (!t || p != f->b + f->h.len[1])
		r->status =
		    dt_fail(&r->err, DT_ERR_INVALID, "the CRL to sign is not one DER TBSCertList");
	else if ((r->status = check_tbs_crl(sg, h, t, f->b, f->h.len[1], &r->err)) == DT_OK)
		r->status = sign_sent(h, f, r);
	ASN1_item_free((ASN1_VALUE *)t, ASN1_ITEM_rptr(DT_TBS_CRL));
	ERR_clear_error();
}

/* A key for a new CA: generated here and kept here; the server gets its public half. */
static void genkey(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r)
{
	char curve[8];
	EVP_PKEY *key = NULL;
	struct held_key *h;
	int unsaved = 0, oldest = -1;

	if (f->h.len[0] >= sizeof(curve)) {
		r->status = dt_fail(&r->err, DT_ERR_INVALID, "unknown curve");
		return;
	}
	memcpy(curve, f->a, f->h.len[0]);
	curve[f->h.len[0]] = '\0';
	if (strcmp(curve, "P-256") != 0 && strcmp(curve, "P-384") != 0) {
		r->status =
		    dt_fail(&r->err, DT_ERR_INVALID, "CA keys are P-256 or P-384, not %s", curve);
		return;
	}
	for (int i = 0; i < sg->n; i++) {
		if (sg->keys[i].file[0])
			continue;
		unsaved++;
		if (oldest < 0 || sg->keys[i].made < sg->keys[oldest].made)
			oldest = i;
	}
	/* A creation that failed before it saved its key leaves it here: the oldest goes. */
	if (unsaved >= KEYD_MAX_PENDING)
		drop(sg, oldest);
	if (sg->n == KEYD_MAX_KEYS) {
		r->status = dt_fail(&r->err, DT_ERR_INTERNAL, "the signer holds %d keys, its limit",
				    KEYD_MAX_KEYS);
		return;
	}
	if ((r->status = ca_key_generate(curve, &key, &r->err)) != DT_OK)
		return;
	if ((r->len = i2d_PUBKEY(key, &r->der)) <= 0) {
		EVP_PKEY_free(key);
		r->status = dt_fail(&r->err, DT_ERR_CRYPTO, "cannot encode a public key");
		return;
	}
	h = &sg->keys[sg->n++];
	memset(h, 0, sizeof(*h));
	h->key = key;
	h->certifiable = 1;
	h->made = ++sg->made;
}

static void savekey(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r)
{
	const unsigned char *p = f->a;
	EVP_PKEY *pub = NULL;
	int i, old;

	if ((r->status = check_file(f->name, &r->err)) != DT_OK)
		return;
	pub = f->h.len[0] ? d2i_PUBKEY(NULL, &p, (long)f->h.len[0]) : NULL;
	if (!pub || p != f->a + f->h.len[0] || (i = find_generated(sg, pub, 2)) < 0) {
		r->status = dt_fail(&r->err, DT_ERR_STATE,
				    "no key generated by the signer and not yet saved has this "
				    "public key (was the signer restarted?)");
		goto out;
	}
	/* O_EXCL: never over another key file. */
	if ((r->status = ca_key_save(&sg->ctx, f->name, sg->keys[i].key, &r->err)) != DT_OK)
		goto out;
	/* A key of that name held before was removed from disk since (a CA creation that
	 * was rolled back): it goes. */
	if ((old = find_file(sg, f->name)) >= 0) {
		drop(sg, old);
		i = find_generated(sg, pub, 2);
	}
	snprintf(sg->keys[i].file, sizeof(sg->keys[i].file), "%s", f->name);
out:
	EVP_PKEY_free(pub);
}

/* A new root of trust of its own (the Admin CA), for a key generated here. */
static void sign_self(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r)
{
	X509 *x = f->h.len[1] <= KEYD_MAX_CERT ? ca_der_cert(f->b, f->h.len[1]) : NULL;
	EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
	const X509_ALGOR *alg = NULL;
	struct held_key *h;
	int i;

	if (!pub || X509_get_version(x) != X509_VERSION_3 ||
	    (X509_get_extension_flags(x) & EXFLAG_INVALID)) {
		r->status = dt_fail(&r->err, DT_ERR_INVALID,
				    "the certificate to sign is not one DER version 3 certificate "
				    "of at most %d bytes",
				    KEYD_MAX_CERT);
		goto out;
	}
	if ((i = find_generated(sg, pub, 1)) < 0) {
		r->status = dt_fail(&r->err, DT_ERR_STATE,
				    "refused: a self-signed certificate for a key the signer did "
				    "not generate for a new CA");
		goto out;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)) != 0) {
		r->status = dt_fail(&r->err, DT_ERR_INVALID,
				    "refused: a self-signed certificate names itself as issuer");
		goto out;
	}
	if ((r->status = check_new_ca(x, &r->err)) != DT_OK)
		goto out;
	h = &sg->keys[i];
	X509_get0_signature(NULL, &alg, x);
	if (!alg_is_keys(alg, h->key)) {
		r->status = dt_fail(&r->err, DT_ERR_INVALID,
				    "refused: the signature algorithm is not the new CA key's (RFC "
				    "5280 section 4.1.1.2)");
		goto out;
	}
	if ((r->status = sign_as_sent(h, x, f, r)) != DT_OK)
		goto out;
	h->certifiable = 0;
	X509_free(h->cert);
	h->cert = x;
	x = NULL;
out:
	X509_free(x);
}

static void ping(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r)
{
	(void)sg;
	(void)f;
	(void)r;
}

static void unlock(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r)
{
	struct held_key *h;

	r->status = issuer_key(sg, f->name, f->a, f->h.len[0], &h, &r->err);
}

/* Each request (keyd.h) and the parts of a frame it may carry: a request with any other
 * part, or with a status, is refused. */
#define PART_NAME 1u
#define PART_A 2u
#define PART_B 4u
static const struct {
	void (*fn)(struct keyd_signer *sg, const struct keyd_frame *f, struct reply *r);
	unsigned parts;
} requests[] = {
    [KEYD_PING] = {ping, 0},
    [KEYD_UNLOCK] = {unlock, PART_NAME | PART_A},
    [KEYD_SIGN_CERT] = {sign_cert, PART_NAME | PART_A | PART_B},
    [KEYD_SIGN_CRL] = {sign_crl, PART_NAME | PART_A | PART_B},
    [KEYD_GENKEY] = {genkey, PART_A},
    [KEYD_SAVEKEY] = {savekey, PART_NAME | PART_A},
    [KEYD_SIGN_SELF] = {sign_self, PART_B},
};

/* CRLs from this size on (about 1,300 entries) are followed by a heap trim. */
#define KEYD_TRIM_CRL_BYTES (64 * 1024)

/* Answers one request; -1 if the answer could not be written. */
static int answer(struct keyd_signer *sg, int fd, const struct keyd_frame *f)
{
	unsigned parts = (f->h.name_len ? PART_NAME : 0) | (f->h.len[0] ? PART_A : 0) |
			 (f->h.len[1] ? PART_B : 0);
	struct reply r;
	int w;

	memset(&r, 0, sizeof(r));
	if (f->h.op >= sizeof(requests) / sizeof(requests[0]) || !requests[f->h.op].fn)
		r.status = dt_fail(&r.err, DT_ERR_INVALID, "unknown request %u", f->h.op);
	else if (f->h.status != 0 || (parts & ~requests[f->h.op].parts))
		r.status = dt_fail(&r.err, DT_ERR_INVALID,
				   "request %u carries a status or a part it has not", f->h.op);
	else
		requests[f->h.op].fn(sg, f, &r);
	ERR_clear_error();
	if (r.status == DT_OK)
		w = keyd_write(fd, 0, DT_OK, NULL, r.der, r.der ? (size_t)r.len : 0, NULL, 0);
	else
		w = keyd_write(fd, 0, (uint8_t)r.status, NULL, r.err.msg, strlen(r.err.msg), NULL,
			       0);
	OPENSSL_free(r.der);
	return w;
}

int keyd_serve(struct keyd_signer *sg, int fd)
{
	struct keyd_frame f;
	int rc =
	    keyd_read(fd, &f, KEYD_MAX_CERT, KEYD_MAX_TBS) == 0 && answer(sg, fd, &f) == 0 ? 0 : -1;

	keyd_frame_free(&f);
	/* A large CRL was a frame of its size and a parsed copy of its entries: once both
	 * are freed, give the memory back, or the signer keeps the peak of the largest CRL
	 * it ever signed (the soak, RELIABILITY.md). */
	if (f.h.op == KEYD_SIGN_CRL && f.h.len[1] >= KEYD_TRIM_CRL_BYTES)
		dt_heap_give_back();
	return rc;
}

struct keyd_signer *keyd_signer_new(const char *data_dir, const char *passphrase_file)
{
	struct keyd_signer *sg = calloc(1, sizeof(*sg));

	if (!sg)
		return NULL;
	pthread_mutex_init(&sg->ctx.keys_mu, NULL);
	if (!(sg->ctx.data_dir = strdup(data_dir)) ||
	    (passphrase_file && !(sg->ctx.passphrase_file = strdup(passphrase_file)))) {
		keyd_signer_free(sg);
		return NULL;
	}
	return sg;
}

void keyd_signer_set_clock(struct keyd_signer *sg, int64_t now)
{
	sg->clock = now;
}

void keyd_signer_free(struct keyd_signer *sg)
{
	if (!sg)
		return;
	while (sg->n > 0)
		drop(sg, sg->n - 1);
	pthread_mutex_destroy(&sg->ctx.keys_mu);
	free(sg->ctx.data_dir);
	free(sg->ctx.passphrase_file);
	free(sg);
}

/* Before anything else: nothing of this process can be read by the server (same user)
 * or dumped to disk; keyd_confine (keyd_sandbox.c) then closes the rest. */
static int harden(int nconns)
{
	struct stat st;

	/* Non-dumpable: no core file either. The core limit and no_new_privs come with
	 * keyd_confine, before the first request. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
		return -1;
	/* The server's descriptors (listeners, the store) were closed before exec already. */
	keyd_close_from(3 + nconns);
	for (int i = 0; i < nconns; i++)
		if (fstat(3 + i, &st) != 0 || !S_ISSOCK(st.st_mode))
			return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* What OpenSSL would otherwise load on first use, under the filter: its configuration
 * (and any provider it names) and the random generator's seed. */
static dt_code load_openssl(struct dt_error *err)
{
	unsigned char b;

	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 || RAND_bytes(&b, 1) != 1)
		return dt_fail(err, DT_ERR_CRYPTO, "cannot initialise OpenSSL");
	return DT_OK;
}

int ca_keyd_main(const char *data_dir, const char *passphrase_file, int nconns)
{
	struct pollfd pfd[KEYD_CONNS];
	struct keyd_signer *sg = NULL;
	struct dt_error err;
	int open, rc = 0;

	if (nconns < 1 || nconns > KEYD_CONNS || harden(nconns) != 0) {
		fprintf(stderr,
			"{\"event\":\"signer-refused\",\"error\":\"the key signer runs only "
			"as devtrust serve's child, on its sockets\"}\n");
		return 2;
	}
	if (!(sg = keyd_signer_new(data_dir, passphrase_file)))
		return 1;
	/* A signer that cannot confine itself does not serve: the server retries, logs its
	 * exits, and fails to start if the first one fails. */
	if (load_openssl(&err) != DT_OK || keyd_confine(&err) != DT_OK) {
		fprintf(stderr, "{\"event\":\"signer-refused\",\"error\":\"%s\"}\n", err.msg);
		keyd_signer_free(sg);
		return 2;
	}
	for (int i = 0; i < nconns; i++)
		pfd[i] = (struct pollfd){3 + i, POLLIN, 0};
	/* One request at a time; the signer ends when the server closes every connection. */
	for (open = nconns; open > 0;) {
		if (poll(pfd, (nfds_t)nconns, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = 1;
			break;
		}
		for (int i = 0; i < nconns; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (keyd_serve(sg, pfd[i].fd) != 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open--;
			}
		}
	}
	keyd_signer_free(sg);
	return rc;
}
