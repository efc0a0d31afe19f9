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
 * Group commit: while the window runs, this program reads, from agentd's
 * LMDB environment opened read-only beside it, the last transaction id
 * and the number of audit records at the window's two ends; their ratio
 * is the records per transaction of agentd's writer (nothing else writes
 * during the window).
 *
 * Prints one line (bench/README.md):
 *
 *   audit way=agentd conf=AxI clients=A*I recs=N secs=S rate=R
 *       p50_us=X p99_us=Y per_txn=Z errors=E
 *   audit way=async conf=AxI/N clients=A*I*N ...   (with -o N)
 *
 * latency: from the plugin's host->audit call to its return, or from its
 * host->audit_async call to the record's callback, measured in the
 * plugin, over every append of every instance (their histograms are
 * added).  per_txn is "-" when the environment could not be read.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "auditrec.h"
#include "bus/envelope.h"
#include "common/nngx.h"
#include "common/util.h"
#include "harness.h"

static int    nagents = 8, ninst = 1, outstanding = 0;
static double secs = 2, warm = 0.2;

static void
sleep_until_us(int64_t t)
{
	int64_t d;

	while ((d = t - ad_now_us()) > 0) {
		struct timespec ts
		    = { (time_t)(d / 1000000), (long)(d % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
}

static int
write_conf(void)
{
	char *dir  = ad_xasprintf("%s/conf", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", dir);
	char *so
	    = ad_xasprintf("%s/bench/.libs/auditgen.so", harness_builddir);
	FILE *f;
	int   i;

	ad_mkdir_p(dir, 0700);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	for (i = 1; i <= nagents; i++)
		fprintf(f,
		    "agent \"a%d\" { plugin = \"%s\" request_timeout = 10m\n"
		    "  instances { min = %d max = %d }\n"
		    "  settings { outstanding = %d } }\n",
		    i, so, ninst, ninst, outstanding);
	fclose(f);
	free(dir);
	free(path);
	free(so);
	return 0;
}

/* ---- agentd's LMDB environment, read-only, beside agentd ------------ */

struct point {
	int      ok;
	uint64_t txnid, entries;
};

static MDB_env *
env_open(void)
{
	char    *db = ad_xasprintf("%s/state/db", harness_tmpdir);
	MDB_env *env;
	int      rc;

	if ((rc = mdb_env_create(&env)) == 0
	    && (rc = mdb_env_set_maxdbs(env, 16)) == 0
	    && (rc = mdb_env_set_maxreaders(env, 1022)) == 0
	    && (rc = mdb_env_open(env, db, MDB_RDONLY | MDB_NOTLS, 0600))
	        != 0) {
		mdb_env_close(env);
	}
	if (rc != 0) {
		fprintf(stderr, "agentd_audit: cannot read %s: %s\n", db,
		    mdb_strerror(rc));
		env = NULL;
	}
	free(db);
	return env;
}

static struct point
env_point(MDB_env *env)
{
	struct point p = { 0, 0, 0 };
	MDB_txn     *txn;
	MDB_dbi      dbi;
	MDB_stat     st;
	int          rc;

	if (env == NULL)
		return p;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
	        == MDB_MAP_RESIZED
	    && (rc = mdb_env_set_mapsize(env, 0)) == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return p;
	if (mdb_dbi_open(txn, "audit", 0, &dbi) == 0
	    && mdb_stat(txn, dbi, &st) == 0) {
		p.txnid   = (uint64_t)mdb_txn_id(txn);
		p.entries = st.ms_entries;
		p.ok      = 1;
	}
	mdb_txn_abort(txn);
	return p;
}

/* ---- the appenders ---------------------------------------------------- */

struct appender {
	pthread_t t;
	char      agent[16];
	int64_t   begin, from, until;
	int       ok;
	int64_t   recs, errors;
	uint64_t *hist;
};

static void *
appender_main(void *arg)
{
	struct appender *a = arg;
	agentd_writer   *w;
	agentd_doc      *doc;
	nng_msg         *m;
	const void      *h;
	size_t           hl, b;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "op");
	agentd_write_str(w, "audit");
	agentd_write_str(w, "begin_us");
	agentd_write_int(w, a->begin);
	agentd_write_str(w, "from_us");
	agentd_write_int(w, a->from);
	agentd_write_str(w, "until_us");
	agentd_write_int(w, a->until);
	if (harness_control("agentd_audit", AD_KIND_REQUEST, a->agent, w,
	        (a->until - ad_now_us()) / 1000 + 60000, &doc, &m)
	    == 0) {
		const agentd_value *root = agentd_doc_root(doc);

		a->recs   = harness_int(root, "recs");
		a->errors = harness_int(root, "errors");
		if (agentd_get_bin(agentd_map_get(root, "hist"), &h, &hl) == 0
		    && hl == AUDITREC_HIST_N * 4) {
			const unsigned char *p = h;

			for (b = 0; b < AUDITREC_HIST_N; b++)
				a->hist[b] = (uint64_t)p[4 * b]
				    | (uint64_t)p[4 * b + 1] << 8
				    | (uint64_t)p[4 * b + 2] << 16
				    | (uint64_t)p[4 * b + 3] << 24;
			a->ok = 1;
		}
		agentd_doc_free(doc);
		nng_msg_free(m);
	}
	agentd_writer_free(w);
	return NULL;
}

static int
run(void)
{
	int     n = nagents * ninst, i, b, ok = 1;
	int64_t appending   = (int64_t)n * (outstanding ? outstanding : 1);
	struct appender *ap = calloc((size_t)n, sizeof(*ap));
	uint64_t         hist[AUDITREC_HIST_N] = { 0 };
	int64_t          recs = 0, errors = 0, begin, from, until;
	MDB_env         *env = env_open();
	struct point     p0, p1;
	char             per_txn[32] = "-", conf_n[16] = "";

	/* Time for every thread to reach its instance before the start. */
	begin = ad_now_us() + 300000 + 2000 * n;
	from  = begin + (int64_t)(warm * 1e6);
	until = from + (int64_t)(secs * 1e6);
	for (i = 0; i < n; i++) {
		snprintf(
		    ap[i].agent, sizeof(ap[i].agent), "a%d", i % nagents + 1);
		ap[i].begin = begin;
		ap[i].from  = from;
		ap[i].until = until;
		ap[i].hist  = calloc(AUDITREC_HIST_N, sizeof(uint64_t));
		if (pthread_create(&ap[i].t, NULL, appender_main, &ap[i])
		    != 0) {
			fprintf(stderr, "agentd_audit: pthread_create\n");
			return 1;
		}
	}
	sleep_until_us(from);
	p0 = env_point(env);
	sleep_until_us(until);
	p1 = env_point(env);
	for (i = 0; i < n; i++) {
		pthread_join(ap[i].t, NULL);
		if (!ap[i].ok) {
			fprintf(stderr, "agentd_audit: %s: no answer\n",
			    ap[i].agent);
			ok = 0;
		}
		recs += ap[i].recs;
		errors += ap[i].errors;
		for (b = 0; b < AUDITREC_HIST_N; b++)
			hist[b] += ap[i].hist[b];
		free(ap[i].hist);
	}
	free(ap);
	if (env != NULL)
		mdb_env_close(env);
	if (!ok)
		return 1;
	if (p0.ok && p1.ok && p1.txnid > p0.txnid)
		snprintf(per_txn, sizeof(per_txn), "%.2f",
		    (double)(p1.entries - p0.entries)
		        / (double)(p1.txnid - p0.txnid));
	if (outstanding > 0)
		snprintf(conf_n, sizeof(conf_n), "/%d", outstanding);
	printf("audit way=%s conf=%dx%d%s clients=%lld recs=%lld secs=%.3f "
	       "rate=%.0f p50_us=%.1f p99_us=%.1f per_txn=%s errors=%lld\n",
	    outstanding > 0 ? "async" : "agentd", nagents, ninst, conf_n,
	    (long long)appending, (long long)recs, secs, (double)recs / secs,
	    auditrec_hist_pct(hist, 0.50), auditrec_hist_pct(hist, 0.99),
	    per_txn, (long long)errors);
	return 0;
}

int
main(int argc, char **argv)
{
	pid_t pid;
	int   c, rv;

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
	if (write_conf() != 0 || (pid = harness_start()) < 0) {
		fprintf(stderr, "agentd_audit: cannot start agentd: %s\n",
		    strerror(errno));
		return 1;
	}
	if (harness_wait_ready((size_t)nagents, ninst, 60000) != 0) {
		fprintf(stderr, "agentd_audit: agentd did not become ready\n");
		rv = 1;
	} else {
		rv = run();
	}
	harness_stop(pid);
	return rv;
usage:
	fprintf(stderr,
	    "usage: agentd_audit [-a AGENTS] [-i INSTANCES] [-o OUTSTANDING] "
	    "[-d SECONDS] [-W WARMUP]\n");
	return 2;
}
