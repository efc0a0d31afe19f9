#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <stdint.h>
#include <unistd.h>

#include <nng/nng.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/priority.h"
#include "common/util.h"
#include "supervisor/agent.h"
#include "supervisor/conns.h"
#include "supervisor/dispatch.h"
#include "supervisor/gate.h"
#include "supervisor/hub.h"
#include "supervisor/instance.h"
#include "supervisor/status.h"
#include "supervisor/supervisor.h"

extern char **environ;

/* "starting", "ready", "draining", "stopping", "lost" or "exited". */
static const char *
ad_instance_state_name(const struct ad_instance *i)
{
	switch (i->state) {
	case AD_INST_STARTING:
		return "starting";
	case AD_INST_READY:
		return "ready";
	case AD_INST_STOPPING:
		return i->term_at_ms == 0 ? "draining" : "stopping";
	case AD_INST_LOST:
		return "lost";
	case AD_INST_EXITED:
		return "exited";
	}
	return "unknown";
}

unsigned
ad_agent_count(const struct ad_agent *a, enum ad_inst_state st)
{
	const struct ad_instance *i;
	unsigned                  n = 0;

	LIST_FOREACH(i, &a->instances, link)
		n += i->state == st;
	return n;
}

unsigned
ad_gen_count(
    const struct ad_agent *a, const struct ad_gen *g, enum ad_inst_state st)
{
	const struct ad_instance *i;
	unsigned                  n = 0;

	LIST_FOREACH(i, &a->instances, link)
		n += i->gen == g && i->state == st;
	return n;
}

/*
 * Only the worker we spawned may connect to an instance's socket: the
 * socket file is 0600, and the peer's pid and uid must be the child's.
 * Once it is reaped, no one may (its pid may be another's by then), and
 * the last of its connections to go lets the main loop free it.
 */
int
ad_instance_pipe_event(struct ad_instance *inst, nng_pipe p, nng_pipe_ev ev)
{
	struct ad_sv *sv = inst->agent->sv;

	if (ad_conns_event(&inst->conns, p, ev) != 0)
		return 0; /* reaped */
	if (ev == NNG_PIPE_EV_REM_POST) {
		if (inst->state == AD_INST_EXITED && inst->conns.live == 0)
			ad_sv_wake(sv);
		return 0;
	}
	if (ad_peer_check(sv, p, AD_PEER_INSTANCE, inst->id, inst, NULL)
	    != 0) {
		nng_pipe_close(p);
		return 0;
	}
	return 1;
}

void
ad_instance_on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_instance *inst = arg;
	struct ad_sv       *sv   = inst->agent->sv;

	pthread_mutex_lock(&sv->mtx);
	ad_instance_pipe_event(inst, p, ev);
	pthread_mutex_unlock(&sv->mtx);
}

static int
open_socket(struct ad_instance *inst, char *err, size_t errlen)
{
	struct ad_sv *sv  = inst->agent->sv;
	size_t        max = sv->cfg->global.max_message_size;
	unsigned      i;
	int           rv;

	if ((rv = ad_chan_open(&inst->chan, inst->id, inst->path,
	         ad_transport_cap(max), max, &sv->mtx, &sv->chan_defer,
	         ad_instance_on_pipe, inst, ad_dispatch_received, inst, err,
	         errlen))
	        != 0
	    || (rv = ad_hub_instance_open(inst, err, errlen)) != 0)
		return rv;
	for (i = 0; i < inst->nslots; i++) {
		inst->slots[i].inst    = inst;
		inst->slots[i].control = i == 0;
	}
	return 0;
}

int
ad_worker_ids(const struct ad_sv *sv, const struct ad_agent_conf *c,
    struct ad_worker_ids *out, char *err, size_t errlen)
{
	const char    *name = c->user ? c->user : sv->cfg->global.plugin_user;
	const char    *from = c->user ? c->file : sv->cfg->global.file;
	struct passwd *pw;
	char           where[AD_ERRLEN];

	memset(out, 0, sizeof(*out));
	out->uid = sv->uid;
	out->gid = getegid();
	if (name == NULL && !sv->may_switch_users)
		return 0;
	if (name == NULL) {
		name = AD_PLUGIN_USER_DEFAULT;
		from = NULL;
	}
	/* Where to look: the agent's section, agentd { }, or conf.d/. */
	if (from == c->file)
		snprintf(where, sizeof(where), "%s:%d", c->file, c->line);
	else
		snprintf(
		    where, sizeof(where), "%s", from ? from : sv->confdir);
	if ((pw = getpwnam(name)) == NULL || pw->pw_uid == 0) {
		ad_seterr(err, errlen,
		    "%s: agent \"%s\": workers would run as \"%s\", %s: "
		    "create the user (adduser --system --group %s) or name "
		    "another in agentd { plugin_user } or the agent's user",
		    where, c->name, name,
		    pw == NULL ? "who does not exist" : "who is root", name);
		return AGENTD_ECONFIG;
	}
	if (!sv->may_switch_users && pw->pw_uid != sv->uid) {
		ad_seterr(err, errlen,
		    "%s: agent \"%s\": user \"%s\": agentd runs as uid %lu "
		    "without CAP_SETUID and CAP_SETGID and cannot run workers "
		    "as another user: run agentd as root or under its unit, "
		    "or "
		    "remove the setting",
		    where, c->name, name, (unsigned long)sv->uid);
		return AGENTD_ECONFIG;
	}
	/* Workers keep no supplementary groups (sandbox.c): their primary
	 * group is the one that could be the control group. */
	if (sv->ctl_gid != (gid_t)-1 && pw->pw_gid == sv->ctl_gid) {
		ad_seterr(err, errlen,
		    "%s: agent \"%s\": workers would run as \"%s\", whose "
		    "group is agentd's control group (agentd { control { "
		    "group } }) and would let its plugin control agentd: give "
		    "%s a group of its own or name another control group",
		    where, c->name, name, name);
		return AGENTD_ECONFIG;
	}
	out->switch_ids = sv->may_switch_users;
	out->uid        = pw->pw_uid;
	out->gid        = pw->pw_gid;
	return 0;
}

int
ad_sv_check_users(struct ad_sv *sv, char *err, size_t errlen)
{
	struct ad_worker_ids ids;
	size_t               i;
	int                  rv;

	sv->may_switch_users = ad_may_switch_users();
	for (i = 0; i < sv->cfg->nagents; i++)
		if ((rv = ad_worker_ids(
		         sv, &sv->cfg->agents[i], &ids, err, errlen))
		    != 0)
			return rv;
	return 0;
}

/* The worker's command line grows by one argument. */
struct argv {
	char **v;
	size_t n;
};

static void
arg(struct argv *a, const char *s)
{
	a->v         = ad_xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
	a->v[a->n++] = ad_xstrdup(s);
	a->v[a->n]   = NULL;
}

static void
args_free(struct argv *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

/* What the worker is told of its identity and sandbox (sandbox.h). */
static void
sandbox_args(struct argv *a, const struct ad_agent_conf *c,
    const struct ad_worker_ids *ids)
{
	char   num[32];
	size_t i;

	if (ids->switch_ids) {
		snprintf(num, sizeof(num), "%lu", (unsigned long)ids->uid);
		arg(a, "--uid");
		arg(a, num);
		snprintf(num, sizeof(num), "%lu", (unsigned long)ids->gid);
		arg(a, "--gid");
		arg(a, num);
	}
	if (c->network)
		arg(a, "--network");
	/* http { }: the worker opens its sandbox to what libcurl needs only
	 * with an allow-list (worker/http.h). */
	for (i = 0; i < c->nhttp_allow; i++) {
		arg(a, "--http-allow");
		arg(a, c->http_allow[i]);
	}
	if (c->nhttp_allow > 0) {
		snprintf(num, sizeof(num), "%u", c->http_max_concurrent);
		arg(a, "--http-max-concurrent");
		arg(a, num);
		snprintf(num, sizeof(num), "%zu", c->http_max_response);
		arg(a, "--http-max-response");
		arg(a, num);
		snprintf(
		    num, sizeof(num), "%lld", (long long)c->http_timeout_ms);
		arg(a, "--http-timeout-ms");
		arg(a, num);
	}
	if (c->nhttp_allow > 0 && c->http_ca_file != NULL) {
		arg(a, "--http-ca-file");
		arg(a, c->http_ca_file);
	}
	for (i = 0; i < c->nread_paths; i++) {
		arg(a, "--read");
		arg(a, c->read_paths[i]);
	}
	for (i = 0; i < c->nwrite_paths; i++) {
		arg(a, "--write");
		arg(a, c->write_paths[i]);
	}
	for (i = 0; i < c->nexec_paths; i++) {
		arg(a, "--exec");
		arg(a, c->exec_paths[i]);
	}
}

/* Without sv->mtx: what it reads of inst does not change once made. */
static int
spawn_worker(struct ad_instance *inst, pid_t *out, char *err, size_t errlen)
{
	struct ad_sv              *sv = inst->agent->sv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          attr;
	sigset_t                   none, deflt;
	char                       num[32];
	const char *level = sv->log_level >= AGENTD_LOG_DEBUG ? "debug"
	    : sv->log_level >= AGENTD_LOG_INFO                ? "info"
	    : sv->log_level >= AGENTD_LOG_WARN                ? "warn"
	                                                      : "error";
	struct argv a     = { NULL, 0 };
	struct ad_worker_ids ids;
	struct sched_param   sp = { .sched_priority = 0 };
	pid_t                pid;
	int                  rv, low;

	if ((rv = ad_worker_ids(sv, inst->gen->conf, &ids, err, errlen)) != 0)
		return rv;
	inst->uid = ids.uid;
	arg(&a, sv->worker_path);
	arg(&a, "--plugin");
	arg(&a, inst->gen->plugin_path);
	arg(&a, "--agent");
	arg(&a, inst->agent->conf->name);
	arg(&a, "--instance");
	arg(&a, inst->id);
	arg(&a, "--run-dir");
	arg(&a, sv->run_dir);
	snprintf(num, sizeof(num), "%zu", sv->cfg->global.max_message_size);
	arg(&a, "--max-message-size");
	arg(&a, num);
	snprintf(num, sizeof(num), "%lld",
	    (long long)inst->gen->conf->heartbeat_ms);
	arg(&a, "--heartbeat-ms");
	arg(&a, num);
	arg(&a, "--log-level");
	arg(&a, level);
	sandbox_args(&a, inst->gen->conf, &ids);
	/* The supervisor blocks its signals in every thread; the worker
	 * starts with none blocked and default handlers, and with no file
	 * descriptor of ours but stdin, stdout and stderr. */
	sigemptyset(&none);
	sigfillset(&deflt);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setflags(
	    &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* The worker's exec and dynamic loading in the background too, if
	 * it may come back (priority.h; asked once).  glibc's spawn
	 * attributes take no SCHED_IDLE, so this thread (the main loop's; a
	 * policy belongs to a thread) goes there around the spawn, and the
	 * child inherits it; the worker is told to come back at init. */
	if (sv->spawn_background < 0)
		sv->spawn_background = ad_prio_may_background_uncapped();
	low = sv->spawn_background
	    && sched_setscheduler(0, SCHED_IDLE, &sp) == 0;
	if (low)
		arg(&a, "--background");
	rv = posix_spawn(&pid, sv->worker_path, &fa, &attr, a.v, environ);
	args_free(&a);
	if (low && sched_setscheduler(0, SCHED_OTHER, &sp) != 0) {
		ad_error("cannot leave SCHED_IDLE after starting a worker: %s",
		    strerror(errno));
		sv->spawn_background = 0;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rv != 0) {
		ad_seterr(err, errlen, "cannot run %s: %s", sv->worker_path,
		    strerror(rv));
		return AGENTD_EIO;
	}
	*out = pid;
	return 0;
}

void
ad_instance_send_control(
    struct ad_instance *inst, const char *op, const void *body, size_t len)
{
	struct ad_slot    *s = &inst->slots[0];
	struct ad_envelope e;
	nng_msg           *msg;

	memset(&e, 0, sizeof(e));
	e.id   = ad_envelope_next_id();
	e.kind = AD_KIND_CONTROL;
	snprintf(e.src, sizeof(e.src), "agentd");
	snprintf(e.dst, sizeof(e.dst), "%s", op);
	e.body     = body;
	e.body_len = len;
	if (ad_envelope_to_msg(&e, &msg) != 0)
		abort(); /* only ENOMEM is possible here */
	snprintf(s->op, sizeof(s->op), "%s", op);
	s->phase = AD_SLOT_BUSY;
	s->id    = e.id;
	if (ad_instance_send(inst, nng_msg_body(msg), nng_msg_len(msg)) != 0)
		abort(); /* only ENOMEM is possible here */
	nng_msg_free(msg);
}

/* Send "init" with the agent's settings on the control slot. */
static void
send_init(struct ad_instance *inst)
{
	const struct ad_agent_conf *c = inst->gen->conf;
	agentd_writer              *w;
	const void                 *body;
	size_t                      i, len;

	agentd_writer_new(&w);
	agentd_write_map(w, inst->gen->prior[0] != '\0' ? 3 : 2);
	/* A generation that replaced another: the plugin may migrate. */
	if (inst->gen->prior[0] != '\0') {
		agentd_write_str(w, "previous_version");
		agentd_write_str(w, inst->gen->prior);
	}
	agentd_write_str(w, "publish");
	agentd_write_array(w, (uint32_t)c->npublish);
	for (i = 0; i < c->npublish; i++)
		agentd_write_str(w, c->publish[i]);
	agentd_write_str(w, "settings");
	agentd_write_map(w, (uint32_t)c->nsettings);
	for (i = 0; i < c->nsettings; i++) {
		const struct ad_setting_value *v = &c->settings[i];

		agentd_write_str(w, v->name);
		switch (v->type) {
		case AGENTD_SETTING_STRING:
			agentd_write_str(w, v->v.s);
			break;
		case AGENTD_SETTING_INT:
			agentd_write_int(w, v->v.i);
			break;
		case AGENTD_SETTING_DOUBLE:
			agentd_write_double(w, v->v.d);
			break;
		case AGENTD_SETTING_BOOL:
			agentd_write_bool(w, v->v.b);
			break;
		}
	}
	body = agentd_writer_data(w, &len);
	/* ad_instance_tick enforces init_timeout from the spawn. */
	ad_instance_send_control(inst, "init", body, len);
	agentd_writer_free(w);
}

/* Reaped, or never to run: no new connection, and freed once the ones
 * it has are gone (ad_instance_collectable). */
static void
to_exited(struct ad_instance *inst)
{
	inst->state          = AD_INST_EXITED;
	inst->exited_ms      = ad_now_ms();
	inst->conns.refusing = 1;
}

/* Never started: the main loop frees it like an exit. */
static void
start_failed(struct ad_instance *inst, const char *err)
{
	struct ad_agent *a = inst->agent;

	to_exited(inst);
	ad_agent_start_failed(a, inst->gen, err);
	ad_sv_audit(a->sv, a->conf->name, inst->id, "instance.start_failed",
	    "%s", err);
}

int
ad_instance_spawn(
    struct ad_agent *a, struct ad_gen *g, char *err, size_t errlen)
{
	struct ad_sv       *sv = a->sv;
	struct ad_instance *inst;
	int                 rv;

	inst        = ad_xcalloc(1, sizeof(*inst));
	inst->agent = a;
	inst->seq   = ++a->next_seq;
	snprintf(
	    inst->id, sizeof(inst->id), "%s-%u", a->conf->name, inst->seq);
	inst->path       = ad_xasprintf("%s/%s.sock", sv->run_dir, inst->id);
	inst->nslots     = 1 + g->conf->concurrency;
	inst->slots      = ad_xcalloc(inst->nslots, sizeof(*inst->slots));
	inst->state      = AD_INST_STARTING;
	inst->started_ms = ad_wall_ms();
	inst->gen        = g;
	inst->generation = g->number;
	inst->pid        = -1;
	inst->spawn_us   = ad_now_us();
	LIST_INSERT_HEAD(&a->instances, inst, link);
	if ((rv = open_socket(inst, err, errlen)) != 0) {
		start_failed(inst, err);
		return rv;
	}
	inst->spawn_pending = 1;
	ad_sv_wake(sv);
	return 0;
}

static struct ad_instance *
next_pending(struct ad_sv *sv)
{
	struct ad_instance *inst;

	for (size_t i = 0; i < sv->nagents; i++) {
		LIST_FOREACH(inst, &sv->agents[i]->instances, link) {
			if (inst->spawn_pending)
				return inst;
		}
	}
	return NULL;
}

void
ad_instance_run(struct ad_sv *sv)
{
	struct ad_instance *inst;
	char                err[AD_ERRLEN];
	pid_t               pid = -1;
	int                 rv;

	pthread_mutex_lock(&sv->mtx);
	while ((inst = next_pending(sv)) != NULL) {
		inst->spawn_pending = 0;
		inst->spawning      = 1;
		pthread_mutex_unlock(&sv->mtx);
		ad_loopwatch_step(&sv->loop,
		    "instance_run: posix_spawn of instance %s", inst->id);
		/* Only this thread frees instances: inst stays. */
		rv = spawn_worker(inst, &pid, err, sizeof(err));
		pthread_mutex_lock(&sv->mtx);
		inst->spawning = 0;
		pthread_cond_broadcast(&sv->spawned);
		if (rv != 0) {
			ad_error("agent %s: %s", inst->agent->conf->name, err);
			start_failed(inst, err);
			continue;
		}
		inst->pid = pid;
		ad_info("agent %s: started instance %s (pid %d, generation "
		        "%u)",
		    inst->agent->conf->name, inst->id, (int)pid,
		    inst->generation);
		ad_sv_audit(sv, inst->agent->conf->name, inst->id,
		    "instance.start", "pid %d generation %u", (int)pid,
		    inst->generation);
		if (inst->term_at_ms != 0)
			kill(pid, SIGTERM); /* stopped meanwhile */
		else
			send_init(inst);
	}
	pthread_mutex_unlock(&sv->mtx);
}

/* Control slot finished (nng thread, mtx held by the caller). */
void
ad_instance_control_done(
    struct ad_slot *s, int rv, const struct ad_envelope *e)
{
	struct ad_instance *inst   = s->inst;
	int                 status = rv == 0 ? e->status : rv;
	char                said[200];

	snprintf(said, sizeof(said), "%s", agentd_strerror(rv));
	/* The worker says why its init failed, in {"error": "..."}. */
	if (rv == 0 && status != 0) {
		agentd_doc *doc = NULL;

		snprintf(said, sizeof(said), "%s", agentd_strerror(status));
		if (agentd_parse(e->body, e->body_len, &doc) == 0)
			agentd_get_strcpy(
			    agentd_map_get(agentd_doc_root(doc), "error"),
			    said, sizeof(said));
		agentd_doc_free(doc);
	}
	if (strcmp(s->op, "decisions") == 0) {
		ad_gate_taken(inst, status);
		return;
	}
	if (strcmp(s->op, "init") != 0 || inst->state != AD_INST_STARTING)
		return;
	if (status != 0) {
		ad_error("agent %s: instance %s did not become ready: %s",
		    inst->agent->conf->name, inst->id, said);
		ad_sv_audit(inst->agent->sv, inst->agent->conf->name, inst->id,
		    "instance.init_failed", "%s", said);
		{
			char why[320];

			snprintf(why, sizeof(why), "instance %s: %s", inst->id,
			    said);
			ad_gen_trial_failed(inst->agent, inst->gen, why);
		}
		if (inst->pid > 0)
			kill(inst->pid, SIGKILL);
		return;
	}
	inst->state    = AD_INST_READY;
	inst->ready_us = ad_now_us();
	inst->beat_ms  = inst->ready_us / 1000; /* reports count from now */
	ad_info(
	    "agent %s: instance %s ready", inst->agent->conf->name, inst->id);
	ad_sv_audit(inst->agent->sv, inst->agent->conf->name, inst->id,
	    "instance.ready", "pid %d", (int)inst->pid);
	ad_dispatch_pump(inst->agent);
	ad_hub_instance_kick(inst);
	ad_gate_kick(inst->agent->sv, inst->agent->conf->name);
	/* A reload waits for this one: switch now, not at the next tick. */
	if (inst->agent->sv->reload != NULL || inst->gen != inst->agent->cur)
		ad_sv_wake(inst->agent->sv);
}

/* " (SIGSEGV)" for the signals a crashing plugin meets, else "". */
static const char *
crash_signal(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return " (SIGSEGV)";
	case SIGABRT:
		return " (SIGABRT)";
	case SIGBUS:
		return " (SIGBUS)";
	case SIGFPE:
		return " (SIGFPE)";
	case SIGILL:
		return " (SIGILL)";
	default:
		return "";
	}
}

/*
 * An unexpected exit: one log line and one audit record saying how (also
 * in how, for a generation on trial), and when: an instance that never
 * answered its init died loading the plugin or in its init.  A crash
 * there repeats at every restart, so the log says how to see where.
 */
static void
report_exit(struct ad_instance *inst, int status, char *how, size_t howlen)
{
	struct ad_agent *a    = inst->agent;
	const char      *when = inst->state == AD_INST_STARTING
	         ? ", before it was ready (loading the plugin or in its init)"
	         : "";
	const char      *sig
	    = WIFSIGNALED(status) ? crash_signal(WTERMSIG(status)) : "";
	char what[64];

	if (WIFSIGNALED(status))
		snprintf(what, sizeof(what), "killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(what, sizeof(what), "exited with status %d",
		    WEXITSTATUS(status));
	snprintf(how, howlen, "instance %s %s", inst->id, what);
	ad_warn("agent %s: instance %s (pid %d) %s%s%s", a->conf->name,
	    inst->id, (int)inst->pid, what, sig, when);
	ad_sv_audit(a->sv, a->conf->name, inst->id, "instance.exit",
	    "pid %d %s%s%s", (int)inst->pid, what, sig, when);
	if (sig[0] != '\0' && when[0] != '\0') {
		/* The file as the .conf names it: the one the author built. */
		const char *so = strrchr(a->conf->plugin, '/');
		size_t      base;

		so   = so != NULL ? so + 1 : a->conf->plugin;
		base = strlen(so);

		if (base > 3 && strcmp(so + base - 3, ".so") == 0)
			base -= 3;
		/* A worker cannot be run by hand: it dials its instance's
		 * own sockets, which agentd makes and guards per spawn.
		 * --describe loads the plugin as a worker does, without
		 * init: a crash there too is in the loading. */
		ad_warn("agent %s: to see where it crashed: agentd-worker "
		        "--describe %s loads it as a worker does but runs no "
		        "init (a crash there too is in loading it); run its "
		        "init in a debugger under the SDK's mock host, with "
		        "the agent's settings (doc/plugin-guide.md, "
		        "Debugging): gdb --args ./test_%.*s ./%s; or let the "
		        "worker dump core (agentd run as yourself in the "
		        "foreground after ulimit -c unlimited, then "
		        "coredumpctl gdb); doc/operations.md, Troubleshooting",
		    a->conf->name, a->conf->plugin_path, (int)base, so, so);
	}
}

struct ad_instance *
ad_instance_exited(struct ad_sv *sv, pid_t pid, int status)
{
	struct ad_instance *inst;
	size_t              i;

	for (i = 0; i < sv->nagents; i++) {
		LIST_FOREACH(inst, &sv->agents[i]->instances, link) {
			if (inst->pid != pid || inst->state == AD_INST_EXITED)
				continue;
			char how[160];

			if (inst->hung && !sv->stopping)
				report_exit(inst, status, how,
				    sizeof(how)); /* counted when hung */
			else if (inst->state != AD_INST_STOPPING
			    && !sv->stopping) {
				report_exit(inst, status, how, sizeof(how));
				ad_agent_instance_failed(
				    inst->agent, inst->gen, status, how);
			}
			to_exited(inst);
			inst->exit_status = status;
			return inst;
		}
	}
	return NULL;
}

int
ad_instance_collectable(struct ad_instance *inst, int64_t now_ms)
{
	int64_t waited = now_ms - inst->exited_ms;

	if (inst->state != AD_INST_EXITED)
		return 0;
	if (inst->conns.live == 0)
		return 1;
	if (waited < AD_CONNS_WAIT_MS)
		return 0;
	ad_warn("agent %s: instance %s: %u connection(s) to its sockets still "
	        "open %lld ms after its worker (pid %d) exited (a process it "
	        "started may hold them): closing them anyway",
	    inst->agent->conf->name, inst->id, inst->conns.live,
	    (long long)waited, (int)inst->pid);
	return 1;
}

void
ad_instance_free(struct ad_instance *inst)
{
	struct ad_sv *sv = inst->agent->sv;

	/* Ends the channel's aios; their callbacks take mtx.  Its
	 * connections are gone (ad_instance_collectable): nothing is being
	 * read that the close could cut short. */
	ad_loopwatch_step(&sv->loop,
	    "collect_exited: closing instance %s's channel", inst->id);
	ad_chan_close(&inst->chan);
	ad_loopwatch_step(&sv->loop,
	    "collect_exited: closing instance %s's event socket", inst->id);
	ad_hub_instance_close(inst);
	unlink(inst->path);
	ad_loopwatch_step(&sv->loop,
	    "collect_exited: handing back what instance %s held", inst->id);
	pthread_mutex_lock(&sv->mtx);
	ad_instance_channel_closed(inst); /* re-dispatches what it held */
	LIST_REMOVE(inst, link);
	ad_sv_pipe_forget(sv, inst);
	pthread_mutex_unlock(&sv->mtx);
	free(inst->slots);
	free(inst->path);
	free(inst);
}

/* SIGTERM now: the worker calls the plugin's fini and exits. */
static void
terminate(struct ad_instance *inst)
{
	if (inst->term_at_ms != 0)
		return;
	inst->term_at_ms = ad_now_ms();
	if (inst->spawn_pending) {
		inst->spawn_pending = 0; /* no worker ever: nothing to wait */
		to_exited(inst);
	} else if (inst->pid > 0)
		kill(inst->pid, SIGTERM);
}

void
ad_instance_drain(struct ad_instance *inst)
{
	const struct ad_agent_conf *c = inst->gen->conf;

	if (inst->state == AD_INST_EXITED || inst->state == AD_INST_STOPPING)
		return;
	if (inst->state == AD_INST_LOST) {
		terminate(inst); /* dying already; make sure */
		return;
	}
	inst->drain_until_ms = ad_now_ms() + c->drain_timeout_ms;
	/* Not ready yet: holds nothing, and its init may never return. */
	if (inst->state == AD_INST_STARTING) {
		inst->state = AD_INST_STOPPING;
		terminate(inst);
		return;
	}
	inst->state = AD_INST_STOPPING;
	ad_info("agent %s: draining instance %s (%u in flight)", c->name,
	    inst->id, inst->inflight);
	if (inst->inflight == 0)
		terminate(inst);
}

void
ad_instance_drained(struct ad_instance *inst)
{
	if (inst->state == AD_INST_STOPPING && inst->inflight == 0)
		terminate(inst);
}

void
ad_instance_hung(struct ad_instance *inst, const char *fmt, ...)
{
	struct ad_agent *a = inst->agent;
	char             why[160];
	va_list          ap;

	if (inst->hung || inst->state == AD_INST_EXITED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	inst->hung = 1;
	ad_error("agent %s: instance %s (pid %d) is hung: %s; stopping it "
	         "(SIGTERM, then SIGKILL after %lld ms) and starting another",
	    a->conf->name, inst->id, (int)inst->pid, why,
	    (long long)inst->gen->conf->stop_grace_ms);
	ad_sv_audit(a->sv, a->conf->name, inst->id, "instance.hung",
	    "pid %d %s", (int)inst->pid, why);
	/* A failure now, as if it had crashed: its replacement starts under
	 * the restart policy and backoff without waiting for it to die. */
	if (!a->sv->stopping && inst->state != AD_INST_STOPPING) {
		char how[256];

		snprintf(
		    how, sizeof(how), "instance %s hung: %s", inst->id, why);
		ad_agent_instance_failed(
		    a, inst->gen, SIGKILL, how); /* as if killed */
	}
	if (inst->state == AD_INST_READY || inst->state == AD_INST_STARTING)
		inst->state = AD_INST_STOPPING;
	terminate(inst);
}

/* Its init did not answer within health { init_timeout }: hung. */
static void
ad_instance_init_late(struct ad_instance *inst)
{
	const struct ad_agent_conf *c = inst->gen->conf;

	if (inst->state != AD_INST_STARTING)
		return;
	ad_error("agent %s: instance %s did not become ready within health { "
	         "init_timeout = %lld ms }",
	    c->name, inst->id, (long long)c->init_timeout_ms);
	ad_instance_hung(inst, "init did not finish within %lld ms",
	    (long long)c->init_timeout_ms);
}

void
ad_instance_tick(struct ad_instance *inst, int64_t now)
{
	const struct ad_agent_conf *c = inst->gen->conf;

	switch (inst->state) {
	case AD_INST_STARTING:
		if (now - inst->spawn_us / 1000 >= c->init_timeout_ms)
			ad_instance_init_late(inst);
		break;
	case AD_INST_READY:
		if (now - inst->beat_ms > c->hung_after_ms)
			ad_instance_hung(inst,
			    "no heartbeat for %lld ms (health { hung_after })",
			    (long long)(now - inst->beat_ms));
		else if (inst->busy_ms > c->hung_after_ms)
			ad_instance_hung(inst,
			    "one plugin callback has run for %lld ms (health "
			    "{ "
			    "hung_after })",
			    (long long)inst->busy_ms);
		break;
	case AD_INST_STOPPING:
		if (inst->term_at_ms == 0
		    && (inst->inflight == 0 || now >= inst->drain_until_ms))
			terminate(inst);
		else if (inst->term_at_ms != 0 && !inst->killed
		    && now - inst->term_at_ms >= c->stop_grace_ms) {
			inst->killed = 1;
			ad_warn("agent %s: instance %s (pid %d) still running "
			        "%lld ms after SIGTERM: killing it",
			    c->name, inst->id, (int)inst->pid,
			    (long long)(now - inst->term_at_ms));
			if (inst->pid > 0)
				kill(inst->pid, SIGKILL);
		}
		break;
	case AD_INST_LOST:
	case AD_INST_EXITED:
		break;
	}
}

void
ad_instance_heartbeat(
    struct ad_instance *inst, int64_t busy_ms, uint64_t handled)
{
	inst->beat_ms = ad_now_ms();
	inst->busy_ms = busy_ms;
	inst->handled = handled;
}

/* ---- what status shows ---------------------------------------------- */

void
ad_instance_status_get(
    const struct ad_instance *i, struct ad_instance_status *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", i->id);
	out->pid        = i->pid;
	out->state      = ad_instance_state_name(i);
	out->exited     = i->state == AD_INST_EXITED;
	out->generation = i->generation;
	out->started_ms = i->started_ms;
	out->ready_us
	    = i->ready_us > 0 ? (uint64_t)(i->ready_us - i->spawn_us) : 0;
	out->inflight      = i->inflight;
	out->served        = i->served;
	out->handled       = i->handled;
	out->events_queued = ad_hub_instance_queued(i);
}
