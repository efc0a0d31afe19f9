/*
 * test_fdtimer.c - host->watch_fd, timer_start and timer_cancel (ABI 1.5)
 * as the mock host plays them, with the worker's table (sdk/fdtimer.h):
 * a small plugin that answers a request once data came through a pipe it
 * watches (written from its own timer), every error code, the order of
 * timers, a periodic timer that falls behind, watches ended inside a turn,
 * and the end of everything before fini.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/mock.h>

#include "sdk/fdtimer.h"
#include "tap.h"

/* ---- the plugin ---------------------------------------------------------
 * Requests (a msgpack string): "pipe" answers, with what came through a
 * pipe, once its timer wrote it; "tick" starts a periodic timer of 100 ms;
 * "cancel" starts a timer of 50 ms and cancels it. */

struct fdt {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	agentd_request           *waiting; /* "pipe": answered on data */
	int                       rfd, wfd;
	unsigned                  ticks;
	unsigned                  cancelled_ran;
};

/* What fini saw: the calls it made after the watches and timers ended. */
static int         fini_watch = -1, fini_start = -1, fini_cancel = -1;
static uint64_t    tick_id;
static struct fdt *live; /* the instance's state, for the test to read */

static void
on_pipe_data(void *arg, int fd, int events)
{
	struct fdt    *s = arg;
	char           buf[64];
	ssize_t        n = read(fd, buf, sizeof(buf));
	agentd_writer *w;
	const void    *body;
	size_t         len;

	if (n <= 0 || s->waiting == NULL)
		return;
	agentd_writer_new(&w);
	agentd_write_strn(w, buf, (size_t)n);
	body = agentd_writer_data(w, &len);
	s->host->reply(s->ctx, s->waiting, body, len);
	agentd_writer_free(w);
	s->waiting = NULL;
	/* The watch ends before the descriptor is closed. */
	s->host->watch_fd(s->ctx, fd, 0, NULL, NULL);
	close(s->rfd);
	close(s->wfd);
	s->rfd = s->wfd = -1;
}

static void
write_pipe(void *arg, uint64_t id)
{
	struct fdt *s = arg;

	if (write(s->wfd, "hello", 5) != 5)
		s->host->log(s->ctx, AGENTD_LOG_ERROR, "pipe write failed");
}

static void
on_tick(void *arg, uint64_t id)
{
	((struct fdt *)arg)->ticks++;
}

static void
on_cancelled(void *arg, uint64_t id)
{
	((struct fdt *)arg)->cancelled_ran++;
}

static int
start_pipe(struct fdt *s, agentd_request *req)
{
	int p[2], rv;

	if (pipe(p) != 0)
		return AGENTD_EIO;
	s->rfd = p[0];
	s->wfd = p[1];
	fcntl(s->rfd, F_SETFL, O_NONBLOCK);
	if ((rv = s->host->watch_fd(
	         s->ctx, s->rfd, AGENTD_FD_READ, on_pipe_data, s))
	        != 0
	    || (rv = s->host->timer_start(s->ctx, 10, 0, write_pipe, s, NULL))
	        != 0)
		return rv;
	s->waiting = req;
	return 0;
}

static int
fdt_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct fdt *s = state;
	agentd_doc *doc;
	char        cmd[16] = "";
	uint64_t    id;
	int         rv = 0;

	if (agentd_parse(body, len, &doc) == 0)
		agentd_get_strcpy(agentd_doc_root(doc), cmd, sizeof(cmd));
	agentd_doc_free(doc);
	if (strcmp(cmd, "pipe") == 0)
		return start_pipe(s, req);
	if (strcmp(cmd, "tick") == 0)
		rv = s->host->timer_start(
		    s->ctx, 100, 100, on_tick, s, &tick_id);
	else if (strcmp(cmd, "cancel") == 0) {
		rv = s->host->timer_start(s->ctx, 50, 0, on_cancelled, s, &id);
		if (rv == 0)
			rv = s->host->timer_cancel(s->ctx, id);
	} else
		rv = AGENTD_EINVAL;
	return rv != 0 ? rv : s->host->reply(s->ctx, req, NULL, 0);
}

static int
fdt_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct fdt *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return AGENTD_ENOMEM;
	s->ctx  = ctx;
	s->host = host;
	s->rfd = s->wfd = -1;
	*state          = s;
	live            = s;
	return 0;
}

static void
fdt_fini(void *state)
{
	struct fdt *s = state;
	uint64_t    id;

	fini_watch
	    = s->host->watch_fd(s->ctx, 0, AGENTD_FD_READ, on_pipe_data, s);
	fini_start  = s->host->timer_start(s->ctx, 0, 0, on_tick, s, &id);
	fini_cancel = s->host->timer_cancel(s->ctx, tick_id);
	if (s->rfd >= 0)
		close(s->rfd);
	if (s->wfd >= 0)
		close(s->wfd);
	free(s);
	live = NULL;
}

static const struct agentd_plugin plugin = {
	.magic      = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "fdt",
	.version    = "1",
	.init       = fdt_init,
	.on_request = fdt_request,
	.fini       = fdt_fini,
};

static int
command(agentd_mock *m, const char *cmd, size_t *id)
{
	agentd_writer *w;
	const void    *body;
	size_t         len;
	int            rv;

	agentd_writer_new(&w);
	agentd_write_str(w, cmd);
	body = agentd_writer_data(w, &len);
	rv   = agentd_mock_send(m, body, len, id);
	agentd_writer_free(w);
	return rv;
}

/* ---- the plugin through the mock ---------------------------------------- */

static void
test_plugin(void)
{
	agentd_mock *m;
	agentd_doc  *doc;
	const void  *reply;
	size_t       len, id, id2;
	int          status;
	char         got[16] = "";

	agentd_mock_new(NULL, &m);
	is_int(agentd_mock_attach(m, &plugin), 0, "the plugin attached");
	is_int(command(m, "pipe", &id), 0, "a request for the pipe");
	is_int(agentd_mock_pending(m), 1, "waits for data");
	is_int(agentd_mock_poll(m, 0), 0, "nothing in the pipe yet");
	is_int(agentd_mock_timers(m), 1, "the writer's timer runs");
	agentd_mock_clock_advance(m, 9);
	is_int(agentd_mock_timers(m), 1, "not due after 9 ms");
	is_int(agentd_mock_poll(m, 0), 0, "so nothing was written");
	agentd_mock_clock_advance(m, 1);
	is_int(agentd_mock_timers(m), 0, "after 10 ms it ran, and is gone");
	is_int(agentd_mock_poll(m, 1000), 1, "the pipe's callback ran");
	is_int(agentd_mock_answer(m, id, &reply, &len, &status), 0,
	    "the request is answered");
	if (agentd_parse(reply, len, &doc) == 0)
		agentd_get_strcpy(agentd_doc_root(doc), got, sizeof(got));
	agentd_doc_free(doc);
	is_str(got, "hello", "with what came through the pipe");
	is_int(agentd_mock_poll(m, 1000), 0,
	    "the watch ended: nothing is polled, at once");

	is_int(command(m, "tick", NULL), 0, "a periodic timer");
	agentd_mock_clock_advance(m, 99);
	is_int(live->ticks, 0, "no tick before its first period");
	agentd_mock_clock_advance(m, 1);
	agentd_mock_clock_advance(m, 100);
	agentd_mock_clock_advance(m, 100);
	is_int(live->ticks, 3, "a tick per period");
	agentd_mock_clock_advance(m, 1000);
	is_int(live->ticks, 4, "ten periods passed at once: one tick");
	agentd_mock_clock_advance(m, 99);
	is_int(live->ticks, 4, "and the next is a whole period later");
	agentd_mock_clock_advance(m, 1);
	is_int(live->ticks, 5, "at its time");
	is_int(command(m, "cancel", &id2), 0, "a timer started and cancelled");
	is_int(agentd_mock_answer(m, id2, &reply, &len, &status) == 0
	        && status == 0,
	    1, "both calls succeeded");
	is_int(agentd_mock_timers(m), 1, "only the periodic one runs");
	agentd_mock_clock_advance(m, 1000);
	is_int(live->cancelled_ran, 0, "the cancelled one never ran");
	agentd_mock_free(m);
	ok(live == NULL, "fini ran");
	is_int(fini_watch, AGENTD_ECLOSED, "watch_fd in fini: ECLOSED");
	is_int(fini_start, AGENTD_ECLOSED, "timer_start in fini: ECLOSED");
	is_int(fini_cancel, AGENTD_ECLOSED, "timer_cancel in fini: ECLOSED");
}

/* ---- the host calls at their edges ------------------------------------- */

static void
noop_fd(void *arg, int fd, int events)
{
}

static void
noop_timer(void *arg, uint64_t id)
{
}

static void
test_errors(void)
{
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	agentd_mock              *m;
	uint64_t id, prev = 0, first = 0, ids[AGENTD_TIMERS_MAX];
	int      i, rv = 0, increasing = 1;

	agentd_mock_new(NULL, &m);
	agentd_mock_attach(m, &plugin);
	h = agentd_mock_host(m, &ctx);
	ok(AGENTD_HOST_HAS(h, watch_fd) && AGENTD_HOST_HAS(h, timer_start)
	        && AGENTD_HOST_HAS(h, timer_cancel),
	    "the mock's table has the three");
	is_int(h->watch_fd(ctx, -1, AGENTD_FD_READ, noop_fd, NULL),
	    AGENTD_EINVAL, "watch_fd: fd -1: EINVAL");
	like(agentd_mock_errmsg(m), "watch_fd: fd -1", "and the mock says so");
	is_int(h->watch_fd(ctx, 5, AGENTD_FD_ERROR, noop_fd, NULL),
	    AGENTD_EINVAL, "AGENTD_FD_ERROR is only told, not asked: EINVAL");
	is_int(h->watch_fd(ctx, 5, 0x8, noop_fd, NULL), AGENTD_EINVAL,
	    "an unknown event: EINVAL");
	like(agentd_mock_errmsg(m), "only AGENTD_FD_READ and AGENTD_FD_WRITE",
	    "said so");
	is_int(h->watch_fd(ctx, 5, AGENTD_FD_READ, NULL, NULL), AGENTD_EINVAL,
	    "no callback: EINVAL");
	like(agentd_mock_errmsg(m), "without a callback", "said so");
	is_int(h->watch_fd(ctx, 5, 0, NULL, NULL), AGENTD_ENOENT,
	    "ending a watch there is not: ENOENT");
	like(agentd_mock_errmsg(m), "not watched", "said so");
	for (i = 0; i < AGENTD_WATCH_MAX; i++)
		rv |= h->watch_fd(
		    ctx, 1000 + i, AGENTD_FD_READ, noop_fd, NULL);
	is_int(rv, 0, "AGENTD_WATCH_MAX descriptors watched");
	is_int(h->watch_fd(ctx, 999, AGENTD_FD_READ, noop_fd, NULL),
	    AGENTD_ETOOBIG, "one more: ETOOBIG");
	like(agentd_mock_errmsg(m), "256", "the limit is said");
	is_int(h->watch_fd(ctx, 1000, AGENTD_FD_WRITE, noop_fd, NULL), 0,
	    "at the limit, a watch is still replaced");
	is_int(h->watch_fd(ctx, 1000, 0, NULL, NULL), 0, "and ended");
	is_int(h->watch_fd(ctx, 999, AGENTD_FD_READ, noop_fd, NULL), 0,
	    "which makes room for another");
	rv = h->watch_fd(ctx, 999, 0, NULL, NULL);
	for (i = 1; i < AGENTD_WATCH_MAX; i++)
		rv |= h->watch_fd(ctx, 1000 + i, 0, NULL, NULL);
	is_int(rv, 0, "every watch ended");
	is_int(agentd_mock_poll(m, 1000), 0, "nothing polled, at once");

	is_int(h->timer_start(ctx, 1, 0, NULL, NULL, &id), AGENTD_EINVAL,
	    "timer_start without a callback: EINVAL");
	like(agentd_mock_errmsg(m), "timer_start: no callback", "said so");
	is_int(h->timer_start(
	           ctx, AGENTD_TIMER_MAX_MS + 1, 0, noop_timer, NULL, &id),
	    AGENTD_EINVAL, "a first past AGENTD_TIMER_MAX_MS: EINVAL");
	like(agentd_mock_errmsg(m), "first_ms 31622400001",
	    "said so, with the time");
	is_int(h->timer_start(
	           ctx, 1, AGENTD_TIMER_MAX_MS + 1, noop_timer, NULL, &id),
	    AGENTD_EINVAL, "a period past it: EINVAL");
	is_int(agentd_mock_timers(m), 0, "none of them started");
	rv = 0;
	for (i = 0; i < AGENTD_TIMERS_MAX; i++) {
		rv |= h->timer_start(ctx, AGENTD_TIMER_MAX_MS,
		    AGENTD_TIMER_MAX_MS, noop_timer, NULL, &ids[i]);
		increasing &= ids[i] > prev;
		prev = ids[i];
	}
	first = ids[0];
	is_int(rv, 0, "AGENTD_TIMERS_MAX timers at the longest times");
	ok(first != 0 && increasing, "ids from 1, each new");
	is_int(h->timer_start(ctx, 0, 0, noop_timer, NULL, NULL),
	    AGENTD_ETOOBIG, "one more: ETOOBIG");
	like(agentd_mock_errmsg(m), "1024", "the limit is said");
	is_int(h->timer_cancel(ctx, ids[7]), 0, "one cancelled");
	is_int(h->timer_cancel(ctx, ids[7]), AGENTD_ENOENT,
	    "cancelled twice: ENOENT");
	like(agentd_mock_errmsg(m), "not running", "said so");
	is_int(h->timer_cancel(ctx, 0), AGENTD_ENOENT, "id 0: ENOENT");
	is_int(h->timer_start(ctx, 0, 0, noop_timer, NULL, &id), 0,
	    "room for one again");
	ok(id > prev, "its id is new, not the cancelled one's");
	is_int(agentd_mock_timers(m), AGENTD_TIMERS_MAX, "the count is right");
	agentd_mock_clock_advance(m, 0);
	is_int(agentd_mock_timers(m), AGENTD_TIMERS_MAX - 1,
	    "first 0: runs at the next turn, once");
	agentd_mock_free(m);
}

/* The order timers ran in, by label. */
static char                      order[32];
static size_t                    norder;
static uint64_t                  self_id, other_id;
static int                       self_cancel = -1;
static const struct agentd_host *oh;
static agentd_ctx               *octx;

static void
record(void *arg, uint64_t id)
{
	if (norder + 1 < sizeof(order))
		order[norder++] = (char)(intptr_t)arg;
	order[norder] = '\0';
}

static void
start_zero(void *arg, uint64_t id)
{
	record(arg, id);
	oh->timer_start(octx, 0, 0, record, (void *)(intptr_t)'z', NULL);
}

static void
cancel_self(void *arg, uint64_t id)
{
	record(arg, id);
	self_cancel = oh->timer_cancel(octx, id);
}

static void
cancel_other(void *arg, uint64_t id)
{
	record(arg, id);
	oh->timer_cancel(octx, other_id);
}

#define L(c) ((void *)(intptr_t)(c))

static void
test_order(void)
{
	agentd_mock *m;

	agentd_mock_new(NULL, &m);
	agentd_mock_attach(m, &plugin);
	oh = agentd_mock_host(m, &octx);
	oh->timer_start(octx, 30, 0, record, L('a'), NULL);
	oh->timer_start(octx, 10, 0, record, L('b'), NULL);
	oh->timer_start(octx, 20, 0, record, L('c'), NULL);
	oh->timer_start(octx, 10, 0, record, L('d'), NULL);
	agentd_mock_clock_advance(m, 50);
	is_str(order, "bdca", "earliest first, the same time in start order");

	norder   = 0;
	order[0] = '\0';
	oh->timer_start(octx, 5, 0, start_zero, L('s'), NULL);
	agentd_mock_clock_advance(m, 5);
	is_str(order, "s", "a timer started in a callback waits a turn");
	agentd_mock_clock_advance(m, 0);
	is_str(order, "sz", "and runs at the next, first 0 as it was");

	norder = 0;
	oh->timer_start(octx, 10, 10, cancel_self, L('p'), &self_id);
	agentd_mock_clock_advance(m, 10);
	agentd_mock_clock_advance(m, 10);
	is_str(order, "p", "a periodic timer cancelled in its callback");
	is_int(self_cancel, 0, "which it may");
	oh->timer_start(octx, 10, 0, cancel_self, L('o'), &self_id);
	agentd_mock_clock_advance(m, 10);
	is_int(self_cancel, AGENTD_ENOENT,
	    "a one-shot in its callback is gone already: ENOENT");

	norder = 0;
	oh->timer_start(octx, 10, 0, cancel_other, L('x'), NULL);
	oh->timer_start(octx, 10, 0, record, L('y'), &other_id);
	agentd_mock_clock_advance(m, 10);
	is_str(order, "x", "a timer cancelled in this turn's callback: never");
	is_int(agentd_mock_timers(m), 0, "no timer left");
	agentd_mock_free(m);
}

/* ---- descriptors in a turn ---------------------------------------------- */

struct seen {
	int fd;
	int events;
	int calls;
};

static struct seen seen[4];
static int         end_fd = -1, rewatch_fd = -1, replace_fd = -1;

static void
see(void *arg, int fd, int events)
{
	struct seen *s = arg;

	s->fd     = fd;
	s->events = events;
	s->calls++;
	if (end_fd >= 0)
		oh->watch_fd(octx, end_fd, 0, NULL, NULL);
	if (rewatch_fd >= 0)
		oh->watch_fd(octx, rewatch_fd, AGENTD_FD_READ, see, &seen[1]);
	if (replace_fd >= 0)
		oh->watch_fd(octx, replace_fd, AGENTD_FD_WRITE, see, &seen[1]);
	end_fd = rewatch_fd = replace_fd = -1;
}

static void
test_turns(void)
{
	agentd_mock *m;
	int          a[2], b[2], closed[2];

	agentd_mock_new(NULL, &m);
	agentd_mock_attach(m, &plugin);
	oh = agentd_mock_host(m, &octx);
	if (pipe(a) != 0 || pipe(b) != 0 || pipe(closed) != 0)
		return;
	write(a[1], "x", 1);
	write(b[1], "y", 1);
	oh->watch_fd(octx, a[0], AGENTD_FD_READ, see, &seen[0]);
	oh->watch_fd(octx, b[0], AGENTD_FD_READ, see, &seen[1]);
	end_fd = b[0];
	is_int(agentd_mock_poll(m, 1000), 1,
	    "both ready, the first ends the second's watch: one call");
	ok(seen[0].calls == 1 && seen[0].fd == a[0]
	        && seen[0].events == AGENTD_FD_READ && seen[1].calls == 0,
	    "the first was called, for READ; the second not");
	is_int(agentd_mock_poll(m, 0), 1,
	    "level-triggered: unread data calls again");
	is_int(seen[0].calls, 2, "the same callback");

	oh->watch_fd(octx, b[0], AGENTD_FD_READ, see, &seen[1]);
	rewatch_fd    = b[0];
	end_fd        = b[0];
	seen[1].calls = 0;
	is_int(agentd_mock_poll(m, 0), 1,
	    "a watch ended and added again in the turn: not called in it");
	is_int(agentd_mock_poll(m, 0), 2, "but in the next");

	replace_fd    = b[0];
	seen[1].calls = 0;
	is_int(agentd_mock_poll(m, 0), 1,
	    "replaced to ask WRITE only: not called for the READ seen");
	is_int(seen[1].calls, 0, "indeed");
	oh->watch_fd(octx, a[0], 0, NULL, NULL);
	oh->watch_fd(octx, b[0], 0, NULL, NULL);

	oh->watch_fd(
	    octx, a[1], AGENTD_FD_WRITE | AGENTD_FD_READ, see, &seen[2]);
	is_int(agentd_mock_poll(m, 0), 1, "a pipe's write end");
	is_int(seen[2].events, AGENTD_FD_WRITE, "is ready for WRITE only");
	oh->watch_fd(octx, a[1], AGENTD_FD_READ, see, &seen[2]);
	is_int(agentd_mock_poll(m, 0), 0, "asked READ only: never ready");
	oh->watch_fd(octx, a[1], 0, NULL, NULL);

	oh->watch_fd(octx, closed[0], AGENTD_FD_READ, see, &seen[3]);
	close(closed[1]);
	is_int(agentd_mock_poll(m, 1000), 1, "the writer hung up");
	ok(seen[3].events & AGENTD_FD_ERROR, "told as AGENTD_FD_ERROR");
	close(closed[0]);
	seen[3].events = 0;
	is_int(agentd_mock_poll(m, 0), 1, "a watched fd closed under it");
	is_int(seen[3].events, AGENTD_FD_ERROR, "POLLNVAL: AGENTD_FD_ERROR");
	/* Left watched: agentd_mock_free() ends it. */
	agentd_mock_free(m);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

int
main(void)
{
	plan(26 + 36 + 8 + 15);
	test_plugin();
	test_errors();
	test_order();
	test_turns();
	return done_testing();
}
