#include "config.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "config/setting_file.h"
#include "store/audit.h"
#include "store/store.h"
#include "store/state.h"
#include "store/state_msg.h"
#include "supervisor/agent.h"
#include "supervisor/control.h"
#include "supervisor/discovery.h"
#include "supervisor/dispatch.h"
#include "supervisor/gate.h"
#include "supervisor/hub.h"
#include "supervisor/instance.h"
#include "supervisor/reload.h"
#include "supervisor/status.h"
#include "supervisor/tokens.h"
#include "supervisor/supervisor.h"

static void operator_name(const struct ad_srvctx *c, char *out, size_t len);

/* The source an operator's calls and events carry: who plugins see. */
static const char *
requester(const struct ad_srvctx *c)
{
	return c->answer != NULL ? "http" : "agentctl";
}

/* ---- status ------------------------------------------------------------ */

static void
write_kv_uint(agentd_writer *w, const char *k, uint64_t v)
{
	agentd_write_str(w, k);
	agentd_write_uint(w, v);
}

/* Resident memory of a process in KiB (/proc/PID/statm), 0 if gone. */
static uint64_t
rss_kb(pid_t pid)
{
	char               path[64];
	unsigned long long size, resident = 0;
	FILE              *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
}

static void
write_instance(agentd_writer *w, const struct ad_instance_status *i)
{
	agentd_write_map_begin(w);
	agentd_write_str(w, "id");
	agentd_write_str(w, i->id);
	agentd_write_str(w, "pid");
	agentd_write_int(w, i->pid);
	agentd_write_str(w, "state");
	agentd_write_str(w, i->state);
	write_kv_uint(w, "generation", i->generation);
	agentd_write_str(w, "started_ms");
	agentd_write_int(w, i->started_ms);
	write_kv_uint(
	    w, "uptime_ms", (uint64_t)(ad_wall_ms() - i->started_ms));
	/* spawn to ready, in microseconds; 0 until it is ready */
	write_kv_uint(w, "ready_us", i->ready_us);
	write_kv_uint(w, "rss_kb", i->exited ? 0 : rss_kb(i->pid));
	write_kv_uint(w, "inflight", i->inflight);
	write_kv_uint(w, "served", i->served);
	/* the worker's own count, from its last heartbeat */
	write_kv_uint(w, "handled", i->handled);
	write_kv_uint(w, "events_queued", i->events_queued);
	agentd_write_map_end(w);
}

/* Replies by outcome, named: {"ok": n, "ETIMEOUT": n, ...}, non-zero. */
static void
write_replies(agentd_writer *w, const struct ad_agent_stats *st)
{
	uint32_t n = 0;
	int      i;

	for (i = 0; i < AD_STATUS_SLOTS; i++)
		n += st->replies[i] != 0;
	agentd_write_map(w, n);
	for (i = 0; i < AD_STATUS_SLOTS; i++) {
		if (st->replies[i] == 0)
			continue;
		write_kv_uint(
		    w, i == 0 ? "ok" : agentd_errname(i), st->replies[i]);
	}
}

static void
write_hist(agentd_writer *w, const char *k, const struct ad_hist *h)
{
	agentd_write_str(w, k);
	agentd_write_map(w, 4);
	write_kv_uint(w, "count", h->n);
	write_kv_uint(w, "sum_us", h->sum_us);
	write_kv_uint(w, "p50_us", ad_hist_quantile(h, 0.50));
	write_kv_uint(w, "p99_us", ad_hist_quantile(h, 0.99));
}

static void
write_gen(agentd_writer *w, const struct ad_gen_status *g)
{
	agentd_write_map(w, 11);
	write_kv_uint(w, "generation", g->number);
	agentd_write_str(w, "role");
	agentd_write_str(w, g->role);
	agentd_write_str(w, "version");
	agentd_write_str(w, g->version);
	agentd_write_str(w, "hash");
	agentd_write_str(w, g->hash);
	write_kv_uint(w, "share", g->share);
	write_kv_uint(w, "instances", g->instances);
	write_kv_uint(w, "requests", g->requests);
	write_kv_uint(w, "errors", g->errors);
	agentd_write_str(w, "loaded_ms");
	agentd_write_int(w, g->loaded_ms);
	write_hist(w, "service", &g->service);
	/* host->count() of its instances: {NAME: VALUE}, names in order */
	agentd_write_str(w, "counters");
	agentd_write_map(w, (uint32_t)g->ncounters);
	for (size_t i = 0; i < g->ncounters; i++) {
		agentd_write_str(w, g->counters[i].name);
		agentd_write_int(w, g->counters[i].value);
	}
}

/* The policy gate's counters: "decisions": {pending, proposed {low,
 * medium, high}, outcomes {approved, rejected, expired}, decide_time}. */
static void
write_decisions(agentd_writer *w, const struct ad_agent_status *a)
{
	static const char *const risks[] = { "low", "medium", "high" };
	static const char *const outcomes[]
	    = { "pending", "approved", "rejected", "expired" };

	agentd_write_str(w, "decisions");
	agentd_write_map(w, 4);
	write_kv_uint(w, "pending", a->pending);
	agentd_write_str(w, "proposed");
	agentd_write_map(w, 3);
	for (int i = 0; i < 3; i++)
		write_kv_uint(w, risks[i], a->st.proposed[i]);
	agentd_write_str(w, "outcomes");
	agentd_write_map(w, 3);
	for (int i = 1; i < 4; i++)
		write_kv_uint(w, outcomes[i], a->st.decided[i]);
	write_hist(w, "decide_time", &a->st.decide_time);
}

/* "capabilities": [NAME, ...], sorted, unique. */
static void
write_capabilities(agentd_writer *w, const struct ad_agent_status *a)
{
	agentd_write_str(w, "capabilities");
	agentd_write_array(w, (uint32_t)a->ncapabilities);
	for (size_t i = 0; i < a->ncapabilities; i++)
		agentd_write_str(w, a->capabilities[i]);
}

/* A wall time, or nil for 0 (none). */
static void
write_kv_time(agentd_writer *w, const char *key, int64_t ms)
{
	agentd_write_str(w, key);
	if (ms != 0)
		agentd_write_int(w, ms);
	else
		agentd_write_nil(w);
}

/* One schedule (schedule.h): "schedules": [{name, spec, timezone,
 * missed, next_due_ms, last_due_ms, runs, missed_runs, skipped}]. */
static void
write_schedule(agentd_writer *w, const struct ad_schedule_status *s)
{
	agentd_write_map(w, 9);
	agentd_write_str(w, "name");
	agentd_write_str(w, s->name);
	agentd_write_str(w, "spec");
	agentd_write_str(w, s->spec);
	agentd_write_str(w, "timezone");
	if (s->zone[0] != '\0')
		agentd_write_str(w, s->zone);
	else
		agentd_write_nil(w);
	agentd_write_str(w, "missed");
	agentd_write_str(w, s->missed_run ? "run" : "skip");
	write_kv_time(w, "next_due_ms", s->next_due_ms);
	write_kv_time(w, "last_due_ms", s->last_due_ms);
	write_kv_uint(w, "runs", s->runs);
	write_kv_uint(w, "missed_runs", s->missed);
	write_kv_uint(w, "skipped", s->skipped);
}

static void
write_agent(agentd_writer *w, const struct ad_agent_status *a)
{
	const struct ad_agent_stats *st = &a->st;
	size_t                       i;

	agentd_write_map(w, 31 + 1 /* capabilities */ + 1 /* schedules */);
	agentd_write_str(w, "name");
	agentd_write_str(w, a->name);
	agentd_write_str(w, "plugin");
	agentd_write_str(w, a->plugin);
	agentd_write_str(w, "version");
	agentd_write_str(w, a->version);
	agentd_write_str(w, "hash");
	agentd_write_str(w, a->hash);
	write_kv_uint(w, "generation", a->generation);
	agentd_write_str(w, "generations");
	agentd_write_array(w, (uint32_t)a->ngens);
	for (i = 0; i < a->ngens; i++)
		write_gen(w, &a->gens[i]);
	write_kv_uint(w, "desired", a->desired);
	agentd_write_str(w, "scaling");
	agentd_write_str(w, a->pinned ? "pinned" : "auto");
	write_kv_uint(w, "ready", a->ready);
	write_kv_uint(w, "starting", a->starting);
	write_kv_uint(w, "draining", a->draining);
	write_kv_uint(w, "min", a->min);
	write_kv_uint(w, "max", a->max);
	write_kv_uint(w, "inflight", a->inflight);
	write_kv_uint(w, "queued", a->queued);
	write_kv_uint(w, "requests", st->requests);
	agentd_write_str(w, "replies");
	write_replies(w, st);
	write_kv_uint(w, "errors", a->errors);
	write_kv_uint(w, "redispatched", st->redispatched);
	write_kv_uint(w, "calls_denied", st->calls_denied);
	write_kv_uint(w, "state_denied", st->state_denied);
	write_kv_uint(w, "events_published", st->events_published);
	write_kv_uint(w, "events_denied", st->events_denied);
	write_kv_uint(w, "events_delivered", st->events_delivered);
	write_kv_uint(w, "events_dropped", st->events_dropped);
	write_hist(w, "queue_wait", &st->queue_wait);
	write_hist(w, "service", &st->service);
	write_kv_uint(w, "restarts", a->restarts);
	write_decisions(w, a);
	agentd_write_str(w, "state");
	agentd_write_str(w, a->state);
	agentd_write_str(w, "instances");
	agentd_write_array(w, (uint32_t)a->ninstances);
	for (i = 0; i < a->ninstances; i++)
		write_instance(w, &a->instances[i]);
	write_capabilities(w, a);
	agentd_write_str(w, "schedules");
	agentd_write_array(w, (uint32_t)a->nschedules);
	for (i = 0; i < a->nschedules; i++)
		write_schedule(w, &a->schedules[i]);
}

static void
op_status(struct ad_srvctx *c)
{
	struct ad_status st;
	agentd_writer   *w;
	const void      *body;
	size_t           i, len;

	ad_status_take(c->srv->sv, &st);
	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "pid");
	agentd_write_int(w, getpid());
	write_kv_uint(w, "rss_kb", rss_kb(getpid()));
	agentd_write_str(w, "version");
	agentd_write_str(w, PACKAGE_VERSION);
	agentd_write_str(w, "started_ms");
	agentd_write_int(w, st.started_ms);
	agentd_write_str(w, "agents");
	agentd_write_array(w, (uint32_t)st.nagents);
	for (i = 0; i < st.nagents; i++)
		write_agent(w, &st.agents[i]);
	ad_status_release(&st);
	body = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(w);
}

/* ---- publish (an operator's event) ------------------------------------- */

static void
op_publish(struct ad_srvctx *c, const struct ad_envelope *e)
{
	agentd_doc         *doc = NULL;
	const agentd_value *root;
	struct ad_envelope  ev;
	const void         *body;
	size_t              len;
	unsigned            delivered = 0;
	agentd_writer      *w;
	char                by[AD_WHO_MAX];

	memset(&ev, 0, sizeof(ev));
	if (agentd_parse(e->body, e->body_len, &doc) != 0
	    || agentd_get_strcpy(
	           agentd_map_get(root = agentd_doc_root(doc), "topic"),
	           ev.dst, sizeof(ev.dst))
	        != 0
	    || agentd_get_bin(
	           agentd_map_get(root, "body"), &ev.body, &ev.body_len)
	        != 0) {
		agentd_doc_free(doc);
		ad_srv_fail(c, AGENTD_EINVAL, "publish needs {topic, body}");
		return;
	}
	if (!ad_valid_topic(ev.dst)) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "\"%s\" is not a topic: use 1 to 255 letters, digits, "
		    "'_', '.' or '-'",
		    ev.dst);
		agentd_doc_free(doc);
		return;
	}
	ev.kind   = AD_KIND_EVENT;
	delivered = ad_hub_deliver(c->srv->sv, requester(c), "", &ev);
	operator_name(c, by, sizeof(by));
	ad_sv_audit(c->srv->sv, NULL, NULL, "event.operator",
	    "event \"%s\" published by %s, delivered to %u agent(s)", ev.dst,
	    by, delivered);
	agentd_doc_free(doc);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	write_kv_uint(w, "delivered", delivered);
	body = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(w);
}

void
ad_write_values(agentd_writer *out, const void *p, size_t len)
{
	agentd_doc *d;
	size_t      used;

	while (len > 0 && agentd_parse_prefix(p, len, &d, &used) == 0) {
		agentd_write_value(out, agentd_doc_root(d));
		agentd_doc_free(d);
		p = (const char *)p + used;
		len -= used;
	}
}

/* ---- the audit trail ---------------------------------------------------- */

void
ad_audit_entry_write(agentd_writer *w, const struct ad_audit_entry *e)
{
	char hex[2 * AD_AUDIT_HASH_LEN + 1];

	ad_hex(e->hash, AD_AUDIT_HASH_LEN, hex);
	agentd_write_map(w, 8);
	write_kv_uint(w, "seq", e->seq);
	agentd_write_str(w, "time_ms");
	agentd_write_int(w, e->time_ms);
	agentd_write_str(w, "agent");
	e->agent ? agentd_write_str(w, e->agent) : agentd_write_nil(w);
	agentd_write_str(w, "instance");
	e->instance ? agentd_write_str(w, e->instance) : agentd_write_nil(w);
	agentd_write_str(w, "kind");
	agentd_write_str(w, e->kind);
	agentd_write_str(w, "summary");
	agentd_write_str(w, e->summary);
	agentd_write_str(w, "detail");
	if (e->detail_len > 0)
		agentd_write_raw(w, e->detail, e->detail_len);
	else
		agentd_write_nil(w);
	agentd_write_str(w, "hash");
	agentd_write_str(w, hex);
}

/* Entries are encoded into a writer of their own, and counted, so the
 * array header written before them is right whatever happens to the log
 * meanwhile (appends, an archive run). */
struct entry_sink {
	agentd_writer *w;
	uint32_t       n;
};

static int
sink_entry(void *arg, const struct ad_audit_entry *e)
{
	struct entry_sink *k = arg;

	k->n++;
	ad_audit_entry_write(k->w, e);
	return 0;
}

/*
 * Body (all keys optional): agent, kind, since_ms, until_ms, min_seq (the
 * first record wanted, for following the log), limit (default 100, 0 for
 * none), oldest_first (default false: newest first).
 */
static void
op_audit(struct ad_srvctx *c, const struct ad_envelope *e)
{
	struct ad_sv          *sv = c->srv->sv;
	struct ad_audit_filter f;
	struct entry_sink      k   = { NULL, 0 };
	agentd_doc            *doc = NULL;
	const agentd_value    *root;
	char                   agent[AD_NAME_MAX] = "", kind[128] = "";
	int64_t                limit = 100, min_seq = 0;
	int                    oldest = 0;
	agentd_writer         *w;
	const void            *body;
	size_t                 len;
	int                    rv;

	memset(&f, 0, sizeof(f));
	if (e->body_len > 0 && agentd_parse(e->body, e->body_len, &doc) == 0) {
		root = agentd_doc_root(doc);
		if (agentd_get_strcpy(
		        agentd_map_get(root, "agent"), agent, sizeof(agent))
		    == 0)
			f.agent = agent;
		if (agentd_get_strcpy(
		        agentd_map_get(root, "kind"), kind, sizeof(kind))
		    == 0)
			f.kind = kind;
		agentd_get_int(agentd_map_get(root, "since_ms"), &f.since_ms);
		agentd_get_int(agentd_map_get(root, "until_ms"), &f.until_ms);
		agentd_get_int(agentd_map_get(root, "limit"), &limit);
		agentd_get_int(agentd_map_get(root, "min_seq"), &min_seq);
		agentd_get_bool(agentd_map_get(root, "oldest_first"), &oldest);
		agentd_doc_free(doc);
	}
	f.limit        = limit > 0 ? (size_t)limit : 0;
	f.min_seq      = min_seq > 0 ? (uint64_t)min_seq : 0;
	f.oldest_first = oldest;
	agentd_writer_new(&k.w);
	agentd_writer_new(&w);
	/* The query waits for the records queued before it to be committed,
	 * and the writer's answers take the mutex: query without it, with c
	 * waiting meanwhile (as op_audit_append does). */
	c->state = AD_SRV_WAIT;
	pthread_mutex_unlock(&sv->mtx);
	rv = ad_audit_query(sv->audit, &f, sink_entry, &k);
	if (rv == 0) {
		agentd_write_map(w, 1);
		agentd_write_str(w, "records");
		agentd_write_array(w, k.n);
		body = agentd_writer_data(k.w, &len);
		ad_write_values(w, body, len);
	}
	pthread_mutex_lock(&sv->mtx);
	if (rv != 0)
		ad_srv_fail(
		    c, rv, "reading the audit trail: %s", agentd_strerror(rv));
	else {
		body = agentd_writer_data(w, &len);
		ad_srv_reply(c, 0, body, len);
	}
	agentd_writer_free(w);
	agentd_writer_free(k.w);
}

/* Body (optional): "keys", an array of Ed25519 public keys (bin 32)
 * the seals are checked against (ad_audit_verify_sealed). */
static size_t
verify_keys(
    const struct ad_envelope *e, unsigned char (*keys)[AD_AUDIT_KEY_LEN])
{
	agentd_doc         *doc = NULL;
	const agentd_value *arr;
	const void         *p;
	size_t              n = 0, len;

	if (e->body_len == 0 || agentd_parse(e->body, e->body_len, &doc) != 0)
		return 0;
	arr = agentd_map_get(agentd_doc_root(doc), "keys");
	for (size_t i = 0; i < agentd_len(arr) && n < AD_AUDIT_KEYS_MAX; i++)
		if (agentd_get_bin(agentd_array_at(arr, i), &p, &len) == 0
		    && len == AD_AUDIT_KEY_LEN)
			memcpy(keys[n++], p, len);
	agentd_doc_free(doc);
	return n;
}

static void
op_audit_verify(struct ad_srvctx *c, const struct ad_envelope *e)
{
	struct ad_sv                 *sv = c->srv->sv;
	struct ad_audit_verify_result r;
	agentd_writer                *w;
	const void                   *body;
	size_t                        len, nkeys;
	char                          hex[2 * AD_AUDIT_HASH_LEN + 1];
	unsigned char keys[AD_AUDIT_KEYS_MAX][AD_AUDIT_KEY_LEN];
	int           rv;

	memset(&r, 0, sizeof(r));
	nkeys = verify_keys(e, keys);
	/* A walk over the whole trail: not with every request waiting for
	 * the mutex meanwhile. */
	c->state = AD_SRV_WAIT;
	pthread_mutex_unlock(&sv->mtx);
	rv = ad_audit_verify_sealed(sv->audit, keys, nkeys, &r);
	pthread_mutex_lock(&sv->mtx);
	if (rv != 0 && !r.what[0]) {
		ad_srv_fail(c, rv, "verifying the audit trail: %s",
		    agentd_strerror(rv));
		return;
	}
	ad_hex(r.head_hash, AD_AUDIT_HASH_LEN, hex);
	agentd_writer_new(&w);
	agentd_write_map(w, r.keyed ? 11 : 7);
	agentd_write_str(w, "ok");
	agentd_write_bool(w, r.ok);
	write_kv_uint(w, "first_seq", r.first_seq);
	write_kv_uint(w, "last_seq", r.last_seq);
	write_kv_uint(w, "records", r.records);
	write_kv_uint(w, "bad_seq", r.bad_seq);
	agentd_write_str(w, "what");
	agentd_write_str(w, r.what);
	agentd_write_str(w, "head_hash");
	agentd_write_str(w, hex);
	if (r.keyed) {
		write_kv_uint(w, "seals", r.seals);
		write_kv_uint(w, "sealed_seq", r.sealed_seq);
		write_kv_uint(w, "unsealed", r.unsealed);
		write_kv_uint(w, "archived_seals", r.archived);
	}
	body = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(w);
}

static int
key_entry(void *arg, const struct ad_audit_key *k)
{
	agentd_writer *w = arg;
	char           pub[AD_AUDIT_KEY_STRLEN];

	ad_audit_key_format(k->pub, pub);
	agentd_write_map(w, 5);
	write_kv_uint(w, "seal", k->epoch);
	write_kv_uint(w, "seq", k->seq);
	agentd_write_str(w, "time_ms");
	agentd_write_int(w, k->time_ms);
	agentd_write_str(w, "restart");
	agentd_write_bool(w, k->restart);
	agentd_write_str(w, "key");
	agentd_write_str(w, pub);
	return 0;
}

static int
key_count(void *arg, const struct ad_audit_key *k)
{
	(void)k;
	(*(uint32_t *)arg)++;
	return 0;
}

/* The keys that start a chain of seals: {"keys": [{seal, seq, time_ms,
 * restart, key}]}; a few seals at most, read twice (count, then write). */
static void
op_audit_key(struct ad_srvctx *c)
{
	struct ad_sv  *sv = c->srv->sv;
	agentd_writer *w;
	const void    *body;
	size_t         len;
	uint32_t       n = 0;
	int            rv;

	agentd_writer_new(&w);
	c->state = AD_SRV_WAIT;
	pthread_mutex_unlock(&sv->mtx);
	if ((rv = ad_audit_keys(sv->audit, key_count, &n)) == 0) {
		agentd_write_map(w, 1);
		agentd_write_str(w, "keys");
		agentd_write_array(w, n);
		rv = ad_audit_keys(sv->audit, key_entry, w);
	}
	pthread_mutex_lock(&sv->mtx);
	if (rv != 0)
		ad_srv_fail(
		    c, rv, "reading the audit seals: %s", agentd_strerror(rv));
	else {
		body = agentd_writer_data(w, &len);
		ad_srv_reply(c, 0, body, len);
	}
	agentd_writer_free(w);
}

static void op_state(struct ad_srvctx *c, const char *agent,
    const struct ad_envelope *e, const char *by);

/* The operator's state operations name the agent in the body. */
static void
op_operator_state(struct ad_srvctx *c, const struct ad_envelope *e)
{
	agentd_doc *doc                = NULL;
	char        agent[AD_NAME_MAX] = "", by[AD_WHO_MAX];

	if (agentd_parse(e->body, e->body_len, &doc) == 0)
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "agent"), agent,
		    sizeof(agent));
	agentd_doc_free(doc);
	if (ad_sv_agent(c->srv->sv, agent) == NULL) {
		ad_srv_fail(c, AGENTD_ENOENT,
		    "no agent named \"%s\": `agentctl status` lists them",
		    agent);
		return;
	}
	operator_name(c, by, sizeof(by));
	op_state(c, agent, e, by);
}

/* restart {"agent": NAME}: see ad_agent_restart(). */
/*
 * The agent operations, {agent, count}: restart, stop, start (a restart
 * of a stopped agent), scale (count >= 0 pins it, -1 is automatic).
 */
static void
op_agent(struct ad_srvctx *c, const struct ad_envelope *e)
{
	agentd_doc      *doc                = NULL;
	char             agent[AD_NAME_MAX] = "";
	char             err[AD_ERRLEN], by[AD_WHO_MAX];
	int64_t          count = -1;
	struct ad_agent *a;
	int              rv;

	if (agentd_parse(e->body, e->body_len, &doc) == 0) {
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "agent"), agent,
		    sizeof(agent));
		agentd_get_int(
		    agentd_map_get(agentd_doc_root(doc), "count"), &count);
	}
	agentd_doc_free(doc);
	if ((a = ad_sv_agent(c->srv->sv, agent)) == NULL) {
		ad_srv_fail(c, AGENTD_ENOENT,
		    "no agent named \"%s\": `agentctl status` lists them",
		    agent);
		return;
	}
	operator_name(c, by, sizeof(by));
	if (strcmp(e->dst, AD_OP_STOP) == 0) {
		ad_agent_stop(a, by);
	} else if (strcmp(e->dst, AD_OP_SCALE) == 0) {
		rv = ad_agent_scale(
		    a, count < 0 ? -1 : (long)count, by, err, sizeof(err));
		if (rv != 0) {
			ad_srv_fail(c, rv, "%s", err);
			return;
		}
	} else if (strcmp(e->dst, AD_OP_START) == 0 && !a->stopped) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "agent \"%s\" is not stopped: `agentctl restart %s` "
		    "replaces its instances",
		    agent, agent);
		return;
	} else {
		ad_agent_restart(a, by);
	}
	ad_srv_reply(c, 0, NULL, 0);
}

/* Who is on the other end of the control socket: "agentctl (root)". */
static void
operator_name(const struct ad_srvctx *c, char *out, size_t len)
{
	struct passwd pw, *found = NULL;
	char          buf[1024];
	pid_t         pid = -1;
	uid_t         uid = (uid_t)-1;

	if (c->who[0] != '\0') {
		snprintf(out, len, "%s", c->who);
		return;
	}
	ad_sv_peer(c->pipe, &pid, &uid);
	if (uid != (uid_t)-1
	    && getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0
	    && found != NULL)
		snprintf(out, len, "agentctl (%s)", found->pw_name);
	else if (uid != (uid_t)-1)
		snprintf(out, len, "agentctl (uid %d)", (int)uid);
	else
		snprintf(out, len, "agentctl");
}

/*
 * reload {canary?: AGENT, percent?}, promote {agent}, rollback {agent}:
 * queued for the main loop (reload.c), answered when settled.
 */
static void
op_reload(struct ad_srvctx *c, const struct ad_envelope *e)
{
	agentd_doc         *doc = NULL;
	const agentd_value *root;
	char                agent[AD_NAME_MAX] = "", by[AD_WHO_MAX];
	int64_t             pct                = 0;
	enum ad_reload_kind kind               = AD_RELOAD_ALL;

	if (e->body_len > 0 && agentd_parse(e->body, e->body_len, &doc) == 0) {
		root = agentd_doc_root(doc);
		agentd_get_strcpy(
		    agentd_map_get(root, "agent"), agent, sizeof(agent));
		agentd_get_int(agentd_map_get(root, "percent"), &pct);
	}
	agentd_doc_free(doc);
	if (strcmp(e->dst, "promote") == 0)
		kind = AD_RELOAD_PROMOTE;
	else if (strcmp(e->dst, "rollback") == 0)
		kind = AD_RELOAD_ROLLBACK;
	else if (agent[0] != '\0')
		kind = AD_RELOAD_CANARY;
	if (kind != AD_RELOAD_ALL && ad_sv_agent(c->srv->sv, agent) == NULL) {
		ad_srv_fail(c, AGENTD_ENOENT,
		    "no agent named \"%s\": `agentctl status` lists them",
		    agent);
		return;
	}
	if (kind == AD_RELOAD_CANARY && (pct < 1 || pct > 99)) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "a canary takes 1 to 99 percent of the requests, not "
		    "%lld: agentctl reload --canary AGENT PERCENT",
		    (long long)pct);
		return;
	}
	operator_name(c, by, sizeof(by));
	c->state = AD_SRV_WAIT;
	ad_reload_ask(c->srv->sv, kind, agent, (unsigned)pct, by, c);
}

/* versions {agent}: every plugin the agent has run, from the store. */
struct versions_out {
	const struct ad_agent *a;
	agentd_writer         *w;
	uint32_t               n;
};

static int
version_entry(void *arg, const struct ad_agent_record *r)
{
	struct versions_out   *vo    = arg;
	const struct ad_agent *a     = vo->a;
	const char            *state = "-";

	if (a != NULL && r->plugin_hash != NULL)
		state = ad_agent_hash_role(a, r->plugin_hash);
	agentd_write_map(vo->w, 6);
	agentd_write_str(vo->w, "hash");
	agentd_write_str(vo->w, r->plugin_hash ? r->plugin_hash : "");
	agentd_write_str(vo->w, "version");
	agentd_write_str(vo->w, r->plugin_version ? r->plugin_version : "");
	agentd_write_str(vo->w, "plugin");
	agentd_write_str(vo->w, r->plugin_path ? r->plugin_path : "");
	agentd_write_str(vo->w, "loaded_ms");
	agentd_write_int(vo->w, r->loaded_ms);
	agentd_write_str(vo->w, "by");
	agentd_write_str(vo->w, r->by ? r->by : "");
	agentd_write_str(vo->w, "state");
	agentd_write_str(vo->w, state);
	vo->n++;
	return 0;
}

static int
version_count(void *arg, const struct ad_agent_record *r)
{
	(void)r;
	(*(uint32_t *)arg)++;
	return 0;
}

static void
op_versions(struct ad_srvctx *c, const struct ad_envelope *e)
{
	struct ad_sv       *sv                 = c->srv->sv;
	agentd_doc         *doc                = NULL;
	char                agent[AD_NAME_MAX] = "";
	struct versions_out vo;
	uint32_t            n = 0;
	const void         *body;
	size_t              len;
	int                 rv;

	if (agentd_parse(e->body, e->body_len, &doc) == 0)
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "agent"), agent,
		    sizeof(agent));
	agentd_doc_free(doc);
	if (!ad_valid_name(agent)) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "\"%s\" is not an agent name: agentctl versions AGENT",
		    agent);
		return;
	}
	/* Few records (one per plugin build the agent ran): read twice so
	 * the array header is exact. */
	if ((rv = ad_store_version_each(sv->store, agent, version_count, &n))
	    != 0) {
		ad_srv_fail(c, rv, "cannot read the versions of %s: %s", agent,
		    agentd_strerror(rv));
		return;
	}
	if (n == 0) {
		ad_srv_fail(c, AGENTD_ENOENT,
		    "agent \"%s\" has never run here: `agentctl status` "
		    "lists the agents",
		    agent);
		return;
	}
	memset(&vo, 0, sizeof(vo));
	vo.a = ad_sv_agent(sv, agent);
	agentd_writer_new(&vo.w);
	agentd_write_map(vo.w, 1);
	agentd_write_str(vo.w, "versions");
	agentd_write_array(vo.w, n);
	rv = ad_store_version_each(sv->store, agent, version_entry, &vo);
	if (rv != 0 || vo.n != n) {
		agentd_writer_free(vo.w);
		ad_srv_fail(c, AGENTD_EIO,
		    "the versions of %s changed while "
		    "being read: try again",
		    agent);
		return;
	}
	body = agentd_writer_data(vo.w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(vo.w);
}

/*
 * settings {agent}: the agent's settings as its serving generation runs
 * them (validated, defaults applied, in the plugin's schema order), with
 * the value of every setting whose name looks secret, or that was read
 * from a file, replaced by AD_SETTING_MASK: {"agent", "settings":
 * [{"name", "type", "value", "masked"[, "file"]}]}, "file" the path of a
 * value read from one.
 */
static void
op_settings(struct ad_srvctx *c, const struct ad_envelope *e)
{
	struct ad_sv               *sv                 = c->srv->sv;
	agentd_doc                 *doc                = NULL;
	char                        agent[AD_NAME_MAX] = "";
	const struct ad_agent      *a;
	const struct ad_agent_conf *ac;
	agentd_writer              *w;
	const void                 *body;
	size_t                      len, i;

	if (agentd_parse(e->body, e->body_len, &doc) == 0)
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "agent"), agent,
		    sizeof(agent));
	agentd_doc_free(doc);
	if (!ad_valid_name(agent)) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "\"%s\" is not an agent name: agentctl settings AGENT",
		    agent);
		return;
	}
	if ((a = ad_sv_agent(sv, agent)) == NULL || (ac = a->conf) == NULL) {
		ad_srv_fail(c, AGENTD_ENOENT,
		    "no agent \"%s\": `agentctl status` lists the agents",
		    agent);
		return;
	}
	if (agentd_writer_new(&w) != 0) {
		ad_srv_fail(c, AGENTD_ENOMEM, "out of memory");
		return;
	}
	agentd_write_map(w, 2);
	agentd_write_str(w, "agent");
	agentd_write_str(w, ac->name);
	agentd_write_str(w, "settings");
	agentd_write_array(w, (uint32_t)ac->nsettings);
	for (i = 0; i < ac->nsettings; i++) {
		const struct ad_setting_value *v      = &ac->settings[i];
		int                            masked = ad_setting_masked(v);

		agentd_write_map(w, v->file != NULL ? 5 : 4);
		agentd_write_str(w, "name");
		agentd_write_str(w, v->name);
		agentd_write_str(w, "type");
		agentd_write_str(w, ad_setting_type_name(v->type));
		agentd_write_str(w, "value");
		if (masked)
			agentd_write_str(w, AD_SETTING_MASK);
		else if (v->type == AGENTD_SETTING_STRING)
			agentd_write_str(w, v->v.s != NULL ? v->v.s : "");
		else if (v->type == AGENTD_SETTING_INT)
			agentd_write_int(w, v->v.i);
		else if (v->type == AGENTD_SETTING_DOUBLE)
			agentd_write_double(w, v->v.d);
		else if (v->type == AGENTD_SETTING_BOOL)
			agentd_write_bool(w, v->v.b);
		else
			agentd_write_nil(w);
		agentd_write_str(w, "masked");
		agentd_write_bool(w, masked);
		if (v->file != NULL) {
			agentd_write_str(w, "file");
			agentd_write_str(w, v->file);
		}
	}
	body = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(w);
}

/* A request could not be dispatched: say why, and what to do. */
static void
dispatch_failed(struct ad_srvctx *c, const char *agent, int rv)
{
	char why[AD_ERRLEN];

	ad_call_refused(rv, agent, why, sizeof(why));
	ad_srv_fail(c, rv, "%s", why);
}

/* The policy gate's operations (gate.h); answers while agentd stops
 * would come after the control socket closed. */
static void
op_gate(struct ad_srvctx *c, const struct ad_envelope *e)
{
	char by[AD_WHO_MAX];

	operator_name(c, by, sizeof(by));
	if (c->srv->sv->stopping
	    && (strcmp(e->dst, AD_OP_APPROVE) == 0
	        || strcmp(e->dst, AD_OP_REJECT) == 0
	        || strcmp(e->dst, AD_OP_MODIFY) == 0)) {
		ad_srv_fail(c, AGENTD_ECLOSED,
		    "agentd is stopping: answer it once agentd is back");
		return;
	}
	if (!ad_gate_control(c, e, by))
		ad_srv_fail(c, AGENTD_EINVAL,
		    "%s: not an operation of the gate", e->dst);
}

/* The tokens of the HTTP API (tokens.h), by the person asking. */
static void
op_token(struct ad_srvctx *c, const struct ad_envelope *e)
{
	char by[AD_WHO_MAX];

	operator_name(c, by, sizeof(by));
	ad_tokens_control(c, e, by);
}

static void
op_status_(struct ad_srvctx *c, const struct ad_envelope *e)
{
	(void)e;
	op_status(c);
}

static void
op_audit_key_(struct ad_srvctx *c, const struct ad_envelope *e)
{
	(void)e;
	op_audit_key(c);
}

/*
 * Every operation of control.sock and the HTTP API: its name, the least
 * role that may ask for it, and what answers it.
 */
static const struct ad_op {
	const char  *name;
	enum ad_role role;
	void (*handle)(struct ad_srvctx *c, const struct ad_envelope *e);
} op_table[] = {
	{ AD_OP_STATUS, AD_ROLE_VIEWER, op_status_ },
	{ AD_OP_PUBLISH, AD_ROLE_OPERATOR, op_publish },
	{ AD_OP_RESTART, AD_ROLE_ADMIN, op_agent },
	{ AD_OP_STOP, AD_ROLE_ADMIN, op_agent },
	{ AD_OP_START, AD_ROLE_ADMIN, op_agent },
	{ AD_OP_SCALE, AD_ROLE_ADMIN, op_agent },
	{ AD_OP_RELOAD, AD_ROLE_ADMIN, op_reload },
	{ AD_OP_PROMOTE, AD_ROLE_ADMIN, op_reload },
	{ AD_OP_ROLLBACK, AD_ROLE_ADMIN, op_reload },
	{ AD_OP_VERSIONS, AD_ROLE_VIEWER, op_versions },
	{ AD_OP_SETTINGS, AD_ROLE_VIEWER, op_settings },
	{ AD_OP_AUDIT, AD_ROLE_VIEWER, op_audit },
	{ AD_OP_AUDIT_VERIFY, AD_ROLE_VIEWER, op_audit_verify },
	{ AD_OP_AUDIT_KEY, AD_ROLE_VIEWER, op_audit_key_ },
	{ AD_OP_STATE_GET, AD_ROLE_VIEWER, op_operator_state },
	{ AD_OP_STATE_SCAN, AD_ROLE_VIEWER, op_operator_state },
	{ AD_OP_STATE_PUT, AD_ROLE_OPERATOR, op_operator_state },
	{ AD_OP_STATE_DEL, AD_ROLE_OPERATOR, op_operator_state },
	{ AD_OP_STATE_BATCH, AD_ROLE_OPERATOR, op_operator_state },
	{ AD_OP_APPROVALS, AD_ROLE_VIEWER, op_gate },
	{ AD_OP_DECISION, AD_ROLE_VIEWER, op_gate },
	{ AD_OP_DECISIONS, AD_ROLE_VIEWER, op_gate },
	{ AD_OP_POLICY_TEST, AD_ROLE_VIEWER, op_gate },
	{ AD_OP_APPROVE, AD_ROLE_OPERATOR, op_gate },
	{ AD_OP_REJECT, AD_ROLE_OPERATOR, op_gate },
	{ AD_OP_MODIFY, AD_ROLE_OPERATOR, op_gate },
	{ AD_OP_TOKEN_CREATE, AD_ROLE_ADMIN, op_token },
	{ AD_OP_TOKEN_LIST, AD_ROLE_ADMIN, op_token },
	{ AD_OP_TOKEN_REVOKE, AD_ROLE_ADMIN, op_token },
	{ AD_OP_AGENTS, AD_ROLE_VIEWER, ad_discovery_agents },
};

static const struct ad_op *
op_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(op_table) / sizeof(op_table[0]); i++)
		if (strcmp(op_table[i].name, name) == 0)
			return &op_table[i];
	return NULL;
}

enum ad_role
ad_control_role(const struct ad_envelope *e)
{
	const struct ad_op *op;

	if (e->kind == AD_KIND_REQUEST)
		return AD_ROLE_OPERATOR;
	if (e->kind == AD_KIND_CONTROL && (op = op_find(e->dst)) != NULL)
		return op->role;
	return AD_ROLE_NONE;
}

void
ad_control_run(
    struct ad_srvctx *c, const struct ad_envelope *e, enum ad_role role)
{
	const struct ad_op *op = NULL;
	enum ad_role        need;
	int                 rv;

	if (e->kind == AD_KIND_CONTROL && (op = op_find(e->dst)) == NULL) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "unknown operation \"%s\": this agentd is %s", e->dst,
		    PACKAGE_VERSION);
		return;
	}
	if (e->kind != AD_KIND_REQUEST && e->kind != AD_KIND_CONTROL) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "not a request or an operation: kind %d", (int)e->kind);
		return;
	}
	need = op != NULL ? op->role : AD_ROLE_OPERATOR;
	if (role < need) {
		ad_srv_fail(c, AGENTD_EDENIED, "%s needs the role %s, not %s",
		    op != NULL ? op->name : "a call", ad_role_name(need),
		    ad_role_name(role));
		return;
	}
	if (op != NULL) {
		op->handle(c, e);
		return;
	}
	if (c->srv->sv->stopping) {
		ad_srv_fail(
		    c, AGENTD_ECLOSED, "agentd is stopping: no new requests");
		return;
	}
	c->state = AD_SRV_WAIT;
	rv       = ad_dispatch_envelope(
	          c->srv->sv, e, requester(c), NULL, ad_srv_done, c);
	if (rv != 0)
		dispatch_failed(c, e->dst, rv);
}

/* ---- agentctl's socket ------------------------------------------------- */

/* The peer is agentd's user, root or a member of control { group } (the
 * socket is 0600, or 0660 with that group, and its peer is checked when it
 * connects): an administrator, all three alike (doc/security.md). */
static void
control_handle(struct ad_srvctx *c, const struct ad_envelope *e)
{
	ad_control_run(c, e, AD_ROLE_ADMIN);
}

/* ---- the instances' calls socket --------------------------------------- */

/* The audit writer committed a plugin's records (writer thread): the
 * answer carries the first one's sequence number. */
static void
audit_appended(void *arg, int status, uint64_t seq)
{
	struct ad_srvctx *c  = arg;
	struct ad_sv     *sv = c->srv->sv;
	agentd_writer    *w  = NULL;
	const void       *body;
	size_t            len = 0;

	pthread_mutex_lock(&sv->mtx);
	if (status == 0 && agentd_writer_new(&w) == 0
	    && agentd_write_uint(w, seq) == 0) {
		body = agentd_writer_data(w, &len);
		ad_srv_reply(c, 0, body, len);
	} else if (status == 0)
		ad_srv_reply(c, 0, NULL, 0);
	else
		ad_srv_fail(c, status, "audit record not written: %s",
		    agentd_strerror(status));
	pthread_mutex_unlock(&sv->mtx);
	agentd_writer_free(w);
}

/* One {kind, summary, detail} map into r; kind and summary are copied to
 * *kind and *summary (caller frees). */
static int
audit_rec_of(
    const agentd_value *m, struct ad_audit_rec *r, char **kind, char **summary)
{
	const char *k, *s;
	size_t      klen, slen;

	if (agentd_get_str(agentd_map_get(m, "kind"), &k, &klen) != 0
	    || agentd_get_str(agentd_map_get(m, "summary"), &s, &slen) != 0
	    || agentd_get_bin(
	           agentd_map_get(m, "detail"), &r->detail, &r->detail_len)
	        != 0
	    || klen > AD_AUDIT_NAME_MAX || memchr(k, '\0', klen) != NULL
	    || memchr(s, '\0', slen) != NULL)
		return AGENTD_EINVAL;
	*kind      = ad_xstrndup(k, klen);
	*summary   = ad_xstrndup(s, slen);
	r->kind    = *kind;
	r->summary = *summary;
	return 0;
}

/*
 * A plugin's own audit records: one {kind, summary, detail} map
 * (host->audit), or a bin holding several such maps end to end
 * (host->audit_async sends them in batches), appended together.  Agent
 * and instance come from the connection, and the answer waits for the
 * commit of the last.
 *
 * Called under the supervisor's mutex, which it lets go of while it
 * decodes and queues the records (the records are numbered and hashed as
 * they are queued): nothing here needs the supervisor, and dispatch and the
 * audit writer's answers would wait for it.  c is in AD_SRV_WAIT all that
 * time, so nothing else touches it; its answer (audit_appended) takes the
 * mutex again.  ad_sv_stop waits for sv->appending to reach 0 before it
 * queues the last record, so that every record is queued before it.
 */
static void
op_audit_append(
    struct ad_srvctx *c, struct ad_instance *inst, const struct ad_envelope *e)
{
	struct ad_sv        *sv   = c->srv->sv;
	const unsigned char *p    = e->body;
	size_t               left = e->body_len, used, i, n = 0, cap = 0;
	struct ad_audit_rec *r    = NULL;
	char               **strs = NULL;
	agentd_doc          *doc, *outer = NULL;
	const void          *bin;
	char agent[AD_AUDIT_NAME_MAX + 1], id[sizeof(inst->id)];
	char denied[AD_AUDIT_NAME_MAX + 1] = "";
	int  rv                            = left > 0 ? 0 : AGENTD_EINVAL;

	snprintf(agent, sizeof(agent), "%s", inst->agent->conf->name);
	snprintf(id, sizeof(id), "%s", inst->id);
	c->state = AD_SRV_WAIT;
	sv->appending++;
	pthread_mutex_unlock(&sv->mtx);
	if (rv == 0 && agentd_parse(p, left, &outer) == 0
	    && agentd_get_bin(agentd_doc_root(outer), &bin, &left) == 0)
		p = bin; /* a batch: its records, inside the body */
	else
		left = e->body_len;
	while (left > 0 && rv == 0) {
		if ((rv = agentd_parse_prefix(p, left, &doc, &used)) != 0)
			break;
		if (n == cap) {
			cap  = cap ? 2 * cap : 16;
			r    = ad_xrealloc(r, cap * sizeof(*r));
			strs = ad_xrealloc(strs, 2 * cap * sizeof(*strs));
		}
		memset(&r[n], 0, sizeof(r[n]));
		strs[2 * n] = strs[2 * n + 1] = NULL;
		/* detail points into the body, which outlives the append. */
		rv = audit_rec_of(agentd_doc_root(doc), &r[n], &strs[2 * n],
		    &strs[2 * n + 1]);
		/* agentd's own kinds are refused here, whatever the worker
		 * checked: a record of one would read as agentd's. */
		if (rv == 0 && ad_audit_kind_reserved(r[n].kind)) {
			snprintf(denied, sizeof(denied), "%s", r[n].kind);
			rv = AGENTD_EDENIED;
		}
		r[n].agent    = agent;
		r[n].instance = id;
		n++;
		agentd_doc_free(doc);
		p += used;
		left -= used;
	}
	if (rv == 0 && n == 0)
		rv = AGENTD_EINVAL;
	if (rv == 0)
		rv = ad_audit_append_many(sv->audit, r, n, audit_appended, c);
	for (i = 0; i < 2 * n; i++)
		free(strs[i]);
	free(strs);
	free(r);
	agentd_doc_free(outer);
	pthread_mutex_lock(&sv->mtx);
	if (--sv->appending == 0)
		pthread_cond_broadcast(&sv->appended);
	if (rv == AGENTD_EDENIED)
		ad_srv_fail(c, rv,
		    "audit record refused: kind \"%s\" is agentd's own "
		    "(agent., instance., call., ...): give it a kind of the "
		    "plugin's",
		    denied);
	else if (rv != 0)
		ad_srv_fail(
		    c, rv, "audit record refused: %s", agentd_strerror(rv));
}

/* ---- an instance's state, in its agent's namespace -------------------- */

struct scan_out {
	agentd_writer *w;
	uint32_t       n;
	size_t         cap;
};

/* [key, val] or, for a key with an expiry, [key, val, ms left]. */
static int
scan_add(void *arg, const char *key, size_t keylen, const void *val,
    size_t vallen, int64_t expires_ms)
{
	struct scan_out *o = arg;
	size_t           len;
	int64_t          left = expires_ms - ad_wall_ms();

	agentd_writer_data(o->w, &len);
	if (len + keylen + vallen + AD_SCAN_ENTRY_OVERHEAD > o->cap)
		return AGENTD_ETOOBIG;
	agentd_write_array(o->w, expires_ms != 0 ? 3 : 2);
	agentd_write_bin(o->w, key, keylen);
	agentd_write_bin(o->w, val, vallen);
	if (expires_ms != 0)
		agentd_write_uint(o->w, left > 0 ? (uint64_t)left : 0);
	o->n++;
	return 0;
}

/* [[key, val], ...] of a scan, as {"entries": [...]}. */
static int
state_scan(struct ad_sv *sv, const char *agent, const void *prefix,
    size_t plen, agentd_writer *out)
{
	struct scan_out o;
	const void     *p;
	size_t          len;
	int             rv;

	agentd_writer_new(&o.w);
	o.n   = 0;
	o.cap = sv->cfg->global.max_message_size;
	rv = ad_state_scan_ttl(sv->state, agent, prefix, plen, scan_add, &o);
	if (rv == 0) {
		p = agentd_writer_data(o.w, &len);
		agentd_write_map(out, 1);
		agentd_write_str(out, "entries");
		agentd_write_array(out, o.n);
		ad_write_values(out, p, len);
	}
	agentd_writer_free(o.w);
	return rv;
}

/*
 * state.batches (host->state_batch_async): {"batches": [OPS, ...]}, each
 * OPS as state.batch's; all committed in one durable transaction, each
 * batch all or nothing.  The answer is {"rcs": [STATUS, ...]}, one per
 * batch in its order: one that fails (its check, its writes) fails alone.
 */
static int
state_batches(struct ad_sv *sv, const char *agent, const agentd_value *root,
    agentd_writer *out)
{
	struct ad_state_batch *bs;
	int                   *rcs;
	size_t                 i, n;
	int                    rv;

	if ((rv = ad_state_batches_read(root, &bs, &n)) != 0)
		return rv;
	rcs = ad_xcalloc(n, sizeof(*rcs));
	rv  = ad_state_batches(sv->state, agent, bs, n, rcs);
	if (rv == 0) {
		agentd_write_map(out, 1);
		agentd_write_str(out, "rcs");
		agentd_write_array(out, (uint32_t)n);
		for (i = 0; i < n; i++)
			agentd_write_int(out, rcs[i]);
	}
	ad_state_batches_free(bs, n);
	free(rcs);
	return rv;
}

/*
 * state.get / state.put / state.del / state.scan / state.batch in agent's
 * namespace: for an instance, the agent of its connection (the body cannot
 * name another); for the operator, the agent agentctl names.
 * Called with sv->mtx held; the LMDB work (a durable commit for writes)
 * runs without it, so one instance's fsync does not stall agentd.
 */
/* An operator's write of an agent's state, for the audit trail. */
static void
audit_state_write(struct ad_sv *sv, const char *agent, const char *op,
    const void *key, size_t klen, const char *by)
{
	char        shown[80];
	size_t      i, n = 0;
	const char *k = key;

	for (i = 0; i < klen && n + 5 < sizeof(shown); i++)
		n += (size_t)snprintf(shown + n, sizeof(shown) - n,
		    (unsigned char)k[i] >= 0x20 && (unsigned char)k[i] < 0x7f
		            && k[i] != '\\'
		        ? "%c"
		        : "\\x%02x",
		    (unsigned char)k[i]);
	if (i < klen)
		snprintf(shown + n, sizeof(shown) - n, "...");
	if (strcmp(op, "batch") == 0)
		ad_sv_audit(sv, agent, NULL, "state.operator",
		    "state batch written by %s", by);
	else
		ad_sv_audit(sv, agent, NULL, "state.operator",
		    "state.%s \"%s\" by %s", op, shown, by);
}

/* by: the operator asking (audited when they write), NULL for an
 * instance. */
static void
op_state(struct ad_srvctx *c, const char *agent, const struct ad_envelope *e,
    const char *by)
{
	struct ad_sv           *sv   = c->srv->sv;
	const char             *op   = e->dst + strlen("state.");
	agentd_doc             *doc  = NULL;
	const agentd_value     *root = NULL;
	agentd_writer          *out;
	struct agentd_state_op *ops = NULL;
	const void             *key = "", *val = NULL, *body;
	size_t                  klen = 0, vlen = 0, n, len;
	void                   *got    = NULL;
	uint64_t                ttl_ms = 0; /* put: an expiry */
	int                     rv;

	if (agentd_parse(e->body, e->body_len, &doc) == 0) {
		root = agentd_doc_root(doc);
		agentd_get_bin(agentd_map_get(root, "key"), &key, &klen);
		agentd_get_bin(agentd_map_get(root, "val"), &val, &vlen);
		agentd_get_uint(agentd_map_get(root, "ttl_ms"), &ttl_ms);
	}
	agentd_writer_new(&out);
	c->state = AD_SRV_WAIT;
	pthread_mutex_unlock(&sv->mtx);
	if (root == NULL)
		rv = AGENTD_EPROTO;
	else if (strcmp(op, "get") == 0
	    && (rv = ad_state_get(sv->state, agent, key, klen, &got, &vlen))
	        == 0) {
		agentd_write_map(out, 1);
		agentd_write_str(out, "val");
		agentd_write_bin(out, got, vlen);
	} else if (strcmp(op, "get") == 0)
		; /* rv says why */
	else if (strcmp(op, "put") == 0)
		rv = val == NULL ? AGENTD_EINVAL
		    : ttl_ms > 0
		    ? ad_state_put_ttl(
		        sv->state, agent, key, klen, val, vlen, ttl_ms)
		    : ad_state_put(sv->state, agent, key, klen, val, vlen);
	else if (strcmp(op, "del") == 0)
		rv = ad_state_del(sv->state, agent, key, klen);
	else if (strcmp(op, "scan") == 0)
		rv = state_scan(sv, agent, key, klen, out);
	else if (strcmp(op, "batch") == 0)
		rv = ad_state_ops_read(agentd_map_get(root, "ops"), &ops, &n)
		        == 0
		    ? ad_state_batch(sv->state, agent, ops, n)
		    : AGENTD_EINVAL;
	else if (strcmp(op, "batches") == 0)
		rv = state_batches(sv, agent, root, out);
	else
		rv = AGENTD_EINVAL;
	pthread_mutex_lock(&sv->mtx);
	body = agentd_writer_data(out, &len);
	if (rv == 0 && by != NULL && strcmp(op, "get") != 0
	    && strcmp(op, "scan") != 0)
		audit_state_write(sv, agent, op, key, klen, by);
	if (rv == 0)
		ad_srv_reply(c, 0, len ? body : NULL, len);
	else
		ad_srv_fail(c, rv, "state.%s: %s", op, agentd_strerror(rv));
	free(got);
	free(ops);
	agentd_writer_free(out);
	agentd_doc_free(doc);
}

/*
 * The host table has no way to name another agent's namespace, but a
 * plugin runs in its worker and can speak the protocol itself: a state
 * operation from an instance whose body names an agent other than its
 * own is refused, counted and audited (at most once a second per agent).
 */
static int
names_other_agent(const struct ad_agent *a, const struct ad_envelope *e)
{
	agentd_doc *doc;
	char        name[AD_NAME_MAX] = "";
	int         other             = 0;

	if (agentd_parse(e->body, e->body_len, &doc) != 0)
		return 0; /* op_state answers EPROTO */
	if (agentd_map_get(agentd_doc_root(doc), "agent") != NULL)
		other = agentd_get_strcpy(
		            agentd_map_get(agentd_doc_root(doc), "agent"),
		            name, sizeof(name))
		        != 0
		    || strcmp(name, a->conf->name) != 0;
	agentd_doc_free(doc);
	return other;
}

static void
deny_state(
    struct ad_srvctx *c, struct ad_instance *inst, const struct ad_envelope *e)
{
	struct ad_agent *a = inst->agent;
	char             note[AD_RATELIMIT_NOTE];

	a->st.state_denied++;
	if (ad_ratelimit(
	        &a->logs.state_denied, ad_now_ms(), note, sizeof(note))) {
		ad_sv_audit(a->sv, a->conf->name, inst->id, "state.denied",
		    "%s on another agent's state denied (%llu so far)", e->dst,
		    (unsigned long long)a->st.state_denied);
		ad_warn("agent %s: %s on another agent's state denied: an "
		        "agent reads and writes only its own state%s",
		    a->conf->name, e->dst, note);
	}
	ad_srv_fail(c, AGENTD_EDENIED,
	    "agent \"%s\" may use only its own state", a->conf->name);
}

/* A host->call()'s answer: an error agentd gives by itself (a deadline
 * passed) names the callee, for the caller's host->call_error(). */
static void
call_done(void *arg, int status, const void *body, size_t len)
{
	struct ad_srvctx *c = arg;

	if (status != 0 && body == NULL)
		ad_srv_fail(c, status, "agent \"%s\": %s", c->req.dst,
		    agentd_strerror(status));
	else
		ad_srv_reply(c, status, body, len);
}

static void
calls_handle(struct ad_srvctx *c, const struct ad_envelope *e)
{
	struct ad_sv       *sv   = c->srv->sv;
	struct ad_instance *inst = ad_sv_pipe_instance(sv, c->pipe);
	char                why[AD_ERRLEN];
	int                 rv;

	if (inst != NULL && e->kind == AD_KIND_CONTROL
	    && strcmp(e->dst, "policy.propose") == 0) {
		if (sv->stopping)
			ad_srv_fail(c, AGENTD_ECLOSED,
			    "agentd is stopping: propose again after it is "
			    "back");
		else
			ad_gate_propose(c, inst, e);
		return;
	}
	if (inst != NULL && e->kind == AD_KIND_CONTROL
	    && strcmp(e->dst, "audit.append") == 0) {
		op_audit_append(c, inst, e);
		return;
	}
	/* host->find_agents: who has a capability is no secret among
	 * agents (calls = { } still says whom an agent may call). */
	if (inst != NULL && e->kind == AD_KIND_CONTROL
	    && strcmp(e->dst, AD_OP_AGENTS) == 0) {
		ad_discovery_agents(c, e);
		return;
	}
	if (inst != NULL && e->kind == AD_KIND_CONTROL
	    && strncmp(e->dst, "state.", 6) == 0) {
		if (names_other_agent(inst->agent, e))
			deny_state(c, inst, e);
		else
			op_state(c, inst->agent->conf->name, e, NULL);
		return;
	}
	if (inst == NULL || e->kind != AD_KIND_REQUEST) {
		ad_srv_fail(
		    c, AGENTD_EINVAL, "not a request from an instance");
		return;
	}
	if ((rv = ad_call_admit(inst, e->dst, why, sizeof(why))) != 0) {
		ad_srv_fail(c, rv, "%s", why);
		return;
	}
	c->state = AD_SRV_WAIT;
	rv       = ad_dispatch_envelope(
	          sv, e, inst->agent->conf->name, inst->id, call_done, c);
	if (rv != 0)
		dispatch_failed(c, e->dst, rv);
}

int
ad_call_admit(
    struct ad_instance *inst, const char *dst, char *why, size_t whylen)
{
	struct ad_agent *a = inst->agent;
	char             note[AD_RATELIMIT_NOTE];

	if (ad_agent_may_call(a, dst))
		return 0;
	a->st.calls_denied++;
	if (ad_ratelimit(
	        &a->logs.call_denied, ad_now_ms(), note, sizeof(note))) {
		ad_sv_audit(a->sv, a->conf->name, inst->id, "call.denied",
		    "call to \"%s\" denied by calls = { } (%llu so far)", dst,
		    (unsigned long long)a->st.calls_denied);
		ad_warn("agent %s: call to \"%s\" denied: add it to calls = "
		        "{ } in %s if %s should call it%s",
		    a->conf->name, dst, a->conf->file, a->conf->name, note);
	}
	snprintf(why, whylen,
	    "agent \"%s\" may not call \"%s\": add it to calls = { } in %s",
	    a->conf->name, dst, a->conf->file);
	return AGENTD_EDENIED;
}

void
ad_call_refused(int rv, const char *agent, char *why, size_t whylen)
{
	if (rv == AGENTD_ENOENT)
		snprintf(why, whylen,
		    "no agent named \"%s\": `agentctl status` lists them",
		    agent);
	else if (rv == AGENTD_EUNAVAIL)
		snprintf(why, whylen,
		    "agent \"%s\" is stopped: `agentctl start %s` starts it",
		    agent, agent);
	else
		snprintf(why, whylen, "agent \"%s\": %s", agent,
		    agentd_strerror(rv));
}

int
ad_control_start(struct ad_sv *sv, char *err, size_t errlen)
{
	char *path = ad_xasprintf("%s/%s", sv->run_dir, AD_CTL_SOCKET);
	int   rv;

	rv = ad_server_start(&sv->control, sv, path, AD_CTL_CONTEXTS,
	    control_handle, ad_sv_on_operator_pipe, err, errlen);
	if (rv == 0)
		rv = ad_sv_open_to_group(sv, path, err, errlen);
	free(path);
	if (rv != 0)
		return rv;
	path = ad_xasprintf("%s/%s", sv->run_dir, AD_CALLS_SOCKET);
	rv   = ad_server_start(&sv->calls, sv, path, AD_CALLS_CONTEXTS,
	      calls_handle, ad_sv_on_instance_pipe, err, errlen);
	free(path);
	return rv;
}

void
ad_control_stop(struct ad_sv *sv)
{
	ad_server_stop(&sv->calls);
	ad_server_stop(&sv->control);
}
