/*
 * agentd_reload - bench/run's reload rows: requests per second and
 * latency through agentd in steady state and while an agent is reloaded
 * to a new plugin build, measured in the same run, and how long a reload
 * takes under that load.
 *
 *   agentd_reload [-k INFLIGHT] [-p BYTES] [-n RELOADS] [-q QUIET_MS]
 *                 [-W WARMUP_SECONDS] [-P PROBATION_MS] [-i POLL_MS]
 *                 [-r RATE] [-o TRACE_FILE]
 *
 * Starts a real agentd (from $BENCH_BUILDDIR) on a configuration it writes
 * in $BENCH_TMPDIR: one agent "echo" with 2 instances (min = max = 2) of
 * the bundled echo plugin, health { probation = PROBATION_MS } (default
 * 0: the reload is answered when the new generation takes the traffic).
 * The plugin is $BENCH_TMPDIR/plugins/echo.so, a copy of echo.so; a
 * second copy differs by 16 bytes appended after the ELF image (which the
 * dynamic loader ignores), so the two have different hashes: two builds.
 *
 * The caller is this program: INFLIGHT requests (default 14) always
 * outstanding on agentd's control socket (what `agentctl call` uses), one
 * nng REQ context each, addressed to "echo", body [seq, BYTES-byte bin];
 * each reply is checked (status 0, the same seq echoed) and the pid of
 * the instance that answered is kept with the send and reply times.
 * INFLIGHT defaults to 14, not 16, because agentd serves its control
 * socket with 16 contexts and a reload keeps one until it is answered
 * (and the status polls below take another): with 16 requests
 * outstanding one of them would wait for a context during every reload,
 * and that wait, not the reload, would be measured.
 *
 * That is a closed loop (RATE 0, the default): the next request goes
 * out when a reply comes back, so it saturates the machine and whatever
 * the reload costs in CPU shows up directly as queueing.  With -r RATE
 * the load is open instead, the way a service below saturation sees
 * it: a sender thread issues request i at t_start + i / RATE (absolute
 * times, whatever became of the requests before), each on a free one
 * of the INFLIGHT contexts, waiting for one if none is free (counted:
 * slot_waits).  Latency then runs from the due time, not from the
 * send, so a request that waited for a context or for a sender that
 * fell behind counts that wait (no coordinated omission), and a request
 * belongs to the window it was due in.  send_late: due time to the
 * context in hand, the part of the latency that is the sender's.
 *
 * After WARMUP_SECONDS (default 0.5), RELOADS times (default 10):
 *   quiet window   QUIET_MS (default 300) of nothing but the load: steady
 *                  state;
 *   reload window  the plugin file is replaced (rename of the other copy
 *                  over it), then "reload" is sent on its own connection
 *                  (t0), and the window lasts until the reload is
 *                  answered and status shows no instance of the previous
 *                  generation left (whichever is later).
 * status is read every POLL_MS (default 5) in both kinds of window, so
 * both carry the same probing.  A request belongs to the window it was
 * sent in (latency, errors) or replied in (throughput).
 *
 * Per reload: answer_us (t0 to the answer), gone_us (t0 to the first
 * status without the previous generation's instances), switch_us (t0 to
 * the send time of the last request the previous generation answered:
 * after it, the new generation served every request), and the outcome,
 * which must be "upgraded".  old_after counts requests sent more than
 * 1 ms after the answer that the previous generation still served.
 *
 * Prints one line (medians over the reloads are bench/run's business;
 * p50/p90 here are over this run's reloads; latencies pooled over all the
 * windows of a kind):
 *   reload way=agentd inflight=K payload=P reloads=N upgraded=U
 *     steady_secs=S steady_msgs=M steady_rate=R steady_p50_us=X
 *     steady_p99_us=Y steady_max_us=Z during_secs=... during_msgs=...
 *     during_rate=... during_p50_us=... during_p99_us=...
 *     during_max_us=... answer_p50_us=A answer_p90_us=B
 *     switch_p50_us=C switch_p90_us=D gone_p50_us=E gone_p90_us=F
 *     sent=N replied=N errors=E lost=L wrong=W old_after=O
 *     redispatched=D agentd_errors=E log_warnings=L pace_rate=R
 *     slot_waits=N send_late_p99_us=X send_late_max_us=Y
 *     steady_p99_send_us=S during_p99_send_us=D
 * (pace_rate, slot_waits and send_late are 0 in the closed loop;
 * *_p99_send_us: p99 from the actual send, the sender's lateness taken
 * out, which in the closed loop is p99)
 * errors: replies with a non-zero status; lost: requests without a reply
 * within 10 s (or cut off by a transport error); wrong: replies that do
 * not echo the request's seq; redispatched, agentd_errors: agentd's own
 * counters for the agent at the end; log_warnings: warning and error
 * lines in agentd's log ($BENCH_TMPDIR/agentd.log, at level info), the
 * first of which are shown on stderr.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus/envelope.h"
#include "common/nngx.h"
#include "common/util.h"
#include "harness.h"

#define PROG "agentd_reload"
#define NINST 2                      /* instances of the agent */
#define REQ_TIMEOUT_MS 10000         /* a request without reply: lost */
#define RELOAD_TIMEOUT_US 20000000LL /* one reload, at most */
#define MAX_RECS (8u << 20)          /* requests kept: 256 MiB at most */
#define MAX_VIEW 16                  /* instances read from status */
#define TRAILER "agentd-bench-B.\n"  /* what tells the two builds apart */

extern char **environ;

/* ---- the load: K requests outstanding, or RATE a second ------------ */

enum { E_WRONG = 2000, E_NNG = 1000 }; /* rec.err beyond agentd's codes */

struct rec {
	int64_t sent_us, done_us; /* paced: sent_us is the due time */
	int32_t pid;              /* the instance that answered, 0 if none */
	int32_t err;  /* 0, agentd's status, E_NNG + nng's, or E_WRONG */
	int32_t late; /* paced: due time to the slot in hand, us */
};

struct slot {
	nng_ctx  ctx;
	nng_aio *aio;
	int      sending;
	int64_t  t0;
	int32_t  late; /* rec.late */
	uint64_t seq;
};

static struct {
	struct rec   *recs;
	atomic_size_t nrec;
	atomic_int    stop, active;
	atomic_ullong seq;
	size_t        payload;
	void         *bytes;
	double        rate; /* requests a second; 0: closed loop */
} L;

/*
 * Paced: the slots no request holds (a stack), handed to the sender by
 * the reply callbacks.  L.active counts the requests outstanding.
 */
static struct {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	struct slot   **idle;
	size_t          nidle;
	size_t          waits; /* requests due with no slot free */
	pthread_t       thread;
	int             running;
} P;

static void
record(const struct slot *c, int64_t done, int32_t pid, int32_t err)
{
	size_t i = atomic_fetch_add(&L.nrec, 1);

	if (i < MAX_RECS) {
		L.recs[i].sent_us = c->t0;
		L.recs[i].done_us = done;
		L.recs[i].pid     = pid;
		L.recs[i].err     = err;
		L.recs[i].late    = c->late;
	}
}

static void slot_next(struct slot *c, int closed);

/* The next request on c; its latency runs from due (0: from now). */
static void
slot_send(struct slot *c, int64_t due)
{
	struct ad_envelope e;
	agentd_writer     *w;
	nng_msg           *m;
	int                rv;

	c->seq = atomic_fetch_add(&L.seq, 1);
	agentd_writer_new(&w);
	agentd_write_array(w, 2);
	agentd_write_uint(w, c->seq);
	agentd_write_bin(w, L.bytes, L.payload);
	memset(&e, 0, sizeof(e));
	e.id          = ad_envelope_next_id();
	e.kind        = AD_KIND_REQUEST;
	e.deadline_ms = ad_wall_ms() + REQ_TIMEOUT_MS;
	snprintf(e.dst, sizeof(e.dst), "echo");
	e.body = agentd_writer_data(w, &e.body_len);
	rv     = ad_envelope_to_msg(&e, &m);
	agentd_writer_free(w);
	if (rv != 0) {
		slot_next(c, 1);
		return;
	}
	c->sending = 1;
	c->t0      = due > 0 ? due : ad_now_us();
	nng_aio_set_msg(c->aio, m);
	nng_ctx_send(c->ctx, c->aio);
}

/*
 * c's request is over: closed loop, the next one unless closed (the
 * socket is) or the load stops; paced, c goes back to the sender.
 */
static void
slot_next(struct slot *c, int closed)
{
	if (L.rate > 0) {
		pthread_mutex_lock(&P.mtx);
		P.idle[P.nidle++] = c;
		atomic_fetch_sub(&L.active, 1);
		pthread_cond_signal(&P.cv);
		pthread_mutex_unlock(&P.mtx);
		return;
	}
	if (closed || atomic_load(&L.stop)) {
		atomic_fetch_sub(&L.active, 1);
		return;
	}
	slot_send(c, 0);
}

/* The reply's pid when it echoes seq; 0 (and *err) otherwise. */
static int32_t
check_reply(nng_msg *m, uint64_t seq, int32_t *err)
{
	struct ad_envelope  r;
	agentd_doc         *doc;
	const agentd_value *root;
	uint64_t            got = UINT64_MAX;
	int64_t             pid = 0;

	*err = E_WRONG;
	if (ad_envelope_decode(nng_msg_body(m), nng_msg_len(m), SIZE_MAX, &r)
	    != 0)
		return 0;
	if (r.status != 0) {
		*err = r.status;
		return 0;
	}
	if (agentd_parse(r.body, r.body_len, &doc) != 0)
		return 0;
	root = agentd_doc_root(doc);
	agentd_get_uint(
	    agentd_array_at(agentd_map_get(root, "echo"), 0), &got);
	agentd_get_int(agentd_map_get(root, "pid"), &pid);
	agentd_doc_free(doc);
	if (got == seq)
		*err = 0;
	return (int32_t)pid;
}

static void
slot_cb(void *arg)
{
	struct slot *c  = arg;
	int          rv = nng_aio_result(c->aio);
	int64_t      t1;
	int32_t      pid, err;
	nng_msg     *m;

	if (c->sending) {
		c->sending = 0;
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			record(c, ad_now_us(), 0, E_NNG + rv);
			slot_next(c, rv == NNG_ECLOSED);
			return;
		}
		nng_aio_set_timeout(c->aio, REQ_TIMEOUT_MS);
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	t1 = ad_now_us();
	nng_aio_set_timeout(c->aio, NNG_DURATION_DEFAULT);
	if (rv != 0) {
		record(c, t1, 0, E_NNG + rv);
		slot_next(c, rv == NNG_ECLOSED);
		return;
	}
	m   = nng_aio_get_msg(c->aio);
	pid = check_reply(m, c->seq, &err);
	nng_msg_free(m);
	record(c, t1, pid, err);
	slot_next(c, 0);
}

/*
 * The paced sender: request i due at start + i / L.rate, on the
 * monotonic clock ad_now_us reads.  Late by the time it waited for a
 * slot, it sends at once and the schedule stays (the requests after it
 * are not moved).
 */
static void *
sender_main(void *arg)
{
	struct timespec ts;
	int64_t         start, due;
	uint64_t        i;
	struct slot    *c;

	(void)arg;
	/* Wake at the due time, not up to the default 50 us after it. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	start = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (i = 0;; i++) {
		due        = start + (int64_t)((double)i * 1e9 / L.rate);
		ts.tv_sec  = (time_t)(due / 1000000000);
		ts.tv_nsec = (long)(due % 1000000000);
		while (
		    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
		    == EINTR)
			;
		pthread_mutex_lock(&P.mtx);
		if (P.nidle == 0 && !atomic_load(&L.stop))
			P.waits++;
		while (P.nidle == 0 && !atomic_load(&L.stop))
			pthread_cond_wait(&P.cv, &P.mtx);
		if (atomic_load(&L.stop)) {
			pthread_mutex_unlock(&P.mtx);
			break;
		}
		c = P.idle[--P.nidle];
		atomic_fetch_add(&L.active, 1);
		pthread_mutex_unlock(&P.mtx);
		due     = due / 1000;
		c->late = (int32_t)(ad_now_us() - due);
		slot_send(c, due);
	}
	return NULL;
}

/* The load starts: K requests at once, or the paced sender. 0 or -1. */
static int
load_start(struct slot *slots, int k)
{
	int i;

	if (L.rate > 0) {
		P.idle = ad_xcalloc((size_t)k, sizeof(*P.idle));
		for (i = k; i > 0; i--)
			P.idle[P.nidle++] = &slots[i - 1];
		if (pthread_create(&P.thread, NULL, sender_main, NULL) != 0)
			return -1;
		P.running = 1;
		return 0;
	}
	atomic_store(&L.active, k);
	for (i = 0; i < k; i++)
		slot_send(&slots[i], 0);
	return 0;
}

/* No new request from now on; the paced sender has ended on return. */
static void
load_stop(void)
{
	atomic_store(&L.stop, 1);
	pthread_mutex_lock(&P.mtx);
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.mtx);
	if (P.running)
		pthread_join(P.thread, NULL);
	P.running = 0;
}

/* ---- agentd, its control socket, status ----------------------------- */

static nng_socket
dial_control(void)
{
	char *url = ad_xasprintf("ipc://%s/run/control.sock", harness_tmpdir);
	nng_socket s = NNG_SOCKET_INITIALIZER;
	int        rv;

	if ((rv = nng_req0_open(&s)) == 0
	    && (rv = nng_socket_set_ms(
	            s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        == 0
	    && (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 30000)) == 0
	    && (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0)) == 0)
		rv = nng_dial(s, url, NULL, 0);
	if (rv != 0) {
		fprintf(stderr, PROG ": %s: %s\n", url, nng_strerror(rv));
		if (nng_socket_id(s) > 0)
			nng_close(s);
		s = (nng_socket)NNG_SOCKET_INITIALIZER;
	}
	free(url);
	return s;
}

/* A control request message (kind control, dst op, no body). */
static nng_msg *
control_msg(const char *op)
{
	struct ad_envelope e;
	nng_msg           *m = NULL;

	memset(&e, 0, sizeof(e));
	e.id          = ad_envelope_next_id();
	e.kind        = AD_KIND_CONTROL;
	e.deadline_ms = ad_wall_ms() + 30000;
	snprintf(e.dst, sizeof(e.dst), "%s", op);
	ad_envelope_to_msg(&e, &m);
	return m;
}

/* The reply's body parsed into *doc (borrowing from *keep). 0 or -1. */
static int
reply_doc(nng_msg *keep, agentd_doc **doc, const char *what)
{
	struct ad_envelope r;

	if (ad_envelope_decode(
	        nng_msg_body(keep), nng_msg_len(keep), SIZE_MAX, &r)
	    != 0)
		return -1;
	if (r.status != 0) {
		fprintf(stderr, PROG ": %s: status %d: %.*s\n", what, r.status,
		    (int)r.body_len, (const char *)r.body);
		return -1;
	}
	return agentd_parse(r.body, r.body_len, doc) == 0 ? 0 : -1;
}

/* The one agent, as status shows it. */
struct view {
	int64_t gen, redispatched, errors;
	size_t  n;
	struct {
		int64_t pid, gen;
		char    state[16];
	} inst[MAX_VIEW];
};

static int
status_read(nng_socket s, struct view *v)
{
	agentd_doc         *doc;
	const agentd_value *agent, *list, *it;
	nng_msg            *m = control_msg("status");
	size_t              i;

	if (m == NULL)
		return -1;
	if (nng_sendmsg(s, m, 0) != 0) {
		nng_msg_free(m);
		return -1;
	}
	if (nng_recvmsg(s, &m, 0) != 0)
		return -1;
	if (reply_doc(m, &doc, "status") != 0) {
		nng_msg_free(m);
		return -1;
	}
	agent = agentd_array_at(
	    agentd_map_get(agentd_doc_root(doc), "agents"), 0);
	v->gen          = harness_int(agent, "generation");
	v->redispatched = harness_int(agent, "redispatched");
	v->errors       = harness_int(agent, "errors");
	list            = agentd_map_get(agent, "instances");
	v->n            = agentd_len(list);
	if (v->n > MAX_VIEW)
		v->n = MAX_VIEW;
	for (i = 0; i < v->n; i++) {
		it                  = agentd_array_at(list, i);
		v->inst[i].pid      = harness_int(it, "pid");
		v->inst[i].gen      = harness_int(it, "generation");
		v->inst[i].state[0] = '\0';
		agentd_get_strcpy(agentd_map_get(it, "state"),
		    v->inst[i].state, sizeof(v->inst[i].state));
	}
	agentd_doc_free(doc);
	nng_msg_free(m);
	return 0;
}

/* Only the current generation's instances, all of them ready. */
static int
settled(const struct view *v, int64_t old_gen)
{
	size_t i, ready = 0;

	if (v->gen == old_gen)
		return 0;
	for (i = 0; i < v->n; i++) {
		if (v->inst[i].gen != v->gen)
			return 0;
		ready += strcmp(v->inst[i].state, "ready") == 0;
	}
	return ready == NINST;
}

/* ---- the reload request, answered while status is polled ------------ */

static struct {
	nng_socket   s;
	nng_aio     *aio;
	int          sending;
	atomic_int   done;
	atomic_llong t_ans;
	nng_msg     *reply;
	int          rv;
} R;

static void
reload_cb(void *arg)
{
	int rv = nng_aio_result(R.aio);

	(void)arg;
	if (R.sending && rv == 0) {
		R.sending = 0;
		nng_recv_aio(R.s, R.aio);
		return;
	}
	if (R.sending)
		nng_msg_free(nng_aio_get_msg(R.aio));
	R.rv    = rv;
	R.reply = rv == 0 && !R.sending ? nng_aio_get_msg(R.aio) : NULL;
	atomic_store(&R.t_ans, ad_now_us());
	atomic_store(&R.done, 1);
}

static void
reload_send(void)
{
	R.sending = 1;
	R.reply   = NULL;
	atomic_store(&R.done, 0);
	nng_aio_set_msg(R.aio, control_msg("reload"));
	nng_aio_set_timeout(R.aio, RELOAD_TIMEOUT_US / 1000);
	nng_send_aio(R.s, R.aio);
}

/* The outcome of the (only) agent in the reload's answer, in out. */
static void
reload_outcome(char *out, size_t len, char *line, size_t linelen)
{
	agentd_doc         *doc;
	const agentd_value *a;

	snprintf(out, len, "no answer (%s)",
	    R.rv ? nng_strerror(R.rv) : "unreadable");
	line[0] = '\0';
	if (R.reply == NULL)
		return;
	if (reply_doc(R.reply, &doc, "reload") == 0) {
		a = agentd_array_at(
		    agentd_map_get(agentd_doc_root(doc), "agents"), 0);
		agentd_get_strcpy(agentd_map_get(a, "outcome"), out, len);
		agentd_get_strcpy(agentd_map_get(a, "line"), line, linelen);
		agentd_doc_free(doc);
	}
	nng_msg_free(R.reply);
	R.reply = NULL;
}

/* ---- files ------------------------------------------------------------ */

static int
copy_file(const char *from, const char *to, const char *append)
{
	char   buf[65536];
	FILE  *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;
	int    rv = 0;

	if (in == NULL || out == NULL)
		rv = -1;
	while (rv == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rv = -1;
	if (rv == 0 && append != NULL && fputs(append, out) == EOF)
		rv = -1;
	if (in != NULL)
		fclose(in);
	if (out != NULL && fclose(out) != 0)
		rv = -1;
	if (rv == 0)
		rv = chmod(to, 0644);
	return rv;
}

static char *plugdir, *build[2];

static int
write_conf(int64_t probation_ms)
{
	char *dir  = ad_xasprintf("%s/conf", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", dir);
	char *so = ad_xasprintf("%s/plugins/.libs/echo.so", harness_builddir);
	char *cur;
	FILE *f;
	int   rv = 0;

	plugdir  = ad_xasprintf("%s/plugins", harness_tmpdir);
	build[0] = ad_xasprintf("%s/echo-a.so", plugdir);
	build[1] = ad_xasprintf("%s/echo-b.so", plugdir);
	cur      = ad_xasprintf("%s/echo.so", plugdir);
	ad_mkdir_p(dir, 0700);
	ad_mkdir_p(plugdir, 0755);
	if (copy_file(so, build[0], NULL) != 0
	    || copy_file(so, build[1], TRAILER) != 0
	    || copy_file(build[0], cur, NULL) != 0)
		rv = -1;
	if (rv == 0 && (f = fopen(path, "w")) != NULL) {
		fprintf(f,
		    "agent \"echo\" { plugin = \"%s\"\n"
		    "  instances { min = %d max = %d concurrency = 16 }\n"
		    "  health { probation = %lldms }\n"
		    "  request_timeout = 10s }\n",
		    cur, NINST, NINST, (long long)probation_ms);
		fclose(f);
	} else
		rv = -1;
	free(dir);
	free(path);
	free(so);
	free(cur);
	return rv;
}

/* Install build b as echo.so, atomically (a copy, then rename). */
static int
install(int b, int commit)
{
	char *tmp = ad_xasprintf("%s/echo.so.new", plugdir);
	char *cur = ad_xasprintf("%s/echo.so", plugdir);
	int   rv  = commit ? rename(tmp, cur) : copy_file(build[b], tmp, NULL);

	free(tmp);
	free(cur);
	return rv;
}

/* agentd's warning and error lines: counted, the first few shown. */
static int
log_warnings(void)
{
	char *log = ad_xasprintf("%s/agentd.log", harness_tmpdir);
	char  line[1024];
	FILE *f = fopen(log, "r");
	int   n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "] warn:") == NULL
		    && strstr(line, "] error:") == NULL)
			continue;
		if (n++ < 10)
			fprintf(stderr, PROG ": agentd: %s", line);
	}
	if (n > 10)
		fprintf(
		    stderr, PROG ": ... %d warning/error lines in all\n", n);
	if (f != NULL)
		fclose(f);
	free(log);
	return n;
}

/* ---- numbers -------------------------------------------------------- */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank; v sorted here.  0 when empty. */
static int64_t
pct(int64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	return v[i > 0 ? (i > n ? n : i) - 1 : 0];
}

/* The windows: [w0, w1) each, of one kind. */
struct windows {
	size_t   n;
	int64_t *w0, *w1;
};

static void
win_add(struct windows *w, int64_t a, int64_t b)
{
	w->w0         = ad_xrealloc(w->w0, (w->n + 1) * sizeof(int64_t));
	w->w1         = ad_xrealloc(w->w1, (w->n + 1) * sizeof(int64_t));
	w->w0[w->n]   = a;
	w->w1[w->n++] = b;
}

/* The window of w holding t, or -1 (windows are in time order). */
static long
win_of(const struct windows *w, int64_t t)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t < w->w0[mid])
			hi = mid;
		else if (t >= w->w1[mid])
			lo = mid + 1;
		else
			return (long)mid;
	}
	return -1;
}

struct kind_stats {
	double  secs;
	size_t  msgs;
	int64_t p50, p99, max;
	int64_t p99_send; /* from the send: rec.late taken out */
};

static void
kind_stats(const struct windows *w, const struct rec *r, size_t n,
    struct kind_stats *ks, int64_t *scratch)
{
	size_t i, nl = 0;

	memset(ks, 0, sizeof(*ks));
	for (i = 0; i < w->n; i++)
		ks->secs += (double)(w->w1[i] - w->w0[i]) / 1e6;
	for (i = 0; i < n; i++) {
		if (r[i].done_us > 0 && win_of(w, r[i].done_us) >= 0
		    && r[i].err == 0)
			ks->msgs++;
		if (win_of(w, r[i].sent_us) >= 0 && r[i].err == 0)
			scratch[nl++] = r[i].done_us - r[i].sent_us;
	}
	ks->p50 = pct(scratch, nl, 50);
	ks->p99 = pct(scratch, nl, 99);
	ks->max = nl > 0 ? scratch[nl - 1] : 0;
	for (i = 0, nl = 0; i < n; i++)
		if (win_of(w, r[i].sent_us) >= 0 && r[i].err == 0)
			scratch[nl++]
			    = r[i].done_us - r[i].sent_us - r[i].late;
	ks->p99_send = pct(scratch, nl, 99);
}

/* ---- main ------------------------------------------------------------ */

struct opts {
	int         inflight, reloads;
	int64_t     payload, quiet_ms, probation_ms, poll_ms;
	double      warmup, rate;
	const char *trace;
};

/*
 * -o FILE: every request (sent or due, and latency in microseconds from
 * the first request, the answering pid, the error, the sender's lateness)
 * and every reload (t0, answer, old generation gone), as tab-separated
 * lines, for a closer look.
 */
static void
write_trace(const char *path, const struct rec *r, size_t n,
    const int64_t *t0s, const int64_t *answer, const int64_t *gone,
    int reloads)
{
	FILE   *f = fopen(path, "w");
	int64_t base;
	size_t  i;
	int     k;

	if (f == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return;
	}
	base = n > 0 ? r[0].sent_us : 0;
	for (k = 0; k < reloads; k++)
		fprintf(f, "reload\t%lld\t%lld\t%lld\n",
		    (long long)(t0s[k] - base), (long long)answer[k],
		    (long long)gone[k]);
	for (i = 0; i < n; i++)
		fprintf(f, "req\t%lld\t%lld\t%d\t%d\t%d\n",
		    (long long)(r[i].sent_us - base),
		    (long long)(r[i].done_us - r[i].sent_us), (int)r[i].pid,
		    (int)r[i].err, (int)r[i].late);
	fclose(f);
}

static void
pause_until(int64_t t_us)
{
	int64_t d = t_us - ad_now_us();

	if (d > 0) {
		struct timespec ts = { d / 1000000, (d % 1000000) * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* status every poll_ms until end_us; the last view in *v.  0 or -1. */
static int
poll_until(nng_socket ctl, struct view *v, int64_t poll_ms, int64_t end_us)
{
	int64_t next = ad_now_us();

	while (ad_now_us() < end_us) {
		if (status_read(ctl, v) != 0)
			return -1;
		next += poll_ms * 1000;
		pause_until(next < end_us ? next : end_us);
	}
	return 0;
}

/* What a reload that did not settle left: answered or not, and status. */
static void
not_settled(int k, const struct view *v, int64_t old_gen)
{
	size_t i;

	fprintf(stderr,
	    PROG ": reload %d: not settled after %lld s (%s; generation "
	         "%lld, was %lld):",
	    k, RELOAD_TIMEOUT_US / 1000000,
	    atomic_load(&R.done) ? "answered" : "not answered",
	    (long long)v->gen, (long long)old_gen);
	for (i = 0; i < v->n; i++)
		fprintf(stderr, " pid %lld gen %lld %s",
		    (long long)v->inst[i].pid, (long long)v->inst[i].gen,
		    v->inst[i].state);
	fprintf(stderr, "\n");
}

static int
run(const struct opts *o)
{
	struct slot   *slots = ad_xcalloc((size_t)o->inflight, sizeof(*slots));
	struct windows quiet = { 0, NULL, NULL }, during = { 0, NULL, NULL };
	struct windows starting = { 0, NULL, NULL }, after = { 0, NULL, NULL };
	int64_t *answer = ad_xcalloc((size_t)o->reloads, sizeof(int64_t));
	int64_t *gone   = ad_xcalloc((size_t)o->reloads, sizeof(int64_t));
	int64_t *sw     = ad_xcalloc((size_t)o->reloads, sizeof(int64_t));
	int64_t *t0s    = ad_xcalloc((size_t)o->reloads, sizeof(int64_t));
	int64_t *tans   = ad_xcalloc((size_t)o->reloads, sizeof(int64_t));
	int64_t *wmax   = ad_xcalloc((size_t)o->reloads, sizeof(int64_t));
	int64_t *wat    = ad_xcalloc((size_t)o->reloads, sizeof(int64_t));
	int64_t(*oldpid)[MAX_VIEW]
	    = ad_xcalloc((size_t)o->reloads, sizeof(*oldpid));
	int64_t          *scratch;
	struct kind_stats st, du, sa, sb;
	struct view       v;
	nng_socket        load, ctl;
	size_t            n, i;
	int               k, upgraded = 0, rv = 1;
	int64_t           t, end, spike, spike_at, late99, latemax;
	size_t            errors = 0, lost = 0, wrong = 0, old_after = 0;

	pthread_mutex_init(&P.mtx, NULL);
	pthread_cond_init(&P.cv, NULL);
	L.rate    = o->rate;
	L.payload = (size_t)o->payload;
	L.bytes   = ad_xcalloc(1, L.payload + 1);
	L.recs    = ad_xmalloc(MAX_RECS * sizeof(*L.recs));
	ctl       = dial_control();
	load      = dial_control();
	R.s       = dial_control();
	if (nng_socket_id(ctl) <= 0 || nng_socket_id(load) <= 0
	    || nng_socket_id(R.s) <= 0
	    || nng_aio_alloc(&R.aio, reload_cb, NULL) != 0)
		return 1;
	if (status_read(ctl, &v) != 0) {
		fprintf(stderr, PROG ": no status from agentd\n");
		return 1;
	}
	for (k = 0; k < o->inflight; k++) {
		slots[k].ctx = (nng_ctx)NNG_CTX_INITIALIZER;
		if (nng_aio_alloc(&slots[k].aio, slot_cb, &slots[k]) != 0
		    || nng_ctx_open(&slots[k].ctx, load) != 0) {
			fprintf(stderr,
			    PROG ": cannot open the load's "
			         "contexts\n");
			return 1;
		}
	}
	if (load_start(slots, o->inflight) != 0) {
		fprintf(stderr, PROG ": cannot start the sender thread\n");
		goto out;
	}
	pause_until(ad_now_us() + (int64_t)(o->warmup * 1e6));

	for (k = 0; k < o->reloads; k++) {
		int64_t old_gen, t0, t_gone = 0;
		char    outcome[64], line[512];
		size_t  j;

		/* Quiet: steady state, probed like the reload windows. */
		t = ad_now_us();
		if (poll_until(ctl, &v, o->poll_ms, t + o->quiet_ms * 1000)
		    != 0)
			goto out;
		win_add(&quiet, t, ad_now_us());
		if (!settled(&v, -1) && status_read(ctl, &v) != 0)
			goto out;
		old_gen = v.gen;
		for (j = 0; j < v.n; j++)
			oldpid[k][j]
			    = v.inst[j].gen == old_gen ? v.inst[j].pid : 0;
		/* The other build in place, then reload. */
		if (install((k + 1) % 2, 0) != 0 || install(0, 1) != 0) {
			fprintf(stderr,
			    PROG ": cannot install the plugin: %s\n",
			    strerror(errno));
			goto out;
		}
		t0 = t0s[k] = ad_now_us();
		reload_send();
		end = t0 + RELOAD_TIMEOUT_US;
		for (;;) {
			int64_t next = ad_now_us() + o->poll_ms * 1000;

			if (status_read(ctl, &v) != 0)
				goto out;
			if (t_gone == 0 && settled(&v, old_gen))
				t_gone = ad_now_us();
			if (atomic_load(&R.done) && t_gone > 0)
				break;
			if (ad_now_us() > end) {
				not_settled(k + 1, &v, old_gen);
				goto out;
			}
			pause_until(next);
		}
		tans[k]   = atomic_load(&R.t_ans);
		answer[k] = tans[k] - t0;
		gone[k]   = t_gone - t0;
		win_add(&during, t0, tans[k] > t_gone ? tans[k] : t_gone);
		win_add(&starting, t0, tans[k]);
		if (t_gone > tans[k])
			win_add(&after, tans[k], t_gone);
		reload_outcome(outcome, sizeof(outcome), line, sizeof(line));
		if (strcmp(outcome, "upgraded") == 0)
			upgraded++;
		else
			fprintf(stderr, PROG ": reload %d: %s: %s\n", k + 1,
			    outcome, line);
	}
	/* A last quiet window, then the load stops. */
	t = ad_now_us();
	if (poll_until(ctl, &v, o->poll_ms, t + o->quiet_ms * 1000) != 0)
		goto out;
	win_add(&quiet, t, ad_now_us());
	load_stop();
	end = ad_now_us() + (REQ_TIMEOUT_MS + 2000) * 1000LL;
	while (atomic_load(&L.active) > 0 && ad_now_us() < end)
		pause_until(ad_now_us() + 10000);
	if (atomic_load(&L.active) > 0)
		fprintf(stderr, PROG ": %d requests still unanswered\n",
		    atomic_load(&L.active));
	if (status_read(ctl, &v) != 0)
		goto out;

	n = atomic_load(&L.nrec);
	if (n > MAX_RECS) {
		fprintf(stderr,
		    PROG ": more than %u requests: raise MAX_RECS\n",
		    MAX_RECS);
		n = MAX_RECS;
	}
	for (i = 0; i < n; i++) {
		const struct rec *r = &L.recs[i];
		long              w;

		if (r->err == E_WRONG)
			wrong++;
		else if (r->err >= E_NNG)
			lost++;
		else if (r->err != 0)
			errors++;
		if (r->err != 0 && errors + lost + wrong <= 5)
			fprintf(stderr,
			    PROG ": request sent %.3f s into the run: error "
			         "%d\n",
			    (double)(r->sent_us - L.recs[0].sent_us) / 1e6,
			    r->err >= E_NNG && r->err < E_WRONG
			        ? r->err - E_NNG
			        : r->err);
		if (r->err != 0 || (w = win_of(&during, r->sent_us)) < 0)
			continue;
		if (r->done_us - r->sent_us > wmax[w]) {
			wmax[w] = r->done_us - r->sent_us;
			wat[w]  = r->sent_us - t0s[w];
		}
		/* Served by the previous generation of reload w? */
		for (k = 0; k < MAX_VIEW; k++)
			if (oldpid[w][k] != 0 && oldpid[w][k] == r->pid)
				break;
		if (k == MAX_VIEW)
			continue;
		if (r->sent_us - t0s[w] > sw[w])
			sw[w] = r->sent_us - t0s[w];
		if (r->sent_us > tans[w] + 1000)
			old_after++;
	}
	scratch = ad_xmalloc((n + (size_t)o->reloads + 1) * sizeof(int64_t));
	kind_stats(&quiet, L.recs, n, &st, scratch);
	kind_stats(&during, L.recs, n, &du, scratch);
	kind_stats(&starting, L.recs, n, &sa, scratch);
	kind_stats(&after, L.recs, n, &sb, scratch);
	/* The reload whose window held the median spike: where it was. */
	memcpy(scratch, wmax, (size_t)o->reloads * sizeof(int64_t));
	spike = pct(scratch, (size_t)o->reloads, 50);
	for (k = 0; k < o->reloads && wmax[k] != spike; k++)
		;
	spike_at = k < o->reloads ? wat[k] : 0;
	for (i = 0; i < n; i++)
		scratch[i] = L.recs[i].late;
	late99  = pct(scratch, n, 99); /* sorts scratch */
	latemax = n > 0 ? scratch[n - 1] : 0;
	free(scratch);
	if (o->trace != NULL)
		write_trace(
		    o->trace, L.recs, n, t0s, answer, gone, o->reloads);
	printf("reload way=agentd inflight=%d payload=%lld reloads=%d "
	       "upgraded=%d steady_secs=%.3f steady_msgs=%zu "
	       "steady_rate=%.0f steady_p50_us=%lld steady_p99_us=%lld "
	       "steady_max_us=%lld during_secs=%.3f during_msgs=%zu "
	       "during_rate=%.0f during_p50_us=%lld during_p99_us=%lld "
	       "during_max_us=%lld starting_p99_us=%lld after_p99_us=%lld "
	       "spike_p50_us=%lld spike_at_us=%lld "
	       "answer_p50_us=%lld answer_p90_us=%lld "
	       "switch_p50_us=%lld switch_p90_us=%lld gone_p50_us=%lld "
	       "gone_p90_us=%lld sent=%zu replied=%zu errors=%zu lost=%zu "
	       "wrong=%zu old_after=%zu redispatched=%lld "
	       "agentd_errors=%lld log_warnings=%d pace_rate=%.0f "
	       "slot_waits=%zu send_late_p99_us=%lld send_late_max_us=%lld "
	       "steady_p99_send_us=%lld during_p99_send_us=%lld\n",
	    o->inflight, (long long)o->payload, o->reloads, upgraded, st.secs,
	    st.msgs, st.secs > 0 ? (double)st.msgs / st.secs : 0,
	    (long long)st.p50, (long long)st.p99, (long long)st.max, du.secs,
	    du.msgs, du.secs > 0 ? (double)du.msgs / du.secs : 0,
	    (long long)du.p50, (long long)du.p99, (long long)du.max,
	    (long long)sa.p99, (long long)sb.p99, (long long)spike,
	    (long long)spike_at,
	    (long long)pct(answer, (size_t)o->reloads, 50),
	    (long long)pct(answer, (size_t)o->reloads, 90),
	    (long long)pct(sw, (size_t)o->reloads, 50),
	    (long long)pct(sw, (size_t)o->reloads, 90),
	    (long long)pct(gone, (size_t)o->reloads, 50),
	    (long long)pct(gone, (size_t)o->reloads, 90), n, n - lost, errors,
	    lost, wrong, old_after, (long long)v.redispatched,
	    (long long)v.errors, log_warnings(), L.rate, P.waits,
	    (long long)late99, (long long)latemax, (long long)st.p99_send,
	    (long long)du.p99_send);
	rv = upgraded == o->reloads && lost == 0 ? 0 : 1;
	if (rv != 0)
		fprintf(stderr, PROG ": %d of %d reloads upgraded, %zu lost\n",
		    upgraded, o->reloads, lost);
out:
	load_stop();
	nng_close(load);
	nng_close(ctl);
	nng_close(R.s);
	for (k = 0; k < o->inflight; k++)
		nng_aio_free(slots[k].aio);
	nng_aio_free(R.aio);
	free(slots);
	free(answer);
	free(gone);
	free(sw);
	free(t0s);
	free(tans);
	free(wmax);
	free(wat);
	free(starting.w0);
	free(starting.w1);
	free(after.w0);
	free(after.w1);
	free(oldpid);
	free(quiet.w0);
	free(quiet.w1);
	free(during.w0);
	free(during.w1);
	free(P.idle);
	return rv;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " [-k INFLIGHT] [-p BYTES] [-n RELOADS] "
	    "[-q QUIET_MS] [-W WARMUP_SECONDS] [-P PROBATION_MS] "
	    "[-i POLL_MS] [-r RATE] [-o TRACE_FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o = { 14, 10, 64, 300, 0, 5, 0.5, 0, NULL };
	pid_t       pid;
	int         c, rv;

	while ((c = getopt(argc, argv, "k:p:n:q:W:P:i:r:o:")) != -1) {
		switch (c) {
		case 'k':
			o.inflight = atoi(optarg);
			break;
		case 'p':
			o.payload = atoll(optarg);
			break;
		case 'n':
			o.reloads = atoi(optarg);
			break;
		case 'q':
			o.quiet_ms = atoll(optarg);
			break;
		case 'W':
			o.warmup = atof(optarg);
			break;
		case 'P':
			o.probation_ms = atoll(optarg);
			break;
		case 'i':
			o.poll_ms = atoll(optarg);
			break;
		case 'r':
			o.rate = atof(optarg);
			break;
		case 'o':
			o.trace = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.inflight < 1 || o.inflight > 1000
	    || o.reloads < 1 || o.payload < 0 || o.quiet_ms < 1
	    || o.poll_ms < 1 || o.probation_ms < 0 || o.warmup < 0
	    || !(o.rate >= 0 && o.rate <= 1e7))
		usage();
	if (harness_env(PROG) != 0)
		return 2;
	if (write_conf(o.probation_ms) != 0) {
		fprintf(stderr,
		    PROG ": cannot write the configuration or copy "
		         "the plugin: %s\n",
		    strerror(errno));
		return 1;
	}
	/* At level info: the log shows the reload's steps. */
	if ((pid = harness_start_logged("info")) < 0) {
		fprintf(stderr, PROG ": cannot start agentd: %s\n",
		    strerror(errno));
		return 1;
	}
	if (harness_wait_ready(1, NINST, 20000) != 0) {
		fprintf(stderr, PROG ": agentd did not become ready\n");
		rv = 1;
	} else
		rv = run(&o);
	harness_stop(pid);
	return rv;
}
