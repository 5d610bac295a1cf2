/*
 * devtrust-agent's installation (src/agent/install.c): generations, the
 * switch of STATE/current, the stable symlinks, modes, what a crash leaves
 * behind, and the refusals that leave the installed set untouched.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "agent/agent.h"

struct fixture {
	char dir[64];
	struct ag_config cfg;
	EVP_PKEY *ca_key;
	X509 *ca;
	STACK_OF(X509) * anchors;
};

static X509 *make_cert(EVP_PKEY *subject_key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       int ca)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	static long serial = 1;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, subject_key), 1);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "CA:FALSE");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ag_error e;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/agent-install-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	ag_config_init(&f->cfg);
	assert_int_equal(ag_config_set(&f->cfg, "server", "https://127.0.0.1:1", &e), AG_OK);
	assert_int_equal(ag_config_set(&f->cfg, "ca-file", "unused.pem", &e), AG_OK);
	assert_int_equal(ag_config_set(&f->cfg, "state-dir", f->dir, &e), AG_OK);
	assert_int_equal(ag_config_finish(&f->cfg, 1, &e), AG_OK);
	assert_int_equal(ag_key_generate(AG_KEY_EC_P256, &f->ca_key, &e), AG_OK);
	f->ca = make_cert(f->ca_key, "test root", NULL, f->ca_key, 1);
	f->anchors = sk_X509_new_null();
	assert_true(sk_X509_push(f->anchors, f->ca) > 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	sk_X509_pop_free(f->anchors, X509_free);
	EVP_PKEY_free(f->ca_key);
	free(f);
	return 0;
}

/* A new key and a certificate for it from the test root; empty chain. */
static void new_set(struct fixture *f, struct ag_set *s)
{
	struct ag_error e;

	memset(s, 0, sizeof(*s));
	assert_int_equal(ag_key_generate(AG_KEY_EC_P256, &s->key, &e), AG_OK);
	s->cert = make_cert(s->key, "dev-1", f->ca, f->ca_key, 0);
	s->chain = sk_X509_new_null();
}

static void path_in(struct fixture *f, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", f->dir, name);
}

/* The symlink at path points to want. */
static void assert_link(const char *path, const char *want)
{
	char target[256];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, want);
}

/* STATE/name exists (exists = 1) or does not (0). */
static void assert_in_state(struct fixture *f, const char *name, int exists)
{
	char p[256];

	path_in(f, name, p, sizeof(p));
	assert_int_equal(access(p, F_OK), exists ? 0 : -1);
}

static mode_t mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 0777;
}

static void test_install_and_switch(void **state)
{
	struct fixture *f = *state;
	struct ag_set a, b, got;
	struct ag_error e;
	char p[256];

	new_set(f, &a);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &a, &e), AG_OK);
	assert_int_equal(a.gen, 1);
	path_in(f, "current", p, sizeof(p));
	assert_link(p, "gen-1");
	/* the configured paths are links into current */
	path_in(f, "current/key.pem", p, sizeof(p));
	assert_link(f->cfg.key_path, p);
	assert_int_equal(mode_of(f->cfg.key_path), 0600);
	assert_int_equal(mode_of(f->cfg.cert_path), 0644);
	assert_int_equal(ag_current_load(&f->cfg, &got, &e), AG_OK);
	assert_int_equal(got.gen, 1);
	assert_int_equal(X509_cmp(got.cert, a.cert), 0);
	assert_int_equal(EVP_PKEY_eq(got.key, a.key), 1);
	assert_int_equal(sk_X509_num(got.chain), 0);
	ag_set_free(&got);

	new_set(f, &b);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &b, &e), AG_OK);
	assert_int_equal(b.gen, 2);
	path_in(f, "previous", p, sizeof(p));
	assert_link(p, "gen-1");
	assert_int_equal(ag_current_load(&f->cfg, &got, &e), AG_OK);
	assert_int_equal(X509_cmp(got.cert, b.cert), 0);
	ag_set_free(&got);
	ag_set_free(&b);
	/* a third: gen-1 goes, gen-2 is previous */
	new_set(f, &b);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &b, &e), AG_OK);
	assert_in_state(f, "gen-1", 0);
	assert_in_state(f, "gen-2", 1);
	path_in(f, "previous", p, sizeof(p));
	assert_link(p, "gen-2");
	ag_set_free(&a);
	ag_set_free(&b);
}

static void test_refusals_leave_current(void **state)
{
	struct fixture *f = *state;
	struct ag_set a, bad, got;
	struct ag_error e;
	EVP_PKEY *other_key = NULL, *other_ca_key = NULL;
	X509 *other_ca;
	FILE *fp;

	new_set(f, &a);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &a, &e), AG_OK);
	/* a certificate for another key */
	new_set(f, &bad);
	assert_int_equal(ag_key_generate(AG_KEY_EC_P256, &other_key, &e), AG_OK);
	EVP_PKEY_free(bad.key);
	bad.key = other_key;
	assert_int_equal(ag_install(&f->cfg, f->anchors, &bad, &e), AG_E_LOCAL);
	assert_non_null(strstr(e.msg, "not one certificate for key.pem"));
	ag_set_free(&bad);
	/* a certificate from a CA that is not the anchor */
	assert_int_equal(ag_key_generate(AG_KEY_EC_P256, &other_ca_key, &e), AG_OK);
	other_ca = make_cert(other_ca_key, "other root", NULL, other_ca_key, 1);
	new_set(f, &bad);
	X509_free(bad.cert);
	bad.cert = make_cert(bad.key, "dev-1", other_ca, other_ca_key, 0);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &bad, &e), AG_E_TRUST);
	assert_non_null(strstr(e.msg, "does not verify against the trust anchor"));
	ag_set_free(&bad);
	X509_free(other_ca);
	EVP_PKEY_free(other_ca_key);
	/* both refusals left gen-1 current and removed their directories */
	assert_int_equal(ag_current_load(&f->cfg, &got, &e), AG_OK);
	assert_int_equal(got.gen, 1);
	assert_int_equal(X509_cmp(got.cert, a.cert), 0);
	ag_set_free(&got);
	assert_in_state(f, "gen-2", 0);
	assert_in_state(f, "gen-3", 0);
	/* a regular file where a link must go is refused before anything is written */
	assert_int_equal(unlink(f->cfg.chain_path), 0);
	assert_non_null(fp = fopen(f->cfg.chain_path, "w"));
	fclose(fp);
	new_set(f, &bad);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &bad, &e), AG_E_CONFIG);
	assert_non_null(strstr(e.msg, "is not a symlink"));
	ag_set_free(&bad);
	ag_set_free(&a);
}

static void test_crash_leftovers(void **state)
{
	struct fixture *f = *state;
	struct ag_set a, got;
	struct ag_error e;
	char p[256];
	FILE *fp;

	new_set(f, &a);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &a, &e), AG_OK);
	/* what a kill during the next installation may leave */
	path_in(f, "gen-7", p, sizeof(p));
	assert_int_equal(mkdir(p, 0755), 0);
	path_in(f, "gen-7/key.pem", p, sizeof(p));
	assert_non_null(fp = fopen(p, "w"));
	fclose(fp);
	path_in(f, "current.tmp", p, sizeof(p));
	assert_int_equal(symlink("gen-7", p), 0);
	/* current still loads the complete set, and cleanup removes the rest */
	assert_int_equal(ag_current_load(&f->cfg, &got, &e), AG_OK);
	assert_int_equal(X509_cmp(got.cert, a.cert), 0);
	ag_set_free(&got);
	ag_install_cleanup(&f->cfg);
	assert_in_state(f, "gen-7", 0);
	assert_in_state(f, "current.tmp", 0);
	assert_in_state(f, "gen-1", 1);
	ag_set_free(&a);
}

static void test_damaged_current_falls_back(void **state)
{
	struct fixture *f = *state;
	struct ag_set a, b, got;
	struct ag_error e;
	char p[256];

	new_set(f, &a);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &a, &e), AG_OK);
	new_set(f, &b);
	assert_int_equal(ag_install(&f->cfg, f->anchors, &b, &e), AG_OK);
	/* someone removes a file of the current generation */
	path_in(f, "gen-2/cert.pem", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(ag_current_load(&f->cfg, &got, &e), AG_OK);
	assert_int_equal(got.gen, 1);
	assert_int_equal(X509_cmp(got.cert, a.cert), 0);
	path_in(f, "current", p, sizeof(p));
	assert_link(p, "gen-1");
	ag_set_free(&got);
	/* with both damaged, the error is current's */
	path_in(f, "gen-1/key.pem", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(ag_current_load(&f->cfg, &got, &e), AG_E_LOCAL);
	assert_null(got.cert);
	ag_set_free(&a);
	ag_set_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_install_and_switch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_leave_current, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_current_falls_back, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
