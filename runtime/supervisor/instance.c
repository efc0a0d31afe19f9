#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/util.h"
#include "supervisor/dispatch.h"
#include "supervisor/hub.h"
#include "supervisor/instance.h"

/* How long a new instance has to connect and finish its init. */
#define INIT_TIMEOUT_MS 30000

extern char **environ;

const char *
ad_inst_state_name(enum ad_inst_state st)
{
	switch (st) {
	case AD_INST_STARTING:
		return "starting";
	case AD_INST_READY:
		return "ready";
	case AD_INST_STOPPING:
		return "stopping";
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

/*
 * Only the worker we spawned may connect to an instance's socket: the
 * socket file is 0600, and the peer's pid must be the child's.
 */
void
ad_instance_on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_instance *inst = arg;
	struct ad_sv       *sv   = inst->agent->sv;
	pid_t               pid  = -1;
	uid_t               uid  = (uid_t)-1;

	ad_sv_peer(p, &pid, &uid);
	pthread_mutex_lock(&sv->mtx);
	if (inst->pid <= 0 || pid != inst->pid || uid != sv->uid) {
		ad_warn("agent %s: refused a connection to %s from pid %d "
		        "(expected %d)",
		    inst->agent->conf->name, inst->id, (int)pid,
		    (int)inst->pid);
		nng_pipe_close(p);
	}
	pthread_mutex_unlock(&sv->mtx);
}

static int
open_socket(struct ad_instance *inst, char *err, size_t errlen)
{
	struct ad_sv *sv = inst->agent->sv;
	unsigned      i;
	int           rv;

	if ((rv = nng_req0_open(&inst->sock)) != 0 ||
	    /* Never resend on our own: a resend could run a request twice.
	     * Re-dispatch after a crash is decided by dispatch.c. */
	    (rv = nng_socket_set_ms(
	         inst->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        != 0
	    || (rv = nng_socket_set_size(inst->sock, NNG_OPT_RECVMAXSZ,
	            ad_transport_cap(sv->cfg->global.max_message_size)))
	        != 0
	    || (rv = nng_pipe_notify(inst->sock, NNG_PIPE_EV_ADD_PRE,
	            ad_instance_on_pipe, inst))
	        != 0) {
		ad_seterr(err, errlen, "cannot open a socket for %s: %s",
		    inst->id, nng_strerror(rv));
		return ad_nng_error(rv);
	}
	if ((rv = ad_nng_listen_ipc(inst->sock, inst->path, 0600, err, errlen))
	        != 0
	    || (rv = ad_hub_instance_open(inst, err, errlen)) != 0)
		return rv;
	for (i = 0; i < inst->nslots; i++) {
		struct ad_slot *s = &inst->slots[i];

		s->inst    = inst;
		s->control = i == 0;
		if ((rv = nng_ctx_open(&s->ctx, inst->sock)) != 0
		    || (rv = nng_aio_alloc(&s->aio, ad_slot_cb, s)) != 0) {
			ad_seterr(err, errlen, "cannot open a context: %s",
			    nng_strerror(rv));
			return ad_nng_error(rv);
		}
	}
	return 0;
}

static int
spawn_worker(struct ad_instance *inst, char *err, size_t errlen)
{
	struct ad_sv              *sv = inst->agent->sv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          attr;
	sigset_t                   none, deflt;
	char                       maxmsg[32];
	const char *level = sv->log_level >= AGENTD_LOG_DEBUG ? "debug"
	    : sv->log_level >= AGENTD_LOG_INFO                ? "info"
	    : sv->log_level >= AGENTD_LOG_WARN                ? "warn"
	                                                      : "error";
	char       *argv[]
	    = { sv->worker_path, "--plugin", inst->agent->conf->plugin_path,
		      "--agent", inst->agent->conf->name, "--instance",
		      inst->id, "--run-dir", sv->run_dir, "--max-message-size",
		      maxmsg, "--log-level", (char *)level, NULL };
	pid_t pid;
	int   rv;

	snprintf(
	    maxmsg, sizeof(maxmsg), "%zu", sv->cfg->global.max_message_size);
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
	inst->spawn_us = ad_now_us();
	rv = posix_spawn(&pid, sv->worker_path, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rv != 0) {
		ad_seterr(err, errlen, "cannot run %s: %s", sv->worker_path,
		    strerror(rv));
		return AGENTD_EIO;
	}
	inst->pid = pid;
	return 0;
}

/* Send "init" with the agent's settings on the control slot. */
static void
send_init(struct ad_instance *inst)
{
	const struct ad_agent_conf *c = inst->agent->conf;
	struct ad_slot             *s = &inst->slots[0];
	struct ad_envelope          e;
	agentd_writer              *w;
	nng_msg                    *msg;
	size_t                      i, len;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
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
	memset(&e, 0, sizeof(e));
	e.id   = ad_envelope_next_id();
	e.kind = AD_KIND_CONTROL;
	snprintf(e.src, sizeof(e.src), "agentd");
	snprintf(e.dst, sizeof(e.dst), "init");
	e.body     = agentd_writer_data(w, &len);
	e.body_len = len;
	if (ad_envelope_to_msg(&e, &msg) != 0)
		abort(); /* only ENOMEM is possible here */
	agentd_writer_free(w);
	snprintf(s->op, sizeof(s->op), "init");
	s->phase = AD_SLOT_SENDING;
	nng_aio_set_msg(s->aio, msg);
	nng_aio_set_timeout(s->aio, INIT_TIMEOUT_MS);
	nng_ctx_send(s->ctx, s->aio);
}

static void
schedule_restart(struct ad_agent *a)
{
	const struct ad_agent_conf *c = a->conf;
	int64_t                     jitter;

	a->backoff_ms
	    = a->backoff_ms == 0 ? c->backoff_initial_ms : a->backoff_ms * 2;
	if (a->backoff_ms > c->backoff_max_ms)
		a->backoff_ms = c->backoff_max_ms;
	/* Up to a quarter more, so that many agents failing together do not
	 * come back in lockstep. */
	jitter        = a->backoff_ms > 4 ? random() % (a->backoff_ms / 4) : 0;
	a->next_start = ad_now_ms() + a->backoff_ms + jitter;
}

/*
 * Count an exit that asks for a restart.  The last intensity + 1 of
 * their times are kept; when all of them fall within period, the agent
 * would restart more than its restart { intensity } allows and is marked
 * failed: no more restarts
 * until an operator says (agentctl restart) or agentd starts again.
 * Returns 1 when this exit failed the agent, 0 when it is restarted.
 */
static int
count_restart(struct ad_agent *a, int64_t now)
{
	const struct ad_agent_conf *c   = a->conf;
	unsigned                    cap = c->restart_intensity + 1;

	if (a->nrestart_times == cap) {
		memmove(a->restart_times, a->restart_times + 1,
		    (cap - 1) * sizeof(*a->restart_times));
		a->nrestart_times--;
	}
	a->restart_times[a->nrestart_times++] = now;
	if (a->nrestart_times < cap
	    || now - a->restart_times[0] > c->restart_period_ms) {
		a->restarts++;
		return 0;
	}
	a->failed = 1;
	ad_error("agent %s: %u restarts within %lld ms, more than restart "
	         "{ intensity = %u period = %lld ms } allows: the agent is "
	         "failed and will not be restarted; fix the cause (see the "
	         "exits above), then run agentctl restart %s",
	    c->name, cap, (long long)(now - a->restart_times[0]),
	    c->restart_intensity, (long long)c->restart_period_ms, c->name);
	ad_sv_audit(a->sv, c->name, NULL, "agent.failed",
	    "%u restarts within %lld ms, more than restart { intensity = %u "
	    "period = %lld ms } allows; not restarted until agentctl restart",
	    cap, (long long)(now - a->restart_times[0]), c->restart_intensity,
	    (long long)c->restart_period_ms);
	ad_dispatch_fail_queue(a, AGENTD_EFAILED);
	return 1;
}

void
ad_agent_restart(struct ad_agent *a, const char *who)
{
	struct ad_instance *inst;
	int                 was_failed = a->failed;

	a->failed         = 0;
	a->backoff_ms     = 0;
	a->next_start     = 0;
	a->nrestart_times = 0;
	/* A running agent gets fresh instances: the old ones stop (what they
	 * hold is re-dispatched) and maintain starts new ones. */
	if (!was_failed)
		LIST_FOREACH(inst, &a->instances, link)
	if (inst->state == AD_INST_STARTING || inst->state == AD_INST_READY)
		ad_instance_stop(inst);
	ad_info("agent %s: restarted by %s%s", a->conf->name, who,
	    was_failed ? " (it had failed)" : "");
	ad_sv_audit(a->sv, a->conf->name, NULL, "agent.restart",
	    "restarted by %s%s", who, was_failed ? " (it had failed)" : "");
	ad_agent_maintain(a);
}

const char *
ad_agent_state(const struct ad_agent *a)
{
	if (a->failed)
		return "failed";
	if (ad_agent_count(a, AD_INST_READY) >= a->conf->min_instances)
		return "running";
	if (a->next_start > ad_now_ms())
		return "backing off";
	return "starting";
}

int
ad_instance_spawn(struct ad_agent *a, char *err, size_t errlen)
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
	inst->nslots     = 1 + a->conf->concurrency;
	inst->slots      = ad_xcalloc(inst->nslots, sizeof(*inst->slots));
	inst->state      = AD_INST_STARTING;
	inst->started_ms = ad_wall_ms();
	inst->generation = a->generation;
	inst->pid        = -1;
	LIST_INSERT_HEAD(&a->instances, inst, link);
	if ((rv = open_socket(inst, err, errlen)) != 0
	    || (rv = spawn_worker(inst, err, errlen)) != 0) {
		/* Never started: let the main loop free it like an exit. */
		inst->state = AD_INST_EXITED;
		if (!count_restart(a, ad_now_ms()))
			schedule_restart(a);
		ad_sv_audit(sv, a->conf->name, inst->id,
		    "instance.start_failed", "%s", err);
		return rv;
	}
	ad_info("agent %s: started instance %s (pid %d)", a->conf->name,
	    inst->id, (int)inst->pid);
	ad_sv_audit(sv, a->conf->name, inst->id, "instance.start", "pid %d",
	    (int)inst->pid);
	send_init(inst);
	return 0;
}

/* Control slot finished (nng thread, mtx held by the caller). */
void
ad_instance_control_done(struct ad_slot *s, int rv, nng_msg *reply)
{
	struct ad_instance *inst = s->inst;
	struct ad_envelope  e;
	int                 status = rv;

	if (rv == 0)
		status = ad_envelope_decode(nng_msg_body(reply),
		             nng_msg_len(reply),
		             inst->agent->sv->cfg->global.max_message_size, &e)
		        == 0
		    ? e.status
		    : AGENTD_EPROTO;
	if (strcmp(s->op, "init") != 0 || inst->state != AD_INST_STARTING)
		return;
	if (status != 0) {
		ad_error("agent %s: instance %s did not become ready: %s",
		    inst->agent->conf->name, inst->id,
		    rv == AGENTD_ETIMEOUT ? "init timed out"
		                          : agentd_strerror(status));
		ad_sv_audit(inst->agent->sv, inst->agent->conf->name, inst->id,
		    "instance.init_failed", "%s",
		    rv == AGENTD_ETIMEOUT ? "init timed out"
		                          : agentd_strerror(status));
		if (inst->pid > 0)
			kill(inst->pid, SIGKILL);
		return;
	}
	inst->state      = AD_INST_READY;
	inst->ready_mono = ad_now_ms();
	inst->ready_us   = ad_now_us();
	ad_info(
	    "agent %s: instance %s ready", inst->agent->conf->name, inst->id);
	ad_sv_audit(inst->agent->sv, inst->agent->conf->name, inst->id,
	    "instance.ready", "pid %d", (int)inst->pid);
	ad_dispatch_pump(inst->agent);
	ad_hub_instance_kick(inst);
}

/* An unexpected exit: one log line and one audit record saying how. */
static void
report_exit(struct ad_instance *inst, int status)
{
	struct ad_agent *a = inst->agent;
	char             how[64];

	if (WIFSIGNALED(status))
		snprintf(
		    how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exited with status %d",
		    WEXITSTATUS(status));
	ad_warn("agent %s: instance %s (pid %d) %s", a->conf->name, inst->id,
	    (int)inst->pid, how);
	ad_sv_audit(a->sv, a->conf->name, inst->id, "instance.exit",
	    "pid %d %s", (int)inst->pid, how);
}

struct ad_instance *
ad_instance_exited(struct ad_sv *sv, pid_t pid, int status)
{
	struct ad_instance *inst;
	size_t              i;

	for (i = 0; i < sv->nagents; i++) {
		struct ad_agent *a = &sv->agents[i];

		LIST_FOREACH(inst, &a->instances, link)
		{
			if (inst->pid != pid || inst->state == AD_INST_EXITED)
				continue;
			if (inst->state != AD_INST_STOPPING && !sv->stopping) {
				report_exit(inst, status);
				if (a->conf->restart_policy
				        == AD_RESTART_PERMANENT
				    || (a->conf->restart_policy
				            == AD_RESTART_TRANSIENT
				        && !(WIFEXITED(status)
				            && WEXITSTATUS(status) == 0))) {
					if (!count_restart(a, ad_now_ms()))
						schedule_restart(a);
				}
			}
			inst->state       = AD_INST_EXITED;
			inst->exit_status = status;
			return inst;
		}
	}
	return NULL;
}

void
ad_instance_free(struct ad_instance *inst)
{
	struct ad_sv *sv = inst->agent->sv;
	unsigned      i;

	/* Fails every aio in flight; their callbacks re-dispatch. */
	nng_close(inst->sock);
	ad_hub_instance_close(inst);
	for (i = 0; i < inst->nslots; i++) {
		if (inst->slots[i].aio != NULL)
			nng_aio_free(inst->slots[i].aio);
	}
	unlink(inst->path);
	pthread_mutex_lock(&sv->mtx);
	LIST_REMOVE(inst, link);
	ad_sv_pipe_forget(sv, inst);
	pthread_mutex_unlock(&sv->mtx);
	free(inst->slots);
	free(inst->path);
	free(inst);
}

void
ad_instance_stop(struct ad_instance *inst)
{
	if (inst->state == AD_INST_EXITED)
		return;
	inst->state = AD_INST_STOPPING;
	if (inst->pid > 0)
		kill(inst->pid, SIGTERM);
}

void
ad_agent_maintain(struct ad_agent *a)
{
	char     err[AD_ERRLEN];
	unsigned live;

	/* An instance that has been ready for stable_after ends the crash
	 * loop, if there was one: the next failure starts from the first
	 * backoff again. */
	if (a->backoff_ms != 0) {
		struct ad_instance *i;

		LIST_FOREACH(i, &a->instances, link)
		if (i->state == AD_INST_READY
		    && ad_now_ms() - i->ready_mono >= a->conf->stable_after_ms)
			a->backoff_ms = 0;
	}
	/* A temporary agent's instances are started once, never again; a
	 * failed agent's not until it is restarted. */
	if (a->sv->stopping || a->failed
	    || (a->conf->restart_policy == AD_RESTART_TEMPORARY
	        && a->next_seq >= a->conf->min_instances))
		return;
	live = ad_agent_count(a, AD_INST_STARTING)
	    + ad_agent_count(a, AD_INST_READY);
	while (live < a->conf->min_instances && ad_now_ms() >= a->next_start) {
		if (ad_instance_spawn(a, err, sizeof(err)) != 0) {
			ad_error("agent %s: %s", a->conf->name, err);
			return;
		}
		live++;
	}
}
