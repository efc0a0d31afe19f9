/*
 * agentd-worker - hosts one instance of one agent's plugin.
 *
 *   agentd-worker --describe PLUGIN
 *   agentd-worker --plugin PATH --agent NAME --instance ID --connect URL
 *
 * Started by agentd with posix_spawn, never by hand in production.  It loads
 * the plugin, dials the supervisor's per-instance socket (REP, raw, so one
 * thread can hold several requests and answer them in any order), waits
 * for "init" with the agent's settings, calls the plugin's init, and serves
 * until told to stop or until the supervisor goes away.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/util.h"
#include "plugin/loader.h"
#include "worker/host.h"

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
	const char *connect;
	size_t      max_message;
	int         log_level;
};

static volatile sig_atomic_t stop_requested;
static atomic_int            supervisor_lost;

static void
on_signal(int sig)
{
	stop_requested = 1;
}

static void
on_pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	atomic_store(&supervisor_lost, 1);
}

static void
usage(FILE *f)
{
	fputs("usage: agentd-worker --describe PLUGIN\n"
	      "       agentd-worker --plugin PATH --agent NAME --instance ID "
	      "--connect URL\n"
	      "                     [--max-message-size BYTES] "
	      "[--log-level LEVEL]\n"
	      "Hosts one agent instance for agentd; started by agentd.\n",
	    f);
}

static int
parse_args(int argc, char **argv, struct worker_opts *o)
{
	static const struct option longopts[] = {
		{ "describe", required_argument, NULL, 'd' },
		{ "plugin", required_argument, NULL, 'p' },
		{ "agent", required_argument, NULL, 'a' },
		{ "instance", required_argument, NULL, 'i' },
		{ "connect", required_argument, NULL, 'c' },
		{ "max-message-size", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->max_message = 1024 * 1024;
	o->log_level   = AGENTD_LOG_INFO;
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
		case 'c':
			o->connect = optarg;
			break;
		case 'm':
			o->max_message = strtoul(optarg, NULL, 10);
			break;
		case 'l':
			if ((o->log_level = ad_log_parse_level(optarg)) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (o->describe != NULL)
		return 0;
	if (o->plugin == NULL || o->agent == NULL || o->instance == NULL
	    || o->connect == NULL || o->max_message < 1024)
		return -1;
	return 0;
}

static int
describe(const char *path)
{
	struct ad_plugin *p;
	char              err[AD_ERRLEN];
	char             *json;

	if (ad_plugin_open(path, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_PLUGIN;
	}
	json = ad_plugin_describe_json(p);
	printf("%s\n", json);
	free(json);
	ad_plugin_close(p);
	return 0;
}

static int
connect_bus(struct agentd_ctx *ctx, const struct worker_opts *o)
{
	int rv;

	if ((rv = nng_rep0_open_raw(&ctx->sock)) != 0
	    || (rv = nng_socket_set_size(
	            ctx->sock, NNG_OPT_RECVMAXSZ, o->max_message))
	        != 0
	    || (rv = nng_socket_set_ms(ctx->sock, NNG_OPT_RECVTIMEO, 200)) != 0
	    || (rv = nng_pipe_notify(
	            ctx->sock, NNG_PIPE_EV_REM_POST, on_pipe_removed, NULL))
	        != 0
	    || (rv = nng_dial(ctx->sock, o->connect, NULL, 0)) != 0) {
		ad_error("%s/%s: cannot connect to agentd at %s: %s", o->agent,
		    o->instance, o->connect, nng_strerror(rv));
		return -1;
	}
	return 0;
}

static void
reply_control(struct agentd_ctx *ctx, nng_msg *req,
    const struct ad_envelope *e, int status, const char *error)
{
	agentd_writer *w;
	nng_msg       *msg;
	const void    *body;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "pid");
	agentd_write_int(w, getpid());
	agentd_write_str(w, "version");
	agentd_write_str(w, ctx->desc->version);
	agentd_write_str(w, "error");
	agentd_write_str(w, error ? error : "");
	body = agentd_writer_data(w, &len);
	if (ad_reply_msg(e, status, body, len, &msg) == 0) {
		nng_msg_header_append(
		    msg, nng_msg_header(req), nng_msg_header_len(req));
		if (nng_sendmsg(ctx->sock, msg, 0) != 0)
			nng_msg_free(msg);
	}
	agentd_writer_free(w);
}

/* "init": settings in, plugin init called, ready (or why not) out. */
static int
handle_init(struct agentd_ctx *ctx, nng_msg *msg, const struct ad_envelope *e)
{
	agentd_doc *doc            = NULL;
	char        err[AD_ERRLEN] = "";
	int         rv;

	if (ctx->initialized) {
		reply_control(
		    ctx, msg, e, AGENTD_EINVAL, "already initialized");
		return 0;
	}
	rv = agentd_parse(e->body, e->body_len, &doc);
	if (rv == 0)
		rv = ad_host_load_settings(ctx,
		    agentd_map_get(agentd_doc_root(doc), "settings"), err,
		    sizeof(err));
	agentd_doc_free(doc);
	if (rv == 0 && ctx->desc->init != NULL) {
		rv = ctx->desc->init(ctx, &ad_host_table, &ctx->state);
		if (rv != 0)
			ad_seterr(err, sizeof(err),
			    "plugin init failed: %s (%d)", agentd_strerror(rv),
			    rv);
	}
	if (rv != 0) {
		ad_error("%s/%s: %s", ctx->agent, ctx->instance, err);
		reply_control(ctx, msg, e, AGENTD_EPLUGIN, err);
		return -1;
	}
	ctx->initialized = 1;
	reply_control(ctx, msg, e, 0, NULL);
	ad_debug("%s/%s: ready", ctx->agent, ctx->instance);
	return 0;
}

/* One message from the supervisor; returns -1 when the worker must stop. */
static int
handle(struct agentd_ctx *ctx, nng_msg *msg, size_t max)
{
	struct ad_envelope e;
	int                rv = 0;

	if (ad_envelope_decode(nng_msg_body(msg), nng_msg_len(msg), max, &e)
	    != 0) {
		ad_warn("%s/%s: dropped a malformed message from agentd",
		    ctx->agent, ctx->instance);
		nng_msg_free(msg);
		return 0;
	}
	if (e.kind == AD_KIND_REQUEST && ctx->initialized) {
		if (ad_host_request(ctx, msg, &e) == 0)
			return 0;
		reply_control(ctx, msg, &e, AGENTD_ENOMEM, "out of memory");
	} else if (e.kind == AD_KIND_REQUEST) {
		reply_control(ctx, msg, &e, AGENTD_EUNAVAIL, "not ready");
	} else if (e.kind == AD_KIND_CONTROL && strcmp(e.dst, "init") == 0) {
		rv = handle_init(ctx, msg, &e);
	} else if (e.kind == AD_KIND_CONTROL && strcmp(e.dst, "ping") == 0) {
		reply_control(ctx, msg, &e, 0, NULL);
	} else if (e.kind == AD_KIND_CONTROL && strcmp(e.dst, "stop") == 0) {
		reply_control(ctx, msg, &e, 0, NULL);
		rv = -1;
	} else {
		reply_control(
		    ctx, msg, &e, AGENTD_EINVAL, "unknown operation");
	}
	nng_msg_free(msg);
	return rv;
}

static int
serve(struct agentd_ctx *ctx, const struct worker_opts *o)
{
	int64_t  next_tick = 0;
	nng_msg *msg;
	int      rv;

	while (!stop_requested && !atomic_load(&supervisor_lost)) {
		if (ctx->initialized && ctx->desc->on_tick != NULL
		    && ctx->desc->tick_ms > 0 && ad_now_ms() >= next_tick) {
			ctx->desc->on_tick(ctx->state);
			next_tick = ad_now_ms() + ctx->desc->tick_ms;
		}
		rv = nng_recvmsg(ctx->sock, &msg, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		if (handle(ctx, msg, o->max_message) != 0)
			return EXIT_PLUGIN;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct worker_opts o;
	struct agentd_ctx  ctx;
	struct ad_plugin  *plugin;
	struct sigaction   sa;
	char               err[AD_ERRLEN];
	int                rv;

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
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ad_plugin_open(o.plugin, &plugin, err, sizeof(err)) != 0) {
		ad_error("%s/%s: %s", o.agent, o.instance, err);
		return EXIT_PLUGIN;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.desc = &plugin->desc;
	snprintf(ctx.agent, sizeof(ctx.agent), "%s", o.agent);
	snprintf(ctx.instance, sizeof(ctx.instance), "%s", o.instance);
	if (connect_bus(&ctx, &o) != 0) {
		ad_plugin_close(plugin);
		return EXIT_BUS;
	}
	rv = serve(&ctx, &o);
	if (ctx.initialized && ctx.desc->fini != NULL)
		ctx.desc->fini(ctx.state);
	nng_close(ctx.sock);
	ad_host_free_settings(&ctx);
	ad_plugin_close(plugin);
	nng_fini();
	return rv;
}
