/*
 * HTTP Basic credentials (RFC 7617) from an Authorization header: the EST
 * bootstrap sends the device id as user and its enrollment token as password.
 * Strict on purpose: one scheme, canonical base64, no control characters.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "est/est.h"

static int b64_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Checks token68 as canonical base64 and returns its padding count, or -1. */
static int b64_padding(const char *s, size_t n)
{
	size_t i = 0;
	int pad;

	if (n == 0 || n % 4 != 0)
		return -1;
	while (i < n && b64_alpha(s[i]))
		i++;
	pad = (int)(n - i);
	if (pad > 2)
		return -1;
	for (; i < n; i++)
		if (s[i] != '=')
			return -1;
	return pad;
}

dt_code dt_http_basic_parse(const char *header, char *user, size_t user_cap, char *pass,
			    size_t pass_cap, struct dt_error *err)
{
	unsigned char buf[DT_MAX_BASIC_HEADER];
	const char *p, *colon;
	size_t hlen, n, ulen, plen;
	int pad, dec;
	dt_code rc;

	if (user && user_cap)
		user[0] = '\0';
	if (pass && pass_cap)
		pass[0] = '\0';
	if (!user || !pass || user_cap == 0 || pass_cap == 0)
		return dt_fail(err, DT_ERR_INTERNAL, "dt_http_basic_parse: no output buffers");
	if (!header)
		return dt_fail(err, DT_ERR_AUTH, "no Authorization header (RFC 7617 HTTP Basic)");
	hlen = strnlen(header, DT_MAX_BASIC_HEADER + 1);
	if (hlen > DT_MAX_BASIC_HEADER)
		return dt_fail(err, DT_ERR_AUTH,
			       "Authorization header is longer than %d bytes (DT_MAX_BASIC_HEADER)",
			       DT_MAX_BASIC_HEADER);
	/* RFC 7235 section 2.1: the scheme is case-insensitive, then 1*SP. */
	if (hlen < 6 || strncasecmp(header, "Basic", 5) != 0 || header[5] != ' ')
		return dt_fail(err, DT_ERR_AUTH,
			       "Authorization header is not HTTP Basic (RFC 7617 section 2): want "
			       "'Basic <base64 of user:password>'");
	for (p = header + 6; *p == ' '; p++)
		;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if ((pad = b64_padding(p, n)) < 0)
		return dt_fail(err, DT_ERR_AUTH,
			       "Basic credentials are not base64 (RFC 7617 section 2, RFC 4648 "
			       "section 4)");
	/* n <= DT_MAX_BASIC_HEADER - 6, so 3n/4 fits buf. */
	dec = EVP_DecodeBlock(buf, (const unsigned char *)p, (int)n);
	if (dec < pad) {
		rc = dt_fail(err, DT_ERR_AUTH, "Basic credentials are not base64 (RFC 4648)");
		goto out;
	}
	n = (size_t)(dec - pad);
	if (!(colon = memchr(buf, ':', n))) {
		rc = dt_fail(err, DT_ERR_AUTH,
			     "Basic credentials have no ':' between user and password (RFC 7617 "
			     "section 2)");
		goto out;
	}
	ulen = (size_t)(colon - (const char *)buf);
	plen = n - ulen - 1;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] < 0x20 || buf[i] == 0x7f) {
			rc = dt_fail(err, DT_ERR_AUTH,
				     "Basic credentials contain a control character (RFC 7617 "
				     "section 2)");
			goto out;
		}
	}
	if (ulen == 0) {
		rc = dt_fail(err, DT_ERR_AUTH, "Basic credentials have an empty user name");
		goto out;
	}
	if (ulen >= user_cap) {
		rc = dt_fail(err, DT_ERR_AUTH,
			     "Basic user name is %zu bytes; the limit is %zu (a device id)", ulen,
			     user_cap - 1);
		goto out;
	}
	if (plen >= pass_cap) {
		rc = dt_fail(err, DT_ERR_AUTH, "Basic password is longer than %zu bytes",
			     pass_cap - 1);
		goto out;
	}
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, plen);
	pass[plen] = '\0';
	rc = DT_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc != DT_OK) {
		OPENSSL_cleanse(pass, pass_cap);
		user[0] = '\0';
	}
	return rc;
}
