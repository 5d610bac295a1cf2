/*
 * Pieces every certificate we build shares: random serials, extensions from
 * OpenSSL's X509V3 configuration syntax, times and fingerprints.
 */
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "ca/ca.h"

dt_code ca_new_serial(ASN1_INTEGER **out, char hex[DT_SERIAL_HEX_BUF], struct dt_error *err)
{
	unsigned char raw[DT_SERIAL_OCTETS];
	BIGNUM *bn = NULL;
	dt_code rc;

	*out = NULL;
	/* RFC 5280 section 4.1.2.2: positive, at most 20 octets; 128 random bits.
	 * A value that is zero in its top byte is still positive and unique. */
	do {
		if ((rc = dt_random(raw, sizeof(raw), err)) != DT_OK)
			return rc;
	} while (raw[0] == 0 && raw[1] == 0);
	dt_hex(raw, sizeof(raw), hex);
	if (!(bn = BN_bin2bn(raw, sizeof(raw), NULL)) || !(*out = BN_to_ASN1_INTEGER(bn, NULL)))
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot encode a serial number");
	BN_free(bn);
	return rc;
}

dt_code ca_add_ext(X509 *x, const X509 *issuer, int nid, const char *value, struct dt_error *err)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext = NULL;
	dt_code rc = DT_OK;

	X509V3_set_ctx(&v3, (X509 *)(issuer ? issuer : x), x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&v3);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) || X509_add_ext(x, ext, -1) != 1)
		rc = dt_fail(err, DT_ERR_CRYPTO, "cannot add extension %s = %s", OBJ_nid2sn(nid),
			     value);
	X509_EXTENSION_free(ext);
	return rc;
}

int64_t ca_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

void ca_fingerprint(const X509 *x, char hex[DT_SHA256_HEX_BUF])
{
	unsigned char md[32];
	unsigned int len = sizeof(md);

	hex[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &len) == 1 && len == 32)
		dt_hex(md, 32, hex);
}
