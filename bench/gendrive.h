/*
 * gendrive.h - what the drivers of bench's load-generator plugins share
 * (bench/agentd_audit with bench/auditgen.so, bench/agentd_policy with
 * bench/proposegen.so): a configuration of AGENTS agents each running
 * INSTANCES instances of the plugin, and one measured window in every
 * instance (bench/genwin.h, the plugins' side), opened by one request
 * per instance, sent at once from as many threads through agentd's
 * control socket, their counts and histograms added up.
 *
 * While the window runs, agentd's LMDB environment is read (read-only,
 * beside agentd) at its two ends: the audit records added over the
 * transactions committed are the records per transaction of agentd's
 * writer (nothing else writes during the window); the policy gate's
 * decisions added are counted too.
 */
#ifndef BENCH_GENDRIVE_H
#define BENCH_GENDRIVE_H

#include <stdint.h>
#include <sys/types.h>

#include "auditrec.h"

struct gendrive_conf {
	const char *prefix;   /* agent names prefix1, prefix2, ... */
	int         nagents;  /* 1 to 1000 */
	int         ninst;    /* instances per agent */
	const char *plugin;   /* bench/.libs/PLUGIN.so of the build */
	const char *settings; /* the text inside the agents' settings { } */
	const char *extra;    /* appended to the file (NULL: nothing) */
	/* More agents in the same file, of another prefix (NULL: none);
	 * their extra is not written. */
	const struct gendrive_conf *more;
};

/* TMPDIR/conf/bench.conf; 0 or -1. */
int gendrive_write_conf(const struct gendrive_conf *c);

/*
 * gendrive_write_conf, then agentd (harness_start_logged at warn: its log
 * in TMPDIR/agentd.log, and SIGKILLed if this program is terminated)
 * until all instances are ready (at most 60 s): its pid, or -1 with the
 * reason on stderr naming prog (agentd stopped).
 */
pid_t gendrive_start(const char *prog, const struct gendrive_conf *c);

/*
 * SIGTERM agentd and wait at most 30 s for it to end; then SIGKILL it,
 * saying so on stderr.  Its log's lines are copied to stderr.  0, or -1
 * when it had to be killed.
 */
int gendrive_stop(const char *prog, pid_t pid);

struct gendrive_result {
	int64_t  recs, errors; /* added over the instances */
	uint64_t hist[AUDITREC_HIST_N];
	uint64_t hist2[AUDITREC_HIST_N]; /* all 0 if the plugin sends none */
	double   per_txn;                /* < 0: not read */
	int64_t  audit_recs;             /* audit records added, or -1 */
	int64_t  decisions;  /* the policy gate's decisions added, or -1 */
	int64_t  sv_cpu_us;  /* agentd's CPU time (user + system), or -1 */
	int64_t  all_cpu_us; /* every CPU's busy time, or -1 */
};

/*
 * One window of operation op ({"op": op, "begin_us", "from_us",
 * "until_us"}) in every instance of c's agents, of agentd (pid agentd):
 * warm seconds not counted, then secs counted; the CPU times are read
 * from /proc at the counted part's two ends.  0, or -1 with the reason
 * on stderr naming prog.
 */
int gendrive_window(const char *prog, const struct gendrive_conf *c,
    pid_t agentd, const char *op, double warm, double secs,
    struct gendrive_result *r);

/* A process's resident memory, KiB, as /proc/PID/status says it:
 * field "VmRSS" (all), "RssAnon" (its own), "RssFile" (mapped files, such
 * as agentd's LMDB environment); -1 if unknown. */
long gendrive_rss_kb(pid_t pid, const char *field);

/* us / n microseconds per operation into buf ("%.2f"), or "-" when
 * either is unknown (us < 0, n 0). */
const char *gendrive_per_op(char *buf, size_t len, int64_t us, int64_t n);

#endif
