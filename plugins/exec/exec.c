/*
 * exec - runs allow-listed tools, never a shell (doc/exec.md).
 *
 * A request {"tool": NAME, "params": {...}} runs the tool of that name
 * from the tools_file (tools.c) with its parameters checked by their
 * types, each one whole argv element; the caller is the one agentd names
 * (host->request_caller), and must be in the tool's "callers".  The
 * reply, once the tool has ended:
 *
 *   {"tool", "exit": int|nil, "signal": "SIGTERM"|nil, "timed_out",
 *    "stdout", "stderr", "truncated", "duration_ms"}
 *
 * Every run is audited ("exec.run": tool, caller, params, argv, exit,
 * signal, timed_out, truncated, duration, the bytes and SHA-256 of stdout
 * and stderr), every refusal too ("exec.refused": tool, caller, why).
 * At most max_concurrent tools run at once; past it a request is refused
 * with AGENTD_EBUSY.
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

static const struct agentd_setting exec_settings[] = {
	{ "tools_file", AGENTD_SETTING_STRING, NULL,
	    "the JSON file of the tools (doc/exec.md); in paths { read }" },
	{ "max_concurrent", AGENTD_SETTING_INT, "4",
	    "tools running at once per instance, 1 to 256; past it EBUSY" },
	{ "kill_grace_ms", AGENTD_SETTING_INT, "2000",
	    "after SIGTERM to a tool's process group, this long to SIGKILL" },
	{ NULL, 0, NULL, NULL },
};

struct exec_job;

struct exec {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	const char               *tools_file;
	struct exec_tools         tools;
	int64_t                   max_concurrent, kill_grace_ms;
	size_t                    running;
	struct exec_job          *jobs; /* running, for fini */
};

/* A request whose tool runs; owned by e->jobs until it is answered. */
struct exec_job {
	struct exec            *e;
	agentd_request         *req;
	const struct exec_tool *tool;
	char                   *caller;
	agentd_writer          *params; /* the request's params, for audit */
	char                  **argv;
	struct exec_run        *run;
	struct exec_job        *prev, *next;
};

/* ---- audit ---------------------------------------------------------- */

static void
audit(struct exec *e, const char *kind, const char *summary,
    agentd_writer *detail)
{
	const void *d   = NULL;
	size_t      len = 0;

	if (detail != NULL)
		d = agentd_writer_data(detail, &len);
	if (e->host->audit_async(e->ctx, kind, summary, d, len, NULL, NULL)
	    != 0)
		e->host->log(e->ctx, AGENTD_LOG_ERROR,
		    "exec: cannot audit %s: %s", kind, summary);
}

static void
write_kv_str(agentd_writer *w, const char *k, const char *v)
{
	agentd_write_str(w, k);
	if (v != NULL)
		agentd_write_str(w, v);
	else
		agentd_write_nil(w);
}

/* One line of a refusal: said to the caller, logged, audited. */
static int
refuse(struct exec *e, agentd_request *req, int code, const char *tool,
    const char *caller, const agentd_value *params, const char *why)
{
	agentd_writer *w;
	char           line[EXEC_ERR_MAX + 128];

	snprintf(line, sizeof(line), "exec: tool %s refused for %s: %s",
	    tool != NULL ? tool : "?", caller != NULL ? caller : "?", why);
	e->host->log(e->ctx, AGENTD_LOG_WARN, "%s", line);
	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	write_kv_str(w, "tool", tool);
	write_kv_str(w, "caller", caller);
	write_kv_str(w, "reason", why);
	write_kv_str(w, "error", agentd_errname(code));
	if (params != NULL) {
		agentd_write_str(w, "params");
		agentd_write_value(w, params);
	}
	agentd_write_map_end(w);
	audit(e, "exec.refused", line, w);
	agentd_writer_free(w);
	return e->host->reply_error(e->ctx, req, code, line);
}

/* ---- the reply ---------------------------------------------------------- */

/* Cut back to whole UTF-8 characters, so that a cut output stays text. */
static size_t
utf8_whole(const char *s, size_t len)
{
	size_t i = len, back = 0;

	while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--, back++;
	if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
		return len;
	/* s[i - 1] leads a sequence of n bytes: whole if back + 1 == n. */
	{
		unsigned char c = (unsigned char)s[i - 1];
		size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

		return back + 1 == n ? len : i - 1;
	}
}

static void
signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "%d", sig);
}

static void
write_reply(
    agentd_writer *w, const struct exec_job *j, const struct exec_result *r)
{
	char sig[32];

	signal_name(r->signal, sig, sizeof(sig));
	agentd_write_map_begin(w);
	write_kv_str(w, "tool", j->tool->name);
	agentd_write_str(w, "exit");
	if (r->signal == 0)
		agentd_write_int(w, r->exit_code);
	else
		agentd_write_nil(w);
	write_kv_str(w, "signal", r->signal != 0 ? sig : NULL);
	agentd_write_str(w, "timed_out");
	agentd_write_bool(w, r->timed_out);
	agentd_write_str(w, "stdout");
	agentd_write_strn(w, r->out,
	    r->out_len < r->out_total ? utf8_whole(r->out, r->out_len)
	                              : r->out_len);
	agentd_write_str(w, "stderr");
	agentd_write_strn(w, r->err,
	    r->err_len < r->err_total ? utf8_whole(r->err, r->err_len)
	                              : r->err_len);
	agentd_write_str(w, "truncated");
	agentd_write_bool(w, r->truncated);
	agentd_write_str(w, "duration_ms");
	agentd_write_uint(w, r->duration_ms);
	agentd_write_map_end(w);
}

static void
write_run_detail(
    agentd_writer *w, const struct exec_job *j, const struct exec_result *r)
{
	const void *p;
	size_t      len, i;
	char        sig[32];

	signal_name(r->signal, sig, sizeof(sig));
	agentd_write_map_begin(w);
	write_kv_str(w, "tool", j->tool->name);
	write_kv_str(w, "caller", j->caller);
	p = agentd_writer_data(j->params, &len);
	agentd_write_str(w, "params");
	agentd_write_raw(w, p, len);
	agentd_write_str(w, "argv");
	agentd_write_array_begin(w);
	for (i = 0; j->argv[i] != NULL; i++)
		agentd_write_str(w, j->argv[i]);
	agentd_write_array_end(w);
	agentd_write_str(w, "exit");
	if (r->signal == 0)
		agentd_write_int(w, r->exit_code);
	else
		agentd_write_nil(w);
	write_kv_str(w, "signal", r->signal != 0 ? sig : NULL);
	agentd_write_str(w, "timed_out");
	agentd_write_bool(w, r->timed_out);
	agentd_write_str(w, "truncated");
	agentd_write_bool(w, r->truncated);
	agentd_write_str(w, "duration_ms");
	agentd_write_uint(w, r->duration_ms);
	agentd_write_str(w, "stdout_bytes");
	agentd_write_uint(w, r->out_total);
	write_kv_str(w, "stdout_sha256", r->out_sha256);
	agentd_write_str(w, "stderr_bytes");
	agentd_write_uint(w, r->err_total);
	write_kv_str(w, "stderr_sha256", r->err_sha256);
	agentd_write_map_end(w);
}

static void
job_free(struct exec_job *j)
{
	struct exec *e = j->e;

	if (j->prev != NULL)
		j->prev->next = j->next;
	else if (e->jobs == j)
		e->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	free(j->caller);
	agentd_writer_free(j->params);
	exec_argv_free(j->argv);
	free(j);
}

static void
job_done(void *arg, const struct exec_result *r)
{
	struct exec_job *j = arg;
	struct exec     *e = j->e;
	agentd_writer   *w;
	const void      *body;
	size_t           len;
	char             summary[256], sig[32];
	int              rv;

	signal_name(r->signal, sig, sizeof(sig));
	if (r->signal == 0)
		snprintf(summary, sizeof(summary),
		    "%s for %s: exit %d in %llu ms%s%s", j->tool->name,
		    j->caller, r->exit_code,
		    (unsigned long long)r->duration_ms,
		    r->timed_out ? ", timed out" : "",
		    r->truncated ? ", output cut" : "");
	else
		snprintf(summary, sizeof(summary),
		    "%s for %s: %s in %llu ms%s%s", j->tool->name, j->caller,
		    sig, (unsigned long long)r->duration_ms,
		    r->timed_out ? ", timed out" : "",
		    r->truncated ? ", output cut" : "");
	agentd_writer_new(&w);
	write_run_detail(w, j, r);
	audit(e, "exec.run", summary, w);
	agentd_writer_reset(w);
	write_reply(w, j, r);
	body = agentd_writer_data(w, &len);
	if ((rv = e->host->reply(e->ctx, j->req, body, len)) != 0) {
		/* Past agentd's max_message_size: the host answered the
		 * caller with the error; the run is audited, and the log
		 * says what to change. */
		snprintf(summary, sizeof(summary),
		    "exec: tool %s: its reply of %zu bytes was refused (%s): "
		    "lower the tool's output_max",
		    j->tool->name, len, agentd_strerror(rv));
		e->host->log(e->ctx, AGENTD_LOG_ERROR, "%s", summary);
	}
	agentd_writer_free(w);
	e->running--;
	job_free(j);
}

/* ---- requests ----------------------------------------------------------- */

static int
job_start(struct exec *e, struct exec_job *j, const agentd_value *params)
{
	struct exec_spawn s;
	char              why[EXEC_ERR_MAX];
	int               rv;

	agentd_writer_new(&j->params);
	if (params != NULL)
		agentd_write_value(j->params, params);
	else
		agentd_write_map(j->params, 0);
	s.tool          = j->tool;
	s.argv          = j->argv;
	s.kill_grace_ms = (uint64_t)e->kill_grace_ms;
	s.done          = job_done;
	s.arg           = j;
	if ((rv = exec_run_start(
	         e->ctx, e->host, &s, &j->run, why, sizeof(why)))
	    != 0)
		return refuse(
		    e, j->req, rv, j->tool->name, j->caller, params, why);
	j->next = e->jobs;
	if (e->jobs != NULL)
		e->jobs->prev = j;
	e->jobs = j;
	e->running++;
	return 0;
}

static int
run_request(struct exec *e, agentd_request *req, const agentd_value *root)
{
	const agentd_value     *params = agentd_map_get(root, "params");
	const char             *name, *caller;
	const struct exec_tool *tool;
	struct exec_job        *j;
	char                    why[EXEC_ERR_MAX], tname[AGENTD_NAME_MAX + 1];
	size_t                  len;
	int                     rv;

	caller = e->host->request_caller(e->ctx, req);
	if (agentd_get_str(agentd_map_get(root, "tool"), &name, &len) != 0)
		return refuse(e, req, AGENTD_EINVAL, NULL, caller, NULL,
		    "the request is {\"tool\": NAME, \"params\": {...}}");
	snprintf(
	    tname, sizeof(tname), "%.*s", (int)(len > 63 ? 63 : len), name);
	if ((tool = exec_tool_find(&e->tools, name, len)) == NULL) {
		snprintf(
		    why, sizeof(why), "no such tool in %s", e->tools_file);
		return refuse(e, req, AGENTD_ENOENT, tname, caller, NULL, why);
	}
	if (!exec_tool_allows(tool, caller))
		return refuse(e, req, AGENTD_EDENIED, tname, caller, NULL,
		    "the caller is not in the tool's \"callers\"");
	if (e->running >= (size_t)e->max_concurrent) {
		snprintf(why, sizeof(why),
		    "%zu tools are running (max_concurrent): try again later",
		    e->running);
		return refuse(
		    e, req, AGENTD_EBUSY, tname, caller, params, why);
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return AGENTD_ENOMEM;
	j->e = e, j->req = req, j->tool = tool;
	if ((j->caller = strdup(caller != NULL ? caller : "?")) == NULL) {
		free(j);
		return AGENTD_ENOMEM;
	}
	if ((rv = exec_tool_argv(tool, params, &j->argv, why, sizeof(why)))
	    != 0) {
		rv = refuse(e, req, rv, tname, caller, params, why);
		job_free(j);
		return rv;
	}
	if ((rv = job_start(e, j, params)) != 0 || j->run == NULL) {
		job_free(j);
		return rv;
	}
	return 0;
}

static int
exec_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct exec *e   = state;
	agentd_doc  *doc = NULL;
	int          rv;

	if (agentd_parse(body, len, &doc) != 0
	    || agentd_type_of(agentd_doc_root(doc)) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		return refuse(e, req, AGENTD_EINVAL, NULL,
		    e->host->request_caller(e->ctx, req), NULL,
		    "the request is {\"tool\": NAME, \"params\": {...}}");
	}
	rv = run_request(e, req, agentd_doc_root(doc));
	agentd_doc_free(doc);
	return rv;
}

/* ---- the instance ----------------------------------------------------- */

static int
exec_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct exec *e;
	char         err[EXEC_ERR_MAX];
	int          rv;

	if (!AGENTD_HOST_HAS(host, watch_fd)
	    || !AGENTD_HOST_HAS(host, timer_start)
	    || !AGENTD_HOST_HAS(host, audit_async)
	    || !AGENTD_HOST_HAS(host, request_caller)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "exec: this host has no watch_fd or timer_start: run "
		    "exec with an agentd of ABI 1.5 or later");
		return AGENTD_ENOTSUP;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return AGENTD_ENOMEM;
	e->ctx = ctx, e->host = host;
	host->setting_string(ctx, "tools_file", &e->tools_file);
	host->setting_int(ctx, "max_concurrent", &e->max_concurrent);
	host->setting_int(ctx, "kill_grace_ms", &e->kill_grace_ms);
	if (e->max_concurrent < 1 || e->max_concurrent > 256
	    || e->kill_grace_ms < 0
	    || (uint64_t)e->kill_grace_ms > AGENTD_TIMER_MAX_MS) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "exec: settings: max_concurrent is 1 to 256, and "
		    "kill_grace_ms 0 or more");
		free(e);
		return AGENTD_ECONFIG;
	}
	if ((rv = exec_tools_load(e->tools_file, &e->tools, err, sizeof(err)))
	    != 0) {
		host->log(ctx, AGENTD_LOG_ERROR, "exec: tools_file %s", err);
		free(e);
		return rv;
	}
	*state = e;
	return 0;
}

static void
exec_fini(void *state)
{
	struct exec *e = state;

	/* Tools still running go with the instance, their groups killed. */
	while (e->jobs != NULL) {
		exec_run_abort(e->jobs->run);
		job_free(e->jobs);
	}
	exec_tools_free(&e->tools);
	free(e);
}

static const char *const exec_capabilities[] = { "exec", NULL };

AGENTD_PLUGIN(.name = "exec", .version = "1.0.0",
    .description = "runs allow-listed tools: typed parameters, no shell, "
                   "timeouts, audited",
    .settings = exec_settings, .init = exec_init, .on_request = exec_request,
    .fini = exec_fini, .capabilities = exec_capabilities);
