/*
 * agentd-worker - hosts one instance of one agent's plugin.
 *
 *   agentd-worker --describe PLUGIN
 *   agentd-worker --plugin PATH --agent NAME --instance ID --run-dir DIR
 *                 [--uid N --gid N] [--network] [--read PATH]...
 *                 [--write PATH]... [--exec PROGRAM]...
 *                 [--http-allow PATTERN]...
 *                 [--http-max-concurrent N] [--http-max-response BYTES]
 *                 [--http-timeout-ms MS] [--http-ca-file PATH]
 *
 * Started by agentd with posix_spawn, never by hand in production.  It loads
 * the plugin, dials the supervisor's sockets (see worker/host.h), waits for
 * "init" with the agent's settings, calls the plugin's init, and serves
 * until told to stop or until the supervisor goes away.  Plugin code runs
 * only on the main thread (worker/loop.h), and only once the worker has
 * taken its own rights away (worker/sandbox.h, doc/security.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/crash.h"
#include "common/log.h"
#include "common/nngx.h"
#include "common/priority.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "plugin/loader.h"
#include "worker/fdtimer.h"
#include "worker/host.h"
#include "worker/outcomes.h"
#include "worker/http.h"
#include "worker/sandbox.h"

/* Exit codes agentd reads (doc/architecture.md). */
enum {
	EXIT_USAGE  = 64,
	EXIT_PLUGIN = 65, /* the plugin was refused or its init failed */
	EXIT_BUS    = 66, /* could not reach the supervisor */
};

struct worker_opts {
	const char *describe;
	const char *plugin;
	const char *agent;
	const char *instance;
	const char *run_dir;
	size_t      max_message;
	int64_t     heartbeat_ms;
	int         log_level;
	/* --background: agentd spawned it under SCHED_IDLE (priority.h). */
	int background;
	/* --uid, --gid, --network, --read, --write, --exec */
	struct ad_sandbox sandbox;
	/* --http-*: the agent's http { } (worker/http.h) */
	struct ad_whttp_opts http;
};

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	stop_requested = 1;
}

/*
 * agentd's connection is gone (it stopped or died).  The loop stops, and
 * a host call the plugin is blocked in fails now with ECLOSED instead of
 * waiting out its timeout: nng's REQ would keep it for a new connection
 * that never comes.
 */
static void
on_pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct agentd_ctx *ctx = arg;

	ad_wloop_lost(&ctx->loop);
	if (ctx->sync_aio != NULL)
		nng_aio_cancel(ctx->sync_aio);
}

/* The calls connection alone: a host call under way fails (ECLOSED); the
 * socket dials again, and the instance goes on unless agentd is gone. */
static void
on_calls_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct agentd_ctx *ctx = arg;

	if (ctx->sync_aio != NULL)
		nng_aio_cancel(ctx->sync_aio);
}

/* Plugin code starts or stops running on the main thread. */
static void
plugin_enter(struct agentd_ctx *ctx)
{
	atomic_store(&ctx->busy_since_ms, ad_now_ms());
}

static void
plugin_leave(struct agentd_ctx *ctx)
{
	atomic_store(&ctx->busy_since_ms, 0);
}

/*
 * Heartbeats: a thread of their own reports every heartbeat_ms on the
 * publish socket, with how long the plugin's current callback has been
 * running.  agentd declares the instance hung when the reports stop (the
 * process is frozen or its sockets wedged) or when one callback runs
 * longer than the agent's health { hung_after }.
 */
struct heartbeat {
	struct agentd_ctx *ctx;
	int64_t            every_ms;
	pthread_t          thread;
	pthread_mutex_t    mtx;
	pthread_cond_t     cond;
	int                stop;
};

static void
beat(struct heartbeat *hb, nng_aio *aio)
{
	struct agentd_ctx *ctx           = hb->ctx;
	int64_t            busy_since_ms = atomic_load(&ctx->busy_since_ms);
	struct ad_envelope e;
	agentd_writer     *w;
	nng_msg           *msg;
	size_t             len;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "busy_ms");
	agentd_write_int(
	    w, busy_since_ms != 0 ? ad_now_ms() - busy_since_ms : 0);
	agentd_write_str(w, "handled");
	agentd_write_uint(w, atomic_load(&ctx->handled));
	memset(&e, 0, sizeof(e));
	e.kind = AD_KIND_CONTROL;
	snprintf(e.dst, sizeof(e.dst), "heartbeat");
	e.body     = agentd_writer_data(w, &len);
	e.body_len = len;
	if (ad_envelope_to_msg(&e, &msg) == 0) {
		/* Waits behind events the hub has not taken yet, at most one
		 * period: a late report is better than none. */
		nng_aio_set_msg(aio, msg);
		nng_aio_set_timeout(aio, (nng_duration)hb->every_ms);
		nng_send_aio(ctx->evout, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			nng_msg_free(nng_aio_get_msg(aio));
	}
	agentd_writer_free(w);
}

static void *
heartbeat_main(void *arg)
{
	struct heartbeat *hb = arg;
	struct timespec   until;
	nng_aio          *aio;

	if (nng_aio_alloc(&aio, NULL, NULL) != 0)
		return NULL;
	pthread_mutex_lock(&hb->mtx);
	while (!hb->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += hb->every_ms / 1000;
		until.tv_nsec += (hb->every_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!hb->stop
		    && pthread_cond_timedwait(&hb->cond, &hb->mtx, &until)
		        == 0)
			;
		if (hb->stop)
			break;
		pthread_mutex_unlock(&hb->mtx);
		beat(hb, aio);
		pthread_mutex_lock(&hb->mtx);
	}
	pthread_mutex_unlock(&hb->mtx);
	nng_aio_free(aio);
	return NULL;
}

static int
heartbeat_start(struct heartbeat *hb, struct agentd_ctx *ctx, int64_t ms)
{
	pthread_condattr_t ca;

	hb->ctx      = ctx;
	hb->every_ms = ms;
	hb->stop     = 0;
	pthread_mutex_init(&hb->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->cond, &ca);
	pthread_condattr_destroy(&ca);
	return pthread_create(&hb->thread, NULL, heartbeat_main, hb);
}

static void
heartbeat_stop(struct heartbeat *hb)
{
	pthread_mutex_lock(&hb->mtx);
	hb->stop = 1;
	pthread_cond_signal(&hb->cond);
	pthread_mutex_unlock(&hb->mtx);
	pthread_join(hb->thread, NULL);
	pthread_cond_destroy(&hb->cond);
	pthread_mutex_destroy(&hb->mtx);
}

static void
usage(FILE *f)
{
	fputs("usage: agentd-worker --describe PLUGIN\n"
	      "       agentd-worker --plugin PATH --agent NAME --instance ID "
	      "--run-dir DIR\n"
	      "                     [--max-message-size BYTES] "
	      "[--heartbeat-ms MS] [--log-level LEVEL]\n"
	      "                     [--background] [--uid N --gid N] "
	      "[--network]\n"
	      "                     [--read PATH]... [--write PATH]... "
	      "[--exec PROGRAM]...\n"
	      "                     [--http-allow PATTERN]... "
	      "[--http-max-concurrent N]\n"
	      "                     [--http-max-response BYTES] "
	      "[--http-timeout-ms MS] [--http-ca-file PATH]\n"
	      "       agentd-worker --version | --help\n"
	      "Hosts one agent instance for agentd; started by agentd.\n",
	    f);
}

static void
add_path(char ***v, size_t *n, char *path)
{
	*v           = ad_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = path;
}

static int
parse_args(int argc, char **argv, struct worker_opts *o)
{
	static const struct option longopts[] = {
		{ "describe", required_argument, NULL, 'd' },
		{ "plugin", required_argument, NULL, 'p' },
		{ "agent", required_argument, NULL, 'a' },
		{ "instance", required_argument, NULL, 'i' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "max-message-size", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "heartbeat-ms", required_argument, NULL, 'b' },
		{ "background", no_argument, NULL, 'g' },
		{ "uid", required_argument, NULL, 'U' },
		{ "gid", required_argument, NULL, 'G' },
		{ "network", no_argument, NULL, 'n' },
		{ "read", required_argument, NULL, 'R' },
		{ "write", required_argument, NULL, 'W' },
		{ "exec", required_argument, NULL, 'X' },
		{ "http-allow", required_argument, NULL, 'A' },
		{ "http-max-concurrent", required_argument, NULL, 'C' },
		{ "http-max-response", required_argument, NULL, 'S' },
		{ "http-timeout-ms", required_argument, NULL, 'T' },
		{ "http-ca-file", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->max_message         = 1024 * 1024;
	o->heartbeat_ms        = 1000;
	o->log_level           = AGENTD_LOG_INFO;
	o->http.max_concurrent = AD_WHTTP_MAX_CONCURRENT;
	o->http.max_response   = AD_WHTTP_MAX_RESPONSE;
	o->http.timeout_ms     = AD_WHTTP_TIMEOUT_MS;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->describe = optarg;
			break;
		case 'p':
			o->plugin = optarg;
			break;
		case 'a':
			o->agent = optarg;
			break;
		case 'i':
			o->instance = optarg;
			break;
		case 'r':
			o->run_dir = optarg;
			break;
		case 'm':
			o->max_message = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			o->heartbeat_ms = strtoll(optarg, NULL, 10);
			break;
		case 'g':
			o->background = 1;
			break;
		case 'U':
			o->sandbox.uid = (uid_t)strtoul(optarg, NULL, 10);
			o->sandbox.switch_ids = 1;
			break;
		case 'G':
			o->sandbox.gid = (gid_t)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o->sandbox.network = 1;
			break;
		case 'R':
			add_path(&o->sandbox.read, &o->sandbox.nread, optarg);
			break;
		case 'W':
			add_path(
			    &o->sandbox.write, &o->sandbox.nwrite, optarg);
			break;
		case 'X':
			add_path(&o->sandbox.exec, &o->sandbox.nexec, optarg);
			break;
		case 'A':
			add_path(&o->http.allow, &o->http.nallow, optarg);
			break;
		case 'C':
			o->http.max_concurrent
			    = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			o->http.max_response = strtoul(optarg, NULL, 10);
			break;
		case 'T':
			o->http.timeout_ms
			    = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'F':
			o->http.ca_file = optarg;
			break;
		case 'l':
			if ((o->log_level = ad_log_parse_level(optarg)) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("agentd-worker %s (plugin ABI %d.%d)\n",
			    PACKAGE_VERSION, AGENTD_ABI_MAJOR,
			    AGENTD_ABI_MINOR);
			exit(0);
		default:
			return -1;
		}
	}
	if (o->describe != NULL)
		return 0;
	if (o->plugin == NULL || o->agent == NULL || o->instance == NULL
	    || o->run_dir == NULL || o->max_message < 1024
	    || o->heartbeat_ms <= 0 || o->http.max_concurrent == 0
	    || o->http.timeout_ms == 0)
		return -1;
	/* Outbound HTTP needs Internet sockets and the resolver's files
	 * (sandbox.c); nothing of it without an allow-list. */
	o->sandbox.http         = o->http.nallow > 0;
	o->sandbox.http_ca_file = o->http.nallow > 0 ? o->http.ca_file : NULL;
	return 0;
}

/*
 * Describing runs the plugin's code too (its constructors, at dlopen), so
 * it runs inside the same sandbox as an instance, with nothing granted:
 * no network, no path but the plugin file and the system's libraries, no
 * socket.  As root (or with CAP_SETUID and CAP_SETGID) it first becomes
 * the default plugin user, or nobody where there is none: agentd
 * describes a plugin before it knows which agents will run it.
 */
static int
describe_contain(const char *path, int *fd, char *err, size_t errlen)
{
	struct ad_sandbox sb;
	struct passwd    *pw;

	memset(&sb, 0, sizeof(sb));
	if ((sb.plugin_fd = *fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		ad_seterr(err, errlen, "cannot load plugin: %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (ad_may_switch_users()) {
		if ((pw = getpwnam(AD_DESCRIBE_USER)) == NULL
		    && (pw = getpwnam("nobody")) == NULL) {
			ad_seterr(err, errlen,
			    "neither %s nor nobody exists to describe plugins "
			    "as: create %s (adduser --system --group %s)",
			    AD_DESCRIBE_USER, AD_DESCRIBE_USER,
			    AD_DESCRIBE_USER);
			return -1;
		}
		sb.switch_ids = 1;
		sb.uid        = pw->pw_uid;
		sb.gid        = pw->pw_gid;
	}
	if (ad_sandbox_ids_begin(&sb, err, errlen) != 0
	    || ad_sandbox_fs(&sb, err, errlen) != 0
	    || ad_sandbox_ids_finish(&sb, err, errlen) != 0
	    || ad_sandbox_syscalls(&sb, err, errlen) != 0)
		return -1;
	return 0;
}

static int
describe(const char *path)
{
	struct ad_plugin *p;
	char              err[AD_ERRLEN], fdpath[64];
	char             *json;
	int               fd = -1;

	if (describe_contain(path, &fd, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_PLUGIN;
	}
	/* Through the descriptor: the plugin user may not reach the path. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (ad_plugin_open_from(path, fdpath, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_PLUGIN;
	}
	json = ad_plugin_describe_json(p);
	printf("%s\n", json);
	free(json);
	ad_plugin_close(p);
	return 0;
}

/* How long a dial waits for a busy agentd to accept. */
#define DIAL_WAIT_MS 30000

static int
dial(nng_socket s, const char *run_dir, const char *name)
{
	char   *url      = ad_xasprintf("ipc://%s/%s", run_dir, name);
	int64_t until_ms = ad_now_ms() + DIAL_WAIT_MS;
	int     rv;

	/* The listener's backlog is full, or agentd is slow to accept: many
	 * instances are starting at once.  Dial again from here, not in
	 * nng's background: once the sandbox is on, this process can open
	 * no socket, so every connection is made now or never. */
	while ((rv = nng_dial(s, url, NULL, 0)) == NNG_EAGAIN
	    || rv == NNG_ETIMEDOUT || rv == NNG_ECONNREFUSED) {
		if (ad_now_ms() >= until_ms)
			break;
		usleep(20 * 1000);
	}
	if (rv != 0)
		ad_error("cannot connect to agentd at %s: %s", url,
		    nng_strerror(rv));
	free(url);
	return rv;
}

static int
connect_bus(struct agentd_ctx *ctx, const struct worker_opts *o)
{
	char *own   = ad_xasprintf("%s.sock", o->instance);
	char *evown = ad_xasprintf("%s-ev.sock", o->instance);
	int   rv;

	ctx->max_message = o->max_message;
	if ((rv = nng_pair0_open(&ctx->rep)) != 0
	    || (rv = nng_req0_open(&ctx->calls)) != 0
	    || (rv = nng_pull0_open(&ctx->evin)) != 0
	    || (rv = nng_push0_open(&ctx->evout)) != 0
	    /* Sends wait while agentd reads what went before; the bound
	     * only keeps a worker whose agentd is gone from waiting
	     * forever (pair sends wait for a peer). */
	    || (rv = nng_socket_set_ms(ctx->rep, NNG_OPT_SENDTIMEO, 30000))
	        != 0
	    || (rv = nng_socket_set_int(ctx->rep, NNG_OPT_SENDBUF, 64)) != 0
	    || (rv = nng_socket_set_int(ctx->rep, NNG_OPT_RECVBUF, 64)) != 0
	    || (rv = nng_socket_set_size(ctx->rep, NNG_OPT_RECVMAXSZ,
	            ad_transport_cap(o->max_message)))
	        != 0
	    || (rv = nng_socket_set_size(ctx->calls, NNG_OPT_RECVMAXSZ,
	            ad_transport_cap(o->max_message)))
	        != 0
	    || (rv = nng_socket_set_size(ctx->evin, NNG_OPT_RECVMAXSZ,
	            ad_transport_cap(o->max_message)))
	        != 0
	    ||
	    /* Never resend a call on our own: it could run twice. */
	    (rv = nng_socket_set_ms(
	         ctx->calls, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        != 0
	    || (rv = nng_pipe_notify(
	            ctx->rep, NNG_PIPE_EV_REM_POST, on_pipe_removed, ctx))
	        != 0
	    || (rv = nng_pipe_notify(
	            ctx->calls, NNG_PIPE_EV_REM_POST, on_calls_removed, ctx))
	        != 0
	    || (rv = nng_ctx_open(&ctx->sync_ctx, ctx->calls)) != 0
	    || (rv = nng_aio_alloc(&ctx->sync_aio, NULL, NULL)) != 0
	    || (rv = nng_socket_get_int(
	            ctx->rep, NNG_OPT_RECVFD, &ctx->rep_fd))
	        != 0
	    || (rv = nng_socket_get_int(
	            ctx->evin, NNG_OPT_RECVFD, &ctx->evin_fd))
	        != 0) {
		ad_error("%s/%s: cannot open sockets: %s", o->agent,
		    o->instance, nng_strerror(rv));
		rv = -1;
	} else if (dial(ctx->rep, o->run_dir, own) != 0
	    || dial(ctx->evin, o->run_dir, evown) != 0
	    || dial(ctx->calls, o->run_dir, "calls.sock") != 0
	    || dial(ctx->evout, o->run_dir, "publish.sock") != 0) {
		rv = -1;
	}
	free(own);
	free(evown);
	return rv;
}

static void
close_bus(struct agentd_ctx *ctx)
{
	nng_close(ctx->rep);
	nng_close(ctx->evin);
	nng_close(ctx->calls);
	nng_close(ctx->evout);
	if (ctx->sync_aio != NULL)
		nng_aio_free(ctx->sync_aio);
}

static void
reply_control(struct agentd_ctx *ctx, const struct ad_envelope *e, int status,
    const char *error)
{
	struct ad_envelope r;
	agentd_writer     *w;
	const void        *body;
	size_t             len;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "pid");
	agentd_write_int(w, getpid());
	agentd_write_str(w, "version");
	agentd_write_str(w, ctx->desc->version);
	agentd_write_str(w, "error");
	agentd_write_str(w, error ? error : "");
	body = agentd_writer_data(w, &len);
	ad_envelope_reply(&r, e->id, e->src, status, body, len);
	ad_host_out(ctx, &r);
	agentd_writer_free(w);
}

/* "init": settings in, plugin init called, ready (or why not) out. */
static int
handle_init(struct agentd_ctx *ctx, const struct ad_envelope *e)
{
	agentd_doc *doc            = NULL;
	char        err[AD_ERRLEN] = "";
	char        prior[64]      = "";
	int         rv;

	if (ctx->initialized) {
		reply_control(ctx, e, AGENTD_EINVAL, "already initialized");
		return 0;
	}
	/* Started in the background; the plugin's init is real work. */
	if (ctx->background) {
		ctx->background = 0;
		if (ad_prio_set_all(0) != 0)
			ad_warn("%s/%s: cannot leave SCHED_IDLE for init: %s",
			    ctx->agent, ctx->instance, strerror(errno));
		else
			ad_debug("%s/%s: started under SCHED_IDLE, back to "
			         "SCHED_OTHER for init",
			    ctx->agent, ctx->instance);
	}
	rv = agentd_parse(e->body, e->body_len, &doc);
	if (rv == 0) {
		rv = ad_host_load_init(
		    ctx, agentd_doc_root(doc), err, sizeof(err));
		/* This generation replaces one running that version. */
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "previous_version"),
		    prior, sizeof(prior));
	}
	agentd_doc_free(doc);
	if (rv == 0 && ctx->desc->init != NULL) {
		rv = ctx->desc->init(ctx, &ad_host_table, &ctx->state);
		if (rv != 0)
			ad_seterr(err, sizeof(err),
			    "plugin init failed: %s (%d)", agentd_strerror(rv),
			    rv);
	}
	/* Plugins built for ABI 1.0 have no on_upgrade: the loader zeroed
	 * what their descriptor does not hold. */
	if (rv == 0 && prior[0] != '\0' && ctx->desc->on_upgrade != NULL) {
		rv = ctx->desc->on_upgrade(ctx->state, prior);
		if (rv != 0) {
			ad_seterr(err, sizeof(err),
			    "plugin on_upgrade from %s failed: %s (%d)", prior,
			    agentd_strerror(rv), rv);
			/* init succeeded: let the plugin free what it holds,
			 * its watches and timers ended first */
			ad_wfdt_close(ctx);
			if (ctx->desc->fini != NULL)
				ctx->desc->fini(ctx->state);
		}
	}
	if (rv != 0) {
		ad_error("%s/%s: %s", ctx->agent, ctx->instance, err);
		reply_control(ctx, e, AGENTD_EPLUGIN, err);
		return -1;
	}
	ctx->initialized = 1;
	reply_control(ctx, e, 0, NULL);
	ad_debug("%s/%s: ready", ctx->agent, ctx->instance);
	return 0;
}

/*
 * "decisions": the outcomes of this agent's proposals, each handed to
 * on_event in order; the answer tells agentd they were taken (it sends
 * them again elsewhere otherwise).
 */
static void
outcome_to_plugin(void *arg, const char *topic, const void *body, size_t len)
{
	struct agentd_ctx *ctx = arg;

	if (ctx->desc->on_event != NULL)
		ctx->desc->on_event(ctx->state, topic, body, len);
}

static void
handle_decisions(struct agentd_ctx *ctx, const struct ad_envelope *e)
{
	if (!ctx->initialized) {
		reply_control(ctx, e, AGENTD_EUNAVAIL, "not ready");
		return;
	}
	if (ad_outcomes_each(e->body, e->body_len, outcome_to_plugin, ctx)
	    != 0) {
		reply_control(ctx, e, AGENTD_EPROTO, "decisions: not a map");
		return;
	}
	reply_control(ctx, e, 0, NULL);
}

/* What the main loop does after an item. */
enum next_step {
	STEP_CONTINUE = 0,
	STEP_STOP,   /* told to stop: exit 0 */
	STEP_FAILED, /* init failed: exit EXIT_PLUGIN */
};

/* One envelope from the supervisor. */
static enum next_step
handle_envelope(struct agentd_ctx *ctx, const struct ad_envelope *e)
{
	enum next_step rv = STEP_CONTINUE;

	if (e->kind == AD_KIND_REPLY)
		ad_host_reply_in(ctx, e);
	else if (e->kind == AD_KIND_REQUEST && ctx->initialized)
		ad_host_request(ctx, e);
	else if (e->kind == AD_KIND_REQUEST)
		reply_control(ctx, e, AGENTD_EUNAVAIL, "not ready");
	else if (e->kind == AD_KIND_CONTROL && strcmp(e->dst, "init") == 0)
		rv = handle_init(ctx, e) == 0 ? STEP_CONTINUE : STEP_FAILED;
	else if (e->kind == AD_KIND_CONTROL
	    && strcmp(e->dst, "decisions") == 0)
		handle_decisions(ctx, e);
	else if (e->kind == AD_KIND_CONTROL && strcmp(e->dst, "ping") == 0)
		reply_control(ctx, e, 0, NULL);
	else if (e->kind == AD_KIND_CONTROL && strcmp(e->dst, "stop") == 0) {
		reply_control(ctx, e, 0, NULL);
		rv = STEP_STOP;
	} else
		reply_control(ctx, e, AGENTD_EINVAL, "unknown operation");
	return rv;
}

/* One message from the supervisor: envelopes, one after another. */
static enum next_step
handle_message(struct agentd_ctx *ctx, nng_msg *msg)
{
	const char        *p   = nng_msg_body(msg);
	size_t             len = nng_msg_len(msg), used;
	struct ad_envelope e;
	enum next_step     rv = STEP_CONTINUE;

	while (len > 0 && rv == STEP_CONTINUE) {
		if (ad_envelope_decode_prefix(
		        p, len, ctx->max_message, &e, &used)
		    != 0) {
			char note[AD_RATELIMIT_NOTE];

			if (ad_ratelimit(&ctx->bad_in_log, ad_now_ms(), note,
			        sizeof(note)))
				ad_warn("%s/%s: dropped a malformed message "
				        "from agentd%s",
				    ctx->agent, ctx->instance, note);
			break;
		}
		p += used;
		len -= used;
		plugin_enter(ctx);
		rv = handle_envelope(ctx, &e);
		plugin_leave(ctx);
		ad_host_flush(ctx);
	}
	nng_msg_free(msg);
	return rv;
}

/*
 * One round of work: finished asynchronous calls, then every request
 * waiting, then at most one batch of events.  Events are taken one batch
 * at a time, so a slow subscriber leaves the rest in agentd's bounded
 * queue (where drops are counted) instead of this process's memory.
 * Whatever the plugin published leaves after each callback.
 */
/* Run the callbacks of the calls on calls.sock that finished. */
static void
run_finished_calls(struct agentd_ctx *ctx)
{
	struct ad_witem *it;

	ad_wloop_ack(&ctx->loop);
	while ((it = ad_wloop_take(&ctx->loop)) != NULL) {
		plugin_enter(ctx);
		ad_host_call_done(ctx, it->call);
		plugin_leave(ctx);
		free(it);
		ad_host_flush(ctx);
	}
}

static enum next_step
work(struct agentd_ctx *ctx)
{
	nng_msg       *msg;
	enum next_step rv;

	run_finished_calls(ctx);
	while (nng_recvmsg(ctx->rep, &msg, NNG_FLAG_NONBLOCK) == 0) {
		if ((rv = handle_message(ctx, msg)) != STEP_CONTINUE) {
			ad_host_out_flush(ctx);
			return rv;
		}
	}
	if (nng_recvmsg(ctx->evin, &msg, NNG_FLAG_NONBLOCK) == 0) {
		plugin_enter(ctx);
		if (ctx->initialized)
			ad_host_events(ctx, msg);
		else
			nng_msg_free(msg);
		plugin_leave(ctx);
		ad_host_flush(ctx);
	}
	/* What this round answered and called leaves together. */
	ad_host_out_flush(ctx);
	return STEP_CONTINUE;
}

/*
 * Init failed and the answer saying why is queued: closing the socket now
 * could drop it (agentd would only see the connection go).  agentd kills
 * the worker once it has read the answer; wait for that, a while.
 */
#define LINGER_MS 2000

static void
linger(struct agentd_ctx *ctx)
{
	int64_t until_ms = ad_now_ms() + LINGER_MS;

	while (!stop_requested && !ad_wloop_is_lost(&ctx->loop)
	    && ad_now_ms() < until_ms)
		usleep(10 * 1000);
}

static int
serve(struct agentd_ctx *ctx)
{
	/* The worker's three, then the plugin's own (fdtimer.h). */
	struct pollfd base[3 + AGENTD_WATCH_MAX] = {
		{ ctx->loop.efd, POLLIN, 0 },
		{ ctx->rep_fd, POLLIN, 0 },
		{ ctx->evin_fd, POLLIN, 0 },
	};
	struct pollfd *fds;
	size_t         nfds, nbase;
	int64_t        next_tick_ms = 0, wait_ms;
	int            ready;

	while (!stop_requested && !ctx->loop.lost) {
		if (ctx->initialized && ctx->desc->on_tick != NULL
		    && ctx->desc->tick_ms > 0 && ad_now_ms() >= next_tick_ms) {
			plugin_enter(ctx);
			ctx->desc->on_tick(ctx->state);
			plugin_leave(ctx);
			ad_host_flush(ctx);
			ad_host_out_flush(ctx);
			next_tick_ms = ad_now_ms() + ctx->desc->tick_ms;
		}
		if (ctx->acalls > 0) {
			plugin_enter(ctx);
			ad_host_calls_expire(ctx);
			plugin_leave(ctx);
			ad_host_flush(ctx);
			ad_host_out_flush(ctx);
		}
		/* Wake at least every 200 ms to notice SIGTERM. */
		wait_ms = 200;
		if (next_tick_ms > 0 && next_tick_ms - ad_now_ms() < wait_ms)
			wait_ms = next_tick_ms - ad_now_ms();
		/* With the plugin's descriptors and timers (fdtimer.h), and
		 * the sockets and timer of outbound HTTP (http.h), which come
		 * after base[0..nbase) in fds. */
		nbase = 3
		    + ad_wfdt_poll(ctx, base + 3, AGENTD_WATCH_MAX, &wait_ms);
		fds   = ad_whttp_poll(ctx, base, nbase, &nfds, &wait_ms);
		ready = poll(fds, nfds, wait_ms > 0 ? (int)wait_ms : 0);
		ad_whttp_run(ctx, fds, ready > 0 ? nfds : nbase, nbase);
		ad_wfdt_run(ctx, fds + 3, ready > 0 ? nbase - 3 : 0);
		if (ready <= 0)
			continue;
		switch (work(ctx)) {
		case STEP_CONTINUE:
			break;
		case STEP_STOP:
			return 0;
		case STEP_FAILED:
			linger(ctx);
			return EXIT_PLUGIN;
		}
	}
	return 0;
}

/*
 * Stopping: send every audit_async record and propose_async proposal
 * still queued and run the callbacks of those on their way before fini,
 * so a plugin hears what became of each: their outcome if agentd answers
 * (within SETTLE_MS, and not once agentd is gone), AGENTD_ECLOSED if
 * not.
 */
#define SETTLE_MS 5000
#define SETTLE_CANCEL_MS 1000

static void
settle_flush(struct agentd_ctx *ctx)
{
	ad_host_audit_flush(ctx, 1);
	ad_host_propose_flush(ctx, 1);
	ad_host_sbatch_flush(ctx, 1);
}

static void
settle(struct agentd_ctx *ctx)
{
	int64_t until_ms = ad_now_ms() + SETTLE_MS;

	settle_flush(ctx);
	while ((ctx->audit_in_flight > 0 || ctx->propose_in_flight > 0
	           || ctx->sbatch_in_flight > 0)
	    && !ctx->loop.lost && ad_now_ms() < until_ms) {
		struct pollfd pfd = { ctx->loop.efd, POLLIN, 0 };

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		run_finished_calls(ctx);
		ad_host_out_flush(ctx);
		settle_flush(ctx);
	}
	/* agentd is gone or too slow: what is still on its way is given up,
	 * its callbacks told AGENTD_ECLOSED (the record may or may not be in
	 * the trail, the proposal may or may not be a decision), so that
	 * the plugin hears of every one before fini. */
	until_ms = ad_now_ms() + SETTLE_CANCEL_MS;
	while ((ctx->audit_outstanding > 0 || ctx->propose_outstanding > 0
	           || ctx->sbatch_outstanding > 0)
	    && ad_now_ms() < until_ms) {
		struct pollfd pfd = { ctx->loop.efd, POLLIN, 0 };

		settle_flush(ctx);
		ad_host_calls_cancel(ctx);
		if (poll(&pfd, 1, 10) > 0)
			run_finished_calls(ctx);
	}
}

/* After the sockets closed: what is left in the loop is not run. */
static void
drain(struct agentd_ctx *ctx)
{
	struct ad_witem *it;

	while ((it = ad_wloop_take(&ctx->loop)) != NULL) {
		ad_host_call_drop(ctx, it->call);
		free(it);
	}
}

/*
 * Before any plugin code: the plugin file opened, the worker's identity,
 * files, bus and system calls narrowed in the order sandbox.h gives.  A
 * bus that cannot be reached is not a sandbox failure: *bus_failed
 * says so, and the worker exits with EXIT_BUS once the plugin is loaded.
 */
static int
contain(struct agentd_ctx *ctx, struct worker_opts *o, int *bus_failed,
    char *err, size_t errlen)
{
	pid_t parent = getppid();

	if ((o->sandbox.plugin_fd = open(o->plugin, O_RDONLY | O_CLOEXEC))
	    < 0) {
		ad_seterr(err, errlen, "cannot open %s: %s", o->plugin,
		    strerror(errno));
		return -1;
	}
	if (ad_sandbox_ids_begin(&o->sandbox, err, errlen) != 0
	    || ad_sandbox_fs(&o->sandbox, err, errlen) != 0)
		return -1;
	*bus_failed = connect_bus(ctx, o) != 0;
	if (ad_sandbox_ids_finish(&o->sandbox, err, errlen) != 0
	    || ad_sandbox_syscalls(&o->sandbox, err, errlen) != 0)
		return -1;
	/* A change of credentials clears the parent-death signal. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent) {
		ad_seterr(err, errlen, "agentd is gone");
		return -1;
	}
	return 0;
}

/* What a crash report starts and ends with (crash.h keeps pointers). */
static char crash_name[2 * AGENTD_NAME_MAX + 32];
static char crash_line[PATH_MAX + 128];

int
main(int argc, char **argv)
{
	struct worker_opts o;
	struct agentd_ctx  ctx;
	struct heartbeat   hb;
	struct ad_plugin  *plugin;
	struct sigaction   sa;
	char               err[AD_ERRLEN], fdpath[64];
	int                rv, background, bus_failed = 0;

	memset(&o, 0, sizeof(o));
	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	ad_log_init("agentd-worker", o.log_level);
	if (o.describe != NULL)
		return describe(o.describe);

	/* Leave with the supervisor even if it dies without a word. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* Start in the background, if the way back is allowed: loading the
	 * plugin, nng's threads and dialing take CPU from the instances
	 * serving requests (priority.h).  Threads started from here on
	 * inherit it.  With --background, agentd spawned it so: it comes
	 * back at init, or says why not. */
	if (o.background)
		background = sched_getscheduler(0) == SCHED_IDLE;
	else
		background = ad_prio_may_background_uncapped()
		    && ad_prio_set_all(1) == 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A plugin's crash tells its stack, in agentd's log (crash.h). */
	snprintf(crash_name, sizeof(crash_name), "agentd-worker %s/%s",
	    o.agent, o.instance);
	ad_crash_install(crash_name);

	memset(&ctx, 0, sizeof(ctx));
	LIST_INIT(&ctx.requests);
	if (ad_wloop_init(&ctx.loop) != 0) {
		ad_error(
		    "%s/%s: cannot create an eventfd", o.agent, o.instance);
		return EXIT_BUS;
	}
	agentd_writer_new(&ctx.batch);
	agentd_writer_new(&ctx.audits);
	ctx.background = background;
	snprintf(ctx.agent, sizeof(ctx.agent), "%s", o.agent);
	snprintf(ctx.instance, sizeof(ctx.instance), "%s", o.instance);
	/* libcurl's global init, before any thread and the sandbox. */
	if (ad_whttp_init(&ctx, &o.http, err, sizeof(err)) != 0) {
		ad_error("%s/%s: %s", o.agent, o.instance, err);
		return EXIT_PLUGIN;
	}
	if (contain(&ctx, &o, &bus_failed, err, sizeof(err)) != 0) {
		ad_error("%s/%s: %s", o.agent, o.instance, err);
		return EXIT_PLUGIN;
	}
	/* The bus is connected and the sandbox on: only now plugin code. */
	snprintf(
	    fdpath, sizeof(fdpath), "/proc/self/fd/%d", o.sandbox.plugin_fd);
	snprintf(crash_line, sizeof(crash_line),
	    "(%s in the stack is the plugin, loaded from %s)", fdpath,
	    o.plugin);
	ad_crash_note(crash_line);
	if (ad_plugin_open_from(o.plugin, fdpath, &plugin, err, sizeof(err))
	    != 0) {
		ad_error("%s/%s: %s", o.agent, o.instance, err);
		return EXIT_PLUGIN;
	}
	close(o.sandbox.plugin_fd);
	ctx.desc = &plugin->desc;
	if (bus_failed)
		rv = EXIT_BUS;
	else if (heartbeat_start(&hb, &ctx, o.heartbeat_ms) != 0) {
		ad_error("%s/%s: cannot start the heartbeat thread", o.agent,
		    o.instance);
		rv = EXIT_BUS;
	} else {
		rv = serve(&ctx);
		/* Before fini: each request outstanding hears ECLOSED, and
		 * what its callback records or proposes is settled below with
		 * the rest (agent.h: callbacks of records queued before fini
		 * run before fini). */
		ad_whttp_close(&ctx);
		/* Watches and timers end without a callback (agent.h). */
		ad_wfdt_close(&ctx);
		if (ctx.initialized)
			settle(&ctx);
		/* Reports go on through fini: it may take a while. */
		if (ctx.initialized && ctx.desc->fini != NULL) {
			plugin_enter(&ctx);
			ctx.desc->fini(ctx.state);
			plugin_leave(&ctx);
		}
		/* What is left is teardown: in the background again. */
		ad_prio_set_all(1);
		ad_host_flush(&ctx);
		ad_host_out_flush(&ctx);
		heartbeat_stop(&hb);
	}
	close_bus(&ctx);
	drain(&ctx);
	ad_host_requests_free(&ctx);
	ad_host_calls_free(&ctx);
	ad_wloop_fini(&ctx.loop);
	agentd_writer_free(ctx.batch);
	agentd_writer_free(ctx.audits);
	ad_host_proposals_free(&ctx);
	free(ctx.audit_cbs);
	ad_host_sbatch_free(&ctx);
	ad_host_free_init(&ctx);
	ad_whttp_free(&ctx);
	ad_plugin_close(plugin);
	nng_fini();
	free(o.sandbox.read);
	free(o.sandbox.write);
	free(o.sandbox.exec);
	free(o.http.allow);
	return rv;
}
