/*
 * The /authz request as a relying party sends it: the device's certificate
 * percent-encoded in a header (nginx's $ssl_client_escaped_cert, RFC 3986
 * section 2.1), or its serial and issuer key id (FreeRADIUS), and the
 * service, method, target and source address of the device's request. No
 * libevent here, so the fuzz harness drives exactly this.
 */
#include <stdlib.h>
#include <string.h>

#include "verify/verify.h"

dt_code verify_authz_request(const struct verify_authz_headers *h, struct dt_verify_request *req,
			     char **buf, struct dt_error *err)
{
	char *pem = NULL;
	size_t len = 0;
	dt_code rc;

	memset(req, 0, sizeof(*req));
	*buf = NULL;
	req->service = h->service;
	req->method = h->method;
	req->path = h->uri;
	req->peer = h->addr;
	if (h->cert && *h->cert) {
		if ((rc = verify_unescape(h->cert, DT_MAX_VERIFY_CERT_BYTES, &pem, &len, err)) !=
		    DT_OK)
			return rc;
		req->cert = (const unsigned char *)pem;
		req->cert_len = len;
		*buf = pem;
		return DT_OK;
	}
	req->serial = h->serial;
	req->issuer_key_id = h->keyid;
	return DT_OK;
}
