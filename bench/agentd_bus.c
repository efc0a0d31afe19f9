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

extern char **environ;

struct opts {
	const char *mode;
	int64_t     payload, inflight, rate;
	double      secs, warmup;
};

static const char *tmpdir, *builddir;

static int
write_conf(void)
{
	char *dir  = ad_xasprintf("%s/conf", tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", dir);
	char *so   = ad_xasprintf("%s/bench/.libs/loadgen.so", builddir);
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

static pid_t
start_agentd(void)
{
	char *agentd = ad_xasprintf("%s/runtime/agentd", builddir);
	char *conf   = ad_xasprintf("%s/conf", tmpdir);
	char *state  = ad_xasprintf("%s/state", tmpdir);
	char *run    = ad_xasprintf("%s/run", tmpdir);
	char *argv[]
	    = { agentd, "--confdir", conf, "--state-dir", state, "--run-dir",
		      run, "--foreground", "--log-level", "warn", NULL };
	pid_t pid;

	if (posix_spawn(&pid, agentd, NULL, NULL, argv, environ) != 0)
		pid = -1;
	free(agentd);
	free(conf);
	free(state);
	free(run);
	return pid;
}

/* One request to agentd's control socket; *doc holds the reply body. */
static int
control(enum ad_kind kind, const char *dst, agentd_writer *body,
    int64_t timeout_ms, agentd_doc **doc, nng_msg **keep)
{
	struct ad_envelope e, r;
	nng_socket         s;
	nng_msg           *msg;
	char *url = ad_xasprintf("ipc://%s/run/control.sock", tmpdir);
	int   rv;

	memset(&e, 0, sizeof(e));
	e.id          = ad_envelope_next_id();
	e.kind        = kind;
	e.deadline_ms = ad_wall_ms() + timeout_ms;
	snprintf(e.dst, sizeof(e.dst), "%s", dst);
	if (body != NULL)
		e.body = agentd_writer_data(body, &e.body_len);
	if ((rv = nng_req0_open(&s)) != 0)
		return rv;
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	rv = nng_dial(s, url, NULL, 0);
	free(url);
	if (rv == 0 && (rv = ad_envelope_to_msg(&e, &msg)) == 0
	    && (rv = nng_sendmsg(s, msg, 0)) != 0)
		nng_msg_free(msg);
	if (rv == 0)
		rv = nng_recvmsg(s, keep, 0);
	nng_close(s);
	if (rv != 0)
		return -1;
	if (ad_envelope_decode(
	        nng_msg_body(*keep), nng_msg_len(*keep), SIZE_MAX, &r)
	        != 0
	    || r.status != 0 || agentd_parse(r.body, r.body_len, doc) != 0) {
		nng_msg_free(*keep);
		return -1;
	}
	return 0;
}

static int64_t
field(agentd_doc *doc, const char *key)
{
	int64_t v = 0;

	agentd_get_int(agentd_map_get(agentd_doc_root(doc), key), &v);
	return v;
}

static int
wait_ready(void)
{
	int64_t end = ad_now_ms() + 20000;

	while (ad_now_ms() < end) {
		agentd_doc *doc;
		nng_msg    *m;
		size_t      i, n, ready = 0;

		if (control(AD_KIND_CONTROL, "status", NULL, 2000, &doc, &m)
		    == 0) {
			const agentd_value *agents
			    = agentd_map_get(agentd_doc_root(doc), "agents");
			n = agentd_len(agents);
			for (i = 0; i < n; i++) {
				int64_t r = 0;
				agentd_get_int(
				    agentd_map_get(
				        agentd_array_at(agents, i), "ready"),
				    &r);
				ready += r > 0;
			}
			agentd_doc_free(doc);
			nng_msg_free(m);
			if (n > 0 && ready == n)
				return 0;
		}
		usleep(50 * 1000);
	}
	return -1;
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

	rv = control(AD_KIND_REQUEST, "load", w,
	    (int64_t)((o->secs + o->warmup) * 1000) + 60000, &doc, &m);
	agentd_writer_free(w);
	if (rv != 0)
		return 1;
	secs = (double)field(doc, "secs_us") / 1e6;
	printf("rr way=agentd payload=%lld inflight=%lld msgs=%lld secs=%.3f "
	       "rate=%.0f p50_us=%lld p99_us=%lld\n",
	    (long long)o->payload, (long long)o->inflight,
	    (long long)field(doc, "msgs"), secs,
	    (double)field(doc, "msgs") / secs, (long long)field(doc, "p50_us"),
	    (long long)field(doc, "p99_us"));
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
	if (control(AD_KIND_REQUEST, "load", w,
	        (int64_t)(o->secs * 1000) + 60000, &doc, &m)
	    != 0) {
		agentd_writer_free(w);
		return 1;
	}
	agentd_writer_free(w);
	sent  = field(doc, "sent");
	first = field(doc, "first_us");
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
		if (control(AD_KIND_REQUEST, "sink", w, 5000, &doc, &m) != 0)
			break;
		if (field(doc, "delivered") != delivered) {
			delivered   = field(doc, "delivered");
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
	secs = (double)(field(doc, "last_us") - first) / 1e6;
	printf("ps way=agentd payload=%lld sent=%lld delivered=%lld secs=%.3f "
	       "rate=%.0f loss=%.4f p50_us=%lld p99_us=%lld paced=%lld\n",
	    (long long)o->payload, (long long)sent, (long long)delivered, secs,
	    secs > 0 ? (double)delivered / secs : 0,
	    sent > 0 ? 1.0 - (double)delivered / (double)sent : 0,
	    (long long)field(doc, "p50_us"), (long long)field(doc, "p99_us"),
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
	int         c, rv, status;

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
	tmpdir   = getenv("BENCH_TMPDIR");
	builddir = getenv("BENCH_BUILDDIR");
	if (tmpdir == NULL || builddir == NULL) {
		fprintf(stderr,
		    "agentd_bus: BENCH_TMPDIR and BENCH_BUILDDIR "
		    "must be set (bench/run sets them)\n");
		return 2;
	}
	if (write_conf() != 0 || (pid = start_agentd()) < 0) {
		fprintf(stderr, "agentd_bus: cannot start agentd: %s\n",
		    strerror(errno));
		return 1;
	}
	if (wait_ready() != 0) {
		fprintf(stderr, "agentd_bus: agentd did not become ready\n");
		rv = 1;
	} else if (strcmp(o.mode, "rr") == 0) {
		rv = run_rr(&o);
	} else if (strcmp(o.mode, "ps") == 0) {
		rv = run_ps(&o);
	} else {
		rv = 2;
	}
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return rv;
}
