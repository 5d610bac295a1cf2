/*
 * The base64 transfer encoding of EST bodies (RFC 7030 section 4: PKCS#7,
 * PKCS#10 and CSR attributes all travel base64-encoded), through OpenSSL's
 * EVP_Decode and EVP_Encode, with the alphabet checked first.
 */
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include "agent/agent.h"

static int b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

static int b64_space(unsigned char c)
{
	return c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

enum ag_code ag_base64_decode(const unsigned char *in, size_t len, size_t max_out,
			      unsigned char **out, size_t *out_len, struct ag_error *e)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	size_t chars = 0;
	int n = 0, fin = 0;
	enum ag_code rc = AG_OK;

	*out = NULL;
	*out_len = 0;
	if (len > AG_MAX_BODY)
		return ag_fail(e, AG_E_REFUSED, "reply is %zu bytes; the limit is %d", len,
			       AG_MAX_BODY);
	/* EVP_DecodeUpdate stops silently at '-', so the alphabet is checked here. */
	for (size_t i = 0; i < len; i++) {
		if (b64_char(in[i]))
			chars++;
		else if (!b64_space(in[i]))
			return ag_fail(e, AG_E_REFUSED,
				       "reply is not base64 (RFC 7030 section 4): byte 0x%02x at "
				       "offset %zu",
				       in[i], i);
	}
	if (chars == 0 || chars % 4 != 0)
		return ag_fail(e, AG_E_REFUSED,
			       "reply is not base64: %zu characters, want a positive multiple of 4 "
			       "(RFC 4648 section 4)",
			       chars);
	if (chars / 4 * 3 > max_out + 2)
		return ag_fail(e, AG_E_REFUSED, "decoded reply would exceed %zu bytes", max_out);
	if (!(ctx = EVP_ENCODE_CTX_new()) || !(buf = malloc(chars / 4 * 3 + 3))) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory");
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &n, in, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, buf + n, &fin) < 0) {
		rc = ag_fail(e, AG_E_REFUSED,
			     "reply is not valid base64 (RFC 4648 section 4: padding only at the "
			     "end)");
		goto out;
	}
	n += fin;
	if (n <= 0 || (size_t)n > max_out) {
		rc = ag_fail(e, AG_E_REFUSED, "decoded reply is %d bytes; want 1 to %zu", n,
			     max_out);
		goto out;
	}
	*out = buf;
	*out_len = (size_t)n;
	buf = NULL;
out:
	free(buf);
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

enum ag_code ag_base64_encode(const unsigned char *in, size_t len, char **out, size_t *out_len,
			      struct ag_error *e)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	size_t cap;
	int n = 0, fin = 0;
	enum ag_code rc = AG_OK;

	*out = NULL;
	*out_len = 0;
	if (len > INT_MAX / 2)
		return ag_fail(e, AG_E_LOCAL, "%zu bytes are too many to encode", len);
	/* 48 input bytes per 64-character line plus its newline, and the last line. */
	cap = (len / 48 + 2) * 65 + 1;
	if (!(ctx = EVP_ENCODE_CTX_new()) || !(buf = malloc(cap))) {
		rc = ag_fail(e, AG_E_LOCAL, "out of memory");
		goto out;
	}
	EVP_EncodeInit(ctx);
	if (len > 0 && EVP_EncodeUpdate(ctx, buf, &n, in, (int)len) != 1) {
		rc = ag_fail(e, AG_E_LOCAL, "cannot base64-encode the request");
		goto out;
	}
	EVP_EncodeFinal(ctx, buf + n, &fin);
	*out_len = (size_t)n + (size_t)fin;
	buf[*out_len] = '\0';
	*out = (char *)buf;
	buf = NULL;
out:
	free(buf);
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}
