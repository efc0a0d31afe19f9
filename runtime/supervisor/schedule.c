#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "bus/envelope.h"
#include "common/json_mp.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"
#include "supervisor/agent.h"
#include "supervisor/hub.h"
#include "supervisor/schedule.h"
#include "supervisor/status.h"
#include "supervisor/supervisor.h"

/* A missed cron schedule's latest due is looked for this many runs on;
 * past that (a clock jump of months for a schedule every minute), the
 * run reports the last one found. */
#define LATEST_MAX 1000

/* ---- the deciders (pure) ------------------------------------------------ */

enum ad_sched_verdict
ad_sched_verdict(int64_t due, int64_t next, int64_t now, int missed_run)
{
	if (now < due)
		return AD_SCHED_WAIT;
	if (now >= next || now - due > AD_SCHED_LATE_MS)
		return missed_run ? AD_SCHED_MISSED_RUN : AD_SCHED_MISSED_SKIP;
	return AD_SCHED_RUN;
}

int64_t
ad_sched_every_next(int64_t last, int64_t every, int64_t now)
{
	if (last <= 0 || now < last)
		return now + every;
	return last + ((now - last) / every + 1) * every;
}

int64_t
ad_sched_every_last(int64_t last, int64_t every, int64_t now, int64_t *latest)
{
	int64_t k = now >= last ? (now - last) / every : 0;

	*latest = last + k * every;
	return k;
}

int
ad_sched_clock_back(int64_t wall0, int64_t mono0, int64_t wall, int64_t mono)
{
	return wall - wall0 < (mono - mono0) - AD_SCHED_JUMP_MS;
}

/* ---- one schedule --------------------------------------------------------
 */

int64_t
ad_sched_next_after(const struct ad_sched *s, int64_t last, int64_t after)
{
	time_t due;

	if (s->every > 0)
		return ad_sched_every_next(last, s->every, after);
	if (ad_cron_zone_next(&s->cron, s->zone, (time_t)(after / 1000), &due)
	    != 0)
		return 0;
	return (int64_t)due * 1000;
}

/* The latest due of s at or before now, from `due` (which is). */
static int64_t
latest_due(const struct ad_sched *s, int64_t due, int64_t now)
{
	int64_t latest = due;

	if (s->every > 0) {
		ad_sched_every_last(due, s->every, now, &latest);
		return latest;
	}
	return (int64_t)ad_cron_zone_last(&s->cron, s->zone,
	           (time_t)(due / 1000), (time_t)(now / 1000), LATEST_MAX)
	    * 1000;
}

/* "10m", "1500ms": a duration as a file writes it. */
static void
duration_text(int64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		int64_t     ms;
	} units[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
		{ "s", 1000 } };
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms % units[i].ms == 0) {
			snprintf(buf, len, "%lld%s",
			    (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	snprintf(buf, len, "%lldms", (long long)ms);
}

/* body = "{...}", checked by the configuration: its object, or NULL. */
static json_t *
take_body(const char *text)
{
	json_t *j = text != NULL ? json_loads(text, 0, NULL) : NULL;

	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static void
sched_init(struct ad_sched *s, const struct ad_schedule_conf *c)
{
	char buf[64], err[AD_ERRLEN];

	memset(s, 0, sizeof(*s));
	s->name       = ad_xstrdup(c->name);
	s->every      = c->every_ms;
	s->missed_run = c->missed == AD_MISSED_RUN;
	s->zone       = ad_xstrdup_or_null(c->timezone);
	if (s->every > 0) {
		duration_text(s->every, buf, sizeof(buf));
		s->spec = ad_xasprintf("every %s", buf);
	} else {
		s->spec = ad_xstrdup(c->cron);
		/* The configuration checked it: a failure here is ours. */
		if (ad_cron_parse(c->cron, &s->cron, err, sizeof(err)) != 0)
			ad_error("schedule %s: %s", c->name, err);
	}
	s->body = take_body(c->body);
}

static void
sched_clear(struct ad_sched *s)
{
	free(s->name);
	free(s->spec);
	free(s->zone);
	json_decref(s->body);
	memset(s, 0, sizeof(*s));
}

/* What the store keeps it under: the spec and the zone (a record
 * written by another spec says nothing about this one). */
static char *
store_spec(const struct ad_sched *s)
{
	return ad_xasprintf("%s%s%s", s->spec, s->zone != NULL ? " " : "",
	    s->zone != NULL ? s->zone : "");
}

static int
same_sched(const struct ad_sched *a, const struct ad_sched *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->spec, b->spec) == 0
	    && (a->zone == b->zone
	        || (a->zone != NULL && b->zone != NULL
	            && strcmp(a->zone, b->zone) == 0));
}

/* ---- store writes, made after sv->mtx is released ----------------------
 */

struct sched_write {
	struct sched_write       *next;
	char                     *agent, *name;
	int                       del; /* remove the record */
	struct ad_schedule_record rec;
};

static void
write_later(struct sched_write **list, const char *agent,
    const struct ad_sched *s, int del)
{
	struct sched_write *w = ad_xcalloc(1, sizeof(*w));

	w->agent           = ad_xstrdup(agent);
	w->name            = ad_xstrdup(s->name);
	w->del             = del;
	w->rec.spec        = store_spec(s);
	w->rec.last_due_ms = s->last_due;
	w->rec.next_due_ms = s->next_due;
	/* In the order made: a later write of a record wins. */
	while (*list != NULL)
		list = &(*list)->next;
	*list = w;
}

/* One transaction for the turn's writes (each run's fsync would hold
 * the loop once per schedule). */
static void
write_all(struct ad_store *store, struct sched_write *list)
{
	struct ad_schedule_change *v;
	struct sched_write        *w, *next;
	size_t                     n = 0;
	int                        rv;

	for (w = list; w != NULL; w = w->next)
		n++;
	if (n == 0)
		return;
	v = ad_xcalloc(n, sizeof(*v));
	n = 0;
	for (w = list; w != NULL; w = w->next) {
		v[n].agent = w->agent;
		v[n].name  = w->name;
		v[n].rec   = w->del ? NULL : &w->rec;
		n++;
	}
	rv = store != NULL ? ad_store_schedule_apply(store, v, n) : 0;
	if (rv != 0)
		ad_warn(
		    "schedules: %zu record(s) could not be written to the "
		    "state database (%s): after a restart, runs missed are "
		    "counted from the last ones written",
		    n, agentd_strerror(rv));
	free(v);
	for (w = list; w != NULL; w = next) {
		next = w->next;
		free(w->agent);
		free(w->name);
		free(w->rec.spec);
		free(w);
	}
}

/* ---- an agent's schedules ----------------------------------------------
 */

/* Where a new schedule starts: what the store recorded for the same
 * spec, else its first due from now. */
static void
sched_start(struct ad_sv *sv, const char *agent, struct ad_sched *s,
    int64_t now, struct sched_write **writes)
{
	struct ad_schedule_record rec;
	char                     *spec = store_spec(s);

	if (sv->store != NULL
	    && ad_store_schedule_get(sv->store, agent, s->name, &rec) == 0) {
		if (strcmp(rec.spec, spec) == 0 && rec.next_due_ms > 0) {
			s->last_due = rec.last_due_ms;
			s->next_due = rec.next_due_ms;
		}
		free(rec.spec);
	}
	free(spec);
	if (s->next_due == 0) {
		s->next_due = ad_sched_next_after(s, 0, now);
		write_later(writes, agent, s, 0);
	}
}

/* Make a->sched what a->conf says: schedules that stay keep their
 * times and counts; new ones start; removed ones leave the store. */
static void
sync_conf(struct ad_agent *a, int64_t now, struct sched_write **writes)
{
	struct ad_schedules        *sc = &a->sched;
	const struct ad_agent_conf *c  = a->removed ? NULL : a->conf;
	size_t                      n  = c != NULL ? c->nschedules : 0, i, j;
	struct ad_sched            *v  = ad_xcalloc(n ? n : 1, sizeof(*v));

	for (i = 0; i < n; i++) {
		sched_init(&v[i], &c->schedules[i]);
		for (j = 0; j < sc->n; j++)
			if (sc->v[j].name != NULL
			    && same_sched(&v[i], &sc->v[j]))
				break;
		if (j < sc->n) {
			v[i].next_due = sc->v[j].next_due;
			v[i].last_due = sc->v[j].last_due;
			v[i].runs     = sc->v[j].runs;
			v[i].missed   = sc->v[j].missed;
			v[i].skipped  = sc->v[j].skipped;
			sched_clear(&sc->v[j]); /* taken */
		} else {
			sched_start(a->sv, a->conf->name, &v[i], now, writes);
		}
	}
	for (j = 0; j < sc->n; j++) {
		if (sc->v[j].name == NULL)
			continue;
		/* Renamed or removed, not changed: a changed one's record
		 * is replaced by its start. */
		for (i = 0; i < n; i++)
			if (strcmp(v[i].name, sc->v[j].name) == 0)
				break;
		if (i == n)
			write_later(writes, a->conf->name, &sc->v[j], 1);
		sched_clear(&sc->v[j]);
	}
	free(sc->v);
	sc->v    = v;
	sc->n    = n;
	sc->conf = c;
}

/* The run's event: {"schedule", "due", "missed", ...body}. */
static int
deliver(struct ad_agent *a, const struct ad_sched *s, int64_t due, int missed)
{
	struct ad_envelope e;
	agentd_writer     *w;
	const char        *key;
	json_t            *v;
	int                rv;

	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	agentd_write_map(w,
	    3 + (uint32_t)(s->body != NULL ? json_object_size(s->body) : 0));
	agentd_write_str(w, "schedule");
	agentd_write_str(w, s->name);
	agentd_write_str(w, "due");
	agentd_write_int(w, due);
	agentd_write_str(w, "missed");
	agentd_write_bool(w, missed);
	if (s->body != NULL)
		json_object_foreach(s->body, key, v)
		{
			agentd_write_str(w, key);
			ad_json_to_mp(v, w);
		}
	memset(&e, 0, sizeof(e));
	e.version = AD_ENVELOPE_VERSION;
	e.kind    = AD_KIND_EVENT;
	snprintf(e.dst, sizeof(e.dst), "schedule.%s", s->name);
	e.body = agentd_writer_data(w, &e.body_len);
	rv     = ad_hub_deliver_to(a->sv, a, &e);
	agentd_writer_free(w);
	return rv;
}

/* A wall time in ms as "2026-05-01T10:00:00Z". */
static void
iso_time(int64_t ms, char *buf, size_t len)
{
	time_t    t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
log_missed(
    const struct ad_agent *a, const struct ad_sched *s, int64_t due, int ran)
{
	char when[32];

	iso_time(due, when, sizeof(when));
	ad_sv_audit(a->sv, a->conf->name, NULL, "agent.schedule",
	    "schedule %s: runs due since %s were missed: %s", s->name, when,
	    ran ? "run once (missed = run)" : "skipped (missed = skip)");
	ad_info("agent %s: schedule %s: runs due since %s were missed "
	        "(agentd was down, the clock jumped or no instance was "
	        "ready): %s",
	    a->conf->name, s->name, when,
	    ran ? "run once now (missed = run)" : "skipped (missed = skip)");
}

void
ad_sched_turn(const struct ad_sched *s, int64_t now, struct ad_sched_turn *t)
{
	int64_t next;

	memset(t, 0, sizeof(*t));
	if (s->next_due == 0 || now < s->next_due)
		return; /* AD_SCHED_WAIT */
	next       = ad_sched_next_after(s, s->next_due, s->next_due);
	t->verdict = ad_sched_verdict(
	    s->next_due, next > 0 ? next : INT64_MAX, now, s->missed_run);
	t->due      = t->verdict == AD_SCHED_RUN ? s->next_due
	                                         : latest_due(s, s->next_due, now);
	t->next_due = ad_sched_next_after(s, t->due, now);
}

/* One schedule at wall time now: run it if it is due.  mtx held. */
static void
sched_check(struct ad_agent *a, struct ad_sched *s, int64_t now,
    struct sched_write **writes)
{
	struct ad_sched_turn t;

	ad_sched_turn(s, now, &t);
	if (t.verdict == AD_SCHED_WAIT)
		return;
	if (t.verdict != AD_SCHED_MISSED_SKIP) {
		if (deliver(a, s, t.due, t.verdict == AD_SCHED_MISSED_RUN)
		    == AGENTD_ENOENT) {
			/* No ready instance: the due waits for one. */
			ad_agent_wake(a, "a schedule came due");
			return;
		}
		s->runs++;
		s->last_due = t.due;
	}
	if (t.verdict != AD_SCHED_RUN) {
		log_missed(
		    a, s, s->next_due, t.verdict == AD_SCHED_MISSED_RUN);
		if (t.verdict == AD_SCHED_MISSED_RUN)
			s->missed++;
		else
			s->skipped++;
	}
	s->next_due = t.next_due;
	write_later(writes, a->conf->name, s, 0);
}

/* The wall clock went back: every next due from the new time. */
static void
clock_back(struct ad_agent *a, int64_t wall, int64_t mono,
    struct sched_write **writes)
{
	struct ad_schedules *sc = &a->sched;
	size_t               i;

	ad_warn("agent %s: the wall clock went back %lld ms: the next runs of "
	        "its schedules are computed again from now",
	    a->conf->name, (long long)((mono - sc->mono) - (wall - sc->wall)));
	ad_sv_audit(a->sv, a->conf->name, NULL, "agent.schedule",
	    "the wall clock went back %lld ms: the next runs of its "
	    "schedules computed again",
	    (long long)((mono - sc->mono) - (wall - sc->wall)));
	for (i = 0; i < sc->n; i++) {
		sc->v[i].next_due = ad_sched_next_after(&sc->v[i], 0, wall);
		write_later(writes, a->conf->name, &sc->v[i], 0);
	}
}

void
ad_schedules_step(struct ad_sv *sv)
{
	struct sched_write *writes = NULL;
	int64_t             wall = ad_wall_ms(), mono = ad_now_ms();
	size_t              i, j;

	pthread_mutex_lock(&sv->mtx);
	for (i = 0; i < sv->nagents; i++) {
		struct ad_agent     *a  = sv->agents[i];
		struct ad_schedules *sc = &a->sched;

		if (sc->conf != (a->removed ? NULL : a->conf))
			sync_conf(a, wall, &writes);
		if (sc->n > 0 && sc->mono != 0
		    && ad_sched_clock_back(sc->wall, sc->mono, wall, mono))
			clock_back(a, wall, mono, &writes);
		sc->wall = wall;
		sc->mono = mono;
		for (j = 0; j < sc->n; j++)
			sched_check(a, &sc->v[j], wall, &writes);
	}
	pthread_mutex_unlock(&sv->mtx);
	write_all(sv->store, writes);
}

void
ad_schedules_free(struct ad_schedules *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		sched_clear(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void
ad_schedules_status_get(
    const struct ad_schedules *s, struct ad_schedule_status **v, size_t *n)
{
	size_t i;

	*n = s->n;
	*v = s->n > 0 ? ad_xcalloc(s->n, sizeof(**v)) : NULL;
	for (i = 0; i < s->n; i++) {
		struct ad_schedule_status *o = &(*v)[i];

		snprintf(o->name, sizeof(o->name), "%s", s->v[i].name);
		snprintf(o->spec, sizeof(o->spec), "%s", s->v[i].spec);
		snprintf(o->zone, sizeof(o->zone), "%s",
		    s->v[i].zone != NULL ? s->v[i].zone : "");
		o->missed_run  = s->v[i].missed_run;
		o->next_due_ms = s->v[i].next_due;
		o->last_due_ms = s->v[i].last_due;
		o->runs        = s->v[i].runs;
		o->missed      = s->v[i].missed;
		o->skipped     = s->v[i].skipped;
	}
}
