/*
 * CRL generation at fleet scale: N revoked certificates of CA "default"
 * (synthetic rows inserted straight into the store), then dt_crl_generate
 * timed against the 5 s goal with the process's peak RSS. The reference in
 * the same run: `openssl crl -inform DER -noout` parsing the CRL we made,
 * timed alternately with our generation.
 */
#include <openssl/crypto.h>
#include <spawn.h>
#include <sys/wait.h>

#include "bench_common.h"

extern char **environ;

#define CRL_GOAL_S 5.0

static void one_device(long i, char *out, size_t cap)
{
	(void)i;
	snprintf(out, cap, "crl-dev-0");
}

/*
 * Runs `openssl crl` on the CRL file and returns its wall seconds. Its peak
 * RSS comes from /usr/bin/time when present: a child spawned from this
 * process would report our own high-water mark (Linux keeps it across exec).
 */
static double run_openssl_parse(const char *crl, const char *rss_file, long *maxrss_kb)
{
	char *argv[] = {"/usr/bin/time", "-f",	   "%M",      "-o",  (char *)rss_file,
			"openssl",	 "crl",	   "-inform", "DER", "-in",
			(char *)crl,	 "-noout", NULL};
	char **av = access("/usr/bin/time", X_OK) == 0 ? argv : argv + 5;
	pid_t pid;
	int status = 0;
	double t0 = bench_now();
	FILE *f;

	*maxrss_kb = -1;
	if (posix_spawnp(&pid, av[0], NULL, NULL, av, environ) != 0) {
		fprintf(stderr, "bench: cannot run %s\n", av[0]);
		exit(1);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench: openssl crl failed (status %d)\n", status);
		exit(1);
	}
	t0 = bench_now() - t0;
	if (av == argv && (f = fopen(rss_file, "r"))) {
		if (fscanf(f, "%ld", maxrss_kb) != 1)
			*maxrss_kb = -1;
		fclose(f);
	}
	return t0;
}

int main(int argc, char **argv)
{
	long n = 1000000, rss0, rss_child = 0, crl_len = 0;
	int rounds = 3, opt;
	const char *dir = NULL;
	char tmpdir[4096], out[4200], rss_out[4200];
	struct dt_ctx *ctx;
	struct dt_device d;
	struct dt_error err;
	char token[DT_TOKEN_BUF];
	struct dt_open_opts oo;
	pid_t pid;
	int status = 0;
	double gen[16], parse[16], t0;

	while ((opt = getopt(argc, argv, "n:r:d:")) != -1) {
		switch (opt) {
		case 'n':
			n = atol(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: crl_bench [-n REVOKED] [-r ROUNDS] [-d NEW_DATA_DIR]\n");
			return 2;
		}
	}
	if (n < 1 || rounds < 1 || rounds > 16)
		return 2;
	if (!dir) {
		snprintf(tmpdir, sizeof(tmpdir), "%s/devtrust-crl-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(tmpdir) || rmdir(tmpdir) != 0) {
			perror("mkdtemp");
			return 1;
		}
		dir = tmpdir;
	}
	snprintf(out, sizeof(out), "%s/bench-out.crl", dir);
	snprintf(rss_out, sizeof(rss_out), "%s/bench-openssl-rss", dir);

	/* The store is built in a child process, so its memory (a large SQLite page
	 * cache for the bulk load) does not count in this process's peak RSS. */
	bench_passphrase();
	t0 = bench_now();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		double t1;

		ctx = bench_setup(dir, 0);
		memset(&d, 0, sizeof(d));
		snprintf(d.id, sizeof(d.id), "crl-dev-0");
		snprintf(d.class_name, sizeof(d.class_name), "%s", BENCH_CLASS);
		if (dt_device_add(ctx, &d, token, &err) != DT_OK)
			bench_die("dt_device_add", &err);
		dt_close(ctx);
		t1 = bench_now();
		printf("setup: data dir %s initialised in %.1f s\n", dir, t1 - t0);
		bench_insert_certs(dir, n, DT_CERT_REVOKED, 1, one_device, 42);
		printf("setup: %ld revoked certificate rows (CA default, reasons 1-5) in %.1f s\n",
		       n, bench_now() - t1);
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 1;
	memset(&oo, 0, sizeof(oo));
	oo.data_dir = dir;
	oo.actor = "bench";
	if (dt_open(&oo, &ctx, &err) != DT_OK)
		bench_die("dt_open", &err);
	rss0 = bench_maxrss_kb();
	fflush(stdout);

	for (int r = 0; r < rounds; r++) {
		unsigned char *der = NULL;
		size_t len = 0;
		FILE *f;

		t0 = bench_now();
		if (dt_crl_generate(ctx, "default", &der, &len, &err) != DT_OK)
			bench_die("dt_crl_generate", &err);
		gen[r] = bench_now() - t0;
		crl_len = (long)len;
		if (!(f = fopen(out, "wb")) || fwrite(der, 1, len, f) != len || fclose(f) != 0) {
			perror(out);
			return 1;
		}
		OPENSSL_free(der);
		parse[r] = run_openssl_parse(out, rss_out, &rss_child);
		printf("round %d: dt_crl_generate %.2f s   openssl crl parse %.2f s\n", r + 1,
		       gen[r], parse[r]);
		fflush(stdout);
	}
	{
		double mg = bench_median(gen, rounds), mp = bench_median(parse, rounds);
		long rss = bench_maxrss_kb();

		printf("\nRESULT CRL, %ld entries (medians of %d alternating rounds)\n", n, rounds);
		printf("dt_crl_generate        %6.2f s   goal <= %.0f s: %s\n", mg, CRL_GOAL_S,
		       mg <= CRL_GOAL_S ? "MET" : "NOT MET");
		printf("openssl crl -noout     %6.2f s   (reference: parsing the same CRL)\n", mp);
		printf("ratio generate/parse   %6.2f\n", mp > 0 ? mg / mp : 0);
		printf("CRL size               %6.1f MB (%ld bytes, %.1f bytes/entry)\n",
		       (double)crl_len / 1e6, crl_len, (double)crl_len / (double)n);
		printf("peak RSS (ru_maxrss)   %6.1f MB (%.1f MB before the first CRL); "
		       "openssl crl: %.1f MB\n",
		       (double)rss / 1024, (double)rss0 / 1024, (double)rss_child / 1024);
	}
	dt_close(ctx);
	return 0;
}
