/*
 * The reload hook: after a new certificate or trust bundle is installed, the
 * configured command runs (sh -c) so that the service presenting the
 * certificate picks it up. It gets the paths and the event in its
 * environment, never a secret; it is waited for at most AG_HOOK_TIMEOUT_S.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"

#define AG_HOOK_TIMEOUT_S                                                                          \
	60 /* a service reload takes seconds; a hung hook must not stall renewal */

static void child(const struct ag_config *c, const char *event, const char *serial)
{
	sigset_t none;

	/* The daemon blocks SIGTERM and SIGINT; the hook must not inherit that. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setenv("DEVTRUST_AGENT_EVENT", event, 1) != 0 ||
	    setenv("DEVTRUST_AGENT_KEY", c->key_path, 1) != 0 ||
	    setenv("DEVTRUST_AGENT_CERT", c->cert_path, 1) != 0 ||
	    setenv("DEVTRUST_AGENT_CHAIN", c->chain_path, 1) != 0 ||
	    setenv("DEVTRUST_AGENT_CACERTS", c->cacerts_path, 1) != 0 ||
	    setenv("DEVTRUST_AGENT_SERIAL", serial, 1) != 0)
		_exit(126);
	execl("/bin/sh", "sh", "-c", c->reload_hook, (char *)NULL);
	_exit(127);
}

void ag_hook_run(const struct ag_config *c, const char *event, X509 *cert)
{
	char serial[64] = "";
	struct timespec tick = {0, 50 * 1000000L};
	pid_t pid, done;
	int status = 0;

	if (!c->reload_hook[0])
		return;
	if (cert)
		ag_serial_hex(cert, serial, sizeof(serial));
	fflush(NULL);
	if ((pid = fork()) < 0) {
		ag_log("reload hook not run: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		child(c, event, serial);
	for (int i = 0;; i++) {
		done = waitpid(pid, &status, WNOHANG);
		if (done == pid)
			break;
		if (done < 0 && errno != EINTR) {
			ag_log("reload hook: waitpid: %s", strerror(errno));
			return;
		}
		if (i >= AG_HOOK_TIMEOUT_S * 20) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ag_log("reload hook killed after %d s", AG_HOOK_TIMEOUT_S);
			return;
		}
		nanosleep(&tick, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFEXITED(status))
		ag_log("reload hook exited %d (%s)", WEXITSTATUS(status), event);
	else if (WIFSIGNALED(status))
		ag_log("reload hook killed by signal %d (%s)", WTERMSIG(status), event);
}
