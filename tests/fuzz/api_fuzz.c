/*
 * libFuzzer harness for the admin REST API (api_handle) and bearer-token
 * authentication (dt_admin_auth_token) against a real data dir (org "fuzz":
 * class pump on CA "default", device pump-1 of maker acme and pump-2 of maker
 * globex, each with a certificate; live admin, operator, auditor and vendor
 * (acme) tokens and a revoked one).
 *
 * Input, a request:          or a token:             or an edited real token:
 *   [as <role>\n]              TOKEN <string>          TOKEN-EDIT\n
 *   <METHOD> <path>[?query]\n                          (<index> <byte>)...
 *   <body>
 * role: admin (default), operator, auditor, vendor or none (unauthenticated).
 * $CERT1, $CERT2 (the certificates' serials), $TOKEN, $VTOKEN, $RTOKEN (the
 * admin's, the vendor's and the revoked token) and $TOKENID stand for their
 * values anywhere, so mutations reach the objects behind them.
 *
 * The contract of a reply: a status in 200..599 and a JSON object body; an
 * error is exactly {"error":{"code","message"}} with the code its status
 * implies, and never a 500 (nothing can fail inside: a client's mistake is a
 * 4xx); unauthenticated is always 401; an auditor changes nothing; a vendor
 * sees nothing of globex.
 * A token authenticates if and only if it is one of the live tokens, byte for
 * byte, as that credential; anything else is DT_ERR_AUTH. The audit chain
 * verifies throughout. The database is reset from a snapshot now and then.
 */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/core.h"
#include "devtrust/admin.h"
#include "devtrust/audit.h"
#include "devtrust/devtrust.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"
#include "fuzz_datadir.h"
#include "http/http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reset after this many successful writes: the store and its key files stay small. */
#define RESET_AFTER_WRITES 200
/* Verify the audit chain every this many inputs (it walks every event). */
#define VERIFY_EVERY 64
/* TOKEN-EDIT works on a copy of the admin token in a buffer this long, so edits can
 * also lengthen it. */
#define EDIT_BUF 128

enum who { WHO_ADMIN, WHO_OPERATOR, WHO_AUDITOR, WHO_VENDOR, WHO_REVOKED, WHO_COUNT };

static struct dt_ctx *ctx;
static struct dt_admin_cred creds[WHO_COUNT];
static char tokens[WHO_COUNT][DT_ADMIN_TOKEN_BUF];
static char cert1[DT_SERIAL_HEX_BUF], cert2[DT_SERIAL_HEX_BUF];
static long inputs, writes;
static int verbose; /* API_FUZZ_VERBOSE=1: one line per input on stderr */

/* Puts the database and the key files back as they were after init. */
static void reset_store(void)
{
	fuzz_datadir_reset();
	writes = 0;
}

static void add_device(const char *id, const char *maker, char serial[DT_SERIAL_HEX_BUF])
{
	struct dt_error err = {0};
	struct dt_device d;
	struct dt_cert_info info;
	char token[DT_TOKEN_BUF];
	unsigned char *der = NULL;
	size_t der_len = 0;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.class_name, sizeof(d.class_name), "pump");
	snprintf(d.serial, sizeof(d.serial), "SN-%s", id);
	snprintf(d.manufacturer, sizeof(d.manufacturer), "%s", maker);
	if (dt_device_add(ctx, &d, token, &err) != DT_OK)
		fuzz_die("dt_device_add", err.msg);
	fuzz_issue(id, &der, &der_len, &info);
	memcpy(serial, info.serial, DT_SERIAL_HEX_BUF);
	OPENSSL_free(der);
}

static void add_token(enum who w, const char *name, enum dt_role role, const char *maker,
		      int64_t lifetime)
{
	struct dt_admin_opts o = {name, role, maker, lifetime};
	struct dt_error err = {0};

	if (dt_admin_add_token(ctx, &o, tokens[w], &creds[w], &err) != DT_OK)
		fuzz_die("dt_admin_add_token", err.msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dt_class cl;
	struct dt_policy p;
	struct dt_error err = {0};
	int64_t n = 0;

	(void)argc;
	(void)argv;
	verbose = getenv("API_FUZZ_VERBOSE") != NULL;
	fuzz_datadir_init("api", &ctx);
	dt_class_defaults(&cl);
	snprintf(cl.name, sizeof(cl.name), "pump");
	if (dt_class_add(ctx, &cl, &err) != DT_OK)
		fuzz_die("dt_class_add", err.msg);
	if (dt_policy_allow(ctx, "pump", "telemetry", "/v1/*", "GET", &p, &err) != DT_OK)
		fuzz_die("dt_policy_allow", err.msg);
	add_device("pump-1", "acme", cert1);
	add_device("pump-2", "globex", cert2);
	add_token(WHO_ADMIN, "fuzz-admin", DT_ROLE_ADMIN, NULL, DT_ADMIN_MAX_LIFETIME_S);
	add_token(WHO_OPERATOR, "fuzz-operator", DT_ROLE_OPERATOR, NULL, DT_ADMIN_MAX_LIFETIME_S);
	add_token(WHO_AUDITOR, "fuzz-auditor", DT_ROLE_AUDITOR, NULL, DT_ADMIN_MAX_LIFETIME_S);
	add_token(WHO_VENDOR, "fuzz-vendor", DT_ROLE_VENDOR, "acme",
		  DT_ADMIN_VENDOR_MAX_LIFETIME_S);
	add_token(WHO_REVOKED, "fuzz-revoked", DT_ROLE_ADMIN, NULL, DT_ADMIN_MAX_LIFETIME_S);
	if (dt_admin_revoke(ctx, creds[WHO_REVOKED].id, &n, &err) != DT_OK || n != 1)
		fuzz_die("dt_admin_revoke", err.msg);
	fuzz_datadir_snapshot();
	return 0;
}

/* ---- Placeholders ---- */

static const char *placeholder(const char *p, size_t left, size_t *name_len)
{
	static const struct {
		const char *name;
		const char *value;
	} ph[] = {
	    {"$CERT1", cert1},
	    {"$CERT2", cert2},
	    {"$TOKENID", creds[WHO_ADMIN].id},
	    {"$TOKEN", tokens[WHO_ADMIN]},
	    {"$VTOKEN", tokens[WHO_VENDOR]},
	    {"$RTOKEN", tokens[WHO_REVOKED]},
	};

	for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++) {
		size_t n = strlen(ph[i].name);
		if (left >= n && memcmp(p, ph[i].name, n) == 0) {
			*name_len = n;
			return ph[i].value;
		}
	}
	return NULL;
}

/* The input with its placeholders replaced, NUL-terminated (malloc'ed). */
static char *expand(const uint8_t *data, size_t size, size_t *len)
{
	/* A placeholder of 6 bytes stands for at most DT_ADMIN_TOKEN_BUF - 1. */
	char *out = malloc(size * (DT_ADMIN_TOKEN_BUF / 6 + 1) + 1);
	const char *in = (const char *)data, *v;
	size_t i = 0, o = 0, n;

	if (!out)
		fuzz_die("out of memory", NULL);
	while (i < size) {
		if (in[i] == '$' && (v = placeholder(in + i, size - i, &n))) {
			memcpy(out + o, v, strlen(v));
			o += strlen(v);
			i += n;
		} else {
			out[o++] = in[i++];
		}
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* ---- Tokens ---- */

/* Whether credential id is live in the store now (a request may have revoked it). */
struct live {
	const char *id;
	int live;
};

static int live_one(void *arg, const struct dt_admin_cred *c)
{
	struct live *l = arg;

	if (strcmp(c->id, l->id) == 0)
		l->live = !c->revoked_at && c->not_after > dt_now();
	return 0;
}

static int cred_live(const char *id)
{
	struct live l = {id, 0};
	struct dt_error err = {0};

	if (dt_admin_list(ctx, NULL, live_one, &l, &err) != DT_OK)
		fuzz_die("dt_admin_list", err.msg);
	return l.live;
}

static void check_token(const char *token)
{
	struct dt_admin_cred out;
	struct dt_error err = {0};
	int expect = -1;
	dt_code rc;

	for (int w = 0; w < WHO_COUNT; w++)
		if (strcmp(token, tokens[w]) == 0 && cred_live(creds[w].id))
			expect = w;
	memset(&out, 0, sizeof(out));
	rc = dt_admin_auth_token(ctx, token, &out, &err);
	if (verbose)
		fprintf(stderr, "api_fuzz: token (%zu bytes): %s %s\n", strlen(token),
			dt_code_name(rc), rc == DT_OK ? out.name : err.msg);
	if (expect < 0) {
		if (rc != DT_ERR_AUTH)
			fuzz_die(
			    "a token that is no live credential's was not refused with DT_ERR_AUTH",
			    rc == DT_OK ? out.name : err.msg);
		if (err.code != rc || !err.msg[0])
			fuzz_die("a refused token has no message", NULL);
		return;
	}
	if (rc != DT_OK)
		fuzz_die("a live token was refused", err.msg);
	if (strcmp(out.id, creds[expect].id) != 0 || out.role != creds[expect].role ||
	    strcmp(out.name, creds[expect].name) != 0 ||
	    strcmp(out.manufacturer, creds[expect].manufacturer) != 0)
		fuzz_die("a token authenticated as another credential", out.name);
}

/* (index, byte) pairs applied to a copy of the admin token. */
static void check_token_edits(const unsigned char *e, size_t n)
{
	char buf[EDIT_BUF];

	memset(buf, 0, sizeof(buf));
	memcpy(buf, tokens[WHO_ADMIN], DT_ADMIN_TOKEN_BUF);
	for (size_t i = 0; i + 1 < n; i += 2)
		buf[e[i] % (EDIT_BUF - 1)] = (char)e[i + 1];
	check_token(buf);
}

/* ---- Requests ---- */

/* "as <word>": the credential a request is made with (creds[] index), or none. */
static const char *const as_words[] = {"admin", "operator", "auditor", "vendor", "none"};
#define AS_NONE 4

/* The error codes of api.h and api_fail_dt, by status. */
static int code_matches(int status, const char *code)
{
	static const struct {
		int status;
		const char *code;
	} known[] = {{400, "invalid"},
		     {401, "unauthenticated"},
		     {403, "forbidden"},
		     {404, "not_found"},
		     {405, "method_not_allowed"},
		     {409, "exists"},
		     {409, "state"},
		     {500, "internal"}};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].status == status && strcmp(known[i].code, code) == 0)
			return 1;
	return 0;
}

/* A vendor of acme must not see globex: no object of another maker, no globex device. */
static void check_vendor_view(json_t *v)
{
	json_t *x;
	void *it;

	for (size_t i = 0; i < json_array_size(v); i++)
		check_vendor_view(json_array_get(v, i));
	if (!json_is_object(v))
		return;
	if ((x = json_object_get(v, "manufacturer")) &&
	    (!json_is_string(x) || strcmp(json_string_value(x), "acme") != 0))
		fuzz_die("a vendor of acme was shown another maker's object", json_string_value(x));
	if ((x = json_object_get(v, "device")) && json_is_string(x) &&
	    strcmp(json_string_value(x), "pump-2") == 0)
		fuzz_die("a vendor of acme was shown globex's device pump-2", NULL);
	for (it = json_object_iter(v); it; it = json_object_iter_next(v, it))
		check_vendor_view(json_object_iter_value(it));
}

static void check_reply(const struct api_request *rq, int role, const struct api_response *rs)
{
	json_error_t je;
	json_t *b, *e, *code, *msg;
	int ok;

	if (rs->status < 200 || rs->status > 599)
		fuzz_die("a reply's status is outside 200..599", rs->note);
	if (!rs->body || rs->len != strlen(rs->body))
		fuzz_die("a reply has no body, or its length is wrong", rs->note);
	if (!rs->content_type || strcmp(rs->content_type, "application/json") != 0)
		fuzz_die("a reply is not application/json", rs->content_type);
	if (!(b = json_loadb(rs->body, rs->len, JSON_REJECT_DUPLICATES, &je)) || !json_is_object(b))
		fuzz_die("a reply body is not a JSON object", rs->body);
	ok = rs->status < 400;
	if (!ok) {
		e = json_object_get(b, "error");
		code = json_object_get(e, "code");
		msg = json_object_get(e, "message");
		if (json_object_size(b) != 1 || json_object_size(e) != 2 || !json_is_string(code) ||
		    !json_is_string(msg) || !json_string_value(msg)[0])
			fuzz_die("an error reply is not {\"error\":{\"code\",\"message\"}}",
				 rs->body);
		if (!code_matches(rs->status, json_string_value(code)))
			fuzz_die("an error reply's code does not match its status", rs->body);
		/* Nothing fails inside here (a store on tmpfs, no I/O errors): a 500 is
		 * a request the API did not expect, and it must not show details. */
		if (rs->status == 500)
			fuzz_die(strcmp(json_string_value(msg), "internal error") != 0
				     ? "a 500 reply shows details"
				     : "a request was answered 500 though nothing failed",
				 rs->note);
	}
	if (role == AS_NONE && rs->status != 401)
		fuzz_die("an unauthenticated request was not answered 401", rs->body);
	if (ok && role == WHO_AUDITOR && strcmp(rq->method, "GET") != 0)
		fuzz_die("an auditor changed something", rq->path);
	if (ok && role == WHO_VENDOR) {
		if (strcmp(rq->method, "GET") != 0 && strncmp(rq->path, "/devices/", 9) != 0)
			fuzz_die("a vendor changed something beyond a device", rq->path);
		check_vendor_view(b);
	}
	json_decref(b);
}

static void check_request(char *text, size_t len)
{
	struct api_request rq;
	struct api_response rs;
	char *line = text, *nl, *sp, *q;
	int role = WHO_ADMIN;

	memset(&rq, 0, sizeof(rq));
	if (strncmp(line, "as ", 3) == 0 && (nl = strchr(line, '\n'))) {
		*nl = '\0';
		for (role = 0; role <= AS_NONE && strcmp(line + 3, as_words[role]) != 0; role++)
			;
		if (role > AS_NONE)
			role = WHO_ADMIN;
		line = nl + 1;
	}
	if ((nl = memchr(line, '\n', len - (size_t)(line - text)))) {
		*nl = '\0';
		rq.body = (const unsigned char *)nl + 1;
		rq.body_len = len - (size_t)(nl + 1 - text);
	}
	/* The HTTP layer refuses larger bodies before the API sees them. */
	if (rq.body_len > HTTP_MAX_BODY)
		return;
	rq.method = line;
	rq.path = "";
	if ((sp = strchr(line, ' '))) {
		*sp = '\0';
		rq.path = sp + 1;
		if ((q = strchr(sp + 1, '?'))) {
			*q = '\0';
			rq.query = q + 1;
		}
	}
	rq.who = role == AS_NONE ? NULL : &creds[role];
	api_handle(ctx, &rq, &rs);
	if (verbose)
		fprintf(stderr, "api_fuzz: as %s %s %s%s%s (%zu body bytes): %d %.200s\n",
			as_words[role], rq.method, rq.path, rq.query ? "?" : "",
			rq.query ? rq.query : "", rq.body_len, rs.status, rs.body ? rs.body : "");
	check_reply(&rq, role, &rs);
	if (rs.status < 300 && strcmp(rq.method, "GET") != 0)
		writes++;
	api_response_free(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dt_error err = {0};
	int64_t checked = 0, bad = 0;
	size_t len;
	char *text;

	if (size >= 11 && memcmp(data, "TOKEN-EDIT\n", 11) == 0) {
		check_token_edits(data + 11, size - 11);
	} else {
		text = expand(data, size, &len);
		if (strncmp(text, "TOKEN ", 6) == 0)
			check_token(text + 6);
		else
			check_request(text, len);
		free(text);
	}
	if (++inputs % VERIFY_EVERY == 0 && dt_audit_verify(ctx, &checked, &bad, &err) != DT_OK)
		fuzz_die("the audit chain no longer verifies", err.msg);
	if (writes >= RESET_AFTER_WRITES)
		reset_store();
	return 0;
}
