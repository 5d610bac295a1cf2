/*
 * Key isolation: the signer process that holds the CA keys of `devtrust serve`
 * (keyd_child.c), the server's side of it (keyd_client.c) and the frames they
 * exchange (keyd_io.c). Included only by the files of src/ca.
 */
#ifndef DT_CA_KEYD_H
#define DT_CA_KEYD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ca/ca_keys.h"

/* Connections between the server and its signer: one request at a time on each, so
 * this many threads sign at once (the issuance pool's default is 4, plus the watcher
 * and the API); the signer answers them in turn. */
#define KEYD_CONNS 8
/* How long the server waits for an answer: a CRL of a million entries is parsed,
 * re-encoded and hashed in about a second here, an unlock (PBKDF2) takes 0.1 s. A
 * signer silent for longer is killed and restarted. */
#define KEYD_TIMEOUT_S 30
/* How long a request waits for a signer that is being restarted. */
#define KEYD_WAIT_S 5
/* Frame limits, checked by both sides before anything is allocated: a CA certificate
 * is under 2 KiB; a CRL listing a million revoked certificates is about 40 MB. */
#define KEYD_MAX_CERT (16 * 1024)
#define KEYD_MAX_TBS (128 * 1024 * 1024)
/* What the signer allows in a CRL: thisUpdate at most KEYD_CRL_AHEAD_S ahead of its
 * clock and KEYD_CRL_BEHIND_S behind it (the server reads the entries between setting
 * it and asking), nextUpdate at most KEYD_CRL_MAX_S after thisUpdate (the root's CRLs
 * are the longest: 30 days, crl.c), crlExtensions of KEYD_CRL_MAX_EXTS bytes, entries
 * of KEYD_CRL_MAX_ENTRY bytes each (ours are about 50). */
#define KEYD_CRL_AHEAD_S 300
#define KEYD_CRL_BEHIND_S 3600
#define KEYD_CRL_MAX_S (30 * 86400)
#define KEYD_CRL_MAX_EXTS 4096
#define KEYD_CRL_MAX_ENTRY 256
/* Keys the signer holds at once (the server's keyring holds as many). */
#define KEYD_MAX_KEYS 256
/* Keys generated for new CAs and not yet certified: a few at a time at most. */
#define KEYD_MAX_PENDING 16

enum keyd_op {
	KEYD_PING = 1,	    /* -> empty: the signer runs and speaks this protocol */
	KEYD_UNLOCK = 2,    /* name key file, a CA certificate -> empty */
	KEYD_SIGN_CERT = 3, /* name key file, a CA certificate, b TBSCertificate -> signature */
	KEYD_SIGN_CRL = 4,  /* name key file, a CA certificate, b TBSCertList -> signature */
	KEYD_GENKEY = 5,    /* a curve ("P-256", "P-384") -> SubjectPublicKeyInfo DER */
	KEYD_SAVEKEY = 6,   /* name key file, a SubjectPublicKeyInfo of a generated key */
	KEYD_SIGN_SELF = 7, /* b certificate of a generated key -> its self-signature */
};

/*
 * A frame: this header, then name_len bytes of name, len[0] bytes of a and len[1]
 * bytes of b. Requests carry an op; replies carry a status (a dt_code) and in a
 * either the result or, for a refusal, the signer's message. Both ends are the same
 * binary on the same machine: host byte order.
 */
#define KEYD_MAGIC 0x6b657964u /* "keyd": a desynchronised stream is caught at once */
struct keyd_hdr {
	uint32_t magic;
	uint8_t op;
	uint8_t status;
	uint16_t name_len;
	uint32_t len[2];
};

struct keyd_frame {
	struct keyd_hdr h;
	char name[CA_KEY_FILE_BUF]; /* NUL-terminated */
	unsigned char *a;	    /* malloc'ed, h.len[0] bytes */
	unsigned char *b;	    /* malloc'ed, h.len[1] bytes */
};

/* Writes one frame (0), or fails (-1, errno set: EAGAIN after the socket's timeout). */
int keyd_write(int fd, uint8_t op, uint8_t status, const char *name, const void *a, size_t a_len,
	       const void *b, size_t b_len);
/* Reads one frame into f (keyd_frame_free it), with a and b at most max_a and max_b
 * bytes and a name without NUL: 0; end of stream before a frame: 1; an I/O error, a
 * timeout, a short frame or one beyond the limits: -1. */
int keyd_read(int fd, struct keyd_frame *f, size_t max_a, size_t max_b);
void keyd_frame_free(struct keyd_frame *f);

/* ---- The signer (keyd_child.c): ca_keyd_main runs one on its connections ---- */
struct keyd_signer;
/* A signer of the CA keys of data_dir/keys (passphrase_file NULL: dt_read_passphrase's
 * default), holding none yet; NULL when out of memory. */
struct keyd_signer *keyd_signer_new(const char *data_dir, const char *passphrase_file);
void keyd_signer_free(struct keyd_signer *sg);
/* Sets the signer's clock to now (0: the system's), which it checks a CRL's times
 * against: for the fuzz harness, whose seeds carry the time they were made. */
void keyd_signer_set_clock(struct keyd_signer *sg, int64_t now);
/* Reads one request from fd and writes its answer: 0; -1 when the connection is to be
 * closed (end of stream, a short or malformed frame, an answer that cannot be written). */
int keyd_serve(struct keyd_signer *sg, int fd);

/* ---- The signer's confinement (keyd_sandbox.c) ---- */
/* Drops every capability, sets the signer's resource limits (no core, no new process,
 * small files) and installs its seccomp filter: from then on a system call it does not
 * need kills the process (SIGSYS). Called once the signer has loaded what it needs,
 * before its first request. */
DT_MUST_USE dt_code keyd_confine(struct dt_error *err);
/* 1 in a sanitizer build, whose filter also lets the sanitizer's runtime work. */
int keyd_sanitized(void);

/* ---- The launcher (keyd_launcher.c): starts signers under a user of their own ---- */
/* Messages on the launcher's SOCK_SEQPACKET control socket. */
enum keyd_ctl_op {
	KEYD_CTL_SPAWN = 1,   /* server: start a signer on the KEYD_CONNS fds passed along */
	KEYD_CTL_KILL = 2,    /* server: SIGKILL the signer pid, if it still runs */
	KEYD_CTL_STARTED = 3, /* launcher: pid started (pid 0: could not, errno in status) */
	KEYD_CTL_EXITED = 4,  /* launcher: pid exited with the wait status status */
};
struct keyd_ctl {
	int32_t op;
	int32_t pid;
	int32_t status;
};
/* Closes every descriptor from first on (async-signal-safe). */
void keyd_close_from(int first);
/* In a child between fork and exec (async-signal-safe calls only): moves the nends
 * descriptors ends to fds 3 to 3 + nends - 1, closes every other one, dies with its
 * parent, and runs argv from exefd (fexecve) or, with exefd -1, from exe. Returns only
 * by _exit. */
void keyd_exec(int exefd, const char *exe, char *const argv[], int *ends, int nends, pid_t parent,
	       const sigset_t *none);
/* The argv of a signer (mode "--key-signer", arg the number of connections) or of a
 * launcher (mode "--key-launcher", arg its ids): malloc'ed strings in argv (cap
 * KEYD_ARGV_MAX, NULL-terminated; keyd_argv_free them); -1 when out of memory. */
#define KEYD_ARGV_MAX 12
int keyd_argv(char *argv[KEYD_ARGV_MAX], const char *data_dir, const char *passphrase_file,
	      const char *mode, const char *arg);
void keyd_argv_free(char *argv[KEYD_ARGV_MAX]);
/* The launcher's ids "UID:GID:EXTRA:PARENT" (the signer user's ids, the group it shares
 * with the server, the server's pid; each 1 to 2^31-1): 0, or -1. */
int keyd_parse_ids(const char *ids, uid_t *uid, gid_t *gid, gid_t *extra, pid_t *parent);
/* One datagram of len bytes with nfds descriptors (at most KEYD_CONNS + 1: tests send
 * one too many) passed along: 0, or -1. */
int keyd_send_fds(int fd, const void *data, size_t len, const int *fds, int nfds);
/* One control message, with fds (KEYD_CONNS of them) for KEYD_CTL_SPAWN: 0, or -1. */
int keyd_ctl_send(int fd, const struct keyd_ctl *m, const int *fds, int nfds);
/* Reads one control message, and with fds the descriptors passed along (close-on-exec;
 * *nfds of them): 0; 1 at the end of the stream; -1 on an error or a malformed one. */
int keyd_ctl_recv(int fd, struct keyd_ctl *m, int *fds, int *nfds);

/* ---- The server's side (keyd_client.c); struct ca_keyd is declared in ca.h ---- */
/* Frees a stopped keyd (ca_keyring_free). */
void keyd_free(struct ca_keyd *k);
/* A ping: the signer is up. */
DT_MUST_USE dt_code keyd_ping(struct ca_keyd *k, struct dt_error *err);
/* Has the signer unlock DATA/keys/<key_file> and check it against the CA certificate
 * cert_der (sign/verify self-test), so that a wrong passphrase shows at once. */
DT_MUST_USE dt_code keyd_unlock(struct ca_keyd *k, const char *key_file,
				const unsigned char *cert_der, size_t cert_len,
				struct dt_error *err);
/* Has the signer sign *x as the CA of key_file (certificate ca, ca_der): the signer
 * checks what it is asked to sign and returns the signature value, which goes into *x
 * here and must verify with the CA's public key. */
DT_MUST_USE dt_code keyd_sign_cert(struct ca_keyd *k, const char *key_file, const X509 *ca,
				   const unsigned char *ca_der, size_t ca_len, X509 **x,
				   struct dt_error *err);
/* Has the signer sign the to-be-signed CRL tbs (DER, len bytes) as the CA of key_file
 * (certificate ca_der): the signature value into sig[cap]. The signer checks the CRL
 * it is asked to sign, entry by entry; the caller verifies the signature. */
DT_MUST_USE dt_code keyd_sign_crl(struct ca_keyd *k, const char *key_file,
				  const unsigned char *ca_der, size_t ca_len,
				  const unsigned char *tbs, size_t len, unsigned char *sig,
				  size_t cap, size_t *sig_len, struct dt_error *err);
/* A new CA key, generated by the signer, where it stays; *pub is its public key. */
DT_MUST_USE dt_code keyd_genkey(struct ca_keyd *k, const char *curve, EVP_PKEY **pub,
				struct dt_error *err);
/* Has the signer write the generated key whose public key is pub to DATA/keys/<file>. */
DT_MUST_USE dt_code keyd_savekey(struct ca_keyd *k, const char *file, EVP_PKEY *pub,
				 struct dt_error *err);
/* Has the signer self-sign *x (a new CA's certificate) with the generated key pub. */
DT_MUST_USE dt_code keyd_sign_self(struct ca_keyd *k, EVP_PKEY *pub, X509 **x,
				   struct dt_error *err);

#endif
