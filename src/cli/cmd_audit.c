/*
 * devtrust audit verify | list | checkpoint | export, and the checkpoint the
 * CLI writes after a command when one is due.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static int print_event(void *arg, const struct dt_audit_event *e)
{
	json_t *arr = arg;
	char t[32];

	cli_time(e->time, t, sizeof(t));
	if (arr)
		return json_array_append_new(
		    arr, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)e->seq,
				   "time", t, "actor", e->actor, "action", e->action, "object",
				   e->object, "reason", e->reason, "details", e->details, "hash",
				   e->hash));
	printf("%6lld %s %-16s %-18s %-34s %s\n", (long long)e->seq, t, e->actor, e->action,
	       e->object, e->reason);
	return 0;
}

static json_t *checkpoint_json(const struct dt_audit_checkpoint *cp)
{
	char t[32];

	if (cp->seq == 0)
		return json_null();
	cli_time(cp->time, t, sizeof(t));
	return json_pack("{s:I,s:s,s:s,s:s}", "seq", (json_int_t)cp->seq, "time", t, "hash",
			 cp->hash, "key_id", cp->key_id);
}

static void print_report(const struct dt_audit_report *r)
{
	char t[32];

	printf("audit chain intact: %lld events verified\n", (long long)r->events);
	if (r->last.seq) {
		cli_time(r->last.time, t, sizeof(t));
		printf("signed checkpoints: %lld verified, the last at event %lld (%s), audit key "
		       "%.16s\n",
		       (long long)r->checkpoints, (long long)r->last.seq, t, r->last.key_id);
	} else {
		printf("signed checkpoints: none yet (devtrust audit checkpoint writes one)\n");
	}
	if (r->uncovered > 0)
		printf("not yet covered by a checkpoint: %lld events (%lld to %lld)\n",
		       (long long)r->uncovered, (long long)(r->last.seq + 1), (long long)r->head);
	else
		printf("not yet covered by a checkpoint: none\n");
	printf("trust anchor: root CA sha256 %s (%lld audit key%s)\n", r->root_fingerprint,
	       (long long)r->keys, r->keys == 1 ? "" : "s");
}

static int audit_verify(struct cli *c, const struct cli_args *a)
{
	struct dt_audit_report r;
	struct dt_error err;
	dt_code code = dt_audit_verify_full(c->ctx, cli_opt(a, "root-fingerprint"), &r, &err);

	if (code != DT_OK && code != DT_ERR_STATE)
		return cli_fail(c, &err);
	if (c->json)
		cli_json_print(json_pack(
		    "{s:b,s:I,s:I,s:s,s:I,s:I,s:o,s:I,s:I,s:s}", "ok", code == DT_OK, "verified",
		    (json_int_t)r.events, "first_broken", (json_int_t)r.bad_seq, "message",
		    code == DT_OK ? "" : err.msg, "head", (json_int_t)r.head, "checkpoints",
		    (json_int_t)r.checkpoints, "last_checkpoint", checkpoint_json(&r.last),
		    "uncovered", (json_int_t)r.uncovered, "audit_keys", (json_int_t)r.keys,
		    "root_fingerprint", r.root_fingerprint));
	else if (code == DT_OK)
		print_report(&r);
	if (code != DT_OK)
		fprintf(stderr, "devtrust: %s\n", err.msg);
	return code == DT_OK ? EXIT_OK : EXIT_REFUSED;
}

static dt_code parse_count(const char *s, const char *what, int64_t *out, struct dt_error *err)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = s && *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : -1;
	if (v < 0 || errno || !end || *end)
		return dt_fail(err, DT_ERR_INVALID, "%s '%.32s' is not a whole number", what,
			       s ? s : "");
	*out = (int64_t)v;
	return DT_OK;
}

static int audit_checkpoint(struct cli *c, const struct cli_args *a)
{
	struct dt_audit_checkpoint_policy pol;
	struct dt_audit_checkpoint cp;
	struct dt_error err;
	int written = 0;
	char t[32];

	if (dt_audit_checkpoint_policy_get(c->ctx, &pol, &err) != DT_OK)
		return cli_fail(c, &err);
	if (cli_opt(a, "every-events") || cli_opt(a, "every")) {
		if ((cli_opt(a, "every-events") &&
		     parse_count(cli_opt(a, "every-events"), "--every-events", &pol.every_events,
				 &err) != DT_OK) ||
		    (cli_opt(a, "every") &&
		     dt_duration_parse(cli_opt(a, "every"), &pol.every_s, &err) != DT_OK) ||
		    dt_audit_checkpoint_policy_set(c->ctx, &pol, &err) != DT_OK)
			return cli_fail(c, &err);
	}
	if (dt_audit_checkpoint(c->ctx, &cp, &written, &err) != DT_OK)
		return cli_fail(c, &err);
	if (c->json) {
		cli_json_print(json_pack("{s:b,s:o,s:I,s:I}", "written", written, "checkpoint",
					 checkpoint_json(&cp), "every_events",
					 (json_int_t)pol.every_events, "every_s",
					 (json_int_t)pol.every_s));
		return EXIT_OK;
	}
	cli_time(cp.time, t, sizeof(t));
	if (written)
		printf("checkpoint at event %lld signed by audit key %.16s (%s)\n",
		       (long long)cp.seq, cp.key_id, t);
	else
		printf("the last checkpoint, at event %lld (%s), already covers every event\n",
		       (long long)cp.seq, t);
	printf("checkpoints every %lld events, or every %llds with new events\n",
	       (long long)pol.every_events, (long long)pol.every_s);
	return EXIT_OK;
}

struct export_out {
	FILE *f;
	long lines;
};

static int write_line(void *arg, const char *line, size_t len)
{
	struct export_out *o = arg;

	o->lines++;
	return fwrite(line, 1, len, o->f) != len || fputc('\n', o->f) == EOF;
}

/* The export is written whole or not at all: a temporary file renamed into place. Mode
 * 0600: the log names devices, owners and operators. */
static int audit_export(struct cli *c, const struct cli_args *a)
{
	const char *path = cli_opt(a, "out");
	struct export_out o = {stdout, 0};
	struct dt_error err;
	int64_t since = 0;
	char tmp[4096];
	int fd = -1;
	dt_code code;

	if (cli_opt(a, "since") &&
	    parse_count(cli_opt(a, "since"), "--since", &since, &err) != DT_OK)
		return cli_fail(c, &err);
	if (path) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) >=
		    (int)sizeof(tmp)) {
			dt_fail(&err, DT_ERR_INVALID, "path %s is too long", path);
			return cli_fail(c, &err);
		}
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
		    !(o.f = fdopen(fd, "w"))) {
			dt_fail(&err, DT_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
			if (fd >= 0)
				close(fd);
			return cli_fail(c, &err);
		}
	}
	code = dt_audit_export(c->ctx, since, write_line, &o, &err);
	if (!path)
		return code == DT_OK && fflush(stdout) == 0 ? EXIT_OK : cli_fail(c, &err);
	if (code == DT_OK && (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0))
		code = dt_fail(&err, DT_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (fclose(o.f) != 0 && code == DT_OK)
		code = dt_fail(&err, DT_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (code == DT_OK && rename(tmp, path) != 0)
		code = dt_fail(&err, DT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	if (code != DT_OK) {
		unlink(tmp);
		return cli_fail(c, &err);
	}
	if (c->json)
		cli_json_print(json_pack("{s:s,s:I,s:I}", "out", path, "since", (json_int_t)since,
					 "lines", (json_int_t)o.lines));
	else
		printf("wrote the audit export to %s (%ld lines)\n", path, o.lines);
	return EXIT_OK;
}

int cmd_audit(struct cli *c, int argc, char **argv)
{
	static const char usage[] =
	    "devtrust audit verify [--root-fingerprint SHA256] | list [--object ID] |\n"
	    "       checkpoint [--every-events N] [--every DURATION] |\n"
	    "       export [--out FILE] [--since SEQ]";
	struct cli_args a;
	struct dt_error err;
	int rc;

	if ((rc = cli_parse(argc, argv,
			    "object= root-fingerprint= every-events= every= out= since=", 1, 1,
			    usage, &a)) != 0)
		return rc;
	if ((rc = cli_open(c)) != 0)
		return rc;
	if (strcmp(a.pos[0], "verify") == 0)
		return audit_verify(c, &a);
	if (strcmp(a.pos[0], "checkpoint") == 0)
		return audit_checkpoint(c, &a);
	if (strcmp(a.pos[0], "export") == 0)
		return audit_export(c, &a);
	if (strcmp(a.pos[0], "list") == 0) {
		json_t *arr = c->json ? json_array() : NULL;
		if (dt_audit_list(c->ctx, cli_opt(&a, "object"), print_event, arr, &err) != DT_OK) {
			json_decref(arr);
			return cli_fail(c, &err);
		}
		if (arr)
			cli_json_print(arr);
		return EXIT_OK;
	}
	return cli_usage(usage, "unknown audit command '%s'", a.pos[0]);
}

void cmd_audit_after(struct cli *c)
{
	struct dt_error err;
	int64_t next = 0;

	if (c->ctx && dt_audit_checkpoint_tick(c->ctx, &next, &err) != DT_OK)
		fprintf(stderr, "devtrust: warning: no audit checkpoint written: %s\n", err.msg);
}
