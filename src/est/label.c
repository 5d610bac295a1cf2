/*
 * EST labels (RFC 7030 section 3.2.2, /.well-known/est/<label>/...): a label
 * is the name of a device class, so it picks the class profile and its
 * issuing CA.
 */
#include <string.h>

#include "est/est.h"

dt_code est_label_class(struct dt_ctx *ctx, const char *label, struct dt_class *cls, int *found,
			struct dt_error *err)
{
	struct dt_error ignored;

	*found = 0;
	if (!label)
		return DT_OK;
	/* Say nothing of a label that is no class name: it may be anything. */
	if (dt_check_name("EST label", label, &ignored) != DT_OK)
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "unknown EST label: a label is a class name ([a-z0-9-], at most %d "
			       "characters; RFC 7030 section 3.2.2)",
			       DT_MAX_NAME_LEN);
	switch (dt_class_get(ctx, label, cls, err)) {
	case DT_OK:
		*found = 1;
		return DT_OK;
	case DT_ERR_NOT_FOUND:
		return dt_fail(err, DT_ERR_NOT_FOUND,
			       "unknown EST label '%s': no class of that name (see 'devtrust class "
			       "list')",
			       label);
	default:
		return err->code;
	}
}
