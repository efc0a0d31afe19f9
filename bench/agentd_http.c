/*
 * agentd_http - bench/run's HTTP API rows (bench/README.md, "HTTP API"):
 * echo calls through agentd's HTTP API against the same calls through
 * its control socket, on the same agentd in the same run; and /metrics
 * scraped with many instances running, with its effect on concurrent
 * calls.
 *
 *   agentd_http calls [-k INFLIGHT] [-p BYTES] [-d SECONDS] [-n WINDOWS]
 *                     [-W WARMUP_SECONDS] [-i INSTANCES] [-c CONCURRENCY]
 *                     [-P FRACTION]
 *   agentd_http metrics [-i INSTANCES] [-k INFLIGHT] [-p BYTES]
 *                     [-n WINDOWS] [-w WINDOW_MS] [-s SCRAPES]
 *                     [-W WARMUP_SECONDS] [-t WAIT_SECONDS]
 *
 * Both start a real agentd (from $BENCH_BUILDDIR) on a configuration
 * written in $BENCH_TMPDIR: agentd { http { listen = "127.0.0.1:0" } }
 * (the address it bound is read from RUN_DIR/http.addr) and one agent
 * "echo" of the bundled echo plugin, min = max = INSTANCES instances of
 * CONCURRENCY requests each.  A token comes from the control operation
 * token.create (role operator for calls, viewer for /metrics).
 *
 * The request is the same on both ways: the value [seq, "xxx...x"] (a
 * BYTES-byte string), as JSON in the HTTP body and as msgpack in the
 * envelope's body; the echo plugin answers {"echo": that value,
 * "instance", "pid"}, and each answer is checked for its seq (HTTP: 200
 * and "[seq," in the JSON; control socket: status 0 and echo[0] == seq).
 *
 * The two clients, each a closed loop of INFLIGHT requests (the next one
 * sent when an answer comes back):
 *   ctl   one nng REQ socket dialed to control.sock, INFLIGHT contexts,
 *         the envelope agentctl sends (kind request, dst "echo");
 *         agentd serves that socket with 16 contexts (AD_CTL_CONTEXTS),
 *         so INFLIGHT above 16 waits for them;
 *   http  libcurl's multi interface in this program's main thread,
 *         INFLIGHT easy handles, each its own keep-alive connection
 *         (HTTP/1.1, opened in the warm-up and kept), POST
 *         /v1/agents/echo/call with "Authorization: Bearer TOKEN".
 * Latency: from the send (nng_ctx_send; curl_multi_add_handle) to the
 * answer in hand (the aio's callback; CURLMSG_DONE).
 *
 * calls: after WARMUP_SECONDS of each way, WINDOWS windows of each, of
 *   SECONDS / WINDOWS each, alternating (ctl, http, http, ctl, ctl, ...:
 *   neither always first); each window starts its way's load, lets it
 *   settle for SETTLE_MS, measures, then stops it and lets it drain, so
 *   only one way runs at a time.  Requests: those sent in a window of
 *   their way (latency), those answered in it (throughput).  CPU: agentd's
 *   (/proc/PID/stat, all its threads, not the workers) and this
 *   program's (getrusage) over the windows of each way, per call.
 *   Prints one line:
 *     http way=calls payload=P inflight=K instances=I concurrency=C
 *       windows=N ctl_msgs=M ctl_secs=S ctl_rate=R ctl_p50_us=X
 *       ctl_p99_us=Y http_msgs=... http_secs=... http_rate=...
 *       http_p50_us=... http_p99_us=... ratio=H/C added_p50_us=D
 *       added_p99_us=E ctl_sv_cpu_us=A http_sv_cpu_us=B ctl_cli_cpu_us=F
 *       http_cli_cpu_us=G http_mhd_cpu_us=M errors=E
 *   ratio is http_rate / ctl_rate, added_* http's latency minus ctl's;
 *   http_mhd_cpu_us the part of http_sv_cpu_us spent in agentd's HTTP
 *   thread (libmicrohttpd's: its schedstat, per call).  With -P, as many
 *   windows of each way again, paced (paced()): the line also has
 *   pace_rate= ctl_paced_rate= ctl_paced_p50_us= ctl_paced_p99_us=
 *   http_paced_rate= http_paced_p50_us= http_paced_p99_us=
 *   added_paced_p50_us= added_paced_p99_us= ("-" without -P).
 *
 * metrics: INSTANCES instances (agentd_spawn's restart settings), a wait
 *   of at most WAIT_SECONDS (default 20 + INSTANCES / 10) until all are
 *   ready; then SCRAPES scrapes of GET /metrics 100 ms apart with
 *   nothing else running (one kept connection, after one untimed
 *   scrape), each timed from the request to the last byte of the page;
 *   then the ctl load of INFLIGHT calls for WARMUP_SECONDS and 2 x
 *   WINDOWS windows of WINDOW_MS (default 1000), alternating without and
 *   with a scrape: in each "with" window one scrape, sent at its middle
 *   (the load never stops: a scrape a second while it runs).  Prints:
 *     http way=metrics instances=N ready=R start_ms=S scrapes=S bytes=B
 *       scrape_ready=R scrape_p50_us=X scrape_p90_us=Y scrape_max_us=Z
 *       scrape_cpu_us=C inflight=K windows=N window_ms=W
 *       load_scrape_p50_us=X load_scrape_max_us=Y without_msgs=M
 *       without_rate=R without_p50_us=X without_p99_us=Y
 *       without_p999_us=Z without_max_us=W with_msgs=... with_rate=...
 *       with_p50_us=... with_p99_us=... with_p999_us=... with_max_us=...
 *       p99_ratio=Q errors=E
 *   scrape_ready: the ready instances the page reports
 *   (agentd_instances{agent="echo",state="ready"}); scrape_cpu_us: the
 *   CPU time of agentd's HTTP thread (libmicrohttpd's, which builds the
 *   page) per idle scrape; p99_ratio: with_p99 / without_p99.
 *
 * agentd's log (level warn, and its workers') is in $BENCH_TMPDIR/
 * agentd.log; its end is shown when something fails.  Exit 0 when
 * measured, 1 otherwise.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus/envelope.h"
#include "common/nngx.h"
#include "common/util.h"
#include "harness.h"

#define PROG "agentd_http"
#define REQ_TIMEOUT_MS 10000  /* a call without an answer: an error */
#define SETTLE_MS 50          /* calls: a window's load before it counts */
#define SCRAPE_GAP_MS 100     /* metrics: between the idle scrapes */
#define MAX_RECS (4u << 20)   /* requests kept per way: 96 MiB at most */
#define MAX_PAYLOAD (1 << 20) /* -p, at most */

/* ---- what both ways record ------------------------------------------- */

struct rec {
	int64_t sent_us, done_us;
	int32_t err; /* 0, or not the answer asked for */
};

struct recs {
	struct rec   *v;
	atomic_size_t n;
};

static void
recs_add(struct recs *r, int64_t sent, int64_t done, int32_t err)
{
	size_t i = atomic_fetch_add(&r->n, 1);

	if (i < MAX_RECS) {
		r->v[i].sent_us = sent;
		r->v[i].done_us = done;
		r->v[i].err     = err;
	}
}

static size_t
recs_count(struct recs *r)
{
	size_t n = atomic_load(&r->n);

	return n < MAX_RECS ? n : MAX_RECS;
}

/* The payload string: BYTES times 'x', and its seq. */
static char  *payload;
static size_t payload_len;

/*
 * Paced windows (-P): each of the INFLIGHT requesters sends at most one
 * call every pace_us (its next call waits for that, or leaves at once
 * when its answer came later); 0: closed loops.
 */
static int64_t pace_us;

/* When a requester whose call was answered at now sends its next: 0 at
 * once, else the time to wait until; *next moves on by pace_us. */
static int64_t
pace_next(int64_t *next, int64_t now)
{
	if (pace_us == 0)
		return 0;
	*next += pace_us;
	if (*next <= now) {
		*next = now; /* late: at once, no burst to catch up */
		return 0;
	}
	return *next;
}

/* ---- the control socket: INFLIGHT nng REQ contexts -------------------- */

struct cslot {
	nng_ctx    ctx;
	nng_aio   *aio;
	int        sending;
	atomic_int idle; /* paced: its next call waits for next_us */
	int64_t    t0, next_us;
	uint64_t   seq;
};

static struct {
	nng_socket    s;
	struct cslot *slots;
	int           k;
	atomic_int    stop, active;
	atomic_ullong seq;
	struct recs   recs;
} C;

static void
cslot_send(struct cslot *c)
{
	struct ad_envelope e;
	agentd_writer     *w;
	nng_msg           *m;
	int                rv;

	c->seq = atomic_fetch_add(&C.seq, 1);
	agentd_writer_new(&w);
	agentd_write_array(w, 2);
	agentd_write_uint(w, c->seq);
	agentd_write_str(w, payload);
	memset(&e, 0, sizeof(e));
	e.id          = ad_envelope_next_id();
	e.kind        = AD_KIND_REQUEST;
	e.deadline_ms = ad_wall_ms() + REQ_TIMEOUT_MS;
	snprintf(e.dst, sizeof(e.dst), "echo");
	e.body = agentd_writer_data(w, &e.body_len);
	rv     = ad_envelope_to_msg(&e, &m);
	agentd_writer_free(w);
	if (rv != 0) {
		atomic_fetch_sub(&C.active, 1);
		return;
	}
	c->sending = 1;
	c->t0      = ad_now_us();
	nng_aio_set_msg(c->aio, m);
	nng_ctx_send(c->ctx, c->aio);
}

/* 0 when m answers seq: status 0 and echo[0] == seq. */
static int32_t
cslot_check(nng_msg *m, uint64_t seq)
{
	struct ad_envelope r;
	agentd_doc        *doc;
	uint64_t           got = UINT64_MAX;

	if (ad_envelope_decode(nng_msg_body(m), nng_msg_len(m), SIZE_MAX, &r)
	        != 0
	    || r.status != 0 || agentd_parse(r.body, r.body_len, &doc) != 0)
		return 1;
	agentd_get_uint(
	    agentd_array_at(agentd_map_get(agentd_doc_root(doc), "echo"), 0),
	    &got);
	agentd_doc_free(doc);
	return got == seq ? 0 : 1;
}

/* Send c's next call, or leave it to ctl_due() when it is not yet due
 * (nng's timers would send the requesters' calls in bursts). */
static void
cslot_next(struct cslot *c, int64_t due)
{
	if (due - ad_now_us() >= 100) {
		atomic_store(&c->idle, 1);
		return;
	}
	cslot_send(c);
}

/* Paced: send the idle requesters that are due (all of them, to end,
 * when stopping); when the next one is. */
static int64_t
ctl_due(void)
{
	int64_t now = ad_now_us(), next = INT64_MAX;
	int     i;

	for (i = 0; i < C.k; i++) {
		struct cslot *c = &C.slots[i];

		if (!atomic_load(&c->idle))
			continue;
		if (atomic_load(&C.stop)) {
			atomic_store(&c->idle, 0);
			atomic_fetch_sub(&C.active, 1);
		} else if (c->next_us - now < 100) {
			atomic_store(&c->idle, 0);
			cslot_send(c);
		} else if (c->next_us < next) {
			next = c->next_us;
		}
	}
	return next;
}

static void
cslot_cb(void *arg)
{
	struct cslot *c  = arg;
	int           rv = nng_aio_result(c->aio);
	int64_t       t1;
	nng_msg      *m;

	if (c->sending) {
		c->sending = 0;
		if (rv == 0) {
			nng_aio_set_timeout(c->aio, REQ_TIMEOUT_MS);
			nng_ctx_recv(c->ctx, c->aio);
			return;
		}
		nng_msg_free(nng_aio_get_msg(c->aio));
		recs_add(&C.recs, c->t0, ad_now_us(), 1);
	} else {
		t1 = ad_now_us();
		if (rv == 0) {
			m = nng_aio_get_msg(c->aio);
			recs_add(&C.recs, c->t0, t1, cslot_check(m, c->seq));
			nng_msg_free(m);
		} else {
			recs_add(&C.recs, c->t0, t1, 1);
		}
	}
	if (rv == NNG_ECLOSED || atomic_load(&C.stop)) {
		atomic_fetch_sub(&C.active, 1);
		return;
	}
	cslot_next(c, pace_next(&c->next_us, ad_now_us()));
}

static int
ctl_open(int k)
{
	char *url = ad_xasprintf("ipc://%s/run/control.sock", harness_tmpdir);
	int   rv, i;

	C.k      = k;
	C.slots  = ad_xcalloc((size_t)k, sizeof(*C.slots));
	C.recs.v = ad_xmalloc(MAX_RECS * sizeof(struct rec));
	if ((rv = nng_req0_open(&C.s)) == 0
	    && (rv = nng_socket_set_ms(
	            C.s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        == 0
	    && (rv = nng_socket_set_size(C.s, NNG_OPT_RECVMAXSZ, 0)) == 0)
		rv = nng_dial(C.s, url, NULL, 0);
	for (i = 0; rv == 0 && i < k; i++)
		if ((rv = nng_aio_alloc(
		         &C.slots[i].aio, cslot_cb, &C.slots[i]))
		    == 0)
			rv = nng_ctx_open(&C.slots[i].ctx, C.s);
	if (rv != 0)
		fprintf(stderr, PROG ": %s: %s\n", url, nng_strerror(rv));
	free(url);
	return rv == 0 ? 0 : -1;
}

static void
ctl_start(void)
{
	int i;

	int64_t now = ad_now_us();

	atomic_store(&C.stop, 0);
	atomic_store(&C.active, C.k);
	/* Paced: the requesters' calls spread over one pace_us. */
	for (i = 0; i < C.k; i++) {
		C.slots[i].next_us = now + pace_us * i / C.k;
		cslot_next(&C.slots[i], C.slots[i].next_us);
	}
}

/* No new call; returns when every one in flight is answered (or lost). */
static void
ctl_stop(void)
{
	int64_t end = ad_now_us() + (REQ_TIMEOUT_MS + 2000) * 1000LL;

	atomic_store(&C.stop, 1);
	while (atomic_load(&C.active) > 0 && ad_now_us() < end) {
		ctl_due();
		usleep(200);
	}
}

static void
ctl_close(void)
{
	int i;

	nng_close(C.s);
	for (i = 0; i < C.k; i++)
		nng_aio_free(C.slots[i].aio);
	free(C.slots);
}

/* ---- HTTP: libcurl ---------------------------------------------------- */

static char               url_call[128], url_metrics[128];
static struct curl_slist *headers;

/* What a transfer received. */
struct buf {
	char  *p;
	size_t len, cap;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	n *= size;
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * (b->len + n + 1);
		b->p   = ad_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static CURL *
easy_new(const char *url, struct buf *b)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)REQ_TIMEOUT_MS);
	return e;
}

/*
 * "Authorization: Bearer TOKEN"; "Expect:" so that curl never waits for
 * a 100 Continue (it asks for one above 1 KiB of body).
 */
static void
headers_make(const char *token)
{
	char *auth = ad_xasprintf("Authorization: Bearer %s", token);

	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	free(auth);
}

struct hslot {
	CURL      *e;
	char      *body;
	size_t     cap;
	struct buf resp;
	int64_t    t0, next_us;
	uint64_t   seq;
	int        idle; /* paced: waits for next_us */
};

static struct {
	CURLM        *m;
	struct hslot *slots;
	int           k, stop, active;
	uint64_t      seq;
	struct recs   recs;
} H;

static void
hslot_send(struct hslot *h)
{
	int n;

	h->seq      = H.seq++;
	n           = snprintf(h->body, h->cap, "[%llu,\"%s\"]",
	              (unsigned long long)h->seq, payload);
	h->resp.len = 0;
	curl_easy_setopt(h->e, CURLOPT_POSTFIELDS, h->body);
	curl_easy_setopt(h->e, CURLOPT_POSTFIELDSIZE, (long)n);
	h->t0 = ad_now_us();
	curl_multi_add_handle(H.m, h->e);
}

/* 0 when h's answer is 200 and holds "[seq,". */
static int32_t
hslot_check(struct hslot *h, CURLcode res)
{
	long code = 0;
	char want[32];

	if (res != CURLE_OK || h->resp.p == NULL)
		return 1;
	curl_easy_getinfo(h->e, CURLINFO_RESPONSE_CODE, &code);
	snprintf(want, sizeof(want), "[%llu,", (unsigned long long)h->seq);
	return code == 200 && strstr(h->resp.p, want) != NULL ? 0 : 1;
}

static int
http_open(int k)
{
	int i;

	H.k      = k;
	H.m      = curl_multi_init();
	H.slots  = ad_xcalloc((size_t)k, sizeof(*H.slots));
	H.recs.v = ad_xmalloc(MAX_RECS * sizeof(struct rec));
	if (H.m == NULL)
		return -1;
	curl_multi_setopt(H.m, CURLMOPT_MAXCONNECTS, (long)k + 4);
	for (i = 0; i < k; i++) {
		struct hslot *h = &H.slots[i];

		h->cap  = payload_len + 32;
		h->body = ad_xmalloc(h->cap);
		if ((h->e = easy_new(url_call, &h->resp)) == NULL)
			return -1;
		curl_easy_setopt(h->e, CURLOPT_PRIVATE, h);
	}
	return 0;
}

static void
http_start(void)
{
	int i;

	int64_t now = ad_now_us();

	H.stop   = 0;
	H.active = H.k;
	for (i = 0; i < H.k; i++) {
		struct hslot *h = &H.slots[i];

		h->next_us = now + pace_us * i / H.k;
		h->idle    = h->next_us > now;
		if (!h->idle)
			hslot_send(h);
	}
}

/* Paced: send the idle requesters that are due; the milliseconds until
 * the next one is (at most max_ms). */
static int
http_due(int64_t now, int max_ms)
{
	int64_t wait = (int64_t)max_ms * 1000;
	int     i;

	for (i = 0; i < H.k; i++) {
		struct hslot *h = &H.slots[i];

		if (!h->idle)
			continue;
		if (H.stop) {
			h->idle = 0;
			H.active--;
		} else if (h->next_us - now < 1000) { /* due within 1 ms */
			h->idle = 0;
			hslot_send(h);
		} else if (h->next_us - now < wait) {
			wait = h->next_us - now;
		}
	}
	return (int)(wait / 1000);
}

/*
 * The HTTP load until until_us (on this thread); then, if stop, no new
 * request, and on until every one in flight is answered.
 */
static void
http_run(int64_t until_us, int stop)
{
	CURLMsg *msg;
	int      running, left, wait_ms = 5;

	for (;;) {
		curl_multi_perform(H.m, &running);
		while ((msg = curl_multi_info_read(H.m, &left)) != NULL) {
			struct hslot *h;
			int64_t       t1 = ad_now_us();

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(
			    msg->easy_handle, CURLINFO_PRIVATE, (char **)&h);
			recs_add(&H.recs, h->t0, t1,
			    hslot_check(h, msg->data.result));
			curl_multi_remove_handle(H.m, h->e);
			if (H.stop)
				H.active--;
			else if (pace_next(&h->next_us, t1) - t1 >= 1000)
				h->idle = 1;
			else
				hslot_send(h);
		}
		if (!H.stop && ad_now_us() >= until_us) {
			if (!stop)
				return;
			H.stop = 1;
		}
		if (pace_us > 0)
			wait_ms = http_due(ad_now_us(), 5);
		if (H.stop && H.active == 0)
			return;
		if (wait_ms > 0)
			curl_multi_poll(H.m, NULL, 0, wait_ms, NULL);
	}
}

static void
http_close(void)
{
	int i;

	for (i = 0; i < H.k; i++) {
		curl_easy_cleanup(H.slots[i].e);
		free(H.slots[i].body);
		free(H.slots[i].resp.p);
	}
	free(H.slots);
	curl_multi_cleanup(H.m);
}

/* ---- numbers ---------------------------------------------------------- */

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

/* The windows of one kind: [w0, w1) each, in time order. */
struct windows {
	size_t  n;
	int64_t w0[1024], w1[1024];
};

static int
win_in(const struct windows *w, int64_t t)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t < w->w0[mid])
			hi = mid;
		else if (t >= w->w1[mid])
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

struct stats {
	double  secs, rate;
	size_t  msgs, errors;
	int64_t p50, p99, p999, max;
};

/* The requests of r in w's windows: answered in them, sent in them. */
static void
stats_of(const struct windows *w, struct recs *r, struct stats *s)
{
	size_t   n = recs_count(r), i, nl = 0;
	int64_t *lat = ad_xmalloc((n + 1) * sizeof(int64_t));

	memset(s, 0, sizeof(*s));
	for (i = 0; i < w->n; i++)
		s->secs += (double)(w->w1[i] - w->w0[i]) / 1e6;
	for (i = 0; i < n; i++) {
		const struct rec *x = &r->v[i];

		if (!win_in(w, x->sent_us))
			continue;
		if (x->err != 0) {
			s->errors++;
			continue;
		}
		lat[nl++] = x->done_us - x->sent_us;
	}
	for (i = 0; i < n; i++)
		s->msgs += r->v[i].err == 0 && win_in(w, r->v[i].done_us);
	s->rate = s->secs > 0 ? (double)s->msgs / s->secs : 0;
	s->p50  = pct(lat, nl, 50);
	s->p99  = pct(lat, nl, 99);
	s->p999 = pct(lat, nl, 99.9);
	s->max  = nl > 0 ? lat[nl - 1] : 0;
	free(lat);
}

/* agentd's CPU time (all its threads), microseconds; -1 if unknown. */
static int64_t
cpu_of(pid_t pid)
{
	char               path[64], line[1024], *p;
	unsigned long long ut, st;
	FILE              *f;
	int                ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return -1;
	/* After "(comm)": state is field 3; utime and stime are 14, 15. */
	ok = sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu",
	    &ut, &st);
	if (ok != 2)
		return -1;
	return (int64_t)((ut + st) * 1000000ULL
	    / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/*
 * The CPU time of agentd's HTTP threads (libmicrohttpd's: "MHD-single",
 * or each "MHD-worker" of a pool), summed from their schedstat:
 * nanoseconds, so a single scrape shows; microseconds, -1 if none.
 */
static int64_t
cpu_mhd(pid_t pid)
{
	char               dir[32], p[320], name[32];
	unsigned long long ns, sum = 0;
	int                found = 0;
	DIR               *d;
	struct dirent     *e;
	FILE              *f;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/comm", dir, e->d_name);
		if ((f = fopen(p, "r")) == NULL)
			continue;
		name[0] = '\0';
		if (fgets(name, sizeof(name), f) == NULL)
			name[0] = '\0';
		fclose(f);
		if (strncmp(name, "MHD", 3) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s/schedstat", dir, e->d_name);
		if ((f = fopen(p, "r")) == NULL)
			continue;
		if (fscanf(f, "%llu", &ns) == 1) {
			sum += ns;
			found = 1;
		}
		fclose(f);
	}
	closedir(d);
	return found ? (int64_t)(sum / 1000) : -1;
}

static int64_t
cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec
	    + (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

static void
sleep_until(int64_t t_us)
{
	int64_t d = t_us - ad_now_us();

	if (d > 0) {
		struct timespec ts = { d / 1000000, (d % 1000000) * 1000 };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}

/* Until t_us; paced control-socket calls are sent from here meanwhile. */
static void
pause_until(int64_t t_us)
{
	int64_t next;

	if (pace_us == 0) {
		sleep_until(t_us);
		return;
	}
	while (ad_now_us() < t_us) {
		/* An answer makes its requester idle meanwhile: look again
		 * within 500 us. */
		next = ctl_due();
		if (next > ad_now_us() + 500)
			next = ad_now_us() + 500;
		sleep_until(next < t_us ? next : t_us);
	}
}

/* ---- agentd ----------------------------------------------------------- */

static int
write_conf(int ninst, int conc)
{
	char *dir  = ad_xasprintf("%s/conf", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", dir);
	char *so = ad_xasprintf("%s/plugins/.libs/echo.so", harness_builddir);
	FILE *f;

	ad_mkdir_p(dir, 0700);
	if ((f = fopen(path, "w")) != NULL) {
		fprintf(f,
		    "agentd { http { listen = \"127.0.0.1:0\" } }\n"
		    "agent \"echo\" { plugin = \"%s\"\n"
		    "  instances { min = %d max = %d concurrency = %d }\n"
		    "  restart { backoff_initial = 0ms intensity = 1000 "
		    "period = 1s } }\n",
		    so, ninst, ninst, conc);
		fclose(f);
	}
	free(dir);
	free(path);
	free(so);
	return f == NULL ? -1 : 0;
}

/* A token of role from token.create, into the headers.  0 or -1. */
static int
make_token(const char *role)
{
	agentd_writer *w;
	agentd_doc    *doc;
	nng_msg       *m;
	char           token[256] = "";
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "name");
	agentd_write_str(w, "bench");
	agentd_write_str(w, "role");
	agentd_write_str(w, role);
	rv = harness_control(
	    PROG, AD_KIND_CONTROL, "token.create", w, 10000, &doc, &m);
	agentd_writer_free(w);
	if (rv != 0)
		return -1;
	agentd_get_strcpy(agentd_map_get(agentd_doc_root(doc), "token"), token,
	    sizeof(token));
	agentd_doc_free(doc);
	nng_msg_free(m);
	if (token[0] == '\0')
		return -1;
	headers_make(token);
	return 0;
}

/* RUN_DIR/http.addr (at most 10 s for it) into the URLs.  0 or -1. */
static int
read_addr(void)
{
	char   *path     = ad_xasprintf("%s/run/http.addr", harness_tmpdir);
	char    addr[96] = "";
	int64_t end      = ad_now_ms() + 10000;
	FILE   *f;

	while (addr[0] == '\0' && ad_now_ms() < end) {
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(addr, sizeof(addr), f) == NULL)
				addr[0] = '\0';
			fclose(f);
		}
		addr[strcspn(addr, "\n")] = '\0';
		if (addr[0] == '\0')
			usleep(50 * 1000);
	}
	free(path);
	if (addr[0] == '\0') {
		fprintf(stderr, PROG ": no address in run/http.addr\n");
		return -1;
	}
	snprintf(
	    url_call, sizeof(url_call), "http://%s/v1/agents/echo/call", addr);
	snprintf(url_metrics, sizeof(url_metrics), "http://%s/metrics", addr);
	return 0;
}

/* ---- calls: HTTP against the control socket --------------------------- */

struct opts {
	int     inflight, windows, instances, concurrency, scrapes;
	int64_t payload, window_ms, wait_s;
	double  secs, warmup, pace;
};

/* One window of way (0: ctl, 1: http), of win_us, into w. */
static void
window(int way, int64_t win_us, struct windows *w, int64_t *sv_cpu,
    int64_t *cli_cpu, int64_t *mhd_cpu)
{
	int64_t t, w0, w1, c0, s0, m0;

	if (way == 0) {
		ctl_start();
		pause_until(ad_now_us() + SETTLE_MS * 1000);
	} else {
		http_start();
		http_run(ad_now_us() + SETTLE_MS * 1000, 0);
	}
	c0 = cpu_of(harness_agentd);
	s0 = cpu_self();
	m0 = cpu_mhd(harness_agentd);
	w0 = ad_now_us();
	if (way == 0)
		pause_until(w0 + win_us);
	else
		http_run(w0 + win_us, 0);
	w1 = ad_now_us();
	*sv_cpu += cpu_of(harness_agentd) - c0;
	*cli_cpu += cpu_self() - s0;
	*mhd_cpu += cpu_mhd(harness_agentd) - m0;
	t = ad_now_us();
	if (way == 0)
		ctl_stop();
	else
		http_run(t, 1);
	w->w0[w->n]   = w0;
	w->w1[w->n++] = w1;
}

static size_t paced_errors;

/*
 * -P FRAC: both ways again, in as many alternating windows, each of its
 * INFLIGHT requesters paced so that together they offer FRAC x rate
 * calls/s (rate: the slower way's closed-loop rate of this run): the
 * latency each way adds at the same load, below what either can carry,
 * without the queueing of a saturated closed loop.  Its fields into f.
 */
static void
paced(const struct opts *o, int64_t win_us, double rate, char *f, size_t n)
{
	struct windows *wc, *wh;
	struct stats    sc, sh;
	int64_t         unused[6] = { 0 };
	int             j, first;

	if (o->pace <= 0 || rate <= 0) {
		snprintf(f, n,
		    "pace_rate=- ctl_paced_rate=- ctl_paced_p50_us=- "
		    "ctl_paced_p99_us=- http_paced_rate=- "
		    "http_paced_p50_us=- http_paced_p99_us=- "
		    "added_paced_p50_us=- added_paced_p99_us=-");
		return;
	}
	wc      = ad_xcalloc(1, sizeof(*wc));
	wh      = ad_xcalloc(1, sizeof(*wh));
	pace_us = (int64_t)((double)o->inflight * 1e6 / (o->pace * rate));
	for (j = 0; j < o->windows; j++) {
		first = (j % 2 == 0) ? 0 : 1;
		window(first, win_us, first ? wh : wc, &unused[0], &unused[1],
		    &unused[2]);
		window(!first, win_us, first ? wc : wh, &unused[3], &unused[4],
		    &unused[5]);
	}
	pace_us = 0;
	stats_of(wc, &C.recs, &sc);
	stats_of(wh, &H.recs, &sh);
	paced_errors = sc.errors + sh.errors;
	snprintf(f, n,
	    "pace_rate=%.0f ctl_paced_rate=%.0f ctl_paced_p50_us=%lld "
	    "ctl_paced_p99_us=%lld http_paced_rate=%.0f "
	    "http_paced_p50_us=%lld http_paced_p99_us=%lld "
	    "added_paced_p50_us=%lld added_paced_p99_us=%lld",
	    o->pace * rate, sc.rate, (long long)sc.p50, (long long)sc.p99,
	    sh.rate, (long long)sh.p50, (long long)sh.p99,
	    (long long)(sh.p50 - sc.p50), (long long)(sh.p99 - sc.p99));
	free(wc);
	free(wh);
}

static int
run_calls(const struct opts *o)
{
	struct windows *wc = ad_xcalloc(1, sizeof(*wc));
	struct windows *wh = ad_xcalloc(1, sizeof(*wh));
	struct stats    sc, sh;
	int64_t         win_us = (int64_t)(o->secs * 1e6 / o->windows);
	int64_t cpu[2] = { 0, 0 }, cli[2] = { 0, 0 }, mhd[2] = { 0, 0 };
	int     j, first;
	char    pacedf[512];

	if (make_token("operator") != 0 || read_addr() != 0
	    || ctl_open(o->inflight) != 0 || http_open(o->inflight) != 0) {
		fprintf(stderr, PROG ": cannot set up the two clients\n");
		return 1;
	}
	/* Warm-up: each way's connections made, its path warm. */
	ctl_start();
	pause_until(ad_now_us() + (int64_t)(o->warmup * 1e6));
	ctl_stop();
	http_start();
	http_run(ad_now_us() + (int64_t)(o->warmup * 1e6), 1);
	for (j = 0; j < o->windows; j++) {
		first = (j % 2 == 0) ? 0 : 1; /* ctl http, http ctl, ... */
		window(first, win_us, first ? wh : wc, &cpu[first],
		    &cli[first], &mhd[first]);
		window(!first, win_us, first ? wc : wh, &cpu[!first],
		    &cli[!first], &mhd[!first]);
	}
	stats_of(wc, &C.recs, &sc);
	stats_of(wh, &H.recs, &sh);
	paced(o, win_us, sc.rate < sh.rate ? sc.rate : sh.rate, pacedf,
	    sizeof(pacedf));
	printf("http way=calls payload=%lld inflight=%d instances=%d "
	       "concurrency=%d windows=%d ctl_msgs=%zu ctl_secs=%.3f "
	       "ctl_rate=%.0f ctl_p50_us=%lld ctl_p99_us=%lld "
	       "http_msgs=%zu http_secs=%.3f http_rate=%.0f "
	       "http_p50_us=%lld http_p99_us=%lld ratio=%.3f "
	       "added_p50_us=%lld added_p99_us=%lld ctl_sv_cpu_us=%.1f "
	       "http_sv_cpu_us=%.1f ctl_cli_cpu_us=%.1f "
	       "http_cli_cpu_us=%.1f http_mhd_cpu_us=%.1f %s errors=%zu\n",
	    (long long)o->payload, o->inflight, o->instances, o->concurrency,
	    o->windows, sc.msgs, sc.secs, sc.rate, (long long)sc.p50,
	    (long long)sc.p99, sh.msgs, sh.secs, sh.rate, (long long)sh.p50,
	    (long long)sh.p99, sc.rate > 0 ? sh.rate / sc.rate : 0,
	    (long long)(sh.p50 - sc.p50), (long long)(sh.p99 - sc.p99),
	    sc.msgs ? (double)cpu[0] / (double)sc.msgs : 0,
	    sh.msgs ? (double)cpu[1] / (double)sh.msgs : 0,
	    sc.msgs ? (double)cli[0] / (double)sc.msgs : 0,
	    sh.msgs ? (double)cli[1] / (double)sh.msgs : 0,
	    sh.msgs ? (double)mhd[1] / (double)sh.msgs : 0, pacedf,
	    sc.errors + sh.errors + paced_errors);
	if (sc.errors + sh.errors + paced_errors > 0)
		fprintf(stderr,
		    PROG ": %zu calls failed (ctl %zu, http %zu, paced %zu)\n",
		    sc.errors + sh.errors + paced_errors, sc.errors, sh.errors,
		    paced_errors);
	ctl_close();
	http_close();
	free(wc);
	free(wh);
	return sc.msgs > 0 && sh.msgs > 0 ? 0 : 1;
}

/* ---- metrics: /metrics with many instances ---------------------------- */

/*
 * One GET /metrics on e (its buffer b): microseconds from the request to
 * the page's last byte, -1 on failure.  The ready instances the page
 * reports into *ready (when not NULL).
 */
static int64_t
scrape(CURL *e, struct buf *b, long *ready)
{
	const char *key = "agentd_instances{agent=\"echo\",state=\"ready\"} ";
	const char *p;
	long        code = 0;
	int64_t     t0, t1;
	CURLcode    res;

	b->len = 0;
	t0     = ad_now_us();
	res    = curl_easy_perform(e);
	t1     = ad_now_us();
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	if (res != CURLE_OK || code != 200 || b->p == NULL) {
		fprintf(stderr, PROG ": GET /metrics: %s, status %ld\n",
		    curl_easy_strerror(res), code);
		return -1;
	}
	if (ready != NULL && (p = strstr(b->p, key)) != NULL)
		*ready = strtol(p + strlen(key), NULL, 10);
	return t1 - t0;
}

static int
run_metrics(const struct opts *o, int64_t t_start_ms)
{
	struct windows *wo   = ad_xcalloc(1, sizeof(*wo));
	struct windows *ww   = ad_xcalloc(1, sizeof(*ww));
	int64_t        *idle = ad_xcalloc((size_t)o->scrapes, sizeof(int64_t));
	int64_t        *busy = ad_xcalloc((size_t)o->windows, sizeof(int64_t));
	int64_t         win_us = o->window_ms * 1000, start_ms, t, c0, cpu;
	struct stats    so, sw;
	struct buf      b = { NULL, 0, 0 };
	CURL           *e;
	long            ready = -1;
	size_t          bytes;
	int             j, rv = 1;

	/* Everything ready: start_ms to the last instance's ready. */
	start_ms = ad_now_ms() - t_start_ms;
	if (make_token("viewer") != 0 || read_addr() != 0
	    || ctl_open(o->inflight) != 0
	    || (e = easy_new(url_metrics, &b)) == NULL) {
		fprintf(stderr, PROG ": cannot set up the clients\n");
		return 1;
	}
	if (scrape(e, &b, NULL) < 0) /* the connection, untimed */
		goto out;
	c0 = cpu_mhd(harness_agentd);
	for (j = 0; j < o->scrapes; j++) {
		pause_until(ad_now_us() + SCRAPE_GAP_MS * 1000);
		if ((idle[j] = scrape(e, &b, &ready)) < 0)
			goto out;
	}
	cpu   = cpu_mhd(harness_agentd) - c0;
	bytes = b.len;
	/* The load, then windows without and with a scrape, alternating. */
	ctl_start();
	pause_until(ad_now_us() + (int64_t)(o->warmup * 1e6));
	for (j = 0; j < 2 * o->windows; j++) {
		struct windows *w = j % 2 ? ww : wo;

		t           = ad_now_us();
		w->w0[w->n] = t;
		if (j % 2) {
			pause_until(t + win_us / 2);
			if ((busy[j / 2] = scrape(e, &b, NULL)) < 0)
				goto out;
		}
		pause_until(t + win_us);
		w->w1[w->n++] = ad_now_us();
	}
	ctl_stop();
	stats_of(wo, &C.recs, &so);
	stats_of(ww, &C.recs, &sw);
	printf("http way=metrics instances=%d ready=%d start_ms=%lld "
	       "scrapes=%d bytes=%zu scrape_ready=%ld scrape_p50_us=%lld "
	       "scrape_p90_us=%lld scrape_max_us=%lld "
	       "scrape_cpu_us=%.0f inflight=%d windows=%d "
	       "window_ms=%lld load_scrape_p50_us=%lld "
	       "load_scrape_max_us=%lld without_msgs=%zu "
	       "without_rate=%.0f without_p50_us=%lld without_p99_us=%lld "
	       "without_p999_us=%lld without_max_us=%lld with_msgs=%zu "
	       "with_rate=%.0f with_p50_us=%lld with_p99_us=%lld "
	       "with_p999_us=%lld with_max_us=%lld p99_ratio=%.3f "
	       "errors=%zu\n",
	    o->instances, o->instances, (long long)start_ms, o->scrapes, bytes,
	    ready, (long long)pct(idle, (size_t)o->scrapes, 50),
	    (long long)pct(idle, (size_t)o->scrapes, 90),
	    (long long)pct(idle, (size_t)o->scrapes, 100),
	    (double)cpu / o->scrapes, o->inflight, o->windows,
	    (long long)o->window_ms,
	    (long long)pct(busy, (size_t)o->windows, 50),
	    (long long)pct(busy, (size_t)o->windows, 100), so.msgs, so.rate,
	    (long long)so.p50, (long long)so.p99, (long long)so.p999,
	    (long long)so.max, sw.msgs, sw.rate, (long long)sw.p50,
	    (long long)sw.p99, (long long)sw.p999, (long long)sw.max,
	    so.p99 > 0 ? (double)sw.p99 / (double)so.p99 : 0,
	    so.errors + sw.errors);
	rv = so.msgs > 0 && sw.msgs > 0 ? 0 : 1;
out:
	ctl_stop();
	ctl_close();
	curl_easy_cleanup(e);
	free(b.p);
	free(wo);
	free(ww);
	free(idle);
	free(busy);
	return rv;
}

/* ---- main ------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " calls [-k INFLIGHT] [-p BYTES] [-d SECONDS] "
	    "[-n WINDOWS] [-W WARMUP_SECONDS] [-i INSTANCES] "
	    "[-c CONCURRENCY] [-P FRACTION]\n"
	    "       " PROG " metrics [-i INSTANCES] [-k INFLIGHT] "
	    "[-p BYTES] [-n WINDOWS] [-w WINDOW_MS] [-s SCRAPES] "
	    "[-W WARMUP_SECONDS] [-t WAIT_SECONDS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o = { 16, 4, 2, 16, 20, 64, 1000, 0, 2, 0.3, 0 };
	int         c, rv, metrics, ready;
	int64_t     t_start_ms;

	if (argc < 2)
		usage();
	metrics = strcmp(argv[1], "metrics") == 0;
	if (!metrics && strcmp(argv[1], "calls") != 0)
		usage();
	if (metrics) {
		o.instances   = 1000;
		o.concurrency = 1;
		o.windows     = 10;
		o.warmup      = 1;
	}
	optind = 2;
	while ((c = getopt(argc, argv,
	            metrics ? "i:k:p:n:w:s:W:t:" : "k:p:d:n:W:i:c:P:"))
	    != -1) {
		switch (c) {
		case 'k':
			o.inflight = atoi(optarg);
			break;
		case 'p':
			o.payload = atoll(optarg);
			break;
		case 'd':
			o.secs = atof(optarg);
			break;
		case 'n':
			o.windows = atoi(optarg);
			break;
		case 'W':
			o.warmup = atof(optarg);
			break;
		case 'i':
			o.instances = atoi(optarg);
			break;
		case 'c':
			o.concurrency = atoi(optarg);
			break;
		case 'P':
			o.pace = atof(optarg);
			break;
		case 'w':
			o.window_ms = atoll(optarg);
			break;
		case 's':
			o.scrapes = atoi(optarg);
			break;
		case 't':
			o.wait_s = atoll(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.inflight < 1 || o.inflight > 1000
	    || o.payload < 0 || o.payload > MAX_PAYLOAD || o.windows < 1
	    || o.windows > 1000 || o.instances < 1 || o.instances > 100000
	    || o.concurrency < 1 || o.secs <= 0 || o.warmup < 0
	    || o.window_ms < 10 || o.scrapes < 1 || o.wait_s < 0 || o.pace < 0
	    || o.pace > 1)
		usage();
	if (o.wait_s == 0)
		o.wait_s = 20 + o.instances / 10;
	if (harness_env(PROG) != 0)
		return 2;
	payload_len = (size_t)o.payload;
	payload     = ad_xmalloc(payload_len + 1);
	memset(payload, 'x', payload_len);
	payload[payload_len] = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, PROG ": curl_global_init failed\n");
		return 1;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* see harness_kill_all */
	t_start_ms = ad_now_ms();
	if (write_conf(o.instances, o.concurrency) != 0
	    || harness_start_logged("warn") < 0) {
		fprintf(stderr, PROG ": cannot start agentd: %s\n",
		    strerror(errno));
		return 1;
	}
	ready = harness_wait_ready(1, o.instances, o.wait_s * 1000) == 0;
	if (!ready) {
		fprintf(stderr,
		    PROG ": %d instances not all ready within %lld s\n",
		    o.instances, (long long)o.wait_s);
		rv = 1;
	} else if (metrics) {
		rv = run_metrics(&o, t_start_ms);
	} else {
		rv = run_calls(&o);
	}
	fflush(stdout);
	if (rv != 0)
		harness_log_tail(PROG);
	if (ready)
		harness_stop(harness_agentd);
	else
		harness_kill_all();
	curl_slist_free_all(headers);
	curl_global_cleanup();
	free(payload);
	return rv;
}
