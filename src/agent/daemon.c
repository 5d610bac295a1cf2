/*
 * `devtrust-agent run`: renew at the renewal point (brought forward by a
 * random jitter so a fleet spreads out), back off exponentially up to a cap
 * while the server cannot be reached, retry slowly while the device is
 * suspended or has no credential, stop for good when it was retired, and
 * refresh the trust bundle periodically. Signals are blocked and taken with
 * sigtimedwait, so a stop never interrupts an installation.
 */
#include <errno.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"

/* A uniform draw in [0, max]. */
static long draw(long max)
{
	unsigned long r = 0;

	if (max <= 0 || RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return 0;
	return (long)(r % ((unsigned long)max + 1));
}

/* The delay before the next attempt after `failures` failures ending in rc. */
static long backoff(const struct ag_config *c, int failures, enum ag_code rc)
{
	long d = c->backoff_min_s;

	/* Waiting on a person (suspended, no credential): slowly. */
	if (rc == AG_E_SUSPENDED || rc == AG_E_AUTH)
		return c->backoff_max_s;
	for (int i = 1; i < failures && d < c->backoff_max_s; i++)
		d *= 2;
	if (d > c->backoff_max_s)
		d = c->backoff_max_s;
	/* Half fixed, half random: spread out, yet never much sooner than planned. */
	return d / 2 + draw(d - d / 2);
}

struct plan {
	time_t renew_due;
	time_t cacerts_due;
	int failures;
};

static void plan_renewal(struct ag_ctx *x, struct plan *p)
{
	long jitter = ag_jitter_of(&x->cfg, x->cur.cert);
	char t[32];

	p->renew_due = ag_renewal_time(&x->cfg, x->cur.cert, draw(jitter));
	ag_time_iso(p->renew_due, t);
	ag_log("next renewal at %s", t);
}

static void save_plan(struct ag_ctx *x, const struct plan *p)
{
	struct ag_error e;

	x->st.next_renewal = p->renew_due;
	if (ag_status_save(&x->cfg, &x->st, &e) != AG_OK)
		ag_log("cannot save the status: %s", e.msg);
}

/* One renewal attempt and what it means for the plan; 1 if the loop must end. */
static int attempt_renewal(struct ag_ctx *x, struct plan *p, int *exit_code)
{
	struct ag_error e;
	enum ag_code rc;
	long delay;

	memset(&e, 0, sizeof(e));
	rc = ag_renew(x, &e);
	if (rc == AG_OK) {
		p->failures = 0;
		plan_renewal(x, p);
		p->cacerts_due = time(NULL) + x->cfg.cacerts_interval_s;
		save_plan(x, p);
		return 0;
	}
	if (rc == AG_E_STOPPED)
		return 1;
	if (rc == AG_E_RETIRED) {
		ag_log("stopping for good: %s", e.msg);
		*exit_code = 3;
		return 1;
	}
	p->failures++;
	delay = backoff(&x->cfg, p->failures, rc);
	/* A server that says when (503, 202: Retry-After) is heeded, within the cap. */
	if (e.retry_after > delay)
		delay = e.retry_after < x->cfg.backoff_max_s ? e.retry_after : x->cfg.backoff_max_s;
	p->renew_due = time(NULL) + delay;
	ag_log("%s (%s); next attempt in %ld s", e.msg, ag_code_name(rc), delay);
	save_plan(x, p);
	return 0;
}

static void refresh_cacerts(struct ag_ctx *x, struct plan *p)
{
	struct ag_error e;
	int changed = 0;
	enum ag_code rc;

	memset(&e, 0, sizeof(e));
	p->cacerts_due = time(NULL) + x->cfg.cacerts_interval_s;
	if ((rc = ag_est_cacerts(x, &changed, &e)) == AG_OK || rc == AG_E_STOPPED)
		return;
	/* The certificate is still good: only the error is recorded. */
	ag_log("%s (%s)", e.msg, ag_code_name(rc));
	ag_record_error(x, &e);
}

/* Sleeps until t (at most the poll interval, not at all if t is past) or a
 * signal; returns the signal taken, or 0. */
static int wait_until(const struct ag_config *c, const sigset_t *set, time_t t)
{
	time_t now = time(NULL);
	long s = t > now ? (long)(t - now) : 0;
	struct timespec ts;
	int sig;

	if (s > c->poll_s)
		s = c->poll_s;
	ts.tv_sec = s;
	ts.tv_nsec = 0;
	do
		sig = sigtimedwait(set, NULL, &ts);
	while (sig < 0 && errno == EINTR);
	return sig < 0 ? 0 : sig;
}

static int refuse_terminal(struct ag_ctx *x)
{
	char t[32];

	if (x->st.state != AG_ST_RETIRED && x->st.state != AG_ST_COMPROMISED)
		return 0;
	ag_time_iso(x->st.last_error_at, t);
	ag_log("the operator %s this device (server answer at %s: %s); nothing to do. A new "
	       "identity needs a new device record: clear %s/status and enroll again",
	       x->st.state == AG_ST_RETIRED ? "retired" : "marked compromised", t, x->st.last_error,
	       x->cfg.state_dir);
	return 1;
}

int ag_daemon(struct ag_ctx *x)
{
	struct plan p = {0, 0, 0};
	sigset_t set;
	int code = 0, sig;

	if (refuse_terminal(x))
		return 3;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		ag_log("cannot block signals: %s", strerror(errno));
		return 1;
	}
	p.cacerts_due = time(NULL) + x->cfg.cacerts_interval_s;
	if (x->cur.cert) {
		plan_renewal(x, &p);
		save_plan(x, &p);
	}
	ag_log("running for %s (state dir %s)", x->cfg.server, x->cfg.state_dir);
	for (;;) {
		time_t now;

		/* Also when something is due: a pending stop is taken first. */
		sig = wait_until(&x->cfg, &set,
				 p.renew_due < p.cacerts_due ? p.renew_due : p.cacerts_due);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGUSR1) /* renew now */
			p.renew_due = time(NULL);
		else if (sig == SIGHUP) /* fetch the trust bundle now */
			p.cacerts_due = time(NULL);
		now = time(NULL);
		if (now >= p.renew_due) {
			if (attempt_renewal(x, &p, &code))
				break;
		} else if (now >= p.cacerts_due) {
			refresh_cacerts(x, &p);
		}
	}
	if (code == 0)
		ag_log("stopped");
	return code;
}
