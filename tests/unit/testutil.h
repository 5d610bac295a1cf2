/*
 * Helpers for the cmocka unit tests: a throwaway data dir with an open
 * context, and in-memory CSRs.
 */
#ifndef DT_TESTUTIL_H
#define DT_TESTUTIL_H

#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"
#include "devtrust/audit.h"
#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"
#include "devtrust/report.h"

struct tenv {
	char root[256];
	char data[300];
	struct dt_ctx *ctx;
};

/* A fresh data dir (org "testorg") with its context open; group: group commit. */
static inline struct tenv *tenv_new(int group)
{
	struct tenv *t = calloc(1, sizeof(*t));
	struct dt_error err;
	struct dt_init_opts io;
	struct dt_open_opts oo;

	assert_non_null(t);
	snprintf(t->root, sizeof(t->root), "/tmp/dt-unit-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	snprintf(t->data, sizeof(t->data), "%s/data", t->root);
	setenv("DEVTRUST_PASSPHRASE", "unit-test-passphrase", 1);
	memset(&io, 0, sizeof(io));
	io.data_dir = t->data;
	io.org = "testorg";
	if (dt_init(&io, &err) != DT_OK)
		fail_msg("init: %s", err.msg);
	memset(&oo, 0, sizeof(oo));
	oo.data_dir = t->data;
	oo.actor = "unit-test";
	oo.group_commit = group;
	if (dt_open(&oo, &t->ctx, &err) != DT_OK)
		fail_msg("open: %s", err.msg);
	return t;
}

static inline void tenv_free(struct tenv *t)
{
	if (!t)
		return;
	dt_close(t->ctx);
	dt_remove_tree(t->root);
	free(t);
}

/* A DER CSR (CN csr-name-must-be-ignored) signed by an existing key. */
static inline unsigned char *tu_csr_for_key(EVP_PKEY *k, size_t *len)
{
	X509_REQ *r = X509_REQ_new();
	unsigned char *der = NULL;
	int n;

	assert_non_null(r);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
				   (const unsigned char *)"csr-name-must-be-ignored", -1, -1, 0);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	n = i2d_X509_REQ(r, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_REQ_free(r);
	return der;
}

/* A DER CSR for a new key of the given EC curve ("P-256", "P-384"). */
static inline unsigned char *tu_csr(const char *curve, EVP_PKEY **key_out, size_t *len)
{
	EVP_PKEY *k = EVP_EC_gen(curve);
	unsigned char *der;

	assert_non_null(k);
	der = tu_csr_for_key(k, len);
	if (key_out)
		*key_out = k;
	else
		EVP_PKEY_free(k);
	return der;
}

/* Adds class "pump" on the default CA and device id in it. */
static inline void tu_device(struct tenv *t, const char *id, char token[DT_TOKEN_BUF])
{
	struct dt_error err;
	struct dt_class cl;
	struct dt_device d;
	char tok[DT_TOKEN_BUF];

	if (dt_class_get(t->ctx, "pump", &cl, &err) != DT_OK) {
		dt_class_defaults(&cl);
		strcpy(cl.name, "pump");
		cl.key_types = DT_KEY_EC_P256 | DT_KEY_EC_P384;
		if (dt_class_add(t->ctx, &cl, &err) != DT_OK)
			fail_msg("class add: %s", err.msg);
	}
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	strcpy(d.class_name, "pump");
	strcpy(d.serial, "SN-1");
	if (dt_device_add(t->ctx, &d, token ? token : tok, &err) != DT_OK)
		fail_msg("device add: %s", err.msg);
}

/* ---- tu2_: helpers of the ca/issue/crl/inventory/report tests ---- */
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <sqlite3.h>

static inline int tu2_count_cb(void *arg, const struct dt_cert_info *c)
{
	(void)c;
	(*(int64_t *)arg)++;
	return 0;
}

/* How many certificates the store holds, whatever their status. */
static inline int64_t tu2_cert_count(struct tenv *t)
{
	struct dt_error err;
	int64_t n = 0;

	if (dt_cert_list(t->ctx, NULL, tu2_count_cb, &n, &err) != DT_OK)
		fail_msg("cert list: %s", err.msg);
	return n;
}

static inline X509 *tu2_d2i_cert(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	assert_non_null(x);
	assert_ptr_equal(p, der + len);
	return x;
}

/* The certificate of CA name ("root" or an issuing CA), parsed. */
static inline X509 *tu2_ca_cert(struct tenv *t, const char *name)
{
	struct dt_error err;
	unsigned char *der = NULL;
	size_t len = 0;
	X509 *x;

	if (dt_ca_cert_der(t->ctx, name, &der, &len, &err) != DT_OK)
		fail_msg("ca cert %s: %s", name, err.msg);
	x = tu2_d2i_cert(der, len);
	OPENSSL_free(der);
	return x;
}

/* Adds class name on CA ca with the given key types, lifetime and supersede rule. */
static inline void tu2_class(struct tenv *t, const char *name, const char *ca, unsigned key_types,
			     int64_t lifetime_s, int revoke_superseded)
{
	struct dt_error err;
	struct dt_class cl;

	dt_class_defaults(&cl);
	snprintf(cl.name, sizeof(cl.name), "%s", name);
	snprintf(cl.ca, sizeof(cl.ca), "%s", ca);
	cl.key_types = key_types;
	cl.lifetime_s = lifetime_s;
	cl.revoke_superseded = revoke_superseded;
	if (dt_class_add(t->ctx, &cl, &err) != DT_OK)
		fail_msg("class add %s: %s", name, err.msg);
}

/* Adds device id of class cls with serial and manufacturer (may be ""); token may be NULL. */
static inline void tu_device_of(struct tenv *t, const char *id, const char *cls,
				const char *manufacturer, const char *serial,
				char token[DT_TOKEN_BUF])
{
	struct dt_error err;
	struct dt_device d;
	char tok[DT_TOKEN_BUF];

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.class_name, sizeof(d.class_name), "%s", cls);
	snprintf(d.serial, sizeof(d.serial), "%s", serial);
	snprintf(d.manufacturer, sizeof(d.manufacturer), "%s", manufacturer);
	if (dt_device_add(t->ctx, &d, token ? token : tok, &err) != DT_OK)
		fail_msg("device add %s: %s", id, err.msg);
}

/* Adds device id (serial SN-<id>) in class cls; token may be NULL. */
static inline void tu2_device(struct tenv *t, const char *id, const char *cls,
			      char token[DT_TOKEN_BUF])
{
	char serial[DT_ID_BUF];

	snprintf(serial, sizeof(serial), "SN-%.60s", id);
	tu_device_of(t, id, cls, "", serial, token);
}

/* Issues a certificate for id from a fresh key; cert_out (if set) gets it parsed. */
static inline struct dt_cert_info tu2_issue(struct tenv *t, const char *id, const char *curve,
					    X509 **cert_out)
{
	struct dt_error err;
	struct dt_cert_info info;
	unsigned char *csr, *der = NULL;
	size_t len, der_len = 0;

	csr = tu_csr(curve, NULL, &len);
	if (dt_cert_issue(t->ctx, id, csr, len, NULL, &der, &der_len, &info, &err) != DT_OK)
		fail_msg("issue %s: %s", id, err.msg);
	if (cert_out)
		*cert_out = tu2_d2i_cert(der, der_len);
	OPENSSL_free(csr);
	OPENSSL_free(der);
	return info;
}

/* Runs SQL on the data dir's database behind the library's back. */
static inline void tu2_sql(struct tenv *t, const char *sql)
{
	char path[400];
	sqlite3 *db = NULL;
	char *msg = NULL;

	snprintf(path, sizeof(path), "%s/devtrust.db", t->data);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		fail_msg("sqlite open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char copy[256];
		snprintf(copy, sizeof(copy), "%s", msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(db);
		fail_msg("sql '%s': %s", sql, copy);
	}
	if (sqlite3_changes(db) < 1) {
		sqlite3_close(db);
		fail_msg("sql '%s' changed no row", sql);
	}
	sqlite3_close(db);
}

/* Lower-case hex of a certificate serial, left-padded to 32 digits like dt_cert_info. */
static inline void tu2_serial_hex(const ASN1_INTEGER *sn, char out[DT_SERIAL_HEX_BUF])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	size_t n;

	assert_non_null(hex);
	n = strlen(hex);
	assert_true(n <= 40);
	memset(out, '0', DT_SERIAL_HEX_BUF);
	if (n < 32) {
		memcpy(out + 32 - n, hex, n + 1);
	} else {
		memcpy(out, hex, n + 1);
	}
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p + 32);
	OPENSSL_free(hex);
	BN_free(bn);
}
/* ---- end of tu2_ helpers ---- */

/* The standard fixture: a fresh data dir per test, inline commits. */
static inline int tu_setup(void **state)
{
	*state = tenv_new(0);
	return 0;
}

static inline int tu_teardown(void **state)
{
	tenv_free(*state);
	return 0;
}

/* Generates the next CRL of a CA and parses it (whole DER consumed). */
static inline X509_CRL *tu_crl(struct dt_ctx *ctx, const char *ca)
{
	struct dt_error err;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl;

	if (dt_crl_generate(ctx, ca, &der, &len, &err) != DT_OK)
		fail_msg("crl %s: %s", ca, err.msg);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_ptr_equal(p, der + len);
	OPENSSL_free(der);
	return crl;
}

#endif
