/*
 * devtrust-agent: the command line. `enroll`, `renew`, `run` and `status`
 * with a configuration file and flags of the same names; exit codes in
 * devtrust-agent(8) (EXIT STATUS).
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"

#define DEFAULT_CONFIG "/etc/devtrust/agent.conf"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_RETIRED = 3,
	EXIT_CREDENTIAL = 4,
	EXIT_SUSPENDED = 5
};

static const char usage[] =
    "usage: devtrust-agent enroll [--force] | renew | run | status [--json]\n"
    "         [--config FILE] [--SETTING VALUE]...\n"
    "settings (in FILE as SETTING = VALUE): server, label, device-id, token-file,\n"
    "  idevid-cert, idevid-key, idevid-chain, ca-file, pin, key-type, key, cert, chain,\n"
    "  cacerts, state-dir, reload-hook, renew-at, jitter, backoff-min, backoff-max,\n"
    "  poll-interval, cacerts-interval, timeout. See devtrust-agent(8).\n";

struct args {
	const char *command;
	const char *config;
	int json, force;
};

/*
 * GnuTLS's documented opt-out of its implicit initialisation
 * (GNUTLS_SKIP_GLOBAL_INIT in gnutls/gnutls.h). The agent never uses GnuTLS,
 * but Debian's libcurl loads it (through librtmp), and its load-time
 * constructor costs about 0.8 MB of resident memory (docs/BENCHMARKS.md
 * section 5). GnuTLS's own definition is weak and the executable comes first
 * in symbol lookup, so its constructor calls this one; where libcurl does not
 * pull GnuTLS in, nothing calls it. The Makefile exports it explicitly.
 */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
	return 1;
}

static int usage_error(const char *fmt, const char *what)
{
	fprintf(stderr, "devtrust-agent: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n%s", usage);
	return EXIT_USAGE;
}

/* First pass: the command, --config and the boolean flags. */
static int scan_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(usage, stdout);
			exit(EXIT_OK);
		} else if (strcmp(s, "--version") == 0) {
			printf("devtrust-agent %s\n", AG_VERSION);
			exit(EXIT_OK);
		} else if (strcmp(s, "--json") == 0) {
			a->json = 1;
		} else if (strcmp(s, "--force") == 0) {
			a->force = 1;
		} else if (strcmp(s, "--config") == 0) {
			if (++i >= argc)
				return usage_error("%s needs a value", s);
			a->config = argv[i];
		} else if (strncmp(s, "--config=", 9) == 0) {
			a->config = s + 9;
		} else if (strncmp(s, "--", 2) == 0) {
			if (!strchr(s, '=') && ++i >= argc)
				return usage_error("%s needs a value", s);
		} else if (!a->command) {
			a->command = s;
		} else {
			return usage_error("unexpected argument '%s'", s);
		}
	}
	if (!a->command)
		return usage_error("%s", "no command");
	if (strcmp(a->command, "enroll") != 0 && strcmp(a->command, "renew") != 0 &&
	    strcmp(a->command, "run") != 0 && strcmp(a->command, "status") != 0)
		return usage_error("unknown command '%s'", a->command);
	return EXIT_OK;
}

/* Second pass: every --setting value, over the configuration file. */
static int apply_flags(int argc, char **argv, struct ag_config *c)
{
	char key[64];
	struct ag_error e;

	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *eq, *val;
		size_t n;

		if (strncmp(s, "--", 2) != 0 || strcmp(s, "--json") == 0 ||
		    strcmp(s, "--force") == 0)
			continue;
		s += 2;
		eq = strchr(s, '=');
		n = eq ? (size_t)(eq - s) : strlen(s);
		val = eq ? eq + 1 : argv[++i];
		if (n >= sizeof(key))
			return usage_error("unknown option --%.64s", s);
		memcpy(key, s, n);
		key[n] = '\0';
		if (strcmp(key, "config") == 0)
			continue;
		if (!ag_config_known(key))
			return usage_error("unknown option --%s", key);
		if (ag_config_set(c, key, val, &e) != AG_OK)
			return usage_error("%s", e.msg);
	}
	return EXIT_OK;
}

static int exit_code(enum ag_code rc)
{
	switch (rc) {
	case AG_OK:
		return EXIT_OK;
	case AG_E_CONFIG:
		return EXIT_USAGE;
	case AG_E_RETIRED:
		return EXIT_RETIRED;
	case AG_E_AUTH:
		return EXIT_CREDENTIAL;
	case AG_E_SUSPENDED:
		return EXIT_SUSPENDED;
	default:
		return EXIT_FAIL;
	}
}

static void print_installed(struct ag_ctx *x)
{
	char serial[64], t[32] = "";
	time_t nb, na;

	ag_serial_hex(x->cur.cert, serial, sizeof(serial));
	if (ag_cert_times(x->cur.cert, &nb, &na))
		ag_time_iso(na, t);
	printf("serial %s, valid until %s, %s key (generation %ld)\n", serial, t,
	       ag_key_type_name(ag_key_type_of(x->cur.key)), x->cur.gen);
	printf("key %s\ncert %s\nchain %s\ncacerts %s\n", x->cfg.key_path, x->cfg.cert_path,
	       x->cfg.chain_path, x->cfg.cacerts_path);
}

static enum ag_code cmd_enroll(struct ag_ctx *x, int force, struct ag_error *e)
{
	enum ag_mode mode;
	time_t nb, na;
	int valid;
	enum ag_code rc;

	valid = x->cur.cert && ag_cert_times(x->cur.cert, &nb, &na) && na > time(NULL);
	if (valid && !force) {
		printf("already enrolled: ");
		print_installed(x);
		printf("(renew with 'devtrust-agent renew'; enroll again with --force)\n");
		return AG_OK;
	}
	if ((rc = ag_bootstrap_mode(x, &mode, e)) == AG_OK &&
	    (rc = ag_est_enroll(x, mode, e)) == AG_OK) {
		printf("enrolled: ");
		print_installed(x);
	}
	x->st.note[0] = '\0';
	/* A forced enrollment that failed leaves a good certificate good. */
	if (rc != AG_OK && valid)
		ag_record_error(x, e);
	else
		ag_record(x, rc, e);
	return rc;
}

static int run_command(const struct args *a, struct ag_ctx *x)
{
	struct ag_error e;
	enum ag_code rc;
	int code;

	memset(&e, 0, sizeof(e));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ag_log("cannot initialise libcurl");
		return EXIT_FAIL;
	}
	if ((rc = ag_ctx_open(x, &e)) != AG_OK) {
		ag_log("%s", e.msg);
		code = exit_code(rc);
		goto out;
	}
	if (strcmp(a->command, "run") == 0) {
		code = ag_daemon(x);
		goto out;
	}
	if (strcmp(a->command, "enroll") == 0) {
		rc = cmd_enroll(x, a->force, &e);
	} else {
		rc = ag_renew(x, &e);
		if (rc == AG_OK) {
			printf("renewed: ");
			print_installed(x);
		}
	}
	if (rc != AG_OK)
		ag_log("%s: %s", a->command, e.msg);
	code = exit_code(rc);
out:
	ag_ctx_close(x);
	curl_global_cleanup();
	return code;
}

int main(int argc, char **argv)
{
	static struct ag_ctx x; /* large (paths); static keeps it off the stack */
	struct ag_error e;
	struct args a;
	const char *config;
	int code;

	if ((code = scan_args(argc, argv, &a)) != EXIT_OK)
		return code;
	signal(SIGPIPE, SIG_IGN);
	ag_config_init(&x.cfg);
	config = a.config ? a.config : getenv("DEVTRUST_AGENT_CONFIG");
	if (!config && access(DEFAULT_CONFIG, F_OK) == 0)
		config = DEFAULT_CONFIG;
	if (config && ag_config_load(&x.cfg, config, &e) != AG_OK) {
		fprintf(stderr, "devtrust-agent: %s\n", e.msg);
		return EXIT_USAGE;
	}
	if ((code = apply_flags(argc, argv, &x.cfg)) != EXIT_OK)
		return code;
	if (ag_config_finish(&x.cfg, strcmp(a.command, "status") != 0, &e) != AG_OK) {
		fprintf(stderr, "devtrust-agent: %s\n", e.msg);
		return EXIT_USAGE;
	}
	if (strcmp(a.command, "status") == 0)
		return ag_status_print(&x.cfg, a.json);
	return run_command(&a, &x);
}
