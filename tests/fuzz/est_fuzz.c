/*
 * libFuzzer harness for the EST request parsers: the base64 body of
 * simpleenroll (est_body_decode, then csr_parse as dt_est_enroll does) and
 * the HTTP Basic credentials (dt_http_basic_parse). Each input goes through
 * both. Beyond "no crash": decoding agrees with OpenSSL's EVP_DecodeBlock on
 * the same characters and survives an encode round trip; accepted credentials
 * are well formed and parse again to the same user and password; every
 * rejection carries its code and a message.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "est/est.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static void fail(const char *why, const struct dt_error *err)
{
	fprintf(stderr, "est_fuzz: %s (%s)\n", why, err ? err->msg : "");
	abort();
}

/* OpenSSL's one-shot decoder over the base64 characters alone. */
static void check_decode_agrees(const uint8_t *data, size_t size, const unsigned char *got,
				size_t got_len)
{
	unsigned char *flat = malloc(size + 1), *ref = malloc(size + 3);
	size_t n = 0, pad = 0;
	int m;

	if (!flat || !ref)
		abort();
	for (size_t i = 0; i < size; i++)
		if (data[i] != '\r' && data[i] != '\n' && data[i] != ' ' && data[i] != '\t')
			flat[n++] = data[i];
	while (pad < n && pad < 2 && flat[n - 1 - pad] == '=')
		pad++;
	m = EVP_DecodeBlock(ref, flat, (int)n);
	if (m < 0 || (size_t)m - pad != got_len || memcmp(ref, got, got_len) != 0)
		fail("est_body_decode disagrees with EVP_DecodeBlock", NULL);
	free(flat);
	free(ref);
}

static void check_body(const uint8_t *data, size_t size)
{
	struct dt_error err = {0};
	struct dt_est_reply r;
	unsigned char *der = NULL, *again = NULL;
	size_t len = 0, again_len = 0;
	struct csr_info c;
	dt_code rc;

	rc = est_body_decode(data, size, &der, &len, &err);
	if (rc != DT_OK) {
		if (der || len || err.code != rc || err.msg[0] == '\0')
			fail("a body rejection without its code and message, or with output", &err);
		return;
	}
	if (!der || len == 0 || len > DT_MAX_CSR_BYTES || size > DT_MAX_EST_BODY)
		fail("accepted a body beyond the limits", &err);
	check_decode_agrees(data, size, der, len);
	/* Our own reply encoding decodes back to the same bytes. */
	memset(&r, 0, sizeof(r));
	if (est_reply_set(&r, der, len, DT_EST_CT_CERTS, &err) != DT_OK ||
	    est_body_decode((const unsigned char *)r.body, r.len, &again, &again_len, &err) !=
		DT_OK ||
	    again_len != len || memcmp(again, der, len) != 0)
		fail("encode then decode changes the bytes", &err);
	dt_est_reply_free(&r);
	OPENSSL_free(again);
	/* What dt_est_enroll hands to dt_cert_issue. */
	rc = csr_parse(der, len, &c, &err);
	if (rc != DT_OK && (c.req != NULL || err.code != rc || err.msg[0] == '\0'))
		fail("a CSR rejection without its code and message", &err);
	csr_free(&c);
	OPENSSL_free(der);
}

static int has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static void check_basic(const uint8_t *data, size_t size)
{
	struct dt_error err = {0};
	char *hdr = malloc(size + 1), user[65], pass[257], user2[65], pass2[257];
	char plain[65 + 257 + 1], *again;
	size_t n;
	dt_code rc;

	if (!hdr)
		abort();
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	rc = dt_http_basic_parse(hdr, user, sizeof(user), pass, sizeof(pass), &err);
	if (rc != DT_OK) {
		if (rc != DT_ERR_AUTH || err.code != rc || err.msg[0] == '\0' || user[0] || pass[0])
			fail("a Basic rejection that is not DT_ERR_AUTH with a message and "
			     "cleared outputs",
			     &err);
		free(hdr);
		return;
	}
	if (!user[0] || strchr(user, ':') || has_ctl(user) || has_ctl(pass))
		fail("accepted an empty user, a ':' in the user or a control character", &err);
	/* Encode canonically and parse again: the same credentials. */
	n = (size_t)snprintf(plain, sizeof(plain), "%s:%s", user, pass);
	if (!(again = malloc(6 + 4 * (n / 3 + 1) + 1)))
		abort();
	memcpy(again, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)again + 6, (const unsigned char *)plain, (int)n);
	if (dt_http_basic_parse(again, user2, sizeof(user2), pass2, sizeof(pass2), &err) != DT_OK ||
	    strcmp(user, user2) != 0 || strcmp(pass, pass2) != 0)
		fail("canonical re-encoding of accepted credentials parses differently", &err);
	free(again);
	free(hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_body(data, size);
	check_basic(data, size);
	return 0;
}
