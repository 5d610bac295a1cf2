/*
 * The one JSON object the agent prints (status --json), written by hand: the
 * agent links nothing but OpenSSL and libcurl. Strings are escaped as RFC
 * 8259 section 7 requires; bytes that are not UTF-8 become U+FFFD, so the
 * output is valid whatever a server put in an error message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

static void put(struct ag_json *j, const char *s, size_t n)
{
	if (j->oom)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = (j->cap ? j->cap * 2 : 256) + n;
		char *b = realloc(j->buf, cap);
		if (!b) {
			j->oom = 1;
			return;
		}
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void puts_(struct ag_json *j, const char *s)
{
	put(j, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 section 4), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

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
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void put_string(struct ag_json *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	char esc[8];

	put(j, "\"", 1);
	while (n > 0) {
		size_t l;
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(j, esc, 2);
			l = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			puts_(j, esc);
			l = 1;
		} else if ((l = utf8_len(p, n)) == 0) {
			puts_(j, "\\ufffd");
			l = 1;
		} else {
			put(j, (const char *)p, l);
		}
		p += l;
		n -= l;
	}
	put(j, "\"", 1);
}

static void key(struct ag_json *j, const char *k)
{
	puts_(j, j->first ? "\n  " : ",\n  ");
	j->first = 0;
	put_string(j, k);
	puts_(j, ": ");
}

void ag_json_begin(struct ag_json *j)
{
	memset(j, 0, sizeof(*j));
	j->first = 1;
	puts_(j, "{");
}

void ag_json_str(struct ag_json *j, const char *k, const char *val)
{
	key(j, k);
	if (val)
		put_string(j, val);
	else
		puts_(j, "null");
}

void ag_json_int(struct ag_json *j, const char *k, long long val)
{
	char num[32];

	key(j, k);
	snprintf(num, sizeof(num), "%lld", val);
	puts_(j, num);
}

void ag_json_bool(struct ag_json *j, const char *k, int val)
{
	key(j, k);
	puts_(j, val ? "true" : "false");
}

char *ag_json_end(struct ag_json *j)
{
	puts_(j, "\n}\n");
	if (j->oom) {
		free(j->buf);
		j->buf = NULL;
	}
	return j->buf;
}
