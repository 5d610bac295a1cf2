/*
 * The agent's error model and its log: one line per event on standard
 * error (the journal adds the time). Secrets never reach either: callers pass
 * file names, serials and server messages, never a token or a key.
 */
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"

static enum ag_code vfail(struct ag_error *e, enum ag_code code, const char *fmt, va_list ap)
{
	e->code = code;
	e->http_status = 0;
	e->retry_after = 0;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return code;
}

enum ag_code ag_fail(struct ag_error *e, enum ag_code code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vfail(e, code, fmt, ap);
	va_end(ap);
	return code;
}

enum ag_code ag_fail_context(struct ag_error *e, enum ag_code code, const char *fmt, ...)
{
	char inner[AG_ERR_MSG];
	va_list ap;
	size_t n;

	if (!e)
		return code;
	snprintf(inner, sizeof(inner), "%s", e->msg);
	va_start(ap, fmt);
	vfail(e, code, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, "%s", inner);
	return code;
}

void ag_fail_ssl(struct ag_error *e)
{
	unsigned long code = ERR_peek_error();
	char buf[160];
	size_t n;

	if (e && code != 0) {
		ERR_error_string_n(code, buf, sizeof(buf));
		n = strlen(e->msg);
		if (n + 3 < sizeof(e->msg))
			snprintf(e->msg + n, sizeof(e->msg) - n, " (%s)", buf);
	}
	ERR_clear_error();
}

void ag_log(const char *fmt, ...)
{
	char line[AG_ERR_MSG + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One fprintf per line, so the lines of a hook's output do not cut in. */
	fprintf(stderr, "devtrust-agent: %s\n", line);
	fflush(stderr);
}

const char *ag_code_name(enum ag_code c)
{
	switch (c) {
	case AG_OK:
		return "ok";
	case AG_E_CONFIG:
		return "configuration";
	case AG_E_LOCAL:
		return "local";
	case AG_E_TEMP:
		return "temporary";
	case AG_E_TRUST:
		return "trust";
	case AG_E_REFUSED:
		return "refused";
	case AG_E_SUSPENDED:
		return "suspended";
	case AG_E_AUTH:
		return "credential";
	case AG_E_RETIRED:
		return "retired";
	case AG_E_STOPPED:
		return "stopped";
	}
	return "unknown";
}
