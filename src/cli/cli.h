/*
 * The devtrust command line: a thin front on libdevtrust. Shared pieces for
 * the command files: options, output (table or JSON), exit codes.
 */
#ifndef DT_CLI_H
#define DT_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "devtrust/admin.h"
#include "devtrust/audit.h"
#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"
#include "devtrust/report.h"

/* Exit codes (DESIGN.md section 5). */
#define EXIT_OK 0
#define EXIT_REFUSED 1
#define EXIT_USAGE 2

#define CLI_MAX_POS 8
#define CLI_MAX_OPTS 24

struct cli_args {
	const char *pos[CLI_MAX_POS];
	int npos;
	const char *name[CLI_MAX_OPTS];
	const char *value[CLI_MAX_OPTS]; /* NULL for flags */
	int nopt;
};

struct cli {
	const char *data_dir;
	const char *passphrase_file;
	const char *actor;
	int json;
	const char *prog;
	struct dt_ctx *ctx; /* opened on demand by cli_open() */
	/* Run as root on a data dir of another user's: cli_open made this process that
	 * user (privilege separation, DECISIONS.md 78), whose name this is. */
	char ran_as[64];
};

/*
 * Parses argv against spec, a space-separated list of option names; a name
 * ending in '=' takes a value. Prints usage errors itself; returns 0 or EXIT_USAGE.
 */
int cli_parse(int argc, char **argv, const char *spec, int min_pos, int max_pos, const char *usage,
	      struct cli_args *a);
const char *cli_opt(const struct cli_args *a, const char *name);
int cli_flag(const struct cli_args *a, const char *name);

int cli_open(struct cli *c);
/* Prints err (and a JSON error object with --json); returns the exit code. */
int cli_fail(struct cli *c, const struct dt_error *err);
int cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints and frees a JSON value. */
void cli_json_print(json_t *v);
void cli_time(int64_t t, char *buf, size_t cap);
/* Reads a file ("-": stdin) of at most max bytes; one byte more is read so that
 * the library, not the CLI, names the limit in its error. */
int cli_read_input(struct cli *c, const char *path, size_t max, const char *what,
		   unsigned char **buf, size_t *len);
/* Writes data to path atomically (temp + fsync + rename), mode 0644. */
int cli_write_file(struct cli *c, const char *path, const void *data, size_t len);

int cmd_init(struct cli *c, int argc, char **argv);
int cmd_ca(struct cli *c, int argc, char **argv);
int cmd_class(struct cli *c, int argc, char **argv);
int cmd_device(struct cli *c, int argc, char **argv);
int cmd_cert(struct cli *c, int argc, char **argv);
int cmd_crl(struct cli *c, int argc, char **argv);
int cmd_report(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
/* After a command: a signed audit checkpoint if one is due; a failure is a warning. */
void cmd_audit_after(struct cli *c);
int cmd_manufacturer(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);
int cmd_policy(struct cli *c, int argc, char **argv);
int cmd_verify(struct cli *c, int argc, char **argv);
int cmd_admin(struct cli *c, int argc, char **argv);
/* cmd_verify.c: report blast-radius|clones|silent and device clear-clone. */
int cmd_report_is_verify(const char *kind);
int cmd_report_verify(struct cli *c, int argc, char **argv);
int cmd_device_clear_clone(struct cli *c, const char *id, const char *reason);

#endif
