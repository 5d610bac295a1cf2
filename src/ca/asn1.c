/*
 * The ASN.1 templates behind asn1.h. Declarative only: the parsing is
 * OpenSSL's; the checks live in csr.c and lint.c.
 */
#include "ca/asn1.h"

/* The template macros are not C statements clang-format understands. */
// clang-format off
ASN1_SEQUENCE_enc(DT_SPKI, enc, 0) = {
	ASN1_SIMPLE(DT_SPKI, algor, X509_ALGOR),
	ASN1_SIMPLE(DT_SPKI, public_key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END_enc(DT_SPKI, DT_SPKI)

/* RFC 2986 section 4.1. */
ASN1_SEQUENCE_enc(DT_CSR_INFO, enc, 0) = {
	ASN1_SIMPLE(DT_CSR_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(DT_CSR_INFO, subject, X509_NAME),
	ASN1_SIMPLE(DT_CSR_INFO, spki, DT_SPKI),
	/* Attributes are mandatory in RFC 2986; like OpenSSL, tolerate their absence. */
	ASN1_IMP_SET_OF_OPT(DT_CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} ASN1_SEQUENCE_END_enc(DT_CSR_INFO, DT_CSR_INFO)

ASN1_SEQUENCE(DT_CSR) = {
	ASN1_SIMPLE(DT_CSR, info, DT_CSR_INFO),
	ASN1_SIMPLE(DT_CSR, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(DT_CSR, signature, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(DT_CSR)

/* RFC 5280 section 4.1. */
ASN1_SEQUENCE_enc(DT_TBS, enc, 0) = {
	ASN1_EXP_OPT(DT_TBS, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(DT_TBS, serial, ASN1_INTEGER),
	ASN1_SIMPLE(DT_TBS, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(DT_TBS, issuer, X509_NAME),
	ASN1_SIMPLE(DT_TBS, validity, X509_VAL),
	ASN1_SIMPLE(DT_TBS, subject, X509_NAME),
	ASN1_SIMPLE(DT_TBS, spki, DT_SPKI),
	ASN1_IMP_OPT(DT_TBS, issuer_uid, ASN1_BIT_STRING, 1),
	ASN1_IMP_OPT(DT_TBS, subject_uid, ASN1_BIT_STRING, 2),
	ASN1_EXP_SEQUENCE_OF_OPT(DT_TBS, extensions, X509_EXTENSION, 3),
} ASN1_SEQUENCE_END_enc(DT_TBS, DT_TBS)

ASN1_SEQUENCE(DT_CERT) = {
	ASN1_SIMPLE(DT_CERT, tbs, DT_TBS),
	ASN1_SIMPLE(DT_CERT, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(DT_CERT, signature, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(DT_CERT)

/* RFC 5280 section 5.1.2; ASN1_SEQUENCE keeps a whole SEQUENCE's encoding as it is. */
ASN1_SEQUENCE(DT_TBS_CRL) = {
	ASN1_OPT(DT_TBS_CRL, version, ASN1_INTEGER),
	ASN1_SIMPLE(DT_TBS_CRL, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(DT_TBS_CRL, issuer, ASN1_SEQUENCE),
	ASN1_SIMPLE(DT_TBS_CRL, this_update, ASN1_TIME),
	ASN1_OPT(DT_TBS_CRL, next_update, ASN1_TIME),
	ASN1_OPT(DT_TBS_CRL, revoked, ASN1_SEQUENCE),
	ASN1_EXP_OPT(DT_TBS_CRL, extensions, ASN1_SEQUENCE, 0),
} ASN1_SEQUENCE_END(DT_TBS_CRL)

ASN1_SEQUENCE(DT_CRL) = {
	ASN1_SIMPLE(DT_CRL, tbs, ASN1_SEQUENCE),
	ASN1_SIMPLE(DT_CRL, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(DT_CRL, signature, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(DT_CRL)
