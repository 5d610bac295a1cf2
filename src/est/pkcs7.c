/*
 * Certs-only replies (RFC 7030 sections 4.1.3 and 4.2.3): a degenerate
 * SignedData with no signers and no content, only certificates (RFC 5652
 * section 5, the "certs-only" smime-type of RFC 8551 section 3.2.2).
 */
#include <openssl/pkcs7.h>

#include "est/est.h"

dt_code est_certs_only(STACK_OF(X509) * certs, unsigned char **der, size_t *len,
		       struct dt_error *err)
{
	PKCS7 *p7 = NULL;
	int n;
	dt_code rc = DT_OK;

	*der = NULL;
	*len = 0;
	/* PKCS7_content_new makes the encapsulated content id-data; detaching
	 * drops its empty OCTET STRING so eContent is absent, as RFC 5652
	 * section 5.2 wants for a degenerate SignedData. */
	if (!(p7 = PKCS7_new()) || PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1 || PKCS7_set_detached(p7, 1) != 1) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "cannot build a certs-only PKCS#7");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		if (PKCS7_add_certificate(p7, sk_X509_value(certs, i)) != 1) {
			rc = dt_fail(err, DT_ERR_INTERNAL, "cannot add a certificate to PKCS#7");
			goto out;
		}
	}
	if ((n = i2d_PKCS7(p7, der)) <= 0) {
		rc = dt_fail(err, DT_ERR_INTERNAL, "cannot encode the certs-only PKCS#7");
		goto out;
	}
	*len = (size_t)n;
out:
	PKCS7_free(p7);
	return rc;
}
