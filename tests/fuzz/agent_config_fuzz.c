/*
 * libFuzzer harness for devtrust-agent's configuration parser
 * (ag_config_parse, then ag_config_finish as main does) and, on the same
 * bytes, the JSON string escaping of status --json. Beyond "no crash": an
 * accepted configuration holds only values its parsers allow (an https
 * server URL, names in their alphabets, durations within ten years, a
 * fraction in (0, 1)); a rejection carries AG_E_CONFIG and a message naming
 * where; the JSON of any bytes is well formed (escapes, no raw control
 * characters, UTF-8).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static void fail(const char *why, const struct ag_error *e)
{
	fprintf(stderr, "agent_config_fuzz: %s (%s)\n", why, e ? e->msg : "");
	abort();
}

static void check_name(const char *s, int id)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      (id && ((c >= 'A' && c <= 'Z') || c == '.' || c == '_'))))
			fail("a name outside its alphabet was accepted", NULL);
	}
}

static void check_duration(long v, int unset_ok)
{
	if ((v < 0 && !(unset_ok && v == -1)) || v > AG_MAX_DURATION_S)
		fail("a duration out of range was accepted", NULL);
}

static void check_config(const struct ag_config *c)
{
	if (c->server[0] && (strncmp(c->server, "https://", 8) != 0 || strlen(c->server) <= 8 ||
			     c->server[strlen(c->server) - 1] == '/' || strpbrk(c->server, "?# ")))
		fail("a server URL that is not https://host was accepted", NULL);
	check_name(c->label, 0);
	check_name(c->device_id, 1);
	if (c->renew_at != 0.0 && !(c->renew_at > 0.0 && c->renew_at < 1.0))
		fail("renew-at outside (0, 1) was accepted", NULL);
	check_duration(c->jitter_s, 1);
	check_duration(c->backoff_min_s, 1);
	check_duration(c->backoff_max_s, 1);
	check_duration(c->poll_s, 1);
	check_duration(c->cacerts_interval_s, 1);
	check_duration(c->timeout_s, 1);
	for (const char *p = c->reload_hook; *p; p++)
		if ((unsigned char)*p < 0x20)
			fail("a control character in a command was accepted", NULL);
}

/* Structural check of one JSON string value starting at s[0] == '"'. */
static size_t check_json_string(const unsigned char *s)
{
	size_t i = 1;

	for (;;) {
		unsigned char c = s[i];
		if (c == '"')
			return i + 1;
		if (c < 0x20)
			fail("raw control character (or an unterminated string) in JSON", NULL);
		if (c == '\\') {
			c = s[i + 1];
			if (c == 'u') {
				for (int k = 2; k < 6; k++)
					if (!strchr("0123456789abcdef", s[i + k]) || !s[i + k])
						fail("bad \\u escape in JSON", NULL);
				i += 6;
			} else if (c && strchr("\"\\/bfnrt", c)) {
				i += 2;
			} else {
				fail("bad escape in JSON", NULL);
			}
			continue;
		}
		if (c >= 0x80) {
			size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
			if (n == 0 || c > 0xf4)
				fail("a byte that starts no UTF-8 sequence in JSON", NULL);
			for (size_t k = 1; k < n; k++)
				if ((s[i + k] & 0xc0) != 0x80)
					fail("a broken UTF-8 sequence in JSON", NULL);
			i += n;
			continue;
		}
		i++;
	}
}

static void check_json(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *out;
	struct ag_json j;
	const unsigned char *p;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	ag_json_begin(&j);
	ag_json_str(&j, "input", text);
	ag_json_int(&j, "n", (long long)size);
	if (!(out = ag_json_end(&j)))
		fail("ag_json ran out of memory", NULL);
	if (strncmp(out, "{\n  \"input\": \"", 14) != 0)
		fail("unexpected JSON prefix", NULL);
	p = (const unsigned char *)out + 13;
	p += check_json_string(p);
	if (strncmp((const char *)p, ",\n  \"n\": ", 9) != 0)
		fail("the string did not end where it should", NULL);
	free(out);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_config c;
	struct ag_error e = {0};
	enum ag_code rc;

	check_json(data, size);
	ag_config_init(&c);
	rc = ag_config_parse(&c, (const char *)data, size, "fuzz.conf", &e);
	if (rc != AG_OK) {
		if (rc != AG_E_CONFIG || e.code != rc || strncmp(e.msg, "fuzz.conf", 9) != 0)
			fail("a rejection without AG_E_CONFIG and the file's name", &e);
		return 0;
	}
	if (size > AG_MAX_CONFIG_BYTES)
		fail("accepted a file beyond the limit", NULL);
	check_config(&c);
	/* Both ways main finishes a configuration. */
	if (ag_config_finish(&c, 0, &e) == AG_OK) {
		check_config(&c);
		if (c.renew_at <= 0.0 || c.backoff_min_s > c.backoff_max_s || !c.key_path[0])
			fail("finish left a default unset", NULL);
	}
	(void)ag_config_finish(&c, 1, &e);
	return 0;
}
