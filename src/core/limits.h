/*
 * Every size and count limit on outside input, in one place, each with the
 * reason for its value. Parsers name the limit in their errors.
 */
#ifndef DT_LIMITS_H
#define DT_LIMITS_H

/* A P-384 or RSA-4096 CSR with a few attributes is under 2 KiB; 16 KiB leaves
 * room for PEM armour and extensions without admitting memory abuse. */
#define DT_MAX_CSR_BYTES (16 * 1024)
/* RFC 5280 section 4.1.2.2: serial numbers are at most 20 octets. */
#define DT_MAX_SERIAL_OCTETS 20
/* Our serials are 16 random octets (128 bits); hex text is 32 characters. */
#define DT_SERIAL_OCTETS 16
/* Device ids go into the CN, a URN and an HTTP Basic user name. X.520 ub-common-name = 64. */
#define DT_MAX_ID_LEN 64
/* X.520 ub-serial-number = 64. */
#define DT_MAX_SERIAL_LEN 64
/* Free-text inventory fields (owner, location, model...). */
#define DT_MAX_FIELD_LEN 256
/* Class and CA names appear in URL paths (/.well-known/est/<class>, /crl/<ca>.crl). */
#define DT_MAX_NAME_LEN 64
/* A CA's CN is "<name> Issuing CA" and X.520 ub-common-name is 64 (RFC 5280 appendix A). */
#define DT_MAX_CA_NAME_LEN 47
/* The root's CN is "<org> Root CA"; the org is also the O of every subject. */
#define DT_MAX_ORG_LEN 56
/* Reasons written into the audit log. */
#define DT_MAX_REASON_LEN 512
/* One CSV line of the import file: nine fields of at most 256 bytes plus quoting. */
#define DT_MAX_CSV_LINE (4 * 1024)
/* A fleet import larger than this should be split: it is one transaction. */
#define DT_MAX_CSV_ROWS (10 * 1000 * 1000)
/* The public URL is copied into every certificate's AIA and CRL DP. */
#define DT_MAX_URL_LEN 200
/* Passphrases read from files or the environment. */
#define DT_MAX_PASSPHRASE_LEN 1024
/* One OCSP request (RFC 6960 section 4.1.1). An RFC 5019 request is about 100
 * bytes; eight SHA-512 CertIDs and a 128-octet nonce fit in 1.5 KiB. Signed
 * requests carrying certificate chains are not part of RFC 5019's profile. */
#define DT_MAX_OCSP_REQUEST_BYTES 4096
/* CertIDs in one OCSP request: RFC 5019 section 2.1.1 sends exactly one; a few
 * more serve RFC 6960 clients, while each costs a lookup and a SingleResponse. */
#define DT_MAX_OCSP_CERTIDS 8
/* Lifetimes: at least one minute, at most 20 years (the root's lifetime). */
#define DT_MIN_LIFETIME_S 60
#define DT_MAX_LIFETIME_S (20LL * 366 * 24 * 3600)
/* A delegated OCSP signer carries id-pkix-ocsp-nocheck: its stolen key is trusted
 * until it expires, so RFC 6960 section 4.2.2.2.1 advises a short lifetime, renewed
 * often. At most a year (the default); shorter with --ocsp-lifetime. */
#define DT_MAX_OCSP_SIGNER_LIFETIME_S (366LL * 24 * 3600)

/* An EST request body (RFC 7030 section 4.2.1) is the base64 of a DER CSR:
 * 4/3 of DT_MAX_CSR_BYTES plus a line break (CRLF) every 64 characters. */
#define DT_MAX_EST_BODY ((((DT_MAX_CSR_BYTES + 2) / 3) * 4 / 64 + 1) * 66)
/* An Authorization header with Basic credentials (RFC 7617): a device id, a
 * colon and a 32-character token take about 130 characters of base64; 1 KiB
 * leaves room for other clients' user names without admitting abuse. */
#define DT_MAX_BASIC_HEADER 1024
/* A manufacturer trust anchor file: one CA certificate, PEM or DER. */
#define DT_MAX_ANCHOR_BYTES (16 * 1024)
/* Certificates a TLS client may send above its own (IDevID intermediates);
 * also the verification depth. IEEE 802.1AR chains are two or three deep. */
#define DT_MAX_CHAIN_DEPTH 8
/* Manufacturer anchors considered when authenticating one IDevID. */
#define DT_MAX_ANCHORS 1024

/* Backend verification (src/verify, /authz). A leaf certificate with the chain
 * its owner sent, PEM, as a relying party passes it: an RSA-4096 leaf is about
 * 2 KiB of DER, 3 KiB of PEM; 12 KiB holds it with two intermediates and stays
 * under the server's 16 KiB of request headers (HTTP_MAX_HEADERS) once nginx
 * has URL-escaped it into a header. */
#define DT_MAX_VERIFY_CERT_BYTES (12 * 1024)
/* The request target a backend asks about (RFC 9112 section 3 recommends
 * supporting at least 8000 octets; the routes of device APIs are short). */
#define DT_MAX_VERIFY_PATH 2048
/* A policy's path pattern: a route prefix with wildcards. */
#define DT_MAX_PATTERN_LEN 256
/* Policies of one class: each decision scans its class's rules. */
#define DT_MAX_POLICIES_PER_CLASS 1024
/* A source address for clone detection: IPv6 with a zone, or a MAC address
 * (RADIUS Calling-Station-Id). */
#define DT_MAX_PEER_LEN 63
/* An HTTP method name (RFC 9110 section 9.1: a token); ours are at most 7. */
#define DT_MAX_METHOD_LEN 16

#endif
