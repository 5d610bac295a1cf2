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

static int tu_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

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
	nftw(t->root, tu_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
}

/* A DER CSR for a new key of the given EC curve ("P-256", "P-384"). */
static inline unsigned char *tu_csr(const char *curve, EVP_PKEY **key_out, size_t *len)
{
	EVP_PKEY *k = EVP_EC_gen(curve);
	X509_REQ *r = X509_REQ_new();
	unsigned char *der = NULL;
	int n;

	assert_non_null(k);
	assert_non_null(r);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
				   (const unsigned char *)"csr-name-must-be-ignored", -1, -1, 0);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	n = i2d_X509_REQ(r, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_REQ_free(r);
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

#endif
