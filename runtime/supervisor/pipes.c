#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/agent.h"
#include "supervisor/instance.h"
#include "supervisor/supervisor.h"

/*
 * The pipe table is kept sorted by pipe id: lookups (one per call and per
 * event batch) are a binary search; inserts and removals (once per
 * connection) move the tail.
 */
static size_t
find(const struct ad_sv *sv, uint32_t id, int *found)
{
	size_t lo = 0, hi = sv->npipes;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (sv->pipes[mid].pipe < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < sv->npipes && sv->pipes[lo].pipe == id;
	return lo;
}

struct ad_instance *
ad_sv_pipe_instance(struct ad_sv *sv, nng_pipe p)
{
	int    found;
	size_t i = find(sv, nng_pipe_id(p), &found);

	return found ? sv->pipes[i].inst : NULL;
}

static void
ad_sv_pipe_add(struct ad_sv *sv, nng_pipe p, struct ad_instance *inst)
{
	int    found;
	size_t i = find(sv, nng_pipe_id(p), &found);

	if (found) {
		sv->pipes[i].inst = inst;
		return;
	}
	sv->pipes
	    = ad_xrealloc(sv->pipes, (sv->npipes + 1) * sizeof(*sv->pipes));
	memmove(&sv->pipes[i + 1], &sv->pipes[i],
	    (sv->npipes - i) * sizeof(*sv->pipes));
	sv->pipes[i].pipe = nng_pipe_id(p);
	sv->pipes[i].inst = inst;
	sv->npipes++;
}

static void
remove_at(struct ad_sv *sv, size_t i)
{
	memmove(&sv->pipes[i], &sv->pipes[i + 1],
	    (sv->npipes - i - 1) * sizeof(*sv->pipes));
	sv->npipes--;
}

static void
ad_sv_pipe_del(struct ad_sv *sv, nng_pipe p)
{
	int    found;
	size_t i = find(sv, nng_pipe_id(p), &found);

	if (found)
		remove_at(sv, i);
}

void
ad_sv_pipe_forget(struct ad_sv *sv, struct ad_instance *inst)
{
	size_t i = 0;

	while (i < sv->npipes) {
		if (sv->pipes[i].inst == inst)
			remove_at(sv, i);
		else
			i++;
	}
}

static struct ad_instance *
ad_sv_instance_by_pid(struct ad_sv *sv, pid_t pid)
{
	struct ad_instance *inst;
	size_t              i;

	for (i = 0; i < sv->nagents; i++) {
		LIST_FOREACH(inst, &sv->agents[i]->instances, link) {
			if (inst->pid == pid && inst->state != AD_INST_EXITED)
				return inst;
		}
	}
	return NULL;
}

int
ad_sv_peer(nng_pipe p, pid_t *pid, uid_t *uid)
{
	uint64_t v;

	/* nng gives the peer's credentials as uint64 options. */
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &v) != 0)
		return -1;
	*pid = (pid_t)v;
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &v) != 0)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

/* Is a worker being spawned, its pid not known yet?  mtx held. */
static int
spawning(const struct ad_sv *sv)
{
	const struct ad_instance *inst;
	size_t                    i;

	for (i = 0; i < sv->nagents; i++) {
		LIST_FOREACH(inst, &sv->agents[i]->instances, link) {
			if (inst->spawning)
				return 1;
		}
	}
	return 0;
}

void
ad_sv_on_instance_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_sv       *sv   = arg;
	struct ad_instance *inst = NULL;
	pid_t               pid  = -1;
	uid_t               uid  = (uid_t)-1;

	pthread_mutex_lock(&sv->mtx);
	if (ev != NNG_PIPE_EV_REM_POST && ad_sv_peer(p, &pid, &uid) == 0
	    && uid == sv->uid) {
		/* A worker can connect before posix_spawn has told us its
		 * pid (the main loop records it just after). */
		while ((inst = ad_sv_instance_by_pid(sv, pid)) == NULL
		    && spawning(sv))
			pthread_cond_wait(&sv->spawned, &sv->mtx);
	}
	if (ev == NNG_PIPE_EV_REM_POST) {
		ad_sv_pipe_del(sv, p);
	} else if (inst == NULL) {
		ad_warn("refused a connection from pid %d (uid %d): not an "
		        "instance agentd started",
		    (int)pid, (int)uid);
		nng_pipe_close(p);
	} else {
		ad_sv_pipe_add(sv, p, inst);
	}
	pthread_mutex_unlock(&sv->mtx);
}

void
ad_sv_on_operator_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_sv *sv  = arg;
	pid_t         pid = -1;
	uid_t         uid = (uid_t)-1;

	if (ev != NNG_PIPE_EV_ADD_PRE)
		return;
	/* The file is 0600 already; this holds even if someone loosens it. */
	if (ad_sv_peer(p, &pid, &uid) != 0 || (uid != sv->uid && uid != 0)) {
		ad_warn("refused a control connection from pid %d (uid %d): "
		        "only root and the user agentd runs as may operate it",
		    (int)pid, (int)uid);
		nng_pipe_close(p);
	}
}
