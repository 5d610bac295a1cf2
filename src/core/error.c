/*
 * The error model: a code for the caller's decision and a message for the
 * person reading it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devtrust/devtrust.h"

dt_code dt_fail(struct dt_error *err, dt_code code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void dt_error_clear(struct dt_error *err)
{
	if (err) {
		err->code = DT_OK;
		err->msg[0] = '\0';
	}
}

const char *dt_code_name(dt_code code)
{
	switch (code) {
	case DT_OK:
		return "ok";
	case DT_ERR_INVALID:
		return "invalid";
	case DT_ERR_NOT_FOUND:
		return "not_found";
	case DT_ERR_EXISTS:
		return "exists";
	case DT_ERR_STATE:
		return "refused";
	case DT_ERR_AUTH:
		return "unauthorized";
	case DT_ERR_IO:
		return "io";
	case DT_ERR_CRYPTO:
		return "crypto";
	case DT_ERR_INTERNAL:
		return "internal";
	}
	return "internal";
}
