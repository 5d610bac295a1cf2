/*
 * What a device asks for, as a relying party reports it: a service name, an
 * HTTP method and a request target. The target is decoded once and refused
 * when it could mean different things to us and to the backend (dot
 * segments, empty segments, encoded slashes): a policy must never be
 * matched against a path the backend will read differently. Also the syntax
 * and matching of policy patterns.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "verify/verify.h"

/* Empty segments (except a trailing '/') and "." or ".." segments, which a
 * backend may merge or resolve (RFC 3986 section 5.2.4) after we matched. */
static const char *bad_segment(const char *path)
{
	for (const char *seg = path + 1;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);

		if (n == 0 && end)
			return "an empty segment ('//')";
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return "a dot segment ('.' or '..'; RFC 3986 section 3.3)";
		if (!end)
			return NULL;
		seg = end + 1;
	}
}

static dt_code parse_target(const char *target, struct verify_route *out, struct dt_error *err)
{
	size_t len = strlen(target), n, o = 0;
	const char *why;

	if (len > DT_MAX_VERIFY_PATH)
		return dt_fail(
		    err, DT_ERR_INVALID,
		    "request target is %zu bytes long; the limit is %d (DT_MAX_VERIFY_PATH)", len,
		    DT_MAX_VERIFY_PATH);
	if (target[0] != '/')
		return dt_fail(err, DT_ERR_INVALID,
			       "request target must be an absolute path (origin-form, RFC 9112 "
			       "section 3.2.1)");
	n = strcspn(target, "?#");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)target[i];

		if (c == '%') {
			int hi = i + 2 < n ? OPENSSL_hexchar2int((unsigned char)target[i + 1]) : -1;
			int lo = hi >= 0 ? OPENSSL_hexchar2int((unsigned char)target[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return dt_fail(err, DT_ERR_INVALID,
					       "request target has a bad percent-encoding at byte "
					       "%zu (RFC 3986 section 2.1)",
					       i + 1);
			c = (unsigned char)(hi << 4 | lo);
			if (c == '/')
				return dt_fail(err, DT_ERR_INVALID,
					       "request target has an encoded '/' (%%2F): refused, "
					       "backends split segments differently");
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || c == '\\')
			return dt_fail(err, DT_ERR_INVALID,
				       "request target has a control character or '\\'");
		out->path[o++] = (char)c;
	}
	out->path[o] = '\0';
	if ((why = bad_segment(out->path)))
		return dt_fail(err, DT_ERR_INVALID, "request target has %s", why);
	out->has_path = 1;
	return DT_OK;
}

dt_code verify_route_parse(const char *service, const char *method, const char *target,
			   struct verify_route *out, struct dt_error *err)
{
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if (!service || !*service)
		return dt_fail(err, DT_ERR_INVALID, "a service name is required");
	if ((rc = dt_check_name("service", service, err)) != DT_OK)
		return rc;
	if (method && *method) {
		size_t n = strlen(method);

		if (n > DT_MAX_METHOD_LEN)
			return dt_fail(err, DT_ERR_INVALID,
				       "method is %zu bytes long; the limit is %d", n,
				       DT_MAX_METHOD_LEN);
		for (size_t i = 0; i < n; i++)
			if (!((method[i] >= 'A' && method[i] <= 'Z') || method[i] == '-' ||
			      method[i] == '_'))
				return dt_fail(
				    err, DT_ERR_INVALID,
				    "method '%.16s' is not an upper-case token (RFC 9110 "
				    "section 9.1)",
				    method);
		out->has_method = 1;
		out->method = verify_method_bit(method, n);
	}
	if (target && *target)
		return parse_target(target, out, err);
	return DT_OK;
}

dt_code dt_pattern_check(const char *pattern, struct dt_error *err)
{
	size_t n;
	const char *why, *star2;

	if (!pattern)
		return DT_OK;
	n = strlen(pattern);
	if (n == 0 || pattern[0] != '/')
		return dt_fail(err, DT_ERR_INVALID, "path pattern '%.64s' must start with '/'",
			       pattern);
	if (n > DT_MAX_PATTERN_LEN)
		return dt_fail(err, DT_ERR_INVALID,
			       "path pattern is %zu bytes long; the limit is %d", n,
			       DT_MAX_PATTERN_LEN);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pattern[i];
		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\' ||
		    c == '"')
			return dt_fail(err, DT_ERR_INVALID,
				       "path pattern '%.64s' has '%c' at byte %zu: use printable "
				       "ASCII without ? # %% \\ \" (the pattern is matched against "
				       "the decoded path)",
				       pattern, c > 0x20 && c < 0x7f ? c : '?', i + 1);
	}
	if ((why = bad_segment(pattern)))
		return dt_fail(err, DT_ERR_INVALID, "path pattern '%.64s' has %s", pattern, why);
	/* "**" only as the whole last segment. */
	star2 = strstr(pattern, "**");
	if (star2 && !(star2 == pattern + n - 2 && star2[-1] == '/'))
		return dt_fail(err, DT_ERR_INVALID,
			       "path pattern '%.64s': '**' may only end it, as '/**' (everything "
			       "below); use '*' within a segment",
			       pattern);
	return DT_OK;
}

/* '*' matches any run of characters of one segment. */
static int segment_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

int verify_pattern_match(const char *pattern, const char *path)
{
	const char *p = pattern + 1, *s = path + 1;

	if (pattern[0] != '/' || path[0] != '/')
		return 0;
	for (;;) {
		const char *pe = p + strcspn(p, "/"), *se = s + strcspn(s, "/");

		if (pe - p == 2 && p[0] == '*' && p[1] == '*' && !*pe)
			return 1;
		if (!segment_match(p, (size_t)(pe - p), s, (size_t)(se - s)))
			return 0;
		if (!*pe && !*se)
			return 1;
		if (!*se)
			/* A pattern ending in "/" and "**" also covers the prefix itself. */
			return strcmp(pe, "/**") == 0;
		if (!*pe)
			return 0;
		p = pe + 1;
		s = se + 1;
	}
}

int verify_policy_matches(const struct dt_policy *p, const struct verify_route *r)
{
	unsigned m = p->methods;

	if (r->has_path ? !verify_pattern_match(p->pattern, r->path) : strcmp(p->pattern, "/**"))
		return 0;
	if ((m & DT_M_ANY) == DT_M_ANY)
		return 1;
	if (!r->has_method)
		return 0;
	if (r->method == DT_M_HEAD && (m & DT_M_GET))
		return 1;
	return (m & r->method & ~(unsigned)DT_M_OTHER) != 0;
}

dt_code verify_peer_check(const char *peer, struct dt_error *err)
{
	size_t n = strlen(peer);

	if (n == 0 || n > DT_MAX_PEER_LEN)
		return dt_fail(err, DT_ERR_INVALID, "peer address must be 1 to %d bytes",
			       DT_MAX_PEER_LEN);
	for (size_t i = 0; i < n; i++) {
		char c = peer[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == ':' || c == '%' || c == '_' || c == '-'))
			return dt_fail(err, DT_ERR_INVALID,
				       "peer address '%.63s' has '%c': an IP or MAC address is "
				       "expected",
				       peer, c > 0x20 && c < 0x7f ? c : '?');
	}
	return DT_OK;
}
