/*
 * The confinement of the signer process (key isolation, docs/RELIABILITY.md): no
 * capability, tight resource limits, and a seccomp filter (libseccomp) that lets it
 * do only what signing needs. Anything else kills it, visibly: the server logs the
 * SIGSYS and starts another signer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ca/keyd.h"

/* Sanitizer runtimes make system calls of their own: LeakSanitizer's check at exit
 * stops the process with a ptrace'ing clone, a report may start llvm-symbolizer. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KEYD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define KEYD_SANITIZED 1
#endif
#endif
#ifndef KEYD_SANITIZED
#define KEYD_SANITIZED 0
#endif

int keyd_sanitized(void)
{
	return KEYD_SANITIZED;
}

/* Root is not special any more (no capabilities from an exec or a setuid), for good. */
#define KEYD_SECBITS                                                                               \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |                           \
	 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED)

/* No capability in any set, so that a signer started by root is no more than root's
 * files' owner; it cannot get one back (the bounding set and the securebits need
 * CAP_SETPCAP to change, which it had only if it had all of them). */
static dt_code drop_capabilities(struct dt_error *err)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "capget: %s", strerror(errno));
	if (data[0].effective & (1u << CAP_SETPCAP)) {
		for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
				return dt_fail(
				    err, DT_ERR_INTERNAL,
				    "cannot drop capability %d from the bounding set: %s", cap,
				    strerror(errno));
		if (prctl(PR_SET_SECUREBITS, KEYD_SECBITS, 0, 0, 0) != 0)
			return dt_fail(err, DT_ERR_INTERNAL, "PR_SET_SECUREBITS: %s",
				       strerror(errno));
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot clear the ambient capabilities: %s",
			       strerror(errno));
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot drop the capabilities: %s",
			       strerror(errno));
	return DT_OK;
}

/* Limits no signing comes near: a key file is under 1 KiB (ca_key_load reads 64 KiB at
 * most), the signer needs its connections and one file at a time. */
#define KEYD_FSIZE_MAX (1024 * 1024)
#define KEYD_NOFILE_MAX 32

static dt_code limit(int resource, rlim_t max, const char *name, struct dt_error *err)
{
	struct rlimit r = {max, max};

	if (setrlimit(resource, &r) != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot set %s to %lu: %s", name,
			       (unsigned long)max, strerror(errno));
	return DT_OK;
}

static dt_code limit_resources(struct dt_error *err)
{
	dt_code rc;

	if ((rc = limit(RLIMIT_CORE, 0, "RLIMIT_CORE", err)) != DT_OK ||
	    (rc = limit(RLIMIT_NOFILE, KEYD_NOFILE_MAX, "RLIMIT_NOFILE", err)) != DT_OK)
		return rc;
	/* The sanitizers' runtime starts a thread at exit (LeakSanitizer) and writes its
	 * report to stderr, which may be a log file larger than any key. */
	if (KEYD_SANITIZED)
		return DT_OK;
	/* No new process, even if the filter let one through (root is exempt, but the
	 * signer has no capability left: CAP_SYS_RESOURCE and CAP_SYS_ADMIN are gone). */
	if ((rc = limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC", err)) != DT_OK)
		return rc;
	/* A write beyond it fails with EFBIG instead of killing the signer. */
	signal(SIGXFSZ, SIG_IGN);
	return limit(RLIMIT_FSIZE, KEYD_FSIZE_MAX, "RLIMIT_FSIZE", err);
}

/* What the signer does, system call by system call (found with strace -f over
 * tests/unit/keyd_test.c and tests/integration/key_isolation_test.sh). */
static const int keyd_allowed[] = {
    /* its requests: poll, then recv and sendmsg on its sockets (keyd_io.c) */
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(read),
    SCMP_SYS(recvfrom),
    SCMP_SYS(recvmsg),
    SCMP_SYS(write),
    SCMP_SYS(writev),
    SCMP_SYS(sendto),
    SCMP_SYS(sendmsg),
    SCMP_SYS(close),
    /* loading a key and the passphrase (fopen), saving a new one (openat is below) */
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(lseek),
    SCMP_SYS(access),
    SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2),
    SCMP_SYS(umask),
    SCMP_SYS(fsync),
    /* memory (mmap and mprotect are below) */
    SCMP_SYS(brk),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    /* OpenSSL: randomness, its fork check, its locks */
    SCMP_SYS(getrandom),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(futex),
    /* time (the vDSO, or these when it falls back) */
    SCMP_SYS(clock_gettime),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(time),
    /* signals and the end */
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

/* What the runtime of a sanitizer build needs besides (make asan): LeakSanitizer's check
 * at exit runs a thread (clone, prctl) that lists and ptraces the others and spins on
 * sched_yield. Such a build is for tests only; it still makes no socket, exec or
 * executable memory. */
static const int keyd_sanitizer_allowed[] = {
    SCMP_SYS(clone),	       SCMP_SYS(clone3),      SCMP_SYS(ptrace),	      SCMP_SYS(wait4),
    SCMP_SYS(prctl),	       SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(sched_yield),
    SCMP_SYS(getdents64),      SCMP_SYS(readlink),    SCMP_SYS(getppid),      SCMP_SYS(tgkill),
    SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
};

/* Opens that read, and creations of a new file that may not exist yet (O_EXCL, as
 * dt_write_private_file makes key files): never an existing file for writing, never
 * truncated or appended to. */
static int allow_opens(scmp_filter_ctx f, int nr, int flags_arg)
{
	const scmp_datum_t mask = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND;
	int rc;

	rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 1,
			      SCMP_CMP((unsigned)flags_arg, SCMP_CMP_MASKED_EQ,
				       mask & ~(scmp_datum_t)O_EXCL, O_RDONLY));
	if (rc == 0)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 1,
				      SCMP_CMP((unsigned)flags_arg, SCMP_CMP_MASKED_EQ, mask,
					       O_WRONLY | O_CREAT | O_EXCL));
	return rc;
}

/* Memory that is never executable: no code can be brought in after the filter. */
static int allow_no_exec(scmp_filter_ctx f, int nr)
{
	return seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 1,
				SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
}

static dt_code install_filter(struct dt_error *err)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	const char *what = "seccomp_init";
	int rc = f ? 0 : -ENOMEM;
	size_t i;

	for (i = 0; rc == 0 && i < sizeof(keyd_allowed) / sizeof(keyd_allowed[0]); i++)
		if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, keyd_allowed[i], 0)) != 0)
			what = "an allowed system call";
	if (rc == 0 && ((rc = allow_opens(f, SCMP_SYS(openat), 2)) != 0 ||
			(rc = allow_opens(f, SCMP_SYS(open), 1)) != 0))
		what = "openat";
	/* abort() raises SIGABRT on itself: the same death as a forbidden call, with its own
	 * signal in the server's log. */
	if (rc == 0 &&
	    (rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0))) != 0)
		what = "tgkill";
	if (rc == 0 && ((rc = allow_no_exec(f, SCMP_SYS(mmap))) != 0 ||
			(rc = allow_no_exec(f, SCMP_SYS(mprotect))) != 0))
		what = "mmap";
	for (i = 0; KEYD_SANITIZED && rc == 0 &&
		    i < sizeof(keyd_sanitizer_allowed) / sizeof(keyd_sanitizer_allowed[0]);
	     i++)
		if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, keyd_sanitizer_allowed[i], 0)) != 0)
			what = "a sanitizer's system call";
	/* seccomp_load sets PR_SET_NO_NEW_PRIVS first (SCMP_FLTATR_CTL_NNP, its default). */
	if (rc == 0 && (rc = seccomp_load(f)) != 0)
		what = "seccomp_load";
	seccomp_release(f);
	if (rc != 0)
		return dt_fail(err, DT_ERR_INTERNAL, "cannot install the seccomp filter: %s: %s",
			       what, strerror(-rc));
	return DT_OK;
}

dt_code keyd_confine(struct dt_error *err)
{
	dt_code rc;

	if ((rc = drop_capabilities(err)) != DT_OK || (rc = limit_resources(err)) != DT_OK)
		return rc;
	return install_filter(err);
}
