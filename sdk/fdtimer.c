/*
 * fdtimer.c - an instance's watched descriptors and timers; see fdtimer.h.
 *
 * Both arrays are small (AGENTD_WATCH_MAX, AGENTD_TIMERS_MAX) and kept in
 * order by moving elements: a search is a loop, and the next due timer is
 * always the first.
 */
#include "config.h"

#include <string.h>

#include "fdtimer.h"

/* ---- watches ------------------------------------------------------------ */

static struct ad_watch *
watch_find(const struct ad_fdtimer *t, int fd)
{
	size_t i;

	for (i = 0; i < t->nwatch; i++)
		if (t->w[i].fd == fd)
			return (struct ad_watch *)&t->w[i];
	return NULL;
}

static void
watch_remove(struct ad_fdtimer *t, struct ad_watch *w)
{
	size_t i = (size_t)(w - t->w);

	memmove(w, w + 1, (t->nwatch - i - 1) * sizeof(*w));
	t->nwatch--;
}

int
ad_fdtimer_watch(
    struct ad_fdtimer *t, int fd, int events, agentd_fd_fn cb, void *arg)
{
	struct ad_watch *w;

	if (t->closed)
		return AGENTD_ECLOSED;
	if (fd < 0 || (events & ~(AGENTD_FD_READ | AGENTD_FD_WRITE)) != 0
	    || (events != 0 && cb == NULL))
		return AGENTD_EINVAL;
	w = watch_find(t, fd);
	if (events == 0) {
		if (w == NULL)
			return AGENTD_ENOENT;
		watch_remove(t, w);
		return 0;
	}
	if (w == NULL) {
		if (t->nwatch == AGENTD_WATCH_MAX)
			return AGENTD_ETOOBIG;
		w        = &t->w[t->nwatch++];
		w->fd    = fd;
		w->armed = 0; /* a new watch: not polled in this turn */
	}
	w->events = events;
	w->cb     = cb;
	w->arg    = arg;
	return 0;
}

size_t
ad_fdtimer_pollfds(struct ad_fdtimer *t, struct pollfd *pfd, size_t max)
{
	size_t i;

	for (i = 0; i < t->nwatch && i < max; i++) {
		struct ad_watch *w = &t->w[i];

		pfd[i].fd = w->fd;
		pfd[i].events
		    = (short)((w->events & AGENTD_FD_READ ? POLLIN : 0)
		        | (w->events & AGENTD_FD_WRITE ? POLLOUT : 0));
		pfd[i].revents = 0;
		w->armed       = 1;
	}
	return i;
}

int
ad_fdtimer_ready(const struct ad_fdtimer *t, const struct pollfd *p,
    agentd_fd_fn *cb, void **arg, int *events)
{
	const struct ad_watch *w;
	int                    ready = 0;

	if (p->revents == 0 || (w = watch_find(t, p->fd)) == NULL || !w->armed)
		return 0;
	if ((p->revents & POLLIN) && (w->events & AGENTD_FD_READ))
		ready |= AGENTD_FD_READ;
	if ((p->revents & POLLOUT) && (w->events & AGENTD_FD_WRITE))
		ready |= AGENTD_FD_WRITE;
	if (p->revents & (POLLERR | POLLHUP | POLLNVAL))
		ready |= AGENTD_FD_ERROR;
	if (ready == 0)
		return 0;
	*cb     = w->cb;
	*arg    = w->arg;
	*events = ready;
	return 1;
}

/* ---- timers ------------------------------------------------------------- */

/* Where a timer due at due with id goes: after every earlier one. */
static size_t
timer_position(const struct ad_fdtimer *t, uint64_t due, uint64_t id)
{
	size_t lo = 0, hi = t->ntimer, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->t[mid].due < due
		    || (t->t[mid].due == due && t->t[mid].id < id))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
timer_insert(struct ad_fdtimer *t, const struct ad_timer *tm)
{
	size_t i = timer_position(t, tm->due, tm->id);

	memmove(&t->t[i + 1], &t->t[i], (t->ntimer - i) * sizeof(t->t[0]));
	t->t[i] = *tm;
	t->ntimer++;
}

static void
timer_remove(struct ad_fdtimer *t, size_t i)
{
	memmove(&t->t[i], &t->t[i + 1], (t->ntimer - i - 1) * sizeof(t->t[0]));
	t->ntimer--;
}

int
ad_fdtimer_start(struct ad_fdtimer *t, uint64_t now, uint64_t first_ms,
    uint64_t every_ms, agentd_timer_fn cb, void *arg, uint64_t *id)
{
	struct ad_timer tm;

	if (t->closed)
		return AGENTD_ECLOSED;
	if (cb == NULL || first_ms > AGENTD_TIMER_MAX_MS
	    || every_ms > AGENTD_TIMER_MAX_MS)
		return AGENTD_EINVAL;
	if (t->ntimer == AGENTD_TIMERS_MAX)
		return AGENTD_ETOOBIG;
	tm.id    = ++t->last_id;
	tm.due   = now + first_ms;
	tm.every = every_ms;
	tm.cb    = cb;
	tm.arg   = arg;
	timer_insert(t, &tm);
	if (id != NULL)
		*id = tm.id;
	return 0;
}

int
ad_fdtimer_cancel(struct ad_fdtimer *t, uint64_t id)
{
	size_t i;

	if (t->closed)
		return AGENTD_ECLOSED;
	for (i = 0; i < t->ntimer; i++)
		if (t->t[i].id == id) {
			timer_remove(t, i);
			return 0;
		}
	return AGENTD_ENOENT;
}

size_t
ad_fdtimer_timers(const struct ad_fdtimer *t)
{
	return t->ntimer;
}

int
ad_fdtimer_next_due(const struct ad_fdtimer *t, uint64_t *due)
{
	if (t->ntimer == 0)
		return 0;
	*due = t->t[0].due;
	return 1;
}

void
ad_fdtimer_turn(struct ad_fdtimer *t)
{
	t->turn_id = t->last_id;
}

int
ad_fdtimer_due(struct ad_fdtimer *t, uint64_t now, agentd_timer_fn *cb,
    void **arg, uint64_t *id)
{
	struct ad_timer tm;
	size_t          i;

	for (i = 0; i < t->ntimer && t->t[i].due <= now; i++)
		if (t->t[i].id <= t->turn_id)
			break;
	if (i == t->ntimer || t->t[i].due > now)
		return 0;
	tm = t->t[i];
	timer_remove(t, i);
	*cb  = tm.cb;
	*arg = tm.arg;
	*id  = tm.id;
	if (tm.every != 0) {
		/* The first period after now: the missed ones run as one. */
		tm.due += tm.every * ((now - tm.due) / tm.every + 1);
		timer_insert(t, &tm);
	}
	return 1;
}

void
ad_fdtimer_close(struct ad_fdtimer *t)
{
	t->closed = 1;
	t->nwatch = 0;
	t->ntimer = 0;
}
