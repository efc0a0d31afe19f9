/*
 * http_stream.h - the HTTP API's live streams, as Server-Sent Events
 * (doc/http.md, "Live streams"):
 *
 *   GET /v1/events/stream?prefix=P   every accepted event whose topic P
 *                                    covers, as `agentctl tail` prints it
 *   GET /v1/audit/stream?after=SEQ   every record after SEQ (or after the
 *                                    log's head), as /v1/audit shows it,
 *                                    each with "id: SEQ"; Last-Event-ID
 *                                    resumes the same way
 *
 * Events come from the hub's tap (hub.h), which copies an event only
 * while an events stream is open, and only into the queues of the
 * streams whose prefix covers it: a copy of the encoded envelope, made
 * as the hub delivers, turned into JSON later on libmicrohttpd's thread.
 * A stream's queue is bounded; an event that does not fit drops that
 * reader (its stream ends, counted as "slow"), never the bus or another
 * reader.  Audit records are read from the log, by a thread of this
 * file ("the pump") woken by each commit (ad_audit_watch), only while
 * the reader has room: an audit stream falls behind and catches up, it
 * is never dropped for being slow.
 *
 * A stream with nothing to send is suspended (libmicrohttpd 0.9.75
 * spins on a reader callback that returns 0) and resumed when data
 * comes.  Every 15 s of silence the pump sends a comment, ": keep-alive",
 * which keeps proxies from closing the connection and shows a reader that
 * went away; streams take no connection timeout.  A reader that takes
 * nothing for 45 s while data waits is dropped ("stalled").
 *
 * Locks: the streams' own mutex, taken after sv->mtx (the tap runs with
 * it held) and after the audit log's (the watcher runs with it held),
 * never before either.
 *
 * This file owns struct ad_streams: the open streams, their queues, the
 * pump and the counters.
 */
#ifndef AD_HTTP_STREAM_H
#define AD_HTTP_STREAM_H

#include <stddef.h>
#include <stdint.h>

struct ad_sv;
struct ad_streams;
struct MHD_Connection;
struct MHD_Response;

enum ad_stream_kind {
	AD_STREAM_NONE = 0,
	AD_STREAM_EVENTS, /* /v1/events/stream */
	AD_STREAM_AUDIT,  /* /v1/audit/stream */
};

/* Why a reader was dropped, as /metrics names it. */
enum ad_stream_drop {
	AD_DROP_SLOW = 0, /* its queue was full */
	AD_DROP_STALLED,  /* it took nothing for 45 s while data waited */
	AD_DROPS
};

struct ad_stream_stats {
	unsigned open[3]; /* by kind */
	uint64_t dropped[AD_DROPS];
};

/* The kind of stream a path asks for (AD_STREAM_NONE: not a stream). */
enum ad_stream_kind ad_stream_kind_of(const char *path);
/* "slow", "stalled". */
const char *ad_stream_drop_name(enum ad_stream_drop d);

/*
 * Start the pump and hook the tap and the audit watcher.  A reader's
 * queue holds at most max(1 MiB, 2 * max_message).  On failure one line
 * in err.
 */
int ad_streams_start(struct ad_sv *sv, size_t max_message,
    struct ad_streams **out, char *err, size_t errlen);
/*
 * End every stream: nothing more is queued, the pump's last pass hands
 * the audit streams what was committed, each stream sends what it holds
 * and ends (waiting at most 2 s for them), none stays suspended.  Before
 * MHD_stop_daemon(), without sv->mtx.
 */
void ad_streams_stop(struct ad_streams *ss);
/* After MHD_stop_daemon(): every stream's response is gone. */
void ad_streams_free(struct ad_streams *ss);

/* What a stream request asks for; borrowed for the call. */
struct ad_stream_req {
	enum ad_stream_kind kind;
	const char         *prefix; /* events: NULL for every topic */
	const char         *after;  /* audit: a seq, NULL for new records */
};

/*
 * A stream for conn (libmicrohttpd's thread, in its request callback,
 * without sv->mtx): the response to queue (caller queues and releases
 * it), or NULL with the HTTP status in *code, the agentd code in
 * *status and one line in why (a bad prefix or seq: 400; stopping: 503).
 */
struct MHD_Response *ad_streams_open(struct ad_streams *ss,
    struct MHD_Connection *conn, const struct ad_stream_req *rq,
    unsigned *code, int *status, char *why, size_t whylen);

/* Its counters (zeros for NULL); takes its own lock, mtx may be held. */
void ad_streams_stats(struct ad_streams *ss, struct ad_stream_stats *st);

#endif
