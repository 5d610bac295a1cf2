/*
 * The agent's status: what the daemon last did, kept in STATE/status (key =
 * value lines, replaced atomically), and what `devtrust-agent status` prints
 * from it and from the installed certificate, as text or JSON.
 */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"

static const char *const state_names[] = {
    [AG_ST_NOT_ENROLLED] = "not-enrolled",
    [AG_ST_VALID] = "valid",
    [AG_ST_RETRYING] = "retrying",
    [AG_ST_SUSPENDED] = "suspended",
    [AG_ST_RETIRED] = "retired",
    [AG_ST_COMPROMISED] = "compromised",
    [AG_ST_NEEDS_CREDENTIAL] = "needs-credential",
    [AG_ST_ERROR] = "error",
};

const char *ag_state_name(enum ag_state s)
{
	if ((size_t)s < sizeof(state_names) / sizeof(state_names[0]) && state_names[s])
		return state_names[s];
	return "unknown";
}

static enum ag_state state_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (state_names[i] && strcmp(s, state_names[i]) == 0)
			return (enum ag_state)i;
	return AG_ST_NOT_ENROLLED;
}

void ag_time_iso(time_t t, char out[32])
{
	struct tm tm;

	out[0] = '\0';
	if (t > 0 && gmtime_r(&t, &tm))
		strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ag_cert_times(X509 *x, time_t *not_before, time_t *not_after)
{
	struct tm b, a;

	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &b) != 1 ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(x), &a) != 1)
		return 0;
	*not_before = timegm(&b);
	*not_after = timegm(&a);
	return *not_after > *not_before;
}

long ag_jitter_of(const struct ag_config *c, X509 *cert)
{
	time_t nb, na;
	long life;

	if (!ag_cert_times(cert, &nb, &na))
		return 0;
	life = (long)(na - nb);
	if (c->jitter_s >= 0)
		return c->jitter_s < life / 2 ? c->jitter_s : life / 2;
	return life / 20 < 3600 ? life / 20 : 3600;
}

time_t ag_renewal_time(const struct ag_config *c, X509 *cert, long jitter_draw)
{
	time_t nb, na, t;

	if (!ag_cert_times(cert, &nb, &na))
		return 0;
	/* Jitter only brings renewal forward: never past the configured point. */
	t = nb + (time_t)((double)(na - nb) * c->renew_at) - jitter_draw;
	return t < nb ? nb : t;
}

static void status_path(const struct ag_config *c, char *out, size_t cap)
{
	if (ag_join(out, cap, c->state_dir, "status", NULL) != AG_OK)
		out[0] = '\0';
}

static void copy_line(char *dst, size_t cap, const char *v)
{
	size_t n = 0;

	for (; *v && n + 1 < cap; v++)
		dst[n++] = (*v == '\n' || *v == '\r') ? ' ' : *v;
	dst[n] = '\0';
}

void ag_status_load(const struct ag_config *c, struct ag_status *st)
{
	char path[AG_MAX_PATH + 16];
	unsigned char *buf = NULL;
	size_t len = 0;
	char *line, *save = NULL, *eq;

	memset(st, 0, sizeof(*st));
	status_path(c, path, sizeof(path));
	if (!path[0] || ag_read_file(path, AG_MAX_CONFIG_BYTES, &buf, &len, NULL) != AG_OK)
		return;
	for (line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!(eq = strchr(line, '=')))
			continue;
		*eq++ = '\0';
		if (strcmp(line, "state") == 0)
			st->state = state_parse(eq);
		else if (strcmp(line, "last_error") == 0)
			copy_line(st->last_error, sizeof(st->last_error), eq);
		else if (strcmp(line, "note") == 0)
			copy_line(st->note, sizeof(st->note), eq);
		else if (strcmp(line, "token_used") == 0)
			copy_line(st->token_used, sizeof(st->token_used), eq);
		else if (strcmp(line, "last_error_at") == 0)
			st->last_error_at = (time_t)strtoll(eq, NULL, 10);
		else if (strcmp(line, "last_success_at") == 0)
			st->last_success_at = (time_t)strtoll(eq, NULL, 10);
		else if (strcmp(line, "next_renewal") == 0)
			st->next_renewal = (time_t)strtoll(eq, NULL, 10);
		else if (strcmp(line, "next_attempt") == 0)
			st->next_attempt = (time_t)strtoll(eq, NULL, 10);
	}
	free(buf);
}

enum ag_code ag_status_save(const struct ag_config *c, const struct ag_status *st,
			    struct ag_error *e)
{
	char path[AG_MAX_PATH + 16], err[AG_ERR_MSG], note[AG_ERR_MSG], tok[65];
	char buf[3 * AG_ERR_MSG + 512];
	int n;

	status_path(c, path, sizeof(path));
	copy_line(err, sizeof(err), st->last_error);
	copy_line(note, sizeof(note), st->note);
	copy_line(tok, sizeof(tok), st->token_used);
	n = snprintf(buf, sizeof(buf),
		     "state=%s\nlast_error=%s\nlast_error_at=%lld\nlast_success_at=%lld\n"
		     "next_renewal=%lld\nnext_attempt=%lld\ntoken_used=%s\nnote=%s\n",
		     ag_state_name(st->state), err, (long long)st->last_error_at,
		     (long long)st->last_success_at, (long long)st->next_renewal,
		     (long long)st->next_attempt, tok, note);
	if (!path[0] || n < 0 || (size_t)n >= sizeof(buf))
		return ag_fail(e, AG_E_LOCAL, "cannot format the status");
	/* Replaced atomically; losing the latest status to a power cut costs
	 * nothing but a line of history, the certificate files are what count. */
	return ag_replace_file(path, buf, (size_t)n, 0644, e);
}

void ag_serial_hex(X509 *x, char *out, size_t cap)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	size_t n = h ? strlen(h) : 0, pad = n < 32 ? 32 - n : 0, i = 0;

	out[0] = '\0';
	if (h && pad + n < cap) {
		for (; i < pad; i++)
			out[i] = '0';
		for (size_t k = 0; k < n; k++)
			out[i++] = (char)(h[k] >= 'A' && h[k] <= 'F' ? h[k] - 'A' + 'a' : h[k]);
		out[i] = '\0';
	}
	OPENSSL_free(h);
	BN_free(bn);
}

static void common_name(X509 *x, char *out, size_t cap)
{
	X509_NAME *name = X509_get_subject_name(x);

	out[0] = '\0';
	if (X509_NAME_get_text_by_NID(name, NID_commonName, out, (int)cap) < 0)
		out[0] = '\0';
}

struct view {
	char device[AG_MAX_ID + 1], serial[64], nb[32], na[32], next[32], err_at[32], ok_at[32];
	time_t not_after, next_renewal;
	const char *state, *key_type;
	long gen;
	int has_cert, running;
};

static void print_json(const struct ag_config *c, const struct ag_status *st, const struct view *v)
{
	struct ag_json j;
	char *out;

	ag_json_begin(&j);
	ag_json_str(&j, "device_id", v->device[0] ? v->device : NULL);
	ag_json_str(&j, "state", v->state);
	ag_json_bool(&j, "running", v->running);
	ag_json_str(&j, "server", c->server[0] ? c->server : NULL);
	ag_json_str(&j, "serial", v->has_cert ? v->serial : NULL);
	ag_json_str(&j, "not_before", v->has_cert ? v->nb : NULL);
	ag_json_str(&j, "not_after", v->has_cert ? v->na : NULL);
	ag_json_int(&j, "not_after_epoch", (long long)v->not_after);
	ag_json_str(&j, "next_renewal", v->next[0] ? v->next : NULL);
	ag_json_int(&j, "next_renewal_epoch", (long long)v->next_renewal);
	ag_json_str(&j, "key_type", v->has_cert ? v->key_type : NULL);
	ag_json_int(&j, "generation", v->gen);
	ag_json_str(&j, "last_error", st->last_error[0] ? st->last_error : NULL);
	ag_json_str(&j, "last_error_at", v->err_at[0] ? v->err_at : NULL);
	ag_json_str(&j, "last_success_at", v->ok_at[0] ? v->ok_at : NULL);
	ag_json_str(&j, "note", st->note[0] ? st->note : NULL);
	if ((out = ag_json_end(&j))) {
		fputs(out, stdout);
		free(out);
	}
}

static void print_text(const struct ag_status *st, const struct view *v)
{
	printf("device:        %s\n", v->device[0] ? v->device : "(unknown)");
	printf("state:         %s%s\n", v->state, v->running ? " (agent running)" : "");
	if (v->has_cert) {
		printf("serial:        %s\n", v->serial);
		printf("valid:         %s to %s\n", v->nb, v->na);
		printf("key:           %s (generation %ld)\n", v->key_type, v->gen);
	}
	if (v->next[0])
		printf("next renewal:  %s\n", v->next);
	if (v->ok_at[0])
		printf("last success:  %s\n", v->ok_at);
	if (st->last_error[0])
		printf("last error:    %s (%s)\n", st->last_error, v->err_at);
	if (st->note[0])
		printf("note:          %s\n", st->note);
}

int ag_status_print(const struct ag_config *c, int json)
{
	struct ag_status st;
	struct ag_set cur;
	struct ag_error e;
	struct view v;
	time_t nb = 0, na = 0, now = time(NULL);
	int code;

	memset(&v, 0, sizeof(v));
	ag_status_load(c, &st);
	if (ag_current_load(c, &cur, &e) != AG_OK) {
		snprintf(st.last_error, sizeof(st.last_error), "%s", e.msg);
		memset(&cur, 0, sizeof(cur));
	}
	v.running = ag_lock_held(c->state_dir);
	v.state = ag_state_name(st.state);
	snprintf(v.device, sizeof(v.device), "%s", c->device_id);
	if (cur.cert && ag_cert_times(cur.cert, &nb, &na)) {
		v.has_cert = 1;
		ag_serial_hex(cur.cert, v.serial, sizeof(v.serial));
		ag_time_iso(nb, v.nb);
		ag_time_iso(na, v.na);
		v.not_after = na;
		v.key_type = ag_key_type_name(ag_key_type_of(cur.key));
		v.gen = cur.gen;
		if (!v.device[0])
			common_name(cur.cert, v.device, sizeof(v.device));
		if (st.state == AG_ST_NOT_ENROLLED)
			v.state = ag_state_name(AG_ST_VALID);
		if (na <= now && st.state != AG_ST_RETIRED && st.state != AG_ST_COMPROMISED &&
		    st.state != AG_ST_NEEDS_CREDENTIAL)
			v.state = "expired";
	}
	v.next_renewal = st.next_renewal;
	ag_time_iso(st.next_renewal, v.next);
	ag_time_iso(st.last_error_at, v.err_at);
	ag_time_iso(st.last_success_at, v.ok_at);
	if (json)
		print_json(c, &st, &v);
	else
		print_text(&st, &v);
	if (st.state == AG_ST_RETIRED || st.state == AG_ST_COMPROMISED)
		code = 3;
	else
		code = (v.has_cert && na > now) ? 0 : 1;
	ag_set_free(&cur);
	return code;
}
