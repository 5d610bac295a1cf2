/*
 * The TLS side of a session, set on libcurl's SSL_CTX before each connection
 * (CURLOPT_SSL_CTX_FUNCTION): only our trust anchor (never the system's CA
 * bundle), our client certificate and key as OpenSSL objects (the key is
 * never serialised for libcurl), and in provisional pin mode a record of the
 * chain the server presented.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "agent/agent.h"

/*
 * Provisional pin mode (RFC 7030 section 4.1.1): the handshake is not
 * verified (libcurl's verification is off, and only /cacerts is fetched, with
 * no credential), but the chain is kept so that a pin can be compared with it.
 */
static int record_chain(X509_STORE_CTX *vc, void *arg)
{
	struct ag_tls *t = arg;
	STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(vc);
	X509 *leaf = X509_STORE_CTX_get0_cert(vc);

	sk_X509_pop_free(t->seen, X509_free);
	t->seen = untrusted ? X509_chain_up_ref(untrusted) : sk_X509_new_null();
	/* The leaf comes first; OpenSSL puts it in the untrusted stack too, but not
	 * every version promises that. */
	if (t->seen && leaf && (sk_X509_num(t->seen) == 0 || sk_X509_value(t->seen, 0) != leaf)) {
		if (X509_up_ref(leaf) != 1 || !sk_X509_insert(t->seen, leaf, 0))
			return 0;
	}
	return t->seen != NULL;
}

int ag_tls_apply(void *ssl_ctx, struct ag_tls *t)
{
	SSL_CTX *ctx = ssl_ctx;

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	if (t->trust) {
		/* SSL_CTX_set_cert_store takes the reference; the session keeps its own. */
		if (X509_STORE_up_ref(t->trust) != 1)
			goto fail;
		SSL_CTX_set_cert_store(ctx, t->trust);
		X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
		X509_VERIFY_PARAM_set_depth(SSL_CTX_get0_param(ctx), AG_MAX_CHAIN_DEPTH);
	} else {
		SSL_CTX_set_cert_verify_callback(ctx, record_chain, t);
	}
	if (t->cert) {
		if (SSL_CTX_use_certificate(ctx, t->cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, t->key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
			goto fail;
		for (int i = 0; i < sk_X509_num(t->chain); i++)
			if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(t->chain, i)) != 1)
				goto fail;
	}
	return 1;
fail:
	ERR_clear_error();
	return 0;
}
