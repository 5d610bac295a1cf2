/*
 * Certs-only replies (RFC 7030 sections 4.1.3 and 4.2.3): base64 of a
 * degenerate CMS SignedData (RFC 5652 section 5) whose only content is
 * certificates. Decoded with OpenSSL's CMS codec and read through
 * CMS_get1_certs; nothing in them is trusted until it verifies (trust.c).
 */
#include <limits.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <stdlib.h>

#include "agent/agent.h"

enum ag_code ag_certs_only_parse(const unsigned char *body, size_t len, STACK_OF(X509) * *out,
				 struct ag_error *e)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t der_len = 0;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *certs = NULL;
	enum ag_code rc;

	*out = NULL;
	if ((rc = ag_base64_decode(body, len, AG_MAX_DER, &der, &der_len, e)) != AG_OK)
		return rc;
	p = der;
	if (!(cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len))) {
		rc = ag_fail(e, AG_E_REFUSED,
			     "reply is not a CMS ContentInfo (RFC 7030 section 4.2.3: want "
			     "certs-only PKCS#7)");
		ERR_clear_error();
		goto out;
	}
	if (p != der + der_len) {
		rc = ag_fail(e, AG_E_REFUSED, "reply has %ld bytes after its PKCS#7",
			     (long)(der + der_len - p));
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		rc = ag_fail(e, AG_E_REFUSED,
			     "reply is a CMS %s, not SignedData (RFC 5652 section 5)",
			     OBJ_nid2sn(OBJ_obj2nid(CMS_get0_type(cms))));
		goto out;
	}
	certs = CMS_get1_certs(cms);
	if (!certs || sk_X509_num(certs) == 0) {
		rc = ag_fail(e, AG_E_REFUSED, "certs-only reply carries no certificate");
		goto out;
	}
	if (sk_X509_num(certs) > AG_MAX_CERTS) {
		rc = ag_fail(e, AG_E_REFUSED,
			     "certs-only reply carries %d certificates; the limit "
			     "is %d",
			     sk_X509_num(certs), AG_MAX_CERTS);
		goto out;
	}
	*out = certs;
	certs = NULL;
out:
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	free(der);
	ERR_clear_error();
	return rc;
}
