/*
 * The agent's configuration: a key = value file (`--config FILE`) and flags
 * of the same names (`--key value`), flags applied last. One table names
 * every setting, its kind and where it goes; each kind has one parser.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

enum kind { K_URL, K_LABEL, K_ID, K_PATH, K_CMD, K_PIN, K_KEYTYPE, K_FRACTION, K_DURATION };

struct setting {
	const char *name;
	enum kind kind;
	size_t off;  /* offset in struct ag_config */
	size_t cap;  /* buffer size for strings */
	int zero_ok; /* durations: 0 is allowed */
};

#define STR(n, k, f)                                                                               \
	{                                                                                          \
		n, k, offsetof(struct ag_config, f), sizeof(((struct ag_config *)0)->f), 0         \
	}
#define NUM(n, k, f, z)                                                                            \
	{                                                                                          \
		n, k, offsetof(struct ag_config, f), 0, z                                          \
	}

static const struct setting settings[] = {
    STR("server", K_URL, server),
    STR("label", K_LABEL, label),
    STR("device-id", K_ID, device_id),
    STR("token-file", K_PATH, token_file),
    STR("idevid-cert", K_PATH, idevid_cert),
    STR("idevid-key", K_PATH, idevid_key),
    STR("idevid-chain", K_PATH, idevid_chain),
    STR("ca-file", K_PATH, ca_file),
    NUM("pin", K_PIN, pin, 0),
    NUM("key-type", K_KEYTYPE, key_type, 0),
    STR("key", K_PATH, key_path),
    STR("cert", K_PATH, cert_path),
    STR("chain", K_PATH, chain_path),
    STR("cacerts", K_PATH, cacerts_path),
    STR("state-dir", K_PATH, state_dir),
    STR("reload-hook", K_CMD, reload_hook),
    NUM("renew-at", K_FRACTION, renew_at, 0),
    NUM("jitter", K_DURATION, jitter_s, 1),
    NUM("backoff-min", K_DURATION, backoff_min_s, 0),
    NUM("backoff-max", K_DURATION, backoff_max_s, 0),
    NUM("poll-interval", K_DURATION, poll_s, 0),
    NUM("cacerts-interval", K_DURATION, cacerts_interval_s, 0),
    NUM("timeout", K_DURATION, timeout_s, 0),
};

static const struct {
	const char *name;
	unsigned type;
} key_types[] = {
    {"ec-p256", AG_KEY_EC_P256},   {"ec-p384", AG_KEY_EC_P384},	  {"ed25519", AG_KEY_ED25519},
    {"rsa-2048", AG_KEY_RSA_2048}, {"rsa-3072", AG_KEY_RSA_3072}, {"rsa-4096", AG_KEY_RSA_4096},
};

const char *ag_key_type_name(unsigned t)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (key_types[i].type == t)
			return key_types[i].name;
	return "none";
}

void ag_config_init(struct ag_config *c)
{
	memset(c, 0, sizeof(*c));
	c->jitter_s = -1;
	c->backoff_min_s = -1;
	c->backoff_max_s = -1;
	c->poll_s = -1;
	c->cacerts_interval_s = -1;
	c->timeout_s = -1;
}

static const struct setting *find(const char *key)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (strcmp(settings[i].name, key) == 0)
			return &settings[i];
	return NULL;
}

int ag_config_known(const char *key)
{
	return find(key) != NULL;
}

enum ag_code ag_duration_parse(const char *s, long *out, struct ag_error *e)
{
	char *end = NULL;
	long long v, mul = 1;

	*out = 0;
	errno = 0;
	if (!s || !(*s >= '0' && *s <= '9'))
		return ag_fail(e, AG_E_CONFIG, "duration '%.40s': want a number with s, m, h or d",
			       s ? s : "");
	v = strtoll(s, &end, 10);
	if (errno != 0 || !end)
		return ag_fail(e, AG_E_CONFIG, "duration '%.40s' is out of range", s);
	if (*end != '\0') {
		switch (*end) {
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		default:
			mul = 0;
		}
		if (mul == 0 || end[1] != '\0')
			return ag_fail(e, AG_E_CONFIG,
				       "duration '%.40s': want a number with s, m, h or d", s);
	}
	if (v > AG_MAX_DURATION_S / mul)
		return ag_fail(e, AG_E_CONFIG, "duration '%.40s' is longer than ten years", s);
	*out = (long)(v * mul);
	return AG_OK;
}

static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static enum ag_code set_url(char *dst, size_t cap, const char *v, struct ag_error *e)
{
	size_t n = strlen(v);

	if (strncmp(v, "https://", 8) != 0 || n <= 8)
		return ag_fail(e, AG_E_CONFIG,
			       "server '%.80s': want https://host[:port] (EST runs over TLS, RFC "
			       "7030 section 3.3)",
			       v);
	if (strpbrk(v, "?# ") || !printable(v))
		return ag_fail(e, AG_E_CONFIG,
			       "server '%.80s': no spaces, query or fragment; the agent adds "
			       "/.well-known/est/",
			       v);
	while (n > 8 && v[n - 1] == '/')
		n--;
	if (n <= 8 || v[8] == '/')
		return ag_fail(e, AG_E_CONFIG, "server '%.80s' names no host", v);
	if (n >= cap)
		return ag_fail(e, AG_E_CONFIG, "server URL is longer than %zu characters", cap - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
	return AG_OK;
}

/* Labels are class names: lower-case letters, digits and '-' (RFC 7030 section 3.2.2). */
static enum ag_code set_name(char *dst, size_t cap, const char *v, int id, struct ag_error *e)
{
	const char *what = id ? "device-id" : "label";
	size_t n = strlen(v);

	if (n >= cap)
		return ag_fail(e, AG_E_CONFIG, "%s is longer than %zu characters", what, cap - 1);
	for (const char *p = v; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			 (id && ((c >= 'A' && c <= 'Z') || c == '.' || c == '_'));
		if (!ok)
			return ag_fail(e, AG_E_CONFIG, "%s '%.64s' has '%c': use %s", what, v,
				       c >= 0x20 && c < 0x7f ? c : '?',
				       id ? "letters, digits, '.', '_' and '-'"
					  : "lower-case letters, digits and '-'");
	}
	if (n > 0 && (v[0] == '-' || v[0] == '.'))
		return ag_fail(e, AG_E_CONFIG, "%s '%.64s' must start with a letter or digit", what,
			       v);
	memcpy(dst, v, n + 1);
	return AG_OK;
}

static enum ag_code set_text(char *dst, size_t cap, const char *key, const char *v,
			     struct ag_error *e)
{
	size_t n = strlen(v);

	if (n >= cap)
		return ag_fail(e, AG_E_CONFIG, "%s is longer than %zu characters", key, cap - 1);
	if (!printable(v))
		return ag_fail(e, AG_E_CONFIG, "%s has a control character", key);
	memcpy(dst, v, n + 1);
	return AG_OK;
}

static enum ag_code set_key_type(unsigned *dst, const char *v, struct ag_error *e)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(v, key_types[i].name) == 0) {
			*dst = key_types[i].type;
			return AG_OK;
		}
	return ag_fail(e, AG_E_CONFIG,
		       "key-type '%.40s': want ec-p256, ec-p384, ed25519, rsa-2048, rsa-3072 or "
		       "rsa-4096",
		       v);
}

static enum ag_code set_fraction(double *dst, const char *v, struct ag_error *e)
{
	char *end = NULL;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || !end || end == v || *end != '\0' || !(d > 0.0 && d < 1.0))
		return ag_fail(e, AG_E_CONFIG,
			       "renew-at '%.40s': want a fraction of the lifetime between 0 and 1, "
			       "such as 0.66",
			       v);
	*dst = d;
	return AG_OK;
}

enum ag_code ag_config_set(struct ag_config *c, const char *key, const char *value,
			   struct ag_error *e)
{
	const struct setting *s = find(key);
	char *base = (char *)c;
	long d = 0;
	enum ag_code rc;

	if (!s)
		return ag_fail(e, AG_E_CONFIG, "unknown setting '%.64s' (see devtrust-agent(8))",
			       key);
	switch (s->kind) {
	case K_URL:
		return set_url(base + s->off, s->cap, value, e);
	case K_LABEL:
	case K_ID:
		return set_name(base + s->off, s->cap, value, s->kind == K_ID, e);
	case K_PATH:
	case K_CMD:
		return set_text(base + s->off, s->cap, s->name, value, e);
	case K_PIN:
		if (value[0] == '\0') {
			c->has_pin = 0;
			return AG_OK;
		}
		if ((rc = ag_pin_parse(value, c->pin, e)) == AG_OK)
			c->has_pin = 1;
		return rc;
	case K_KEYTYPE:
		if (value[0] == '\0') {
			c->key_type = AG_KEY_NONE;
			return AG_OK;
		}
		return set_key_type(&c->key_type, value, e);
	case K_FRACTION:
		return set_fraction(&c->renew_at, value, e);
	case K_DURATION:
		/* Name the setting: "duration 'x'" alone does not say which. */
		if ((rc = ag_duration_parse(value, &d, e)) != AG_OK)
			return ag_fail_context(e, rc, "%s: ", s->name);
		if (d == 0 && !s->zero_ok)
			return ag_fail(e, AG_E_CONFIG, "%s must be longer than 0", s->name);
		memcpy(base + s->off, &d, sizeof(d));
		return AG_OK;
	}
	return ag_fail(e, AG_E_CONFIG, "unknown setting '%.64s'", key);
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Parses one line (NUL-terminated, no newline) in place. */
static enum ag_code parse_line(struct ag_config *c, char *line, const char *source, int lineno,
			       struct ag_error *e)
{
	char *key = line, *eq, *val, *end;
	enum ag_code rc;

	while (blank(*key))
		key++;
	if (*key == '\0' || *key == '#')
		return AG_OK;
	if (!(eq = strchr(key, '=')))
		return ag_fail(e, AG_E_CONFIG, "%s line %d: want key = value", source, lineno);
	val = eq + 1;
	end = eq;
	while (end > key && blank(end[-1]))
		end--;
	*end = '\0';
	while (blank(*val))
		val++;
	end = val + strlen(val);
	while (end > val && blank(end[-1]))
		end--;
	*end = '\0';
	if (*key == '\0')
		return ag_fail(e, AG_E_CONFIG, "%s line %d: no key before '='", source, lineno);
	if ((rc = ag_config_set(c, key, val, e)) != AG_OK)
		return ag_fail_context(e, rc, "%s line %d: ", source, lineno);
	return AG_OK;
}

enum ag_code ag_config_parse(struct ag_config *c, const char *text, size_t len, const char *source,
			     struct ag_error *e)
{
	char line[AG_MAX_LINE + 1];
	size_t start = 0;
	int lineno = 0;
	enum ag_code rc;

	if (len > AG_MAX_CONFIG_BYTES)
		return ag_fail(e, AG_E_CONFIG, "%s is %zu bytes; the limit is %d", source, len,
			       AG_MAX_CONFIG_BYTES);
	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t n = nl ? (size_t)(nl - (text + start)) : len - start;

		lineno++;
		if (n > AG_MAX_LINE)
			return ag_fail(e, AG_E_CONFIG, "%s line %d is longer than %d characters",
				       source, lineno, AG_MAX_LINE);
		if (memchr(text + start, '\0', n))
			return ag_fail(e, AG_E_CONFIG, "%s line %d has a NUL byte", source, lineno);
		memcpy(line, text + start, n);
		line[n] = '\0';
		if ((rc = parse_line(c, line, source, lineno, e)) != AG_OK)
			return rc;
		start += n + 1;
	}
	return AG_OK;
}

enum ag_code ag_config_load(struct ag_config *c, const char *path, struct ag_error *e)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum ag_code rc;

	if ((rc = ag_read_file(path, AG_MAX_CONFIG_BYTES, &buf, &len, e)) != AG_OK) {
		e->code = AG_E_CONFIG;
		return AG_E_CONFIG;
	}
	rc = ag_config_parse(c, (const char *)buf, len, path, e);
	free(buf);
	return rc;
}

static enum ag_code default_path(char *dst, const char *dir, const char *name, const char *what,
				 struct ag_error *e)
{
	if (dst[0] != '\0')
		return AG_OK;
	if (ag_join(dst, AG_MAX_PATH, dir, name, e) != AG_OK)
		return ag_fail(e, AG_E_CONFIG, "state-dir is too long for the default %s path",
			       what);
	return AG_OK;
}

static void default_long(long *v, long d)
{
	if (*v < 0)
		*v = d;
}

enum ag_code ag_config_finish(struct ag_config *c, int need_server, struct ag_error *e)
{
	const char *paths[4] = {c->key_path, c->cert_path, c->chain_path, c->cacerts_path};
	enum ag_code rc;

	if (need_server && c->server[0] == '\0')
		return ag_fail(e, AG_E_CONFIG,
			       "no server: set server = https://host:port in the configuration "
			       "or pass --server");
	if (need_server && c->ca_file[0] == '\0' && !c->has_pin)
		return ag_fail(e, AG_E_CONFIG,
			       "no trust anchor for the first contact: set ca-file = FILE (the "
			       "CA certificate) or pin = sha256:HEX (RFC 7030 section 4.1.1)");
	if (c->ca_file[0] != '\0' && c->has_pin)
		return ag_fail(e, AG_E_CONFIG, "set ca-file or pin, not both");
	if (c->state_dir[0] == '\0')
		strcpy(c->state_dir, "/var/lib/devtrust-agent");
	if ((rc = default_path(c->key_path, c->state_dir, "key.pem", "key", e)) != AG_OK ||
	    (rc = default_path(c->cert_path, c->state_dir, "cert.pem", "cert", e)) != AG_OK ||
	    (rc = default_path(c->chain_path, c->state_dir, "chain.pem", "chain", e)) != AG_OK ||
	    (rc = default_path(c->cacerts_path, c->state_dir, "cacerts.pem", "cacerts", e)) !=
		AG_OK)
		return rc;
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			if (strcmp(paths[i], paths[j]) == 0)
				return ag_fail(e, AG_E_CONFIG,
					       "key, cert, chain and cacerts must be four "
					       "different files; %s is named twice",
					       paths[i]);
	if (c->idevid_cert[0] != '\0' && c->idevid_key[0] == '\0')
		return ag_fail(e, AG_E_CONFIG, "idevid-cert needs idevid-key");
	if (c->renew_at == 0.0)
		c->renew_at = 2.0 / 3.0;
	default_long(&c->backoff_min_s, 10);
	default_long(&c->backoff_max_s, 3600);
	default_long(&c->poll_s, 600);
	default_long(&c->cacerts_interval_s, 86400);
	default_long(&c->timeout_s, 60);
	if (c->backoff_min_s > c->backoff_max_s)
		return ag_fail(e, AG_E_CONFIG,
			       "backoff-min (%lds) is longer than backoff-max (%lds)",
			       c->backoff_min_s, c->backoff_max_s);
	return AG_OK;
}
