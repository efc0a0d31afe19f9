#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/paths.h"
#include "common/private.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "store/audit.h"
#include "store/store.h"
#include "store/state.h"
#include "supervisor/agent.h"
#include "supervisor/conns.h"
#include "supervisor/control.h"
#include "supervisor/dispatch.h"
#include "supervisor/gate.h"
#include "supervisor/http.h"
#include "supervisor/hub.h"
#include "supervisor/instance.h"
#include "supervisor/reload.h"
#include "supervisor/schedule.h"
#include "supervisor/supervisor.h"
#include "supervisor/tokens.h"
#include "supervisor/watch.h"

/* Find the worker program: $AGENTD_WORKER, beside agentd, or libexec. */
static char *
ad_sv_find_worker(void)
{
	const char *env = getenv("AGENTD_WORKER");
	char        self[PATH_MAX];
	ssize_t     n;
	char       *dir, *path;

	if (env != NULL && env[0] != '\0')
		return ad_xstrdup(env);
	/* Run from a build tree, the worker sits beside agentd. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		dir     = ad_dirname(self);
		path    = ad_path_join(dir, "agentd-worker");
		free(dir);
		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return ad_xstrdup(AGENTD_WORKER_PATH);
}

/* What describing each plugin taught us, kept for the registry. */
struct described {
	struct ad_sv        *sv;
	struct ad_described *v;
	size_t               n;
};

/*
 * A plugin build's description, by content hash: a reload describes only
 * builds it has not seen (running the worker for each agent's plugin on
 * every reload cost a process per agent).
 */
struct ad_schema_seen {
	char              hash[AD_HASH_LEN];
	struct ad_schema *schema;
};

static struct ad_schema *
schema_seen(struct ad_sv *sv, const char *hash)
{
	for (size_t i = 0; i < sv->nschemas; i++) {
		if (strcmp(sv->schemas[i].hash, hash) == 0)
			return sv->schemas[i].schema;
	}
	return NULL;
}

static void
schema_remember(struct ad_sv *sv, const char *hash, struct ad_schema *s)
{
	struct ad_schema_seen *e;

	sv->schemas
	    = ad_xrealloc(sv->schemas, (sv->nschemas + 1) * sizeof(*e));
	e = &sv->schemas[sv->nschemas++];
	memcpy(e->hash, hash, sizeof(e->hash));
	e->schema = ad_schema_dup(s);
}

static int
lookup_schema(void *arg, const struct ad_agent_conf *a,
    struct ad_schema **schema, char *err, size_t errlen)
{
	struct described *d = arg;
	char              why[AD_ERRLEN];
	char              hash[AD_HASH_LEN];
	int               rv;

	struct ad_schema *seen;

	if ((rv = ad_plugin_file_check(
	         a->plugin_path, d->sv->uid, why, sizeof(why)))
	        != 0
	    || (rv = ad_file_sha256(a->plugin_path, hash, why, sizeof(why)))
	        != 0) {
		ad_seterr(err, errlen, "%s", why);
		return rv;
	}
	ad_loopwatch_step(&d->sv->loop,
	    "reading the configuration: "
	    "describing plugin %s",
	    a->plugin_path);
	if ((seen = schema_seen(d->sv, hash)) != NULL) {
		*schema = ad_schema_dup(seen);
	} else if ((rv = ad_plugin_describe(d->sv->worker_path, a->plugin_path,
	                schema, why, sizeof(why)))
	    == 0) {
		char again[AD_HASH_LEN];

		/* Remembered only if the file did not change meanwhile (the
		 * store refuses such a copy anyway). */
		if (ad_file_sha256(a->plugin_path, again, why, sizeof(why))
		        == 0
		    && strcmp(again, hash) == 0)
			schema_remember(d->sv, hash, *schema);
		ad_debug("described plugin %s: version %s (%s)",
		    a->plugin_path, (*schema)->plugin_version, hash);
	} else {
		ad_seterr(err, errlen, "%s", why);
		return rv;
	}
	d->v = ad_xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
	snprintf(d->v[d->n].name, sizeof(d->v[d->n].name), "%s", a->name);
	snprintf(d->v[d->n].version, sizeof(d->v[d->n].version), "%s",
	    (*schema)->plugin_version);
	memcpy(d->v[d->n].hash, hash, sizeof(hash));
	d->n++;
	return 0;
}

const struct ad_described *
ad_described_find(const struct ad_described *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static void
init_agents(struct ad_sv *sv, const struct described *d)
{
	const struct ad_described *found;
	struct ad_gen             *g;
	size_t                     i;

	for (i = 0; i < sv->cfg->nagents; i++) {
		const struct ad_agent_conf *c = &sv->cfg->agents[i];

		found = ad_described_find(d->v, d->n, c->name);
		ad_agent_new(sv, &g, c, found ? found->hash : "",
		    found ? found->version : "", "agentd start");
	}
}

/* report: where each error of a strict load goes (NULL: only err). */
static int
read_config(struct ad_sv *sv, int tolerant, const struct ad_sv_opts *o,
    struct ad_config **cfg, struct ad_described **v, size_t *n, char *err,
    size_t errlen)
{
	struct ad_config_opts co;
	struct described      d = { sv, NULL, 0 };
	int                   rv;

	memset(&co, 0, sizeof(co));
	co.plugin_dir         = sv->plugin_dir;
	co.default_state_dir  = AGENTD_STATEDIR;
	co.default_run_dir    = AGENTD_RUNDIR;
	co.default_plugin_dir = AGENTD_PLUGINDIR;
	co.tolerant           = tolerant;
	if (o != NULL) {
		co.report     = o->config_report;
		co.report_arg = o->config_report_arg;
	}
	rv = ad_config_load(
	    sv->confdir, &co, lookup_schema, &d, cfg, err, errlen);
	*v = d.v;
	*n = d.n;
	return rv;
}

int
ad_sv_read_config(struct ad_sv *sv, int tolerant, struct ad_config **cfg,
    struct ad_described **v, size_t *n, char *err, size_t errlen)
{
	return read_config(sv, tolerant, NULL, cfg, v, n, err, errlen);
}

/*
 * nng runs callbacks on several threads and each takes this lock for a
 * few microseconds: an adaptive mutex spins briefly before it sleeps,
 * which saves a futex sleep and wake-up on most contended acquisitions.
 */
static void
init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
}

int
ad_sv_load(
    struct ad_sv *sv, const struct ad_sv_opts *o, char *err, size_t errlen)
{
	struct described d = { sv, NULL, 0 };
	int              rv;

	init_lock(&sv->mtx);
	ad_loopwatch_init(&sv->loop);
	pthread_cond_init(&sv->spawned, NULL);
	pthread_cond_init(&sv->appended, NULL);
	sv->spawn_background = -1; /* asked at the first spawn */

	sv->run_lock    = -1;
	sv->state_lock  = -1;
	sv->uid         = geteuid();
	sv->ctl_gid     = (gid_t)-1; /* ad_sv_control_group() */
	sv->confdir     = ad_xstrdup(o->confdir);
	sv->worker_path = o->worker_path ? ad_xstrdup(o->worker_path)
	                                 : ad_sv_find_worker();
	sv->plugin_dir  = o->plugin_dir ? ad_xstrdup(o->plugin_dir) : NULL;
	rv = read_config(sv, 0, o, &sv->cfg, &d.v, &d.n, err, errlen);
	if (rv == 0)
		rv = ad_sv_check_users(sv, err, errlen);
	if (rv == 0) {
		sv->state_dir = ad_xstrdup(
		    o->state_dir ? o->state_dir : sv->cfg->global.state_dir);
		sv->run_dir = ad_xstrdup(
		    o->run_dir ? o->run_dir : sv->cfg->global.run_dir);
		sv->archive_dir = sv->cfg->global.audit_archive_dir
		    ? ad_xstrdup(sv->cfg->global.audit_archive_dir)
		    : ad_path_join(sv->state_dir, "archive");
		sv->log_level   = o->log_level;
		if (sv->log_level < 0 && sv->cfg->global.log_level != NULL)
			sv->log_level
			    = ad_log_parse_level(sv->cfg->global.log_level);
		if (sv->log_level < 0)
			sv->log_level = AGENTD_LOG_INFO;
		init_agents(sv, &d);
	}
	free(d.v);
	return rv;
}

static int
register_agents(struct ad_sv *sv)
{
	size_t i;
	int    rv;

	for (i = 0; i < sv->nagents; i++) {
		const struct ad_agent *a = sv->agents[i];
		if ((rv = ad_sv_register(sv, a->cur)) != 0)
			return rv;
	}
	return 0;
}

int
ad_sv_check_private(
    struct ad_sv *sv, int check_owner, char *err, size_t errlen)
{
	static const struct {
		const char *under, *what;
		int         dir;
	} rows[] = {
		{ "", "state directory", 1 },
		{ "db", "LMDB directory", 1 },
		{ "db/data.mdb", "LMDB file", 0 },
		{ "db/lock.mdb", "LMDB file", 0 },
		{ "plugins", "plugin store", 1 },
	};
	size_t i;
	int    rv;

	if ((rv = ad_private_check(
	         sv->run_dir, "run directory", 1, check_owner, err, errlen))
	        != 0
	    || (rv = ad_private_check(sv->archive_dir,
	            "audit archive directory", 1, check_owner, err, errlen))
	        != 0)
		return rv;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *path = rows[i].under[0] != '\0'
		    ? ad_path_join(sv->state_dir, rows[i].under)
		    : ad_xstrdup(sv->state_dir);

		rv = ad_private_check(
		    path, rows[i].what, rows[i].dir, check_owner, err, errlen);
		free(path);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/*
 * One agentd per run directory and per state directory: the first holds
 * DIR/agentd.lock (flock, released by the kernel however agentd ends);
 * a second is refused before it touches the sockets or the state.  The
 * file is opened as common/private.h says (never through a link, never
 * another user's), and only truncated once the lock is ours.
 */
static int
take_lock(const char *dir, const char *what, int *fd, char *err, size_t errlen)
{
	char *path = ad_path_join(dir, "agentd.lock");
	char  pid[32];
	int   f, rv;

	if ((rv = ad_mkdir_p(dir, 0700)) != 0) {
		ad_seterr(err, errlen,
		    "cannot use %s directory %s: %s: check "
		    "--%s-dir and its owner",
		    what, dir, strerror(rv), what);
		free(path);
		return AGENTD_EIO;
	}
	if ((rv = ad_private_open(path, &f, err, errlen)) != 0) {
		free(path);
		return rv;
	}
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		ad_seterr(err, errlen,
		    "another agentd is running with %s directory %s (it holds "
		    "%s): stop it, or give this one another --%s-dir",
		    what, dir, path, what);
		close(f);
		free(path);
		return AGENTD_EEXIST;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(f, 0) != 0 || write(f, pid, strlen(pid)) < 0)
		ad_debug("%s: cannot record the pid", path);
	free(path);
	*fd = f;
	return 0;
}

static int
open_audit(struct ad_sv *sv, char *err, size_t errlen)
{
	/* Sealing (doc/state.md): the key in STATE_DIR/audit.key. */
	char                *key = ad_path_join(sv->state_dir, "audit.key");
	struct ad_audit_opts o   = { ad_store_gate(sv->store), 0, key,
		  sv->cfg->global.audit_seal_records,
		  sv->cfg->global.audit_seal_interval_ms };
	int                  rv  = ad_audit_open(
	                      ad_store_env(sv->store), &o, &sv->audit, err, errlen);

	free(key);
	return rv;
}

void
ad_sv_audit(struct ad_sv *sv, const char *agent, const char *instance,
    const char *kind, const char *fmt, ...)
{
	struct ad_audit_rec r;
	char                summary[512];
	va_list             ap;
	int                 rv;

	if (sv->audit == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(summary, sizeof(summary), fmt, ap);
	va_end(ap);
	memset(&r, 0, sizeof(r));
	r.agent    = agent;
	r.instance = instance;
	r.kind     = kind;
	r.summary  = summary;
	if ((rv = ad_audit_append(sv->audit, &r, NULL, NULL)) != 0)
		ad_error("audit: record \"%s: %s\" not written: %s", kind,
		    summary, agentd_strerror(rv));
}

int
ad_sv_start(struct ad_sv *sv, char *err, size_t errlen)
{
	size_t i;
	int    rv;

	sv->started_ms = ad_wall_ms();
	if ((rv = ad_sv_check_private(sv, 1, err, errlen)) != 0
	    || (rv = ad_sv_control_group(sv, err, errlen)) != 0
	    || (rv = take_lock(sv->run_dir, "run", &sv->run_lock, err, errlen))
	        != 0
	    || (rv = take_lock(
	            sv->state_dir, "state", &sv->state_lock, err, errlen))
	        != 0)
		return rv;
	if ((rv = ad_store_open(sv->state_dir, &sv->store, err, errlen)) != 0
	    || (rv = open_audit(sv, err, errlen)) != 0
	    || (rv = ad_state_open(sv->store, sv->cfg->global.max_message_size,
	            &sv->state, err, errlen))
	        != 0
	    || (rv = ad_gate_open(sv, err, errlen)) != 0
	    || (rv = ad_tokens_open(sv, err, errlen)) != 0)
		return rv;
	for (i = 0; i < sv->nagents; i++) {
		struct ad_agent *a = sv->agents[i];
		char             why[AD_ERRLEN];

		if ((rv = ad_sv_store_plugin(sv, a->cur, why, sizeof(why)))
		    != 0) {
			ad_seterr(err, errlen, "%s:%d: agent \"%s\": %s",
			    a->conf->file, a->conf->line, a->conf->name, why);
			return rv;
		}
	}
	ad_sv_audit(sv, NULL, NULL, "agentd.start",
	    "agentd %s started with %zu agent(s) from %s", PACKAGE_VERSION,
	    sv->nagents, sv->confdir);
	if ((rv = register_agents(sv)) != 0) {
		ad_seterr(err, errlen, "cannot record agents in %s: %s",
		    sv->state_dir, agentd_strerror(rv));
		return rv;
	}
	ad_sv_run_dir_for_group(sv);
	if ((rv = ad_hub_start(sv, err, errlen)) != 0
	    || (rv = ad_control_start(sv, err, errlen)) != 0
	    || (rv = ad_http_start(sv, err, errlen)) != 0)
		return rv;
	pthread_mutex_lock(&sv->mtx);
	for (i = 0; i < sv->nagents; i++)
		ad_agent_maintain(sv->agents[i]);
	pthread_mutex_unlock(&sv->mtx);
	sv->running = 1;
	ad_info("agentd %s serving %zu agent(s), control socket %s/%s",
	    PACKAGE_VERSION, sv->nagents, sv->run_dir, AD_CTL_SOCKET);
	if (sv->cfg->global.watch) {
		char why[AD_ERRLEN];

		if (ad_watch_open(&sv->watch, sv->cfg->global.watch_delay_ms,
		        why, sizeof(why))
		    != 0)
			ad_warn("%s: agentd { watch = true }: cannot watch "
			        "files (%s); reload with agentctl reload",
			    sv->cfg->global.file, why);
		else
			ad_info("watching %s and the plugin files for changes",
			    sv->confdir);
	}
	return 0;
}

struct ad_agent *
ad_sv_agent(struct ad_sv *sv, const char *name)
{
	size_t i;

	for (i = 0; i < sv->nagents; i++) {
		if (!sv->agents[i]->removed
		    && strcmp(sv->agents[i]->conf->name, name) == 0)
			return sv->agents[i];
	}
	return NULL;
}

/*
 * Free what reloads left behind: generations nothing refers to, and
 * removed agents whose last instance is gone.  mtx held.
 */
static void
collect_agents(struct ad_sv *sv)
{
	size_t i = 0;

	while (i < sv->nagents) {
		struct ad_agent *a = sv->agents[i];

		ad_agent_collect_gens(a);
		if (!a->removed || !LIST_EMPTY(&a->instances)
		    || a->nqueued > 0) {
			i++;
			continue;
		}
		memmove(&sv->agents[i], &sv->agents[i + 1],
		    (sv->nagents - i - 1) * sizeof(*sv->agents));
		sv->nagents--;
		ad_agent_free(a);
	}
}

/*
 * Free the exited instances whose connections are gone; outside the lock
 * (see instance.h).  The others wait for a later turn: the last of their
 * connections to go wakes the loop.
 */
static void
collect_exited(struct ad_sv *sv)
{
	struct ad_instance *inst;
	size_t              i;

	for (;;) {
		struct ad_instance *found = NULL;
		int64_t             now   = ad_now_ms();

		pthread_mutex_lock(&sv->mtx);
		for (i = 0; i < sv->nagents && found == NULL; i++) {
			LIST_FOREACH(inst, &sv->agents[i]->instances, link) {
				if (ad_instance_collectable(inst, now)) {
					found = inst;
					break;
				}
			}
		}
		pthread_mutex_unlock(&sv->mtx);
		if (found == NULL)
			return;
		ad_instance_free(found); /* says its steps (loopwatch.h) */
	}
}

static void
reap(struct ad_sv *sv)
{
	int   status, dead = 0;
	pid_t pid;

	/* Exited instances are freed by tick(), after their replacements
	 * are spawned: closing a socket takes a while. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		ad_loopwatch_step(&sv->loop, "reap: pid %d exited", (int)pid);
		pthread_mutex_lock(&sv->mtx);
		ad_instance_exited(sv, pid, status);
		pthread_mutex_unlock(&sv->mtx);
	}
	/* A worker killed mid-read would hold its reader slot forever. */
	if (sv->store != NULL) {
		ad_loopwatch_step(&sv->loop, "reap: checking LMDB readers");
		ad_store_reader_check(sv->store, &dead);
	}
}

static void
tick(struct ad_sv *sv)
{
	int64_t now = ad_now_ms();
	size_t  i;

	ad_loopwatch_step(&sv->loop, "tick: waiting for the supervisor lock");
	pthread_mutex_lock(&sv->mtx);
	ad_loopwatch_step(&sv->loop, "tick: health, deadlines, scaling");
	for (i = 0; i < sv->nagents; i++) {
		struct ad_agent    *a = sv->agents[i];
		struct ad_instance *inst;

		ad_dispatch_expire(a, now);
		LIST_FOREACH(inst, &a->instances, link)
			ad_instance_tick(inst, now);
		ad_agent_scale_sample(a, now);
		ad_agent_maintain(a);
	}
	ad_loopwatch_step(&sv->loop, "tick: the policy gate's deadlines");
	ad_gate_tick(sv, ad_wall_ms());
	pthread_mutex_unlock(&sv->mtx);
	collect_exited(sv);
	ad_loopwatch_step(&sv->loop, "tick: collect_agents");
	pthread_mutex_lock(&sv->mtx);
	collect_agents(sv);
	pthread_mutex_unlock(&sv->mtx);
}

/*
 * Retention: move audit records older than audit_retention to dated
 * archive files, looking every quarter of the retention (at least every
 * second, at most every hour).  The move is a prefix of the log, written
 * and synced before anything leaves LMDB (ad_audit_archive), and is itself
 * recorded.
 */
static void
retain_audit(struct ad_sv *sv)
{
	struct ad_audit_archive_result res;
	int64_t keep = sv->cfg->global.audit_retention_ms, now, every;
	char    err[AD_ERRLEN];
	int     rv;

	if (keep <= 0 || (now = ad_now_ms()) < sv->archive_next)
		return;
	every = keep / 4;
	if (every < 1000)
		every = 1000;
	if (every > 3600 * 1000)
		every = 3600 * 1000;
	sv->archive_next = now + every;
	memset(&res, 0, sizeof(res));
	rv = ad_audit_archive(sv->audit, ad_wall_ms() - keep, sv->archive_dir,
	    &res, err, sizeof(err));
	if (rv != 0) {
		ad_error("audit retention: %s; records stay in the state "
		         "database until this is fixed",
		    err);
		return;
	}
	if (res.records == 0)
		return;
	ad_info("audit retention: records %llu to %llu moved to %s",
	    (unsigned long long)res.first_seq,
	    (unsigned long long)res.last_seq, res.path);
	ad_sv_audit(sv, NULL, NULL, "audit.archive",
	    "records %llu to %llu (%llu) moved to %s",
	    (unsigned long long)res.first_seq,
	    (unsigned long long)res.last_seq, (unsigned long long)res.records,
	    res.path);
}

/*
 * Expired state keys (doc/state.md): they are invisible at once, and
 * removed here in batches of SWEEP_BATCH, once a second, or on the next
 * turn while a batch came back full.  Bounded, so a million keys expiring
 * together never hold the loop or the LMDB writer long.
 */
#define SWEEP_BATCH 512
#define SWEEP_EVERY_MS 1000

static void
sweep_state(struct ad_sv *sv)
{
	int64_t now     = ad_now_ms();
	size_t  removed = 0;

	if (sv->state == NULL || now < sv->sweep_next)
		return;
	if (ad_state_sweep(sv->state, ad_wall_ms(), SWEEP_BATCH, &removed)
	    != 0)
		removed = 0; /* state.c logged why; try again later */
	sv->sweep_next = removed == SWEEP_BATCH ? now : now + SWEEP_EVERY_MS;
	if (removed > 0)
		ad_debug("state: %zu expired key(s) removed", removed);
}

/*
 * Tell systemd how far start-up got: READY=1 once every agent has its
 * minimum of ready instances (the service is then what the configuration
 * asked for), a STATUS= line whenever the summary changes, and WATCHDOG=1
 * every half of WatchdogSec= while this loop keeps turning: it is called
 * only at the end of a turn (ad_sv_run) or of a step of the stop
 * (stop_agents), never from another thread, so a loop stuck anywhere
 * sends none and systemd restarts agentd.
 */
static void
notify_systemd(struct ad_sv *sv)
{
	char     status[sizeof(sv->sd_status)];
	unsigned ready, total = 0;
	size_t   i, ok = 0, nfailed = 0;
	int64_t  now;

	status[0] = '\0';
	pthread_mutex_lock(&sv->mtx);
	for (i = 0; i < sv->nagents; i++) {
		ready = ad_agent_count(sv->agents[i], AD_INST_READY);
		total += ready;
		if (ready >= sv->agents[i]->conf->min_instances)
			ok++;
		else if (sv->agents[i]->failed) {
			/* It will not come up by itself: do not hold start-up
			 * (the other agents serve), but say so. */
			ok++;
			nfailed++;
		} else if (status[0] == '\0')
			snprintf(status, sizeof(status),
			    "waiting for agent %s: %u of %u instances ready",
			    sv->agents[i]->conf->name, ready,
			    sv->agents[i]->conf->min_instances);
	}
	pthread_mutex_unlock(&sv->mtx);
	if (status[0] == '\0')
		snprintf(status, sizeof(status),
		    "%zu agent%s, %u instance%s ready%s", sv->nagents,
		    sv->nagents == 1 ? "" : "s", total, total == 1 ? "" : "s",
		    nfailed > 0 ? "; some agents failed: agentctl status"
		                : "");
	if (!sv->sd_ready && ok == sv->nagents) {
		sv->sd_ready = 1;
		ad_sd_notify("READY=1\nSTATUS=%s", status);
		snprintf(sv->sd_status, sizeof(sv->sd_status), "%s", status);
	} else if (strcmp(status, sv->sd_status) != 0) {
		ad_sd_notify("STATUS=%s", status);
		snprintf(sv->sd_status, sizeof(sv->sd_status), "%s", status);
	}
	ad_loopwatch_turned(&sv->loop);
	if (ad_sd_watchdog_usec() > 0
	    && (now = ad_now_ms()) >= sv->sd_watchdog_next) {
		ad_sd_notify("WATCHDOG=1");
		sv->sd_watchdog_next
		    = now + (int64_t)(ad_sd_watchdog_usec() / 2000);
	}
}

void
ad_sv_wake(struct ad_sv *sv)
{
	(void)sv;
	kill(getpid(), SIGUSR1); /* blocked; sigtimedwait takes it */
}

/* The files an agent's settings are read from (NAME_file): as many as
 * its settings at most, appended to files[*n]. */
static void
watch_setting_files(
    const struct ad_agent_conf *c, const char **files, size_t *n)
{
	size_t i;

	for (i = 0; i < c->nsettings; i++)
		if (c->settings[i].file != NULL)
			files[(*n)++] = ad_xstrdup(c->settings[i].file);
}

/*
 * agentd { watch = true }: keep the watches on the configuration
 * directory, the plugin directory, every agent's plugin file and the
 * files its settings are read from, and reload once changes have
 * settled.
 */
static void
watch_files(struct ad_sv *sv)
{
	const char  *confdirs[1] = { sv->confdir };
	const char **files;
	char        *plugin_dir = NULL;
	char         what[PATH_MAX];
	size_t       i, n = 0, max = 1;

	if (sv->watch == NULL)
		return;
	pthread_mutex_lock(&sv->mtx);
	for (i = 0; i < sv->nagents; i++)
		if (!sv->agents[i]->removed)
			max += 1 + sv->agents[i]->conf->nsettings;
	files = ad_xcalloc(max, sizeof(*files));
	for (i = 0; i < sv->nagents; i++) {
		if (sv->agents[i]->removed)
			continue;
		files[n++] = ad_xstrdup(sv->agents[i]->conf->plugin_path);
		watch_setting_files(sv->agents[i]->conf, files, &n);
	}
	pthread_mutex_unlock(&sv->mtx);
	if (sv->plugin_dir != NULL || sv->cfg->global.plugin_dir != NULL) {
		/* a trailing slash: every file in it counts */
		plugin_dir = ad_path_join(sv->plugin_dir != NULL
		        ? sv->plugin_dir
		        : sv->cfg->global.plugin_dir,
		    "");
		files[n++] = plugin_dir;
	}
	ad_watch_set(sv->watch, confdirs, 1, files, n);
	for (i = 0; i < n; i++)
		free((char *)files[i]);
	free(files);
	if (ad_watch_due(sv->watch, ad_now_ms(), what, sizeof(what))) {
		ad_info("%s changed: reloading", what);
		pthread_mutex_lock(&sv->mtx);
		ad_reload_ask(sv, AD_RELOAD_ALL, NULL, 0, "watch", NULL);
		pthread_mutex_unlock(&sv->mtx);
	}
}

int
ad_sv_run(struct ad_sv *sv)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	sigset_t        set;
	int             sig;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (ad_loopwatch_start(
	        &sv->loop, ad_loopwatch_limit(ad_sd_watchdog_usec()))
	    != 0)
		ad_warn(
		    "cannot start the main loop's watchdog thread: a stuck "
		    "loop will not be logged");
	for (;;) {
		ad_loopwatch_step(&sv->loop, "waiting for signals");
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			ad_info("signal %d: stopping", sig);
			ad_sd_notify("STOPPING=1\nSTATUS=stopping");
			return 0;
		}
		if (sig == SIGHUP) {
			char why[AD_ERRLEN];

			/* logrotate moved the file: the next lines go to a
			 * new one at the same path. */
			if (ad_log_reopen(why, sizeof(why)) != 0)
				ad_error("%s", why);
			pthread_mutex_lock(&sv->mtx);
			ad_reload_ask(
			    sv, AD_RELOAD_ALL, NULL, 0, "SIGHUP", NULL);
			pthread_mutex_unlock(&sv->mtx);
		}
		reap(sv);
		tick(sv);
		ad_loopwatch_step(&sv->loop, "watch_files");
		watch_files(sv);
		ad_loopwatch_step(&sv->loop, "reload_step");
		ad_reload_step(sv);
		ad_loopwatch_step(&sv->loop, "instance_run: starting workers");
		ad_instance_run(sv);
		ad_loopwatch_step(&sv->loop, "schedules");
		ad_schedules_step(sv);
		ad_loopwatch_step(&sv->loop, "retain_audit");
		retain_audit(sv);
		ad_loopwatch_step(&sv->loop, "sweep_state");
		sweep_state(sv);
		ad_loopwatch_step(&sv->loop, "notify_systemd");
		notify_systemd(sv);
	}
}

/* Is an agent that may call a still running or finishing?  mtx held. */
static int
callers_live(struct ad_sv *sv, const struct ad_agent *a)
{
	size_t i;

	for (i = 0; i < sv->nagents; i++) {
		const struct ad_agent *b = sv->agents[i];

		if (b != a && ad_agent_may_call(b, a->conf->name)
		    && (!b->closing || ad_agent_live(b) > 0))
			return 1;
	}
	return 0;
}

static void
close_agent(struct ad_agent *a)
{
	struct ad_instance *inst;

	a->closing = 1;
	ad_dispatch_fail_queue(a, AGENTD_ECLOSED);
	LIST_FOREACH(inst, &a->instances, link)
		ad_instance_drain(inst);
}

/*
 * Stop every agent in order: an agent is drained only once every agent
 * that may call it (calls = { }) has stopped, so the requests callers
 * are finishing can still reach it.  Agents that call each other in a
 * cycle stop together.  Each instance finishes what it holds (at most
 * drain_timeout), gets SIGTERM (the plugin's fini runs), and SIGKILL after
 * stop_grace, and is freed once its connections are gone.  Returns when
 * no instance is left.
 */
static void
stop_agents(struct ad_sv *sv)
{
	size_t   i;
	unsigned live, left, opened, closing, started;

	for (;;) {
		int64_t now = ad_now_ms();

		pthread_mutex_lock(&sv->mtx);
		opened = closing = started = live = left = 0;
		for (i = 0; i < sv->nagents; i++) {
			struct ad_agent *a = sv->agents[i];

			if (!a->closing)
				opened++;
			else if (ad_agent_live(a) > 0)
				closing++;
		}
		for (i = 0; i < sv->nagents; i++) {
			struct ad_agent *a = sv->agents[i];

			if (!a->closing && !callers_live(sv, a)) {
				close_agent(a);
				started++;
			}
		}
		if (opened > 0 && started == 0 && closing == 0) {
			ad_info("agents call each other in a cycle: stopping "
			        "the rest together");
			for (i = 0; i < sv->nagents; i++) {
				if (!sv->agents[i]->closing)
					close_agent(sv->agents[i]);
			}
		}
		for (i = 0; i < sv->nagents; i++) {
			struct ad_agent    *a = sv->agents[i];
			struct ad_instance *inst;

			LIST_FOREACH(inst, &a->instances, link) {
				ad_instance_tick(inst, now);
				left++;
			}
			live += ad_agent_live(a);
		}
		pthread_mutex_unlock(&sv->mtx);
		/* Every agent closed (now or before), and no instance left. */
		if (left == 0 && (opened == started || closing + opened == 0))
			break;
		/* A turn of the stop: WATCHDOG=1 still goes while it moves
		 * (a drain may take longer than WatchdogSec). */
		ad_loopwatch_turned(&sv->loop);
		if (ad_sd_watchdog_usec() > 0 && now >= sv->sd_watchdog_next) {
			ad_sd_notify("WATCHDOG=1");
			sv->sd_watchdog_next
			    = now + (int64_t)(ad_sd_watchdog_usec() / 2000);
		}
		ad_loopwatch_step(&sv->loop,
		    "stop: waiting for %u instance(s) to exit, %u to be freed",
		    live, left - live);
		usleep(20 * 1000);
		reap(sv);
		collect_exited(sv);
	}
}

/*
 * Close nothing while a peer may still be sending: refuse new connections
 * to the sockets counted in c, and wait until those they have are gone,
 * at most AD_CONNS_WAIT_MS (then say so: they are closed anyway).  what
 * names them for the log.  Main loop, without sv->mtx.
 */
static void
wait_conns(struct ad_sv *sv, struct ad_conns *c, const char *what)
{
	int64_t  end = ad_now_ms() + AD_CONNS_WAIT_MS;
	unsigned live;

	pthread_mutex_lock(&sv->mtx);
	c->refusing = 1;
	while ((live = c->live) > 0 && ad_now_ms() < end) {
		pthread_mutex_unlock(&sv->mtx);
		ad_loopwatch_step(&sv->loop,
		    "stop: waiting for %u connection(s) to %s to go", live,
		    what);
		usleep(20 * 1000);
		pthread_mutex_lock(&sv->mtx);
	}
	pthread_mutex_unlock(&sv->mtx);
	if (live > 0)
		ad_warn("stop: %u connection(s) to %s still open after %d ms: "
		        "closing anyway",
		    live, what, AD_CONNS_WAIT_MS);
}

static void
audit_last(struct ad_sv *sv)
{
	struct ad_audit_rec r;
	int                 rv;

	memset(&r, 0, sizeof(r));
	r.kind    = "agentd.stop";
	r.summary = "agentd stopped";
	if ((rv = ad_audit_append_sync(sv->audit, &r, NULL)) != 0)
		ad_error("audit: record \"agentd.stop\" not written: %s",
		    agentd_strerror(rv));
}

void
ad_sv_stop(struct ad_sv *sv)
{
	struct ad_req *r;
	size_t         i;

	pthread_mutex_lock(&sv->mtx);
	sv->stopping = 1;
	ad_reload_abort(sv);
	pthread_mutex_unlock(&sv->mtx);
	ad_sv_write_records(sv);
	stop_agents(sv);
	/* Every worker is gone: so will its connections be, soon. */
	wait_conns(sv, &sv->worker_conns, "calls.sock and publish.sock");
	ad_loopwatch_step(&sv->loop, "stop: waiting for audit appends");
	pthread_mutex_lock(&sv->mtx);
	while (sv->appending > 0)
		pthread_cond_wait(&sv->appended, &sv->mtx);
	for (i = 0; i < sv->nagents; i++) {
		struct ad_agent *a = sv->agents[i];

		while ((r = TAILQ_FIRST(&a->queue)) != NULL) {
			TAILQ_REMOVE(&a->queue, r, link);
			a->nqueued--;
			ad_req_finish(r, AGENTD_ECLOSED, NULL, 0);
		}
	}
	pthread_mutex_unlock(&sv->mtx);
	/* Records are written in order: once the last one is committed,
	 * every plugin record before it has been answered, so no audit
	 * callback can reach a server context freed below. */
	ad_loopwatch_step(&sv->loop, "stop: the last audit record");
	if (sv->running)
		audit_last(sv);
	ad_loopwatch_step(&sv->loop, "stop: the HTTP server");
	ad_http_stop(sv);
	/* agentctl leaves once answered; tail.sock's readers send nothing,
	 * so their connections may stay. */
	wait_conns(sv, &sv->operator_conns, "control.sock");
	ad_loopwatch_step(&sv->loop, "stop: closing the control sockets");
	ad_control_stop(sv);
	ad_loopwatch_step(&sv->loop, "stop: closing the event sockets");
	ad_hub_stop(sv);
	if (sv->running)
		ad_info("stopped");
}

void
ad_sv_free(struct ad_sv *sv)
{
	ad_sv_write_records(sv);
	ad_watch_close(sv->watch);
	/* The audit writer drains its queue before the store closes. */
	if (sv->audit != NULL)
		ad_audit_close(sv->audit);
	ad_gate_close(sv); /* after the audit writer's last callbacks */
	ad_tokens_close(sv);
	if (sv->state != NULL)
		ad_state_close(sv->state);
	if (sv->store != NULL)
		ad_store_close(sv->store);
	if (sv->cfg != NULL)
		ad_config_free(sv->cfg);
	for (size_t i = 0; i < sv->nagents; i++)
		ad_agent_free(sv->agents[i]);
	free(sv->agents);
	ad_chan_defer_free(&sv->chan_defer);
	for (size_t i = 0; i < sv->nschemas; i++)
		ad_schema_free(sv->schemas[i].schema);
	free(sv->schemas);
	free(sv->pipes);
	free(sv->confdir);
	free(sv->plugin_dir);
	free(sv->state_dir);
	free(sv->archive_dir);
	free(sv->run_dir);
	free(sv->worker_path);
	if (sv->run_lock >= 0)
		close(sv->run_lock);
	if (sv->state_lock >= 0)
		close(sv->state_lock);
	pthread_cond_destroy(&sv->spawned);
	pthread_cond_destroy(&sv->appended);
	pthread_mutex_destroy(&sv->mtx);
	ad_loopwatch_fini(&sv->loop);
}
