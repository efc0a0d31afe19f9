/*
 * gendrive.c - see gendrive.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "bus/envelope.h"
#include "common/util.h"
#include "gendrive.h"
#include "genwin.h"
#include "harness.h"

const char *
gendrive_per_op(char *buf, size_t len, int64_t us, int64_t n)
{
	if (us < 0 || n <= 0)
		return "-";
	snprintf(buf, len, "%.2f", (double)us / (double)n);
	return buf;
}

static void
write_agents(FILE *f, const struct gendrive_conf *c)
{
	char *so = ad_xasprintf(
	    "%s/bench/.libs/%s.so", harness_builddir, c->plugin);
	int i;

	for (i = 1; i <= c->nagents; i++)
		fprintf(f,
		    "agent \"%s%d\" { plugin = \"%s\" request_timeout = 10m\n"
		    "  instances { min = %d max = %d }\n"
		    "  settings { %s } }\n",
		    c->prefix, i, so, c->ninst, c->ninst, c->settings);
	free(so);
}

int
gendrive_write_conf(const struct gendrive_conf *c)
{
	char *dir  = ad_xasprintf("%s/conf", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", dir);
	FILE *f;
	int   rv = -1;

	ad_mkdir_p(dir, 0700);
	if ((f = fopen(path, "w")) != NULL) {
		write_agents(f, c);
		if (c->more != NULL)
			write_agents(f, c->more);
		if (c->extra != NULL)
			fputs(c->extra, f);
		rv = fclose(f) == 0 ? 0 : -1;
	}
	free(dir);
	free(path);
	return rv;
}

pid_t
gendrive_start(const char *prog, const struct gendrive_conf *c)
{
	int   n = c->nagents, ready = c->ninst;
	pid_t pid;

	if (gendrive_write_conf(c) != 0
	    || (pid = harness_start_logged("warn")) < 0) {
		fprintf(stderr, "%s: cannot start agentd: %s\n", prog,
		    strerror(errno));
		return -1;
	}
	if (c->more != NULL) {
		n += c->more->nagents;
		ready = c->more->ninst < ready ? c->more->ninst : ready;
	}
	if (harness_wait_ready((size_t)n, ready, 60000) != 0) {
		fprintf(stderr, "%s: agentd did not become ready\n", prog);
		gendrive_stop(prog, pid);
		return -1;
	}
	return pid;
}

int
gendrive_stop(const char *prog, pid_t pid)
{
	char   *log = ad_xasprintf("%s/agentd.log", harness_tmpdir), line[512];
	int64_t end = ad_now_us() + 30 * 1000000;
	int     st, rv = 0;
	FILE   *f;

	kill(pid, SIGTERM);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (ad_now_us() >= end) {
			fprintf(stderr,
			    "%s: agentd did not stop within 30 s of SIGTERM: "
			    "killed\n",
			    prog);
			harness_kill();
			rv = -1;
			break;
		}
		usleep(20 * 1000);
	}
	harness_agentd = -1;
	if ((f = fopen(log, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			fprintf(stderr, "agentd: %s", line);
		fclose(f);
	}
	free(log);
	return rv;
}

/* ---- agentd's LMDB environment, read-only, beside agentd ------------ */

struct point {
	int      ok;
	uint64_t txnid, entries, decisions;
};

static MDB_env *
env_open(const char *prog)
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
		fprintf(stderr, "%s: cannot read %s: %s\n", prog, db,
		    mdb_strerror(rc));
		env = NULL;
	}
	free(db);
	return env;
}

static struct point
env_point(MDB_env *env)
{
	struct point p = { 0, 0, 0, 0 };
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
		/* The policy gate's decisions, if it has any. */
		if (mdb_dbi_open(txn, "decisions", 0, &dbi) == 0
		    && mdb_stat(txn, dbi, &st) == 0)
			p.decisions = st.ms_entries;
	}
	mdb_txn_abort(txn);
	return p;
}

/* ---- CPU time and memory, from /proc -------------------------------- */

/* utime + stime of pid, microseconds; -1 if unknown. */
static int64_t
proc_cpu_us(pid_t pid)
{
	char               path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE              *f;
	size_t             n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's closing parenthesis: state is field 3, utime
	 * and stime fields 14 and 15. */
	if ((p = strrchr(buf, ')')) == NULL
	    || sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	           "%llu %llu",
	           &ut, &st)
	        != 2)
		return -1;
	return (int64_t)((ut + st) * 1000000ULL
	    / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* Every CPU's busy time (user, nice, system, irq, softirq), us. */
static int64_t
busy_us(void)
{
	unsigned long long v[7];
	FILE              *f = fopen("/proc/stat", "r");
	int                n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
	    &v[2], &v[3], &v[4], &v[5], &v[6]);
	fclose(f);
	if (n != 7)
		return -1;
	return (int64_t)((v[0] + v[1] + v[2] + v[5] + v[6]) * 1000000ULL
	    / (unsigned long long)sysconf(_SC_CLK_TCK));
}

long
gendrive_rss_kb(pid_t pid, const char *field)
{
	char   path[64], line[256];
	long   kb = -1;
	size_t n  = strlen(field);
	FILE  *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* ---- one request per instance ------------------------------------------ */

struct opener {
	pthread_t   t;
	const char *prog, *op;
	char        agent[48];
	int64_t     begin, from, until;
	int         ok;
	int64_t     recs, errors;
	uint64_t   *hist, *hist2;
};

/* A histogram of the reply (bench/auditrec.h's wire form) added to h. */
static int
add_hist(const agentd_value *root, const char *key, uint64_t *h)
{
	const void          *v;
	const unsigned char *p;
	size_t               len, b;

	if (agentd_get_bin(agentd_map_get(root, key), &v, &len) != 0
	    || len != AUDITREC_HIST_N * 4)
		return -1;
	p = v;
	for (b = 0; b < AUDITREC_HIST_N; b++)
		h[b] += (uint64_t)p[4 * b] | (uint64_t)p[4 * b + 1] << 8
		    | (uint64_t)p[4 * b + 2] << 16
		    | (uint64_t)p[4 * b + 3] << 24;
	return 0;
}

static void *
opener_main(void *arg)
{
	struct opener *o = arg;
	agentd_writer *w;
	agentd_doc    *doc;
	nng_msg       *m;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "op");
	agentd_write_str(w, o->op);
	agentd_write_str(w, "begin_us");
	agentd_write_int(w, o->begin);
	agentd_write_str(w, "from_us");
	agentd_write_int(w, o->from);
	agentd_write_str(w, "until_us");
	agentd_write_int(w, o->until);
	if (harness_control(o->prog, AD_KIND_REQUEST, o->agent, w,
	        (o->until - ad_now_us()) / 1000 + 60000, &doc, &m)
	    == 0) {
		const agentd_value *root = agentd_doc_root(doc);

		o->recs   = harness_int(root, "recs");
		o->errors = harness_int(root, "errors");
		o->ok     = add_hist(root, "hist", o->hist) == 0;
		add_hist(root, "hist2", o->hist2);
		agentd_doc_free(doc);
		nng_msg_free(m);
	}
	agentd_writer_free(w);
	return NULL;
}

int
gendrive_window(const char *prog, const struct gendrive_conf *c, pid_t agentd,
    const char *op, double warm, double secs, struct gendrive_result *r)
{
	int            n = c->nagents * c->ninst, i, b, ok = 1;
	struct opener *os = calloc((size_t)n, sizeof(*os));
	int64_t        begin, from, until;
	MDB_env       *env = env_open(prog);
	struct point   p0, p1;
	int64_t        sv0, sv1, all0, all1;

	memset(r, 0, sizeof(*r));
	r->per_txn    = -1;
	r->audit_recs = -1;
	r->decisions  = -1;
	/* Time for every thread to reach its instance before the start. */
	begin = ad_now_us() + 300000 + 2000 * n;
	from  = begin + (int64_t)(warm * 1e6);
	until = from + (int64_t)(secs * 1e6);
	for (i = 0; i < n; i++) {
		snprintf(os[i].agent, sizeof(os[i].agent), "%s%d", c->prefix,
		    i % c->nagents + 1);
		os[i].prog  = prog;
		os[i].op    = op;
		os[i].begin = begin;
		os[i].from  = from;
		os[i].until = until;
		os[i].hist  = calloc(AUDITREC_HIST_N, sizeof(uint64_t));
		os[i].hist2 = calloc(AUDITREC_HIST_N, sizeof(uint64_t));
		if (pthread_create(&os[i].t, NULL, opener_main, &os[i]) != 0) {
			fprintf(stderr, "%s: pthread_create\n", prog);
			exit(1);
		}
	}
	genwin_sleep_until_us(from);
	p0   = env_point(env);
	sv0  = proc_cpu_us(agentd);
	all0 = busy_us();
	genwin_sleep_until_us(until);
	p1            = env_point(env);
	sv1           = proc_cpu_us(agentd);
	all1          = busy_us();
	r->sv_cpu_us  = sv0 >= 0 && sv1 >= 0 ? sv1 - sv0 : -1;
	r->all_cpu_us = all0 >= 0 && all1 >= 0 ? all1 - all0 : -1;
	for (i = 0; i < n; i++) {
		pthread_join(os[i].t, NULL);
		if (!os[i].ok) {
			fprintf(
			    stderr, "%s: %s: no answer\n", prog, os[i].agent);
			ok = 0;
		}
		r->recs += os[i].recs;
		r->errors += os[i].errors;
		for (b = 0; b < AUDITREC_HIST_N; b++) {
			r->hist[b] += os[i].hist[b];
			r->hist2[b] += os[i].hist2[b];
		}
		free(os[i].hist);
		free(os[i].hist2);
	}
	free(os);
	if (env != NULL)
		mdb_env_close(env);
	if (p0.ok && p1.ok && p1.txnid > p0.txnid) {
		r->audit_recs = (int64_t)(p1.entries - p0.entries);
		r->decisions  = (int64_t)(p1.decisions - p0.decisions);
		r->per_txn    = (double)(p1.entries - p0.entries)
		    / (double)(p1.txnid - p0.txnid);
	}
	return ok ? 0 : -1;
}
