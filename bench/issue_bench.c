/*
 * Issuance throughput: dt_cert_issue (durable, group commit) on T threads,
 * beside the CPU bound measured in the same run: per certificate one P-256
 * CSR verification plus one P-256 signature, on the same T threads.
 * Rounds alternate bound and ours; medians are printed with their ratio.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "bench_common.h"

/* Hooks of the instrumented build (issue_wrap.c); absent in the plain one. */
void bench_wrap_reset(void) __attribute__((weak));
void bench_wrap_report(double wall_s, long n) __attribute__((weak));

struct csr {
	unsigned char *der;
	int len;
	X509_REQ *req; /* pre-parsed, for the bound */
	EVP_PKEY *pub; /* owned by req */
	unsigned char *tbs;
	int tbs_len;
	const unsigned char *sig;
	int sig_len;
};

static struct {
	struct dt_ctx *ctx;
	struct csr *csr;
	long ncsr;
	EVP_PKEY *ca_key;	 /* stands in for the issuing CA's P-256 key */
	unsigned char *cert_tbs; /* a real device certificate's TBS, signed by the bound */
	int cert_tbs_len;
	const char *perf_ctl, *perf_ack;
	long failures;
} B;

static void dev_name(long i, char *out, size_t cap)
{
	snprintf(out, cap, "bench-dev-%07ld", i);
}

static void ossl_die(const char *what)
{
	fprintf(stderr, "bench: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* ---- setup, parallel: devices through dt_device_add, CSRs with fresh keys ---- */

struct range {
	long from, to;
};

static void *add_devices(void *arg)
{
	struct range *r = arg;
	struct dt_device d;
	struct dt_error err;
	char token[DT_TOKEN_BUF];

	for (long i = r->from; i < r->to; i++) {
		memset(&d, 0, sizeof(d));
		dev_name(i, d.id, sizeof(d.id));
		snprintf(d.class_name, sizeof(d.class_name), "%s", BENCH_CLASS);
		snprintf(d.serial, sizeof(d.serial), "SN%09ld", i);
		snprintf(d.manufacturer, sizeof(d.manufacturer), "Acme");
		snprintf(d.owner, sizeof(d.owner), "team-%ld", i % 17);
		d.criticality = DT_CRIT_MEDIUM;
		if (dt_device_add(B.ctx, &d, token, &err) != DT_OK)
			bench_die("dt_device_add", &err);
	}
	return NULL;
}

static void *make_csrs(void *arg)
{
	struct range *r = arg;

	for (long i = r->from; i < r->to; i++) {
		struct csr *c = &B.csr[i];
		EVP_PKEY *k = EVP_EC_gen("P-256");
		X509_REQ *req = X509_REQ_new();
		const unsigned char *p;
		const ASN1_BIT_STRING *sig = NULL;
		char cn[64];

		dev_name(i, cn, sizeof(cn));
		if (!k || !req || X509_REQ_set_version(req, 0) != 1 ||
		    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
					       (const unsigned char *)cn, -1, -1, 0) != 1 ||
		    X509_REQ_set_pubkey(req, k) != 1 || X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
		    (c->len = i2d_X509_REQ(req, &c->der)) <= 0)
			ossl_die("CSR generation");
		X509_REQ_free(req);
		EVP_PKEY_free(k);
		/* The bound works on a pre-parsed copy, as the brief of the bound says. */
		p = c->der;
		if (!(c->req = d2i_X509_REQ(NULL, &p, c->len)) ||
		    !(c->pub = X509_REQ_get0_pubkey(c->req)) ||
		    (c->tbs_len = i2d_re_X509_REQ_tbs(c->req, &c->tbs)) <= 0)
			ossl_die("CSR pre-parse");
		X509_REQ_get0_signature(c->req, &sig, NULL);
		c->sig = ASN1_STRING_get0_data(sig);
		c->sig_len = ASN1_STRING_length(sig);
	}
	return NULL;
}

static void run_parallel(void *(*fn)(void *), long n, int threads)
{
	pthread_t th[64];
	struct range r[64];

	for (int t = 0; t < threads; t++) {
		r[t].from = n * t / threads;
		r[t].to = n * (t + 1) / threads;
		if (pthread_create(&th[t], NULL, fn, &r[t]) != 0)
			ossl_die("pthread_create");
	}
	for (int t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
}

/* ---- the bound ---- */

enum bound_kind {
	BOUND_REQ_VERIFY = 0, /* X509_REQ_verify on a pre-parsed CSR */
	BOUND_RAW_VERIFY,     /* EVP_DigestVerify over the CSR's TBS, one EVP_MD_CTX per thread */
};

struct bound_arg {
	enum bound_kind kind;
	int tid, threads;
	double seconds;
	long ops;
};

static void *bound_thread(void *arg)
{
	struct bound_arg *a = arg;
	EVP_MD_CTX *tmpl = EVP_MD_CTX_new(), *work = EVP_MD_CTX_new(), *vctx = EVP_MD_CTX_new();
	unsigned char sig[128];
	long i = a->tid, ops = 0;
	double t0 = bench_now(), end = t0 + a->seconds;

	/* One signing context initialised once per thread and copied per signature:
	 * the reuse that avoids a provider fetch per call. */
	if (!tmpl || !work || !vctx ||
	    EVP_DigestSignInit_ex(tmpl, NULL, "SHA256", NULL, NULL, B.ca_key, NULL) != 1)
		ossl_die("sign context");
	for (;;) {
		for (int k = 0; k < 32; k++) {
			const struct csr *c = &B.csr[i];
			size_t siglen = sizeof(sig);

			if (a->kind == BOUND_REQ_VERIFY) {
				if (X509_REQ_verify(c->req, c->pub) != 1)
					ossl_die("X509_REQ_verify");
			} else if (EVP_MD_CTX_reset(vctx) != 1 ||
				   EVP_DigestVerifyInit_ex(vctx, NULL, "SHA256", NULL, NULL, c->pub,
							   NULL) != 1 ||
				   EVP_DigestVerify(vctx, c->sig, (size_t)c->sig_len, c->tbs,
						    (size_t)c->tbs_len) != 1) {
				ossl_die("EVP_DigestVerify");
			}
			if (EVP_MD_CTX_copy_ex(work, tmpl) != 1 ||
			    EVP_DigestSign(work, sig, &siglen, B.cert_tbs,
					   (size_t)B.cert_tbs_len) != 1)
				ossl_die("EVP_DigestSign");
			ops++;
			i += a->threads;
			if (i >= B.ncsr)
				i = a->tid;
		}
		if (bench_now() >= end)
			break;
	}
	a->seconds = bench_now() - t0;
	a->ops = ops;
	EVP_MD_CTX_free(tmpl);
	EVP_MD_CTX_free(work);
	EVP_MD_CTX_free(vctx);
	return NULL;
}

/* Operations per second of the bound on `threads` threads for about `seconds`. */
static double run_bound(enum bound_kind kind, int threads, double seconds)
{
	pthread_t th[64];
	struct bound_arg a[64];
	double t0 = bench_now(), wall;
	long ops = 0;

	for (int t = 0; t < threads; t++) {
		a[t] = (struct bound_arg){kind, t, threads, seconds, 0};
		if (pthread_create(&th[t], NULL, bound_thread, &a[t]) != 0)
			ossl_die("pthread_create");
	}
	for (int t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		ops += a[t].ops;
	}
	wall = bench_now() - t0;
	return (double)ops / wall;
}

/* ---- ours ---- */

struct ours_arg {
	atomic_long *next;
	long end;
	long done;
	long failed;
	struct dt_error first; /* the first failure, reported after the round */
};

static void *ours_thread(void *arg)
{
	struct ours_arg *a = arg;
	struct dt_error err;
	char id[DT_ID_BUF];
	long i;

	while ((i = atomic_fetch_add(a->next, 1)) < a->end) {
		unsigned char *der = NULL;
		size_t len = 0;

		dev_name(i, id, sizeof(id));
		if (dt_cert_issue(B.ctx, id, B.csr[i].der, (size_t)B.csr[i].len, NULL, &der, &len,
				  NULL, &err) != DT_OK) {
			/* counted, not fatal: an intermittent refusal is a finding to report */
			if (a->failed++ == 0)
				a->first = err;
			continue;
		}
		OPENSSL_free(der);
		a->done++;
	}
	return NULL;
}

static void perf_ctl(const char *cmd)
{
	char ack[16];
	int fd;

	if (!B.perf_ctl)
		return;
	if ((fd = open(B.perf_ctl, O_WRONLY)) < 0 || write(fd, cmd, strlen(cmd)) < 0)
		fprintf(stderr, "bench: perf control %s: %s\n", B.perf_ctl, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (B.perf_ack && (fd = open(B.perf_ack, O_RDONLY)) >= 0) {
		if (read(fd, ack, sizeof(ack)) < 0)
			fprintf(stderr, "bench: perf ack: %s\n", strerror(errno));
		close(fd);
	}
}

/* Certificates per second issuing CSRs [from, from + n) on `threads` threads. */
static double run_ours(long from, long n, int threads, double *wall_out)
{
	pthread_t th[64];
	struct ours_arg a[64];
	atomic_long next = from;
	double t0, wall;
	long done = 0;

	perf_ctl("enable\n");
	t0 = bench_now();
	for (int t = 0; t < threads; t++) {
		a[t] = (struct ours_arg){.next = &next, .end = from + n};
		if (pthread_create(&th[t], NULL, ours_thread, &a[t]) != 0)
			ossl_die("pthread_create");
	}
	for (int t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		done += a[t].done;
		if (a[t].failed) {
			printf("FAILED: %ld of %ld dt_cert_issue calls refused; first: %s (%s)\n",
			       a[t].failed, n, a[t].first.msg, dt_code_name(a[t].first.code));
			B.failures += a[t].failed;
		}
		if (a[t].failed * 100 > n)
			bench_die("dt_cert_issue failed on more than 1% of calls", &a[t].first);
	}
	wall = bench_now() - t0;
	perf_ctl("disable\n");
	if (wall_out)
		*wall_out = wall;
	return (double)done / wall;
}

/* Durable small writes per second in dir: 100 bytes + fdatasync, for `seconds`.
 * The floor under a group commit, and the noisiest resource of a shared disk. */
static double fsync_rate(const char *dir, double seconds)
{
	char path[4200], buf[100];
	double t0 = bench_now(), t;
	long n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/bench-fsync-probe", dir);
	memset(buf, 'x', sizeof(buf));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return 0;
	do {
		if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) || fdatasync(fd) != 0)
			break;
		n++;
	} while ((t = bench_now() - t0) < seconds);
	close(fd);
	unlink(path);
	return (double)n / (bench_now() - t0);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: issue_bench [-n CERTS_PER_ROUND] [-t THREADS] [-r ROUNDS] [-s ROUNDS_1T]\n"
		"                   [-x MANY_THREADS] [-X ROUNDS_MANY] [-b BOUND_SECONDS]\n"
		"                   [-d NEW_DATA_DIR] [-m all|ours|breakdown]\n"
		"  all: bound and ours alternately on T threads, then on 1 thread, then\n"
		"       ours on MANY_THREADS (default 16, 0: none) beside the T-thread bound\n"
		"  ours: only dt_cert_issue rounds on T threads (for perf record)\n"
		"  breakdown: one single-thread round in the instrumented build\n"
		"  BENCH_PERF_CTL/BENCH_PERF_ACK: perf --control fifos, enabled around ours\n");
	exit(2);
}

static void ratio_line(const char *label, double bound, double ours)
{
	printf("%-34s bound %9.0f/s   ours %8.0f/s   ratio %5.1f%%\n", label, bound, ours,
	       bound > 0 ? 100.0 * ours / bound : 0);
}

int main(int argc, char **argv)
{
	long n = 10000;
	int threads = 2, rounds = 5, rounds1 = 3, many = 16, rounds_many = 3, opt;
	double bound_s = 2.0;
	const char *dir = NULL, *mode = "all";
	char tmpdir[4096];
	long total, spare;
	double t0;

	while ((opt = getopt(argc, argv, "n:t:r:s:x:X:b:d:m:")) != -1) {
		switch (opt) {
		case 'n':
			n = atol(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 's':
			rounds1 = atoi(optarg);
			break;
		case 'x':
			many = atoi(optarg);
			break;
		case 'X':
			rounds_many = atoi(optarg);
			break;
		case 'b':
			bound_s = atof(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		default:
			usage();
		}
	}
	if (n < 100 || threads < 1 || threads > 64 || rounds < 1 || rounds1 < 0 || many < 0 ||
	    many > 64 || rounds_many < 0 ||
	    (strcmp(mode, "all") && strcmp(mode, "ours") && strcmp(mode, "breakdown")))
		usage();
	if (!strcmp(mode, "breakdown")) {
		if (!bench_wrap_report) {
			fprintf(stderr, "bench: -m breakdown needs the instrumented build\n");
			return 2;
		}
		rounds = 1;
		rounds1 = 0;
		threads = 1;
	}
	if (strcmp(mode, "all"))
		rounds1 = 0;
	if (strcmp(mode, "all") || many == 0)
		rounds_many = 0;
	B.perf_ctl = getenv("BENCH_PERF_CTL");
	B.perf_ack = getenv("BENCH_PERF_ACK");
	if (!dir) {
		snprintf(tmpdir, sizeof(tmpdir), "%s/devtrust-issue-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(tmpdir))
			ossl_die("mkdtemp");
		rmdir(tmpdir); /* dt_init wants to create it */
		dir = tmpdir;
	}
	/* Every round issues first certificates to fresh registered devices: rounds
	 * at T threads, rounds1 at one thread with n/2 each, rounds_many at many
	 * threads; one spare device
	 * gives the bound a real certificate TBS to sign. */
	total = n * rounds + (n / 2) * rounds1 + n * rounds_many;
	spare = total;

	t0 = bench_now();
	B.ctx = bench_setup(dir, 1);
	B.ncsr = total + 1;
	if (!(B.csr = calloc((size_t)B.ncsr, sizeof(*B.csr))))
		ossl_die("calloc");
	run_parallel(add_devices, B.ncsr, 32);
	printf("setup: %ld devices added in %.1f s\n", B.ncsr, bench_now() - t0);
	run_parallel(make_csrs, B.ncsr, 2);
	if (!(B.ca_key = EVP_EC_gen("P-256")))
		ossl_die("CA key");
	{
		struct dt_error err;
		unsigned char *der = NULL;
		const unsigned char *p;
		size_t len = 0;
		char id[DT_ID_BUF];
		X509 *x;

		dev_name(spare, id, sizeof(id));
		if (dt_cert_issue(B.ctx, id, B.csr[spare].der, (size_t)B.csr[spare].len, NULL, &der,
				  &len, NULL, &err) != DT_OK)
			bench_die("dt_cert_issue (spare)", &err);
		p = der;
		if (!(x = d2i_X509(NULL, &p, (long)len)) ||
		    (B.cert_tbs_len = i2d_re_X509_tbs(x, &B.cert_tbs)) <= 0)
			ossl_die("certificate TBS");
		X509_free(x);
		OPENSSL_free(der);
		B.ncsr = total; /* the spare CSR is not used again */
	}
	printf("setup: data dir %s, %ld devices and P-256 CSRs in %.1f s\n", dir, total + 1,
	       bench_now() - t0);
	printf("ours: dt_cert_issue(DER CSR, no token), group_commit=1, synchronous=FULL, "
	       "first certificate of a registered device\n");
	printf("bound: per certificate X509_REQ_verify(pre-parsed CSR) + EVP_DigestSign(P-256, "
	       "SHA-256, %d-byte TBS, per-thread context copied from one initialised once)\n",
	       B.cert_tbs_len);
	fflush(stdout);

	if (!strcmp(mode, "breakdown")) {
		double wall;
		double rate;

		bench_wrap_reset();
		rate = run_ours(0, n, 1, &wall);
		printf("breakdown run: %ld certificates on 1 thread, %.0f/s\n", n, rate);
		bench_wrap_report(wall, n);
		return 0;
	}
	if (!strcmp(mode, "ours")) {
		double v[64];

		for (int r = 0; r < rounds && r < 64; r++) {
			v[r] = run_ours(r * n, n, threads, NULL);
			printf("round %d: ours %.0f/s\n", r + 1, v[r]);
			fflush(stdout);
		}
		printf("ours median %.0f/s on %d threads\n", bench_median(v, rounds), threads);
		return 0;
	}

	{
		double bq[64], br[64], ou[64], bq1[64], ou1[64], bqm[64], oum[64], fs[64];
		long next = 0;

		for (int r = 0; r < rounds && r < 64; r++) {
			bq[r] = run_bound(BOUND_REQ_VERIFY, threads, bound_s);
			ou[r] = run_ours(next, n, threads, NULL);
			next += n;
			br[r] = run_bound(BOUND_RAW_VERIFY, threads, bound_s);
			fs[r] = fsync_rate(dir, 0.5);
			printf(
			    "round %d (%d threads): bound %.0f/s  ours %.0f/s  bound-raw %.0f/s  "
			    "fsync %.0f/s\n",
			    r + 1, threads, bq[r], ou[r], br[r], fs[r]);
			fflush(stdout);
		}
		for (int r = 0; r < rounds1 && r < 64; r++) {
			bq1[r] = run_bound(BOUND_REQ_VERIFY, 1, bound_s);
			ou1[r] = run_ours(next, n / 2, 1, NULL);
			next += n / 2;
			printf("round %d (1 thread): bound %.0f/s  ours %.0f/s\n", r + 1, bq1[r],
			       ou1[r]);
			fflush(stdout);
		}
		for (int r = 0; r < rounds_many && r < 64; r++) {
			bqm[r] = run_bound(BOUND_REQ_VERIFY, threads, bound_s);
			oum[r] = run_ours(next, n, many, NULL);
			next += n;
			printf("round %d (ours on %d threads): bound (%d threads) %.0f/s  ours "
			       "%.0f/s\n",
			       r + 1, many, threads, bqm[r], oum[r]);
			fflush(stdout);
		}
		{
			double mq = bench_median(bq, rounds), mo = bench_median(ou, rounds);
			double mr = bench_median(br, rounds);
			char label[64];

			printf("\nRESULT issuance (medians of %d alternating rounds, %ld certs "
			       "each)\n",
			       rounds, n);
			snprintf(label, sizeof(label), "%d threads:", threads);
			ratio_line(label, mq, mo);
			snprintf(label, sizeof(label), "%d threads, raw-verify bound:", threads);
			ratio_line(label, mr, mo);
			if (rounds1 > 0)
				ratio_line("1 thread:", bench_median(bq1, rounds1),
					   bench_median(ou1, rounds1));
			if (rounds_many > 0) {
				snprintf(label, sizeof(label), "ours on %d threads:", many);
				ratio_line(label, bench_median(bqm, rounds_many),
					   bench_median(oum, rounds_many));
			}
			printf("fsync (100-byte pwrite + fdatasync, data dir): median %.0f/s\n",
			       bench_median(fs, rounds));
			printf("goal: ours >= 50%% of the bound on %d threads: %s\n", threads,
			       mo >= 0.5 * mq ? "MET" : "NOT MET");
			printf("refused issuances (all rounds): %ld\n", B.failures);
		}
	}
	dt_close(B.ctx);
	return 0;
}
