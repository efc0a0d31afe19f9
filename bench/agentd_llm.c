/*
 * agentd_llm - `make bench-llm` (bench/README.md, "The llm agent"):
 * chat completions through the llm agent against the same requests sent
 * straight to the provider by a plain libcurl multi client, in one run;
 * and one llm instance holding many requests to a slow provider.
 *
 *   agentd_llm [-r RUNS] [-d SECONDS] [-W WARMUP_SECONDS]
 *              [-k "INFLIGHT..."] [-n HOLD] [-D DELAY_MS] [-t FAKE_THREADS]
 *              [-i LLM_INSTANCES]
 *
 * Starts two bench/llmfake servers on loopback (one answering at once,
 * one after DELAY_MS, default 1000) and a real agentd (from
 * $BENCH_BUILDDIR) on a configuration it writes in $BENCH_TMPDIR: agent
 * "llm" (plugins/llm.so, one instance, or -i of them, concurrency 256,
 * one provider of kind openai at the fast fake, attempts 1), agent
 * "llmhold" (the same plugin, one instance, concurrency and http {
 * max_concurrent } HOLD + 64, at the slow fake) and agent "llmgen"
 * (bench/llmgen.so, the driver).  RUNS times (default $BENCH_RUNS, else
 * 5), for each in-flight count of -k (default "64 1"), in alternating
 * order:
 *   raw     bench/llm_raw -u FAST_URL -k INFLIGHT -d SECONDS -W WARMUP
 *   agentd  llmgen's {"op": "run"}: INFLIGHT calls to llm in flight,
 *           the same messages, counted over the same window
 * with the CPU time of each process over the run (/proc/PID/stat).  64
 * in flight is the load; 1 in flight shows what a call costs
 * when nothing queues (at 64 the p50 is mostly the queue).  Then once,
 * HOLD requests to the slow fake: first bench/llm_raw -k HOLD (its
 * VmRSS before its first request and once the fake holds them all),
 * then through llmhold: 16 calls (its first connections), its
 * instance's VmRSS, HOLD calls at once, VmRSS sampled every 20 ms while
 * none is answered (with the slow fake's count of requests it holds),
 * until all came back, and VmRSS after.
 *
 * Prints one line per measurement, the table of medians, then the hold:
 *   llm way=raw|agentd inflight=K msgs=N secs=S rate=R p50_us=X
 *     p99_us=Y errors=E cpu_us=C fake_cpu_us=F [sv_cpu_us= llm_cpu_us=
 *     gen_cpu_us=]
 *   llm way=rawhold n=N delay_ms=D answered= rss_before_kb=
 *     rss_hold_kb= bytes_per_request=
 *   llm way=hold n=N delay_ms=D started= answered= errors= first_ms=
 *     last_ms= fake_held_max= rss_before_kb= rss_hold_kb= rss_after_kb=
 *     bytes_per_request=
 * Exit 0 when every request was answered, 1 if not (or on a failure).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/util.h"
#include "harness.h"

#define PROG "agentd_llm"

extern char **environ;

struct opts {
	int    runs, k, hold, delay_ms, threads;
	int    insts;      /* -i: instances of agent "llm" */
	int    ks[8], nks; /* -k: the in-flight counts, two rows each */
	double secs, warm;
};

/* One measured run of either way. */
struct row {
	double rate, p50, p99, cpu, fake_cpu, sv_cpu, llm_cpu, gen_cpu;
	long   msgs, errors;
};

static pid_t fake_pid[2] = { -1, -1 };
static int   fake_port[2];

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return chmod(path, 0644);
}

static char *
fake_url(int i)
{
	return ad_xasprintf("http://127.0.0.1:%d/v1", fake_port[i]);
}

/* Fake i (0: at once, 1: after delay_ms), its port read from its file. */
static int
start_fake(int i, const struct opts *o)
{
	char *prog  = ad_xasprintf("%s/bench/llmfake", harness_builddir);
	char *pfile = ad_xasprintf("%s/fake%d.port", harness_tmpdir, i);
	char  delay[32], threads[16];
	char *argv[] = { prog, "-f", pfile, "-d", delay, "-t", threads, NULL };
	FILE *f;
	int   rv = -1;

	snprintf(delay, sizeof(delay), "%d", i == 0 ? 0 : o->delay_ms);
	snprintf(threads, sizeof(threads), "%d", o->threads);
	unlink(pfile);
	if (posix_spawn(&fake_pid[i], prog, NULL, NULL, argv, environ) != 0)
		fake_pid[i] = -1;
	for (int t = 0; fake_pid[i] > 0 && t < 500 && rv != 0; t++) {
		usleep(10 * 1000);
		if ((f = fopen(pfile, "r")) == NULL)
			continue;
		if (fscanf(f, "%d", &fake_port[i]) == 1)
			rv = 0;
		fclose(f);
	}
	if (rv != 0)
		fprintf(stderr, PROG ": %s did not start\n", prog);
	free(prog);
	free(pfile);
	return rv;
}

static void
stop_fakes(void)
{
	int st;

	for (int i = 0; i < 2; i++)
		if (fake_pid[i] > 0) {
			kill(fake_pid[i], SIGTERM);
			waitpid(fake_pid[i], &st, 0);
			fake_pid[i] = -1;
		}
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	char  *buf = arg;
	size_t len = strlen(buf), add = size * n;

	if (len + add < 256) {
		memcpy(buf + len, p, add);
		buf[len + add] = '\0';
	}
	return size * n;
}

/* The slow fake's count of requests waiting out its delay; -1. */
static long
fake_held(CURL *e, char *buf)
{
	char *p;

	buf[0] = '\0';
	if (curl_easy_perform(e) == CURLE_OK
	    && (p = strstr(buf, "\"held\":")) != NULL)
		return atol(p + 7);
	return -1;
}

static CURL *
stats_handle(char *buf)
{
	CURL *e   = curl_easy_init();
	char *url = ad_xasprintf("http://127.0.0.1:%d/stats", fake_port[1]);

	if (e == NULL)
		abort();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, buf);
	free(url);
	return e;
}

static int
write_conf(const struct opts *o)
{
	char *conf = ad_xasprintf("%s/conf", harness_tmpdir);
	char *dir  = ad_xasprintf("%s/llm", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", conf);
	char *fast = ad_xasprintf("%s/fast.json", dir);
	char *slow = ad_xasprintf("%s/slow.json", dir);
	char *u0 = fake_url(0), *u1 = fake_url(1), *text, *j0, *j1;
	int   rv = 0;

	ad_mkdir_p(conf, 0700);
	ad_mkdir_p(dir, 0755);
	chmod(dir, 0755);
	/* One provider of kind openai, no key, attempts 1: every request
	 * is one HTTP exchange. */
	j0   = ad_xasprintf("{\"providers\": [{\"name\": \"fake\", \"kind\": "
	                      "\"openai\", \"base_url\": \"%s\", \"model\": "
	                      "\"bench\", \"attempts\": 1}],\n"
	                      " \"routes\": {\"default\": [\"fake\"]}}\n",
	      u0);
	j1   = ad_xasprintf("{\"providers\": [{\"name\": \"slow\", \"kind\": "
	                      "\"openai\", \"base_url\": \"%s\", \"model\": "
	                      "\"bench\", \"attempts\": 1, \"timeout_ms\": "
	                      "60000}],\n"
	                      " \"routes\": {\"default\": [\"slow\"]}}\n",
	      u1);
	text = ad_xasprintf(
	    "agent \"llm\" { plugin = \"%s/plugins/.libs/llm.so\"\n"
	    "  instances { min = %d max = %d concurrency = 256 }\n"
	    "  request_timeout = 120s\n"
	    "  http { allow = { \"127.0.0.1\" } }\n"
	    "  paths { read = { \"%s\" } }\n"
	    "  settings { config = \"%s\" } }\n"
	    "agent \"llmhold\" { plugin = \"%s/plugins/.libs/llm.so\"\n"
	    "  instances { min = 1 max = 1 concurrency = %d }\n"
	    "  request_timeout = 120s\n"
	    "  http { allow = { \"127.0.0.1\" } max_concurrent = %d }\n"
	    "  paths { read = { \"%s\" } }\n"
	    "  settings { config = \"%s\" } }\n"
	    "agent \"llmgen\" { plugin = \"%s/bench/.libs/llmgen.so\"\n"
	    "  calls = { \"llm\", \"llmhold\" }\n"
	    "  instances { min = 1 max = 1 concurrency = 16 }\n"
	    "  request_timeout = 30m }\n",
	    harness_builddir, o->insts, o->insts, dir, fast, harness_builddir,
	    o->hold + 64, o->hold + 64, dir, slow, harness_builddir);
	if (write_file(fast, j0) != 0 || write_file(slow, j1) != 0
	    || write_file(path, text) != 0)
		rv = -1;
	free(text);
	free(j0);
	free(j1);
	free(u0);
	free(u1);
	free(conf);
	free(dir);
	free(path);
	free(fast);
	free(slow);
	return rv;
}

/* The pid of agent's instance, from agentd's status. */
static long
agent_pid(const char *agent)
{
	agentd_doc         *doc;
	nng_msg            *m;
	const agentd_value *agents;
	long                pid = -1;

	if (harness_control(
	        PROG, AD_KIND_CONTROL, "status", NULL, 10000, &doc, &m)
	    != 0)
		return -1;
	agents = agentd_map_get(agentd_doc_root(doc), "agents");
	for (size_t i = 0; i < agentd_len(agents); i++) {
		const agentd_value *a        = agentd_array_at(agents, i);
		char                name[64] = "";

		agentd_get_strcpy(
		    agentd_map_get(a, "name"), name, sizeof(name));
		if (strcmp(name, agent) == 0)
			pid = (long)harness_int(
			    agentd_array_at(agentd_map_get(a, "instances"), 0),
			    "pid");
	}
	agentd_doc_free(doc);
	nng_msg_free(m);
	return pid;
}

static double cpu_us(long pid);

/*
 * The CPU time (us) of all of agent's instances, and how many are
 * ready in *ready (when not NULL); -1 if status fails.
 */
static double
agent_cpu(const char *agent, int64_t *ready)
{
	agentd_doc         *doc;
	nng_msg            *m;
	const agentd_value *agents;
	double              us = -1;

	if (harness_control(
	        PROG, AD_KIND_CONTROL, "status", NULL, 10000, &doc, &m)
	    != 0)
		return -1;
	agents = agentd_map_get(agentd_doc_root(doc), "agents");
	for (size_t i = 0; i < agentd_len(agents); i++) {
		const agentd_value *a        = agentd_array_at(agents, i);
		const agentd_value *insts    = agentd_map_get(a, "instances");
		char                name[64] = "";

		agentd_get_strcpy(
		    agentd_map_get(a, "name"), name, sizeof(name));
		if (strcmp(name, agent) != 0)
			continue;
		us = 0;
		for (size_t j = 0; j < agentd_len(insts); j++)
			us += cpu_us((long)harness_int(
			    agentd_array_at(insts, j), "pid"));
		if (ready != NULL)
			*ready = harness_int(a, "ready");
	}
	agentd_doc_free(doc);
	nng_msg_free(m);
	return us;
}

static long
rss_kb(long pid)
{
	char  path[64], line[256];
	FILE *f;
	long  kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atol(line + 6);
	fclose(f);
	return kb;
}

/* utime + stime of pid (all its threads), in us. */
static double
cpu_us(long pid)
{
	char               path[64], buf[1024], *p;
	FILE              *f;
	unsigned long long ut = 0, st = 0;
	size_t             n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "(comm)": state is field 3, utime 14 and stime 15 */
	if ((p = strrchr(buf, ')')) == NULL
	    || sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	           &ut, &st)
	        != 2)
		return -1;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static double
field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p != NULL ? atof(p + strlen(key)) : -1;
}

/*
 * bench/llm_raw at fake i with k in flight, its stdout on *out (close
 * it); start_ms: its wait before the first request.  Its pid, or -1.
 */
static pid_t
spawn_raw(int i, int k, double secs, double warm, int start_ms, int *out)
{
	char *prog = ad_xasprintf("%s/bench/llm_raw", harness_builddir);
	char *url  = ad_xasprintf(
	     "http://127.0.0.1:%d/v1/chat/completions", fake_port[i]);
	char  ks[16], d[32], w[32], sd[16];
	char *argv[]
	    = { prog, "-u", url, "-k", ks, "-d", d, "-W", w, "-S", sd, NULL };
	posix_spawn_file_actions_t fa;
	pid_t                      pid;
	int                        fds[2];

	snprintf(ks, sizeof(ks), "%d", k);
	snprintf(d, sizeof(d), "%g", secs);
	snprintf(w, sizeof(w), "%g", warm);
	snprintf(sd, sizeof(sd), "%d", start_ms);
	*out = -1;
	if (pipe(fds) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	if (posix_spawn(&pid, prog, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	free(prog);
	free(url);
	if (pid < 0)
		close(fds[0]);
	else
		*out = fds[0];
	return pid;
}

/* The last "llm way=raw " line on fd (closed), and the exit status of
 * pid: 0, or -1 (nothing printed, or a failure). */
static int
raw_result(pid_t pid, int fd, char *line, size_t size)
{
	FILE *f;
	int   st = -1;

	line[0] = '\0';
	if (fd >= 0 && (f = fdopen(fd, "r")) != NULL) {
		char buf[512];

		while (fgets(buf, sizeof(buf), f) != NULL)
			if (strncmp(buf, "llm way=raw ", 12) == 0)
				snprintf(line, size, "%s", buf);
		fclose(f);
	} else if (fd >= 0)
		close(fd);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return line[0] != '\0' && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0
	                                                                : -1;
}

/* bench/llm_raw against the fast fake, its line parsed. */
static int
run_raw(const struct opts *o, struct row *r)
{
	char   line[512];
	double f0 = cpu_us(fake_pid[0]);
	int    fd;
	pid_t  pid = spawn_raw(0, o->k, o->secs, o->warm, 0, &fd);

	if (raw_result(pid, fd, line, sizeof(line)) != 0) {
		fprintf(stderr, PROG ": bench/llm_raw failed\n");
		return -1;
	}
	memset(r, 0, sizeof(*r));
	r->msgs   = (long)field(line, " msgs=");
	r->rate   = field(line, " rate=");
	r->p50    = field(line, " p50_us=");
	r->p99    = field(line, " p99_us=");
	r->errors = (long)field(line, " errors=");
	r->cpu    = field(line, " cpu_us=");
	/* The fake's CPU over the whole run, warm-up included: per answer
	 * of the window, it slightly overstates. */
	r->fake_cpu = r->msgs > 0 ? (cpu_us(fake_pid[0]) - f0)
	        / ((double)r->msgs * (o->secs + o->warm) / o->secs)
	                          : 0;
	printf("llm way=raw inflight=%d msgs=%ld secs=%g rate=%.0f "
	       "p50_us=%.1f p99_us=%.1f errors=%ld cpu_us=%.1f "
	       "fake_cpu_us=%.1f\n",
	    o->k, r->msgs, o->secs, r->rate, r->p50, r->p99, r->errors, r->cpu,
	    r->fake_cpu);
	fflush(stdout);
	return 0;
}

/* One request to llmgen; its answer's root in *doc (free *doc, *m). */
static int
gen_call(agentd_writer *w, agentd_doc **doc, nng_msg **m)
{
	int rv = harness_control(
	    PROG, AD_KIND_REQUEST, "llmgen", w, 10 * 60 * 1000, doc, m);

	agentd_writer_free(w);
	return rv;
}

static int
run_agentd(const struct opts *o, long pids[3], struct row *r)
{
	agentd_writer      *w;
	agentd_doc         *doc;
	nng_msg            *m;
	const agentd_value *root;
	double              c0[3], f0 = cpu_us(fake_pid[0]), run_s;
	int64_t             t0      = ad_now_ms();
	int                 checked = 0;

	for (int i = 0; i < 3; i++)
		c0[i] = i == 1 ? agent_cpu("llm", NULL) : cpu_us(pids[i]);
	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "op");
	agentd_write_str(w, "run");
	agentd_write_str(w, "agent");
	agentd_write_str(w, "llm");
	agentd_write_str(w, "inflight");
	agentd_write_int(w, o->k);
	agentd_write_str(w, "warm_ms");
	agentd_write_int(w, (int64_t)(o->warm * 1000));
	agentd_write_str(w, "window_ms");
	agentd_write_int(w, (int64_t)(o->secs * 1000));
	if (gen_call(w, &doc, &m) != 0)
		return -1;
	run_s = (double)(ad_now_ms() - t0) / 1000;
	root  = agentd_doc_root(doc);
	memset(r, 0, sizeof(*r));
	r->msgs   = (long)harness_int(root, "msgs");
	r->errors = (long)harness_int(root, "errors");
	r->p50    = (double)harness_int(root, "p50_us");
	r->p99    = (double)harness_int(root, "p99_us");
	r->rate   = (double)r->msgs / o->secs;
	if (agentd_get_bool(agentd_map_get(root, "checked"), &checked) != 0
	    || !checked) {
		fprintf(stderr, PROG ": llm's answer was not the fake's\n");
		r->errors++;
	}
	agentd_doc_free(doc);
	nng_msg_free(m);
	/* CPU over the whole request (warm-up and the drain at the end
	 * too), per answer of the window scaled to that time. */
	if (r->msgs > 0) {
		double per = (double)r->msgs * run_s / o->secs;

		r->sv_cpu   = (cpu_us(pids[0]) - c0[0]) / per;
		r->llm_cpu  = (agent_cpu("llm", NULL) - c0[1]) / per;
		r->gen_cpu  = (cpu_us(pids[2]) - c0[2]) / per;
		r->cpu      = r->sv_cpu + r->llm_cpu + r->gen_cpu;
		r->fake_cpu = (cpu_us(fake_pid[0]) - f0) / per;
	}
	printf("llm way=agentd inflight=%d msgs=%ld secs=%g rate=%.0f "
	       "p50_us=%.1f p99_us=%.1f errors=%ld cpu_us=%.1f "
	       "fake_cpu_us=%.1f sv_cpu_us=%.1f llm_cpu_us=%.1f "
	       "gen_cpu_us=%.1f\n",
	    o->k, r->msgs, o->secs, r->rate, r->p50, r->p99, r->errors, r->cpu,
	    r->fake_cpu, r->sv_cpu, r->llm_cpu, r->gen_cpu);
	fflush(stdout);
	return 0;
}

/* llmgen's {"op": "held"}: answered + errors, or -1. */
static int64_t
held_state(int64_t *answered, int64_t *errors, int64_t *first, int64_t *last)
{
	agentd_writer      *w;
	agentd_doc         *doc;
	nng_msg            *m;
	const agentd_value *root;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "op");
	agentd_write_str(w, "held");
	if (gen_call(w, &doc, &m) != 0)
		return -1;
	root      = agentd_doc_root(doc);
	*answered = harness_int(root, "answered");
	*errors   = harness_int(root, "errors");
	*first    = harness_int(root, "first_ms");
	*last     = harness_int(root, "last_ms");
	agentd_doc_free(doc);
	nng_msg_free(m);
	return *answered + *errors;
}

/*
 * The same number of requests held by bench/llm_raw (one easy handle and
 * connection each) at the slow fake: its VmRSS before the first (its -S
 * wait) and once the fake holds them all; *answered: its answers in a
 * window a little longer than the delay.  Then until the fake holds none.
 */
static int
hold_raw(const struct opts *o, CURL *e, char *buf, long *before, long *peak,
    long *answered)
{
	char  line[512];
	int   fd, seen = 0;
	pid_t pid = spawn_raw(
	    1, o->hold, 0.2 + o->delay_ms * 1.2 / 1000, 0, 500, &fd);
	int64_t end = ad_now_ms() + 10000 + 2 * (int64_t)o->delay_ms;

	*before = *peak = *answered = -1;
	if (pid < 0)
		return -1;
	usleep(250 * 1000);
	*before = rss_kb(pid);
	while (seen < 3 && ad_now_ms() < end) {
		if (fake_held(e, buf) >= o->hold) {
			long rss = rss_kb(pid);

			if (rss > *peak)
				*peak = rss;
			seen++;
		}
		usleep(20 * 1000);
	}
	if (raw_result(pid, fd, line, sizeof(line)) != 0)
		return -1;
	*answered = (long)field(line, " msgs=");
	while (fake_held(e, buf) > 0 && ad_now_ms() < end)
		usleep(20 * 1000);
	return 0;
}

static int
hold(const struct opts *o)
{
	agentd_writer *w;
	agentd_doc    *doc;
	nng_msg       *m;
	char           buf[256];
	CURL          *e   = stats_handle(buf);
	long           pid = agent_pid("llmhold"), before, peak = -1, after;
	long           held_max = 0;
	int64_t started, answered = 0, errors = 0, first = -1, last = -1, end;
	long    r_before, r_peak, r_answered;
	int     rv = 0;

	if (hold_raw(o, e, buf, &r_before, &r_peak, &r_answered) != 0) {
		fprintf(
		    stderr, PROG ": bench/llm_raw -k %d failed\n", o->hold);
		rv = 1;
	}
	printf("llm way=rawhold n=%d delay_ms=%d answered=%ld "
	       "rss_before_kb=%ld rss_hold_kb=%ld bytes_per_request=%.0f\n",
	    o->hold, o->delay_ms, r_answered, r_before, r_peak,
	    (double)(r_peak - r_before) * 1024 / (double)o->hold);

	/* Its first connections and whatever else a first use sets up. */
	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "op");
	agentd_write_str(w, "run");
	agentd_write_str(w, "agent");
	agentd_write_str(w, "llmhold");
	agentd_write_str(w, "inflight");
	agentd_write_int(w, 16);
	agentd_write_str(w, "warm_ms");
	agentd_write_int(w, 0);
	agentd_write_str(w, "window_ms");
	agentd_write_int(w, 1);
	if (gen_call(w, &doc, &m) != 0)
		return -1;
	agentd_doc_free(doc);
	nng_msg_free(m);
	before = rss_kb(pid);
	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "op");
	agentd_write_str(w, "hold");
	agentd_write_str(w, "agent");
	agentd_write_str(w, "llmhold");
	agentd_write_str(w, "n");
	agentd_write_int(w, o->hold);
	if (gen_call(w, &doc, &m) != 0)
		return -1;
	started = harness_int(agentd_doc_root(doc), "started");
	agentd_doc_free(doc);
	nng_msg_free(m);
	end = ad_now_ms() + 60000 + 2 * (int64_t)o->delay_ms;
	while (ad_now_ms() < end) {
		long held, rss;

		held = fake_held(e, buf);
		rss  = rss_kb(pid);
		if (held_state(&answered, &errors, &first, &last) < 0)
			break;
		if (answered + errors == 0 && rss > peak)
			peak = rss;
		if (held > held_max)
			held_max = held;
		if (answered + errors >= started)
			break;
		usleep(20 * 1000);
	}
	after = rss_kb(pid);
	curl_easy_cleanup(e);
	printf("llm way=hold n=%d delay_ms=%d started=%lld answered=%lld "
	       "errors=%lld first_ms=%lld last_ms=%lld fake_held_max=%ld "
	       "rss_before_kb=%ld rss_hold_kb=%ld rss_after_kb=%ld "
	       "bytes_per_request=%.0f\n",
	    o->hold, o->delay_ms, (long long)started, (long long)answered,
	    (long long)errors, (long long)first, (long long)last, held_max,
	    before, peak, after,
	    started > 0 ? (double)(peak - before) * 1024 / (double)started
	                : 0);
	printf("\n%lld requests held by one llm instance (the provider "
	       "answering after %d ms):\n"
	       "%lld sent, %lld answered, %lld failed; the first answer "
	       "after %lld ms, the last after %lld ms; the provider held "
	       "%ld at once.\n"
	       "llm instance VmRSS %ld KiB before, %ld KiB holding them, "
	       "%ld KiB after: %.0f bytes per outstanding request.\n",
	    (long long)o->hold, o->delay_ms, (long long)started,
	    (long long)answered, (long long)errors, (long long)first,
	    (long long)last, held_max, before, peak, after,
	    started > 0 ? (double)(peak - before) * 1024 / (double)started
	                : 0);
	printf("The same %d held by bench/llm_raw (an easy handle and a "
	       "connection each): %ld answered in %g s; its VmRSS %ld KiB "
	       "before, %ld KiB holding them: %.0f bytes per outstanding "
	       "request.\n",
	    o->hold, r_answered, 0.2 + o->delay_ms * 1.2 / 1000, r_before,
	    r_peak, (double)(r_peak - r_before) * 1024 / (double)o->hold);
	if (started != o->hold || answered != o->hold || r_answered < o->hold)
		rv = 1;
	return rv;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	double s[n];

	memcpy(s, v, sizeof(s));
	qsort(s, (size_t)n, sizeof(*s), cmpd);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The median of one double field of n rows. */
static double
col(const struct row *rows, int n, size_t off)
{
	double v[n];

	for (int i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&rows[i] + off, sizeof(double));
	return median(v, n);
}

#define COL(rows, n, f) col((rows), (n), offsetof(struct row, f))

static void
table_head(const struct opts *o)
{
	printf("\n| way (median of %d runs of %g s) | in flight | answers/s "
	       "| p50 ms | p99 ms | CPU us/answer | fake CPU us/answer | "
	       "/raw | added p50 ms |\n",
	    o->runs, o->secs);
	printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
	       "---: |\n");
}

static void
table_rows(
    const struct opts *o, int k, const struct row *raw, const struct row *ag)
{
	int    n = o->runs;
	double ratio[n], added[n];

	for (int i = 0; i < n; i++) {
		ratio[i] = raw[i].rate > 0 ? ag[i].rate / raw[i].rate : 0;
		added[i] = ag[i].p50 - raw[i].p50;
	}
	printf("| raw: libcurl multi -> fake | %d | %.0f | %.2f | %.2f | "
	       "%.1f | %.1f | | |\n",
	    k, COL(raw, n, rate), COL(raw, n, p50) / 1000,
	    COL(raw, n, p99) / 1000, COL(raw, n, cpu), COL(raw, n, fake_cpu));
	printf("| agentd: llmgen -> llm -> fake | %d | %.0f | %.2f | %.2f | "
	       "%.1f | %.1f | **%.2f** | **%.2f** |\n",
	    k, COL(ag, n, rate), COL(ag, n, p50) / 1000,
	    COL(ag, n, p99) / 1000, COL(ag, n, cpu), COL(ag, n, fake_cpu),
	    median(ratio, n), median(added, n) / 1000);
}

static void
table_notes(
    const struct opts *o, int k, const struct row *raw, const struct row *ag)
{
	int    n = o->runs;
	double ratio[n], added[n];

	for (int i = 0; i < n; i++) {
		ratio[i] = raw[i].rate > 0 ? ag[i].rate / raw[i].rate : 0;
		added[i] = ag[i].p50 - raw[i].p50;
	}
	printf("\n%d in flight: agentd's CPU per answer: supervisor %.1f us, "
	       "llm worker %.1f us, llmgen worker %.1f us (medians).\n",
	    k, COL(ag, n, sv_cpu), COL(ag, n, llm_cpu), COL(ag, n, gen_cpu));
	printf("Per run, agentd/raw:");
	for (int i = 0; i < n; i++)
		printf(" %.2f", ratio[i]);
	printf("; added p50 ms:");
	for (int i = 0; i < n; i++)
		printf(" %.2f", added[i] / 1000);
	printf("\nTargets: agentd/raw >= 0.80: %s; added p50 < 1 ms: %s.\n",
	    median(ratio, n) >= 0.8 ? "met" : "NOT met",
	    median(added, n) < 1000 ? "met" : "NOT met");
}

/* Until all -i instances of "llm" are ready (20 s at most). */
static int
wait_llm(const struct opts *o)
{
	int64_t end = ad_now_ms() + 20000, ready = 0;

	while (ad_now_ms() < end) {
		if (agent_cpu("llm", &ready) >= 0 && ready >= o->insts)
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " [-r RUNS] [-d SECONDS] [-W WARMUP_SECONDS] "
	    "[-k \"INFLIGHT...\"] [-n HOLD] [-D DELAY_MS] "
	    "[-t FAKE_THREADS] [-i LLM_INSTANCES]\n");
	exit(2);
}

static int
run(const struct opts *o)
{
	struct row raw[o->nks][o->runs], ag[o->nks][o->runs];
	long       pids[3];
	int        failed = 0;

	pids[0] = (long)harness_agentd;
	pids[1] = agent_pid("llm");
	pids[2] = agent_pid("llmgen");
	for (int i = 0; i < o->runs; i++) {
		for (int j = 0; j < o->nks; j++) {
			struct opts one = *o;
			int         rv;

			one.k = o->ks[j];
			if ((i + j) % 2 == 0)
				rv = run_raw(&one, &raw[j][i])
				    || run_agentd(&one, pids, &ag[j][i]);
			else
				rv = run_agentd(&one, pids, &ag[j][i])
				    || run_raw(&one, &raw[j][i]);
			if (rv != 0)
				return 1;
			failed
			    |= raw[j][i].errors != 0 || ag[j][i].errors != 0;
		}
	}
	table_head(o);
	for (int j = 0; j < o->nks; j++)
		table_rows(o, o->ks[j], raw[j], ag[j]);
	for (int j = 0; j < o->nks; j++)
		table_notes(o, o->ks[j], raw[j], ag[j]);
	fflush(stdout);
	if (o->hold > 0)
		failed |= hold(o);
	return failed;
}

/* "64 1" (spaces or commas) into o->ks; 0 or -1. */
static int
parse_ks(struct opts *o, const char *s)
{
	char *end;

	o->nks = 0;
	while (*s != '\0') {
		long k;

		if (*s == ' ' || *s == ',') {
			s++;
			continue;
		}
		k = strtol(s, &end, 10);
		if (end == s || k < 1 || k > 256
		    || o->nks == (int)(sizeof(o->ks) / sizeof(o->ks[0])))
			return -1;
		o->ks[o->nks++] = (int)k;
		s               = end;
	}
	return o->nks > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct opts o = { .runs = 5,
		.ks             = { 64, 1 },
		.nks            = 2,
		.hold           = 1000,
		.delay_ms       = 1000,
		.threads        = 2,
		.insts          = 1,
		.secs           = 2,
		.warm           = 0.5 };
	const char *env;
	pid_t       pid;
	int         c, rv;

	if ((env = getenv("BENCH_RUNS")) != NULL && *env != '\0')
		o.runs = atoi(env);
	if ((env = getenv("BENCH_SECS")) != NULL && *env != '\0')
		o.secs = atof(env);
	while ((c = getopt(argc, argv, "r:d:W:k:n:D:t:i:")) != -1) {
		switch (c) {
		case 'r':
			o.runs = atoi(optarg);
			break;
		case 'd':
			o.secs = atof(optarg);
			break;
		case 'W':
			o.warm = atof(optarg);
			break;
		case 'k':
			if (parse_ks(&o, optarg) != 0)
				usage();
			break;
		case 'n':
			o.hold = atoi(optarg);
			break;
		case 'D':
			o.delay_ms = atoi(optarg);
			break;
		case 't':
			o.threads = atoi(optarg);
			break;
		case 'i':
			o.insts = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.runs < 1 || o.runs > 100 || o.secs <= 0
	    || o.warm < 0 || o.hold < 0 || o.hold > 60000 || o.delay_ms < 0
	    || o.threads < 1 || o.insts < 1 || o.insts > 16)
		usage();
	if (harness_env(PROG) != 0)
		return 2;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (start_fake(0, &o) != 0 || start_fake(1, &o) != 0) {
		stop_fakes();
		return 1;
	}
	if (write_conf(&o) != 0) {
		fprintf(stderr, PROG ": cannot write the configuration: %s\n",
		    strerror(errno));
		stop_fakes();
		return 1;
	}
	if ((pid = harness_start_logged("warn")) < 0) {
		fprintf(stderr, PROG ": cannot start agentd: %s\n",
		    strerror(errno));
		stop_fakes();
		return 1;
	}
	if (harness_wait_ready(3, 1, 20000) != 0 || wait_llm(&o) != 0) {
		fprintf(stderr, PROG ": agentd did not become ready\n");
		rv = 1;
	} else
		rv = run(&o);
	if (rv != 0)
		harness_log_tail(PROG);
	harness_stop(pid);
	stop_fakes();
	curl_global_cleanup();
	return rv;
}
