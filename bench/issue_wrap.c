/*
 * Instrumented build of issue_bench: each wrapper function below replaces
 * the function it is named after at link time (ld --wrap, which run.sh derives from this file),
 * times it with the monotonic clock and calls the real one. Only calls made
 * from libdevtrust's objects are wrapped, so the tree printed by
 * bench_wrap_report() is where dt_cert_issue spends its wall time, store
 * waits and fsync included. Times are inclusive; "(rest)" is the parent's
 * time not inside any wrapped child.
 */
#include <openssl/decoder.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "store/store.h"
#include "store/store_sqlite.h"

/* id, parent id, label */
#define SLOTS(X)                                                                                   \
	X(ISSUE, ISSUE, "dt_cert_issue")                                                           \
	X(CSR_PARSE, ISSUE, "csr_parse")                                                           \
	X(D2I_REQ, CSR_PARSE, "d2i_X509_REQ (decodes the key via providers)")                      \
	X(CSR_D2I, CSR_PARSE, "ASN1_item_d2i (CSR structure, key left encoded)")                   \
	X(CSR_I2D, CSR_PARSE, "ASN1_item_i2d (SPKI DER)")                                          \
	X(DEC_NEW, CSR_PARSE, "OSSL_DECODER_CTX_new_for_pkey")                                     \
	X(DEC_FROM, CSR_PARSE, "OSSL_DECODER_from_data (decodes the key)")                         \
	X(REQ_VERIFY, CSR_PARSE, "X509_REQ_verify")                                                \
	X(CSR_VERIFY, CSR_PARSE, "ASN1_item_verify (CSR signature)")                               \
	X(I2D_PUBKEY, CSR_PARSE, "i2d_X509_PUBKEY (SPKI for its hash)")                            \
	X(SHA, CSR_PARSE, "dt_sha256")                                                             \
	X(PRECHECK, ISSUE, "store_read: precheck (device, class, key reuse)")                      \
	X(DEV_GET_R, PRECHECK, "sq_device_get")                                                    \
	X(CLASS_GET_R, PRECHECK, "sq_class_get")                                                   \
	X(SPKI_R, PRECHECK, "sq_cert_by_spki")                                                     \
	X(EXEC_R, PRECHECK, "sqlite3_exec BEGIN/COMMIT (read txn)")                                \
	X(CA_ISSUE, ISSUE, "ca_issue_device_cert")                                                 \
	X(SIGNER, CA_ISSUE, "ca_signer_get (cached keyring)")                                      \
	X(X509_NEW, CA_ISSUE, "X509_new")                                                          \
	X(SERIAL, CA_ISSUE, "ca_new_serial (RAND + BN)")                                           \
	X(NAME_ADD, CA_ISSUE, "X509_NAME_add_entry_by_txt/NID (subject)")                          \
	X(SET_ISSUER, CA_ISSUE, "X509_set_issuer_name")                                            \
	X(TIME_ADJ, CA_ISSUE, "X509_time_adj_ex")                                                  \
	X(SET_PUBKEY, CA_ISSUE, "X509_set_pubkey (key encode/decode round trip)")                  \
	X(SET0_PARAM, CA_ISSUE, "X509_PUBKEY_set0_param (SPKI copied as is)")                      \
	X(ADD_EXT, CA_ISSUE, "ca_add_ext x8")                                                      \
	X(EXT_CONF, ADD_EXT, "X509V3_EXT_conf_nid")                                                \
	X(X509_ADD_EXT, ADD_EXT, "X509_add_ext")                                                   \
	X(SIGN, CA_ISSUE, "ca_sign_cert")                                                          \
	X(X509_SIGN, SIGN, "X509_sign")                                                            \
	X(I2D_X509, CA_ISSUE, "i2d_X509")                                                          \
	X(LINT, CA_ISSUE, "ca_lint_device_cert (pre-issuance lint)")                               \
	X(LINT_D2I, LINT, "ASN1_item_d2i (re-parse, ASN.1 template)")                              \
	X(LINT_I2D, LINT, "ASN1_item_i2d (SPKI)")                                                  \
	X(LINT_SHA, LINT, "dt_sha256 (SPKI against the CSR's)")                                    \
	X(CA_ASN1, CA_ISSUE, "ASN1_item_d2i/i2d/verify, other")                                    \
	X(D2I_X509, CA_ISSUE, "lint: d2i_X509 (re-parse)")                                         \
	X(CHECK_ISSUED, CA_ISSUE, "lint: X509_check_issued (caches extensions, SHA-1)")            \
	X(X509_VERIFY, CA_ISSUE, "lint: X509_verify (ECDSA verify of our signature)")              \
	X(KEYTYPE, CA_ISSUE, "lint: ca_key_type_of")                                               \
	X(EXT_D2I, CA_ISSUE, "lint: X509_get_ext_d2i (SAN)")                                       \
	X(OCSP, CA_ISSUE, "lint: X509_get1_ocsp")                                                  \
	X(ASN1_TIME, CA_ISSUE, "ca_asn1_time")                                                     \
	X(X509_FREE, CA_ISSUE, "X509_free")                                                        \
	X(COMMIT, ISSUE, "store_write: commit (queue + writer thread)")                            \
	X(EXEC_BEGIN, COMMIT, "sqlite3_exec BEGIN IMMEDIATE")                                      \
	X(EXEC_SP, COMMIT, "sqlite3_exec SAVEPOINT/RELEASE")                                       \
	X(DEV_GET_W, COMMIT, "sq_device_get (re-check)")                                           \
	X(CLASS_GET_W, COMMIT, "sq_class_get (re-check)")                                          \
	X(SPKI_W, COMMIT, "sq_cert_by_spki (re-check)")                                            \
	X(CERT_INSERT, COMMIT, "sq_cert_insert")                                                   \
	X(SET_STATE, COMMIT, "sq_device_set_state (activate)")                                     \
	X(AUDIT, COMMIT, "audit_append x2 (hash chain)")                                           \
	X(EXEC_COMMIT, COMMIT, "sqlite3_exec COMMIT (WAL write + fsync)")                          \
	X(EXEC_OTHER, COMMIT, "sqlite3_exec other")                                                \
	X(ASN1_OTHER, ISSUE, "ASN1_item_d2i/i2d/verify outside csr_parse")

#define AS_ENUM(id, parent, label) S_##id,
enum { SLOTS(AS_ENUM) S_COUNT };
#define AS_PARENT(id, parent, label) S_##parent,
static const int parent_of[S_COUNT] = {SLOTS(AS_PARENT)};
#define AS_LABEL(id, parent, label) label,
static const char *const label_of[S_COUNT] = {SLOTS(AS_LABEL)};

static atomic_llong slot_ns[S_COUNT];
static atomic_llong slot_calls[S_COUNT];
static _Thread_local int in_read;
/* Generic calls (ASN1_item_*, dt_sha256) count for the stage they are made in. */
enum { ST_NONE = 0, ST_CSR, ST_CA, ST_LINT };
static _Thread_local int stage;

static int by_stage(int csr_slot, int ca_slot, int lint_slot)
{
	switch (stage) {
	case ST_CSR:
		return csr_slot;
	case ST_CA:
		return ca_slot;
	case ST_LINT:
		return lint_slot;
	default:
		return S_ASN1_OTHER;
	}
}

static long long ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void add(int slot, long long t0)
{
	atomic_fetch_add(&slot_ns[slot], ns_now() - t0);
	atomic_fetch_add(&slot_calls[slot], 1);
}

#define TIMED(slot, call)                                                                          \
	do {                                                                                       \
		long long t0_ = ns_now();                                                          \
		r = call;                                                                          \
		add(slot, t0_);                                                                    \
	} while (0)

/* ---- libdevtrust internals ---- */

dt_code __real_dt_cert_issue(struct dt_ctx *, const char *, const unsigned char *, size_t,
			     const struct dt_issue_opts *, unsigned char **, size_t *,
			     struct dt_cert_info *, struct dt_error *);
dt_code __wrap_dt_cert_issue(struct dt_ctx *ctx, const char *id, const unsigned char *csr,
			     size_t len, const struct dt_issue_opts *o, unsigned char **der,
			     size_t *dlen, struct dt_cert_info *info, struct dt_error *err)
{
	dt_code r;

	TIMED(S_ISSUE, __real_dt_cert_issue(ctx, id, csr, len, o, der, dlen, info, err));
	return r;
}

dt_code __real_csr_parse(const unsigned char *, size_t, struct csr_info *, struct dt_error *);
dt_code __wrap_csr_parse(const unsigned char *in, size_t len, struct csr_info *out,
			 struct dt_error *err)
{
	dt_code r;

	int saved = stage;

	stage = ST_CSR;
	TIMED(S_CSR_PARSE, __real_csr_parse(in, len, out, err));
	stage = saved;
	return r;
}

dt_code __real_store_read(struct store *, store_job_fn, void *, struct dt_error *);
dt_code __wrap_store_read(struct store *s, store_job_fn fn, void *arg, struct dt_error *err)
{
	dt_code r;

	in_read++;
	TIMED(S_PRECHECK, __real_store_read(s, fn, arg, err));
	in_read--;
	return r;
}

dt_code __real_store_write(struct store *, store_job_fn, void *, struct dt_error *);
dt_code __wrap_store_write(struct store *s, store_job_fn fn, void *arg, struct dt_error *err)
{
	dt_code r;

	TIMED(S_COMMIT, __real_store_write(s, fn, arg, err));
	return r;
}

dt_code __real_ca_issue_device_cert(struct dt_ctx *, const struct dt_device *,
				    const struct dt_class *, const struct csr_info *,
				    struct ca_issued *, struct dt_error *);
dt_code __wrap_ca_issue_device_cert(struct dt_ctx *ctx, const struct dt_device *d,
				    const struct dt_class *cl, const struct csr_info *csr,
				    struct ca_issued *out, struct dt_error *err)
{
	dt_code r;
	int saved = stage;

	stage = ST_CA;
	TIMED(S_CA_ISSUE, __real_ca_issue_device_cert(ctx, d, cl, csr, out, err));
	stage = saved;
	return r;
}

dt_code __real_ca_lint_device_cert(const unsigned char *, size_t, const struct ca_lint_want *,
				   struct dt_error *);
dt_code __wrap_ca_lint_device_cert(const unsigned char *der, size_t len,
				   const struct ca_lint_want *w, struct dt_error *err)
{
	dt_code r;
	int saved = stage;

	stage = ST_LINT;
	TIMED(S_LINT, __real_ca_lint_device_cert(der, len, w, err));
	stage = saved;
	return r;
}

dt_code __real_ca_signer_get(struct dt_ctx *, const char *, enum ca_use, const struct ca_signer **,
			     struct dt_error *);
dt_code __wrap_ca_signer_get(struct dt_ctx *ctx, const char *name, enum ca_use use,
			     const struct ca_signer **out, struct dt_error *err)
{
	dt_code r;

	TIMED(S_SIGNER, __real_ca_signer_get(ctx, name, use, out, err));
	return r;
}

dt_code __real_ca_new_serial(ASN1_INTEGER **, char *, struct dt_error *);
dt_code __wrap_ca_new_serial(ASN1_INTEGER **out, char *hex, struct dt_error *err)
{
	dt_code r;

	TIMED(S_SERIAL, __real_ca_new_serial(out, hex, err));
	return r;
}

dt_code __real_ca_add_ext(X509 *, const X509 *, int, const char *, struct dt_error *);
dt_code __wrap_ca_add_ext(X509 *x, const X509 *issuer, int nid, const char *value,
			  struct dt_error *err)
{
	dt_code r;

	TIMED(S_ADD_EXT, __real_ca_add_ext(x, issuer, nid, value, err));
	return r;
}

dt_code __real_ca_sign_cert(const struct ca_signer *, X509 **, struct dt_error *);
dt_code __wrap_ca_sign_cert(const struct ca_signer *s, X509 **x, struct dt_error *err)
{
	dt_code r;

	TIMED(S_SIGN, __real_ca_sign_cert(s, x, err));
	return r;
}

dt_code __real_ca_key_type_of(EVP_PKEY *, unsigned *, struct dt_error *);
dt_code __wrap_ca_key_type_of(EVP_PKEY *pk, unsigned *out, struct dt_error *err)
{
	dt_code r;

	TIMED(S_KEYTYPE, __real_ca_key_type_of(pk, out, err));
	return r;
}

int64_t __real_ca_asn1_time(const ASN1_TIME *);
int64_t __wrap_ca_asn1_time(const ASN1_TIME *t)
{
	int64_t r;

	TIMED(S_ASN1_TIME, __real_ca_asn1_time(t));
	return r;
}

void __real_dt_sha256(const void *, size_t, unsigned char *);
void __wrap_dt_sha256(const void *data, size_t n, unsigned char *out)
{
	long long t0 = ns_now();

	__real_dt_sha256(data, n, out);
	add(by_stage(S_SHA, S_CA_ASN1, S_LINT_SHA), t0);
}

dt_code __real_audit_append(struct store_txn *, const char *, const char *, const char *,
			    const char *, const char *, struct dt_error *);
dt_code __wrap_audit_append(struct store_txn *t, const char *actor, const char *action,
			    const char *object, const char *reason, const char *details,
			    struct dt_error *err)
{
	dt_code r;

	TIMED(S_AUDIT, __real_audit_append(t, actor, action, object, reason, details, err));
	return r;
}

/* Store operations, reached through the sq_ops table in sqlite_ops_audit.c. */
dt_code __real_sq_device_get(struct store_txn *, const char *, struct dt_device *, unsigned char *,
			     struct dt_error *);
dt_code __wrap_sq_device_get(struct store_txn *t, const char *id, struct dt_device *d,
			     unsigned char *h, struct dt_error *err)
{
	dt_code r;

	TIMED(in_read ? S_DEV_GET_R : S_DEV_GET_W, __real_sq_device_get(t, id, d, h, err));
	return r;
}

dt_code __real_sq_class_get(struct store_txn *, const char *, struct dt_class *, struct dt_error *);
dt_code __wrap_sq_class_get(struct store_txn *t, const char *name, struct dt_class *c,
			    struct dt_error *err)
{
	dt_code r;

	TIMED(in_read ? S_CLASS_GET_R : S_CLASS_GET_W, __real_sq_class_get(t, name, c, err));
	return r;
}

dt_code __real_sq_cert_by_spki(struct store_txn *, const unsigned char *, dt_cert_cb, void *,
			       struct dt_error *);
dt_code __wrap_sq_cert_by_spki(struct store_txn *t, const unsigned char *h, dt_cert_cb cb,
			       void *arg, struct dt_error *err)
{
	dt_code r;

	TIMED(in_read ? S_SPKI_R : S_SPKI_W, __real_sq_cert_by_spki(t, h, cb, arg, err));
	return r;
}

dt_code __real_sq_cert_insert(struct store_txn *, const struct store_cert *, struct dt_error *);
dt_code __wrap_sq_cert_insert(struct store_txn *t, const struct store_cert *c, struct dt_error *err)
{
	dt_code r;

	TIMED(S_CERT_INSERT, __real_sq_cert_insert(t, c, err));
	return r;
}

dt_code __real_sq_device_set_state(struct store_txn *, const char *, enum dt_state, int64_t,
				   struct dt_error *);
dt_code __wrap_sq_device_set_state(struct store_txn *t, const char *id, enum dt_state s,
				   int64_t now, struct dt_error *err)
{
	dt_code r;

	TIMED(S_SET_STATE, __real_sq_device_set_state(t, id, s, now, err));
	return r;
}

int __real_sqlite3_exec(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *,
			char **);
int __wrap_sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
			void *arg, char **emsg)
{
	int r, slot;

	if (in_read)
		slot = S_EXEC_R;
	else if (!strncmp(sql, "BEGIN", 5))
		slot = S_EXEC_BEGIN;
	else if (!strncmp(sql, "SAVEPOINT", 9) || !strncmp(sql, "RELEASE", 7))
		slot = S_EXEC_SP;
	else if (!strcmp(sql, "COMMIT"))
		slot = S_EXEC_COMMIT;
	else
		slot = S_EXEC_OTHER;
	TIMED(slot, __real_sqlite3_exec(db, sql, cb, arg, emsg));
	return r;
}

/* ---- OpenSSL calls made by libdevtrust ---- */

X509_REQ *__real_d2i_X509_REQ(X509_REQ **, const unsigned char **, long);
X509_REQ *__wrap_d2i_X509_REQ(X509_REQ **a, const unsigned char **pp, long len)
{
	X509_REQ *r;

	TIMED(S_D2I_REQ, __real_d2i_X509_REQ(a, pp, len));
	return r;
}

int __real_X509_REQ_verify(X509_REQ *, EVP_PKEY *);
int __wrap_X509_REQ_verify(X509_REQ *a, EVP_PKEY *k)
{
	int r;

	TIMED(S_REQ_VERIFY, __real_X509_REQ_verify(a, k));
	return r;
}

int __real_i2d_X509_PUBKEY(const X509_PUBKEY *, unsigned char **);
int __wrap_i2d_X509_PUBKEY(const X509_PUBKEY *a, unsigned char **pp)
{
	int r;

	TIMED(S_I2D_PUBKEY, __real_i2d_X509_PUBKEY(a, pp));
	return r;
}

ASN1_VALUE *__real_ASN1_item_d2i(ASN1_VALUE **, const unsigned char **, long, const ASN1_ITEM *);
ASN1_VALUE *__wrap_ASN1_item_d2i(ASN1_VALUE **v, const unsigned char **in, long len,
				 const ASN1_ITEM *it)
{
	ASN1_VALUE *r;

	TIMED(by_stage(S_CSR_D2I, S_CA_ASN1, S_LINT_D2I), __real_ASN1_item_d2i(v, in, len, it));
	return r;
}

int __real_ASN1_item_i2d(const ASN1_VALUE *, unsigned char **, const ASN1_ITEM *);
int __wrap_ASN1_item_i2d(const ASN1_VALUE *v, unsigned char **out, const ASN1_ITEM *it)
{
	int r;

	TIMED(by_stage(S_CSR_I2D, S_CA_ASN1, S_LINT_I2D), __real_ASN1_item_i2d(v, out, it));
	return r;
}

int __real_ASN1_item_verify(const ASN1_ITEM *, const X509_ALGOR *, const ASN1_BIT_STRING *,
			    const void *, EVP_PKEY *);
int __wrap_ASN1_item_verify(const ASN1_ITEM *it, const X509_ALGOR *alg, const ASN1_BIT_STRING *sig,
			    const void *data, EVP_PKEY *pkey)
{
	int r;

	TIMED(by_stage(S_CSR_VERIFY, S_CA_ASN1, S_CA_ASN1),
	      __real_ASN1_item_verify(it, alg, sig, data, pkey));
	return r;
}

OSSL_DECODER_CTX *__real_OSSL_DECODER_CTX_new_for_pkey(EVP_PKEY **, const char *, const char *,
						       const char *, int, OSSL_LIB_CTX *,
						       const char *);
OSSL_DECODER_CTX *__wrap_OSSL_DECODER_CTX_new_for_pkey(EVP_PKEY **pk, const char *in,
						       const char *st, const char *type, int sel,
						       OSSL_LIB_CTX *lib, const char *pq)
{
	OSSL_DECODER_CTX *r;

	TIMED(S_DEC_NEW, __real_OSSL_DECODER_CTX_new_for_pkey(pk, in, st, type, sel, lib, pq));
	return r;
}

int __real_OSSL_DECODER_from_data(OSSL_DECODER_CTX *, const unsigned char **, size_t *);
int __wrap_OSSL_DECODER_from_data(OSSL_DECODER_CTX *c, const unsigned char **d, size_t *len)
{
	int r;

	TIMED(S_DEC_FROM, __real_OSSL_DECODER_from_data(c, d, len));
	return r;
}

int __real_X509_PUBKEY_set0_param(X509_PUBKEY *, ASN1_OBJECT *, int, void *, unsigned char *, int);
int __wrap_X509_PUBKEY_set0_param(X509_PUBKEY *pub, ASN1_OBJECT *a, int pt, void *pv,
				  unsigned char *pk, int len)
{
	int r;

	TIMED(S_SET0_PARAM, __real_X509_PUBKEY_set0_param(pub, a, pt, pv, pk, len));
	return r;
}

X509 *__real_X509_new(void);
X509 *__wrap_X509_new(void)
{
	X509 *r;

	TIMED(S_X509_NEW, __real_X509_new());
	return r;
}

int __real_X509_NAME_add_entry_by_txt(X509_NAME *, const char *, int, const unsigned char *, int,
				      int, int);
int __wrap_X509_NAME_add_entry_by_txt(X509_NAME *n, const char *f, int t, const unsigned char *b,
				      int l, int loc, int set)
{
	int r;

	TIMED(S_NAME_ADD, __real_X509_NAME_add_entry_by_txt(n, f, t, b, l, loc, set));
	return r;
}

int __real_X509_NAME_add_entry_by_NID(X509_NAME *, int, int, const unsigned char *, int, int, int);
int __wrap_X509_NAME_add_entry_by_NID(X509_NAME *n, int nid, int t, const unsigned char *b, int l,
				      int loc, int set)
{
	int r;

	TIMED(S_NAME_ADD, __real_X509_NAME_add_entry_by_NID(n, nid, t, b, l, loc, set));
	return r;
}

int __real_X509_set_issuer_name(X509 *, const X509_NAME *);
int __wrap_X509_set_issuer_name(X509 *x, const X509_NAME *n)
{
	int r;

	TIMED(S_SET_ISSUER, __real_X509_set_issuer_name(x, n));
	return r;
}

ASN1_TIME *__real_X509_time_adj_ex(ASN1_TIME *, int, long, time_t *);
ASN1_TIME *__wrap_X509_time_adj_ex(ASN1_TIME *s, int d, long sec, time_t *t)
{
	ASN1_TIME *r;

	TIMED(S_TIME_ADJ, __real_X509_time_adj_ex(s, d, sec, t));
	return r;
}

int __real_X509_set_pubkey(X509 *, EVP_PKEY *);
int __wrap_X509_set_pubkey(X509 *x, EVP_PKEY *k)
{
	int r;

	TIMED(S_SET_PUBKEY, __real_X509_set_pubkey(x, k));
	return r;
}

X509_EXTENSION *__real_X509V3_EXT_conf_nid(LHASH_OF(CONF_VALUE) *, X509V3_CTX *, int, const char *);
X509_EXTENSION *__wrap_X509V3_EXT_conf_nid(LHASH_OF(CONF_VALUE) * conf, X509V3_CTX *c, int nid,
					   const char *v)
{
	X509_EXTENSION *r;

	TIMED(S_EXT_CONF, __real_X509V3_EXT_conf_nid(conf, c, nid, v));
	return r;
}

int __real_X509_add_ext(X509 *, X509_EXTENSION *, int);
int __wrap_X509_add_ext(X509 *x, X509_EXTENSION *e, int loc)
{
	int r;

	TIMED(S_X509_ADD_EXT, __real_X509_add_ext(x, e, loc));
	return r;
}

int __real_X509_sign(X509 *, EVP_PKEY *, const EVP_MD *);
int __wrap_X509_sign(X509 *x, EVP_PKEY *k, const EVP_MD *md)
{
	int r;

	TIMED(S_X509_SIGN, __real_X509_sign(x, k, md));
	return r;
}

int __real_i2d_X509(const X509 *, unsigned char **);
int __wrap_i2d_X509(const X509 *x, unsigned char **pp)
{
	int r;

	TIMED(S_I2D_X509, __real_i2d_X509(x, pp));
	return r;
}

X509 *__real_d2i_X509(X509 **, const unsigned char **, long);
X509 *__wrap_d2i_X509(X509 **a, const unsigned char **pp, long len)
{
	X509 *r;

	TIMED(S_D2I_X509, __real_d2i_X509(a, pp, len));
	return r;
}

int __real_X509_check_issued(X509 *, X509 *);
int __wrap_X509_check_issued(X509 *i, X509 *s)
{
	int r;

	TIMED(S_CHECK_ISSUED, __real_X509_check_issued(i, s));
	return r;
}

int __real_X509_verify(X509 *, EVP_PKEY *);
int __wrap_X509_verify(X509 *x, EVP_PKEY *k)
{
	int r;

	TIMED(S_X509_VERIFY, __real_X509_verify(x, k));
	return r;
}

void *__real_X509_get_ext_d2i(const X509 *, int, int *, int *);
void *__wrap_X509_get_ext_d2i(const X509 *x, int nid, int *crit, int *idx)
{
	void *r;

	TIMED(S_EXT_D2I, __real_X509_get_ext_d2i(x, nid, crit, idx));
	return r;
}

STACK_OF(OPENSSL_STRING) * __real_X509_get1_ocsp(X509 *);
STACK_OF(OPENSSL_STRING) * __wrap_X509_get1_ocsp(X509 *x)
{
	STACK_OF(OPENSSL_STRING) * r;

	TIMED(S_OCSP, __real_X509_get1_ocsp(x));
	return r;
}

void __real_X509_free(X509 *);
void __wrap_X509_free(X509 *x)
{
	long long t0 = ns_now();

	__real_X509_free(x);
	add(S_X509_FREE, t0);
}

/* ---- report ---- */

void bench_wrap_reset(void);
void bench_wrap_report(double wall_s, long n);

void bench_wrap_reset(void)
{
	for (int i = 0; i < S_COUNT; i++) {
		atomic_store(&slot_ns[i], 0);
		atomic_store(&slot_calls[i], 0);
	}
}

static int depth_of(int s)
{
	int d = 0;

	while (s != parent_of[s]) {
		s = parent_of[s];
		d++;
	}
	return d;
}

static void print_rest(int parent, long long base, long n)
{
	long long rest = atomic_load(&slot_ns[parent]);

	for (int c = 0; c < S_COUNT; c++)
		if (c != parent && parent_of[c] == parent)
			rest -= atomic_load(&slot_ns[c]);
	printf("  %*s%-*s %8.1f us %5.1f%%\n", 2 * (depth_of(parent) + 1), "",
	       58 - 2 * (depth_of(parent) + 1), "(rest)", (double)rest / 1e3 / (double)n,
	       100.0 * (double)rest / (double)base);
}

void bench_wrap_report(double wall_s, long n)
{
	long long base = atomic_load(&slot_ns[S_ISSUE]);

	if (n <= 0 || base <= 0)
		return;
	printf("\nBREAKDOWN of dt_cert_issue, 1 thread, %ld calls, %.1f s wall (%.0f us/cert);\n"
	       "inclusive wall time per certificate and share of dt_cert_issue:\n",
	       n, wall_s, wall_s * 1e6 / (double)n);
	for (int s = 0; s < S_COUNT; s++) {
		long long ns = atomic_load(&slot_ns[s]);
		long long calls = atomic_load(&slot_calls[s]);
		int d = depth_of(s);

		if (calls == 0 && s != S_ISSUE)
			goto rest; /* a path the library no longer takes */
		printf("  %*s%-*s %8.1f us %5.1f%%  (%.1f calls/cert)\n", 2 * d, "", 58 - 2 * d,
		       label_of[s], (double)ns / 1e3 / (double)n, 100.0 * (double)ns / (double)base,
		       (double)calls / (double)n);
	rest:
		/* a subtree closes when the next slot is shallower: print its rest */
		if (s == S_ISSUE)
			continue;
		for (int p = parent_of[s];; p = parent_of[p]) {
			int next_d = s + 1 < S_COUNT ? depth_of(s + 1) : 0;

			if (depth_of(p) < next_d)
				break;
			print_rest(p, base, n);
			if (p == S_ISSUE)
				break;
		}
	}
}
