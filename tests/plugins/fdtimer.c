/*
 * fdtimer - a test plugin for host->watch_fd, timer_start and
 * timer_cancel (ABI 1.5) in a real worker.  Request body (a map), one of:
 *   {"pipe": S, "delay_ms": N}
 *       makes a pipe, watches its read end, and writes S into it from a
 *       timer of N ms; the reply comes when the data arrived:
 *       {"got": S, "waited_ms": N (from the request to the data)}
 *   {"tick_every": N}      starts a periodic timer of N ms, reply {"id": ID}
 *   {"ticks": true}        reply {"ticks": N, "last_ms": N (from the
 *                          tick_every request to the last tick),
 *                          "cancelled_ran": N}
 *   {"cancel_in_ms": N}    starts a timer of N ms and cancels it at once:
 *                          reply {"cancel": NAME}; if it ever runs,
 *                          cancelled_ran counts it
 *   {"wait_ms": N}         reply {"waited_ms": N} from a timer of N ms
 *   {"errors": true}       reply {NAME: ERRNAME...}: the bad calls' codes
 *   {"same_turn": true}    two pipes ready in one turn: the first's callback
 *                          ends the second's watch, closes it and watches a
 *                          new pipe (which likely gets the same number);
 *                          100 ms later reply {"b_calls": N (the ended
 *                          watch's callbacks), "c_empty": N (the new
 *                          watch's callbacks with nothing to read),
 *                          "reused": bool (the number was the same)}
 *   {"pingpong": N}        N rounds of a byte through a pipe, each written
 *                          from the last one's callback: reply {"rounds":
 *                          N, "ms": N}
 *   {"spin": N}            a 0 ms timer started again from its callback N
 *                          times: reply {"turns": N, "ms": N}
 *   {"closed_watch": true} watches a pipe's read end, closes it without
 *                          ending the watch (a plugin's mistake), and
 *                          ends it 300 ms later: reply {"errors": N (the
 *                          callbacks told AGENTD_FD_ERROR meanwhile)}
 *   {"ping": true}         reply {"pong": true} at once
 * fini writes "watch ECLOSED start ECLOSED cancel ECLOSED" to the setting
 * "fini_file" (if set): what the three answered in fini.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

static const struct agentd_setting fdtimer_settings[] = {
	{ "fini_file", AGENTD_SETTING_STRING, "", "where fini reports" },
	{ NULL, 0, NULL, NULL },
};

struct fdt {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	const char               *fini_file;
	uint64_t                  tick_id;
	long                      ticks, cancelled_ran;
	int64_t                   started_ms, last_tick_ms;
};

/* One request waiting on a pipe or a timer. */
struct wait {
	struct fdt     *f;
	agentd_request *req;
	int             rfd, wfd;
	char            data[64];
	int64_t         since_ms;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reply with a map of one pair, key: an int or (s not NULL) a string. */
static void
reply_one(struct fdt *f, agentd_request *req, const char *key, int64_t v,
    const char *s)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, key);
	if (s != NULL)
		agentd_write_str(w, s);
	else
		agentd_write_int(w, v);
	p = agentd_writer_data(w, &len);
	f->host->reply(f->ctx, req, p, len);
	agentd_writer_free(w);
}

static void
pipe_readable(void *arg, int fd, int events)
{
	struct wait   *wt = arg;
	struct fdt    *f  = wt->f;
	agentd_writer *w;
	char           buf[64];
	ssize_t        n = read(fd, buf, sizeof(buf));
	const void    *p;
	size_t         len;

	if (n <= 0 && !(events & AGENTD_FD_ERROR))
		return;
	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "got");
	agentd_write_strn(w, buf, n > 0 ? (size_t)n : 0);
	agentd_write_str(w, "waited_ms");
	agentd_write_int(w, now_ms() - wt->since_ms);
	p = agentd_writer_data(w, &len);
	f->host->reply(f->ctx, wt->req, p, len);
	agentd_writer_free(w);
	/* The watch ends before the descriptor is closed. */
	f->host->watch_fd(f->ctx, wt->rfd, 0, NULL, NULL);
	close(wt->rfd);
	close(wt->wfd);
	free(wt);
}

static void
pipe_write(void *arg, uint64_t id)
{
	struct wait *wt = arg;

	(void)id;
	if (write(wt->wfd, wt->data, strlen(wt->data)) < 0)
		wt->f->host->log(wt->f->ctx, AGENTD_LOG_ERROR, "write failed");
}

static int
start_pipe(struct fdt *f, agentd_request *req, const agentd_value *root)
{
	struct wait *wt    = calloc(1, sizeof(*wt));
	uint64_t     delay = 0;
	int          p[2], rv;

	if (wt == NULL)
		return AGENTD_ENOMEM;
	agentd_get_strcpy(
	    agentd_map_get(root, "pipe"), wt->data, sizeof(wt->data));
	agentd_get_uint(agentd_map_get(root, "delay_ms"), &delay);
	if (pipe(p) != 0) {
		free(wt);
		return AGENTD_EIO;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	wt->f        = f;
	wt->req      = req;
	wt->rfd      = p[0];
	wt->wfd      = p[1];
	wt->since_ms = now_ms();
	rv           = f->host->watch_fd(
	              f->ctx, wt->rfd, AGENTD_FD_READ, pipe_readable, wt);
	if (rv == 0)
		rv = f->host->timer_start(
		    f->ctx, delay, 0, pipe_write, wt, NULL);
	if (rv != 0) {
		f->host->watch_fd(f->ctx, wt->rfd, 0, NULL, NULL);
		close(p[0]);
		close(p[1]);
		free(wt);
	}
	return rv;
}

static void
tick(void *arg, uint64_t id)
{
	struct fdt *f   = arg;
	int64_t     now = now_ms();

	(void)id;
	f->ticks++;
	f->last_tick_ms = now;
}

static void
cancelled(void *arg, uint64_t id)
{
	(void)id;
	((struct fdt *)arg)->cancelled_ran++;
}

static void
waited(void *arg, uint64_t id)
{
	struct wait *wt = arg;

	(void)id;
	reply_one(wt->f, wt->req, "waited_ms", now_ms() - wt->since_ms, NULL);
	free(wt);
}

static int
start_wait(struct fdt *f, agentd_request *req, uint64_t ms)
{
	struct wait *wt = calloc(1, sizeof(*wt));
	int          rv;

	if (wt == NULL)
		return AGENTD_ENOMEM;
	wt->f        = f;
	wt->req      = req;
	wt->since_ms = now_ms();
	if ((rv = f->host->timer_start(f->ctx, ms, 0, waited, wt, NULL)) != 0)
		free(wt);
	return rv;
}

static void
noop_fd(void *arg, int fd, int events)
{
	(void)arg;
	(void)fd;
	(void)events;
}

/* The codes of calls a plugin gets wrong, by the rules of agent.h. */
static void
reply_errors(struct fdt *f, agentd_request *req)
{
	const struct agentd_host *h = f->host;
	agentd_writer            *w;
	const void               *p;
	size_t                    len;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "watch_negative");
	agentd_write_str(w,
	    agentd_errname(
	        h->watch_fd(f->ctx, -1, AGENTD_FD_READ, noop_fd, f)));
	agentd_write_str(w, "watch_no_cb");
	agentd_write_str(w,
	    agentd_errname(h->watch_fd(f->ctx, 0, AGENTD_FD_READ, NULL, f)));
	agentd_write_str(w, "unwatch_unknown");
	agentd_write_str(
	    w, agentd_errname(h->watch_fd(f->ctx, 0, 0, NULL, NULL)));
	agentd_write_str(w, "timer_too_long");
	agentd_write_str(w,
	    agentd_errname(h->timer_start(
	        f->ctx, AGENTD_TIMER_MAX_MS + 1, 0, cancelled, f, NULL)));
	agentd_write_str(w, "cancel_unknown");
	agentd_write_str(
	    w, agentd_errname(h->timer_cancel(f->ctx, (uint64_t)1 << 60)));
	p = agentd_writer_data(w, &len);
	h->reply(f->ctx, req, p, len);
	agentd_writer_free(w);
}

static void
reply_ticks(struct fdt *f, agentd_request *req)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "ticks");
	agentd_write_int(w, f->ticks);
	agentd_write_str(w, "last_ms");
	agentd_write_int(
	    w, f->ticks > 0 ? f->last_tick_ms - f->started_ms : 0);
	agentd_write_str(w, "cancelled_ran");
	agentd_write_int(w, f->cancelled_ran);
	p = agentd_writer_data(w, &len);
	f->host->reply(f->ctx, req, p, len);
	agentd_writer_free(w);
}

/* ---- watches changed inside a turn ------------------------------------- */

struct turn {
	struct fdt     *f;
	agentd_request *req;
	int             a[2], b[2], c[2];
	long            b_calls, c_empty;
	int             reused;
};

static void
turn_b(void *arg, int fd, int events)
{
	struct turn *t = arg;
	char         c;

	(void)events;
	t->b_calls++;
	if (read(fd, &c, 1) < 0)
		return;
}

static void
turn_c(void *arg, int fd, int events)
{
	struct turn *t = arg;
	char         c;

	(void)events;
	if (read(fd, &c, 1) < 0 && errno == EAGAIN)
		t->c_empty++;
}

/* a and b are both readable now: end b, close it, watch a new pipe c. */
static void
turn_a(void *arg, int fd, int events)
{
	struct turn              *t   = arg;
	const struct agentd_host *h   = t->f->host;
	int                       old = t->b[0];
	char                      c;

	(void)events;
	if (read(fd, &c, 1) < 0)
		return;
	h->watch_fd(t->f->ctx, t->a[0], 0, NULL, NULL);
	h->watch_fd(t->f->ctx, t->b[0], 0, NULL, NULL);
	close(t->b[0]);
	close(t->b[1]);
	if (pipe(t->c) != 0)
		return;
	fcntl(t->c[0], F_SETFL, O_NONBLOCK);
	t->reused = t->c[0] == old;
	h->watch_fd(t->f->ctx, t->c[0], AGENTD_FD_READ, turn_c, t);
}

static void
turn_write(void *arg, uint64_t id)
{
	struct turn *t = arg;

	(void)id;
	if (write(t->a[1], "a", 1) != 1 || write(t->b[1], "b", 1) != 1)
		t->f->host->log(t->f->ctx, AGENTD_LOG_ERROR, "write failed");
}

static void
turn_done(void *arg, uint64_t id)
{
	struct turn   *t = arg;
	agentd_writer *w;
	const void    *p;
	size_t         len;

	(void)id;
	t->f->host->watch_fd(t->f->ctx, t->c[0], 0, NULL, NULL);
	close(t->a[0]);
	close(t->a[1]);
	close(t->c[0]);
	close(t->c[1]);
	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "b_calls");
	agentd_write_int(w, t->b_calls);
	agentd_write_str(w, "c_empty");
	agentd_write_int(w, t->c_empty);
	agentd_write_str(w, "reused");
	agentd_write_bool(w, t->reused);
	p = agentd_writer_data(w, &len);
	t->f->host->reply(t->f->ctx, t->req, p, len);
	agentd_writer_free(w);
	free(t);
}

static int
start_turn(struct fdt *f, agentd_request *req)
{
	struct turn *t = calloc(1, sizeof(*t));

	if (t == NULL || pipe(t->a) != 0 || pipe(t->b) != 0) {
		free(t);
		return AGENTD_EIO;
	}
	t->f   = f;
	t->req = req;
	fcntl(t->a[0], F_SETFL, O_NONBLOCK);
	fcntl(t->b[0], F_SETFL, O_NONBLOCK);
	f->host->watch_fd(f->ctx, t->a[0], AGENTD_FD_READ, turn_a, t);
	f->host->watch_fd(f->ctx, t->b[0], AGENTD_FD_READ, turn_b, t);
	f->host->timer_start(f->ctx, 0, 0, turn_write, t, NULL);
	return f->host->timer_start(f->ctx, 100, 0, turn_done, t, NULL);
}

/* ---- a descriptor closed under its watch -------------------------------- */

struct closed {
	struct fdt     *f;
	agentd_request *req;
	int             fd;
	long            errors;
};

static void
closed_ready(void *arg, int fd, int events)
{
	(void)fd;
	if (events & AGENTD_FD_ERROR)
		((struct closed *)arg)->errors++;
}

static void
closed_end(void *arg, uint64_t id)
{
	struct closed *c = arg;

	(void)id;
	c->f->host->watch_fd(c->f->ctx, c->fd, 0, NULL, NULL);
	reply_one(c->f, c->req, "errors", c->errors, NULL);
	free(c);
}

static int
start_closed(struct fdt *f, agentd_request *req)
{
	struct closed *c = calloc(1, sizeof(*c));
	int            p[2];

	if (c == NULL || pipe(p) != 0) {
		free(c);
		return AGENTD_EIO;
	}
	c->f   = f;
	c->req = req;
	c->fd  = p[0];
	f->host->watch_fd(f->ctx, p[0], AGENTD_FD_READ, closed_ready, c);
	close(p[0]); /* the mistake: the watch is still there */
	close(p[1]);
	return f->host->timer_start(f->ctx, 300, 0, closed_end, c, NULL);
}

/* ---- the loop's pace ------------------------------------------------------
 */

struct pace {
	struct fdt     *f;
	agentd_request *req;
	int             p[2];
	uint64_t        left, n;
	int64_t         since_ms;
};

static void
pace_reply(struct pace *pc, const char *what)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, what);
	agentd_write_uint(w, pc->n);
	agentd_write_str(w, "ms");
	agentd_write_int(w, now_ms() - pc->since_ms);
	p = agentd_writer_data(w, &len);
	pc->f->host->reply(pc->f->ctx, pc->req, p, len);
	agentd_writer_free(w);
}

static void
pong(void *arg, int fd, int events)
{
	struct pace *pc = arg;
	char         c;

	(void)events;
	if (read(fd, &c, 1) != 1)
		return;
	if (--pc->left > 0 && write(pc->p[1], "x", 1) == 1)
		return;
	pace_reply(pc, "rounds");
	pc->f->host->watch_fd(pc->f->ctx, pc->p[0], 0, NULL, NULL);
	close(pc->p[0]);
	close(pc->p[1]);
	free(pc);
}

static void
spin(void *arg, uint64_t id)
{
	struct pace *pc = arg;

	(void)id;
	if (--pc->left > 0
	    && pc->f->host->timer_start(pc->f->ctx, 0, 0, spin, pc, NULL) == 0)
		return;
	pace_reply(pc, "turns");
	free(pc);
}

static int
start_pace(struct fdt *f, agentd_request *req, uint64_t n, int pipe_too)
{
	struct pace *pc = calloc(1, sizeof(*pc));
	int          rv;

	if (pc == NULL || n == 0) {
		free(pc);
		return AGENTD_EINVAL;
	}
	pc->f        = f;
	pc->req      = req;
	pc->left     = n;
	pc->n        = n;
	pc->since_ms = now_ms();
	if (!pipe_too)
		rv = f->host->timer_start(f->ctx, 0, 0, spin, pc, NULL);
	else if (pipe(pc->p) != 0)
		rv = AGENTD_EIO;
	else if ((rv = f->host->watch_fd(
	              f->ctx, pc->p[0], AGENTD_FD_READ, pong, pc))
	    == 0)
		rv = write(pc->p[1], "x", 1) == 1 ? 0 : AGENTD_EIO;
	if (rv != 0)
		free(pc);
	return rv;
}

static int
dispatch(struct fdt *f, agentd_request *req, const agentd_value *root)
{
	uint64_t n, id;
	int      rv;

	if (agentd_map_get(root, "pipe") != NULL)
		return start_pipe(f, req, root);
	if (agentd_get_uint(agentd_map_get(root, "tick_every"), &n) == 0) {
		f->started_ms = now_ms();
		rv = f->host->timer_start(f->ctx, n, n, tick, f, &f->tick_id);
		if (rv == 0)
			reply_one(f, req, "id", (int64_t)f->tick_id, NULL);
		return rv;
	}
	if (agentd_map_get(root, "ticks") != NULL) {
		reply_ticks(f, req);
		return 0;
	}
	if (agentd_get_uint(agentd_map_get(root, "cancel_in_ms"), &n) == 0) {
		rv = f->host->timer_start(f->ctx, n, 0, cancelled, f, &id);
		if (rv == 0)
			rv = f->host->timer_cancel(f->ctx, id);
		reply_one(f, req, "cancel", 0, agentd_errname(rv));
		return 0;
	}
	if (agentd_get_uint(agentd_map_get(root, "wait_ms"), &n) == 0)
		return start_wait(f, req, n);
	if (agentd_map_get(root, "errors") != NULL) {
		reply_errors(f, req);
		return 0;
	}
	if (agentd_map_get(root, "closed_watch") != NULL)
		return start_closed(f, req);
	if (agentd_map_get(root, "same_turn") != NULL)
		return start_turn(f, req);
	if (agentd_get_uint(agentd_map_get(root, "pingpong"), &n) == 0)
		return start_pace(f, req, n, 1);
	if (agentd_get_uint(agentd_map_get(root, "spin"), &n) == 0)
		return start_pace(f, req, n, 0);
	if (agentd_map_get(root, "ping") != NULL) {
		reply_one(f, req, "pong", 1, NULL);
		return 0;
	}
	return AGENTD_EINVAL;
}

static int
fdtimer_request(void *state, agentd_request *req, const void *body, size_t len)
{
	agentd_doc *doc;
	int         rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	rv = dispatch(state, req, agentd_doc_root(doc));
	agentd_doc_free(doc);
	return rv;
}

static int
fdtimer_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct fdt *f;

	if (!AGENTD_HOST_HAS(host, watch_fd)
	    || !AGENTD_HOST_HAS(host, timer_start)
	    || !AGENTD_HOST_HAS(host, timer_cancel))
		return AGENTD_ENOTSUP;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return AGENTD_ENOMEM;
	f->ctx  = ctx;
	f->host = host;
	host->setting_string(ctx, "fini_file", &f->fini_file);
	*state = f;
	return 0;
}

static void
fdtimer_fini(void *state)
{
	struct fdt *f = state;
	FILE       *out;
	int         watch, start, cancel;

	watch  = f->host->watch_fd(f->ctx, 0, AGENTD_FD_READ, noop_fd, f);
	start  = f->host->timer_start(f->ctx, 0, 0, tick, f, NULL);
	cancel = f->host->timer_cancel(f->ctx, f->tick_id);
	if (f->fini_file[0] != '\0'
	    && (out = fopen(f->fini_file, "w")) != NULL) {
		fprintf(out, "watch %s start %s cancel %s\n",
		    agentd_errname(watch), agentd_errname(start),
		    agentd_errname(cancel));
		fclose(out);
	}
	free(f);
}

AGENTD_PLUGIN(.name = "fdtimer", .version = "1.0",
    .description = "test plugin: own descriptors and timers",
    .settings = fdtimer_settings, .init = fdtimer_init,
    .on_request = fdtimer_request, .fini = fdtimer_fini);
