/*
 * plugins/exec against the mock host, with real children: the tools of a
 * tools_file written here run by posix_spawn, their pipes and exit driven
 * by agentd_mock_poll(), their timeouts by the mock's clock.
 *
 * What it proves: a parameter is one argv element whatever it holds (no
 * shell, no second argument, no option), a path parameter cannot leave
 * its root (.., an absolute path, a symbolic link), every parameter
 * rule, the callers list read from host->request_caller, a tool that
 * never ends stopped by SIGTERM, one that ignores it by SIGKILL, 1 GiB
 * of output capped with memory bounded (killed, or drained and counted),
 * a tool's background children killed with its group when it exits,
 * max_concurrent, the audit records (SHA-256 of the output), bad
 * tools_files refused at init with one line, and fini killing what runs.
 */
#define _GNU_SOURCE

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

extern const struct agentd_plugin agentd_plugin_v1;

static char dir[256];

/* A test's name with printf's format. */
static char fmt_buf_[512];
#define fmt_(...) (snprintf(fmt_buf_, sizeof(fmt_buf_), __VA_ARGS__), fmt_buf_)

static void
write_file(const char *name, const char *text)
{
	char  path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

/* The tools of most cases; @ stands for the test's directory. */
static const char tools_json[]
    = "{\"tools\": {\n"
      " \"echo\": {\"argv\": [\"/bin/echo\", \"{word}\"],\n"
      "   \"params\": {\"word\": {\"type\": \"string\", \"pattern\": "
      "\"[ -~]*\"}},\n"
      "   \"callers\": [\"*\"]},\n"
      " \"cat\": {\"argv\": [\"/bin/cat\", \"{file}\"],\n"
      "   \"params\": {\"file\": {\"type\": \"path\", \"root\": "
      "\"@/root\"}},\n"
      "   \"callers\": [\"*\"]},\n"
      " \"sleep\": {\"argv\": [\"/bin/sleep\", \"{secs}\"],\n"
      "   \"params\": {\"secs\": {\"type\": \"int\", \"min\": 0, \"max\": "
      "100, \"default\": 30}},\n"
      "   \"timeout_ms\": 500, \"callers\": [\"*\"]},\n"
      " \"stubborn\": {\"argv\": [\"/bin/sh\", \"-c\", \"trap '' TERM; "
      ": > @/stubborn.ready; while :; do sleep 1; done\"],\n"
      "   \"timeout_ms\": 500, \"callers\": [\"*\"]},\n"
      " \"flood\": {\"argv\": [\"/usr/bin/head\", \"-c\", \"1073741824\", "
      "\"/dev/zero\"],\n"
      "   \"output_max\": 65536, \"callers\": [\"*\"]},\n"
      " \"drain\": {\"argv\": [\"/usr/bin/head\", \"-c\", \"{bytes}\", "
      "\"/dev/zero\"],\n"
      "   \"params\": {\"bytes\": {\"type\": \"int\", \"min\": 0, \"max\": "
      "1073741824}},\n"
      "   \"output_max\": 1000, \"overflow\": \"drain\", \"callers\": "
      "[\"*\"]},\n"
      " \"big\": {\"argv\": [\"/usr/bin/head\", \"-c\", \"2000000\", "
      "\"/dev/zero\"],\n"
      "   \"output_max\": 2097152, \"callers\": [\"*\"]},\n"
      " \"forker\": {\"argv\": [\"/bin/sh\", \"-c\", \"sleep 300 & echo $! "
      "> @/bg.pid; exit 3\"],\n"
      "   \"callers\": [\"*\"]},\n"
      " \"deploy\": {\"argv\": [\"/bin/echo\", \"{target}\"],\n"
      "   \"params\": {\"target\": {\"type\": \"enum\", \"values\": "
      "[\"staging\", \"production\", \"--dry-run\"]}},\n"
      "   \"callers\": [\"deployer\"]},\n"
      " \"env\": {\"argv\": [\"/usr/bin/env\"], \"env\": [\"EXEC_TEST_A\", "
      "\"EXEC_TEST_MISSING\"],\n"
      "   \"env_set\": {\"LANG\": \"C\"}, \"callers\": [\"*\"]},\n"
      " \"pwd\": {\"argv\": [\"/bin/pwd\"], \"cwd\": \"@/root\", "
      "\"callers\": [\"*\"]},\n"
      " \"fail\": {\"argv\": [\"/bin/sh\", \"-c\", \"echo oops >&2; exit "
      "7\"], \"callers\": [\"*\"]},\n"
      " \"missing\": {\"argv\": [\"/nonexistent/tool\"], \"callers\": "
      "[\"*\"]}\n"
      "}}\n";

/* text with every @ replaced by dir, into the file name. */
static void
write_tools(const char *name, const char *text)
{
	char   buf[8192];
	size_t n = 0;

	for (; *text != '\0' && n + 256 < sizeof(buf); text++)
		if (*text == '@')
			n += (size_t)snprintf(
			    buf + n, sizeof(buf) - n, "%s", dir);
		else
			buf[n++] = *text;
	buf[n] = '\0';
	write_file(name, buf);
}

static agentd_mock *
start(const char *tools, const char *max_concurrent)
{
	agentd_mock *m;
	char         path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, tools);
	if (agentd_mock_new("exec", &m) != 0)
		return NULL;
	agentd_mock_setting(m, "tools_file", path);
	agentd_mock_setting(m, "kill_grace_ms", "100");
	if (max_concurrent != NULL)
		agentd_mock_setting(m, "max_concurrent", max_concurrent);
	if (agentd_mock_attach(m, &agentd_plugin_v1) != 0) {
		diag("attach: %s", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return NULL;
	}
	return m;
}

/* {"tool": tool, "params": {k: v}} with v a string, or an int when
 * is_int; k NULL: no params. */
static void
request(agentd_writer *w, const char *tool, const char *k, const char *v,
    int64_t iv, int is_int)
{
	agentd_writer_reset(w);
	agentd_write_map(w, k != NULL ? 2 : 1);
	agentd_write_str(w, "tool");
	agentd_write_str(w, tool);
	if (k == NULL)
		return;
	agentd_write_str(w, "params");
	agentd_write_map(w, 1);
	agentd_write_str(w, k);
	if (is_int)
		agentd_write_int(w, iv);
	else
		agentd_write_str(w, v);
}

static size_t
send_req(agentd_mock *m, agentd_writer *w)
{
	const void *body;
	size_t      len, id = 0;

	body = agentd_writer_data(w, &len);
	agentd_mock_send(m, body, len, &id);
	return id;
}

/* Drive the loop until request id is answered (at most 20 s). */
static int
await(agentd_mock *m, size_t id, agentd_doc **doc)
{
	const void *reply;
	size_t      len;
	int         status, rv, i;

	*doc = NULL;
	for (i = 0; i < 2000; i++) {
		rv = agentd_mock_answer(m, id, &reply, &len, &status);
		if (rv != AGENTD_ENOENT)
			break;
		agentd_mock_poll(m, 10);
	}
	if (rv != 0)
		return -1;
	agentd_parse(reply, len, doc);
	return status;
}

static int
run(agentd_mock *m, agentd_writer *w, agentd_doc **doc)
{
	return await(m, send_req(m, w), doc);
}

static const char *
str_of(agentd_doc *doc, const char *key)
{
	static char buf[4096];

	buf[0] = '\0';
	if (doc != NULL)
		agentd_get_strcpy(agentd_map_get(agentd_doc_root(doc), key),
		    buf, sizeof(buf));
	return buf;
}

static int64_t
int_of(agentd_doc *doc, const char *key)
{
	int64_t v = -999;
	int     b;

	if (doc == NULL)
		return v;
	if (agentd_get_int(agentd_map_get(agentd_doc_root(doc), key), &v) != 0
	    && agentd_get_bool(agentd_map_get(agentd_doc_root(doc), key), &b)
	        == 0)
		v = b;
	return v;
}

static size_t
strlen_of(agentd_doc *doc, const char *key)
{
	const char *s;
	size_t      len = 0;

	if (doc == NULL
	    || agentd_get_str(
	           agentd_map_get(agentd_doc_root(doc), key), &s, &len)
	        != 0)
		return (size_t)-1;
	return len;
}

static int
is_nil(agentd_doc *doc, const char *key)
{
	return doc != NULL
	    && agentd_type_of(agentd_map_get(agentd_doc_root(doc), key))
	    == AGENTD_T_NIL;
}

/* A process that is gone or a zombie (killed, not yet reaped by init). */
static int
dead(pid_t pid)
{
	char  path[64], state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 0;
	fclose(f);
	return state == 'Z' || state == 'X';
}

static int
wait_dead(pid_t pid)
{
	int i;

	for (i = 0; i < 500 && !dead(pid); i++)
		usleep(10000);
	return dead(pid);
}

static int
file_exists(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static pid_t
read_pid(const char *name)
{
	char  path[512];
	FILE *f;
	int   pid = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

/* The last audit record's kind and a field of its detail. */
static const char *
last_audit(agentd_mock *m, const char *key, char *val, size_t vlen)
{
	const char *kind = NULL, *summary;
	const void *detail;
	size_t      n   = agentd_mock_audit_count(m), len;
	agentd_doc *doc = NULL;
	int64_t     iv;

	val[0] = '\0';
	if (n == 0
	    || agentd_mock_audit(m, n - 1, &kind, &summary, &detail, &len)
	        != 0)
		return "";
	if (key != NULL && agentd_parse(detail, len, &doc) == 0) {
		const agentd_value *v
		    = agentd_map_get(agentd_doc_root(doc), key);

		if (agentd_get_strcpy(v, val, vlen) != 0
		    && agentd_get_int(v, &iv) == 0)
			snprintf(val, vlen, "%lld", (long long)iv);
		agentd_doc_free(doc);
	}
	return kind;
}

static void
test_no_shell(agentd_mock *m, agentd_writer *w)
{
	agentd_doc *doc;
	char        val[128];
	int         st;

	request(w, "echo", "word", "hello; rm -rf / $(id) `id` | x", 0, 0);
	st = run(m, w, &doc);
	is_int(st, 0, "echo runs");
	is_str(str_of(doc, "stdout"), "hello; rm -rf / $(id) `id` | x\n",
	    "a parameter is one argv element: no shell saw it");
	is_int(int_of(doc, "exit"), 0, "exit 0");
	ok(is_nil(doc, "signal"), "no signal");
	is_int(int_of(doc, "timed_out"), 0, "not timed out");
	is_int(int_of(doc, "truncated"), 0, "not truncated");
	ok(int_of(doc, "duration_ms") >= 0, "a duration");
	is_str(str_of(doc, "tool"), "echo", "the tool named in the reply");
	agentd_doc_free(doc);
	is_str(last_audit(m, "stdout_sha256", val, sizeof(val)), "exec.run",
	    "the run is audited");
	/* printf 'hello; rm -rf / $(id) `id` | x\n' | sha256sum */
	ok(strlen(val) == 64, fmt_("with its stdout's SHA-256 (%s)", val));

	request(w, "echo", "word", "hi", 0, 0);
	st = run(m, w, &doc);
	agentd_doc_free(doc);
	last_audit(m, "stdout_sha256", val, sizeof(val));
	/* printf 'hi\n' | sha256sum */
	is_str(val,
	    "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
	    "the digest is SHA-256 of what the tool wrote");

	request(w, "echo", "word", "-n", 0, 0);
	st = run(m, w, &doc);
	is_int(st, AGENTD_EINVAL, "a value starting with - is refused");
	like(str_of(doc, "error"), "starts with '-'", "said so");
	agentd_doc_free(doc);
	is_str(last_audit(m, "reason", val, sizeof(val)), "exec.refused",
	    "the refusal is audited");
}

static void
test_paths(agentd_mock *m, agentd_writer *w)
{
	static const char *const bad[] = { "../secret", "/etc/passwd",
		"sub/../../secret", "link", "nothere", NULL };
	agentd_doc              *doc;
	size_t                   i;
	int                      st;

	request(w, "cat", "file", "sub/a.txt", 0, 0);
	st = run(m, w, &doc);
	is_int(st, 0, "cat of a file under the root runs");
	is_str(str_of(doc, "stdout"), "inside\n", "and reads it");
	agentd_doc_free(doc);
	for (i = 0; bad[i] != NULL; i++) {
		request(w, "cat", "file", bad[i], 0, 0);
		st = run(m, w, &doc);
		is_int(st, AGENTD_EINVAL, fmt_("path %s is refused", bad[i]));
		like(str_of(doc, "error"),
		    strcmp(bad[i], "nothere") == 0 ? "No such file"
		                                   : "parameter file",
		    "naming it");
		agentd_doc_free(doc);
	}
}

static void
test_rules(agentd_mock *m, agentd_writer *w)
{
	agentd_doc *doc;
	int         st;

	request(w, "nosuch", NULL, NULL, 0, 0);
	st = run(m, w, &doc);
	is_int(st, AGENTD_ENOENT, "an unknown tool is ENOENT");
	agentd_doc_free(doc);
	request(w, "sleep", "secs", NULL, 101, 1);
	st = run(m, w, &doc);
	is_int(st, AGENTD_EINVAL, "an int past its max is refused");
	like(str_of(doc, "error"), "from 0 to 100", "with its bounds");
	agentd_doc_free(doc);
	request(w, "sleep", "secs", "1", 0, 0);
	is_int(run(m, w, &doc), AGENTD_EINVAL, "a string for an int refused");
	agentd_doc_free(doc);
	request(w, "sleep", "bogus", "1", 0, 0);
	st = run(m, w, &doc);
	is_int(st, AGENTD_EINVAL, "an unknown parameter is refused");
	like(str_of(doc, "error"), "no parameter \"bogus\"", "named");
	agentd_doc_free(doc);
	request(w, "echo", NULL, NULL, 0, 0);
	st = run(m, w, &doc);
	is_int(st, AGENTD_EINVAL, "a required parameter missing is refused");
	agentd_doc_free(doc);
	request(w, "echo", "word", "tab\there", 0, 0);
	is_int(run(m, w, &doc), AGENTD_EINVAL, "a value off its pattern");
	agentd_doc_free(doc);
	agentd_mock_caller(m, "deployer");
	request(w, "deploy", "target", "staging; production", 0, 0);
	is_int(
	    run(m, w, &doc), AGENTD_EINVAL, "an enum takes its values only");
	agentd_doc_free(doc);
	request(w, "deploy", "target", "production", 0, 0);
	is_int(run(m, w, &doc), 0, "the listed caller runs deploy");
	is_str(str_of(doc, "stdout"), "production\n", "with its value");
	agentd_doc_free(doc);
	request(w, "deploy", "target", "--dry-run", 0, 0);
	is_int(run(m, w, &doc), 0, "an enum's own value may start with -");
	agentd_doc_free(doc);
	agentd_mock_caller(m, "intruder");
	request(w, "deploy", "target", "production", 0, 0);
	st = run(m, w, &doc);
	is_int(st, AGENTD_EDENIED, "another caller is denied");
	like(str_of(doc, "error"), "intruder", "naming the caller");
	agentd_doc_free(doc);
	agentd_mock_caller(m, "agentctl");
}

static void
test_exits(agentd_mock *m, agentd_writer *w)
{
	agentd_doc *doc;
	char        here[512];
	int         st;

	request(w, "fail", NULL, NULL, 0, 0);
	st = run(m, w, &doc);
	is_int(st, 0, "a failing tool is a reply");
	is_int(int_of(doc, "exit"), 7, "with its exit status");
	is_str(str_of(doc, "stderr"), "oops\n", "and its stderr");
	agentd_doc_free(doc);
	request(w, "missing", NULL, NULL, 0, 0);
	st = run(m, w, &doc);
	/* Under valgrind, whose clone is a fork, posix_spawn cannot say
	 * that exec failed: the child exits 127 as a shell's would. */
	ok(st == AGENTD_EIO || (st == 0 && int_of(doc, "exit") == 127),
	    "a program that cannot run is EIO");
	like(st == 0 ? "/nonexistent/tool" : str_of(doc, "error"),
	    "/nonexistent/tool", "naming it");
	agentd_doc_free(doc);
	setenv("EXEC_TEST_A", "one", 1);
	request(w, "pwd", NULL, NULL, 0, 0);
	run(m, w, &doc);
	snprintf(here, sizeof(here), "%s/root\n", dir);
	is_str(str_of(doc, "stdout"), here, "the tool runs in its cwd");
	agentd_doc_free(doc);
}

static void
test_env(agentd_writer *w)
{
	agentd_mock *m;
	agentd_doc  *doc;

	/* The environment is read at init: set before it. */
	setenv("EXEC_TEST_A", "one", 1);
	setenv("EXEC_TEST_SECRET", "two", 1);
	m = start("tools.json", NULL);
	request(w, "env", NULL, NULL, 0, 0);
	run(m, w, &doc);
	is_str(str_of(doc, "stdout"), "EXEC_TEST_A=one\nLANG=C\n",
	    "the environment is the allow-list and env_set, nothing else");
	agentd_doc_free(doc);
	agentd_mock_free(m);
}

static void
test_timeout(agentd_mock *m, agentd_writer *w)
{
	agentd_doc *doc;
	size_t      id;
	int         st, i;

	id = send_req(m, (request(w, "sleep", NULL, NULL, 0, 0), w));
	for (i = 0; i < 5; i++)
		agentd_mock_poll(m, 10);
	is_int(agentd_mock_pending(m), 1, "a tool that does not end runs on");
	agentd_mock_clock_advance(m, 500);
	st = await(m, id, &doc);
	is_int(st, 0, "past its timeout it is answered");
	is_int(int_of(doc, "timed_out"), 1, "timed out");
	is_str(str_of(doc, "signal"), "SIGTERM", "stopped by SIGTERM");
	ok(is_nil(doc, "exit"), "no exit status");
	agentd_doc_free(doc);

	id = send_req(m, (request(w, "stubborn", NULL, NULL, 0, 0), w));
	/* Its trap is set once it made the file. */
	for (i = 0; i < 1000 && !file_exists("stubborn.ready"); i++)
		agentd_mock_poll(m, 10);
	agentd_mock_clock_advance(m, 500);
	for (i = 0; i < 20; i++)
		agentd_mock_poll(m, 10);
	is_int(agentd_mock_pending(m), 1, "one that ignores SIGTERM runs on");
	agentd_mock_clock_advance(m, 100);
	st = await(m, id, &doc);
	is_int(st, 0, "after kill_grace_ms it is answered");
	is_str(str_of(doc, "signal"), "SIGKILL", "killed by SIGKILL");
	is_int(int_of(doc, "timed_out"), 1, "timed out");
	agentd_doc_free(doc);
	is_int(agentd_mock_timers(m), 0, "no timer left");
}

static long
maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void
test_floods(agentd_mock *m, agentd_writer *w)
{
	agentd_doc *doc;
	char        val[128];
	long        before = maxrss_kb();
	int         st;

	request(w, "flood", NULL, NULL, 0, 0);
	st = run(m, w, &doc);
	is_int(st, 0, "1 GiB to stdout is answered");
	is_int(int_of(doc, "truncated"), 1, "truncated");
	is_int((int64_t)strlen_of(doc, "stdout"), 65536, "at output_max");
	is_str(str_of(doc, "signal"), "SIGTERM", "and the tool stopped");
	agentd_doc_free(doc);
	last_audit(m, "stdout_bytes", val, sizeof(val));
	ok(atoll(val) >= 65536 && atoll(val) < (1 << 30),
	    fmt_("it was stopped early: %s bytes read", val));

	request(w, "drain", "bytes", NULL, 64 << 20, 1);
	st = run(m, w, &doc);
	is_int(st, 0, "64 MiB drained");
	is_int(int_of(doc, "exit"), 0, "the tool ends by itself");
	is_int(int_of(doc, "truncated"), 1, "truncated");
	is_int((int64_t)strlen_of(doc, "stdout"), 1000, "1000 bytes kept");
	agentd_doc_free(doc);
	last_audit(m, "stdout_bytes", val, sizeof(val));
	is_str(val, "67108864", "every byte read and counted");
	request(w, "big", NULL, NULL, 0, 0);
	st = run(m, w, &doc);
	is_int(
	    st, AGENTD_ETOOBIG, "a reply over the message limit is ETOOBIG");
	agentd_doc_free(doc);
	like(agentd_mock_last_log(m, NULL), "lower the tool's output_max",
	    "and the log says what to change");
	ok(maxrss_kb() - before < 16 * 1024,
	    fmt_("memory bounded: max RSS grew by %ld KiB",
	        maxrss_kb() - before));
}

static void
test_group(agentd_mock *m, agentd_writer *w)
{
	agentd_doc *doc;
	pid_t       bg;
	int         st;

	request(w, "forker", NULL, NULL, 0, 0);
	st = run(m, w, &doc);
	is_int(st, 0, "a tool that forks and exits is answered");
	is_int(int_of(doc, "exit"), 3, "with its exit status");
	agentd_doc_free(doc);
	bg = read_pid("bg.pid");
	ok(bg > 0 && wait_dead(bg),
	    fmt_("its background child was killed (%d)", (int)bg));
}

static void
test_concurrency(agentd_writer *w)
{
	agentd_mock *m = start("tools.json", "2");
	agentd_doc  *doc;
	size_t       a, b;
	int          st;

	request(w, "sleep", "secs", NULL, 30, 1);
	a  = send_req(m, w);
	b  = send_req(m, w);
	st = run(m, w, &doc);
	is_int(st, AGENTD_EBUSY, "past max_concurrent: EBUSY");
	like(str_of(doc, "error"), "max_concurrent", "said so");
	agentd_doc_free(doc);
	agentd_mock_clock_advance(m, 500);
	ok(await(m, a, &doc) == 0 && int_of(doc, "timed_out") == 1,
	    "the first ends");
	agentd_doc_free(doc);
	ok(await(m, b, &doc) == 0, "the second too");
	agentd_doc_free(doc);
	request(w, "echo", "word", "again", 0, 0);
	is_int(run(m, w, &doc), 0, "then a third runs");
	agentd_doc_free(doc);
	agentd_mock_free(m);
}

static void
test_fini(agentd_writer *w)
{
	agentd_mock *m = start("tools.json", NULL);
	pid_t        bg;
	int          i;

	write_tools("fini.json",
	    "{\"tools\": {\"bg\": {\"argv\": [\"/bin/sh\", \"-c\", \"echo $$ "
	    "> "
	    "@/fini.pid; sleep 300\"], \"timeout_ms\": 60000, \"callers\": "
	    "[\"*\"]}}}");
	agentd_mock_free(m);
	m = start("fini.json", NULL);
	request(w, "bg", NULL, NULL, 0, 0);
	send_req(m, w);
	for (i = 0; i < 500 && read_pid("fini.pid") == 0; i++)
		agentd_mock_poll(m, 10);
	bg = read_pid("fini.pid");
	agentd_mock_free(m);
	ok(bg > 0 && wait_dead(bg), "fini kills a tool still running");
}

static void
bad_tools(const char *text, const char *expect, const char *what)
{
	agentd_mock *m;
	const char  *line;

	char path[512];

	snprintf(path, sizeof(path), "%s/bad.json", dir);
	if (text != NULL)
		write_tools("bad.json", text);
	else
		unlink(path);
	m = start("bad.json", NULL);
	ok(m == NULL, fmt_("refused at init: %s", what));
	if (m != NULL) {
		agentd_mock_free(m);
		return;
	}
	/* start() freed it: load again to read the line. */
	{
		agentd_mock_new("exec", &m);
		agentd_mock_setting(m, "tools_file", path);
		agentd_mock_attach(m, &agentd_plugin_v1);
		line = agentd_mock_last_log(m, NULL);
		diag("%s", line != NULL ? line : "(none)");
		like(line != NULL ? line : "", expect, "with one line");
		agentd_mock_free(m);
	}
}

static void
test_bad_settings(void)
{
	agentd_mock *m = start("tools.json", "0");
	const char  *line;

	ok(m == NULL, "max_concurrent 0 is refused at init");
	agentd_mock_new("exec", &m);
	agentd_mock_setting(m, "tools_file", "/nonexistent.json");
	agentd_mock_setting(m, "max_concurrent", "0");
	agentd_mock_attach(m, &agentd_plugin_v1);
	line = agentd_mock_last_log(m, NULL);
	like(line != NULL ? line : "", "max_concurrent is 1 to 256",
	    "with one line saying the range");
	agentd_mock_free(m);
}

static void
test_bad_files(void)
{
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"echo\"], \"callers\": "
	          "[\"*\"]}}}",
	    "must be an absolute path", "argv[0] not absolute");
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"/bin/echo\", "
	          "\"--x={p}\"], \"params\": {\"p\": {\"type\": \"int\", "
	          "\"min\": 0, \"max\": 1}}, \"callers\": [\"*\"]}}}",
	    "a parameter is a whole element", "a parameter inside text");
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"/bin/echo\", \"{q}\"], "
	          "\"callers\": [\"*\"]}}}",
	    "names no parameter", "an unknown parameter in argv");
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"/bin/echo\"], "
	          "\"timeout\": 5, \"callers\": [\"*\"]}}}",
	    "unknown key \"timeout\"", "a misspelt key");
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"/bin/echo\"]}}}",
	    "\"callers\"", "no callers");
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"/bin/echo\", \"{p}\"], "
	          "\"params\": {\"p\": {\"type\": \"string\"}}, \"callers\": "
	          "[\"*\"]}}}",
	    "needs a \"pattern\"", "a string without a pattern");
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"/bin/cat\", \"{p}\"], "
	          "\"params\": {\"p\": {\"type\": \"path\", \"root\": "
	          "\"/nonexistent\"}}, \"callers\": [\"*\"]}}}",
	    "is not a directory", "a root that is not there");
	bad_tools("{\"tools\": {\"a\": {\"argv\": [\"/bin/echo\"],\n"
	          "\"callers\": [\"*\"],}}}",
	    "bad.json:2:", "a JSON error, with its line");
	bad_tools(NULL, "unable to open", "a file that cannot be read");
}

static void
make_tree(void)
{
	char path[512], target[512];

	snprintf(dir, sizeof(dir), "%s/test_exec.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/root", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/root/sub", dir);
	mkdir(path, 0755);
	write_file("root/sub/a.txt", "inside\n");
	write_file("secret", "outside\n");
	snprintf(path, sizeof(path), "%s/root/link", dir);
	snprintf(target, sizeof(target), "%s/secret", dir);
	if (symlink(target, path) != 0)
		perror("symlink");
	write_tools("tools.json", tools_json);
}

int
main(void)
{
	agentd_writer *w;
	agentd_mock   *m;
	char           cmd[600];

	plan(100);
	make_tree();
	agentd_writer_new(&w);
	m = start("tools.json", NULL);
	ok(m != NULL, "the plugin starts with the tools file");
	if (m == NULL)
		return 1;
	test_no_shell(m, w);
	test_paths(m, w);
	test_rules(m, w);
	test_exits(m, w);
	test_timeout(m, w);
	test_floods(m, w);
	test_group(m, w);
	agentd_mock_free(m);
	test_env(w);
	test_concurrency(w);
	test_fini(w);
	test_bad_files();
	test_bad_settings();
	agentd_writer_free(w);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", dir);
	return done_testing();
}
