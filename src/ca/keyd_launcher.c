/*
 * The signer's launcher (privilege separation, DECISIONS.md 78). devtrust serve
 * started as root with --signer-user execs it as root before it drops to its own
 * user; the launcher takes the signer user's ids at once and from then on only
 * starts signers, under that user, on the sockets the server passes it, tells the
 * server when one exits, and kills one when asked. The server cannot do either
 * itself any more: another user's processes are out of its reach, and so are the
 * CA key files the signer user owns. The launcher holds no key and reads nothing
 * but its control socket (fd 3).
 */
#define _GNU_SOURCE /* close_range, fexecve, signalfd */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ca/ca.h"
#include "ca/keyd.h"

extern char **environ;

#define KEYD_CTL_FD 3

void keyd_close_from(int first)
{
	struct rlimit rl;
	long max;

	if (close_range((unsigned)first, ~0U, 0) == 0)
		return;
	max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur
										 : 65536;
	for (long fd = first; fd < max; fd++)
		close((int)fd);
}

void keyd_exec(int exefd, const char *exe, char *const argv[], int *ends, int nends, pid_t parent,
	       const sigset_t *none)
{
	int keep = 3 + nends; /* the first descriptor that does not go along */

	/* Above the target range (and exefd's slot) first, so that no dup2 lands on an end
	 * not moved yet. */
	for (int i = 0; i < nends; i++)
		if ((ends[i] = fcntl(ends[i], F_DUPFD, keep + 1)) < 0)
			_exit(126);
	for (int i = 0; i < nends; i++)
		if (dup2(ends[i], 3 + i) != 3 + i)
			_exit(126);
	/* The binary to run, right above them until the exec. */
	if (exefd >= 0) {
		if ((exefd != keep && dup2(exefd, keep) != keep) ||
		    fcntl(keep, F_SETFD, FD_CLOEXEC) != 0)
			_exit(126);
		exefd = keep++;
	}
	/* Listeners, the store, the data dir's lock, a launcher's control socket: none of
	 * them goes along. */
	keyd_close_from(keep);
	/* It dies with the thread that forks it (as long-lived as the server). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
		_exit(125);
	sigprocmask(SIG_SETMASK, none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (exefd >= 0)
		fexecve(exefd, argv, environ);
	else
		execve(exe, argv, environ);
	_exit(127);
}

int keyd_argv(char *argv[KEYD_ARGV_MAX], const char *data_dir, const char *passphrase_file,
	      const char *mode, const char *arg)
{
	int i = 0, ok = 1;

	memset(argv, 0, sizeof(char *) * KEYD_ARGV_MAX);
	/* argv[0] names it in ps. */
	ok =
	    ok && (argv[i++] = strdup(strcmp(mode, "--key-signer") == 0 ? "devtrust-key-signer"
									: "devtrust-key-launcher"));
	ok = ok && (argv[i++] = strdup("--data")) && (argv[i++] = strdup(data_dir));
	if (passphrase_file)
		ok = ok && (argv[i++] = strdup("--passphrase-file")) &&
		     (argv[i++] = strdup(passphrase_file));
	ok = ok && (argv[i++] = strdup("serve")) && (argv[i++] = strdup(mode)) &&
	     (argv[i++] = strdup(arg));
	if (!ok) {
		keyd_argv_free(argv);
		return -1;
	}
	return 0;
}

void keyd_argv_free(char *argv[KEYD_ARGV_MAX])
{
	for (int i = 0; i < KEYD_ARGV_MAX; i++) {
		free(argv[i]);
		argv[i] = NULL;
	}
}

int keyd_send_fds(int fd, const void *data, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (KEYD_CONNS + 1))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {(void *)data, len};
	struct msghdr h;
	ssize_t n;

	if (nfds < 0 || nfds > KEYD_CONNS + 1)
		return -1;
	memset(&h, 0, sizeof(h));
	h.msg_iov = &iov;
	h.msg_iovlen = 1;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		h.msg_control = u.buf;
		h.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	while ((n = sendmsg(fd, &h, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return n == (ssize_t)len ? 0 : -1;
}

int keyd_ctl_send(int fd, const struct keyd_ctl *m, const int *fds, int nfds)
{
	return nfds <= KEYD_CONNS ? keyd_send_fds(fd, m, sizeof(*m), fds, nfds) : -1;
}

int keyd_ctl_recv(int fd, struct keyd_ctl *m, int *fds, int *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * KEYD_CONNS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr h;
	struct cmsghdr *c;
	ssize_t n;
	int got = 0, bad = 0;

	if (nfds)
		*nfds = 0;
	memset(&h, 0, sizeof(h));
	h.msg_iov = &iov;
	h.msg_iovlen = 1;
	h.msg_control = u.buf;
	h.msg_controllen = sizeof(u.buf);
	while ((n = recvmsg(fd, &h, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	/* On an error the kernel leaves msg_control as it was: nothing to read there. */
	if (n < 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
		int k = 0, *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		p = (int *)(void *)CMSG_DATA(c);
		for (int i = 0; i < k; i++) {
			if (fds && got < KEYD_CONNS)
				fds[got++] = p[i];
			else
				close(p[i]);
		}
	}
	if (n != (ssize_t)sizeof(*m) || (h.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		bad = 1;
	if (bad || !fds) {
		for (int i = 0; i < got; i++)
			close(fds[i]);
		got = 0;
	}
	if (nfds)
		*nfds = got;
	/* An empty datagram is the end of the stream, descriptors or not (closed above). */
	return n == 0 ? 1 : bad ? -1 : 0;
}

int keyd_parse_ids(const char *ids, uid_t *uid, gid_t *gid, gid_t *extra, pid_t *parent)
{
	unsigned long v[4];
	char *end;
	const char *p = ids;

	for (int i = 0; i < 4; i++) {
		if (*p < '0' || *p > '9') /* strtoul would take a sign or spaces */
			return -1;
		errno = 0;
		v[i] = strtoul(p, &end, 10);
		if (errno || end == p || *end != (i < 3 ? ':' : '\0') || v[i] == 0 ||
		    v[i] > 0x7fffffffUL)
			return -1;
		p = end + 1;
	}
	*uid = (uid_t)v[0];
	*gid = (gid_t)v[1];
	*extra = (gid_t)v[2];
	*parent = (pid_t)v[3];
	return 0;
}

static void refused(const char *why)
{
	fprintf(stderr, "{\"event\":\"signer-launcher-refused\",\"error\":\"%s\"}\n", why);
}

/* Starts a signer on ends: its pid, or 0 with errno set. */
static pid_t start(int exefd, char *const argv[], int ends[KEYD_CONNS], const sigset_t *none)
{
	pid_t self = getpid(), pid = fork();

	if (pid == 0)
		keyd_exec(exefd, NULL, argv, ends, KEYD_CONNS, self, none);
	return pid < 0 ? 0 : pid;
}

int ca_keyd_launcher_main(const char *data_dir, const char *passphrase_file, const char *ids)
{
	char *argv[KEYD_ARGV_MAX];
	char n[16];
	uid_t uid;
	gid_t gid, extra;
	pid_t parent, child = 0;
	sigset_t chld, none;
	struct stat st;
	struct pollfd pfd[2];
	struct dt_error err;
	int exefd, sfd, rc = 0;

	if (keyd_parse_ids(ids, &uid, &gid, &extra, &parent) != 0 || getppid() != parent ||
	    fstat(KEYD_CTL_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		refused("the key launcher runs only as devtrust serve's child, on its socket");
		return 2;
	}
	/* The binary, opened while this is still root: the signer user may not be able to
	 * reach its path (under /root, say). Above fds 3 to 10, where a signer's connections
	 * go. Then the signer user for good, with the server's group to reach the data dir;
	 * a change of ids clears the parent-death signal, so it is set after it. */
	if ((exefd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) < 0 ||
	    (exefd = fcntl(exefd, F_DUPFD_CLOEXEC, 3 + KEYD_CONNS)) < 0 ||
	    ca_privsep_become(uid, gid, &extra, 1, &err) != DT_OK ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent) {
		refused("cannot become the signer user");
		return 2;
	}
	snprintf(n, sizeof(n), "%d", KEYD_CONNS);
	if (keyd_argv(argv, data_dir, passphrase_file, "--key-signer", n) != 0) {
		refused("out of memory");
		return 1;
	}
	sigemptyset(&none);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0 ||
	    (sfd = signalfd(-1, &chld, SFD_CLOEXEC)) < 0) {
		refused("signalfd failed");
		keyd_argv_free(argv);
		return 1;
	}
	pfd[0] = (struct pollfd){KEYD_CTL_FD, POLLIN, 0};
	pfd[1] = (struct pollfd){sfd, POLLIN, 0};
	for (;;) {
		struct keyd_ctl m = {0, 0, 0};
		int fds[KEYD_CONNS], nfds = 0, r;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = 1;
			break;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			int status;
			pid_t pid;

			if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				break;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				if (pid == child) {
					child = 0;
					m = (struct keyd_ctl){KEYD_CTL_EXITED, (int32_t)pid,
							      status};
					if (keyd_ctl_send(KEYD_CTL_FD, &m, NULL, 0) != 0)
						goto out;
				}
		}
		if (!pfd[0].revents)
			continue;
		if ((r = keyd_ctl_recv(KEYD_CTL_FD, &m, fds, &nfds)) != 0) {
			rc = r < 0;
			break;
		}
		if (m.op == KEYD_CTL_SPAWN && nfds == KEYD_CONNS && !child) {
			pid_t pid = start(exefd, argv, fds, &none);

			m = (struct keyd_ctl){KEYD_CTL_STARTED, (int32_t)pid, pid ? 0 : errno};
			child = pid;
		} else if (m.op == KEYD_CTL_SPAWN) {
			m = (struct keyd_ctl){KEYD_CTL_STARTED, 0, child ? EBUSY : EINVAL};
		} else {
			/* Only the signer that runs: a pid it had, reaped since, may be another
			 * process's by now. */
			if (m.op == KEYD_CTL_KILL && child && m.pid == child)
				kill(child, SIGKILL);
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (keyd_ctl_send(KEYD_CTL_FD, &m, NULL, 0) != 0)
			break;
	}
out:
	/* The server has gone or stopped: so does its signer. */
	if (child) {
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	keyd_argv_free(argv);
	return rc;
}
