/*
 * agentd_audit - bench/run's agentd audit rows: durable audit appends from
 * concurrent agents through a real agentd.
 *
 *   agentd_audit [-a AGENTS] [-i INSTANCES] [-o OUTSTANDING] [-d SECONDS]
 *                [-W WARMUP]
 *
 * Starts agentd (from $BENCH_BUILDDIR) on a configuration it writes in
 * $BENCH_TMPDIR: AGENTS agents a1, a2, ..., each running INSTANCES
 * instances of bench/auditgen.so.  Without -o (or -o 0) every instance
 * calls host->audit in a loop (bench/auditgen.c); host->audit returns
 * once agentd has committed the record, so each instance has one append
 * outstanding and there are AGENTS x INSTANCES in all.  With -o N every
 * instance keeps N records outstanding through host->audit_async (the
 * agents' setting outstanding = N), each acknowledgement queueing the
 * next: AGENTS x INSTANCES x N in all.  One request per instance, sent at
 * once from as many threads through agentd's control socket, sets the
 * same window for all: WARMUP seconds not counted, then SECONDS counted.
 *
 * Group commit: while the window runs, agentd's LMDB environment is read
 * at the window's two ends (bench/gendrive.c): the records added over
 * the transactions committed are the records per transaction of agentd's
 * writer (nothing else writes during the window).
 *
 * Prints one line (bench/README.md):
 *
 *   audit way=agentd conf=AxI clients=A*I recs=N secs=S rate=R
 *       p50_us=X p99_us=Y per_txn=Z errors=E sv_cpu_us=C all_cpu_us=D
 *   audit way=async conf=AxI/N clients=A*I*N ...   (with -o N)
 *
 * latency: from the plugin's host->audit call to its return, or from its
 * host->audit_async call to the record's callback, measured in the
 * plugin, over every append of every instance (their histograms are
 * added).  per_txn is "-" when the environment could not be read.
 * sv_cpu_us: agentd's CPU time over the counted window per record
 * counted; all_cpu_us: the machine's (every CPU's busy time: agentd, its
 * workers, this program and anything else running) per record.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditrec.h"
#include "gendrive.h"
#include "harness.h"

static int    nagents = 8, ninst = 1, outstanding = 0;
static double secs = 2, warm = 0.2;

static int
run(const struct gendrive_conf *c, pid_t agentd)
{
	int64_t appending
	    = (int64_t)nagents * ninst * (outstanding ? outstanding : 1);
	struct gendrive_result *r = calloc(1, sizeof(*r));
	char per_txn[32] = "-", conf_n[16] = "", sv[32], all[32];
	int  rv = 1;

	if (r == NULL)
		return 1;
	if (gendrive_window("agentd_audit", c, agentd, "audit", warm, secs, r)
	    == 0) {
		if (r->per_txn >= 0)
			snprintf(per_txn, sizeof(per_txn), "%.2f", r->per_txn);
		if (outstanding > 0)
			snprintf(conf_n, sizeof(conf_n), "/%d", outstanding);
		printf("audit way=%s conf=%dx%d%s clients=%lld recs=%lld "
		       "secs=%.3f rate=%.0f p50_us=%.1f p99_us=%.1f "
		       "per_txn=%s errors=%lld sv_cpu_us=%s all_cpu_us=%s\n",
		    outstanding > 0 ? "async" : "agentd", nagents, ninst,
		    conf_n, (long long)appending, (long long)r->recs, secs,
		    (double)r->recs / secs, auditrec_hist_pct(r->hist, 0.50),
		    auditrec_hist_pct(r->hist, 0.99), per_txn,
		    (long long)r->errors,
		    gendrive_per_op(sv, sizeof(sv), r->sv_cpu_us, r->recs),
		    gendrive_per_op(all, sizeof(all), r->all_cpu_us, r->recs));
		rv = 0;
	}
	free(r);
	return rv;
}

int
main(int argc, char **argv)
{
	struct gendrive_conf conf = { 0 };
	char                 settings[64];
	pid_t                pid;
	int                  c, rv;

	while ((c = getopt(argc, argv, "a:i:o:d:W:")) != -1) {
		switch (c) {
		case 'a':
			nagents = atoi(optarg);
			break;
		case 'i':
			ninst = atoi(optarg);
			break;
		case 'o':
			outstanding = atoi(optarg);
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
	if (optind != argc || nagents < 1 || nagents > 1000 || ninst < 1
	    || ninst > 1000 || outstanding < 0 || outstanding > 65536
	    || secs <= 0 || warm < 0)
		goto usage;
	if (harness_env("agentd_audit") != 0)
		return 2;
	snprintf(settings, sizeof(settings), "outstanding = %d", outstanding);
	conf.prefix   = "a";
	conf.nagents  = nagents;
	conf.ninst    = ninst;
	conf.plugin   = "auditgen";
	conf.settings = settings;
	conf.extra    = NULL;
	if ((pid = gendrive_start("agentd_audit", &conf)) < 0)
		return 1;
	rv = run(&conf, pid);
	gendrive_stop("agentd_audit", pid);
	return rv;
usage:
	fprintf(stderr,
	    "usage: agentd_audit [-a AGENTS] [-i INSTANCES] [-o OUTSTANDING] "
	    "[-d SECONDS] [-W WARMUP]\n");
	return 2;
}
