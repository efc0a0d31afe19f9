/*
 * The mock host's TAP producer and its test cases in child processes
 * (<agentd/mock.h>, "test cases").  Results are numbered across the whole
 * program: a case's child reports each of its results to its parent
 * through a pipe, one byte each ('o' passed, 'f' failed), so the parent
 * knows how many lines the child printed even when the child died
 * half-way, and numbers the line it adds for the death after them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <agentd/mock.h>

static unsigned tap_run;     /* results printed, children's included */
static unsigned tap_failed;  /* ... of which failed */
static int      tap_up = -1; /* in a case's child: the pipe to its parent */

/* Count one result, and pass it up when this is a case's child. */
static void
tap_count(char c)
{
	ssize_t n;

	tap_run++;
	if (c == 'f')
		tap_failed++;
	if (tap_up >= 0) {
		do
			n = write(tap_up, &c, 1);
		while (n < 0 && errno == EINTR);
	}
}

int
agentd_mock_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %u - ", cond ? "ok" : "not ok", tap_run + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	/* Before anything else runs: a crash next must not lose it. */
	fflush(stdout);
	tap_count(cond ? 'o' : 'f');
	return cond != 0;
}

/* "SIGSEGV" for the signals a crashing test meets, else "" . */
static const char *
sig_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGABRT:
		return "SIGABRT";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	case SIGKILL:
		return "SIGKILL";
	case SIGTERM:
		return "SIGTERM";
	case SIGALRM:
		return "SIGALRM";
	case SIGPIPE:
		return "SIGPIPE";
	default:
		return "";
	}
}

/* Read the child's results until it is gone (its end closes at exit). */
static void
read_results(int fd)
{
	char    buf[256];
	ssize_t n, i;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (i = 0; i < n; i++)
			tap_count(buf[i]);
	}
}

int
agentd_mock_run_case(const char *name, agentd_mock_case_fn fn, void *arg)
{
	unsigned run = tap_run, failed = tap_failed;
	int      fds[2], status;
	pid_t    pid;

	/* What is buffered would be printed twice, by both processes. */
	fflush(stdout);
	fflush(stderr);
	if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) < 0)
		return agentd_mock_ok(0, "%s: cannot start a process: %s",
		    name, strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		tap_up = fds[1];
		alarm(AGENTD_MOCK_CASE_SECONDS);
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	read_results(fds[0]);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		return agentd_mock_ok(0,
		    "%s: killed by signal %d (%s%s%s) after %u result(s)%s",
		    name, WTERMSIG(status), sig_name(WTERMSIG(status)),
		    sig_name(WTERMSIG(status))[0] != '\0' ? ": " : "",
		    strsignal(WTERMSIG(status)), tap_run - run,
		    WTERMSIG(status) == SIGALRM
		        ? ": it ran longer than AGENTD_MOCK_CASE_SECONDS"
		        : "");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return agentd_mock_ok(0,
		    "%s: exited with status %d after %u result(s)", name,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		    tap_run - run);
	if (tap_run == run)
		return agentd_mock_ok(1, "%s", name);
	return tap_failed == failed;
}

int
agentd_mock_done(void)
{
	printf("1..%u\n", tap_run);
	fflush(stdout);
	return tap_failed == 0 ? 0 : 1;
}
