/*
 * Writes the seed corpus of keyd_fuzz (run by keyd_seeds.sh, which links it
 * with -Wl,--wrap=sendmsg,--wrap=recv): the requests that the server's side of
 * key isolation (keyd_client.c) sends to a real signer ($DEVTRUST_BIN) for
 * real operations on the data dir DATA, captured as sent, and hostile
 * variants of them. A seed is one connection's bytes: the signer of the
 * harness is fresh for each. The keys the signer generates are replaced by
 * their stand-ins (keyd_standin.h); the data dir's CA keys are written to
 * KEY_DIR, encrypted with one PBKDF2 iteration, for the harness to use.
 *   keyd_seeds DATA DEVTRUST_BIN SEED_DIR KEY_DIR
 */
#define _GNU_SOURCE /* memmem */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ca/ca.h"
#include "ca/ca_keys.h"
#include "ca/keyd.h"
#include "core/core.h"
#include "devtrust/pki.h"
#include "keyd_standin.h"

struct buf {
	unsigned char *p;
	size_t n, cap;
};

static struct buf sent, got; /* what the server sent to its signer and received */
static const char *seed_dir;
static EVP_PKEY *ph256, *ph384; /* placeholder signers of hostile requests */

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "keyd_seeds: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		if (!(b->p = realloc(b->p, b->cap)))
			die("out of memory", NULL);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

ssize_t __real_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);

/* keyd_write's frames, as they reach the socket. */
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags)
{
	ssize_t w = __real_sendmsg(fd, m, flags);
	size_t left = w > 0 ? (size_t)w : 0;

	for (size_t i = 0; i < m->msg_iovlen && left > 0; i++) {
		size_t n = m->msg_iov[i].iov_len < left ? m->msg_iov[i].iov_len : left;

		put(&sent, m->msg_iov[i].iov_base, n);
		left -= n;
	}
	return w;
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t r = __real_recv(fd, buf, len, flags);

	if (r > 0)
		put(&got, buf, (size_t)r);
	return r;
}

/* The frame at *off of b (its header in *h), advancing *off; 0 at the end. */
static int next_frame(const struct buf *b, size_t *off, struct keyd_hdr *h, const unsigned char **a)
{
	if (*off + sizeof(*h) > b->n)
		return 0;
	memcpy(h, b->p + *off, sizeof(*h));
	*a = b->p + *off + sizeof(*h) + h->name_len;
	*off += sizeof(*h) + h->name_len + (size_t)h->len[0] + h->len[1];
	return 1;
}

static void write_seed(const char *name, const unsigned char *p, size_t n)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("cannot write", path);
}

static void start(void)
{
	sent.n = got.n = 0;
}

/* What was sent since start() into *out, each generated key replaced by its stand-in,
 * and written as seed name (unless NULL). */
static void capture(const char *name, struct buf *out)
{
	size_t soff = 0, goff = 0;
	struct keyd_hdr req, rep;
	const unsigned char *ra, *ga;

	out->n = 0;
	put(out, sent.p, sent.n);
	while (next_frame(&sent, &soff, &req, &ra) && next_frame(&got, &goff, &rep, &ga)) {
		unsigned char *standin = NULL, *p = out->p;
		int n;

		if (req.op != KEYD_GENKEY || rep.status != DT_OK)
			continue;
		if ((n = keyd_standin((const char *)ra, &standin)) != (int)rep.len[0])
			die("a generated key and its stand-in differ in length", NULL);
		while ((p = memmem(p, out->n - (size_t)(p - out->p), ga, (size_t)n))) {
			memcpy(p, standin, (size_t)n);
			p += n;
		}
		OPENSSL_free(standin);
	}
	if (name)
		write_seed(name, out->p, out->n);
}

/* One frame into b, with a header that may lie: name_len, len0 and len1 as given. */
static void put_frame_as(struct buf *b, unsigned magic, unsigned op, unsigned status,
			 const void *name, size_t name_len, const void *a, size_t a_len,
			 const void *pb, size_t b_len, size_t hname, uint32_t h0, uint32_t h1)
{
	struct keyd_hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = magic;
	h.op = (uint8_t)op;
	h.status = (uint8_t)status;
	h.name_len = (uint16_t)hname;
	h.len[0] = h0;
	h.len[1] = h1;
	put(b, &h, sizeof(h));
	put(b, name, name_len);
	put(b, a, a_len);
	put(b, pb, b_len);
}

static void put_frame(struct buf *b, unsigned op, const char *name, const void *a, size_t a_len,
		      const void *pb, size_t b_len)
{
	size_t n = name ? strlen(name) : 0;

	put_frame_as(b, KEYD_MAGIC, op, 0, name, n, a, a_len, pb, b_len, n, (uint32_t)a_len,
		     (uint32_t)b_len);
}

static void seed_frame(const char *seed, unsigned op, const char *name, const void *a, size_t a_len,
		       const void *pb, size_t b_len)
{
	struct buf b = {0};

	put_frame(&b, op, name, a, a_len, pb, b_len);
	write_seed(seed, b.p, b.n);
	free(b.p);
}

static void add_ext(X509 *x, const X509 *iss, int nid, const char *value)
{
	struct dt_error err;

	if (ca_add_ext(x, iss, nid, value, &err) != DT_OK)
		die("cannot add an extension", err.msg);
}

/* An unsigned certificate for pub (a new P-256 key if NULL) under ca's name (its own
 * if ca is NULL), valid for lifetime_s; bc is its basicConstraints or NULL. */
static X509 *new_cert(const X509 *ca, EVP_PKEY *pub, long lifetime_s, const char *bc)
{
	X509 *x = X509_new();
	EVP_PKEY *k = pub ? NULL : EVP_EC_gen("P-256");

	if (!x || (!pub && !k))
		die("out of memory", NULL);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"keyd-seed", -1, -1, 0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), lifetime_s);
	X509_set_pubkey(x, pub ? pub : k);
	if (bc)
		add_ext(x, ca ? ca : x, NID_basic_constraints, bc);
	add_ext(x, ca ? ca : x, NID_key_usage,
		bc && strstr(bc, "CA:TRUE") ? "critical,keyCertSign,cRLSign"
					    : "critical,digitalSignature");
	EVP_PKEY_free(k);
	return x;
}

/* x signed by the placeholder key ph with md, which sets both algorithm identifiers:
 * its to-be-signed part, or the whole certificate. The server sets them itself now
 * (keyd_client.c, sig_algs); signing lets a hostile seed use another digest. */
static int encode(X509 *x, EVP_PKEY *ph, const EVP_MD *md, int tbs, unsigned char **der)
{
	int n;

	*der = NULL;
	if (X509_sign(x, ph, md) <= 0 ||
	    (n = tbs ? i2d_re_X509_tbs(x, der) : i2d_X509(x, der)) <= 0)
		die("cannot encode a certificate", NULL);
	return n;
}

static EVP_PKEY *standin_key(const char *curve)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = keyd_standin(curve, &der);
	EVP_PKEY *k;

	p = der;
	if (!n || !(k = d2i_PUBKEY(NULL, &p, n)))
		die("cannot make a stand-in key", curve);
	OPENSSL_free(der);
	return k;
}

/* DATA/keys/<file> encrypted with one PBKDF2 iteration into KEY_DIR/<file>. */
static void export_key(struct dt_ctx *ctx, const char *dir, const char *file)
{
	static const char pass[] = "fuzz-only-passphrase"; /* fuzz_datadir.c's */
	struct dt_error err;
	EVP_PKEY *k = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_SIG *enc = NULL;
	char path[1024];
	FILE *f = NULL;

	if (ca_key_load(ctx, file, &k, &err) != DT_OK)
		die("ca_key_load", err.msg);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!(p8 = EVP_PKEY2PKCS8(k)) ||
	    !(enc =
		  PKCS8_encrypt(-1, EVP_aes_256_cbc(), pass, (int)strlen(pass), NULL, 0, 1, p8)) ||
	    !(f = fopen(path, "w")) || PEM_write_PKCS8(f, enc) != 1 || fclose(f) != 0)
		die("cannot write", path);
	X509_SIG_free(enc);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(k);
}

static const struct ca_signer *signer(struct dt_ctx *ctx, const char *name)
{
	const struct ca_signer *s = NULL;
	struct dt_error err;

	if (ca_signer_get(ctx, name, CA_USE_ISSUE, &s, &err) != DT_OK)
		die("ca_signer_get", err.msg);
	return s;
}

static int der_of(const X509 *x, unsigned char **der)
{
	int n;

	*der = NULL;
	if ((n = i2d_X509(x, der)) <= 0)
		die("cannot encode a certificate", NULL);
	return n;
}

/* Signs x as s through the signer: the seed is the request, refused or not. */
static void sign_seed(const char *seed, const struct ca_signer *s, X509 *x, struct buf *out)
{
	struct dt_error err;

	start();
	if (ca_sign_cert(s, &x, &err) != DT_OK && !strstr(seed, "refused"))
		die(seed, err.msg);
	X509_free(x);
	capture(seed, out);
}

/* A version 2 CRL of ca with n entries (serials 1..n, reasons 1..n), a CRL number, an
 * AKI and update times, as crl.c makes one; unsigned. */
static X509_CRL *crl_with_entries(const X509 *ca, int n)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL));
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();

	if (!aki || !X509_get0_subject_key_id((X509 *)ca) ||
	    !(aki->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id((X509 *)ca))))
		die("cannot build a CRL's AKI", NULL);
	if (!crl || !t || !num || X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 || !ASN1_TIME_adj(t, time(NULL), 3, 0) ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1 || ASN1_INTEGER_set(num, 7) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, aki, 0, 0) != 1)
		die("cannot build a CRL", NULL);
	for (int i = 1; i <= n; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();

		if (!r || !reason || ASN1_INTEGER_set(num, i) != 1 ||
		    X509_REVOKED_set_serialNumber(r, num) != 1 ||
		    X509_REVOKED_set_revocationDate(r, t) != 1 ||
		    ASN1_ENUMERATED_set(reason, i) != 1 ||
		    X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0) != 1 ||
		    X509_CRL_add0_revoked(crl, r) != 1)
			die("cannot add a CRL entry", NULL);
		ASN1_ENUMERATED_free(reason);
	}
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	AUTHORITY_KEYID_free(aki);
	return crl;
}

/* Seed name: a SIGN_CRL frame for key file with CA certificate ca_der, carrying crl's
 * to-be-signed part once crl is signed by key with md (which sets its algorithms). */
static void crl_seed(const char *name, X509_CRL *crl, EVP_PKEY *key, const EVP_MD *md,
		     const char *file, const unsigned char *ca_der, int ca_len)
{
	unsigned char *der = NULL;
	int n;

	if (X509_CRL_sign(crl, key, md) <= 0 || (n = i2d_re_X509_CRL_tbs(crl, &der)) <= 0)
		die("cannot sign a CRL", name);
	seed_frame(name, KEYD_SIGN_CRL, file, ca_der, (size_t)ca_len, der, (size_t)n);
	OPENSSL_free(der);
}

/* The time the seeds are made, beside the keys: the harness's signer takes it as its
 * clock, which a CRL's thisUpdate must be near. */
static void write_clock(const char *key_dir)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/clock", key_dir);
	if (!(f = fopen(path, "w")) || fprintf(f, "%lld\n", (long long)time(NULL)) < 0 ||
	    fclose(f) != 0)
		die("cannot write", path);
}

int main(int argc, char **argv)
{
	struct dt_open_opts o = {0};
	struct dt_ctx *ctx = NULL;
	struct dt_error err;
	const struct ca_signer *def, *root;
	struct buf ping = {0}, ok = {0}, cap = {0}, b = {0}, session = {0};
	unsigned char *ca_der = NULL, *root_der = NULL, *tbs = NULL, *der = NULL;
	int ca_len, root_len, tbs_len, n;
	EVP_PKEY *k = NULL, *sp256, *sp384;
	X509 *x;
	X509_CRL *crl;
	size_t len;
	const unsigned char *p;
	struct keyd_hdr h;

	if (argc != 5) {
		fprintf(stderr, "usage: %s DATA DEVTRUST_BIN SEED_DIR KEY_DIR\n", argv[0]);
		return 2;
	}
	seed_dir = argv[3];
	o.data_dir = argv[1];
	o.actor = "keyd-seeds";
	if (dt_open(&o, &ctx, &err) != DT_OK)
		die("dt_open", err.msg);
	write_clock(argv[4]);
	export_key(ctx, argv[4], "root.key");
	export_key(ctx, argv[4], "default.key");
	if (!(ph256 = EVP_EC_gen("P-256")) || !(ph384 = EVP_EC_gen("P-384")))
		die("cannot generate placeholder keys", NULL);
	sp256 = standin_key("P-256");
	sp384 = standin_key("P-384");

	/* ---- Real requests, as the server sends them ---- */
	start();
	if (ca_keyd_start(ctx, argv[2], &err) != DT_OK)
		die("ca_keyd_start", err.msg);
	capture("ping", &ping);
	start();
	def = signer(ctx, "default");
	capture("unlock-default", &cap);
	put(&session, cap.p, cap.n);
	start();
	root = signer(ctx, "root");
	capture("unlock-root", &cap);
	ca_len = der_of(ca_signer_cert(def), &ca_der);
	root_len = der_of(ca_signer_cert(root), &root_der);
	sign_seed("sign-cert", def, new_cert(ca_signer_cert(def), NULL, 3600, "critical,CA:FALSE"),
		  &ok);
	put(&session, ok.p, ok.n);
	sign_seed("sign-cert-root", root,
		  new_cert(ca_signer_cert(root), NULL, 3600, "critical,CA:FALSE"), &cap);
	start();
	if (dt_crl_generate(ctx, "default", &der, &len, &err) != DT_OK)
		die("crl default", err.msg);
	OPENSSL_free(der);
	capture("sign-crl", &cap);
	put(&session, cap.p, cap.n);
	start();
	if (dt_crl_generate(ctx, "root", &der, &len, &err) != DT_OK)
		die("crl root", err.msg);
	OPENSSL_free(der);
	capture("sign-crl-root", &cap);
	/* A new issuing CA: its key generated, saved and certified by the signer; then it signs. */
	start();
	if (dt_ca_add(ctx, "second", &err) != DT_OK)
		die("ca add", err.msg);
	x = new_cert(ca_signer_cert(signer(ctx, "second")), NULL, 3600, "critical,CA:FALSE");
	if (ca_sign_cert(signer(ctx, "second"), &x, &err) != DT_OK)
		die("sign as second", err.msg);
	X509_free(x);
	capture("new-ca-signs", &cap);
	put(&session, cap.p, cap.n);
	/* The Admin CA: a key generated, saved and self-signed by the signer. */
	start();
	{
		X509 *cert = NULL, *ca = NULL;

		if (ca_admin_issue(ctx, "op-1", 3600, &k, &cert, &ca, &err) != DT_OK)
			die("admin issue", err.msg);
		X509_free(cert);
		X509_free(ca);
		EVP_PKEY_free(k);
		k = NULL;
	}
	capture("admin-ca", &cap);
	put(&session, cap.p, cap.n);
	write_seed("session", session.p, session.n);

	/* ---- What the policy refuses, sent by the server's code ---- */
	sign_seed("refused-ca-true", def,
		  new_cert(ca_signer_cert(def), NULL, 3600, "critical,CA:TRUE,pathlen:0"), &cap);
	sign_seed("refused-no-basic-constraints", def,
		  new_cert(ca_signer_cert(def), NULL, 3600, NULL), &cap);
	x = new_cert(ca_signer_cert(def), NULL, 3600, "critical,CA:FALSE");
	X509_set_issuer_name(x, X509_get_subject_name(ca_signer_cert(root)));
	sign_seed("refused-wrong-issuer", def, x, &cap);
	sign_seed("refused-validity-beyond-ca", def,
		  new_cert(ca_signer_cert(def), NULL, 40L * 365 * 86400, "critical,CA:FALSE"),
		  &cap);
	x = new_cert(ca_signer_cert(def), NULL, 3600, "critical,CA:FALSE");
	add_ext(x, ca_signer_cert(def), NID_basic_constraints, "critical,CA:FALSE");
	sign_seed("refused-extension-twice", def, x, &cap);
	/* A notAfter no one can read: ASN1_TIME_compare says -2 for it. */
	x = new_cert(ca_signer_cert(def), NULL, 3600, "critical,CA:FALSE");
	if (ASN1_STRING_set(X509_getm_notAfter(x), "99999999999Z", -1) != 1)
		die("cannot set a time", NULL);
	sign_seed("refused-unreadable-notafter", def, x, &cap);
	start();
	if (ca_key_generate_ca(ctx, "P-521", &k, &err) == DT_OK)
		die("the signer generated a P-521 key", NULL);
	if (ca_key_generate_ca(ctx, "P-256", &k, &err) != DT_OK)
		die("genkey", err.msg);
	if (ca_key_save_ca(ctx, "../evil.key", k, &err) == DT_OK ||
	    ca_key_save_ca(ctx, "evil-ocsp.key", k, &err) == DT_OK ||
	    ca_key_save_ca(ctx, "tls.key", k, &err) == DT_OK ||
	    ca_key_save_ca(ctx, "default.key", k, &err) == DT_OK ||
	    ca_key_save_ca(ctx, "other.key", ph256, &err) == DT_OK)
		die("the signer saved what it should not", NULL);
	EVP_PKEY_free(k);
	k = NULL;
	capture("refused-savekey", &cap);

	/* ---- Hostile frames, made here ---- */
	/* ok: the request of "sign-cert", one SIGN_CERT frame as default.key. */
	p = ok.p;
	memcpy(&h, p, sizeof(h));
	if (h.op != KEYD_SIGN_CERT || ok.n != sizeof(h) + h.name_len + h.len[0] + h.len[1])
		die("sign-cert is not one SIGN_CERT frame", NULL);
	tbs = ok.p + sizeof(h) + h.name_len + h.len[0];
	tbs_len = (int)h.len[1];
#define RESEED(seed, expr)                                                                         \
	do {                                                                                       \
		b.n = 0;                                                                           \
		put(&b, ok.p, ok.n);                                                               \
		{                                                                                  \
			struct keyd_hdr *hh = (struct keyd_hdr *)b.p;                              \
			(void)hh;                                                                  \
			expr;                                                                      \
		}                                                                                  \
		write_seed(seed, b.p, b.n);                                                        \
	} while (0)
	RESEED("bad-magic", hh->magic ^= 1);
	RESEED("huge-a", hh->len[0] = KEYD_MAX_CERT + 1);
	RESEED("huge-b", hh->len[1] = KEYD_MAX_TBS + 1);
	RESEED("huge-b-truncated", hh->len[1] = KEYD_MAX_TBS);
	RESEED("huge-name", hh->name_len = CA_KEY_FILE_BUF);
	RESEED("op-0", hh->op = 0);
	RESEED("op-8", hh->op = 8);
	RESEED("op-255", hh->op = 255);
	RESEED("op-sign-crl-with-a-tbs", hh->op = KEYD_SIGN_CRL);
	RESEED("op-sign-self-with-a-tbs", hh->op = KEYD_SIGN_SELF);
	RESEED("status-set", hh->status = DT_ERR_INVALID);
	RESEED("truncated-last-byte", b.n--);
	RESEED("truncated-header", b.n = 7);
	RESEED("truncated-ca-cert", b.n = sizeof(h) + h.name_len + h.len[0] / 2);
	RESEED("then-truncated", put(&b, ok.p, 30));
	RESEED("twice", put(&b, ok.p, ok.n));
	b.n = 0;
	put_frame_as(&b, KEYD_MAGIC, KEYD_SIGN_CERT, 0, "default.key\0x", 13, ca_der,
		     (size_t)ca_len, tbs, (size_t)tbs_len, 13, (uint32_t)ca_len, (uint32_t)tbs_len);
	write_seed("name-with-nul", b.p, b.n);
	b.n = 0;
	put_frame(&b, KEYD_PING, NULL, NULL, 0, NULL, 0);
	put_frame(&b, KEYD_PING, "default.key", ca_der, (size_t)ca_len, tbs, (size_t)tbs_len);
	write_seed("ping-with-parts", b.p, b.n);
	seed_frame("unlock-with-b", KEYD_UNLOCK, "default.key", ca_der, (size_t)ca_len, tbs,
		   (size_t)tbs_len);
	seed_frame("unlock-tls-key", KEYD_UNLOCK, "tls.key", ca_der, (size_t)ca_len, NULL, 0);
	seed_frame("unlock-ocsp-key", KEYD_UNLOCK, "default-ocsp.key", ca_der, (size_t)ca_len, NULL,
		   0);
	seed_frame("unlock-traversal", KEYD_UNLOCK, "../keys/default.key", ca_der, (size_t)ca_len,
		   NULL, 0);
	seed_frame("unlock-missing-file", KEYD_UNLOCK, "nosuch.key", ca_der, (size_t)ca_len, NULL,
		   0);
	seed_frame("cert-of-another-ca", KEYD_SIGN_CERT, "root.key", ca_der, (size_t)ca_len, tbs,
		   (size_t)tbs_len);
	seed_frame("ca-cert-is-a-tbs", KEYD_SIGN_CERT, "default.key", tbs, (size_t)tbs_len, tbs,
		   (size_t)tbs_len);
	b.n = 0;
	put(&b, tbs, (size_t)tbs_len);
	put(&b, "", 1);
	seed_frame("tbs-trailing-byte", KEYD_SIGN_CERT, "default.key", ca_der, (size_t)ca_len, b.p,
		   b.n);
	while (b.n <= KEYD_MAX_CERT)
		put(&b, "", 1);
	seed_frame("tbs-too-long", KEYD_SIGN_CERT, "default.key", ca_der, (size_t)ca_len, b.p, b.n);
	seed_frame("tbs-is-a-certificate", KEYD_SIGN_CERT, "default.key", ca_der, (size_t)ca_len,
		   ca_der, (size_t)ca_len);
	x = new_cert(ca_signer_cert(def), NULL, 3600, "critical,CA:FALSE");
	n = encode(x, ph256, EVP_sha512(), 1, &der);
	seed_frame("tbs-other-algorithm", KEYD_SIGN_CERT, "default.key", ca_der, (size_t)ca_len,
		   der, (size_t)n);
	OPENSSL_free(der);
	X509_free(x);
	x = new_cert(ca_signer_cert(def), NULL, 3600, "critical,CA:FALSE");
	X509_set_version(x, X509_VERSION_1);
	X509_EXTENSION_free(X509_delete_ext(x, 0));
	X509_EXTENSION_free(X509_delete_ext(x, 0));
	n = encode(x, ph256, EVP_sha256(), 1, &der);
	seed_frame("tbs-version-1", KEYD_SIGN_CERT, "default.key", ca_der, (size_t)ca_len, der,
		   (size_t)n);
	OPENSSL_free(der);
	X509_free(x);

	/* CRLs, as the to-be-signed part the server sends: root's as default (re-signed by a
	 * placeholder for default's algorithm), another algorithm, one with entries (signed:
	 * the signer walks them one by one), a certificate for a CRL. */
	start();
	if (dt_crl_generate(ctx, "root", &der, &len, &err) != DT_OK)
		die("crl root", err.msg);
	p = der;
	if (!(crl = d2i_X509_CRL(NULL, &p, (long)len)))
		die("cannot read the root's CRL", NULL);
	OPENSSL_free(der);
	der = NULL;
	crl_seed("crl-wrong-issuer", crl, ph256, EVP_sha256(), "default.key", ca_der, ca_len);
	crl_seed("crl-other-algorithm", crl, ph384, EVP_sha512(), "root.key", root_der, root_len);
	X509_CRL_free(crl);
	crl = crl_with_entries(ca_signer_cert(def), 3);
	crl_seed("crl-entries", crl, ph256, EVP_sha256(), "default.key", ca_der, ca_len);
	X509_CRL_free(crl);
	seed_frame("crl-is-a-certificate", KEYD_SIGN_CRL, "default.key", ca_der, (size_t)ca_len,
		   ca_der, (size_t)ca_len);

	/* Key creation: genkey, then certificates for its stand-in. */
	seed_frame("genkey-p521", KEYD_GENKEY, NULL, "P-521", 5, NULL, 0);
	seed_frame("genkey-long-curve", KEYD_GENKEY, NULL, "P-256 and more", 14, NULL, 0);
	seed_frame("genkey-empty", KEYD_GENKEY, NULL, NULL, 0, NULL, 0);
	seed_frame("sign-self-not-generated", KEYD_SIGN_SELF, NULL, NULL, 0, ca_der,
		   (size_t)ca_len);
	{
		static const struct {
			const char *seed, *bc;
			int root, self;
		} cases[] = {
		    {"new-ca-by-root", "critical,CA:TRUE,pathlen:0", 1, 0},
		    {"new-ca-pathlen-1", "critical,CA:TRUE,pathlen:1", 1, 0},
		    {"new-ca-by-default", "critical,CA:TRUE,pathlen:0", 0, 0},
		    {"new-ca-not-ca", "critical,CA:FALSE", 1, 0},
		    {"self-signed-ca", "critical,CA:TRUE,pathlen:0", 0, 1},
		    {"self-signed-not-ca", "critical,CA:FALSE", 0, 1},
		    {"self-signed-no-pathlen", "critical,CA:TRUE", 0, 1},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const X509 *iss = cases[i].self	  ? NULL
					  : cases[i].root ? ca_signer_cert(root)
							  : ca_signer_cert(def);

			b.n = 0;
			put_frame(&b, KEYD_GENKEY, NULL, "P-256", 5, NULL, 0);
			x = new_cert(iss, sp256, 3600, cases[i].bc);
			if (cases[i].self) {
				n = encode(x, ph256, EVP_sha256(), 0, &der);
				put_frame(&b, KEYD_SIGN_SELF, NULL, NULL, 0, der, (size_t)n);
			} else {
				n = encode(x, cases[i].root ? ph384 : ph256,
					   cases[i].root ? EVP_sha384() : EVP_sha256(), 1, &der);
				put_frame(
				    &b, KEYD_SIGN_CERT, cases[i].root ? "root.key" : "default.key",
				    cases[i].root ? root_der : ca_der,
				    (size_t)(cases[i].root ? root_len : ca_len), der, (size_t)n);
				/* Once only: the same again is refused. */
				put_frame(
				    &b, KEYD_SIGN_CERT, cases[i].root ? "root.key" : "default.key",
				    cases[i].root ? root_der : ca_der,
				    (size_t)(cases[i].root ? root_len : ca_len), der, (size_t)n);
			}
			write_seed(cases[i].seed, b.p, b.n);
			OPENSSL_free(der);
			X509_free(x);
		}
	}
	/* A P-384 key, saved, certified by the root, and signing as a CA. */
	b.n = 0;
	put_frame(&b, KEYD_GENKEY, NULL, "P-384", 5, NULL, 0);
	{
		unsigned char *spki = NULL;
		int sl = keyd_standin("P-384", &spki);

		put_frame(&b, KEYD_SAVEKEY, "fuzz-ca.key", spki, (size_t)sl, NULL, 0);
		OPENSSL_free(spki);
	}
	x = new_cert(ca_signer_cert(root), sp384, 7200, "critical,CA:TRUE,pathlen:0");
	n = encode(x, ph384, EVP_sha384(), 1, &der);
	put_frame(&b, KEYD_SIGN_CERT, "root.key", root_der, (size_t)root_len, der, (size_t)n);
	OPENSSL_free(der);
	/* Its own certificate, as the root signed it, is what the harness cannot know: the
	 * one sent here is placeholder-signed, which the signer does not check. */
	n = encode(x, ph384, EVP_sha384(), 0, &der);
	X509_free(x);
	x = new_cert(NULL, NULL, 3600, "critical,CA:FALSE");
	{
		const unsigned char *q = der;
		X509 *nca = d2i_X509(NULL, &q, n);
		unsigned char *t = NULL;
		int tl;

		if (!nca)
			die("cannot read the new CA's certificate", NULL);
		X509_set_issuer_name(x, X509_get_subject_name(nca));
		tl = encode(x, ph384, EVP_sha384(), 1, &t);
		put_frame(&b, KEYD_SIGN_CERT, "fuzz-ca.key", der, (size_t)n, t, (size_t)tl);
		OPENSSL_free(t);
		X509_free(nca);
	}
	write_seed("new-ca-saved-signs", b.p, b.n);
	OPENSSL_free(der);
	X509_free(x);

	ca_keyd_stop(ctx);
	dt_close(ctx);
	EVP_PKEY_free(sp256);
	EVP_PKEY_free(sp384);
	EVP_PKEY_free(ph256);
	EVP_PKEY_free(ph384);
	OPENSSL_free(ca_der);
	OPENSSL_free(root_der);
	free(ping.p);
	free(ok.p);
	free(cap.p);
	free(b.p);
	free(session.p);
	free(sent.p);
	free(got.p);
	return 0;
}
