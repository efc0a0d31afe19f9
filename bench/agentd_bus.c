/*
 * agentd_bus - bench/run's agentd rows: the same workload as the raw nng
 * and Redis programs, from one plugin instance to another through agentd.
 *
 *   agentd_bus rr -p BYTES -k INFLIGHT -d SECONDS -W WARMUP_SECONDS
 *   agentd_bus ps -p BYTES -d SECONDS -r RATE
 *
 * Starts a real agentd (from $BENCH_BUILDDIR) on a configuration it writes
 * in $BENCH_TMPDIR, drives the loadgen plugin (bench/loadgen.c) through
 * agentd's control socket, prints one line in bench/README.md's format,
 * and stops agentd.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus/envelope.h"
#include "common/nngx.h"
#include "common/util.h"
#include "harness.h"

struct opts {
	const char *mode;
	int64_t     payload, inflight, rate;
	double      secs, warmup;
};

static int
write_conf(void)
{
	char *dir  = ad_xasprintf("%s/conf", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", dir);
	char *so = ad_xasprintf("%s/bench/.libs/loadgen.so", harness_builddir);
	FILE *f;

	ad_mkdir_p(dir, 0700);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f,
	    "agent \"load\" { plugin = \"%s\" calls = { \"mirror\" }\n"
	    "  publish = { \"bench\" } request_timeout = 10m }\n"
	    "agent \"mirror\" { plugin = \"%s\"\n"
	    "  instances { concurrency = 16 } }\n"
	    "agent \"sink\" { plugin = \"%s\" subscribe = { \"bench\" } }\n",
	    so, so, so);
	fclose(f);
	free(dir);
	free(path);
	free(so);
	return 0;
}

static agentd_writer *
rr_body(const struct opts *o)
{
	agentd_writer *w;

	agentd_writer_new(&w);
	agentd_write_map(w, 6);
	agentd_write_str(w, "op");
	agentd_write_str(w, "rr");
	agentd_write_str(w, "target");
	agentd_write_str(w, "mirror");
	agentd_write_str(w, "payload");
	agentd_write_int(w, o->payload);
	agentd_write_str(w, "inflight");
	agentd_write_int(w, o->inflight);
	agentd_write_str(w, "secs_ms");
	agentd_write_int(w, (int64_t)(o->secs * 1000));
	agentd_write_str(w, "warmup_ms");
	agentd_write_int(w, (int64_t)(o->warmup * 1000));
	return w;
}

static int
run_rr(const struct opts *o)
{
	agentd_writer *w = rr_body(o);
	agentd_doc    *doc;
	nng_msg       *m;
	double         secs;
	int            rv;

	rv = harness_control("agentd_bus", AD_KIND_REQUEST, "load", w,
	    (int64_t)((o->secs + o->warmup) * 1000) + 60000, &doc, &m);
	agentd_writer_free(w);
	if (rv != 0)
		return 1;
	secs = (double)harness_int(agentd_doc_root(doc), "secs_us") / 1e6;
	printf("rr way=agentd payload=%lld inflight=%lld msgs=%lld secs=%.3f "
	       "rate=%.0f p50_us=%lld p99_us=%lld\n",
	    (long long)o->payload, (long long)o->inflight,
	    (long long)harness_int(agentd_doc_root(doc), "msgs"), secs,
	    (double)harness_int(agentd_doc_root(doc), "msgs") / secs,
	    (long long)harness_int(agentd_doc_root(doc), "p50_us"),
	    (long long)harness_int(agentd_doc_root(doc), "p99_us"));
	agentd_doc_free(doc);
	nng_msg_free(m);
	return 0;
}

static int
run_ps(const struct opts *o)
{
	agentd_writer *w;
	agentd_doc    *doc;
	nng_msg       *m;
	int64_t        sent, first, delivered = -1, last_change, end;
	double         secs;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "op");
	agentd_write_str(w, "ps");
	agentd_write_str(w, "topic");
	agentd_write_str(w, "bench.ev");
	agentd_write_str(w, "payload");
	agentd_write_int(w, o->payload);
	agentd_write_str(w, "secs_ms");
	agentd_write_int(w, (int64_t)(o->secs * 1000));
	agentd_write_str(w, "rate");
	agentd_write_int(w, o->rate);
	if (harness_control("agentd_bus", AD_KIND_REQUEST, "load", w,
	        (int64_t)(o->secs * 1000) + 60000, &doc, &m)
	    != 0) {
		agentd_writer_free(w);
		return 1;
	}
	agentd_writer_free(w);
	sent  = harness_int(agentd_doc_root(doc), "sent");
	first = harness_int(agentd_doc_root(doc), "first_us");
	agentd_doc_free(doc);
	nng_msg_free(m);
	/* Delivery has ended when the count stops moving for 500 ms. */
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "op");
	agentd_write_str(w, "stats");
	last_change = ad_now_ms();
	end         = ad_now_ms() + 30000;
	for (;;) {
		if (harness_control("agentd_bus", AD_KIND_REQUEST, "sink", w,
		        5000, &doc, &m)
		    != 0)
			break;
		if (harness_int(agentd_doc_root(doc), "delivered")
		    != delivered) {
			delivered
			    = harness_int(agentd_doc_root(doc), "delivered");
			last_change = ad_now_ms();
		}
		if (delivered >= sent || ad_now_ms() - last_change > 500
		    || ad_now_ms() > end)
			break;
		agentd_doc_free(doc);
		nng_msg_free(m);
		usleep(100 * 1000);
	}
	agentd_writer_free(w);
	if (delivered < 0)
		return 1;
	secs = (double)(harness_int(agentd_doc_root(doc), "last_us") - first)
	    / 1e6;
	printf("ps way=agentd payload=%lld sent=%lld delivered=%lld secs=%.3f "
	       "rate=%.0f loss=%.4f p50_us=%lld p99_us=%lld paced=%lld\n",
	    (long long)o->payload, (long long)sent, (long long)delivered, secs,
	    secs > 0 ? (double)delivered / secs : 0,
	    sent > 0 ? 1.0 - (double)delivered / (double)sent : 0,
	    (long long)harness_int(agentd_doc_root(doc), "p50_us"),
	    (long long)harness_int(agentd_doc_root(doc), "p99_us"),
	    (long long)o->rate);
	agentd_doc_free(doc);
	nng_msg_free(m);
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = { NULL, 64, 1, 0, 2.0, 0.2 };
	pid_t       pid;
	int         c, rv;

	if (argc < 2) {
		fprintf(stderr,
		    "usage: agentd_bus rr|ps [-p B] [-k K] [-d S] "
		    "[-W S] [-r R]\n");
		return 2;
	}
	o.mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "p:k:d:W:r:")) != -1) {
		switch (c) {
		case 'p':
			o.payload = atoll(optarg);
			break;
		case 'k':
			o.inflight = atoll(optarg);
			break;
		case 'd':
			o.secs = atof(optarg);
			break;
		case 'W':
			o.warmup = atof(optarg);
			break;
		case 'r':
			o.rate = atoll(optarg);
			break;
		default:
			return 2;
		}
	}
	if (harness_env("agentd_bus") != 0)
		return 2;
	if (write_conf() != 0 || (pid = harness_start()) < 0) {
		fprintf(stderr, "agentd_bus: cannot start agentd: %s\n",
		    strerror(errno));
		return 1;
	}
	if (harness_wait_ready(0, 1, 20000) != 0) {
		fprintf(stderr, "agentd_bus: agentd did not become ready\n");
		rv = 1;
	} else if (strcmp(o.mode, "rr") == 0) {
		rv = run_rr(&o);
	} else if (strcmp(o.mode, "ps") == 0) {
		rv = run_ps(&o);
	} else {
		rv = 2;
	}
	harness_stop(pid);
	return rv;
}
