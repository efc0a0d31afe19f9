/*
 * exec.h - the tool runner's parts (doc/exec.md).
 *
 *   tools.c  the tools_file: tools, their argv templates and typed
 *            parameters
 *   params.c a request's parameters checked by their types, made argv
 *   run.c    one run: posix_spawn in its own process group, its pipes
 *            and exit watched with host->watch_fd, its timeout with
 *            host->timer_start, the group killed
 *   exec.c   the descriptor: requests, callers, the concurrency limit,
 *            the reply and the audit record
 */
#ifndef EXEC_EXEC_H
#define EXEC_EXEC_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#define EXEC_ERR_MAX 512
#define EXEC_ARGV_MAX 256          /* elements of a tool's argv */
#define EXEC_PARAMS_MAX 64         /* parameters of a tool */
#define EXEC_STRING_MAX 4096       /* bytes of one string parameter */
#define EXEC_OUTPUT_MAX (16 << 20) /* the largest output_max */

enum exec_param_type {
	EXEC_PARAM_STRING,
	EXEC_PARAM_INT,
	EXEC_PARAM_ENUM,
	EXEC_PARAM_PATH,
};

/* One typed parameter of a tool; everything owned by its tool. */
struct exec_param {
	char                *name;
	enum exec_param_type type;
	regex_t              re; /* string: pattern, matched whole */
	int                  has_re;
	size_t               max_len;    /* string: bytes */
	int                  allow_dash; /* string, path: may start with - */
	int64_t              min, max;   /* int */
	char               **values;     /* enum */
	size_t               nvalues;
	char                *root; /* path: a resolved directory */
	char                *def; /* the default's argv text; NULL: required */
};

/* One tool of the tools_file; owned by struct exec_tools. */
struct exec_tool {
	char              *name;
	char             **argv; /* the template, argc elements */
	int               *argp; /* per element: a parameter's index, or -1 */
	size_t             argc;
	struct exec_param *params;
	size_t             nparams;
	char              *cwd;  /* absolute */
	char             **envp; /* "NAME=value", NULL-terminated */
	uint64_t           timeout_ms;
	size_t output_max;    /* bytes kept of stdout, and of stderr */
	int    overflow_kill; /* past output_max: stop the tool */
	char **callers;
	size_t ncallers; /* "*" among them: any caller */
};

struct exec_tools {
	struct exec_tool *v;
	size_t            n;
};

/*
 * Read the tools_file at path into *out (caller owns, free with
 * exec_tools_free()).  AGENTD_ECONFIG with one line in err (the file, the
 * JSON path of what is wrong, the rule) or AGENTD_ENOMEM.
 */
int exec_tools_load(
    const char *path, struct exec_tools *out, char *err, size_t errlen);
void exec_tools_free(struct exec_tools *t);

/* The index of tool's parameter name (len bytes), or -1. */
int exec_tool_param(const struct exec_tool *t, const char *name, size_t len);

const struct exec_tool *exec_tool_find(
    const struct exec_tools *t, const char *name, size_t len);

/* May caller (host->request_caller) run tool? */
int exec_tool_allows(const struct exec_tool *tool, const char *caller);

/*
 * A request's params (a msgpack map, or NULL for none) checked against
 * tool: on success *argv is the argv to run, NULL-terminated (caller
 * owns, free with exec_argv_free()).  AGENTD_EINVAL with one line in err
 * naming the parameter and the rule it breaks.
 */
int  exec_tool_argv(const struct exec_tool *tool, const agentd_value *params,
     char ***argv, char *err, size_t errlen);
void exec_argv_free(char **argv);

/* One value v checked against p: *text its argv text (caller owns, free
 * with free()), or AGENTD_EINVAL with one line in err. */
int exec_param_check(const struct exec_param *p, const agentd_value *v,
    char **text, char *err, size_t errlen);

/* ---- a run (run.c) ---------------------------------------------------- */

struct exec_run;

/* What became of a run: borrowed, valid until the callback returns. */
struct exec_result {
	int         exit_code; /* -1: killed by a signal */
	int         signal;    /* 0: exited */
	int         timed_out;
	int         truncated; /* stdout or stderr passed output_max */
	const char *out, *err; /* what was kept, not NUL-terminated */
	size_t      out_len, err_len;
	uint64_t    out_total, err_total;           /* bytes the tool wrote */
	char        out_sha256[65], err_sha256[65]; /* of all it wrote */
	uint64_t    duration_ms;
};

typedef void (*exec_done_fn)(void *arg, const struct exec_result *r);

struct exec_spawn {
	const struct exec_tool *tool;
	char *const            *argv;
	uint64_t                kill_grace_ms; /* SIGTERM to SIGKILL */
	exec_done_fn            done;
	void                   *arg;
};

/*
 * Start a run of s->tool with s->argv (borrowed for the call).  On
 * success *run is the run, owned by itself: s->done runs exactly once,
 * later, on the instance's thread, and the run is gone after it returns.
 * Errors (nothing started, done never runs): AGENTD_EIO (the program
 * could not be run: err says why), AGENTD_ENOMEM, or what watch_fd or
 * timer_start answered.
 */
int exec_run_start(agentd_ctx *ctx, const struct agentd_host *host,
    const struct exec_spawn *s, struct exec_run **run, char *err,
    size_t errlen);

/* Kill the run's process group at once and wait for it; done does not
 * run.  For fini. */
void exec_run_abort(struct exec_run *run);

/* strdup and calloc (at least one element) that abort with one line
 * when memory is out: the tools file's and a run's small copies
 * (tools.c). */
char *exec_xstrdup(const char *s);
void *exec_xcalloc(size_t n, size_t size);

#endif
