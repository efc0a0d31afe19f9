#include "config.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hist.h"
#include "common/util.h"
#include "store/audit.h"
#include "supervisor/http.h"
#include "supervisor/http_hooks.h"
#include "supervisor/http_stream.h"
#include "supervisor/metrics.h"
#include "supervisor/status.h"
#include "supervisor/supervisor.h"

/* A growing page. */
struct page {
	char  *p;
	size_t len, cap;
};

static void put(struct page *pg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct page *pg, const char *fmt, ...)
{
	va_list ap;
	int     n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(pg->p + pg->len, pg->cap - pg->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < pg->cap - pg->len) {
			pg->len += (size_t)n;
			return;
		}
		pg->cap = 2 * pg->cap + (size_t)(n > 0 ? n : 0);
		pg->p   = ad_xrealloc(pg->p, pg->cap);
	}
}

/* A label value: backslash, double quote and newline escaped. */
static const char *
esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void
family(struct page *pg, const char *name, const char *type, const char *help)
{
	put(pg, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram in seconds from one in microseconds; labels "a=\"b\"". */
static void
hist(struct page *pg, const char *name, const char *labels,
    const struct ad_hist *h)
{
	uint64_t cum = 0;
	unsigned i;

	for (i = 0; i < AD_HIST_BUCKETS; i++) {
		cum += h->count[i];
		if (i + 1 < AD_HIST_BUCKETS)
			put(pg, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
			    (double)ad_hist_bound(i) / 1e6,
			    (unsigned long long)cum);
		else
			put(pg, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name,
			    labels, (unsigned long long)cum);
	}
	put(pg, "%s_sum{%s} %.6f\n", name, labels, (double)h->sum_us / 1e6);
	put(pg, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->n);
}

/* Per-agent counters: one family, one line per agent. */
#define PER_AGENT(pg, st, fam, type, help, expr)                              \
	do {                                                                  \
		family(pg, fam, type, help);                                  \
		for (size_t i_ = 0; i_ < (st)->nagents; i_++) {               \
			const struct ad_agent_status *a = &(st)->agents[i_];  \
			put(pg, "%s{agent=\"%s\"} %llu\n", fam, a->name,      \
			    (unsigned long long)(expr));                      \
		}                                                             \
	} while (0)

/*
 * Linux 6.2 and later give the number of open descriptors as the size of
 * /proc/self/fd; listing it instead costs a dentry per descriptor, about
 * 5 ms of the scrape with 1000 instances (6000 descriptors), under no
 * lock but on the HTTP thread.  Older kernels say 0: then it is listed.
 */
static unsigned
open_fds(void)
{
	struct stat    sb;
	DIR           *d;
	struct dirent *e;
	unsigned       n = 0;

	if (stat("/proc/self/fd", &sb) == 0 && sb.st_size > 0)
		return (unsigned)sb.st_size;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the one reading */
}

static uint64_t
rss_bytes(void)
{
	unsigned long long size, resident = 0;
	FILE              *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * Seconds until the soonest deadline of the agent's pending decisions
 * (all HIGH: only they wait), 0 once passed and not yet expired by the
 * gate's tick.  An agent with none pending has no line: "no deadline" is
 * not a number of seconds, and an alert on `< 300` must not see one.
 */
static void
decisions_deadline(struct page *pg, const struct ad_status *st)
{
	int64_t now = ad_wall_ms();

	family(pg, "agentd_decisions_next_deadline_seconds", "gauge",
	    "seconds until the soonest deadline of the pending decisions");
	for (size_t i = 0; i < st->nagents; i++) {
		const struct ad_agent_status *a    = &st->agents[i];
		int64_t                       left = a->next_deadline_ms - now;

		if (a->pending == 0 || a->next_deadline_ms == 0)
			continue;
		put(pg,
		    "agentd_decisions_next_deadline_seconds{agent=\"%s\"} "
		    "%.3f\n",
		    a->name, left > 0 ? (double)left / 1e3 : 0.0);
	}
}

/* Each agent's schedules (schedule.h): runs, missed dues by what was
 * done about them, and the seconds until the next due (0 once passed:
 * a due waiting for an instance). */
static void
schedules(struct page *pg, const struct ad_status *st)
{
	int64_t now = ad_wall_ms();
	size_t  i, j;

	family(pg, "agentd_schedule_runs_total", "counter",
	    "runs of the schedule delivered, missed ones included");
	for (i = 0; i < st->nagents; i++)
		for (j = 0; j < st->agents[i].nschedules; j++)
			put(pg,
			    "agentd_schedule_runs_total{agent=\"%s\","
			    "schedule=\"%s\"} %llu\n",
			    st->agents[i].name,
			    st->agents[i].schedules[j].name,
			    (unsigned long long)st->agents[i]
			        .schedules[j]
			        .runs);
	family(pg, "agentd_schedule_missed_total", "counter",
	    "dues the schedule missed, by what was done: run once or skipped");
	for (i = 0; i < st->nagents; i++)
		for (j = 0; j < st->agents[i].nschedules; j++) {
			const struct ad_schedule_status *s
			    = &st->agents[i].schedules[j];

			put(pg,
			    "agentd_schedule_missed_total{agent=\"%s\","
			    "schedule=\"%s\",outcome=\"run\"} %llu\n",
			    st->agents[i].name, s->name,
			    (unsigned long long)s->missed);
			put(pg,
			    "agentd_schedule_missed_total{agent=\"%s\","
			    "schedule=\"%s\",outcome=\"skipped\"} %llu\n",
			    st->agents[i].name, s->name,
			    (unsigned long long)s->skipped);
		}
	family(pg, "agentd_schedule_next_due_seconds", "gauge",
	    "seconds until the schedule's next due");
	for (i = 0; i < st->nagents; i++)
		for (j = 0; j < st->agents[i].nschedules; j++) {
			const struct ad_schedule_status *s
			    = &st->agents[i].schedules[j];
			int64_t left = s->next_due_ms - now;

			if (s->next_due_ms == 0)
				continue;
			put(pg,
			    "agentd_schedule_next_due_seconds{agent=\"%s\","
			    "schedule=\"%s\"} %.3f\n",
			    st->agents[i].name, s->name,
			    left > 0 ? (double)left / 1e3 : 0.0);
		}
}

static void
agents(struct page *pg, const struct ad_status *st)
{
	static const char *const risks[] = { "low", "medium", "high" };
	static const char *const outcomes[]
	    = { "pending", "approved", "rejected", "expired" };
	char labels[256], v[128];

	PER_AGENT(pg, st, "agentd_requests_total", "counter",
	    "requests accepted for the agent", a->st.requests);
	family(pg, "agentd_replies_total", "counter",
	    "replies by outcome (ok or the error's name)");
	for (size_t i = 0; i < st->nagents; i++) {
		const struct ad_agent_status *a = &st->agents[i];

		for (int k = 0; k < AD_STATUS_SLOTS; k++)
			if (a->st.replies[k] != 0 || k == 0)
				put(pg,
				    "agentd_replies_total{agent=\"%s\","
				    "outcome=\"%s\"} %llu\n",
				    a->name, k == 0 ? "ok" : agentd_errname(k),
				    (unsigned long long)a->st.replies[k]);
	}
	PER_AGENT(pg, st, "agentd_redispatched_total", "counter",
	    "requests sent again after an instance died holding them",
	    a->st.redispatched);
	PER_AGENT(pg, st, "agentd_inflight", "gauge",
	    "requests the agent's instances hold", a->inflight);
	PER_AGENT(pg, st, "agentd_queued", "gauge",
	    "requests waiting for an instance", a->queued);
	family(pg, "agentd_instances", "gauge", "instances by state");
	for (size_t i = 0; i < st->nagents; i++) {
		const struct ad_agent_status *a = &st->agents[i];

		put(pg, "agentd_instances{agent=\"%s\",state=\"ready\"} %u\n",
		    a->name, a->ready);
		put(pg,
		    "agentd_instances{agent=\"%s\",state=\"starting\"} %u\n",
		    a->name, a->starting);
		put(pg,
		    "agentd_instances{agent=\"%s\",state=\"draining\"} %u\n",
		    a->name, a->draining);
	}
	PER_AGENT(pg, st, "agentd_instances_desired", "gauge",
	    "instances the agent should have now", a->desired);
	PER_AGENT(pg, st, "agentd_restarts_total", "counter",
	    "instances replaced after an unexpected exit or a hang",
	    a->restarts);
	PER_AGENT(pg, st, "agentd_agent_failed", "gauge",
	    "1 when the agent exceeded its restart intensity and is failed",
	    strcmp(a->state, "failed") == 0);
	PER_AGENT(pg, st, "agentd_events_published_total", "counter",
	    "events from the agent that agentd accepted",
	    a->st.events_published);
	PER_AGENT(pg, st, "agentd_events_denied_total", "counter",
	    "events from the agent refused by its publish list",
	    a->st.events_denied);
	PER_AGENT(pg, st, "agentd_events_delivered_total", "counter",
	    "events handed to the agent's instances", a->st.events_delivered);
	PER_AGENT(pg, st, "agentd_events_dropped_total", "counter",
	    "events for the agent that found no room or no ready instance",
	    a->st.events_dropped);
	PER_AGENT(pg, st, "agentd_calls_denied_total", "counter",
	    "calls the agent made that its calls list does not allow",
	    a->st.calls_denied);
	PER_AGENT(pg, st, "agentd_state_denied_total", "counter",
	    "state operations of the agent that named another agent's state",
	    a->st.state_denied);
	PER_AGENT(pg, st, "agentd_decisions_pending", "gauge",
	    "decisions waiting for a person", a->pending);
	decisions_deadline(pg, st);
	schedules(pg, st);
	family(pg, "agentd_proposals_total", "counter",
	    "proposals through the policy gate, by risk");
	for (size_t i = 0; i < st->nagents; i++)
		for (int k = 0; k < 3; k++)
			put(pg,
			    "agentd_proposals_total{agent=\"%s\",risk=\"%s\"} "
			    "%llu\n",
			    st->agents[i].name, risks[k],
			    (unsigned long long)st->agents[i].st.proposed[k]);
	family(pg, "agentd_decisions_total", "counter",
	    "decisions decided, by outcome");
	for (size_t i = 0; i < st->nagents; i++)
		for (int k = 1; k < 4; k++)
			put(pg,
			    "agentd_decisions_total{agent=\"%s\",outcome=\"%"
			    "s\"}"
			    " %llu\n",
			    st->agents[i].name, outcomes[k],
			    (unsigned long long)st->agents[i].st.decided[k]);
	family(pg, "agentd_service_seconds", "histogram",
	    "time from a request sent to an instance to its answer");
	for (size_t i = 0; i < st->nagents; i++) {
		snprintf(labels, sizeof(labels), "agent=\"%s\"",
		    st->agents[i].name);
		hist(pg, "agentd_service_seconds", labels,
		    &st->agents[i].st.service);
	}
	family(pg, "agentd_queue_wait_seconds", "histogram",
	    "time a request waited for an instance");
	for (size_t i = 0; i < st->nagents; i++) {
		snprintf(labels, sizeof(labels), "agent=\"%s\"",
		    st->agents[i].name);
		hist(pg, "agentd_queue_wait_seconds", labels,
		    &st->agents[i].st.queue_wait);
	}
	family(pg, "agentd_generation_share", "gauge",
	    "percent of the agent's new requests a generation gets");
	for (size_t i = 0; i < st->nagents; i++)
		for (size_t k = 0; k < st->agents[i].ngens; k++) {
			const struct ad_gen_status *g = &st->agents[i].gens[k];

			put(pg,
			    "agentd_generation_share{agent=\"%s\",generation="
			    "\"%u\",role=\"%s\",version=\"%s\"} %u\n",
			    st->agents[i].name, g->number, g->role,
			    esc(g->version, v, sizeof(v)), g->share);
		}
	family(pg, "agentd_generation_requests_total", "counter",
	    "requests a generation's instances answered");
	for (size_t i = 0; i < st->nagents; i++)
		for (size_t k = 0; k < st->agents[i].ngens; k++)
			put(pg,
			    "agentd_generation_requests_total{agent=\"%s\","
			    "generation=\"%u\"} %llu\n",
			    st->agents[i].name, st->agents[i].gens[k].number,
			    (unsigned long long)st->agents[i]
			        .gens[k]
			        .requests);
	family(pg, "agentd_generation_errors_total", "counter",
	    "of those, answered with an error");
	for (size_t i = 0; i < st->nagents; i++)
		for (size_t k = 0; k < st->agents[i].ngens; k++)
			put(pg,
			    "agentd_generation_errors_total{agent=\"%s\","
			    "generation=\"%u\"} %llu\n",
			    st->agents[i].name, st->agents[i].gens[k].number,
			    (unsigned long long)st->agents[i].gens[k].errors);
	family(pg, "agentd_plugin_counted_total", "counter",
	    "what a generation's instances counted with host->count(), "
	    "by name");
	for (size_t i = 0; i < st->nagents; i++)
		for (size_t k = 0; k < st->agents[i].ngens; k++) {
			const struct ad_gen_status *g = &st->agents[i].gens[k];

			/* Names are [a-z0-9_]: nothing to escape. */
			for (size_t n = 0; n < g->ncounters; n++)
				put(pg,
				    "agentd_plugin_counted_total{agent=\"%s\","
				    "generation=\"%u\",name=\"%s\"} %lld\n",
				    st->agents[i].name, g->number,
				    g->counters[n].name,
				    (long long)g->counters[n].value);
		}
}

/* The live streams and the webhooks of the HTTP server. */
static void
http_extras(struct page *pg, const struct ad_stream_stats *ss,
    const struct ad_hook_stats *hk, size_t nhk)
{
	static const char *const kinds[] = { NULL, "events", "audit" };
	char                     name[160];
	size_t                   i;
	int                      k;

	family(pg, "agentd_http_streams", "gauge",
	    "live streams (Server-Sent Events) open, by kind");
	for (k = AD_STREAM_EVENTS; k <= AD_STREAM_AUDIT; k++)
		put(pg, "agentd_http_streams{kind=\"%s\"} %u\n", kinds[k],
		    ss->open[k]);
	family(pg, "agentd_http_stream_dropped_total", "counter",
	    "stream readers dropped, by why");
	for (k = 0; k < AD_DROPS; k++)
		put(pg,
		    "agentd_http_stream_dropped_total{reason=\"%s\"} %llu\n",
		    ad_stream_drop_name((enum ad_stream_drop)k),
		    (unsigned long long)ss->dropped[k]);
	if (nhk == 0)
		return;
	family(pg, "agentd_webhook_requests_total", "counter",
	    "requests to each webhook, by what became of them");
	for (i = 0; i < nhk; i++)
		for (k = 0; k < AD_HOOK_OUTCOMES; k++)
			put(pg,
			    "agentd_webhook_requests_total{webhook=\"%s\","
			    "outcome=\"%s\"} %llu\n",
			    esc(hk[i].name, name, sizeof(name)),
			    ad_hook_outcome_name((enum ad_hook_outcome)k),
			    (unsigned long long)hk[i].n[k]);
}

char *
ad_metrics_text(struct ad_sv *sv, size_t *len)
{
	struct ad_status       st;
	struct ad_http_stats   hs;
	struct ad_stream_stats ss;
	struct ad_hook_stats  *hk;
	size_t                 nhk;
	struct ad_audit_stats  as;
	struct page            pg = { NULL, 0, 0 };

	pg.cap = 16384;
	pg.p   = ad_xmalloc(pg.cap);
	pthread_mutex_lock(&sv->mtx);
	ad_status_take(sv, &st);
	ad_http_stats(sv, &hs);
	ad_http_stream_stats(sv, &ss);
	nhk = ad_http_hook_stats(sv, &hk);
	pthread_mutex_unlock(&sv->mtx);
	ad_audit_stats(sv->audit, &as);
	family(&pg, "agentd_build_info", "gauge", "agentd's version");
	put(&pg, "agentd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	family(&pg, "agentd_uptime_seconds", "gauge", "since agentd started");
	put(&pg, "agentd_uptime_seconds %.3f\n",
	    (double)(ad_wall_ms() - st.started_ms) / 1e3);
	family(&pg, "agentd_resident_memory_bytes", "gauge",
	    "agentd's resident memory");
	put(&pg, "agentd_resident_memory_bytes %llu\n",
	    (unsigned long long)rss_bytes());
	family(&pg, "agentd_open_fds", "gauge", "agentd's open descriptors");
	put(&pg, "agentd_open_fds %u\n", open_fds());
	family(&pg, "agentd_audit_appends_total", "counter",
	    "audit records committed");
	put(&pg, "agentd_audit_appends_total %llu\n",
	    (unsigned long long)as.records);
	family(&pg, "agentd_audit_queued", "gauge",
	    "audit records waiting for the writer");
	put(&pg, "agentd_audit_queued %llu\n", (unsigned long long)as.queued);
	family(&pg, "agentd_http_requests_total", "counter",
	    "HTTP requests answered, by status class");
	for (int k = 2; k < 6; k++)
		put(&pg, "agentd_http_requests_total{class=\"%dxx\"} %llu\n",
		    k, (unsigned long long)hs.by_class[k]);
	family(&pg, "agentd_http_refused_total", "counter",
	    "HTTP requests refused for who sent them");
	put(&pg, "agentd_http_refused_total{why=\"unauthorized\"} %llu\n",
	    (unsigned long long)hs.unauthorized);
	put(&pg, "agentd_http_refused_total{why=\"forbidden\"} %llu\n",
	    (unsigned long long)hs.forbidden);
	put(&pg, "agentd_http_refused_total{why=\"too_big\"} %llu\n",
	    (unsigned long long)hs.too_big);
	family(
	    &pg, "agentd_http_connections", "gauge", "HTTP connections open");
	put(&pg, "agentd_http_connections %u\n", hs.connections);
	http_extras(&pg, &ss, hk, nhk);
	free(hk);
	agents(&pg, &st);
	ad_status_release(&st);
	*len = pg.len;
	return pg.p;
}
