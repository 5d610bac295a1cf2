/*
 * Reading certificates back: by serial, or filtered by device, CA, class and
 * status.
 */
#include <stdlib.h>
#include <openssl/crypto.h>
#include <string.h>

#include "ca/ca.h"

struct query_job {
	const char *serial;
	struct dt_cert_info *out;
	unsigned char **der;
	size_t *der_len;
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
	if ((rc = txn->ops->cert_get(txn, j->serial, &c, j->der != NULL, err)) != DT_OK)
		return rc;
	if (j->out)
		*j->out = c.info;
	if (j->der) {
		*j->der = OPENSSL_memdup(c.der, c.der_len);
		*j->der_len = c.der_len;
		free((void *)c.der);
		if (!*j->der)
			return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	return DT_OK;
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

dt_code dt_cert_der(struct dt_ctx *ctx, const char *serial, unsigned char **der, size_t *len,
		    struct dt_error *err)
{
	char sn[DT_SERIAL_HEX_BUF];
	struct query_job j = {.serial = sn, .der = der, .der_len = len};
	dt_code rc;

	*der = NULL;
	*len = 0;
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
