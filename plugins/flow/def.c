/*
 * def.c - workflow definitions: one libconfuse file a workflow, read into
 * a struct flow_def and checked before anything uses it.  Every error
 * names the file and line (doc/workflows.md lists the format).
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <confuse.h>
#include <openssl/evp.h>

#include "flow.h"

/* A string value and the line it was written on. */
struct located {
	int  line;
	char text[];
};

/* What the file being parsed is called, for libconfuse's errors. */
static struct {
	const char *file;
	char       *err;
	size_t      errlen;
	int         failed;
} parsing;

static int
keep_located(cfg_t *sec, cfg_opt_t *opt, const char *value, void *result)
{
	size_t          n = strlen(value);
	struct located *l = malloc(sizeof(*l) + n + 1);

	(void)opt;
	if (l == NULL)
		return -1;
	l->line = sec->line;
	memcpy(l->text, value, n + 1);
	*(struct located **)result = l;
	return 0;
}

static void
on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[FLOW_ERRLEN];

	if (parsing.failed)
		return; /* the first error is the one to fix */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(parsing.err, parsing.errlen, "%s:%d: %s", parsing.file,
	    cfg != NULL ? cfg->line : 0, msg);
	parsing.failed = 1;
}

static cfg_opt_t retry_opts[] = {
	CFG_INT("attempts", 1, CFGF_NONE),
	CFG_PTR_CB("backoff", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("backoff_max", NULL, CFGF_NONE, keep_located, free),
	CFG_FLOAT("jitter", 0.2, CFGF_NONE),
	CFG_PTR_LIST_CB("no_retry", NULL, CFGF_NONE, keep_located, free),
	CFG_END(),
};

static cfg_opt_t goto_opts[] = {
	CFG_PTR_CB("when", NULL, CFGF_NONE, keep_located, free),
	CFG_END(),
};

static cfg_opt_t approval_opts[] = {
	CFG_PTR_CB("type", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("title", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("reasoning", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("amount", NULL, CFGF_NONE, keep_located, free),
	CFG_FLOAT("confidence", 0.5, CFGF_NONE),
	CFG_END(),
};

static cfg_opt_t branch_opts[] = {
	CFG_PTR_CB("agent", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("capability", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_LIST_CB("input", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("timeout", NULL, CFGF_NONE, keep_located, free),
	CFG_SEC("retry", retry_opts, CFGF_NONE),
	CFG_END(),
};

static cfg_opt_t step_opts[] = {
	CFG_SEC("approval", approval_opts, CFGF_NONE),
	CFG_PTR_CB("rejected", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("expired", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("wait", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("until", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("join", NULL, CFGF_NONE, keep_located, free),
	CFG_SEC("branch", branch_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_PTR_CB("agent", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("capability", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("output", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_LIST_CB("input", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_LIST_CB("placeholder", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("when", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("next", NULL, CFGF_NONE, keep_located, free),
	CFG_PTR_CB("timeout", NULL, CFGF_NONE, keep_located, free),
	CFG_INT("max_iterations", 0, CFGF_NONE),
	CFG_BOOL("effect", cfg_false, CFGF_NONE),
	CFG_SEC("retry", retry_opts, CFGF_NONE),
	CFG_SEC("goto", goto_opts, CFGF_MULTI | CFGF_TITLE),
	CFG_END(),
};

static cfg_opt_t file_opts[] = {
	CFG_STR("description", "", CFGF_NONE),
	CFG_SEC(
	    "step", step_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END(),
};

/* ---- small parsers ------------------------------------------------------ */

int
flow_duration(const char *s, int64_t *ms)
{
	char     *end;
	long long v;
	int64_t   unit;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "s") == 0 || (*end == '\0' && v == 0))
		unit = 1000;
	else if (strcmp(end, "m") == 0)
		unit = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		unit = 3600 * 1000;
	else
		return -1;
	if (v > INT64_MAX / unit / 2)
		return -1;
	*ms = v * unit;
	return 0;
}

int
flow_time(const char *s, int64_t *ms)
{
	struct tm tm = { 0 };
	char     *end;
	int       n = 0;

	if (s[0] >= '0' && s[0] <= '9'
	    && strspn(s, "0123456789") == strlen(s)) {
		long long v;

		errno = 0;
		v     = strtoll(s, &end, 10);
		if (errno != 0)
			return -1;
		*ms = v;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
	        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n)
	        != 6
	    || s[n] != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12
	    || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23
	    || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

int
flow_errcode(const char *name)
{
	for (int e = 1; e < 32; e++)
		if (strcmp(agentd_errname(e), name) == 0)
			return e;
	return -1;
}

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AGENTD_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-'
		    && *s != '.')
			return 0;
	return 1;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size);

	if (p == NULL)
		abort();
	return p;
}

int
flow_def_step(const struct flow_def *d, const char *name)
{
	for (size_t i = 0; i < d->nsteps; i++)
		if (strcmp(d->steps[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ---- building and checking ---------------------------------------------- */

struct build {
	const char      *text; /* the file's text, for sections' lines */
	size_t           at;   /* where the step being read starts in it */
	struct flow_def *d;
	const char      *file;
	char            *err;
	size_t           errlen;
};

static int
fail_at(struct build *b, int line, const char *fmt, ...)
{
	char    msg[FLOW_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(b->err, b->errlen, "%s:%d: %s", b->file, line, msg);
	return AGENTD_ECONFIG;
}

/*
 * The line of `KW "TITLE"` in the text, at or after *from (moved there).
 * libconfuse knows a section's line only once it is closed, so the
 * opening line is found in the text.  0 if it is not found.
 */
static int
title_line(struct build *b, const char *kw, const char *title, size_t *from)
{
	const char *t = b->text, *p = t + *from, *q;
	size_t      kl = strlen(kw), tl = strlen(title);
	int         line = 1;

	for (; (p = strstr(p, kw)) != NULL; p += kl) {
		if (p > t && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		for (q = p + kl; *q == ' ' || *q == '\t'; q++)
			;
		if (*q == '"')
			q++;
		if (strncmp(q, title, tl) != 0
		    || (q[tl] != '"' && q[tl] != '{'
		        && !isspace((unsigned char)q[tl])))
			continue;
		*from = (size_t)(p - t);
		for (q = t; q < p; q++)
			line += *q == '\n';
		return line;
	}
	return 0;
}

static int
loc_line(cfg_t *sec, const char *opt)
{
	struct located *l = cfg_getptr(sec, opt);

	return l != NULL ? l->line : 0;
}

static const char *
loc_text(cfg_t *sec, const char *opt)
{
	struct located *l = cfg_getptr(sec, opt);

	return l != NULL ? l->text : NULL;
}

static int
duration_opt(
    struct build *b, cfg_t *sec, const char *opt, int64_t dflt, int64_t *out)
{
	const char *s = loc_text(sec, opt);

	*out = dflt;
	if (s == NULL)
		return 0;
	if (flow_duration(s, out) != 0)
		return fail_at(b, loc_line(sec, opt),
		    "%s: \"%s\" is not a duration: write a whole number "
		    "with ms, s, m or h (\"250ms\", \"30s\")",
		    opt, s);
	return 0;
}

/* "name = value" entries of input or placeholder. */
static int
fields(struct build *b, cfg_t *sec, const char *opt, struct flow_field **out,
    size_t *nout)
{
	unsigned n = cfg_size(sec, opt);

	*out  = xcalloc(n, sizeof(**out));
	*nout = n;
	for (unsigned i = 0; i < n; i++) {
		struct located *l  = cfg_getnptr(sec, opt, i);
		const char     *eq = strchr(l->text, '=');
		const char     *v;
		size_t          klen;

		if (eq == NULL)
			return fail_at(b, l->line,
			    "%s: \"%s\" is not \"NAME = VALUE\"", opt,
			    l->text);
		klen = (size_t)(eq - l->text);
		while (klen > 0 && isspace((unsigned char)l->text[klen - 1]))
			klen--;
		for (v = eq + 1; isspace((unsigned char)*v); v++)
			;
		(*out)[i].name = xcalloc(klen + 1, 1);
		memcpy((*out)[i].name, l->text, klen);
		(*out)[i].value = xstrdup(v);
		(*out)[i].line  = l->line;
		if (!name_ok((*out)[i].name))
			return fail_at(b, l->line,
			    "%s: \"%.*s\" is not a field name "
			    "([A-Za-z0-9_.-], 1 to 63)",
			    opt, (int)klen, l->text);
		if (strcmp((*out)[i].name, "idempotency_key") == 0
		    || strcmp((*out)[i].name, "flow") == 0)
			return fail_at(b, l->line,
			    "%s: \"%s\" is the flow agent's own field", opt,
			    (*out)[i].name);
	}
	return 0;
}

static int
target(struct build *b, const char *name, int line, int from, int *to)
{
	if (strcmp(name, "end") == 0) {
		*to = -1;
		return 0;
	}
	*to = flow_def_step(b->d, name);
	if (*to < 0)
		return fail_at(b, line, "step \"%s\": no step named \"%s\"",
		    b->d->steps[from].name, name);
	if (*to <= from && b->d->steps[*to].max_iterations <= 0)
		return fail_at(b, line,
		    "step \"%s\" goes back to \"%s\": a loop needs "
		    "max_iterations in step \"%s\"",
		    b->d->steps[from].name, name, name);
	return 0;
}

static int
check_path(struct build *b, const char *v, int line)
{
	char why[FLOW_ERRLEN];

	if (flow_path_check(b->d, v, why, sizeof(why)) != 0)
		return fail_at(b, line, "%s", why);
	return 0;
}

static int
check_cond(struct build *b, const char *v, int line)
{
	char why[FLOW_ERRLEN];

	if (flow_cond_check(b->d, v, why, sizeof(why)) != 0)
		return fail_at(b, line, "when: %s", why);
	return 0;
}

static int
retry_policy(struct build *b, struct flow_step *st, cfg_t *sec)
{
	cfg_t   *r = cfg_getsec(sec, "retry");
	unsigned n;
	int      rv;

	st->no_retry = 1u << AGENTD_EINVAL | 1u << AGENTD_EDENIED
	    | 1u << AGENTD_ENOENT | 1u << AGENTD_EPROTO | 1u << AGENTD_ETOOBIG
	    | 1u << AGENTD_ENOTSUP;
	st->attempts = (int)cfg_getint(r, "attempts");
	st->jitter   = cfg_getfloat(r, "jitter");
	if (st->attempts < 1 || st->attempts > 1000)
		return fail_at(b, st->line,
		    "step \"%s\": retry attempts must be 1 to 1000", st->name);
	if (!(st->jitter >= 0 && st->jitter <= 1))
		return fail_at(b, st->line,
		    "step \"%s\": retry jitter must be 0 to 1", st->name);
	if ((rv = duration_opt(b, r, "backoff", 100, &st->backoff_ms)) != 0
	    || (rv = duration_opt(
	            b, r, "backoff_max", 10000, &st->backoff_max_ms))
	        != 0)
		return rv;
	if ((n = cfg_size(r, "no_retry")) > 0)
		st->no_retry = 0;
	for (unsigned i = 0; i < n; i++) {
		struct located *l = cfg_getnptr(r, "no_retry", i);
		int             e = flow_errcode(l->text);

		if (e <= 0)
			return fail_at(b, l->line,
			    "no_retry: \"%s\" is not an error name "
			    "(EBUSY, ETIMEOUT, EFAILED, ...)",
			    l->text);
		st->no_retry |= 1u << e;
	}
	return 0;
}

/* A capability as agentd's rule has it: 1 to 63 of [a-z0-9_.-]. */
static int
capability_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AGENTD_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s)
		    && *s != '_' && *s != '-' && *s != '.')
			return 0;
	return 1;
}

/* Who a call goes to: agent = "NAME", or capability = "NAME" (the agent
 * found when the call is sent); one of the two. */
static int
callee_own(struct build *b, struct flow_step *st, cfg_t *sec, const char *what)
{
	const char *s = loc_text(sec, "agent");
	const char *c = loc_text(sec, "capability");

	if (s != NULL && c != NULL)
		return fail_at(b, loc_line(sec, "capability"),
		    "%s \"%s\": write agent or capability, not both", what,
		    st->name);
	if (c != NULL) {
		if (!capability_ok(c))
			return fail_at(b, loc_line(sec, "capability"),
			    "%s \"%s\": \"%s\" is not a capability: use "
			    "1-63 characters of [a-z0-9_.-]",
			    what, st->name, c);
		st->capability = xstrdup(c);
		return 0;
	}
	if (s == NULL)
		return fail_at(
		    b, st->line, "%s \"%s\" has no agent", what, st->name);
	if (!name_ok(s))
		return fail_at(b, loc_line(sec, "agent"),
		    "%s \"%s\": \"%s\" is not an agent name", what, st->name,
		    s);
	st->agent = xstrdup(s);
	return 0;
}

/* What a call needs (a step's or a branch's): agent or capability,
 * timeout, input, retry. */
static int
call_own(struct build *b, struct flow_step *st, cfg_t *sec, const char *what)
{
	int rv;

	if ((rv = callee_own(b, st, sec, what)) != 0)
		return rv;
	if ((rv = duration_opt(b, sec, "timeout", 30000, &st->timeout_ms))
	    != 0)
		return rv;
	if (st->timeout_ms <= 0 || st->timeout_ms > INT32_MAX)
		return fail_at(b, loc_line(sec, "timeout"),
		    "%s \"%s\": timeout must be more than 0", what, st->name);
	if ((rv = fields(b, sec, "input", &st->input, &st->ninput)) != 0)
		return rv;
	return retry_policy(b, st, sec);
}

/* An approval step: approval { type title reasoning amount confidence }. */
static int
approval_own(struct build *b, struct flow_step *st, cfg_t *sec)
{
	cfg_t      *ap = cfg_getsec(sec, "approval");
	const char *s;
	char        title[AGENTD_PROPOSAL_TITLE_MAX + 1];
	int         rv;

	s = loc_text(ap, "type");
	if (!name_ok(s) || s[0] == '.' || s[strlen(s) - 1] == '.'
	    || strstr(s, "..") != NULL)
		return fail_at(b, loc_line(ap, "type"),
		    "step \"%s\": approval type \"%s\" is not a topic "
		    "(\"product.publish\")",
		    st->name, s);
	st->ap_type = xstrdup(s);
	if ((s = loc_text(ap, "title")) == NULL) {
		snprintf(
		    title, sizeof(title), "%s: step %s", b->d->name, st->name);
		s = title;
	}
	if (s[0] == '\0' || strlen(s) > AGENTD_PROPOSAL_TITLE_MAX
	    || strchr(s, '\n') != NULL)
		return fail_at(b, st->line,
		    "step \"%s\": approval title must be one line of 1 to "
		    "200 bytes",
		    st->name);
	st->ap_title = xstrdup(s);
	if ((s = loc_text(ap, "reasoning")) != NULL)
		st->ap_reasoning = xstrdup(s);
	if ((s = loc_text(ap, "amount")) != NULL) {
		char *end;

		st->ap_amount      = xstrdup(s);
		st->ap_amount_line = loc_line(ap, "amount");
		if (s[0] != '$' && (strtod(s, &end) < 0 || *end != '\0'))
			return fail_at(b, st->ap_amount_line,
			    "step \"%s\": amount \"%s\" is neither a path nor "
			    "a number of 0 or more",
			    st->name, s);
	}
	st->ap_confidence = cfg_getfloat(ap, "confidence");
	if (!(st->ap_confidence >= 0 && st->ap_confidence <= 1))
		return fail_at(b, st->line,
		    "step \"%s\": approval confidence must be 0 to 1",
		    st->name);
	if ((rv = fields(b, sec, "input", &st->input, &st->ninput)) != 0)
		return rv;
	return retry_policy(b, st, sec);
}

/* A parallel group: join and its branch { } sections. */
static int
group_own(struct build *b, struct flow_step *st, cfg_t *sec)
{
	const char *j = loc_text(sec, "join");
	int         rv;

	st->nbranches = cfg_size(sec, "branch");
	st->branches  = xcalloc(st->nbranches, sizeof(*st->branches));
	for (size_t k = 0; k < st->nbranches; k++) {
		cfg_t            *bs = cfg_getnsec(sec, "branch", (unsigned)k);
		struct flow_step *br = &st->branches[k];

		br->name = xstrdup(cfg_title(bs));
		br->line = title_line(b, "branch", br->name, &b->at);
		if (!name_ok(br->name))
			return fail_at(b, br->line,
			    "step \"%s\": a branch's name is 1 to 63 of "
			    "[A-Za-z0-9_.-]",
			    st->name);
		if ((rv = call_own(b, br, bs, "branch")) != 0)
			return rv;
	}
	st->attempts = 1; /* the group's own: its branches retry */
	st->join     = (int)st->nbranches;
	if (j == NULL || strcmp(j, "all") == 0)
		return 0;
	if (strcmp(j, "first") == 0) {
		st->join = 1;
		return 0;
	}
	{
		char *end;
		long  n = strtol(j, &end, 10);

		if (*end != '\0' || n < 1 || n > (long)st->nbranches)
			return fail_at(b, loc_line(sec, "join"),
			    "step \"%s\": join \"%s\": write all, first or a "
			    "number of branches from 1 to %zu",
			    st->name, j, st->nbranches);
		st->join = (int)n;
	}
	return 0;
}

/* Everything of one step that does not depend on later steps. */
static int
step_own(struct build *b, struct flow_step *st, cfg_t *sec)
{
	const char *s;
	int         rv, kinds = 0;

	st->name = xstrdup(cfg_title(sec));
	b->at    = 0;
	st->line = title_line(b, "step", st->name, &b->at);
	if (!name_ok(st->name) || strcmp(st->name, "end") == 0)
		return fail_at(b, st->line,
		    "step \"%s\": a step's name is 1 to 63 of "
		    "[A-Za-z0-9_.-], not \"end\"",
		    st->name);
	if (loc_text(sec, "agent") != NULL
	    || loc_text(sec, "capability") != NULL) {
		st->kind = SK_CALL;
		kinds++;
	}
	if (loc_text(cfg_getsec(sec, "approval"), "type") != NULL) {
		st->kind = SK_APPROVAL;
		kinds++;
	}
	if (loc_text(sec, "wait") != NULL || loc_text(sec, "until") != NULL) {
		st->kind = SK_WAIT;
		kinds += 1
		    + (loc_text(sec, "wait") != NULL
		        && loc_text(sec, "until") != NULL);
	}
	if (cfg_size(sec, "branch") > 0) {
		st->kind = SK_GROUP;
		kinds++;
	}
	if (kinds == 0)
		return fail_at(
		    b, st->line, "step \"%s\" has no agent", st->name);
	if (kinds > 1)
		return fail_at(b, st->line,
		    "step \"%s\": write one of agent, approval { type }, "
		    "wait, until or branch { }",
		    st->name);
	if (st->kind != SK_GROUP && loc_text(sec, "join") != NULL)
		return fail_at(b, loc_line(sec, "join"),
		    "step \"%s\": join is for a step with branch { }",
		    st->name);
	if (st->kind != SK_APPROVAL
	    && (loc_text(sec, "rejected") != NULL
	        || loc_text(sec, "expired") != NULL))
		return fail_at(b,
		    loc_line(sec,
		        loc_text(sec, "rejected") != NULL ? "rejected"
		                                          : "expired"),
		    "step \"%s\": rejected and expired are for an approval "
		    "step",
		    st->name);
	if ((st->kind == SK_WAIT || st->kind == SK_GROUP)
	    && cfg_size(sec, "input") > 0)
		return fail_at(b, st->line,
		    "step \"%s\": input is for a step with agent or "
		    "approval (a branch has its own)",
		    st->name);
	s          = loc_text(sec, "output");
	st->output = xstrdup(s != NULL ? s : st->name);
	if (!name_ok(st->output) || strchr(st->output, '.') != NULL
	    || strcmp(st->output, "input") == 0)
		return fail_at(b,
		    s != NULL ? loc_line(sec, "output") : st->line,
		    "step \"%s\": output \"%s\" is not a name paths can use "
		    "([A-Za-z0-9_-], not \"input\")",
		    st->name, st->output);
	st->max_iterations = (int)cfg_getint(sec, "max_iterations");
	st->effect         = cfg_getbool(sec, "effect");
	if (st->max_iterations < 0 || st->max_iterations > 100000)
		return fail_at(b, st->line,
		    "step \"%s\": max_iterations must be 0 to 100000",
		    st->name);
	if ((rv = fields(
	         b, sec, "placeholder", &st->placeholder, &st->nplaceholder))
	    != 0)
		return rv;
	switch (st->kind) {
	case SK_CALL:
		return call_own(b, st, sec, "step");
	case SK_APPROVAL:
		return approval_own(b, st, sec);
	case SK_GROUP:
		return group_own(b, st, sec);
	default:
		break;
	}
	st->attempts = 1;
	if ((s = loc_text(sec, "wait")) != NULL)
		return duration_opt(b, sec, "wait", 0, &st->wait_ms);
	s              = loc_text(sec, "until");
	st->until      = xstrdup(s);
	st->until_line = loc_line(sec, "until");
	if (s[0] != '$' && flow_time(s, &st->until_ms) != 0)
		return fail_at(b, st->until_line,
		    "until: \"%s\" is not a time: write milliseconds since "
		    "the epoch or \"2026-12-07T08:00:00Z\" (or a path)",
		    s);
	return 0;
}

/* What refers to other steps: outputs, paths, next and goto. */
static int
step_links(struct build *b, int i, cfg_t *sec)
{
	struct flow_step *st = &b->d->steps[i];
	const char       *s;
	size_t            at = 0;
	int               rv;

	title_line(b, "step", st->name, &at);
	for (int j = 0; j < i; j++)
		if (strcmp(b->d->steps[j].output, st->output) == 0)
			return fail_at(b, st->line,
			    "step \"%s\": output \"%s\" is step \"%s\"'s "
			    "already",
			    st->name, st->output, b->d->steps[j].name);
	for (size_t k = 0; k < st->ninput; k++)
		if ((rv = check_path(b, st->input[k].value, st->input[k].line))
		    != 0)
			return rv;
	for (size_t k = 0; k < st->nplaceholder; k++)
		if ((rv = check_path(
		         b, st->placeholder[k].value, st->placeholder[k].line))
		    != 0)
			return rv;
	for (size_t j = 0; j < st->nbranches; j++)
		for (size_t k = 0; k < st->branches[j].ninput; k++)
			if ((rv = check_path(b, st->branches[j].input[k].value,
			         st->branches[j].input[k].line))
			    != 0)
				return rv;
	if (st->ap_amount != NULL
	    && (rv = check_path(b, st->ap_amount, st->ap_amount_line)) != 0)
		return rv;
	if (st->until != NULL
	    && (rv = check_path(b, st->until, st->until_line)) != 0)
		return rv;
	st->on_rejected = st->on_expired = FLOW_FAIL;
	if ((s = loc_text(sec, "rejected")) != NULL
	    && (rv = target(
	            b, s, loc_line(sec, "rejected"), i, &st->on_rejected))
	        != 0)
		return rv;
	if ((s = loc_text(sec, "expired")) != NULL
	    && (rv = target(
	            b, s, loc_line(sec, "expired"), i, &st->on_expired))
	        != 0)
		return rv;
	if ((s = loc_text(sec, "when")) != NULL) {
		st->when = xstrdup(s);
		if ((rv = check_cond(b, s, loc_line(sec, "when"))) != 0)
			return rv;
	}
	st->next = i + 1 < (int)b->d->nsteps ? i + 1 : -1;
	if ((s = loc_text(sec, "next")) != NULL
	    && (rv = target(b, s, loc_line(sec, "next"), i, &st->next)) != 0)
		return rv;
	st->ngotos = cfg_size(sec, "goto");
	st->gotos  = xcalloc(st->ngotos, sizeof(*st->gotos));
	for (size_t k = 0; k < st->ngotos; k++) {
		cfg_t            *g  = cfg_getnsec(sec, "goto", (unsigned)k);
		struct flow_goto *gt = &st->gotos[k];

		gt->target = xstrdup(cfg_title(g));
		gt->line   = title_line(b, "goto", gt->target, &at);
		if ((rv = target(b, gt->target, gt->line, i, &gt->to)) != 0)
			return rv;
		if ((s = loc_text(g, "when")) != NULL) {
			gt->when = xstrdup(s);
			if ((rv = check_cond(b, s, loc_line(g, "when"))) != 0)
				return rv;
		}
	}
	return 0;
}

static int
build(struct build *b, cfg_t *cfg)
{
	struct flow_def *d = b->d;
	int              rv;

	d->nsteps = cfg_size(cfg, "step");
	if (d->nsteps == 0)
		return fail_at(b, 1, "a workflow needs one step at least");
	d->steps = xcalloc(d->nsteps, sizeof(*d->steps));
	for (size_t i = 0; i < d->nsteps; i++)
		if ((rv = step_own(b, &d->steps[i],
		         cfg_getnsec(cfg, "step", (unsigned)i)))
		    != 0)
			return rv;
	for (size_t i = 0; i < d->nsteps; i++)
		if ((rv = step_links(
		         b, (int)i, cfg_getnsec(cfg, "step", (unsigned)i)))
		    != 0)
			return rv;
	return 0;
}

static void
version_of(const char *text, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  n = 0;

	EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < FLOW_VERSION_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int
flow_def_parse(const char *name, const char *file, const char *text,
    struct flow_def **out, char *err, size_t errlen)
{
	struct flow_def *d;
	struct build     b;
	cfg_t           *cfg;
	int              rv;

	err[0] = '\0';
	if (!name_ok(name)) {
		snprintf(err, errlen, "%s: \"%s\" is not a workflow name",
		    file, name);
		return AGENTD_ECONFIG;
	}
	cfg = cfg_init(file_opts, CFGF_NONE);
	if (cfg == NULL)
		return AGENTD_ENOMEM;
	parsing.file   = file;
	parsing.err    = err;
	parsing.errlen = errlen;
	parsing.failed = 0;
	cfg_set_error_function(cfg, on_cfg_error);
	if (cfg_parse_buf(cfg, text) != CFG_SUCCESS) {
		if (!parsing.failed)
			snprintf(err, errlen, "%s: cannot be parsed", file);
		cfg_free(cfg);
		return AGENTD_ECONFIG;
	}
	d       = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->file = xstrdup(file);
	d->text = xstrdup(text);
	version_of(text, d->version);
	b  = (struct build) { .text = text,
		 .d                 = d,
		 .file              = file,
		 .err               = err,
		 .errlen            = errlen };
	rv = build(&b, cfg);
	cfg_free(cfg);
	if (rv != 0) {
		flow_def_free(d);
		return rv;
	}
	d->refs = 1;
	*out    = d;
	return 0;
}

static void
fields_free(struct flow_field *f, size_t n)
{
	for (size_t i = 0; f != NULL && i < n; i++) {
		free(f[i].name);
		free(f[i].value);
	}
	free(f);
}

void
flow_def_free(struct flow_def *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; d->steps != NULL && i < d->nsteps; i++) {
		struct flow_step *st = &d->steps[i];

		free(st->name);
		free(st->agent);
		free(st->capability);
		free(st->output);
		free(st->when);
		fields_free(st->input, st->ninput);
		fields_free(st->placeholder, st->nplaceholder);
		for (size_t k = 0; st->gotos != NULL && k < st->ngotos; k++) {
			free(st->gotos[k].target);
			free(st->gotos[k].when);
		}
		free(st->gotos);
		free(st->ap_type);
		free(st->ap_title);
		free(st->ap_reasoning);
		free(st->ap_amount);
		free(st->until);
		for (size_t k = 0; k < st->nbranches; k++) {
			free(st->branches[k].name);
			free(st->branches[k].agent);
			free(st->branches[k].capability);
			fields_free(
			    st->branches[k].input, st->branches[k].ninput);
		}
		free(st->branches);
	}
	free(d->steps);
	free(d->name);
	free(d->file);
	free(d->text);
	free(d);
}
