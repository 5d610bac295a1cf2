/*
 * One server per data dir and per address. The workers share each address
 * through SO_REUSEPORT, which would just as well let a second devtrust serve
 * (of the same user) take half of the connections: so the server first
 * locks its data dir, then claims its addresses, and refuses to start if
 * either is taken.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/http.h"

#define LOCK_FILE "serve.lock"

/* DATA/serve.lock, flock()ed for the server's lifetime and holding its pid. The
 * kernel drops the lock when the process ends, however it ends, so a stale
 * file left by a crash locks nothing. */
static dt_code lock_data_dir(struct dt_ctx *ctx, int *out, struct dt_error *err)
{
	char path[4096], buf[32];
	ssize_t n;
	int fd;
	dt_code rc;

	*out = -1;
	if ((rc = dt_path(path, sizeof(path), ctx->data_dir, LOCK_FILE, err)) != DT_OK)
		return rc;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return dt_fail(err, DT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		long pid = 0;

		n = e == EWOULDBLOCK ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, NULL, 10);
		}
		close(fd);
		if (e != EWOULDBLOCK)
			return dt_fail(err, DT_ERR_IO, "cannot lock %s: %s", path, strerror(e));
		if (pid > 0)
			return dt_fail(
			    err, DT_ERR_STATE,
			    "another devtrust serve (pid %ld) is running on the data dir "
			    "%s (it holds %s); stop it first",
			    pid, ctx->data_dir, path);
		return dt_fail(err, DT_ERR_STATE,
			       "another devtrust serve is running on the data dir %s (it holds "
			       "%s); stop it first",
			       ctx->data_dir, path);
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		rc = dt_fail(err, DT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	*out = fd;
	return DT_OK;
}

/* The address in one canonical form ("127.0.0.1:8443", "[::1]:8443"). */
static dt_code canonical(const char *addr, char *out, size_t cap, struct dt_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char host[INET6_ADDRSTRLEN];
	dt_code rc;

	if ((rc = http_parse_addr(addr, &ss, &len, err)) != DT_OK)
		return rc;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	}
	return DT_OK;
}

/*
 * Two checks, because neither alone closes the gap:
 *  - a probe socket bound *without* SO_REUSEPORT fails with EADDRINUSE if anyone
 *    (another devtrust, nginx, anything) listens there, SO_REUSEPORT or not; it is
 *    closed again at once, before the workers bind their shared sockets;
 *  - between that probe and the workers' binds, a second devtrust serve starting at
 *    the same instant could pass its probe too. So the address is also claimed by
 *    binding a Linux abstract Unix socket named after it, held for the server's
 *    lifetime: bind() is atomic, so of two devtrust servers only one gets it, and
 *    the kernel releases it when the process ends, however it ends.
 * What stays open is a non-devtrust process that binds with SO_REUSEPORT, as the
 * same user, in the microseconds between the probe and our binds.
 */
static dt_code claim_address(const char *addr, int *out, struct dt_error *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_un un;
	socklen_t len = 0;
	char name[160];
	size_t nl;
	int fd = -1, one = 1;
	dt_code rc;

	*out = -1;
	if ((rc = canonical(addr, name, sizeof(name), err)) != DT_OK)
		return rc;
	/* An abstract name: sun_path starts with a NUL and is not a file. */
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	nl = (size_t)snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "devtrust-serve %s", name);
	if (nl > sizeof(un.sun_path) - 2) /* cannot happen: a canonical address is short */
		nl = sizeof(un.sun_path) - 2;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return dt_fail(err, DT_ERR_IO, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&un,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nl)) != 0) {
		rc = errno == EADDRINUSE
			 ? dt_fail(err, DT_ERR_STATE,
				   "cannot listen on %s: address already in use (by another "
				   "devtrust serve)",
				   addr)
			 : dt_fail(err, DT_ERR_IO, "cannot claim %s: %s", addr, strerror(errno));
		close(fd);
		return rc;
	}
	*out = fd;
	fd = -1;

	if ((rc = http_parse_addr(addr, &ss, &len, err)) != DT_OK)
		goto out;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		rc = dt_fail(err, DT_ERR_IO, "socket: %s", strerror(errno));
		goto out;
	}
	/* SO_REUSEADDR as the workers' sockets have it: connections of a previous run
	 * left in TIME_WAIT must not stop a restart; a listener still stops the probe. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0)
		rc =
		    errno == EADDRINUSE
			? dt_fail(err, DT_ERR_STATE,
				  "cannot listen on %s: address already in use (another process "
				  "is bound to it)",
				  addr)
			: dt_fail(err, DT_ERR_IO, "cannot listen on %s: %s", addr, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc != DT_OK) {
		close(*out);
		*out = -1;
	}
	return rc;
}

dt_code http_claim(struct dt_ctx *ctx, const struct http_config *cfg, struct http_claims *out,
		   struct dt_error *err)
{
	char a[160], b[160];
	dt_code rc;

	out->lock_fd = out->addr_fd[0] = out->addr_fd[1] = -1;
	if ((rc = canonical(cfg->https_addr, a, sizeof(a), err)) != DT_OK ||
	    (rc = canonical(cfg->http_addr, b, sizeof(b), err)) != DT_OK)
		return rc;
	if (strcmp(a, b) == 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "the HTTPS and the HTTP listener are both %s; give them different "
			       "addresses",
			       a);
	if ((rc = lock_data_dir(ctx, &out->lock_fd, err)) != DT_OK ||
	    (rc = claim_address(cfg->https_addr, &out->addr_fd[0], err)) != DT_OK ||
	    (rc = claim_address(cfg->http_addr, &out->addr_fd[1], err)) != DT_OK) {
		http_claims_release(out);
		return rc;
	}
	return DT_OK;
}

void http_claims_release(struct http_claims *c)
{
	for (int i = 0; i < 2; i++)
		if (c->addr_fd[i] >= 0)
			close(c->addr_fd[i]);
	/* Closing the file drops the lock; the file stays (removing it would race with a
	 * server that just opened it). */
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	c->lock_fd = c->addr_fd[0] = c->addr_fd[1] = -1;
}
