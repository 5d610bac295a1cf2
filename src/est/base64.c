/*
 * The base64 transfer encoding of EST bodies (RFC 7030 section 4: every
 * PKCS#7, PKCS#10 and CSR attributes body is sent base64-encoded), in and out,
 * through OpenSSL's EVP_Decode and EVP_Encode.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "est/est.h"

static int b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

static int b64_space(unsigned char c)
{
	return c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

dt_code est_body_decode(const unsigned char *in, size_t len, unsigned char **out, size_t *out_len,
			struct dt_error *err)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	size_t chars = 0;
	int n = 0, fin = 0;
	dt_code rc;

	*out = NULL;
	*out_len = 0;
	if (len > DT_MAX_EST_BODY)
		return dt_fail(err, DT_ERR_INVALID,
			       "request body is %zu bytes; the limit is %d (base64 of a %d-byte "
			       "CSR, RFC 7030 section 4.2.1)",
			       len, DT_MAX_EST_BODY, DT_MAX_CSR_BYTES);
	/* EVP_DecodeUpdate stops silently at '-' and skips other junk in some
	 * versions, so the alphabet is checked here first. */
	for (size_t i = 0; i < len; i++) {
		if (b64_char(in[i]))
			chars++;
		else if (!b64_space(in[i]))
			return dt_fail(err, DT_ERR_INVALID,
				       "request body is not base64 (RFC 7030 section 4.2.1): byte "
				       "0x%02x at offset %zu",
				       in[i], i);
	}
	if (chars == 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "request body is empty: want a base64 PKCS#10 request (RFC 7030 "
			       "section 4.2.1)");
	if (chars % 4 != 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "request body is not base64: %zu characters, not a multiple of 4 "
			       "(RFC 4648 section 4)",
			       chars);
	if (!(ctx = EVP_ENCODE_CTX_new()) || !(buf = OPENSSL_malloc(chars / 4 * 3 + 3))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &n, in, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, buf + n, &fin) < 0) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "request body is not valid base64 (RFC 4648 section 4: padding only "
			     "at the end)");
		goto out;
	}
	n += fin;
	if (n <= 0 || (size_t)n > DT_MAX_CSR_BYTES) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "decoded request is %d bytes; want 1 to %d (DT_MAX_CSR_BYTES)", n,
			     DT_MAX_CSR_BYTES);
		goto out;
	}
	*out = buf;
	*out_len = (size_t)n;
	buf = NULL;
	rc = DT_OK;
out:
	OPENSSL_free(buf);
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

dt_code est_reply_set(struct dt_est_reply *r, const unsigned char *data, size_t len,
		      const char *content_type, struct dt_error *err)
{
	EVP_ENCODE_CTX *ctx = NULL;
	size_t cap;
	int n = 0, fin = 0;
	dt_code rc = DT_OK;

	free(r->body);
	r->body = NULL;
	r->len = 0;
	/* EVP_EncodeUpdate takes an int; a reply is a few certificates. */
	if (len > INT_MAX / 2)
		return dt_fail(err, DT_ERR_INTERNAL, "reply of %zu bytes is too large", len);
	/* 48 input bytes per 64-character line plus its newline, and the last line. */
	cap = (len / 48 + 2) * 65 + 1;
	if (!(ctx = EVP_ENCODE_CTX_new()) || !(r->body = malloc(cap))) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	EVP_EncodeInit(ctx);
	if (len > 0 && EVP_EncodeUpdate(ctx, (unsigned char *)r->body, &n, data, (int)len) != 1) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "cannot base64-encode the reply");
		goto out;
	}
	EVP_EncodeFinal(ctx, (unsigned char *)r->body + n, &fin);
	r->len = (size_t)n + (size_t)fin;
	r->body[r->len] = '\0';
	r->content_type = content_type;
out:
	if (rc != DT_OK) {
		free(r->body);
		r->body = NULL;
	}
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

void dt_est_reply_free(struct dt_est_reply *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}
