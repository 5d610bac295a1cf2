/*
 * ASN.1 structures the ca module parses with OpenSSL's templates where the
 * stock d2i functions would decode a public key (slow on OpenSSL 3.0): a
 * PKCS#10 request (RFC 2986) and a certificate (RFC 5280), both keeping the
 * SubjectPublicKeyInfo as sent and the signed part's original encoding.
 */
#ifndef DT_CA_ASN1_H
#define DT_CA_ASN1_H

#include <openssl/asn1t.h>
#include <openssl/x509.h>

typedef struct {
	ASN1_ENCODING enc;
	X509_ALGOR *algor;
	ASN1_BIT_STRING *public_key;
} DT_SPKI;

typedef struct {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	X509_NAME *subject;
	DT_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) * attributes;
} DT_CSR_INFO;

struct dt_csr {
	DT_CSR_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
};
typedef struct dt_csr DT_CSR;

typedef struct {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *sig_alg;
	X509_NAME *issuer;
	X509_VAL *validity;
	X509_NAME *subject;
	DT_SPKI *spki;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) * extensions;
} DT_TBS;

typedef struct {
	DT_TBS *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} DT_CERT;

/*
 * A CRL (RFC 5280 section 5.1) that keeps its entries and its extensions as bytes:
 * revoked is the whole revokedCertificates SEQUENCE OF as DER (tag and length
 * included), built or checked one entry at a time, so a CRL of a million entries is
 * one buffer, not an OpenSSL object per entry (X509_CRL: about 600 bytes each);
 * extensions is the crlExtensions SEQUENCE OF inside its [0], which the signer
 * decodes only once it knows its size; issuer is the Name's DER, which the signer
 * compares with the CA's subject without decoding it (a Name of a million RDNs would
 * be a million objects). DT_CRL keeps the signed TBSCertList as the
 * bytes that were signed.
 */
typedef struct {
	ASN1_INTEGER *version;
	X509_ALGOR *sig_alg;
	ASN1_STRING *issuer;
	ASN1_TIME *this_update;
	ASN1_TIME *next_update;
	ASN1_STRING *revoked;
	ASN1_STRING *extensions;
} DT_TBS_CRL;

typedef struct {
	ASN1_STRING *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} DT_CRL;

/* What DECLARE_ASN1_ITEM() expands to, spelled out for the static analysers. */
const ASN1_ITEM *DT_SPKI_it(void);
const ASN1_ITEM *DT_CSR_INFO_it(void);
const ASN1_ITEM *DT_CSR_it(void);
const ASN1_ITEM *DT_TBS_it(void);
const ASN1_ITEM *DT_CERT_it(void);
const ASN1_ITEM *DT_TBS_CRL_it(void);
const ASN1_ITEM *DT_CRL_it(void);

#endif
