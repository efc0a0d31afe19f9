/*
 * agentd_policy - bench/run's policy-gate rows: proposals through a real
 * agentd's policy gate, against audit_async appends in the same run, and
 * the gate with many decisions pending.
 *
 *   agentd_policy rate [-a AGENTS] [-o OUTSTANDING] [-d SECONDS]
 *                      [-W WARMUP]
 *   agentd_policy pending [-H HOLDERS] [-n PER_AGENT] [-r REPEATS]
 *                         [-a AGENTS] [-o OUTSTANDING] [-d SECONDS]
 *                         [-W WARMUP]
 *
 * Defaults: 8 agents, 64 outstanding, 1 holder of 10 000, 7 repeats, 2 s
 * after 0.2 s of warm-up.
 *
 * rate: two measurements, one after the other, each on an agentd of its
 * own (in $BENCH_TMPDIR/audit and $BENCH_TMPDIR/policy):
 *   1. the audit_async row: bench/agentd_audit -a AGENTS -i 1 -o
 *      OUTSTANDING, run as it is; its line is printed as it is;
 *   2. AGENTS agents p1, p2, ... of 1 instance of bench/proposegen.so,
 *      each keeping OUTSTANDING LOW proposals in flight with
 *      host->propose_async, each ending with its decision event
 *      (bench/proposegen.c); one window as in bench/agentd_audit
 *      (bench/gendrive.c).  One instance per agent: the outcome of a
 *      decision goes to any ready instance of the agent, and the plugin
 *      matches it with its own proposals.
 * and prints
 *
 *   audit way=async conf=Ax1/N ...          (bench/agentd_audit's line)
 *   policy way=low conf=Ax1/N clients=A*N decisions=D secs=S rate=R
 *       committed=C p50_us=X p99_us=Y ack_p50_us=X ack_p99_us=Y recs_per=Q
 *       per_txn=Z errors=E sv_cpu_us=C all_cpu_us=U audit_rate=R2
 *       audit_p50_us=X2 audit_p99_us=Y2 audit_per_txn=Z2
 *       audit_sv_cpu_us=C2 audit_all_cpu_us=U2 ratio=Q2
 *
 * rate: the decisions counted by the plugins (proposed in the window
 * and their event in it, as the audit row counts its records) per
 * second; committed: the decisions agentd added to its store in the
 * window, per second (with a latency that is not small against the
 * window, rate counts fewer: those proposed near its end are not
 * counted).
 * p50/p99: from the propose_async call to the decision event in on_event;
 * ack_: to propose_async's callback (agentd's answer with the id, after
 * the commit of the proposal, which is its approval); recs_per: audit
 * records over decisions added to agentd's store in the window (agentd
 * writes one decision.proposed per LOW decision, and one
 * decision.delivered per batch of outcomes an instance took); per_txn: audit
 * records per LMDB transaction; sv_cpu_us and all_cpu_us: agentd's CPU time
 * and every CPU's busy time over the window per decision (the audit_ ones per
 * record, from the audit line); ratio: this rate over the audit_async row's.
 *
 * pending: one agentd with HOLDERS agents h1, h2, ... and AGENTS agents
 * p1, p2, ... (none with -d 0), each of 1 instance of
 * bench/proposegen.so.  It times `agentctl approvals` with nothing
 * pending, measures LOW proposals of the p agents for SECONDS (as in
 * rate), reads agentd's resident memory, has each holder make
 * PER_AGENT HIGH proposals at once (op "hold"), which stay pending,
 * reads agentd's memory again, checks that the control operation
 * "approvals" lists them all, measures LOW proposals again with them
 * pending, then times `agentctl approvals` and `agentctl --json
 * approvals` (the build's, output to a file: its first page, 100) and
 * the control operation "approvals" alone (this program's request, the
 * reply decoded, not printed; agentd's default page), then `agentctl
 * approvals --limit 0` and the operation with limit 0 (all of them),
 * REPEATS times each, alternating, and prints
 *
 *   pending way=agentd holders=H per_agent=N pending=P hold_ms=T
 *       rss0_kb=K0 rss1_kb=K1 rss2_kb=K2 growth_kb=G anon0_kb=A0
 *       anon1_kb=A1 anon2_kb=A2 anon_growth_kb=AG file_growth_kb=FG
 *       bytes_per=B list0_ms=L0 list_ms=L json_ms=J op_ms=O listed=N
 *       all_ms=LA op_all_ms=OA all_bytes=AB text_bytes=T json_bytes=U
 *       low_agents=A low_outstanding=K
 *       low0_rate=R0 low_rate=R1 low0_p99_us=Y0 low_p99_us=Y1
 *       low0_errors=E0 low_errors=E1
 *
 * rss (VmRSS), anon (RssAnon: agentd's own memory) and file (RssFile:
 * mapped files, mostly the LMDB environment's pages) in KiB: 0 before
 * the holds (after the first LOW window), 1 once the P are pending, 2
 * after the listings; growth = 1 - 0, bytes_per = the VmRSS growth / P;
 * hold_ms from the holds' start to the last one answered (every
 * proposal committed); list0_ms: `agentctl approvals` with nothing
 * pending; listed: the decisions a default listing shows; all_ms,
 * op_all_ms and all_bytes: the same for all P (--limit 0); times are
 * medians over REPEATS; low0 with nothing pending,
 * low with the P pending ("-" with -d 0).  An agent may have
 * `max_pending` decisions pending (1000 by default; POLICY_CONF raises it
 * to 65536, the plugin's most), and one that has them is refused every
 * proposal, LOW ones too: so the LOW proposals come from agents of their
 * own.  P = HOLDERS x PER_AGENT may also be spread over several
 * holders.
 *
 * Exit 0 when measured; 1 on a failure.  Everything runs in
 * $BENCH_TMPDIR; the build is $BENCH_BUILDDIR.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auditrec.h"
#include "bus/envelope.h"
#include "common/util.h"
#include "gendrive.h"
#include "harness.h"

extern char **environ;

/* The configuration's policy, in one place: "low..." types are LOW,
 * anything else ("hold.bench") HIGH by the fail-closed default; an agent
 * may hold as many pending as proposegen's hold makes at most. */
/* agentd's page of approvals, when the request names no limit. */
#define APPROVALS_PAGE 100

#define POLICY_CONF                                                           \
	"policy { max_pending = 65536\n"                                      \
	"  rule \"bench\" { type = { \"low\" } risk = low } }\n"

static const char *prog    = "agentd_policy";
static int         nagents = 8, outstanding = 64, per_agent = 10000;
static int         holders = 1;
static int         repeats = 7;
static double      secs = 2, warm = 0.2;

/* n agents PREFIX1.. of 1 instance of proposegen, k outstanding. */
static void
conf_init(struct gendrive_conf *c, char *settings, size_t len,
    const char *prefix, int n, int k)
{
	snprintf(settings, len, "outstanding = %d", k);
	c->prefix   = prefix;
	c->nagents  = n;
	c->ninst    = 1;
	c->plugin   = "proposegen";
	c->settings = settings;
	c->extra    = POLICY_CONF;
	c->more     = NULL;
}

/* key=VALUE of a result line, into out ("-" when absent). */
static const char *
field(const char *line, const char *key, char *out, size_t len)
{
	size_t      kl = strlen(key);
	const char *p  = line;

	snprintf(out, len, "-");
	while ((p = strstr(p, key)) != NULL) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			snprintf(out, len, "%.*s",
			    (int)strcspn(p + kl + 1, " \n"), p + kl + 1);
			break;
		}
		p += kl;
	}
	return out;
}

/* ---- rate: the audit_async row, then the LOW proposals -------------- */

/* bench/agentd_audit's line for the same agents, into line. */
static int
audit_row(char *line, size_t len)
{
	char *tmp = ad_xasprintf("%s/audit", harness_tmpdir);
	char *bin = ad_xasprintf("%s/bench/agentd_audit", harness_builddir);
	char *cmd = ad_xasprintf("BENCH_TMPDIR='%s' '%s' -a %d -i 1 -o %d "
	                         "-d %g -W %g",
	    tmp, bin, nagents, outstanding, secs, warm);
	char  buf[1024];
	FILE *f;
	int   found = 0;

	ad_mkdir_p(tmp, 0700);
	if ((f = popen(cmd, "r")) != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL)
			if (strncmp(buf, "audit way=async ", 16) == 0) {
				snprintf(line, len, "%s", buf);
				found = 1;
			}
		if (pclose(f) != 0)
			found = 0;
	}
	if (!found)
		fprintf(stderr, "%s: %s failed\n", prog, cmd);
	free(tmp);
	free(bin);
	free(cmd);
	return found ? 0 : -1;
}

/* One window of LOW proposals in the running agentd: r filled. */
static int
low_window(const struct gendrive_conf *c, pid_t pid, struct gendrive_result *r)
{
	return gendrive_window(prog, c, pid, "propose", warm, secs, r);
}

static int
run_rate(void)
{
	struct gendrive_conf    c;
	struct gendrive_result *r = calloc(1, sizeof(*r));
	char                    settings[64], aline[1024], f1[32], f2[32];
	char                    f3[32], f4[32], f5[32], f6[32], sv[32];
	char                    all[32], per[32], comm[32];
	const char             *base = harness_tmpdir;
	double                  arate;
	pid_t                   pid;
	int                     rv = 1;

	if (r == NULL || audit_row(aline, sizeof(aline)) != 0)
		goto out;
	fputs(aline, stdout);
	fflush(stdout);
	harness_tmpdir = ad_xasprintf("%s/policy", base);
	conf_init(&c, settings, sizeof(settings), "p", nagents, outstanding);
	if ((pid = gendrive_start(prog, &c)) < 0)
		goto out;
	if (low_window(&c, pid, r) == 0) {
		arate = atof(field(aline, "rate", f1, sizeof(f1)));
		snprintf(per, sizeof(per), "-");
		snprintf(comm, sizeof(comm), "-");
		if (r->decisions >= 0)
			snprintf(comm, sizeof(comm), "%.0f",
			    (double)r->decisions / secs);
		if (r->audit_recs >= 0 && r->decisions > 0)
			snprintf(per, sizeof(per), "%.2f",
			    (double)r->audit_recs / (double)r->decisions);
		printf("policy way=low conf=%dx1/%d clients=%lld "
		       "decisions=%lld secs=%.3f rate=%.0f committed=%s "
		       "p50_us=%.1f "
		       "p99_us=%.1f ack_p50_us=%.1f ack_p99_us=%.1f "
		       "recs_per=%s per_txn=%.2f errors=%lld sv_cpu_us=%s "
		       "all_cpu_us=%s audit_rate=%.0f audit_p50_us=%s "
		       "audit_p99_us=%s audit_per_txn=%s audit_sv_cpu_us=%s "
		       "audit_all_cpu_us=%s ratio=%.3f\n",
		    nagents, outstanding, (long long)nagents * outstanding,
		    (long long)r->recs, secs, (double)r->recs / secs, comm,
		    auditrec_hist_pct(r->hist, 0.50),
		    auditrec_hist_pct(r->hist, 0.99),
		    auditrec_hist_pct(r->hist2, 0.50),
		    auditrec_hist_pct(r->hist2, 0.99), per, r->per_txn,
		    (long long)r->errors,
		    gendrive_per_op(sv, sizeof(sv), r->sv_cpu_us, r->recs),
		    gendrive_per_op(all, sizeof(all), r->all_cpu_us, r->recs),
		    arate, field(aline, "p50_us", f5, sizeof(f5)),
		    field(aline, "p99_us", f2, sizeof(f2)),
		    field(aline, "per_txn", f6, sizeof(f6)),
		    field(aline, "sv_cpu_us", f3, sizeof(f3)),
		    field(aline, "all_cpu_us", f4, sizeof(f4)),
		    arate > 0 ? (double)r->recs / secs / arate : 0.0);
		rv = 0;
	}
	gendrive_stop(prog, pid);
out:
	free(r);
	return rv;
}

/* ---- pending: many HIGH decisions waiting ------------------------------ */

struct holder {
	pthread_t t;
	char      agent[16];
	int64_t   ok, errors;
	char      error[32];
	int       answered;
};

static void *
holder_main(void *arg)
{
	struct holder *h = arg;
	agentd_writer *w;
	agentd_doc    *doc;
	nng_msg       *m;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "op");
	agentd_write_str(w, "hold");
	agentd_write_str(w, "n");
	agentd_write_int(w, per_agent);
	if (harness_control(
	        prog, AD_KIND_REQUEST, h->agent, w, 120000, &doc, &m)
	    == 0) {
		const agentd_value *root = agentd_doc_root(doc);

		h->ok     = harness_int(root, "ok");
		h->errors = harness_int(root, "errors");
		agentd_get_strcpy(
		    agentd_map_get(root, "error"), h->error, sizeof(h->error));
		h->answered = 1;
		agentd_doc_free(doc);
		nng_msg_free(m);
	}
	agentd_writer_free(w);
	return NULL;
}

/* Every agent's hold at once; the number made pending, or -1. */
static int64_t
hold_all(void)
{
	struct holder *hs = calloc((size_t)holders, sizeof(*hs));
	int64_t        n  = 0;
	int            i;

	for (i = 0; i < holders; i++) {
		snprintf(hs[i].agent, sizeof(hs[i].agent), "h%d", i + 1);
		if (pthread_create(&hs[i].t, NULL, holder_main, &hs[i]) != 0)
			exit(1);
	}
	for (i = 0; i < holders; i++) {
		pthread_join(hs[i].t, NULL);
		if (!hs[i].answered || hs[i].errors > 0) {
			fprintf(stderr,
			    "%s: %s: %lld of %d proposals refused (%s)\n",
			    prog, hs[i].agent, (long long)hs[i].errors,
			    per_agent,
			    hs[i].answered ? hs[i].error : "no answer");
			n = -1;
		} else if (n >= 0) {
			n += hs[i].ok;
		}
	}
	free(hs);
	return n;
}

/* The control operation "approvals" (with limit >= 0 the body {"limit":
 * limit}, else none: agentd's default): the decisions listed, or -1. */
static int64_t
approvals_op(int64_t limit, int64_t *us)
{
	agentd_writer *w = NULL;
	agentd_doc    *doc;
	nng_msg       *m;
	int64_t        t0, n;
	int            rv;

	if (limit >= 0) {
		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "limit");
		agentd_write_int(w, limit);
	}
	t0 = ad_now_us();
	rv = harness_control(
	    prog, AD_KIND_CONTROL, "approvals", w, 60000, &doc, &m);
	agentd_writer_free(w);
	if (rv != 0)
		return -1;
	*us = ad_now_us() - t0;
	n   = (int64_t)agentd_len(
	      agentd_map_get(agentd_doc_root(doc), "approvals"));
	agentd_doc_free(doc);
	nng_msg_free(m);
	return n;
}

/* agentctl [--json] approvals [--limit 0], its output into TMPDIR/out:
 * wall time in microseconds and the output's size, or -1. */
static int64_t
agentctl_us(int json, int all, long *bytes)
{
	char *ctl = ad_xasprintf("%s/runtime/agentctl", harness_builddir);
	char *run = ad_xasprintf("%s/run", harness_tmpdir);
	char *out = ad_xasprintf("%s/out", harness_tmpdir);
	char *argv[8], **a = argv;
	posix_spawn_file_actions_t fa;
	struct stat                st;
	int64_t                    t0, us = -1;
	pid_t                      pid;
	int                        status;

	*a++ = ctl;
	*a++ = "--run-dir";
	*a++ = run;
	if (json)
		*a++ = "--json";
	*a++ = "approvals";
	if (all) {
		*a++ = "--limit";
		*a++ = "0";
	}
	*a = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	t0 = ad_now_us();
	if (posix_spawn(&pid, ctl, &fa, NULL, argv, environ) == 0
	    && waitpid(pid, &status, 0) == pid) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			us = ad_now_us() - t0;
		else
			fprintf(stderr, "%s: agentctl%s approvals failed\n",
			    prog, json ? " --json" : "");
	}
	posix_spawn_file_actions_destroy(&fa);
	*bytes = stat(out, &st) == 0 ? (long)st.st_size : -1;
	free(ctl);
	free(run);
	free(out);
	return us;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The median of n times (sorted in place), milliseconds. */
static double
median_ms(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	return (n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0)
	    / 1000.0;
}

/* A LOW window of c's agents: its rate, p99 and errors into the three
 * strings ("-" when not run). */
static int
low_fields(const struct gendrive_conf *c, pid_t pid, char *rate, char *p99,
    char *errors, size_t len)
{
	struct gendrive_result *r;

	snprintf(rate, len, "-");
	snprintf(p99, len, "-");
	snprintf(errors, len, "-");
	if (c == NULL)
		return 0;
	if ((r = calloc(1, sizeof(*r))) == NULL
	    || low_window(c, pid, r) != 0) {
		free(r);
		return -1;
	}
	snprintf(rate, len, "%.0f", (double)r->recs / secs);
	snprintf(p99, len, "%.1f", auditrec_hist_pct(r->hist, 0.99));
	snprintf(errors, len, "%lld", (long long)r->errors);
	free(r);
	return 0;
}

static int
run_pending(void)
{
	struct gendrive_conf low, hold, *lowp = secs > 0 ? &low : NULL;
	char                 lset[64], hset[64], r0[32], r1[32], y0[32];
	char                 y1[32], e0[32], e1[32];
	int64_t             *list  = calloc((size_t)repeats, sizeof(int64_t));
	int64_t             *json  = calloc((size_t)repeats, sizeof(int64_t));
	int64_t             *op    = calloc((size_t)repeats, sizeof(int64_t));
	int64_t             *list0 = calloc((size_t)repeats, sizeof(int64_t));
	int64_t             *lall  = calloc((size_t)repeats, sizeof(int64_t));
	int64_t             *opall = calloc((size_t)repeats, sizeof(int64_t));
	int64_t              n, t0, hold_us, us, page;
	long  rss0, rss1, rss2, anon0, anon1, anon2, file0, file1;
	long  tbytes = -1, jbytes = -1, abytes = -1, b;
	pid_t pid;
	int   i, rv = 1;

	/* The holders h1..hH, and the LOW proposers p1..pA beside them
	 * (agents of their own: an agent with max_pending decisions pending
	 * has its proposals refused, LOW ones too). */
	conf_init(&hold, hset, sizeof(hset), "h", holders, 1);
	conf_init(&low, lset, sizeof(lset), "p", nagents, outstanding);
	hold.more = lowp;
	if ((pid = gendrive_start(prog, &hold)) < 0)
		goto out;
	for (i = 0; i < repeats; i++)
		if ((list0[i] = agentctl_us(0, 0, &b)) < 0)
			goto stop;
	if (low_fields(lowp, pid, r0, y0, e0, sizeof(r0)) != 0)
		goto stop;
	usleep(500 * 1000); /* the last LOW outcomes delivered */
	rss0  = gendrive_rss_kb(pid, "VmRSS");
	anon0 = gendrive_rss_kb(pid, "RssAnon");
	file0 = gendrive_rss_kb(pid, "RssFile");
	t0    = ad_now_us();
	if ((n = hold_all()) < 0)
		goto stop;
	hold_us = ad_now_us() - t0;
	usleep(500 * 1000);
	rss1  = gendrive_rss_kb(pid, "VmRSS");
	anon1 = gendrive_rss_kb(pid, "RssAnon");
	file1 = gendrive_rss_kb(pid, "RssFile");
	if ((page = approvals_op(0, &us)) != n) {
		fprintf(stderr,
		    "%s: approvals lists %lld, not the %lld pending\n", prog,
		    (long long)page, (long long)n);
		goto stop;
	}
	/* What a listing shows by default: the first page. */
	page = n < APPROVALS_PAGE ? n : APPROVALS_PAGE;
	if (low_fields(lowp, pid, r1, y1, e1, sizeof(r1)) != 0)
		goto stop;
	for (i = 0; i < repeats; i++) {
		if ((list[i] = agentctl_us(0, 0, &tbytes)) < 0
		    || (json[i] = agentctl_us(1, 0, &jbytes)) < 0
		    || approvals_op(-1, &op[i]) != page
		    || (lall[i] = agentctl_us(0, 1, &abytes)) < 0
		    || approvals_op(0, &opall[i]) != n)
			goto stop;
	}
	rss2  = gendrive_rss_kb(pid, "VmRSS");
	anon2 = gendrive_rss_kb(pid, "RssAnon");
	printf("pending way=agentd holders=%d per_agent=%d pending=%lld "
	       "hold_ms=%.0f rss0_kb=%ld rss1_kb=%ld rss2_kb=%ld "
	       "growth_kb=%ld anon0_kb=%ld anon1_kb=%ld anon2_kb=%ld "
	       "anon_growth_kb=%ld file_growth_kb=%ld bytes_per=%.0f "
	       "list0_ms=%.1f list_ms=%.1f json_ms=%.1f op_ms=%.1f "
	       "listed=%lld all_ms=%.1f op_all_ms=%.1f all_bytes=%ld "
	       "text_bytes=%ld json_bytes=%ld low_agents=%d "
	       "low_outstanding=%d low0_rate=%s low_rate=%s "
	       "low0_p99_us=%s low_p99_us=%s low0_errors=%s "
	       "low_errors=%s\n",
	    holders, per_agent, (long long)n, hold_us / 1000.0, rss0, rss1,
	    rss2, rss1 - rss0, anon0, anon1, anon2, anon1 - anon0,
	    file1 - file0, (double)(rss1 - rss0) * 1024 / (double)n,
	    median_ms(list0, repeats), median_ms(list, repeats),
	    median_ms(json, repeats), median_ms(op, repeats), (long long)page,
	    median_ms(lall, repeats), median_ms(opall, repeats), abytes,
	    tbytes, jbytes, lowp != NULL ? nagents : 0, outstanding, r0, r1,
	    y0, y1, e0, e1);
	rv = 0;
stop:
	gendrive_stop(prog, pid);
out:
	free(list);
	free(json);
	free(op);
	free(list0);
	free(lall);
	free(opall);
	return rv;
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int         c, pending;

	if (strcmp(mode, "rate") != 0 && strcmp(mode, "pending") != 0)
		goto usage;
	pending = mode[0] == 'p';
	optind  = 2;
	while ((c = getopt(argc, argv, "a:o:H:n:r:d:W:")) != -1) {
		switch (c) {
		case 'H':
			if (!pending)
				goto usage;
			holders = atoi(optarg);
			break;
		case 'a':
			nagents = atoi(optarg);
			break;
		case 'o':
			outstanding = atoi(optarg);
			break;
		case 'n':
			per_agent = atoi(optarg);
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'W':
			warm = atof(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || nagents < 1 || nagents > 1000 || holders < 1
	    || holders > 1000 || outstanding < 1 || outstanding > 65536
	    || per_agent < 1 || per_agent > 65536 || repeats < 1
	    || repeats > 1000 || secs < 0 || (!pending && secs == 0)
	    || warm < 0)
		goto usage;
	if (harness_env(prog) != 0)
		return 2;
	return pending ? run_pending() : run_rate();
usage:
	fprintf(stderr,
	    "usage: agentd_policy rate [-a AGENTS] [-o OUTSTANDING] "
	    "[-d SECONDS] [-W WARMUP]\n"
	    "       agentd_policy pending [-H HOLDERS] [-n PER_AGENT] "
	    "[-r REPEATS] [-a AGENTS] [-o OUTSTANDING] [-d SECONDS] "
	    "[-W WARMUP]\n");
	return 2;
}
