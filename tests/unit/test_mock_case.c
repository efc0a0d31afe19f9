/*
 * agentd_mock_run_case() (<agentd/mock.h>): a plugin that segfaults in one
 * test case fails that case, named with its signal, and the cases after
 * it still run; results are numbered across the children.  The cases run
 * in a child of this test with its output captured, and this test checks
 * that output: its own TAP must pass while the captured one must fail.
 * Linked against libagentd-sdk.a only, as a plugin author's test is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

static char typed_so[4096];

/* typed.so loaded in a new mock, or NULL (a failed result says why). */
static agentd_mock *
typed(void)
{
	agentd_mock *m;

	agentd_mock_new(NULL, &m);
	agentd_mock_setting(m, "limit", "3");
	if (!agentd_mock_ok(agentd_mock_load(m, typed_so) == 0, "typed loads"))
		printf("# %s\n", agentd_mock_errmsg(m));
	return m;
}

/* One request {flag: true} (NULL: {}); its status. */
static int
request(agentd_mock *m, const char *flag)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;

	agentd_writer_new(&w);
	agentd_write_map(w, flag != NULL ? 1 : 0);
	if (flag != NULL) {
		agentd_write_str(w, flag);
		agentd_write_bool(w, 1);
	}
	body = agentd_writer_data(w, &len);
	agentd_mock_request(m, body, len, &reply, &rlen, &status);
	agentd_writer_free(w);
	return status;
}

static void
case_fine(void *arg)
{
	agentd_mock *m = typed();

	agentd_mock_ok(request(m, NULL) == 0, "%s: a request is answered",
	    (const char *)arg);
	agentd_mock_free(m);
}

static void
case_segv(void *arg)
{
	agentd_mock *m = typed();

	request(m, "segv");
	agentd_mock_ok(1, "never printed: the plugin crashed");
	agentd_mock_free(m);
}

static void
case_abort(void *arg)
{
	agentd_mock *m = typed();

	request(m, "crash");
	agentd_mock_free(m);
}

static void
case_failing(void *arg)
{
	agentd_mock_ok(0, "a result that fails");
}

static void
case_empty(void *arg)
{
}

static void
case_exit(void *arg)
{
	exit(3);
}

/* Cases inside a case: their results reach the top process too. */
static void
case_nested(void *arg)
{
	agentd_mock_run_case("inner", case_fine, "inner");
	agentd_mock_run_case("inner segv", case_segv, NULL);
}

/* The program a plugin author writes; its stdout is captured. */
static int
author_main(void)
{
	int passed_segv, passed_fine;

	agentd_mock_run_case("first", case_fine, "first");
	passed_segv = agentd_mock_run_case("segv", case_segv, NULL);
	passed_fine = agentd_mock_run_case("after", case_fine, "after");
	agentd_mock_run_case("abort", case_abort, NULL);
	agentd_mock_run_case("failing", case_failing, NULL);
	agentd_mock_run_case("empty", case_empty, NULL);
	agentd_mock_run_case("exit", case_exit, NULL);
	agentd_mock_run_case("nested", case_nested, NULL);
	agentd_mock_ok(passed_segv == 0 && passed_fine == 1,
	    "run_case says which cases passed");
	return agentd_mock_done();
}

/* Run author_main() in a child; its output into out, its exit status. */
static int
capture(char *out, size_t size)
{
	int     fds[2], status = -1;
	size_t  got = 0;
	ssize_t n;
	pid_t   pid;

	fflush(stdout);
	if (pipe(fds) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[1]);
		_exit(author_main());
	}
	close(fds[1]);
	while (got + 1 < size
	    && (n = read(fds[0], out + got, size - got - 1)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* out has a line matching line exactly. */
static int
has_line(const char *out, const char *line)
{
	size_t      n = strlen(line);
	const char *p = out;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == out || p[-1] == '\n')
		    && (p[n] == '\n' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

int
main(void)
{
	const char *dir = getenv("AGENTD_TEST_PLUGINS");
	static char out[65536];
	int         rc;

	snprintf(typed_so, sizeof(typed_so), "%s/typed.so",
	    dir != NULL ? dir : "tests/plugins/.libs");
	plan(14);
	rc = capture(out, sizeof(out));
	is_int(rc, 1, "a run with failed cases exits 1");
	ok(has_line(out, "ok 1 - typed loads")
	        && has_line(out, "ok 2 - first: a request is answered"),
	    "the first case's results, numbered from 1");
	ok(has_line(out, "ok 3 - typed loads"),
	    "the crashing case's results before the crash are kept");
	ok(strstr(out, "never printed") == NULL,
	    "nothing after the crash was printed");
#if defined(__SANITIZE_ADDRESS__)
	ok(has_line(out,
	       "not ok 4 - segv: exited with status 1 after 1 "
	       "result(s)"),
	    "the crash is one failed result naming the case (ASan exits 1)");
#else
	ok(has_line(out,
	       "not ok 4 - segv: killed by signal 11 (SIGSEGV: "
	       "Segmentation fault) after 1 result(s)"),
	    "the crash is one failed result naming the case and the signal");
#endif
	ok(has_line(out, "ok 5 - typed loads")
	        && has_line(out, "ok 6 - after: a request is answered"),
	    "the case after the crash runs, numbered on");
	ok(strstr(out, "not ok 8 - abort: killed by signal 6 (SIGABRT: ")
	        != NULL,
	    "abort() in the plugin: SIGABRT");
	ok(has_line(out, "not ok 9 - a result that fails"),
	    "a failed result of a case is the program's");
	ok(has_line(out, "ok 10 - empty"), "a case with no result: ok NAME");
	ok(has_line(out,
	       "not ok 11 - exit: exited with status 3 after 0 "
	       "result(s)"),
	    "a case that exits 3: a failed result saying so");
	ok(has_line(out, "ok 13 - inner: a request is answered"),
	    "a case run inside a case reports through both");
	ok(strstr(out, "not ok 15 - inner segv: killed by signal") != NULL
	        || strstr(out, "not ok 15 - inner segv: exited with") != NULL,
	    "... its crash too");
	ok(has_line(out, "ok 16 - run_case says which cases passed"),
	    "run_case returns 0 for the crashed case, 1 for a passed one");
	ok(has_line(out, "1..16"), "the plan counts every result");
	if (tap_failed_ > 0) {
		printf("# the captured output:\n");
		for (char *l = strtok(out, "\n"); l != NULL;
		     l       = strtok(NULL, "\n"))
                        printf("#   %s\n", l);
	}
	return done_testing();
}
