/*
 * Reading certificates back: by serial, or filtered by device, CA, class and
 * status.
 */
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"

struct query_job {
	const char *serial;
	struct dt_cert_info *out;
	const struct dt_cert_filter *filter;
	dt_cert_cb cb;
	void *arg;
};

static dt_code query_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct query_job *j = arg;
	struct store_cert c;
	dt_code rc;

	if (j->cb)
		return txn->ops->cert_list(txn, j->filter, j->cb, j->arg, err);
	if ((rc = txn->ops->cert_get(txn, j->serial, &c, 0, err)) == DT_OK)
		*j->out = c.info;
	return rc;
}

dt_code dt_cert_get(struct dt_ctx *ctx, const char *serial, struct dt_cert_info *out,
		    struct dt_error *err)
{
	char sn[DT_SERIAL_HEX_BUF];
	struct query_job j = {.serial = sn, .out = out};
	dt_code rc;

	memset(out, 0, sizeof(*out));
	if ((rc = dt_serial_normalize(serial, sn, err)) != DT_OK)
		return rc;
	return store_read(ctx->store, query_job, &j, err);
}

dt_code dt_cert_list(struct dt_ctx *ctx, const struct dt_cert_filter *f, dt_cert_cb cb, void *arg,
		     struct dt_error *err)
{
	struct query_job j = {.filter = f, .cb = cb, .arg = arg};

	return store_read(ctx->store, query_job, &j, err);
}
