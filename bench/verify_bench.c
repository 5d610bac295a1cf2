/*
 * Verifications per second of the C API (dt_verify) beside OpenSSL's
 * X509_verify_cert on the same chain (leaf, issuing CA, root), one thread
 * (and -t threads for the cached API), rounds alternating, medians:
 *   openssl-x509       X509_verify_cert on a parsed leaf (root trusted, CA untrusted)
 *   openssl-der        the same from the DER, as a backend gets it (d2i each time)
 *   api-cache          dt_verify from memory (the default)
 *   api-cache-pem      the same with PEM input (nginx's form)
 *   api-read-each      one store read per decision, signature check kept
 *   api-none           parse, verify the chain, read the store every time
 *   api-cache-fleet    dt_verify over -f different certificates, round-robin
 * The API's figure includes the whole decision (device state, firmware,
 * policy), not only the chain.
 * Usage: verify_bench -d DIR [-s SECONDS] [-r ROUNDS] [-t THREADS] [-f FLEET]
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <pthread.h>

#include "bench_common.h"
#include "devtrust/verify.h"

struct cert {
	unsigned char *der;
	size_t len;
	char *pem;
	size_t pem_len;
};

static struct dt_ctx *ctx;
static X509 *root, *ca, *leaf;
static struct cert *fleet;
static int nfleet;
static double seconds = 2.0;

enum mode { M_X509, M_X509_DER, M_CACHE, M_CACHE_PEM, M_READ_EACH, M_NONE, M_FLEET, M_COUNT };
static const char *const names[M_COUNT] = {"openssl-x509",   "openssl-der",   "api-cache",
					   "api-cache-pem",  "api-read-each", "api-none",
					   "api-cache-fleet"};

static X509 *ca_x509(const char *name)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	struct dt_error err;
	X509 *x;

	if (dt_ca_cert_der(ctx, name, &der, &len, &err) != DT_OK)
		bench_die("ca cert", &err);
	p = der;
	if (!(x = d2i_X509(NULL, &p, (long)len)))
		bench_die("d2i CA", NULL);
	OPENSSL_free(der);
	return x;
}

static void enroll(const char *id, struct cert *c)
{
	struct dt_error err;
	struct dt_device d;
	char tok[DT_TOKEN_BUF];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *r = X509_REQ_new();
	unsigned char *csr = NULL;
	const unsigned char *p;
	X509 *x;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long n;
	int len;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.class_name, sizeof(d.class_name), "%s", BENCH_CLASS);
	if (dt_device_add(ctx, &d, tok, &err) != DT_OK)
		bench_die("device add", &err);
	if (!k || !r || X509_REQ_set_pubkey(r, k) != 1 || X509_REQ_sign(r, k, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(r, &csr)) <= 0)
		bench_die("csr", NULL);
	if (dt_cert_issue(ctx, id, csr, (size_t)len, NULL, &c->der, &c->len, NULL, &err) != DT_OK)
		bench_die("issue", &err);
	p = c->der;
	x = d2i_X509(NULL, &p, (long)c->len);
	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &pem);
	c->pem = strndup(pem, (size_t)n);
	c->pem_len = (size_t)n;
	if (!leaf)
		leaf = x;
	else
		X509_free(x);
	BIO_free(b);
	OPENSSL_free(csr);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

static int x509_once(X509 *x, X509_STORE *st, STACK_OF(X509) * untrusted)
{
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int ok = vc && X509_STORE_CTX_init(vc, st, x, untrusted) == 1 &&
		 X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT) == 1 &&
		 X509_verify_cert(vc) == 1;

	X509_STORE_CTX_free(vc);
	return ok;
}

struct run {
	enum mode m;
	struct dt_verifier *v;
	long n;
	double secs;
};

static void *run_thread(void *arg)
{
	struct run *r = arg;
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	struct dt_verify_request req = {
	    .service = "telemetry", .method = "GET", .path = "/v1/vitals"};
	struct dt_verify_result res;
	struct dt_error err;
	double t0, end;

	X509_STORE_add_cert(st, root);
	sk_X509_push(untrusted, ca);
	t0 = bench_now();
	end = t0 + seconds;
	while (bench_now() < end) {
		for (int i = 0; i < 64; i++) {
			int ok = 1;
			const struct cert *c = &fleet[r->m == M_FLEET ? (int)(r->n % nfleet) : 0];

			switch (r->m) {
			case M_X509:
				ok = x509_once(leaf, st, untrusted);
				break;
			case M_X509_DER: {
				const unsigned char *p = c->der;
				X509 *x = d2i_X509(NULL, &p, (long)c->len);
				ok = x && x509_once(x, st, untrusted);
				X509_free(x);
				break;
			}
			default:
				req.cert =
				    r->m == M_CACHE_PEM ? (const unsigned char *)c->pem : c->der;
				req.cert_len = r->m == M_CACHE_PEM ? c->pem_len : c->len;
				ok = dt_verify(r->v, &req, &res, &err) == DT_OK && res.allowed;
			}
			if (!ok)
				bench_die(names[r->m], NULL);
			r->n++;
		}
	}
	r->secs = bench_now() - t0;
	sk_X509_free(untrusted);
	X509_STORE_free(st);
	return NULL;
}

static double round_rate(enum mode m, int threads, struct dt_verifier *v)
{
	struct run r[64];
	pthread_t th[64];
	double rate = 0;

	for (int i = 0; i < threads; i++) {
		r[i] = (struct run){m, v, 0, 0};
		pthread_create(&th[i], NULL, run_thread, &r[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		rate += (double)r[i].n / r[i].secs;
	}
	return rate;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	int rounds = 3, threads = 2, opt;
	struct dt_error err;
	struct dt_verifier *v[M_COUNT] = {0};
	double rates[M_COUNT][32], rates_mt[32];
	char id[32];

	nfleet = 1000;
	while ((opt = getopt(argc, argv, "d:s:r:t:f:")) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'f':
			nfleet = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: verify_bench -d DIR [-s S] [-r R] [-t T] [-f N]\n");
			return 2;
		}
	}
	if (!dir || rounds < 1 || rounds > 32 || threads < 1 || threads > 64 || nfleet < 1) {
		fprintf(stderr, "verify_bench: -d DIR is required; 1-32 rounds, 1-64 threads\n");
		return 2;
	}
	ctx = bench_setup(dir, 0);
	if (!(fleet = calloc((size_t)nfleet, sizeof(*fleet))))
		bench_die("calloc", NULL);
	for (int i = 0; i < nfleet; i++) {
		snprintf(id, sizeof(id), "dev-%06d", i);
		enroll(id, &fleet[i]);
	}
	if (dt_policy_allow(ctx, BENCH_CLASS, "telemetry", "/v1/**", "GET,POST", NULL, &err) !=
	    DT_OK)
		bench_die("policy", &err);
	root = ca_x509("root");
	ca = ca_x509("default");
	for (int m = M_CACHE; m < M_COUNT; m++) {
		struct dt_verifier_opts o = {.cache = m == M_READ_EACH ? DT_VERIFY_READ_EACH
						      : m == M_NONE    ? DT_VERIFY_CACHE_NONE
								       : DT_VERIFY_CACHE,
					     .no_record = 1};
		if (dt_verifier_new(ctx, &o, &v[m], &err) != DT_OK)
			bench_die("verifier", &err);
	}
	printf("chain: P-256 leaf <- default issuing CA (P-256) <- root (P-384); %d s rounds, "
	       "%d rounds, alternating; fleet %d certificates\n",
	       (int)seconds, rounds, nfleet);
	for (int r = 0; r < rounds; r++) {
		for (int m = 0; m < M_COUNT; m++)
			rates[m][r] = round_rate((enum mode)m, 1, v[m]);
		rates_mt[r] = round_rate(M_CACHE, threads, v[M_CACHE]);
	}
	for (int m = 0; m < M_COUNT; m++) {
		double med = bench_median(rates[m], rounds);
		printf("%-16s 1 thread: %9.0f verifications/s  (%6.1f us each)\n", names[m], med,
		       1e6 / med);
	}
	printf("%-16s %d threads: %8.0f verifications/s\n", names[M_CACHE], threads,
	       bench_median(rates_mt, rounds));
	for (int m = M_CACHE; m < M_COUNT; m++)
		dt_verifier_free(v[m]);
	dt_close(ctx);
	return 0;
}
