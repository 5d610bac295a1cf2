/*
 * The server's side of key isolation: starts the signer process (this same
 * binary, forked and executed before any listener exists), restarts it
 * whenever it exits, and hands it certificates and CRLs to sign over a small
 * pool of connections, checking every answer before anyone uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca/keyd.h"

/* A signer that exits within KEYD_STABLE_MS of its start is restarted after a pause
 * that doubles up to KEYD_BACKOFF_MAX_MS (a broken key file must not spin a core). */
#define KEYD_STABLE_MS 1000
#define KEYD_BACKOFF_MIN_MS 100
#define KEYD_BACKOFF_MAX_MS 5000
/* A stop waits this long for the signer to leave by itself before it is killed. */
#define KEYD_STOP_MS 2000

struct keyd_conn {
	int fd;
	unsigned gen;
	struct keyd_conn *next;
};

struct ca_keyd {
	char *exe;		   /* the signer's binary */
	char *argv[KEYD_ARGV_MAX]; /* and its command line, malloc'ed */
	int ctl;		   /* a launcher's control socket (DECISIONS.md 78), or -1 */
	pid_t launcher;
	int launcher_gone;	/* its socket failed: the supervisor's own */
	pthread_mutex_t ctl_mu; /* writes on ctl */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	pthread_t supervisor;
	int supervising;
	struct keyd_conn *idle; /* the running signer's connections not in use */
	unsigned gen;		/* bumped whenever a signer exits */
	int up;			/* a signer of generation gen runs */
	int exited;		/* pid exited and is not reaped yet (never signal a reaped pid) */
	pid_t pid;
	int stopping, done, first_failed, restarts;
	struct dt_error first_err;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on k->cv (k->mu held) until the monotonic time until_ms: ETIMEDOUT or 0. */
static int wait_until(struct ca_keyd *k, int64_t until_ms)
{
	struct timespec ts = {(time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000};

	return pthread_cond_timedwait(&k->cv, &k->mu, &ts);
}

static void close_all(struct keyd_conn *c)
{
	while (c) {
		struct keyd_conn *next = c->next;

		close(c->fd);
		free(c);
		c = next;
	}
}

/* Has the launcher start a signer on ends (privilege separation): its pid in *out. */
static dt_code launch(struct ca_keyd *k, int ends[KEYD_CONNS], pid_t *out, struct dt_error *err)
{
	struct keyd_ctl m = {KEYD_CTL_SPAWN, 0, 0};
	int r;

	pthread_mutex_lock(&k->ctl_mu);
	r = keyd_ctl_send(k->ctl, &m, ends, KEYD_CONNS);
	pthread_mutex_unlock(&k->ctl_mu);
	/* Only this thread reads: the answer is the next message. */
	if (r == 0)
		r = keyd_ctl_recv(k->ctl, &m, NULL, NULL);
	if (r != 0) {
		/* The end of its socket; a short of memory passes, and the next try may work. */
		k->launcher_gone = r == 1 || errno == EPIPE || errno == ECONNRESET;
		return dt_fail(err, DT_ERR_IO, "the key signer's launcher %s",
			       k->launcher_gone ? "has stopped" : "did not answer");
	}
	if (m.op != KEYD_CTL_STARTED || m.pid <= 0)
		return dt_fail(err, DT_ERR_IO, "the key signer's launcher cannot start it: %s",
			       strerror(m.status > 0 ? m.status : EINVAL));
	*out = (pid_t)m.pid;
	return DT_OK;
}

/* Waits until the signer pid exits, and with a launcher has it reaped: its wait status
 * then (0 without one: the caller reaps it). A launcher that has gone (and with it the
 * signer) sets launcher_gone. */
static int reap(struct ca_keyd *k, pid_t pid)
{
	struct keyd_ctl m = {0, 0, 0};
	siginfo_t si;

	if (k->ctl >= 0) {
		while (keyd_ctl_recv(k->ctl, &m, NULL, NULL) == 0)
			if (m.op == KEYD_CTL_EXITED && m.pid == pid)
				return m.status;
		k->launcher_gone = 1;
		return 0;
	}
	/* Seen exited but not reaped: until waitpid, the pid cannot be reused. */
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR)
		;
	return 0;
}

/* SIGKILLs the signer that runs (k->mu held, k->pid > 0 and not exited). */
static void kill_signer(struct ca_keyd *k)
{
	struct keyd_ctl m = {KEYD_CTL_KILL, (int32_t)k->pid, 0};

	if (k->ctl < 0) {
		kill(k->pid, SIGKILL);
		return;
	}
	pthread_mutex_lock(&k->ctl_mu);
	(void)keyd_ctl_send(k->ctl, &m, NULL, 0);
	pthread_mutex_unlock(&k->ctl_mu);
}

/* A new signer process and the server's ends of its connections. */
static dt_code spawn(struct ca_keyd *k, struct keyd_conn **conns, pid_t *out, struct dt_error *err)
{
	struct timeval tv = {KEYD_TIMEOUT_S, 0};
	int ends[KEYD_CONNS], made = 0;
	pid_t parent = getpid(), pid;
	sigset_t none;
	dt_code rc = DT_OK;

	*conns = NULL;
	*out = 0;
	sigemptyset(&none);
	for (; made < KEYD_CONNS; made++) {
		struct keyd_conn *c = calloc(1, sizeof(*c));
		int sv[2];

		if (!c || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
			free(c);
			rc = dt_fail(err, DT_ERR_IO, "cannot connect to the key signer: %s",
				     strerror(errno));
			goto out;
		}
		c->fd = sv[0];
		ends[made] = sv[1];
		c->next = *conns;
		*conns = c;
		if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
		    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
			made++;
			rc = dt_fail(err, DT_ERR_IO, "setsockopt: %s", strerror(errno));
			goto out;
		}
	}
	if (k->ctl >= 0) {
		rc = launch(k, ends, out, err);
		goto out;
	}
	if ((pid = fork()) < 0) {
		rc = dt_fail(err, DT_ERR_IO, "cannot start the key signer: fork: %s",
			     strerror(errno));
		goto out;
	}
	if (pid == 0)
		keyd_exec(-1, k->exe, k->argv, ends, KEYD_CONNS, parent, &none);
	*out = pid;
out:
	for (int i = 0; i < made; i++)
		close(ends[i]);
	if (rc != DT_OK) {
		close_all(*conns);
		*conns = NULL;
	}
	return rc;
}

static void log_exit(pid_t pid, int status, int backoff_ms)
{
	if (WIFSIGNALED(status))
		fprintf(
		    stderr,
		    "{\"event\":\"signer-exited\",\"pid\":%d,\"signal\":%d,\"restart_in_ms\":%d}\n",
		    (int)pid, WTERMSIG(status), backoff_ms);
	else
		fprintf(
		    stderr,
		    "{\"event\":\"signer-exited\",\"pid\":%d,\"status\":%d,\"restart_in_ms\":%d}\n",
		    (int)pid, WEXITSTATUS(status), backoff_ms);
}

/* Runs one signer after the other until the stop; forks them all, so that their
 * PR_SET_PDEATHSIG follows this thread. */
static void *supervise(void *arg)
{
	struct ca_keyd *k = arg;
	int first = 1, backoff = 0;

	for (;;) {
		struct keyd_conn *conns = NULL;
		struct dt_error e;
		pid_t pid = 0;
		int64_t t0 = mono_ms();
		int status = 0, stop;
		dt_code rc = spawn(k, &conns, &pid, &e);

		pthread_mutex_lock(&k->mu);
		if (rc == DT_OK) {
			k->pid = pid;
			k->exited = 0;
			while (conns && !k->stopping) {
				struct keyd_conn *c = conns;

				conns = c->next;
				c->gen = k->gen;
				c->next = k->idle;
				k->idle = c;
			}
			k->up = !k->stopping;
		} else if (first) {
			k->first_failed = 1;
			k->first_err = e;
		}
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
		close_all(conns); /* stopped meanwhile: the signer sees the end at once */
		if (rc != DT_OK && first)
			break;
		if (rc == DT_OK) {
			if (!first)
				fprintf(stderr, "{\"event\":\"signer-started\",\"pid\":%d}\n",
					(int)pid);
			first = 0;
			status = reap(k, pid);
			pthread_mutex_lock(&k->mu);
			k->exited = 1;
			k->up = 0;
			k->gen++;
			conns = k->idle;
			k->idle = NULL;
			pthread_mutex_unlock(&k->mu);
			close_all(conns);
			while (k->ctl < 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		if (k->launcher_gone) {
			/* Nothing can start a signer under its user any more. */
			pthread_mutex_lock(&k->mu);
			if (!k->stopping) {
				fprintf(stderr, "{\"event\":\"signer-launcher-exited\"}\n");
				k->stopping = 1;
			}
			pthread_mutex_unlock(&k->mu);
			break;
		}
		backoff = mono_ms() - t0 >= KEYD_STABLE_MS    ? 0
			  : backoff * 2 < KEYD_BACKOFF_MIN_MS ? KEYD_BACKOFF_MIN_MS
			  : backoff * 2 > KEYD_BACKOFF_MAX_MS ? KEYD_BACKOFF_MAX_MS
							      : backoff * 2;
		pthread_mutex_lock(&k->mu);
		k->pid = 0;
		if (!(stop = k->stopping)) {
			k->restarts++;
			if (rc == DT_OK)
				log_exit(pid, status, backoff);
			else
				fprintf(stderr,
					"{\"event\":\"signer-start-failed\",\"error\":\"%s\","
					"\"restart_in_ms\":%d}\n",
					e.msg, backoff);
		}
		for (int64_t until = mono_ms() + backoff; !k->stopping && backoff > 0;)
			if (wait_until(k, until) == ETIMEDOUT)
				break;
		stop = k->stopping;
		pthread_mutex_unlock(&k->mu);
		if (stop)
			break;
	}
	pthread_mutex_lock(&k->mu);
	k->done = 1;
	k->up = 0;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* A connection to the running signer; waits up to KEYD_WAIT_S for one being restarted. */
static dt_code conn_get(struct ca_keyd *k, struct keyd_conn **out, struct dt_error *err)
{
	int64_t until = mono_ms() + KEYD_WAIT_S * 1000;

	*out = NULL;
	pthread_mutex_lock(&k->mu);
	while (!k->stopping && !(k->up && k->idle)) {
		/* While a signer runs, a busy pool frees a connection soon (or a hung signer
		 * is killed after KEYD_TIMEOUT_S): only a restart has a deadline. */
		if (!k->up && mono_ms() >= until)
			break;
		wait_until(k, k->up ? mono_ms() + 1000 : until);
	}
	if (!k->stopping && k->up && k->idle) {
		*out = k->idle;
		k->idle = (*out)->next;
	}
	pthread_mutex_unlock(&k->mu);
	if (!*out)
		return dt_fail(err, DT_ERR_IO,
			       k->stopping
				   ? "the CA key signer process has stopped"
				   : "the CA key signer process is not running (it is being "
				     "restarted); try again");
	return DT_OK;
}

/* Gives a connection back; a broken one (the signer died, hung or lost the thread of
 * the conversation) is closed and its signer killed, so that a new one takes over. */
static void conn_put(struct ca_keyd *k, struct keyd_conn *c, int broken)
{
	struct keyd_conn *stale = NULL;

	pthread_mutex_lock(&k->mu);
	if (!broken && c->gen == k->gen && k->up && !k->stopping) {
		c->next = k->idle;
		k->idle = c;
		c = NULL;
		pthread_cond_signal(&k->cv);
	} else if (broken && c->gen == k->gen && k->up) {
		/* Its other connections are no better: requests wait for the next signer. */
		k->up = 0;
		stale = k->idle;
		k->idle = NULL;
		if (!k->exited && k->pid > 0)
			kill_signer(k);
	}
	pthread_mutex_unlock(&k->mu);
	close_all(stale);
	if (c) {
		close(c->fd);
		free(c);
	}
}

/* One request and its reply r (keyd_frame_free it). With retry, a request whose signer
 * died under it is sent once more to the next one: signing has no side effect. */
static dt_code call(struct ca_keyd *k, uint8_t op, const char *name, const void *a, size_t a_len,
		    const void *b, size_t b_len, int retry, struct keyd_frame *r,
		    struct dt_error *err)
{
	dt_code rc;

	memset(r, 0, sizeof(*r));
	for (int attempt = 0;; attempt++) {
		struct keyd_conn *c = NULL;
		int ok;

		if ((rc = conn_get(k, &c, err)) != DT_OK)
			return rc;
		ok = keyd_write(c->fd, op, 0, name, a, a_len, b, b_len) == 0 &&
		     keyd_read(c->fd, r, KEYD_MAX_TBS + KEYD_MAX_CERT, 0) == 0;
		conn_put(k, c, !ok);
		if (ok)
			break;
		keyd_frame_free(r);
		if (!retry || attempt > 0)
			return dt_fail(err, DT_ERR_IO,
				       "the CA key signer process did not answer (it is being "
				       "restarted); try again");
	}
	if (r->h.status != DT_OK) {
		rc = r->h.status <= DT_ERR_INTERNAL ? (dt_code)r->h.status : DT_ERR_INTERNAL;
		dt_fail(err, rc, "key signer: %.*s", (int)r->h.len[0], (const char *)r->a);
		keyd_frame_free(r);
		return rc;
	}
	return DT_OK;
}

dt_code keyd_ping(struct ca_keyd *k, struct dt_error *err)
{
	struct keyd_frame r;
	dt_code rc = call(k, KEYD_PING, NULL, NULL, 0, NULL, 0, 0, &r, err);

	keyd_frame_free(&r);
	return rc;
}

dt_code keyd_unlock(struct ca_keyd *k, const char *key_file, const unsigned char *cert_der,
		    size_t cert_len, struct dt_error *err)
{
	struct keyd_frame r;
	dt_code rc = call(k, KEYD_UNLOCK, key_file, cert_der, cert_len, NULL, 0, 1, &r, err);

	keyd_frame_free(&r);
	return rc;
}

/*
 * OpenSSL has no setter for the signature value of a certificate (X509_REQ has
 * X509_REQ_set0_signature). Both algorithm identifiers are already what the CA's key
 * writes (sig_algs), so the signer's value goes into the object's own bit string, and
 * the caller's X509_verify checks it over our own to-be-signed part.
 */
static dt_code put_signature(const ASN1_BIT_STRING *sig, const struct keyd_frame *r,
			     struct dt_error *err)
{
	if (!sig || r->h.len[0] > KEYD_MAX_CERT ||
	    !ca_bits_set((ASN1_BIT_STRING *)sig, r->a, r->h.len[0]))
		return dt_fail(err, DT_ERR_CRYPTO, "the key signer returned no signature");
	return DT_OK;
}

/* The signature in r into x, where pub must verify it. */
static dt_code take_signature(X509 *x, const struct keyd_frame *r, EVP_PKEY *pub,
			      struct dt_error *err)
{
	const ASN1_BIT_STRING *sig = NULL;
	dt_code rc;

	X509_get0_signature(&sig, NULL, x);
	if ((rc = put_signature(sig, r, err)) != DT_OK)
		return rc;
	if (X509_verify(x, pub) != 1) {
		ERR_clear_error();
		return dt_fail(err, DT_ERR_CRYPTO,
			       "the key signer's signature does not verify with the CA's key");
	}
	return DT_OK;
}

/*
 * Sets both signature algorithm identifiers of x to the one the CA key pub signs with,
 * as X509_sign would (ECDSA: no parameters, RFC 5758 section 3.2), so x encodes before
 * it is signed. OpenSSL 3.0 has no setter for them; X509_get0_tbs_sigalg and
 * X509_get0_signature give the objects of x itself, which ASN1_item_sign_ctx sets
 * the same way. Before this, x was signed by a throwaway key: 27 us per certificate.
 */
static dt_code sig_algs(X509 *x, const EVP_PKEY *pub, struct dt_error *err)
{
	const X509_ALGOR *outer = NULL;

	X509_get0_signature(NULL, &outer, x);
	if (!ca_key_algor((X509_ALGOR *)X509_get0_tbs_sigalg(x), pub) ||
	    !ca_key_algor((X509_ALGOR *)outer, pub))
		return dt_fail(err, DT_ERR_INTERNAL, "key isolation signs with EC CA keys only");
	return DT_OK;
}

/* Encodes *x for the signer, with the algorithm identifiers of pub: the whole
 * certificate (self-signed CAs, with an empty signature), or its to-be-signed part
 * (tbs). */
static dt_code cert_for_signer(X509 *x, EVP_PKEY *pub, int tbs, unsigned char **der, int *len,
			       struct dt_error *err)
{
	dt_code rc;

	*der = NULL;
	if ((rc = sig_algs(x, pub, err)) != DT_OK)
		return rc;
	if ((*len = tbs ? i2d_re_X509_tbs(x, der) : i2d_X509(x, der)) <= 0 ||
	    *len > KEYD_MAX_CERT) {
		ERR_clear_error();
		return dt_fail(err, DT_ERR_CRYPTO,
			       "cannot encode a certificate for the key signer");
	}
	return DT_OK;
}

dt_code keyd_sign_cert(struct ca_keyd *k, const char *key_file, const X509 *ca,
		       const unsigned char *ca_der, size_t ca_len, X509 **x, struct dt_error *err)
{
	EVP_PKEY *pub = X509_get0_pubkey(ca);
	unsigned char *der = NULL;
	struct keyd_frame r;
	int n = 0;
	dt_code rc;

	memset(&r, 0, sizeof(r));
	if ((rc = cert_for_signer(*x, pub, 1, &der, &n, err)) == DT_OK &&
	    (rc = call(k, KEYD_SIGN_CERT, key_file, ca_der, ca_len, der, (size_t)n, 1, &r, err)) ==
		DT_OK)
		rc = take_signature(*x, &r, pub, err);
	OPENSSL_free(der);
	keyd_frame_free(&r);
	return rc;
}

dt_code keyd_sign_crl(struct ca_keyd *k, const char *key_file, const unsigned char *ca_der,
		      size_t ca_len, const unsigned char *tbs, size_t len, unsigned char *sig,
		      size_t cap, size_t *sig_len, struct dt_error *err)
{
	struct keyd_frame r;
	dt_code rc;

	*sig_len = 0;
	if (len > KEYD_MAX_TBS)
		return dt_fail(err, DT_ERR_INVALID, "the CRL is %zu bytes; the key signer takes %d",
			       len, KEYD_MAX_TBS);
	if ((rc = call(k, KEYD_SIGN_CRL, key_file, ca_der, ca_len, tbs, len, 1, &r, err)) != DT_OK)
		return rc;
	if (r.h.len[0] == 0 || r.h.len[0] > cap)
		rc = dt_fail(err, DT_ERR_CRYPTO, "the key signer returned no signature");
	else
		memcpy(sig, r.a, (*sig_len = r.h.len[0]));
	keyd_frame_free(&r);
	return rc;
}

dt_code keyd_genkey(struct ca_keyd *k, const char *curve, EVP_PKEY **pub, struct dt_error *err)
{
	struct keyd_frame r;
	const unsigned char *p;
	dt_code rc;

	*pub = NULL;
	if ((rc = call(k, KEYD_GENKEY, NULL, curve, strlen(curve), NULL, 0, 0, &r, err)) != DT_OK)
		return rc;
	p = r.a;
	*pub = r.h.len[0] ? d2i_PUBKEY(NULL, &p, (long)r.h.len[0]) : NULL;
	if (!*pub || p != r.a + r.h.len[0]) {
		EVP_PKEY_free(*pub);
		*pub = NULL;
		rc = dt_fail(err, DT_ERR_CRYPTO, "the key signer returned no public key");
	}
	ERR_clear_error();
	keyd_frame_free(&r);
	return rc;
}

dt_code keyd_savekey(struct ca_keyd *k, const char *file, EVP_PKEY *pub, struct dt_error *err)
{
	unsigned char *spki = NULL;
	int n = i2d_PUBKEY(pub, &spki);
	struct keyd_frame r;
	dt_code rc;

	if (n <= 0)
		return dt_fail(err, DT_ERR_CRYPTO, "cannot encode a public key");
	rc = call(k, KEYD_SAVEKEY, file, spki, (size_t)n, NULL, 0, 0, &r, err);
	OPENSSL_free(spki);
	keyd_frame_free(&r);
	return rc;
}

dt_code keyd_sign_self(struct ca_keyd *k, EVP_PKEY *pub, X509 **x, struct dt_error *err)
{
	unsigned char *der = NULL;
	struct keyd_frame r;
	int n = 0;
	dt_code rc;

	memset(&r, 0, sizeof(r));
	if ((rc = cert_for_signer(*x, pub, 0, &der, &n, err)) == DT_OK &&
	    (rc = call(k, KEYD_SIGN_SELF, NULL, NULL, 0, der, (size_t)n, 0, &r, err)) == DT_OK)
		rc = take_signature(*x, &r, pub, err);
	OPENSSL_free(der);
	keyd_frame_free(&r);
	return rc;
}

/* Stops the supervisor and with it the signer: every connection closes, so the signer
 * leaves; one still in use would hold it, so it is killed after KEYD_STOP_MS. */
static void stop_threads(struct ca_keyd *k)
{
	struct keyd_conn *idle;
	int64_t until = mono_ms() + KEYD_STOP_MS;

	if (!k->supervising)
		return;
	pthread_mutex_lock(&k->mu);
	k->stopping = 1;
	idle = k->idle;
	k->idle = NULL;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	close_all(idle);
	pthread_mutex_lock(&k->mu);
	while (!k->done)
		if (wait_until(k, until) == ETIMEDOUT && !k->done) {
			if (k->pid > 0 && !k->exited)
				kill_signer(k);
			until = mono_ms() + KEYD_STOP_MS;
		}
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->supervisor, NULL);
	k->supervising = 0;
}

void keyd_free(struct ca_keyd *k)
{
	if (!k)
		return;
	stop_threads(k);
	close_all(k->idle);
	if (k->ctl >= 0) {
		close(k->ctl); /* the launcher leaves at the end of its socket */
		while (waitpid(k->launcher, NULL, 0) < 0 && errno == EINTR)
			;
	}
	keyd_argv_free(k->argv);
	free(k->exe);
	pthread_mutex_destroy(&k->ctl_mu);
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

/* The launcher of this process (ca_keyd_launcher_start), until ca_keyd_start takes it. */
static struct {
	int ctl;
	pid_t pid;
} launcher = {-1, 0};

dt_code ca_keyd_launcher_start(const char *data_dir, const char *passphrase_file,
			       const struct ca_users *u, struct dt_error *err)
{
	char *argv[KEYD_ARGV_MAX], ids[64];
	int sv[2];
	sigset_t none;
	pid_t parent = getpid(), pid;
	struct keyd_ctl m = {0, 0, 0};
	dt_code rc = DT_OK;

	if (launcher.ctl >= 0)
		return dt_fail(err, DT_ERR_INTERNAL, "the key launcher is running already");
	snprintf(ids, sizeof(ids), "%lu:%lu:%lu:%ld", (unsigned long)u->s_uid,
		 (unsigned long)u->s_gid, (unsigned long)u->gid, (long)parent);
	if (keyd_argv(argv, data_dir, passphrase_file, "--key-launcher", ids) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		keyd_argv_free(argv);
		return dt_fail(err, DT_ERR_IO, "socketpair: %s", strerror(errno));
	}
	sigemptyset(&none);
	if ((pid = fork()) == 0) /* its control socket as fd 3 */
		keyd_exec(-1, "/proc/self/exe", argv, &sv[1], 1, parent, &none);
	close(sv[1]);
	keyd_argv_free(argv);
	if (pid < 0) {
		close(sv[0]);
		return dt_fail(err, DT_ERR_IO, "cannot start the key launcher: fork: %s",
			       strerror(errno));
	}
	/* A ping through a spawn that cannot succeed: the launcher runs, as the signer
	 * user, and answers. */
	m = (struct keyd_ctl){KEYD_CTL_SPAWN, 0, 0};
	if (keyd_ctl_send(sv[0], &m, NULL, 0) != 0 || keyd_ctl_recv(sv[0], &m, NULL, NULL) != 0 ||
	    m.op != KEYD_CTL_STARTED) {
		close(sv[0]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return dt_fail(err, DT_ERR_IO,
			       "the key launcher did not start: see its message above");
	}
	launcher.ctl = sv[0];
	launcher.pid = pid;
	return rc;
}

static struct ca_keyd *keyd_new(struct dt_ctx *ctx, const char *exe, struct dt_error *err)
{
	struct ca_keyd *k = calloc(1, sizeof(*k));
	pthread_condattr_t attr;
	char n[16];
	int ok;

	if (!k)
		return NULL;
	pthread_mutex_init(&k->mu, NULL);
	pthread_mutex_init(&k->ctl_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cv, &attr);
	pthread_condattr_destroy(&attr);
	snprintf(n, sizeof(n), "%d", KEYD_CONNS);
	/* The binary is exe, or the server's own. */
	k->ctl = -1;
	ok = (k->exe = strdup(exe ? exe : "/proc/self/exe")) &&
	     keyd_argv(k->argv, ctx->data_dir, ctx->passphrase_file, "--key-signer", n) == 0;
	/* A launcher started before the server dropped to its user starts the signers. */
	k->ctl = launcher.ctl;
	k->launcher = launcher.pid;
	launcher.ctl = -1;
	if (!ok) {
		keyd_free(k);
		dt_fail(err, DT_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	return k;
}

dt_code ca_keyd_start(struct dt_ctx *ctx, const char *exe, struct dt_error *err)
{
	struct ca_keyd *k = NULL;
	struct dt_error e;
	dt_code rc;

	if (ca_keyring_keyd(ctx))
		return dt_fail(err, DT_ERR_INTERNAL, "the key signer is running already");
	if (!(k = keyd_new(ctx, exe, err)))
		return err && err->msg[0] ? err->code
					  : dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if (pthread_create(&k->supervisor, NULL, supervise, k) != 0) {
		keyd_free(k);
		return dt_fail(err, DT_ERR_INTERNAL, "cannot start the key signer's supervisor");
	}
	k->supervising = 1;
	pthread_mutex_lock(&k->mu);
	while (!k->up && !k->first_failed)
		pthread_cond_wait(&k->cv, &k->mu);
	pthread_mutex_unlock(&k->mu);
	if (k->first_failed) {
		e = k->first_err;
		keyd_free(k);
		return dt_fail(err, e.code, "%s", e.msg);
	}
	/* From here on no CA key may be in this process. */
	if ((rc = ca_keyring_set_keyd(ctx, k, err)) != DT_OK) {
		keyd_free(k);
		return rc;
	}
	if ((rc = keyd_ping(k, &e)) != DT_OK) {
		ca_keyd_stop(ctx);
		return dt_fail(err, rc,
			       "the CA key signer process did not start (%s): see its message "
			       "above; --no-key-isolation keeps the keys in the server",
			       e.msg);
	}
	return DT_OK;
}

int ca_keyd_pid(struct dt_ctx *ctx)
{
	struct ca_keyd *k = ca_keyring_keyd(ctx);
	int pid = 0;

	if (k) {
		pthread_mutex_lock(&k->mu);
		pid = k->up ? (int)k->pid : 0;
		pthread_mutex_unlock(&k->mu);
	}
	return pid;
}

int ca_keyd_restarts(struct dt_ctx *ctx)
{
	struct ca_keyd *k = ca_keyring_keyd(ctx);
	int n = 0;

	if (k) {
		pthread_mutex_lock(&k->mu);
		n = k->restarts;
		pthread_mutex_unlock(&k->mu);
	}
	return n;
}

void ca_keyd_stop(struct dt_ctx *ctx)
{
	struct ca_keyd *k = ca_keyring_keyd(ctx);

	if (k)
		stop_threads(k);
}
