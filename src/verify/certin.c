/*
 * The certificate a relying party hands over: DER, or PEM (possibly with the
 * chain the device sent), or PEM percent-encoded the way nginx's
 * $ssl_client_escaped_cert carries it. Only OpenSSL's PEM reader and ASN.1
 * header parser touch it here; the certificate itself is decoded later, and
 * only when no decision about the same bytes is in memory.
 */
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "verify/verify.h"

/* One DER SEQUENCE with a definite length and nothing after it. */
static dt_code check_der(const unsigned char *der, size_t len, struct dt_error *err)
{
	const unsigned char *p = der;
	long body = 0;
	int tag = 0, xclass = 0, r;

	if (len < 2)
		return dt_fail(err, DT_ERR_INVALID, "certificate is %zu bytes: too short", len);
	r = ASN1_get_object(&p, &body, &tag, &xclass, (long)len);
	if ((r & 0x80) || r != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    xclass != V_ASN1_UNIVERSAL)
		return dt_fail(err, DT_ERR_INVALID,
			       "certificate is not a DER SEQUENCE with a definite length (RFC 5280 "
			       "section 4.1, X.690 section 10.1)");
	if ((size_t)(p - der) + (size_t)body != len)
		return dt_fail(err, DT_ERR_INVALID,
			       "certificate DER is %zu bytes but its header says %zu", len,
			       (size_t)(p - der) + (size_t)body);
	return DT_OK;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Reads one PEM block that must be a certificate; *data OPENSSL_malloc'ed. */
static dt_code read_pem_cert(BIO *b, unsigned char **data, long *dlen, struct dt_error *err)
{
	char *name = NULL, *header = NULL;
	dt_code rc = DT_OK;

	*data = NULL;
	if (PEM_read_bio(b, &name, &header, data, dlen) != 1)
		rc =
		    dt_fail(err, DT_ERR_INVALID,
			    "certificate PEM is malformed (RFC 7468 section 2: BEGIN line, base64, "
			    "END line)");
	else if (strcmp(name, "CERTIFICATE") != 0)
		rc = dt_fail(err, DT_ERR_INVALID,
			     "PEM block is '%.40s', want CERTIFICATE (RFC 7468 section 5)", name);
	else if (header && *header)
		rc = dt_fail(err, DT_ERR_INVALID,
			     "certificate PEM has headers (RFC 7468 section 2)");
	else if (*dlen <= 0)
		rc = dt_fail(err, DT_ERR_INVALID, "certificate PEM is empty");
	OPENSSL_free(name);
	OPENSSL_free(header);
	if (rc != DT_OK) {
		OPENSSL_free(*data);
		*data = NULL;
	}
	return rc;
}

dt_code verify_leaf_der(const unsigned char *in, size_t len, unsigned char **buf,
			const unsigned char **der, size_t *der_len, struct dt_error *err)
{
	static const char begin[] = "-----BEGIN ";
	static const char begin_cert[] = "-----BEGIN CERTIFICATE-----";
	BIO *b = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	size_t i = 0;
	dt_code rc;

	*buf = NULL;
	*der = NULL;
	*der_len = 0;
	if (len > DT_MAX_VERIFY_CERT_BYTES)
		return dt_fail(err, DT_ERR_INVALID,
			       "certificate input is %zu bytes; the limit is %d "
			       "(DT_MAX_VERIFY_CERT_BYTES)",
			       len, DT_MAX_VERIFY_CERT_BYTES);
	while (i < len && is_space(in[i]))
		i++;
	if (len - i < sizeof(begin) - 1 || memcmp(in + i, begin, sizeof(begin) - 1) != 0) {
		if ((rc = check_der(in, len, err)) != DT_OK)
			return rc;
		*der = in;
		*der_len = len;
		return DT_OK;
	}
	if (!(b = BIO_new_mem_buf(in + i, (int)(len - i))))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = read_pem_cert(b, &data, &dlen, err)) != DT_OK ||
	    (rc = check_der(data, (size_t)dlen, err)) != DT_OK)
		goto out;
	/* Anything after the leaf must be the device's chain: more certificates. */
	for (;;) {
		char *rest = NULL;
		long n = BIO_get_mem_data(b, &rest), k = 0;
		unsigned char *more = NULL;
		long mlen = 0;

		while (k < n && is_space((unsigned char)rest[k]))
			k++;
		if (k == n)
			break;
		if ((size_t)(n - k) < sizeof(begin_cert) - 1 ||
		    memcmp(rest + k, begin_cert, sizeof(begin_cert) - 1) != 0) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "certificate PEM has trailing data that is not a certificate");
			goto out;
		}
		rc = read_pem_cert(b, &more, &mlen, err);
		OPENSSL_free(more);
		if (rc != DT_OK)
			goto out;
	}
	*buf = data;
	*der = data;
	*der_len = (size_t)dlen;
	data = NULL;
out:
	OPENSSL_free(data);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

dt_code verify_unescape(const char *in, size_t max_out, char **out, size_t *out_len,
			struct dt_error *err)
{
	size_t n = strlen(in), o = 0;
	char *buf;

	*out = NULL;
	*out_len = 0;
	/* Each output byte takes at most three input bytes. */
	if (n / 3 > max_out)
		return dt_fail(err, DT_ERR_INVALID,
			       "escaped certificate is %zu bytes; the limit is %zu decoded", n,
			       max_out);
	if (!(buf = malloc(n + 1)))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (in[i] != '%') {
			buf[o++] = in[i];
			continue;
		}
		if (i + 2 >= n || (hi = OPENSSL_hexchar2int((unsigned char)in[i + 1])) < 0 ||
		    (lo = OPENSSL_hexchar2int((unsigned char)in[i + 2])) < 0) {
			free(buf);
			return dt_fail(err, DT_ERR_INVALID,
				       "escaped certificate has a bad percent-encoding at byte %zu "
				       "(RFC 3986 section 2.1)",
				       i + 1);
		}
		buf[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	if (o > max_out) {
		free(buf);
		return dt_fail(
		    err, DT_ERR_INVALID,
		    "certificate is %zu bytes; the limit is %zu (DT_MAX_VERIFY_CERT_BYTES)", o,
		    max_out);
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return DT_OK;
}

/* The id at the end of "urn:devtrust:<org>:<class>:<id>". */
static int urn_device(const ASN1_IA5STRING *uri, const char *org, char id[DT_ID_BUF])
{
	const char *s = (const char *)ASN1_STRING_get0_data(uri);
	size_t n = (size_t)ASN1_STRING_length(uri), ol = strlen(org);
	const char *cls, *dev;
	struct dt_error ignored;

	if (n < 13 + ol + 3 || memcmp(s, "urn:devtrust:", 13) != 0 ||
	    memcmp(s + 13, org, ol) != 0 || s[13 + ol] != ':' || memchr(s, '\0', n))
		return 0;
	cls = s + 13 + ol + 1;
	dev = memchr(cls, ':', n - (size_t)(cls - s));
	if (!dev || (size_t)(s + n - dev - 1) >= DT_ID_BUF)
		return 0;
	memcpy(id, dev + 1, (size_t)(s + n - dev - 1));
	id[s + n - dev - 1] = '\0';
	return dt_check_id("device id", id, &ignored) == DT_OK;
}

int verify_claimed_device(X509 *x, const char *org, char id[DT_ID_BUF])
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const X509_NAME *subj = X509_get_subject_name(x);
	int found = 0, i;
	struct dt_error ignored;

	id[0] = '\0';
	for (i = 0; sans && !found && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_URI)
			found = urn_device(gn->d.uniformResourceIdentifier, org, id);
	}
	GENERAL_NAMES_free(sans);
	if (!found && subj && (i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1)) >= 0) {
		const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		int n = ASN1_STRING_length(cn);
		if (n > 0 && n < DT_ID_BUF) {
			memcpy(id, ASN1_STRING_get0_data(cn), (size_t)n);
			id[n] = '\0';
			found = !memchr(id, '\0', (size_t)n) &&
				dt_check_id("device id", id, &ignored) == DT_OK;
		}
	}
	if (!found)
		id[0] = '\0';
	return found;
}

dt_code verify_keyid_normalize(const char *in, char out[DT_SHA256_HEX_BUF * 2],
			       struct dt_error *err)
{
	size_t o = 0;

	out[0] = '\0';
	if (strncasecmp(in, "keyid:", 6) == 0)
		in += 6;
	for (; *in; in++) {
		char c = *in;
		if (c == ':' || is_space((unsigned char)c))
			continue;
		if (OPENSSL_hexchar2int((unsigned char)c) < 0 || o + 1 >= DT_SHA256_HEX_BUF * 2)
			return dt_fail(
			    err, DT_ERR_INVALID,
			    "issuer key identifier must be hex (RFC 5280 section 4.2.1.1), "
			    "at most 64 bytes");
		out[o++] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
	}
	out[o] = '\0';
	if (o == 0 || o % 2)
		return dt_fail(err, DT_ERR_INVALID,
			       "issuer key identifier must be an even number of hex digits");
	return DT_OK;
}
