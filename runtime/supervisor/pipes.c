#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "supervisor/agent.h"
#include "supervisor/conns.h"
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

/*
 * One line a second per socket name (ratelimit.h): a peer that redials
 * after each refusal would otherwise fill the log.  The few names refused
 * lately each have a limiter; the one used least lately gives way.
 */
#define REFUSED_NAMES 8

static int
refusal_may_log(const char *name, char *note, size_t notelen)
{
	static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
	static struct {
		char                name[64];
		int64_t             used_ms;
		struct ad_ratelimit rl;
	} seen[REFUSED_NAMES];
	int64_t now_ms = ad_now_ms();
	size_t  i, oldest = 0;
	int     may;

	pthread_mutex_lock(&mtx);
	for (i = 0; i < REFUSED_NAMES; i++) {
		if (strcmp(seen[i].name, name) == 0)
			break;
		if (seen[i].used_ms < seen[oldest].used_ms)
			oldest = i;
	}
	if (i == REFUSED_NAMES) {
		i = oldest;
		memset(&seen[i], 0, sizeof(seen[i]));
		snprintf(seen[i].name, sizeof(seen[i].name), "%s", name);
	}
	seen[i].used_ms = now_ms;
	may             = ad_ratelimit(&seen[i].rl, now_ms, note, notelen);
	pthread_mutex_unlock(&mtx);
	return may;
}

/* ---- the control group --------------------------------------------- */

/*
 * Who may use the operator sockets besides root and agentd's user: the
 * members of control { group } (doc/security.md, "The control group").
 * Two checks, both needed.  The kernel's, at connect(): the socket is
 * 0660 with that group, so the connecting process held the group (as its
 * primary or a supplementary group) or is root or agentd's user.  And
 * agentd's, here: the peer's primary group as the kernel recorded it at
 * connect() (SO_PEERCRED, nng's peer-gid) is the group, or the group
 * database lists the peer's user in it, as root wrote it (adduser USER
 * GROUP).  Asked at every connection, so that a user taken out of the
 * group (deluser USER GROUP) loses the sockets at their next command, not
 * at their next login.  /proc/PID/status would give the process's own
 * groups, but agentd's unit hides other users' processes from it
 * (ProtectProc=invisible), and a pid can be reused.
 */

/* Is the peer of p, of uid uid, a member of the control group? */
static int
peer_in_group(const struct ad_sv *sv, nng_pipe p, uid_t uid)
{
	uint64_t v;

	if (sv->ctl_gid == (gid_t)-1)
		return 0;
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_GID, &v) == 0
	    && (gid_t)v == sv->ctl_gid)
		return 1;
	return ad_user_in_group(uid, sv->ctl_gid);
}

/* The control group's name into buf, or its number. */
static void
group_name(gid_t gid, char *buf, size_t len)
{
	struct group gr, *found = NULL;
	char         tmp[16384];

	if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &found) == 0
	    && found != NULL)
		snprintf(buf, len, "%s", gr.gr_name);
	else
		snprintf(buf, len, "%lu", (unsigned long)gid);
}

/* Does this process hold gid, so that it may give files to it? */
static int
holds_group(gid_t gid)
{
	int    n = getgroups(0, NULL), i, held = getegid() == gid;
	gid_t *groups;

	if (held || n <= 0)
		return held;
	groups = ad_xcalloc((size_t)n, sizeof(*groups));
	n      = getgroups(n, groups);
	for (i = 0; i < n && !held; i++)
		held = groups[i] == gid;
	free(groups);
	return held;
}

int
ad_sv_control_group(struct ad_sv *sv, char *err, size_t errlen)
{
	const char *name = sv->cfg->global.control_group;
	const char *file = sv->cfg->global.file != NULL ? sv->cfg->global.file
	                                                : sv->confdir;
	struct group  *gr;
	struct passwd *pw;

	sv->ctl_gid = (gid_t)-1;
	if (name == NULL)
		return 0;
	if ((gr = getgrnam(name)) == NULL) {
		ad_seterr(err, errlen,
		    "%s: agentd { control { group = \"%s\" } }: no such "
		    "group: create it (addgroup --system %s) or name another",
		    file, name, name);
		return AGENTD_ECONFIG;
	}
	if (geteuid() != 0 && !holds_group(gr->gr_gid)) {
		pw = getpwuid(geteuid());
		ad_seterr(err, errlen,
		    "%s: agentd { control { group = \"%s\" } }: agentd runs "
		    "as %s, which is not in that group and so cannot give it "
		    "its sockets: adduser %s %s and start agentd again, or "
		    "run "
		    "agentd as root",
		    file, name, pw != NULL ? pw->pw_name : "its user",
		    pw != NULL ? pw->pw_name : "USER", name);
		return AGENTD_ECONFIG;
	}
	sv->ctl_gid = gr->gr_gid;
	/* No worker may run in it (ad_worker_ids() says so at each spawn). */
	return ad_sv_check_users(sv, err, errlen);
}

int
ad_sv_open_to_group(
    const struct ad_sv *sv, const char *path, char *err, size_t errlen)
{
	char group[64];

	if (sv->ctl_gid == (gid_t)-1)
		return 0;
	if (chown(path, (uid_t)-1, sv->ctl_gid) != 0
	    || chmod(path, 0660) != 0) {
		group_name(sv->ctl_gid, group, sizeof(group));
		ad_seterr(err, errlen,
		    "cannot open %s to group %s (control { group }): %s", path,
		    group, strerror(errno));
		return AGENTD_EIO;
	}
	return 0;
}

void
ad_sv_run_dir_for_group(const struct ad_sv *sv)
{
	struct stat st;
	char        group[64];

	if (sv->ctl_gid == (gid_t)-1 || stat(sv->run_dir, &st) != 0)
		return;
	if (st.st_uid == geteuid()
	    && (st.st_gid == sv->ctl_gid
	        || chown(sv->run_dir, (uid_t)-1, sv->ctl_gid) == 0)
	    && ((st.st_mode & S_IXGRP) != 0
	        || chmod(sv->run_dir, (st.st_mode & 07777) | S_IXGRP) == 0))
		return;
	if (stat(sv->run_dir, &st) == 0
	    && ((st.st_gid == sv->ctl_gid && (st.st_mode & S_IXGRP) != 0)
	        || (st.st_mode & S_IXOTH) != 0))
		return;
	group_name(sv->ctl_gid, group, sizeof(group));
	ad_warn("run directory %s (mode %04o) keeps group %s from the "
	        "sockets control { group } opens to it: chgrp %s %s && chmod "
	        "g+x %s",
	    sv->run_dir, (unsigned)(st.st_mode & 07777), group, group,
	    sv->run_dir, sv->run_dir);
}

/* ---- checking a peer ------------------------------------------------- */

static const char *const wanted[] = {
	[AD_PEER_OPERATOR]     = "only root and the user agentd runs as may "
	                         "use it",
	[AD_PEER_ANY_INSTANCE] = "not an instance agentd started",
	[AD_PEER_INSTANCE]     = "not the instance agentd started for it",
};

/* Why a peer was refused, into buf. */
static void
refusal(const struct ad_sv *sv, enum ad_peer_want want, char *buf, size_t len)
{
	char group[64];

	if (want != AD_PEER_OPERATOR || sv->ctl_gid == (gid_t)-1) {
		snprintf(buf, len, "%s", wanted[want]);
		return;
	}
	group_name(sv->ctl_gid, group, sizeof(group));
	snprintf(buf, len,
	    "only root, the user agentd runs as and the members of group %s "
	    "(control { group }) may use it: adduser USER %s lets a user in",
	    group, group);
}

int
ad_peer_check(struct ad_sv *sv, nng_pipe p, enum ad_peer_want want,
    const char *name, struct ad_instance *inst, struct ad_instance **found)
{
	pid_t pid   = -1;
	uid_t uid   = (uid_t)-1;
	int   known = ad_sv_peer(p, &pid, &uid) == 0, ok = 0;
	char  note[AD_RATELIMIT_NOTE], why[256];

	switch (want) {
	case AD_PEER_OPERATOR:
		ok = known
		    && (uid == 0 || uid == sv->uid
		        || peer_in_group(sv, p, uid));
		break;
	case AD_PEER_ANY_INSTANCE:
		/* A worker can connect before posix_spawn has told us its
		 * pid (the main loop records it just after). */
		while (known && (inst = ad_sv_instance_by_pid(sv, pid)) == NULL
		    && spawning(sv))
			pthread_cond_wait(&sv->spawned, &sv->mtx);
		ok     = known && inst != NULL && uid == inst->uid;
		*found = ok ? inst : NULL;
		break;
	case AD_PEER_INSTANCE:
		while (inst->spawning)
			pthread_cond_wait(&sv->spawned, &sv->mtx);
		ok = known && inst->pid > 0 && pid == inst->pid
		    && uid == inst->uid;
		break;
	}
	if (!ok && refusal_may_log(name, note, sizeof(note))) {
		refusal(sv, want, why, sizeof(why));
		ad_warn(
		    "refused a connection to %s from pid %d (uid %d): %s%s",
		    name, (int)pid, (int)uid, why, note);
	}
	return ok ? 0 : -1;
}

/* The file name of the socket p was accepted on, into buf. */
static void
socket_name(nng_pipe p, char *buf, size_t len)
{
	nng_sockaddr sa;
	const char  *slash;

	if (nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &sa) != 0
	    || sa.s_family != NNG_AF_IPC) {
		snprintf(buf, len, "a socket");
		return;
	}
	slash = strrchr(sa.s_ipc.sa_path, '/');
	snprintf(buf, len, "%s", slash != NULL ? slash + 1 : sa.s_ipc.sa_path);
}

void
ad_sv_on_instance_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_sv       *sv   = arg;
	struct ad_instance *inst = NULL;
	char                name[NNG_MAXADDRLEN];

	if (ev != NNG_PIPE_EV_REM_POST)
		socket_name(p, name, sizeof(name));
	pthread_mutex_lock(&sv->mtx);
	if (ad_conns_event(&sv->worker_conns, p, ev) != 0)
		; /* agentd is stopping: no instance is left to connect */
	else if (ev == NNG_PIPE_EV_REM_POST)
		ad_sv_pipe_del(sv, p);
	else if (ad_peer_check(sv, p, AD_PEER_ANY_INSTANCE, name, NULL, &inst)
	    != 0)
		nng_pipe_close(p);
	else
		ad_sv_pipe_add(sv, p, inst);
	pthread_mutex_unlock(&sv->mtx);
}

void
ad_sv_on_operator_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_sv *sv = arg;
	char          name[NNG_MAXADDRLEN];
	int           refused;

	pthread_mutex_lock(&sv->mtx);
	refused = ad_conns_event(&sv->operator_conns, p, ev) != 0;
	pthread_mutex_unlock(&sv->mtx);
	if (refused || ev != NNG_PIPE_EV_ADD_PRE)
		return;
	socket_name(p, name, sizeof(name));
	/* The file's mode (0600, or 0660 for control { group }) let the
	 * peer in already; this holds even if someone loosens it. */
	if (ad_peer_check(sv, p, AD_PEER_OPERATOR, name, NULL, NULL) != 0)
		nng_pipe_close(p);
}
