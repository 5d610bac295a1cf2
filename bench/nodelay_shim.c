/*
 * Diagnostic only, for bench/serve_bench.sh: an LD_PRELOAD shim that sets
 * TCP_NODELAY on every socket the process accepts. Run beside the server as
 * shipped, it shows what Nagle's algorithm (a small TLS record waiting for
 * the peer's delayed ACK, about 40 ms on Linux) costs a keep-alive client.
 * Build: cc -shared -fPIC -O2 -o nodelay_shim.so bench/nodelay_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	static int (*real)(int, struct sockaddr *, socklen_t *, int);
	int c, one = 1;

	if (!real)
		real =
		    (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
	c = real(fd, addr, len, flags);
	if (c >= 0)
		(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}
