/*
 * vers - one source built as several versions of a plugin, for the reload
 * tests.  Makefile.am builds it with
 *   -DVERS_VERSION='"1.0"'   the descriptor's version (and the reply's)
 *   -DVERS_INITFAIL          init refuses to start (AGENTD_EINVAL)
 *   -DVERS_CRASH             abort() in the 3rd request of each instance
 * It answers every request with {"version": V, "pid": PID, "echo": BODY},
 * BODY embedded as it came.  With setting log = "FILE" it first appends
 * one line "PID VERSION[ BODY]" to FILE (BODY when it is a string), so a
 * test can tell a request handled twice; sleep_ms = N then takes N ms
 * before answering, so requests are in flight long enough to be caught
 * by a switch of generations.  Built for ABI 1.1 or later, its
 * on_upgrade() stores the previous version in state key "migrated_from";
 * with upgrade_fail = true it refuses instead, and fini logs
 * "PID VERSION fini" so a test can tell fini still ran.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#ifndef VERS_VERSION
#error "build with -DVERS_VERSION='\"1.0\"'"
#endif
#ifdef VERS_INITFAIL
#define VERS_INITFAIL_ 1
#else
#define VERS_INITFAIL_ 0
#endif
#ifdef VERS_CRASH
#define VERS_CRASH_ON 3
#else
#define VERS_CRASH_ON 0
#endif

static const struct agentd_setting vers_settings[] = {
	{ "log", AGENTD_SETTING_STRING, "", "append a line per request here" },
	{ "sleep_ms", AGENTD_SETTING_INT, "0", "ms taken per request" },
	{ "upgrade_fail", AGENTD_SETTING_BOOL, "false",
	    "on_upgrade refuses; fini logs a line" },
	{ NULL, 0, NULL, NULL },
};

struct vers {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	agentd_writer            *out;
	int                       log; /* -1: no log */
	int64_t                   sleep_ms;
	int                       upgrade_fail;
	long                      n;
};

static int
vers_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct vers *v;
	const char  *path = "";

	if (VERS_INITFAIL_) {
		host->log(ctx, AGENTD_LOG_WARN, "vers %s: refusing to start",
		    VERS_VERSION);
		return AGENTD_EINVAL;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return AGENTD_ENOMEM;
	v->ctx  = ctx;
	v->host = host;
	v->log  = -1;
	if (agentd_writer_new(&v->out) != 0) {
		free(v);
		return AGENTD_ENOMEM;
	}
	host->setting_int(ctx, "sleep_ms", &v->sleep_ms);
	host->setting_bool(ctx, "upgrade_fail", &v->upgrade_fail);
	host->setting_string(ctx, "log", &path);
	if (path[0] != '\0'
	    && (v->log = open(
	            path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644))
	        < 0) {
		host->log(ctx, AGENTD_LOG_ERROR, "vers: cannot open %s", path);
		agentd_writer_free(v->out);
		free(v);
		return AGENTD_EIO;
	}
	*state = v;
	return 0;
}

/* One write() of the whole line: with O_APPEND, lines never interleave. */
static void
vers_log(struct vers *v, const void *body, size_t len)
{
	agentd_doc *doc  = NULL;
	const char *s    = NULL;
	size_t      slen = 0;
	char        line[512];
	int         n;

	if (v->log < 0)
		return;
	if (len > 0 && agentd_parse(body, len, &doc) == 0)
		agentd_get_str(agentd_doc_root(doc), &s, &slen);
	if (s != NULL)
		n = snprintf(line, sizeof(line), "%ld %s %.*s\n",
		    (long)getpid(), VERS_VERSION,
		    (int)(slen < 400 ? slen : 400), s);
	else
		n = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(),
		    VERS_VERSION);
	agentd_doc_free(doc);
	if (n > 0 && write(v->log, line, (size_t)n) != n)
		v->host->log(
		    v->ctx, AGENTD_LOG_ERROR, "vers: log write failed");
}

static int
vers_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct vers *v = state;
	const void  *out;
	size_t       outlen;
	int          rv;

	v->n++;
	if (v->n == VERS_CRASH_ON)
		abort();
	vers_log(v, body, len);
	if (v->sleep_ms > 0) {
		struct timespec ts = { (time_t)(v->sleep_ms / 1000),
			(long)(v->sleep_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) != 0)
			;
	}
	agentd_writer_reset(v->out);
	agentd_write_map(v->out, 3);
	agentd_write_str(v->out, "version");
	agentd_write_str(v->out, VERS_VERSION);
	agentd_write_str(v->out, "pid");
	agentd_write_int(v->out, (int64_t)getpid());
	agentd_write_str(v->out, "echo");
	if (len > 0)
		rv = agentd_write_raw(v->out, body, len);
	else
		rv = agentd_write_nil(v->out);
	if (rv != 0)
		return rv;
	out = agentd_writer_data(v->out, &outlen);
	return v->host->reply(v->ctx, req, out, outlen);
}

static void
vers_fini(void *state)
{
	struct vers *v = state;

	if (v->log >= 0) {
		char line[64];
		int  n = snprintf(line, sizeof(line), "%ld %s fini\n",
		     (long)getpid(), VERS_VERSION);

		if (v->upgrade_fail && write(v->log, line, (size_t)n) != n)
			v->host->log(v->ctx, AGENTD_LOG_ERROR,
			    "vers: log write failed");
		close(v->log);
	}
	agentd_writer_free(v->out);
	free(v);
}

#if AGENTD_ABI_MINOR >= 1
/* Record which version this one took over from. */
static int
vers_upgrade(void *state, const char *previous_version)
{
	struct vers   *v = state;
	agentd_writer *w;
	const void    *val;
	size_t         len;
	int            rv;

	if (v->upgrade_fail) {
		v->host->log(v->ctx, AGENTD_LOG_WARN,
		    "vers %s: refusing to take over from %s", VERS_VERSION,
		    previous_version ? previous_version : "nothing");
		return AGENTD_EINVAL;
	}
	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	if (previous_version != NULL)
		agentd_write_str(w, previous_version);
	else
		agentd_write_nil(w);
	val = agentd_writer_data(w, &len);
	rv  = v->host->state_put(
	     v->ctx, "migrated_from", strlen("migrated_from"), val, len);
	agentd_writer_free(w);
	return rv;
}

AGENTD_PLUGIN(.name = "vers", .version = VERS_VERSION,
    .description = "answers with its version, for reload tests",
    .settings = vers_settings, .init = vers_init, .on_request = vers_request,
    .fini = vers_fini, .on_upgrade = vers_upgrade);
#else
AGENTD_PLUGIN(.name = "vers", .version = VERS_VERSION,
    .description = "answers with its version, for reload tests",
    .settings = vers_settings, .init = vers_init, .on_request = vers_request,
    .fini = vers_fini);
#endif
