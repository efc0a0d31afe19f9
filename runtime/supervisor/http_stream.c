#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "bus/envelope.h"
#include "common/json_mp.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "store/audit.h"
#include "supervisor/control.h"
#include "supervisor/http_stream.h"
#include "supervisor/hub.h"
#include "supervisor/supervisor.h"

#define QUEUE_MIN (1u << 20) /* a reader's queue holds at least this */
#define KEEPALIVE_MS 15000   /* silence before a comment is sent */
#define STALL_MS (3 * KEEPALIVE_MS)
#define TICK_MS 1000      /* the pump's clock, while streams are open */
#define AUDIT_BATCH 256   /* records one query reads */
#define BLOCK (16 * 1024) /* the most MHD asks for at once */
#define STOP_WAIT_MS 2000 /* streams' last bytes, at stop */
#define QUERY_FULL (-1)   /* a query stopped: the reader has no room */

static const char keepalive[] = ": keep-alive\n\n";

/* Something to send: an event's envelope (turned into text on MHD's
 * thread) or text. */
struct item {
	STAILQ_ENTRY(item) link;
	int    raw;
	size_t len;
	char   data[];
};

/* A stream's life: live; ending (send what it holds, then end); dropped
 * (end now, as an error: it lost events). */
enum stream_state { S_LIVE = 0, S_ENDING, S_DROPPED };

/*
 * One stream.  Its response owns it (MHD frees it through stream_gone);
 * the pump holds a reference while it reads records for it.  The text
 * being sent is MHD's thread's alone; the rest is under ss->mtx.
 */
struct stream {
	LIST_ENTRY(stream) link;
	struct ad_streams     *ss;
	struct MHD_Connection *conn;
	int                    fd;
	enum ad_stream_kind    kind;
	char                   prefix[AD_TARGET_MAX]; /* "": every topic */
	STAILQ_HEAD(, item) q;
	size_t            queued; /* bytes in q */
	enum stream_state state;
	int               suspended;
	int               tapped;   /* counted in sv->hub.taps */
	int               sending;  /* MHD's thread holds text to send */
	int64_t           taken_ms; /* the reader last took bytes */
	int64_t           put_ms;   /* something was last queued */
	unsigned          refs;
	uint64_t          last_seq; /* audit: the last record queued */
	unsigned          pass;     /* audit: the pump's pass it was filled */
	/* MHD's thread only: */
	char  *text;
	size_t text_len, text_off;
};

struct ad_streams {
	struct ad_sv   *sv;
	pthread_mutex_t mtx;
	pthread_cond_t  cv;   /* the pump: a commit, room, a stream, stop */
	pthread_cond_t  gone; /* a stream was freed (stop waits for all) */
	LIST_HEAD(, stream) all;
	size_t                 cap;
	uint64_t               audit_head; /* the last committed record */
	int                    wake;       /* the pump has work */
	int                    closing;
	unsigned               pass;
	pthread_t              pump;
	int                    pump_running;
	struct ad_stream_stats st;
	struct ad_ratelimit    drop_log;
};

static const char *const drop_names[AD_DROPS] = {
	[AD_DROP_SLOW]    = "slow",
	[AD_DROP_STALLED] = "stalled",
};

const char *
ad_stream_drop_name(enum ad_stream_drop d)
{
	return (unsigned)d < AD_DROPS ? drop_names[d] : "?";
}

enum ad_stream_kind
ad_stream_kind_of(const char *path)
{
	if (strcmp(path, "/v1/events/stream") == 0)
		return AD_STREAM_EVENTS;
	if (strcmp(path, "/v1/audit/stream") == 0)
		return AD_STREAM_AUDIT;
	return AD_STREAM_NONE;
}

/* ---- queues (ss->mtx held) --------------------------------------------- */

static void
wake_pump(struct ad_streams *ss)
{
	ss->wake = 1;
	pthread_cond_signal(&ss->cv);
}

/* Let MHD call the reader again: it has something to send or to end. */
static void
resume(struct stream *s)
{
	if (s->suspended) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
	}
}

static void
queue_free(struct stream *s)
{
	struct item *it;

	while ((it = STAILQ_FIRST(&s->q)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->q, link);
		free(it);
	}
	s->queued = 0;
}

static void
put(struct stream *s, int raw, const void *p, size_t len)
{
	struct item *it = ad_xmalloc(sizeof(*it) + len);

	it->raw = raw;
	it->len = len;
	memcpy(it->data, p, len);
	STAILQ_INSERT_TAIL(&s->q, it, link);
	s->queued += len;
	s->put_ms = ad_now_ms();
	resume(s);
}

/*
 * The reader cannot keep up: its stream ends now, counted.  A connection
 * MHD is still writing to (a reader that stopped reading) is shut down,
 * so that it ends without waiting for the reader either.
 */
static void
drop(struct ad_streams *ss, struct stream *s, enum ad_stream_drop why)
{
	char note[AD_RATELIMIT_NOTE];

	s->state = S_DROPPED;
	queue_free(s);
	ss->st.dropped[why]++;
	if (s->suspended)
		resume(s);
	else
		shutdown(s->fd, SHUT_RDWR);
	if (ad_ratelimit(&ss->drop_log, ad_now_ms(), note, sizeof(note)))
		ad_warn("http: a %s stream's reader was dropped: %s (%llu so "
		        "far)%s",
		    s->kind == AD_STREAM_EVENTS ? "events" : "audit",
		    why == AD_DROP_SLOW ? "its queue was full (it reads "
		                          "slower than events come)"
		                        : "it took nothing for 45 s",
		    (unsigned long long)(ss->st.dropped[AD_DROP_SLOW]
		        + ss->st.dropped[AD_DROP_STALLED]),
		    note);
}

static void
stream_destroy(struct stream *s)
{
	queue_free(s);
	free(s->text);
	free(s);
}

/* ---- what the hub and the audit log tell ------------------------------- */

/* Every accepted event while an events stream is open (hub.h: sv->mtx
 * held, any thread). */
static void
tap(void *arg, const char *topic, const void *env, size_t len)
{
	struct ad_streams *ss = arg;
	struct stream     *s;

	pthread_mutex_lock(&ss->mtx);
	LIST_FOREACH(s, &ss->all, link) {
		if (s->kind != AD_STREAM_EVENTS || s->state != S_LIVE
		    || (s->prefix[0] != '\0'
		        && !ad_topic_match(s->prefix, topic)))
			continue;
		if (s->queued + len > ss->cap)
			drop(ss, s, AD_DROP_SLOW);
		else
			put(s, 1, env, len);
	}
	pthread_mutex_unlock(&ss->mtx);
}

/* A batch of records was committed (the audit writer's thread). */
static void
committed(void *arg, uint64_t head_seq)
{
	struct ad_streams *ss = arg;

	pthread_mutex_lock(&ss->mtx);
	ss->audit_head = head_seq;
	if (ss->st.open[AD_STREAM_AUDIT] > 0)
		wake_pump(ss);
	pthread_mutex_unlock(&ss->mtx);
}

/* ---- the reader (MHD's thread) ----------------------------------------- */

/* An event's envelope as its SSE message, as `agentctl tail` prints it. */
static char *
event_text(const struct item *it, size_t *len)
{
	struct ad_envelope e;
	json_t            *j;
	char              *line, *text;

	if (ad_envelope_decode(it->data, it->len, SIZE_MAX, &e) != 0)
		return NULL;
	j    = json_pack("{s:s,s:s,s:s,s:o}", "topic", e.dst, "src", e.src,
	       "instance", e.src_instance, "body",
	       ad_bytes_to_json(e.body, e.body_len));
	line = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (line == NULL)
		return NULL;
	text = ad_xasprintf("data: %s\n\n", line);
	free(line);
	*len = strlen(text);
	return text;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream     *s  = cls;
	struct ad_streams *ss = s->ss;
	struct item       *it;
	size_t             n;

	(void)pos;
	for (;;) {
		if (s->text != NULL) {
			n = s->text_len - s->text_off;
			n = n < max ? n : max;
			memcpy(buf, s->text + s->text_off, n);
			s->text_off += n;
			pthread_mutex_lock(&ss->mtx);
			if (s->text_off == s->text_len) {
				free(s->text);
				s->text    = NULL;
				s->sending = 0;
			}
			s->taken_ms = ad_now_ms();
			pthread_mutex_unlock(&ss->mtx);
			return (ssize_t)n;
		}
		pthread_mutex_lock(&ss->mtx);
		if (s->state == S_DROPPED) {
			pthread_mutex_unlock(&ss->mtx);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if ((it = STAILQ_FIRST(&s->q)) == NULL) {
			if (s->state == S_ENDING || ss->closing) {
				pthread_mutex_unlock(&ss->mtx);
				return MHD_CONTENT_READER_END_OF_STREAM;
			}
			/* Resumed (under this lock) when data comes. */
			s->suspended = 1;
			MHD_suspend_connection(s->conn);
			pthread_mutex_unlock(&ss->mtx);
			return 0;
		}
		STAILQ_REMOVE_HEAD(&s->q, link);
		s->queued -= it->len;
		s->sending  = 1;
		s->taken_ms = ad_now_ms();
		if (s->kind == AD_STREAM_AUDIT && s->queued <= ss->cap / 2
		    && s->last_seq < ss->audit_head)
			wake_pump(ss);
		pthread_mutex_unlock(&ss->mtx);
		if (it->raw) {
			s->text = event_text(it, &s->text_len);
		} else {
			s->text     = ad_xmalloc(it->len);
			s->text_len = it->len;
			memcpy(s->text, it->data, it->len);
		}
		s->text_off = 0;
		free(it);
		if (s->text == NULL) { /* no memory, or not an envelope */
			pthread_mutex_lock(&ss->mtx);
			s->sending = 0;
			pthread_mutex_unlock(&ss->mtx);
		}
	}
}

/* MHD is done with the stream's response: the stream goes. */
static void
stream_gone(void *cls)
{
	struct stream     *s  = cls;
	struct ad_streams *ss = s->ss;

	pthread_mutex_lock(&ss->sv->mtx);
	if (s->tapped)
		ss->sv->hub.taps--;
	pthread_mutex_lock(&ss->mtx);
	LIST_REMOVE(s, link);
	ss->st.open[s->kind]--;
	free(s->text);
	s->text = NULL;
	/* The pump may hold it a moment longer: it queues nothing more. */
	s->state     = S_ENDING;
	s->suspended = 0;
	if (--s->refs == 0)
		stream_destroy(s);
	pthread_cond_broadcast(&ss->gone);
	pthread_mutex_unlock(&ss->mtx);
	pthread_mutex_unlock(&ss->sv->mtx);
}

/* ---- the pump ---------------------------------------------------------- */

/* Records as SSE messages, until the reader's room is used. */
struct fill {
	agentd_writer *w;
	char          *text;
	size_t         len, room;
	uint64_t       last;
};

static int
fill_entry(void *arg, const struct ad_audit_entry *e)
{
	struct fill *f = arg;
	const void  *mp;
	size_t       mplen;
	json_t      *j = NULL;
	char        *line, *msg;

	agentd_writer_reset(f->w);
	ad_audit_entry_write(f->w, e);
	mp = agentd_writer_data(f->w, &mplen);
	if (ad_mp_to_json(mp, mplen, &j) != 0
	    || (line = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return AGENTD_ENOMEM;
	}
	json_decref(j);
	msg = ad_xasprintf("id: %" PRIu64 "\ndata: %s\n\n", e->seq, line);
	free(line);
	f->text = ad_xrealloc(f->text, f->len + strlen(msg));
	memcpy(f->text + f->len, msg, strlen(msg));
	f->len += strlen(msg);
	free(msg);
	f->last = e->seq;
	return f->len >= f->room ? QUERY_FULL : 0;
}

/* The next audit stream to fill this pass, with a reference; NULL. */
static struct stream *
next_to_fill(struct ad_streams *ss)
{
	struct stream *s;

	LIST_FOREACH(s, &ss->all, link)
		if (s->kind == AD_STREAM_AUDIT && s->state == S_LIVE
		    && s->pass != ss->pass && s->queued < ss->cap / 2
		    && s->last_seq < ss->audit_head) {
			s->pass = ss->pass;
			s->refs++;
			return s;
		}
	return NULL;
}

/*
 * Give each audit stream with room the records after its last, reading
 * the log without ss->mtx (a query waits for commits, whose watcher
 * takes it).  ss->mtx held on entry and return.
 */
static void
fill_audit(struct ad_streams *ss)
{
	struct ad_audit_filter f;
	struct fill            fl;
	struct stream         *s;
	int                    rv;

	ss->pass++;
	while ((s = next_to_fill(ss)) != NULL) {
		memset(&f, 0, sizeof(f));
		memset(&fl, 0, sizeof(fl));
		f.min_seq      = s->last_seq + 1;
		f.limit        = AUDIT_BATCH;
		f.oldest_first = 1;
		fl.room        = ss->cap - s->queued;
		fl.last        = s->last_seq;
		pthread_mutex_unlock(&ss->mtx);
		agentd_writer_new(&fl.w);
		rv = ad_audit_query(ss->sv->audit, &f, fill_entry, &fl);
		agentd_writer_free(fl.w);
		pthread_mutex_lock(&ss->mtx);
		if (rv != 0 && rv != QUERY_FULL)
			ad_warn("http: an audit stream cannot read the audit "
			        "trail: %s",
			    agentd_strerror(rv));
		if (fl.len > 0 && s->state == S_LIVE) {
			put(s, 0, fl.text, fl.len);
			s->last_seq = fl.last;
		}
		/* More to read: another pass, unless it waits for room. */
		if (fl.len > 0 && fl.last < ss->audit_head)
			ss->wake = 1;
		free(fl.text);
		if (--s->refs == 0)
			stream_destroy(s);
	}
}

/* Keep-alives for the silent, the end for the stalled. */
static void
tick(struct ad_streams *ss, int64_t now)
{
	struct stream *s;

	LIST_FOREACH(s, &ss->all, link) {
		if (s->state != S_LIVE)
			continue;
		if (s->queued > 0 || s->sending) {
			if (now - s->taken_ms >= STALL_MS)
				drop(ss, s, AD_DROP_STALLED);
		} else if (now - s->taken_ms >= KEEPALIVE_MS
		    && now - s->put_ms >= KEEPALIVE_MS) {
			put(s, 0, keepalive, sizeof(keepalive) - 1);
		}
	}
}

static void
deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *
pump_main(void *arg)
{
	struct ad_streams *ss = arg;
	struct timespec    until;
	int64_t            next_tick = ad_now_ms() + TICK_MS;

	pthread_mutex_lock(&ss->mtx);
	while (!ss->closing) {
		if (!ss->wake && LIST_EMPTY(&ss->all)) {
			pthread_cond_wait(&ss->cv, &ss->mtx);
			next_tick = ad_now_ms() + TICK_MS;
		} else if (!ss->wake) {
			deadline(&until, TICK_MS);
			pthread_cond_timedwait(&ss->cv, &ss->mtx, &until);
		}
		ss->wake = 0;
		if (ad_now_ms() >= next_tick) {
			tick(ss, ad_now_ms());
			next_tick = ad_now_ms() + TICK_MS;
		}
		fill_audit(ss);
	}
	/* What was committed before the stop goes out with the streams. */
	fill_audit(ss);
	pthread_mutex_unlock(&ss->mtx);
	return NULL;
}

/* ---- start and stop ---------------------------------------------------- */

int
ad_streams_start(struct ad_sv *sv, size_t max_message, struct ad_streams **out,
    char *err, size_t errlen)
{
	struct ad_streams    *ss = ad_xcalloc(1, sizeof(*ss));
	struct ad_audit_stats as;
	pthread_condattr_t    ca;
	int                   rv;

	ss->sv  = sv;
	ss->cap = 2 * max_message > QUEUE_MIN ? 2 * max_message : QUEUE_MIN;
	LIST_INIT(&ss->all);
	pthread_mutex_init(&ss->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ss->cv, &ca);
	pthread_cond_init(&ss->gone, &ca);
	pthread_condattr_destroy(&ca);
	ad_audit_stats(sv->audit, &as);
	ss->audit_head = as.head_seq;
	if ((rv = pthread_create(&ss->pump, NULL, pump_main, ss)) != 0) {
		ad_seterr(err, errlen, "http: cannot start a thread: %s",
		    strerror(rv));
		ad_streams_free(ss);
		return AGENTD_ENOMEM;
	}
	ss->pump_running = 1;
	ad_audit_watch(sv->audit, committed, ss);
	pthread_mutex_lock(&sv->mtx);
	sv->hub.tap     = tap;
	sv->hub.tap_arg = ss;
	pthread_mutex_unlock(&sv->mtx);
	*out = ss;
	return 0;
}

void
ad_streams_stop(struct ad_streams *ss)
{
	struct ad_sv   *sv = ss->sv;
	struct stream  *s;
	struct timespec until;

	/* Nothing new is queued from here on. */
	pthread_mutex_lock(&sv->mtx);
	sv->hub.tap     = NULL;
	sv->hub.tap_arg = NULL;
	pthread_mutex_unlock(&sv->mtx);
	ad_audit_watch(sv->audit, NULL, NULL);
	pthread_mutex_lock(&ss->mtx);
	ss->closing = 1;
	pthread_cond_signal(&ss->cv);
	pthread_mutex_unlock(&ss->mtx);
	if (ss->pump_running) {
		pthread_join(ss->pump, NULL);
		ss->pump_running = 0;
	}
	/* Each stream sends what it holds and ends; none stays suspended
	 * (MHD_stop_daemon panics on a suspended connection), and none
	 * suspends again (stream_read, with closing set). */
	deadline(&until, STOP_WAIT_MS);
	pthread_mutex_lock(&ss->mtx);
	LIST_FOREACH(s, &ss->all, link) {
		if (s->state == S_LIVE)
			s->state = S_ENDING;
		resume(s);
	}
	while (!LIST_EMPTY(&ss->all)
	    && pthread_cond_timedwait(&ss->gone, &ss->mtx, &until) == 0)
		;
	pthread_mutex_unlock(&ss->mtx);
}

void
ad_streams_free(struct ad_streams *ss)
{
	struct stream *s;

	if (ss == NULL)
		return;
	/* MHD_stop_daemon freed every response, so every stream; one it
	 * did not would be a bug of ours, and is freed anyway. */
	while ((s = LIST_FIRST(&ss->all)) != NULL) {
		LIST_REMOVE(s, link);
		stream_destroy(s);
	}
	pthread_cond_destroy(&ss->gone);
	pthread_cond_destroy(&ss->cv);
	pthread_mutex_destroy(&ss->mtx);
	free(ss);
}

void
ad_streams_stats(struct ad_streams *ss, struct ad_stream_stats *st)
{
	if (ss == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&ss->mtx);
	*st = ss->st;
	pthread_mutex_unlock(&ss->mtx);
}

/* ---- a new stream ------------------------------------------------------ */

/* A sequence number: decimal digits, 0 to 2^63. */
static int
parse_seq(const char *s, uint64_t *out)
{
	char              *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v     = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT64_MAX)
		return -1;
	*out = v;
	return 0;
}

struct MHD_Response *
ad_streams_open(struct ad_streams *ss, struct MHD_Connection *conn,
    const struct ad_stream_req *rq, unsigned *code, int *status, char *why,
    size_t whylen)
{
	const union MHD_ConnectionInfo *ci
	    = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ad_sv        *sv = ss->sv;
	struct MHD_Response *resp;
	struct stream       *s;
	uint64_t             after = 0;
	char                 hello[AD_TARGET_MAX + 64];

	*code   = 400;
	*status = AGENTD_EINVAL;
	if (rq->kind == AD_STREAM_EVENTS && rq->prefix != NULL
	    && rq->prefix[0] != '\0' && strcmp(rq->prefix, "*") != 0
	    && !ad_valid_topic(rq->prefix)) {
		snprintf(why, whylen,
		    "prefix=%s: not a topic: use 1 to 255 letters, digits, "
		    "'_', '.' or '-'",
		    rq->prefix);
		return NULL;
	}
	if (rq->kind == AD_STREAM_AUDIT && rq->after != NULL
	    && parse_seq(rq->after, &after) != 0) {
		snprintf(why, whylen,
		    "after=%s: not a sequence number (Last-Event-ID and "
		    "?after= take the id: of a record)",
		    rq->after);
		return NULL;
	}
	s         = ad_xcalloc(1, sizeof(*s));
	s->ss     = ss;
	s->conn   = conn;
	s->fd     = ci != NULL ? ci->connect_fd : -1;
	s->kind   = rq->kind;
	s->refs   = 1;
	s->put_ms = s->taken_ms = ad_now_ms();
	STAILQ_INIT(&s->q);
	if (rq->prefix != NULL && strcmp(rq->prefix, "*") != 0)
		snprintf(s->prefix, sizeof(s->prefix), "%s", rq->prefix);
	resp = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, BLOCK, stream_read, s, stream_gone);
	if (resp == NULL) {
		free(s);
		*code   = 500;
		*status = AGENTD_ENOMEM;
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* The first bytes say it is open: a client waits for them before
	 * it counts on receiving. */
	if (s->kind == AD_STREAM_EVENTS)
		snprintf(hello, sizeof(hello), "retry: 2000\n: events%s%s\n\n",
		    s->prefix[0] != '\0' ? " under " : "", s->prefix);
	pthread_mutex_lock(&sv->mtx);
	pthread_mutex_lock(&ss->mtx);
	if (ss->closing) {
		s->state = S_ENDING;
	} else {
		if (s->kind == AD_STREAM_EVENTS) {
			sv->hub.taps++;
			s->tapped = 1;
		}
		/* Past the head (a log started anew): from the head. */
		s->last_seq = rq->after != NULL && after < ss->audit_head
		    ? after
		    : ss->audit_head;
		if (s->kind == AD_STREAM_AUDIT)
			snprintf(hello, sizeof(hello),
			    "retry: 2000\n: audit records after %" PRIu64
			    "\n\n",
			    s->last_seq);
		put(s, 0, hello, strlen(hello));
		wake_pump(ss);
	}
	LIST_INSERT_HEAD(&ss->all, s, link);
	ss->st.open[s->kind]++;
	pthread_mutex_unlock(&ss->mtx);
	pthread_mutex_unlock(&sv->mtx);
	return resp;
}
