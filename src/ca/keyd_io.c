/*
 * The frames between devtrust serve and its signer process (keyd.h): a fixed
 * header with the lengths, then the bytes. Both ends check every length
 * against the limits before they allocate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "ca/keyd.h"

int keyd_write(int fd, uint8_t op, uint8_t status, const char *name, const void *a, size_t a_len,
	       const void *b, size_t b_len)
{
	struct keyd_hdr h;
	size_t name_len = name ? strlen(name) : 0;
	struct iovec iov[4], *v = iov;
	struct msghdr m;
	int n = 0;

	if (name_len >= CA_KEY_FILE_BUF || a_len > KEYD_MAX_TBS + KEYD_MAX_CERT ||
	    b_len > KEYD_MAX_TBS) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&h, 0, sizeof(h));
	h.magic = KEYD_MAGIC;
	h.op = op;
	h.status = status;
	h.name_len = (uint16_t)name_len;
	h.len[0] = (uint32_t)a_len;
	h.len[1] = (uint32_t)b_len;
	iov[n++] = (struct iovec){&h, sizeof(h)};
	if (name_len)
		iov[n++] = (struct iovec){(void *)name, name_len};
	if (a_len)
		iov[n++] = (struct iovec){(void *)a, a_len};
	if (b_len)
		iov[n++] = (struct iovec){(void *)b, b_len};
	while (n > 0) {
		ssize_t w;
		size_t left;

		memset(&m, 0, sizeof(m));
		m.msg_iov = v;
		m.msg_iovlen = (size_t)n;
		if ((w = sendmsg(fd, &m, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (left = (size_t)w; n > 0 && left >= v->iov_len; n--, v++)
			left -= v->iov_len;
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	return 0;
}

/* Reads exactly len bytes: 0; the stream ended before any byte: 1; else -1. */
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = recv(fd, (char *)buf + got, len - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return got == 0 ? 1 : -1;
		got += (size_t)r;
	}
	return 0;
}

static int read_part(int fd, uint32_t len, unsigned char **out)
{
	if (!(*out = malloc(len ? len : 1)))
		return -1;
	return len ? (read_full(fd, *out, len) == 0 ? 0 : -1) : 0;
}

int keyd_read(int fd, struct keyd_frame *f, size_t max_a, size_t max_b)
{
	int r;

	memset(f, 0, sizeof(*f));
	if ((r = read_full(fd, &f->h, sizeof(f->h))) != 0)
		return r;
	if (f->h.magic != KEYD_MAGIC || f->h.name_len >= CA_KEY_FILE_BUF || f->h.len[0] > max_a ||
	    f->h.len[1] > max_b) {
		errno = EPROTO;
		return -1;
	}
	if (f->h.name_len && read_full(fd, f->name, f->h.name_len) != 0)
		return -1;
	/* A NUL would make the name checked and used shorter than the one sent. */
	if (memchr(f->name, '\0', f->h.name_len)) {
		errno = EPROTO;
		return -1;
	}
	f->name[f->h.name_len] = '\0';
	if (read_part(fd, f->h.len[0], &f->a) != 0 || read_part(fd, f->h.len[1], &f->b) != 0) {
		keyd_frame_free(f);
		return -1;
	}
	return 0;
}

void keyd_frame_free(struct keyd_frame *f)
{
	free(f->a);
	free(f->b);
	f->a = NULL;
	f->b = NULL;
}
