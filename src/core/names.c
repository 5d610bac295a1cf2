/*
 * The words users type and read for states, criticalities, key types, EKUs,
 * revocation reasons and durations, and their parsers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "devtrust/pki.h"
#include "devtrust/report.h"

static const char *const state_names[DT_STATE_COUNT] = {"registered", "active", "suspended",
							"retired", "compromised"};
static const char *const crit_names[] = {"low", "medium", "high", "life-critical"};

static int lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *dt_state_name(enum dt_state s)
{
	return (unsigned)s < DT_STATE_COUNT ? state_names[s] : "unknown";
}

int dt_state_parse(const char *s)
{
	return lookup(state_names, DT_STATE_COUNT, s);
}

const char *dt_criticality_name(enum dt_criticality c)
{
	return (unsigned)c < 4 ? crit_names[c] : "unknown";
}

int dt_criticality_parse(const char *s)
{
	return lookup(crit_names, 4, s);
}

static const struct {
	unsigned bit;
	const char *name;
} key_types[] = {
    {DT_KEY_EC_P256, "ec-p256"},   {DT_KEY_EC_P384, "ec-p384"},	  {DT_KEY_RSA_2048, "rsa-2048"},
    {DT_KEY_RSA_3072, "rsa-3072"}, {DT_KEY_RSA_4096, "rsa-4096"}, {DT_KEY_ED25519, "ed25519"},
};
#define N_KEY_TYPES (sizeof(key_types) / sizeof(key_types[0]))

const char *dt_key_type_name(unsigned key_type)
{
	for (size_t i = 0; i < N_KEY_TYPES; i++)
		if (key_types[i].bit == key_type)
			return key_types[i].name;
	return "unknown";
}

/* Splits a comma list and maps each word through names[]; rejects unknown words. */
static dt_code parse_list(const char *what, const char *hint, const char *list,
			  const char *const *names, const unsigned *bits, size_t n, unsigned *mask,
			  struct dt_error *err)
{
	const char *p = list;

	*mask = 0;
	if (!list || !*list)
		return dt_fail(err, DT_ERR_INVALID, "%s list is empty: use %s", what, hint);
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		size_t i;

		for (i = 0; i < n; i++)
			if (strlen(names[i]) == len && strncmp(names[i], p, len) == 0)
				break;
		if (i == n)
			return dt_fail(err, DT_ERR_INVALID, "unknown %s '%.*s': use %s", what,
				       (int)(len > 32 ? 32 : len), p, hint);
		*mask |= bits[i];
		p += len;
		if (*p == ',')
			p++;
	}
	return DT_OK;
}

dt_code dt_key_types_parse(const char *list, unsigned *mask, struct dt_error *err)
{
	const char *names[N_KEY_TYPES];
	unsigned bits[N_KEY_TYPES];

	for (size_t i = 0; i < N_KEY_TYPES; i++) {
		names[i] = key_types[i].name;
		bits[i] = key_types[i].bit;
	}
	return parse_list("key type", "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519",
			  list, names, bits, N_KEY_TYPES, mask, err);
}

dt_code dt_eku_parse(const char *list, unsigned *mask, struct dt_error *err)
{
	static const char *const names[] = {"clientAuth", "serverAuth"};
	static const unsigned bits[] = {DT_EKU_CLIENT_AUTH, DT_EKU_SERVER_AUTH};

	return parse_list("EKU", "clientAuth, serverAuth", list, names, bits, 2, mask, err);
}

dt_code dt_duration_parse(const char *s, int64_t *seconds, struct dt_error *err)
{
	char *end = NULL;
	long long v;
	int64_t unit;

	*seconds = 0;
	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return dt_fail(err, DT_ERR_INVALID,
			       "duration '%s' is not like 30d, 12h, 90m or 3600s", s ? s : "");
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return dt_fail(err, DT_ERR_INVALID, "duration '%.32s' is not like 30d, 12h or 90m",
			       s);
	switch (*end) {
	case 's':
	case '\0':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'y':
		unit = 365 * 86400LL;
		break;
	default:
		return dt_fail(err, DT_ERR_INVALID,
			       "duration '%.32s' has an unknown unit: use s, m, h, d or y", s);
	}
	if (*end && end[1])
		return dt_fail(err, DT_ERR_INVALID, "duration '%.32s' has trailing characters", s);
	if (v > DT_MAX_LIFETIME_S / unit)
		return dt_fail(err, DT_ERR_INVALID, "duration '%.32s' is too long", s);
	*seconds = (int64_t)v * unit;
	return DT_OK;
}

static const struct {
	int code;
	const char *name;
} reasons[] = {
    {DT_REASON_UNSPECIFIED, "unspecified"},
    {DT_REASON_KEY_COMPROMISE, "keyCompromise"},
    {DT_REASON_CA_COMPROMISE, "cACompromise"},
    {DT_REASON_AFFILIATION_CHANGED, "affiliationChanged"},
    {DT_REASON_SUPERSEDED, "superseded"},
    {DT_REASON_CESSATION, "cessationOfOperation"},
    {DT_REASON_CERTIFICATE_HOLD, "certificateHold"},
    {DT_REASON_REMOVE_FROM_CRL, "removeFromCRL"},
    {DT_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
    {DT_REASON_AA_COMPROMISE, "aACompromise"},
};

const char *dt_reason_name(int reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return "unknown";
}

int dt_reason_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcasecmp(reasons[i].name, s) == 0)
			return reasons[i].code;
	return -1;
}

const char *dt_cert_status_name(enum dt_cert_status s)
{
	switch (s) {
	case DT_CERT_VALID:
		return "valid";
	case DT_CERT_HOLD:
		return "on-hold";
	case DT_CERT_REVOKED:
		return "revoked";
	}
	return "unknown";
}

const char *dt_finding_kind_name(enum dt_finding_kind k)
{
	switch (k) {
	case DT_FIND_EXPIRING:
		return "expiring";
	case DT_FIND_CERT_ON_INACTIVE:
		return "certificate-on-inactive-device";
	case DT_FIND_ACTIVE_NO_CERT:
		return "active-without-certificate";
	case DT_FIND_DUPLICATE_KEY:
		return "duplicate-key";
	case DT_FIND_WEAK_KEY:
		return "weak-key";
	}
	return "unknown";
}

void dt_class_defaults(struct dt_class *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->ca, "default");
	c->lifetime_s = 30 * 86400;
	c->key_types = DT_KEY_EC_P256;
	c->eku = DT_EKU_CLIENT_AUTH;
	c->renew_at = 2.0 / 3.0;
}
