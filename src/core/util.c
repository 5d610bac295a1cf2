/*
 * Time, hex, randomness and input validation shared by every module.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/core.h"

void dt_heap_give_back(void)
{
#if defined(__GLIBC__)
	malloc_trim(0);
#endif
}

int dt_heap_usage(size_t *in_use, size_t *free_held)
{
#if defined(__GLIBC__)
	struct mallinfo2 mi = mallinfo2();

	*in_use = mi.uordblks + mi.hblkhd;
	*free_held = mi.fordblks;
	return 1;
#else
	*in_use = *free_held = 0;
	return 0;
#endif
}

int64_t dt_now(void)
{
	return (int64_t)time(NULL);
}

void dt_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

dt_code dt_random(unsigned char *buf, size_t n, struct dt_error *err)
{
	if (n > (size_t)INT32_MAX || RAND_bytes(buf, (int)n) != 1)
		return dt_fail(err, DT_ERR_CRYPTO, "the random number generator failed");
	return DT_OK;
}

/* Fetched once: EVP_sha256() makes EVP_Digest fetch the provider's
 * implementation on every call (measured: 2% of the OCSP responder's CPU). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void dt_sha256(const void *data, size_t n, unsigned char out[32])
{
	unsigned int len = 32;

	pthread_once(&sha256_once, sha256_fetch);
	if (EVP_Digest(data, n, out, &len, sha256_md ? sha256_md : EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}

static dt_code check_len(const char *what, const char *s, size_t max, struct dt_error *err)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0)
		return dt_fail(err, DT_ERR_INVALID, "%s is empty", what);
	if (n > max)
		return dt_fail(err, DT_ERR_INVALID, "%s is %zu bytes long; the limit is %zu", what,
			       n, max);
	return DT_OK;
}

dt_code dt_check_id(const char *what, const char *s, struct dt_error *err)
{
	dt_code rc;

	if ((rc = check_len(what, s, DT_MAX_ID_LEN, err)) != DT_OK)
		return rc;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return dt_fail(err, DT_ERR_INVALID,
				       "%s '%.64s' has '%c': use letters, digits, '.', '_' and '-'",
				       what, s, c >= 0x20 && c < 0x7f ? c : '?');
	}
	if (s[0] == '.' || s[0] == '-')
		return dt_fail(err, DT_ERR_INVALID, "%s '%.64s' must start with a letter or digit",
			       what, s);
	return DT_OK;
}

dt_code dt_check_name(const char *what, const char *s, struct dt_error *err)
{
	dt_code rc;

	if ((rc = check_len(what, s, DT_MAX_NAME_LEN, err)) != DT_OK)
		return rc;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return dt_fail(
			    err, DT_ERR_INVALID,
			    "%s '%.64s' has '%c': use lower-case letters, digits and '-'", what, s,
			    c >= 0x20 && c < 0x7f ? c : '?');
	}
	if (s[0] == '-')
		return dt_fail(err, DT_ERR_INVALID, "%s '%.64s' must start with a letter or digit",
			       what, s);
	return DT_OK;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 section 4), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

dt_code dt_check_text(const char *what, const char *s, size_t max, struct dt_error *err)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = s ? strlen(s) : 0;

	if (n > max)
		return dt_fail(err, DT_ERR_INVALID, "%s is %zu bytes long; the limit is %zu", what,
			       n, max);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq(u + i, n - i);
		if (len == 0)
			return dt_fail(err, DT_ERR_INVALID, "%s is not valid UTF-8 at byte %zu",
				       what, i + 1);
		if (len == 1 && (u[i] < 0x20 || u[i] == 0x7f))
			return dt_fail(err, DT_ERR_INVALID,
				       "%s has a control character at byte %zu", what, i + 1);
		i += len;
	}
	return DT_OK;
}

dt_code dt_copy(char *dst, size_t cap, const char *src, const char *what, struct dt_error *err)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		return dt_fail(err, DT_ERR_INVALID, "%s is %zu bytes long; the limit is %zu", what,
			       n, cap - 1);
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return DT_OK;
}

void *dt_grow(void *items, size_t n, size_t *cap, size_t size)
{
	size_t want = *cap ? *cap * 2 : 16;
	void *more;

	if (n < *cap)
		return items;
	if (want > SIZE_MAX / size || !(more = realloc(items, want * size)))
		return NULL;
	*cap = want;
	return more;
}
