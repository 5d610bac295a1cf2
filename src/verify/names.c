/*
 * The words of backend verification: reason codes (a stable interface:
 * relying parties match on them), HTTP methods in policies, clone actions.
 */
#include <string.h>

#include "verify/verify.h"

static const char *const reason_names[DT_VR_COUNT] = {
    "allowed",
    "bad-request",
    "no-certificate",
    "bad-certificate",
    "unknown-certificate",
    "wrong-ca",
    "ca-revoked",
    "bad-chain",
    "not-yet-valid",
    "expired",
    "device-not-active",
    "device-suspended",
    "device-retired",
    "device-compromised",
    "certificate-revoked",
    "certificate-on-hold",
    "firmware-unknown",
    "firmware-outdated",
    "clone-suspected",
    "not-allowed",
};
_Static_assert(sizeof(reason_names) / sizeof(reason_names[0]) == DT_VR_NOT_ALLOWED + 1,
	       "a name for every reason");

const char *dt_verify_reason_name(enum dt_verify_reason r)
{
	return (unsigned)r < DT_VR_COUNT ? reason_names[r] : "unknown";
}

int dt_verify_reason_parse(const char *s)
{
	for (int i = 0; s && i < DT_VR_COUNT; i++)
		if (strcmp(reason_names[i], s) == 0)
			return i;
	return -1;
}

static const struct {
	unsigned bit;
	const char *name;
} methods[] = {
    {DT_M_GET, "GET"},	     {DT_M_HEAD, "HEAD"},   {DT_M_POST, "POST"},       {DT_M_PUT, "PUT"},
    {DT_M_DELETE, "DELETE"}, {DT_M_PATCH, "PATCH"}, {DT_M_OPTIONS, "OPTIONS"},
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

unsigned verify_method_bit(const char *name, size_t n)
{
	for (size_t i = 0; i < N_METHODS; i++)
		if (strlen(methods[i].name) == n && memcmp(methods[i].name, name, n) == 0)
			return methods[i].bit;
	return DT_M_OTHER;
}

dt_code dt_methods_parse(const char *list, unsigned *mask, struct dt_error *err)
{
	const char *p = list;

	*mask = 0;
	if (!list || !*list || strcmp(list, "*") == 0) {
		*mask = DT_M_ANY;
		return DT_OK;
	}
	while (*p) {
		size_t n = strcspn(p, ",");
		unsigned bit = verify_method_bit(p, n);

		if (bit == DT_M_OTHER)
			return dt_fail(err, DT_ERR_INVALID,
				       "method '%.*s' is not one of GET, HEAD, POST, PUT, DELETE, "
				       "PATCH, OPTIONS (or '*' for any)",
				       (int)(n > 16 ? 16 : n), p);
		*mask |= bit;
		p += n;
		if (*p == ',' && *++p == '\0')
			return dt_fail(err, DT_ERR_INVALID, "method list '%.64s' ends with ','",
				       list);
	}
	return DT_OK;
}

void dt_methods_format(unsigned mask, char *buf, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	if ((mask & DT_M_ANY) == DT_M_ANY) {
		snprintf(buf, cap, "*");
		return;
	}
	for (size_t i = 0; i < N_METHODS; i++)
		if (mask & methods[i].bit)
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "",
					      methods[i].name);
}

static const char *const clone_actions[] = {"report", "deny", "suspend"};

const char *dt_clone_action_name(enum dt_clone_action a)
{
	return (unsigned)a < 3 ? clone_actions[a] : "unknown";
}

int dt_clone_action_parse(const char *s)
{
	for (int i = 0; s && i < 3; i++)
		if (strcmp(clone_actions[i], s) == 0)
			return i;
	return -1;
}
