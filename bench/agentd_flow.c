/*
 * agentd_flow - `make bench-flow` (bench/README.md, "Workflows"): runs of
 * a 5-step workflow through the flow agent against the same 5 calls made
 * directly by a plugin, in the same agentd, alternating; and the memory
 * of runs waiting in a wait step.
 *
 *   agentd_flow [-n RUNS] [-k INFLIGHT] [-r REPEATS] [-w PARKED]
 *               [-i FLOW_INSTANCES]
 *
 * Starts a real agentd (from $BENCH_BUILDDIR) on a configuration it writes
 * in $BENCH_TMPDIR: agents "echo" (plugins/echo.so), "flow" (plugins/
 * flow.so, with the definitions five.flow and park.flow) and "flowgen"
 * (bench/flowgen.so, the driver), one instance each.  REPEATS times
 * (default 3): RUNS (default 2000) workflow runs with INFLIGHT (default
 * 64) in flight, then RUNS direct chains of the same calls with as many
 * in flight.  Every workflow transition is checkpointed in the flow
 * agent's state before the next call (LMDB, synced), as in production.
 * Then PARKED (default 10000) runs that wait an hour, started in a second
 * flow agent ("parker", the same plugin and definitions, idle until then,
 * so its heap holds nothing the measurements above left): its
 * instance's VmRSS before and after, per run.
 *
 * Prints one line per measurement, then a table of medians:
 *   flow way=flow|direct runs=N inflight=K secs=S rate=R p50_us=X p99_us=Y
 * errors=E flow way=park runs=N secs=S rss_before_kb=A rss_after_kb=B
 * bytes_per_run=C
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "harness.h"

#define PROG "agentd_flow"

struct row {
	double  rate;
	int64_t p50, p99, errors, runs;
	double  secs;
};

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Instances of the flow agent: more than one is for measuring only.
 * Runs are not shared between instances (doc/workflows.md, "Not done"),
 * which is safe here only because the state starts empty (nothing to
 * resume) and nothing reads a run's status. */
static int flow_instances = 1;

static int
write_conf(void)
{
	char *conf = ad_xasprintf("%s/conf", harness_tmpdir);
	char *defs = ad_xasprintf("%s/defs", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", conf);
	char *five = ad_xasprintf("%s/five.flow", defs);
	char *park = ad_xasprintf("%s/park.flow", defs);
	char *text;
	int   rv = 0;

	ad_mkdir_p(conf, 0700);
	ad_mkdir_p(defs, 0755);
	text = ad_xasprintf(
	    "agent \"echo\" { plugin = \"%s/plugins/.libs/echo.so\"\n"
	    "  instances { concurrency = 1024 } }\n"
	    "agent \"flow\" { plugin = \"%s/plugins/.libs/flow.so\"\n"
	    "  calls = { \"echo\", \"flowgen\" }\n"
	    "  paths { read = { \"%s\" } }\n"
	    "  settings { definitions = \"%s\" }\n"
	    "  instances { min = %d max = %d concurrency = 1024 } }\n"
	    "agent \"parker\" { plugin = \"%s/plugins/.libs/flow.so\"\n"
	    "  paths { read = { \"%s\" } }\n"
	    "  settings { definitions = \"%s\" }\n"
	    "  instances { concurrency = 1024 } }\n"
	    "agent \"flowgen\" { plugin = \"%s/bench/.libs/flowgen.so\"\n"
	    "  calls = { \"echo\", \"flowgen\", \"flow\", \"parker\" }\n"
	    "  instances { concurrency = 4096 }\n"
	    "  request_timeout = 30m }\n",
	    harness_builddir, harness_builddir, defs, defs, flow_instances,
	    flow_instances, harness_builddir, defs, defs, harness_builddir);
	if (write_file(path, text) != 0
	    || write_file(five,
	           "step \"s1\" {\n agent = \"echo\"\n input = { \"n = 1\" "
	           "}\n}\n"
	           "step \"s2\" {\n agent = \"echo\"\n input = { \"n = 2\" "
	           "}\n}\n"
	           "step \"s3\" {\n agent = \"echo\"\n input = { \"n = 3\" "
	           "}\n}\n"
	           "step \"s4\" {\n agent = \"echo\"\n input = { \"n = 4\" "
	           "}\n}\n"
	           "step \"s5\" {\n agent = \"flowgen\"\n"
	           " input = { \"op = sink\", \"t0 = $input.t0\" }\n}\n")
	        != 0
	    || write_file(park, "step \"nap\" { wait = 1h }\n") != 0)
		rv = -1;
	free(text);
	free(conf);
	free(defs);
	free(path);
	free(five);
	free(park);
	return rv;
}

static int
measure(const char *op, int64_t runs, int64_t inflight, const char *agent,
    struct row *out)
{
	agentd_writer      *w;
	agentd_doc         *doc;
	nng_msg            *m;
	const agentd_value *root;
	int                 rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "agent");
	agentd_write_str(w, agent);
	agentd_write_str(w, "op");
	agentd_write_str(w, op);
	agentd_write_str(w, "runs");
	agentd_write_int(w, runs);
	agentd_write_str(w, "inflight");
	agentd_write_int(w, inflight);
	rv = harness_control(
	    PROG, AD_KIND_REQUEST, "flowgen", w, 25 * 60 * 1000, &doc, &m);
	agentd_writer_free(w);
	if (rv != 0)
		return -1;
	root        = agentd_doc_root(doc);
	out->runs   = harness_int(root, "runs");
	out->errors = harness_int(root, "errors");
	out->secs   = (double)harness_int(root, "secs_us") / 1e6;
	out->p50    = harness_int(root, "p50_us");
	out->p99    = harness_int(root, "p99_us");
	out->rate   = out->secs > 0 ? (double)out->runs / out->secs : 0;
	agentd_doc_free(doc);
	nng_msg_free(m);
	return 0;
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

/* utime + stime of pid, in ms. */
static double
cpu_ms(long pid)
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
	return (double)(ut + st) * 1000 / (double)sysconf(_SC_CLK_TCK);
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
	qsort(v, (size_t)n, sizeof(*v), cmpd);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " [-n RUNS] [-k INFLIGHT] [-r REPEATS] "
	    "[-w PARKED] [-i FLOW_INSTANCES]\n");
	exit(2);
}

static int
run(int64_t runs, int64_t k, int reps, int64_t parked)
{
	double fr[reps], dr[reps], ratio[reps], f50[reps], f99[reps],
	    d50[reps], d99[reps];
	struct row f, d, p;
	long       pid, before, after;
	double     idle_cpu = 0;
	int        failed   = 0;

	for (int i = 0; i < reps; i++) {
		if (measure("flow", runs, k, "flow", &f) != 0
		    || measure("direct", runs, k, "flow", &d) != 0)
			return 1;
		printf("flow way=flow runs=%lld inflight=%lld secs=%.3f "
		       "rate=%.0f p50_us=%lld p99_us=%lld errors=%lld\n",
		    (long long)f.runs, (long long)k, f.secs, f.rate,
		    (long long)f.p50, (long long)f.p99, (long long)f.errors);
		printf("flow way=direct runs=%lld inflight=%lld secs=%.3f "
		       "rate=%.0f p50_us=%lld p99_us=%lld errors=%lld\n",
		    (long long)d.runs, (long long)k, d.secs, d.rate,
		    (long long)d.p50, (long long)d.p99, (long long)d.errors);
		fflush(stdout);
		failed |= f.errors != 0 || d.errors != 0;
		fr[i]    = f.rate;
		dr[i]    = d.rate;
		ratio[i] = d.rate > 0 ? f.rate / d.rate : 0;
		f50[i]   = (double)f.p50;
		f99[i]   = (double)f.p99;
		d50[i]   = (double)d.p50;
		d99[i]   = (double)d.p99;
	}
	pid    = agent_pid("parker");
	before = rss_kb(pid);
	if (parked > 0 && measure("park", parked, k, "parker", &p) != 0)
		return 1;
	after = rss_kb(pid);
	if (parked > 0) {
		/* The instance's CPU while they wait: a 3 s window. */
		double c0 = cpu_ms(pid);

		sleep(3);
		idle_cpu = (cpu_ms(pid) - c0) / 3;
	}
	if (parked > 0)
		printf("flow way=park runs=%lld secs=%.3f rss_before_kb=%ld "
		       "rss_after_kb=%ld bytes_per_run=%.0f "
		       "cpu_ms_per_s=%.1f\n",
		    (long long)parked, p.secs, before, after,
		    (double)(after - before) * 1024 / (double)parked,
		    idle_cpu);
	printf("\n| way (%lld runs, %lld in flight, median of %d) | runs/s "
	       "| calls/s | p50 ms | p99 ms |\n",
	    (long long)runs, (long long)k, reps);
	printf("| --- | --- | --- | --- | --- |\n");
	printf("| workflow, 5 steps, durable | %.0f | %.0f | %.1f | %.1f |\n",
	    median(fr, reps), 5 * median(fr, reps), median(f50, reps) / 1000,
	    median(f99, reps) / 1000);
	printf("| the same 5 calls, direct | %.0f | %.0f | %.1f | %.1f |\n",
	    median(dr, reps), 5 * median(dr, reps), median(d50, reps) / 1000,
	    median(d99, reps) / 1000);
	printf("| workflow / direct | %.2f | | | |\n", median(ratio, reps));
	if (parked > 0)
		printf("\n%lld runs waiting: flow instance VmRSS %ld -> %ld "
		       "KiB, %.0f bytes per waiting run; its CPU while they "
		       "wait %.1f ms/s\n",
		    (long long)parked, before, after,
		    (double)(after - before) * 1024 / (double)parked,
		    idle_cpu);
	return failed;
}

int
main(int argc, char **argv)
{
	int64_t runs = 2000, k = 64, parked = 10000;
	int     reps = 3, c, rv;
	pid_t   pid;

	while ((c = getopt(argc, argv, "n:k:r:w:i:")) != -1) {
		switch (c) {
		case 'n':
			runs = atoll(optarg);
			break;
		case 'k':
			k = atoll(optarg);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'w':
			parked = atoll(optarg);
			break;
		case 'i':
			flow_instances = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || runs < 1 || k < 1 || reps < 1 || reps > 100
	    || parked < 0 || flow_instances < 1 || flow_instances > 16)
		usage();
	if (harness_env(PROG) != 0)
		return 2;
	if (write_conf() != 0) {
		fprintf(stderr, PROG ": cannot write the configuration: %s\n",
		    strerror(errno));
		return 1;
	}
	if ((pid = harness_start_logged("warn")) < 0) {
		fprintf(stderr, PROG ": cannot start agentd: %s\n",
		    strerror(errno));
		return 1;
	}
	if (harness_wait_ready(4, 1, 20000) != 0) {
		fprintf(stderr, PROG ": agentd did not become ready\n");
		rv = 1;
	} else
		rv = run(runs, k, reps, parked);
	if (rv != 0)
		harness_log_tail(PROG);
	harness_stop(pid);
	return rv;
}
