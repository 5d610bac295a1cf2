/*
 * The signer's confinement (src/ca/keyd_sandbox.c): a child confined with the very
 * function the signer calls can still do a signer's work (read a key file, create a
 * new one, allocate, get randomness), has no capability and its limits, and is
 * killed by SIGSYS for anything else: a socket, an exec, a fork, opening an existing
 * file for writing, truncating, deleting, executable memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca/keyd.h"

static char dir[64];
static char existing[128]; /* a file that exists: "a key file" */
static int as_root;	   /* getuid would be killed in the confined child */

static int setup(void **state)
{
	int fd;

	(void)state;
	as_root = getuid() == 0;
	snprintf(dir, sizeof(dir), "/tmp/dt-sandbox-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(existing, sizeof(existing), "%s/root.key", dir);
	if ((fd = open(existing, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return -1;
	if (write(fd, "key\n", 4) != 4) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char path[160];

	(void)state;
	unlink(existing);
	snprintf(path, sizeof(path), "%s/new.key", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/made", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* Runs fn in a child after keyd_confine; returns the child's wait status. fn's return
 * value is the child's exit status; 100 means keyd_confine failed. */
static int confined(int (*fn)(void))
{
	struct dt_error err;
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (keyd_confine(&err) != DT_OK) {
			fprintf(stderr, "keyd_confine: %s\n", err.msg);
			_exit(100);
		}
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exits_0(int status)
{
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void assert_killed_by_filter(int status)
{
	if (WIFEXITED(status))
		fail_msg("the child exited with %d instead of being killed by SIGSYS",
			 WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* What the signer does: each step that fails gives its own exit status. */
static int signer_work(void)
{
	char path[160], buf[16];
	unsigned char rnd[32];
	FILE *f;
	void *big;
	int fd;

	if (!(f = fopen(existing, "rb")) || fread(buf, 1, sizeof(buf), f) != 4)
		return 1;
	fclose(f);
	snprintf(path, sizeof(path), "%s/new.key", dir);
	umask(077);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return 2;
	if (write(fd, "new\n", 4) != 4 || fsync(fd) != 0 || close(fd) != 0)
		return 3;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0 || fsync(fd) != 0 || close(fd) != 0)
		return 4;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return 5;
	/* Above malloc's mmap threshold: mmap and munmap. */
	if (!(big = malloc(8 * 1024 * 1024)))
		return 6;
	memset(big, 1, 8 * 1024 * 1024);
	free(big);
	return 0;
}

static void test_signer_work_allowed(void **state)
{
	(void)state;
	assert_exits_0(confined(signer_work));
}

/* Whether /proc/self/FILE has a line starting with prefix (read with what the filter
 * allows: getrlimit, capget and prctl would be killed). */
static int proc_has(const char *file, const char *prefix)
{
	char path[64], line[256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	if (!(f = fopen(path, "r")))
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, prefix, strlen(prefix)) == 0;
	fclose(f);
	return found;
}

/* No capability, no_new_privs, the filter (mode 2), and the limits. */
static int confinement_state(void)
{
	if (!proc_has("status", "Seccomp:\t2"))
		return 1;
	if (!proc_has("status", "NoNewPrivs:\t1"))
		return 2;
	if (!proc_has("status", "CapEff:\t0000000000000000") ||
	    !proc_has("status", "CapPrm:\t0000000000000000") ||
	    !proc_has("status", "CapInh:\t0000000000000000") ||
	    !proc_has("status", "CapAmb:\t0000000000000000"))
		return 3;
	/* Root had CAP_SETPCAP: the bounding set is empty too. */
	if (as_root && !proc_has("status", "CapBnd:\t0000000000000000"))
		return 4;
	if (!proc_has("limits", "Max core file size        0                    0"))
		return 5;
	if (keyd_sanitized())
		return 0;
	if (!proc_has("limits", "Max processes             0                    0"))
		return 6;
	if (!proc_has("limits", "Max file size             1048576              1048576"))
		return 7;
	return 0;
}

static void test_confinement_state(void **state)
{
	(void)state;
	assert_exits_0(confined(confinement_state));
}

/* Each of these must not return: the filter kills the child first. */
static int open_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 10;
}

static int open_unix_socket(void)
{
	int sv[2];

	return socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 ? 0 : 10;
}

static int exec_shell(void)
{
	char *argv[] = {"/bin/true", NULL};

	execve("/bin/true", argv, NULL);
	return 10;
}

static int fork_child(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return 10;
}

static int write_existing(void)
{
	return open(existing, O_RDWR) >= 0 ? 0 : 10;
}

static int truncate_existing(void)
{
	return open(existing, O_WRONLY | O_CREAT | O_TRUNC, 0600) >= 0 ? 0 : 10;
}

static int append_existing(void)
{
	return open(existing, O_WRONLY | O_APPEND) >= 0 ? 0 : 10;
}

static int create_without_excl(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/made", dir);
	return open(path, O_WRONLY | O_CREAT, 0600) >= 0 ? 0 : 10;
}

static int delete_existing(void)
{
	return unlink(existing) == 0 ? 0 : 10;
}

static int rename_existing(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/made", dir);
	return rename(existing, path) == 0 ? 0 : 10;
}

static int exec_memory(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p != MAP_FAILED ? 0 : 10;
}

static int make_executable(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 11;
	return mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? 0 : 10;
}

static int trace_parent(void)
{
	return syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, getppid(), 0, 0) == 0 ? 0 : 10;
}

static int kill_parent(void)
{
	return kill(getppid(), 0) == 0 ? 0 : 10;
}

static int change_user(void)
{
	return setuid(65534) == 0 ? 0 : 10;
}

static void test_socket_kills(void **state)
{
	(void)state;
	assert_killed_by_filter(confined(open_socket));
	assert_killed_by_filter(confined(open_unix_socket));
}

static void test_exec_kills(void **state)
{
	(void)state;
	assert_killed_by_filter(confined(exec_shell));
}

static void test_files_written_over_kill(void **state)
{
	(void)state;
	assert_killed_by_filter(confined(write_existing));
	assert_killed_by_filter(confined(truncate_existing));
	assert_killed_by_filter(confined(append_existing));
	assert_killed_by_filter(confined(create_without_excl));
	assert_killed_by_filter(confined(delete_existing));
	assert_killed_by_filter(confined(rename_existing));
	/* The key file is as it was. */
	assert_int_equal(access(existing, R_OK), 0);
}

static void test_other_processes_kill(void **state)
{
	(void)state;
	assert_killed_by_filter(confined(kill_parent));
	assert_killed_by_filter(confined(change_user));
	/* A sanitizer build lets its runtime clone and ptrace (LeakSanitizer at exit). */
	if (keyd_sanitized())
		skip();
	assert_killed_by_filter(confined(fork_child));
	assert_killed_by_filter(confined(trace_parent));
}

static void test_exec_memory_kills(void **state)
{
	(void)state;
	assert_killed_by_filter(confined(exec_memory));
	assert_killed_by_filter(confined(make_executable));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signer_work_allowed),
	    cmocka_unit_test(test_confinement_state),
	    cmocka_unit_test(test_socket_kills),
	    cmocka_unit_test(test_exec_kills),
	    cmocka_unit_test(test_files_written_over_kill),
	    cmocka_unit_test(test_other_processes_kill),
	    cmocka_unit_test(test_exec_memory_kills),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
