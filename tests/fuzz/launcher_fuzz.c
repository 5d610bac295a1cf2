/*
 * libFuzzer harness for what the signer's launcher reads (privilege separation,
 * src/ca/keyd_launcher.c): control messages from the server, which runs as another
 * user and may be compromised, with descriptors passed along (keyd_ctl_recv), and
 * its ids argument (keyd_parse_ids). The first byte picks how many descriptors
 * travel with the message (0 to KEYD_CONNS + 1); the rest is the message, then, after a NUL, the
 * ids. A message is taken only when it is exactly one keyd_ctl, with at most
 * KEYD_CONNS descriptors; whatever is refused, no descriptor may be left open.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ca/keyd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static void fail(const char *why)
{
	fprintf(stderr, "launcher_fuzz: %s\n", why);
	abort();
}

/* The lowest free descriptor: one more open after a call means a leak. */
static int lowest_free(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail("cannot open /dev/null");
	close(fd);
	return fd;
}

static void check_message(const uint8_t *data, size_t size, int nsend)
{
	int sv[2], fds[KEYD_CONNS], nfds = -1, send_fds[KEYD_CONNS + 1], r, before;
	struct keyd_ctl m;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		fail("socketpair");
	for (int i = 0; i < nsend; i++)
		if ((send_fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			fail("cannot open /dev/null");
	if (keyd_send_fds(sv[0], data, size, send_fds, nsend) != 0)
		fail("sendmsg");
	for (int i = 0; i < nsend; i++)
		close(send_fds[i]);
	close(sv[0]);
	before = lowest_free();
	r = keyd_ctl_recv(sv[1], &m, fds, &nfds);
	if (r == 0) {
		if (size != sizeof(m))
			fail("a message of another size than a keyd_ctl was taken");
		if (nfds != (nsend < KEYD_CONNS ? nsend : KEYD_CONNS))
			fail("the descriptors passed along were not all handed over");
		for (int i = 0; i < nfds; i++)
			if (fcntl(fds[i], F_GETFD) != FD_CLOEXEC)
				fail("a descriptor handed over is not close-on-exec");
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	} else if (nfds != 0) {
		fail("a refused message handed descriptors over");
	}
	if (lowest_free() != before)
		fail("a descriptor passed along was left open");
	/* Empty messages read as an end of stream here; the next read sees the real end. */
	if (keyd_ctl_recv(sv[1], &m, NULL, NULL) != 1)
		fail("the end of the stream was not seen");
	close(sv[1]);
}

static void check_ids(const char *s)
{
	uid_t uid = 0;
	gid_t gid = 0, extra = 0;
	pid_t parent = 0;

	if (keyd_parse_ids(s, &uid, &gid, &extra, &parent) != 0)
		return;
	if (uid == 0 || gid == 0 || extra == 0 || parent <= 0)
		fail("keyd_parse_ids took a zero id");
	if (strspn(s, "0123456789:") != strlen(s))
		fail("keyd_parse_ids took something else than digits and colons");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	size_t msg;
	char ids[128];

	if (size < 1)
		return 0;
	nul = memchr(data + 1, 0, size - 1);
	msg = nul ? (size_t)(nul - (data + 1)) : size - 1;
	if (msg > 0 && msg <= 4096)
		check_message(data + 1, msg, data[0] % (KEYD_CONNS + 2));
	if (nul && size - msg - 2 < sizeof(ids)) {
		memcpy(ids, nul + 1, size - msg - 2);
		ids[size - msg - 2] = '\0';
		check_ids(ids);
	}
	return 0;
}
