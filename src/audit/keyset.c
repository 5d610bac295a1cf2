/*
 * The audit keys as a verifier sees them: each registered certificate must be
 * issued by the root (so whoever can write the database cannot register a key
 * of their own), and a checkpoint must carry a valid signature by one of them
 * over its to-be-signed text.
 */
#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "core/core.h"

size_t audit_checkpoint_tbs(const struct store_checkpoint *cp, char *buf, size_t cap)
{
	char hash[65];
	int n;

	dt_hex(cp->hash, 32, hash);
	n = snprintf(buf, cap,
		     "devtrust-audit-checkpoint-v1\nseq=%lld\nhash=%s\ntime=%lld\nkey=%s\n",
		     (long long)cp->seq, hash, (long long)cp->time, cp->key_id);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* "AB:cd:..." or "abcd..." to 64 lower-case hex digits; 0 if it is not a SHA-256. */
static int normalize_fingerprint(const char *in, char out[DT_SHA256_HEX_BUF])
{
	size_t n = 0;

	for (; *in && n < 64; in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in))
			return 0;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	out[n] = '\0';
	return n == 64 && *in == '\0';
}

/* Why cert cannot be an audit key issued by root, or "" if it can. */
static void check_key_cert(const struct audit_keyset *ks, const struct store_audit_key *k,
			   X509 *cert, struct audit_key_check *out)
{
	EVP_PKEY *pub = cert ? X509_get0_pubkey(cert) : NULL;
	char id[DT_SHA256_HEX_BUF];
	unsigned type = 0;
	struct dt_error e;

	if (!cert) {
		snprintf(out->why, sizeof(out->why), "its certificate does not parse");
		return;
	}
	if (X509_check_issued(ks->root, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ks->root)) != 1) {
		snprintf(out->why, sizeof(out->why),
			 "its certificate is not issued by the root CA (fingerprint %.16s...)",
			 ks->root_fingerprint);
		return;
	}
	if (ca_spki_id(cert, id, &e) != DT_OK || strcmp(id, k->key_id) != 0) {
		snprintf(out->why, sizeof(out->why),
			 "its id is not the SHA-256 of its certificate's public key");
		return;
	}
	if (!pub || ca_key_type_of(pub, &type, &e) != DT_OK || type != DT_KEY_EC_P256) {
		snprintf(out->why, sizeof(out->why), "it is not an EC P-256 key");
		return;
	}
	if (!(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE)) {
		snprintf(out->why, sizeof(out->why), "its certificate does not allow signatures");
		return;
	}
	out->not_before = ca_asn1_time(X509_get0_notBefore(cert));
	out->not_after = ca_asn1_time(X509_get0_notAfter(cert));
	EVP_PKEY_up_ref(pub);
	out->pub = pub;
}

static int add_key(void *arg, const struct store_audit_key *k)
{
	struct audit_keyset *ks = arg;
	struct audit_key_check *grown, *c;
	X509 *cert;

	if (!(grown = realloc(ks->keys, (ks->n + 1) * sizeof(*grown)))) {
		ks->oom = 1;
		return 1;
	}
	ks->keys = grown;
	c = &ks->keys[ks->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->key_id, sizeof(c->key_id), "%s", k->key_id);
	cert = ca_der_cert(k->cert, k->cert_len);
	check_key_cert(ks, k, cert, c);
	X509_free(cert);
	ERR_clear_error();
	return 0;
}

dt_code audit_keyset_load(struct store_txn *txn, const char *pin, struct audit_keyset *ks,
			  struct dt_error *err)
{
	struct store_ca *root = calloc(1, sizeof(*root));
	unsigned char h[32];
	char want[DT_SHA256_HEX_BUF];
	dt_code rc;

	memset(ks, 0, sizeof(*ks));
	if (!root)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = txn->ops->ca_get(txn, "root", root, err)) != DT_OK)
		goto out;
	if (!(ks->root = ca_der_cert(root->cert, root->cert_len))) {
		rc = dt_fail(err, DT_ERR_STATE, "the stored root CA certificate does not parse");
		goto out;
	}
	dt_sha256(root->cert, root->cert_len, h);
	dt_hex(h, 32, ks->root_fingerprint);
	if (pin && !normalize_fingerprint(pin, want)) {
		rc = dt_fail(err, DT_ERR_INVALID,
			     "root fingerprint '%.80s' is not 64 hex digits (SHA-256, colons "
			     "allowed)",
			     pin);
		goto out;
	}
	if (pin && strcmp(want, ks->root_fingerprint) != 0) {
		rc = dt_fail(err, DT_ERR_STATE,
			     "the store's root CA (SHA-256 %s) is not the pinned one (%s): the "
			     "database's CA records were replaced",
			     ks->root_fingerprint, want);
		goto out;
	}
	if ((rc = txn->ops->audit_key_each(txn, add_key, ks, err)) != DT_OK)
		goto out;
	if (ks->oom)
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory");
out:
	free(root);
	if (rc != DT_OK)
		audit_keyset_free(ks);
	return rc;
}

void audit_keyset_free(struct audit_keyset *ks)
{
	for (size_t i = 0; ks->keys && i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pub);
	free(ks->keys);
	X509_free(ks->root);
	memset(ks, 0, sizeof(*ks));
}

int audit_checkpoint_check(const struct audit_keyset *ks, const struct store_checkpoint *cp,
			   char *why, size_t cap)
{
	const struct audit_key_check *k = NULL;
	char tbs[AUDIT_TBS_MAX];
	size_t n = audit_checkpoint_tbs(cp, tbs, sizeof(tbs));
	EVP_MD_CTX *md = NULL;
	int ok;

	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->keys[i].key_id, cp->key_id) == 0)
			k = &ks->keys[i];
	if (!k) {
		snprintf(why, cap,
			 "it names audit key %.16s..., which is not registered (forged "
			 "checkpoint)",
			 cp->key_id);
		return 1;
	}
	if (!k->pub) {
		snprintf(why, cap, "its audit key %.16s... is unusable: %s", cp->key_id, k->why);
		return 1;
	}
	ok = n > 0 && (md = EVP_MD_CTX_new()) &&
	     EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pub) == 1 &&
	     EVP_DigestVerify(md, cp->sig, cp->sig_len, (const unsigned char *)tbs, n) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok) {
		snprintf(why, cap,
			 "its signature does not verify with audit key %.16s... (forged or altered "
			 "checkpoint)",
			 cp->key_id);
		return 1;
	}
	if (cp->time < k->not_before || cp->time > k->not_after) {
		snprintf(why, cap,
			 "it is dated outside its audit key's certificate validity (forged "
			 "checkpoint)");
		return 1;
	}
	return 0;
}
