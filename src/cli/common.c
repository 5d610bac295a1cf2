/*
 * Option parsing, output and file writing shared by the command files.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/json.h"
#include "cli/cli.h"
#include "http/http.h"

/* Whether name appears in spec, and whether it takes a value. */
static int spec_lookup(const char *spec, const char *name, int *takes_value)
{
	size_t n = strlen(name);
	const char *p = spec;

	while (p && *p) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int val = len > 0 && p[len - 1] == '=';
		if ((val ? len - 1 : len) == n && strncmp(p, name, n) == 0) {
			*takes_value = val;
			return 1;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

int cli_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("devtrust: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\n", usage);
	return EXIT_USAGE;
}

int cli_parse(int argc, char **argv, const char *spec, int min_pos, int max_pos, const char *usage,
	      struct cli_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		int takes_value = 0;

		if (strncmp(arg, "--", 2) == 0 && arg[2]) {
			const char *eq = strchr(arg, '=');
			char name[64];
			size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);

			if (n >= sizeof(name))
				return cli_usage(usage, "unknown option %.64s", arg);
			snprintf(name, sizeof(name), "%.*s", (int)n, arg + 2);
			if (!spec_lookup(spec, name, &takes_value))
				return cli_usage(usage, "unknown option %s", arg);
			if (a->nopt == CLI_MAX_OPTS)
				return cli_usage(usage, "too many options");
			a->name[a->nopt] = arg + 2;
			if (takes_value) {
				if (eq)
					a->value[a->nopt] = eq + 1;
				else if (i + 1 < argc)
					a->value[a->nopt] = argv[++i];
				else
					return cli_usage(usage, "option --%s needs a value", name);
			} else if (eq) {
				return cli_usage(usage, "option --%s takes no value", name);
			}
			a->nopt++;
			continue;
		}
		if (a->npos == max_pos || a->npos == CLI_MAX_POS)
			return cli_usage(usage, "unexpected argument '%s'", arg);
		a->pos[a->npos++] = arg;
	}
	if (a->npos < min_pos)
		return cli_usage(usage, "missing argument");
	return 0;
}

static int opt_index(const struct cli_args *a, const char *name)
{
	size_t n = strlen(name);

	for (int i = a->nopt - 1; i >= 0; i--)
		if (strncmp(a->name[i], name, n) == 0 &&
		    (a->name[i][n] == '\0' || a->name[i][n] == '='))
			return i;
	return -1;
}

const char *cli_opt(const struct cli_args *a, const char *name)
{
	int i = opt_index(a, name);

	return i >= 0 ? a->value[i] : NULL;
}

int cli_flag(const struct cli_args *a, const char *name)
{
	return opt_index(a, name) >= 0;
}

int cli_open(struct cli *c)
{
	struct dt_open_opts o = {c->data_dir, c->passphrase_file, c->actor, 0};
	struct dt_error err;

	int root = geteuid() == 0;
	const struct passwd *pw;

	if (c->ctx)
		return 0;
	if (http_open(&o, &c->ctx, &err) != DT_OK)
		return cli_fail(c, &err);
	if (root && geteuid() != 0)
		snprintf(c->ran_as, sizeof(c->ran_as), "%s",
			 (pw = getpwuid(geteuid())) ? pw->pw_name : "the data dir's owner");
	return 0;
}

int cli_fail(struct cli *c, const struct dt_error *err)
{
	fprintf(stderr, "devtrust: %s\n", err->msg);
	/* A file of root's out of reach after the drop: say why, the error alone does not. */
	if (c->ran_as[0] && err->code == DT_ERR_IO && strstr(err->msg, strerror(EACCES)))
		fprintf(stderr,
			"devtrust: run as root on this data dir, the command runs as %s, its "
			"owner: a file it reads or writes must be one %s may reach (or use "
			"standard input and output)\n",
			c->ran_as, c->ran_as);
	if (c->json) {
		json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", dt_code_name(err->code),
				      "message", err->msg);
		cli_json_print(e);
	}
	return EXIT_REFUSED;
}

void cli_json_print(json_t *v)
{
	if (!v)
		return;
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(v);
}

void cli_time(int64_t t, char *buf, size_t cap)
{
	api_time(t, buf, cap);
}

int cli_read_input(struct cli *c, const char *path, size_t max, const char *what,
		   unsigned char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct dt_error err;

	*buf = NULL;
	*len = 0;
	if (!f) {
		dt_fail(&err, DT_ERR_IO, "cannot open %s file %s: %s", what, path, strerror(errno));
		return cli_fail(c, &err);
	}
	if (!(*buf = malloc(max + 1))) {
		if (f != stdin)
			fclose(f);
		dt_fail(&err, DT_ERR_INTERNAL, "out of memory");
		return cli_fail(c, &err);
	}
	*len = fread(*buf, 1, max + 1, f);
	if (f != stdin)
		fclose(f);
	return 0;
}

int cli_write_file(struct cli *c, const char *path, const void *data, size_t len)
{
	char tmp[4096];
	const unsigned char *p = data;
	struct dt_error err;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		dt_fail(&err, DT_ERR_INVALID, "path %s is too long", path);
		return cli_fail(c, &err);
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
		dt_fail(&err, DT_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
		return cli_fail(c, &err);
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		len -= (size_t)w;
	}
	if (len > 0 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		dt_fail(&err, DT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return cli_fail(c, &err);
	}
	return 0;
}
