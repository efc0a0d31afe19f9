/*
 * audit_writer - agentd's audit writer on its own, in this process, with
 * no IPC and no plugin: what agentd's group commit can do when
 * OUTSTANDING appends are always waiting for it.  It is the ceiling of
 * the agentd rows, and what an asynchronous host->audit (many appends
 * outstanding per agent) could reach.
 *
 *   audit_writer [-k OUTSTANDING] [-d SECONDS] [-W WARMUP]
 *
 * Opens agentd's store and audit log (runtime/store) in a folder in
 * $BENCH_TMPDIR (else $TMPDIR, else /tmp), as agentd does, and queues
 * OUTSTANDING records with ad_audit_append(); each record's done callback
 * (the writer thread, after the commit) queues the next one at once, so
 * OUTSTANDING stay queued or being written.  Records are
 * bench/auditrec.h's, for agents a1 to a8.  Latency: from
 * ad_audit_append() to its done callback.  rec/txn from the writer's
 * statistics over the window.  Prints one line (bench/README.md):
 *
 *   audit way=writer conf=K clients=K recs=N secs=S rate=R p50_us=X
 *       p99_us=Y per_txn=Z
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditrec.h"
#include "benchlib.h"
#include "common/log.h"
#include "common/util.h"
#include "store/audit.h"
#include "store/store.h"

struct slot {
	int      id;
	uint64_t sent;
	uint32_t seq;
	char     agent[8], instance[16];
};

static struct ad_audit *audit;
static uint64_t         from, until;
static atomic_int       outstanding;
static uint64_t         recs, errors; /* the writer thread's */
static struct samples   lat;

static void done(void *arg, int status, uint64_t seq);

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
append(struct slot *s)
{
	unsigned char       detail[AUDITREC_DETAIL_LEN];
	struct ad_audit_rec r;
	int                 rv;

	memset(&r, 0, sizeof(r));
	r.agent      = s->agent;
	r.instance   = s->instance;
	r.kind       = AUDITREC_KIND;
	r.summary    = auditrec_summary();
	r.detail     = detail;
	r.detail_len = auditrec_detail(detail, ++s->seq);
	s->sent      = now_ns();
	if ((rv = ad_audit_append(audit, &r, done, s)) != 0)
		atomic_fetch_sub(&outstanding, 1);
	return rv;
}

static void
done(void *arg, int status, uint64_t seq)
{
	struct slot *s = arg;
	uint64_t     t = now_ns();

	(void)seq;
	if (status != 0)
		errors++;
	else if (s->sent >= from && t <= until) {
		recs++;
		samples_add(&lat, t - s->sent);
	}
	if (t < until)
		append(s);
	else
		atomic_fetch_sub(&outstanding, 1);
}

int
main(int argc, char **argv)
{
	const char           *base = getenv("BENCH_TMPDIR");
	char                  dir[4096], err[256];
	struct ad_store      *store;
	struct ad_audit_opts  o = { NULL, 0 };
	struct ad_audit_stats s0, s1;
	struct slot          *slots;
	double                secs = 2, warm = 0.2;
	long                  k = 8, i;
	int                   c;

	while ((c = getopt(argc, argv, "k:d:W:")) != -1) {
		switch (c) {
		case 'k':
			k = atol(optarg);
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
	if (optind != argc || k < 1 || k > 60000 || secs <= 0 || warm < 0)
		goto usage;
	if (base == NULL || base[0] == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/audit_writer.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "audit_writer: mkdtemp %s: %s\n", dir,
		    strerror(errno));
		return 1;
	}
	ad_log_init("audit_writer", AGENTD_LOG_WARN); /* not map growth */
	if (samples_init(&lat, 7) != 0)
		return 1;
	if (ad_store_open(dir, &store, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_writer: %s\n", err);
		return 1;
	}
	o.gate      = ad_store_gate(store);
	o.max_queue = (size_t)k + 16;
	if (ad_audit_open(ad_store_env(store), &o, &audit, err, sizeof(err))
	    != 0) {
		fprintf(stderr, "audit_writer: %s\n", err);
		return 1;
	}
	slots = calloc((size_t)k, sizeof(*slots));
	from  = now_ns() + (uint64_t)(warm * 1e9);
	until = from + (uint64_t)(secs * 1e9);
	atomic_store(&outstanding, (int)k);
	/*
	 * The writer takes the first K in one batch: each batch's callbacks
	 * queue the next batch, so the split of the first one would stay
	 * for the whole run.
	 */
	pthread_rwlock_wrlock(o.gate);
	for (i = 0; i < k; i++) {
		slots[i].id = (int)i;
		snprintf(
		    slots[i].agent, sizeof(slots[i].agent), "a%ld", i % 8 + 1);
		snprintf(slots[i].instance, sizeof(slots[i].instance),
		    "a%ld-%ld", i % 8 + 1, i / 8 + 1);
		if (append(&slots[i]) != 0) {
			fprintf(stderr, "audit_writer: append refused\n");
			return 1;
		}
	}
	pthread_rwlock_unlock(o.gate);
	sleep_until(from);
	ad_audit_stats(audit, &s0);
	sleep_until(until);
	ad_audit_stats(audit, &s1);
	while (atomic_load(&outstanding) > 0)
		usleep(1000);
	ad_audit_close(audit);
	ad_store_close(store);
	if (nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "audit_writer: cannot remove %s\n", dir);
	free(slots);
	if (errors > 0) {
		fprintf(stderr, "audit_writer: %llu appends failed\n",
		    (unsigned long long)errors);
		return 1;
	}
	samples_sort(&lat);
	printf("audit way=writer conf=%ld clients=%ld recs=%llu secs=%.3f "
	       "rate=%.0f p50_us=%.1f p99_us=%.1f per_txn=%.2f\n",
	    k, k, (unsigned long long)recs, secs, (double)recs / secs,
	    pct_us(&lat, 50), pct_us(&lat, 99),
	    s1.txns > s0.txns ? (double)(s1.records - s0.records)
	            / (double)(s1.txns - s0.txns)
	                      : 0);
	samples_free(&lat);
	return 0;
usage:
	fprintf(stderr,
	    "usage: audit_writer [-k OUTSTANDING] [-d SECONDS] [-W WARMUP]\n");
	return 2;
}
