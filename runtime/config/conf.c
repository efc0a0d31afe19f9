#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <confuse.h>
#include <jansson.h>

#include <agentd/error.h>

#include "common/cron.h"
#include "common/log.h"
#include "common/util.h"
#include "config/conf.h"
#include "config/options.h"
#include "config/setting_file.h"
#include "sdk/http_rules.h"

/*
 * How a file is read.
 *
 * libconfuse only keeps options it was told about, but the keys of an
 * agent's settings { } depend on its plugin.  So each file is parsed
 * twice: pass 1 reads settings { } as free-form key = value strings
 * (CFGF_KEYSTRVAL) to learn which keys are written; pass 2 declares
 * exactly those keys as options whose parse callback keeps the raw text
 * and its line.  Values are typed later, against the plugin's schema,
 * where the agent is known and the error can say what the plugin wants.
 * Both passes read the same text, read once, its comments blanked out
 * first (libconfuse miscounts lines after them: see blank_comments()).
 *
 * libconfuse calls back without a user argument and its lexer is global
 * state, so one file is parsed at a time, under parse_lock, and the
 * callbacks reach that file's context through `parsing`.
 */

/* ---- durations ------------------------------------------------------- */

int
ad_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t     ms;
	} units[]
	    = { { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		      { "h", 60 * 60 * 1000 }, { "d", 24 * 60 * 60 * 1000 } };
	int64_t n = 0;
	size_t  i;

	if (s == NULL || !isdigit((unsigned char)*s))
		return AGENTD_EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		int d = *s - '0';

		if (n > (INT64_MAX - d) / 10)
			return AGENTD_EINVAL;
		n = n * 10 + d;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].unit) != 0)
			continue;
		if (n > INT64_MAX / units[i].ms)
			return AGENTD_EINVAL;
		*ms = n * units[i].ms;
		return 0;
	}
	return AGENTD_EINVAL;
}

/* ---- the context libconfuse's callbacks see -------------------------- */

/* ---- webhooks' words and secrets ------------------------------------ */

_Static_assert(AD_WEBHOOK_SECRET_MAX == 4096, "the message says 4096");

static int
segment_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '~'
	    || c == '-';
}

int
ad_webhook_path_word(const char *s)
{
	const char *seg, *end;
	size_t      n;

	if (strncmp(s, "/hooks/", 7) != 0 || strlen(s) > 255)
		return -1;
	for (seg = s + 7;; seg = end + 1) {
		for (end = seg; segment_char(*end); end++)
			;
		n = (size_t)(end - seg);
		if (n == 0 || (*end != '/' && *end != '\0')
		    || (n == 1 && seg[0] == '.')
		    || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return -1;
		if (*end == '\0')
			return 0;
	}
}

int
ad_header_word(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return -1;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			return -1;
	return 0;
}

void
ad_webhook_secret_free(unsigned char *secret, size_t len)
{
	if (secret != NULL)
		memset(secret, 0, len);
	free(secret);
}

int
ad_webhook_secret_read(const char *path, unsigned char **secret, size_t *len,
    char *err, size_t errlen)
{
	unsigned char buf[AD_WEBHOOK_SECRET_MAX + 2];
	FILE         *f;
	struct stat   st;
	size_t        n;
	const char   *why = NULL;

	*secret = NULL;
	*len    = 0;
	if ((f = fopen(path, "r")) == NULL) {
		ad_seterr(err, errlen,
		    "cannot read %s: %s: write the shared secret in it, "
		    "readable by agentd's user (mode 0600)",
		    path, strerror(errno));
		return AGENTD_ECONFIG;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		ad_seterr(err, errlen,
		    "%s is not a file: name the file holding the shared "
		    "secret",
		    path);
		return AGENTD_ECONFIG;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* One line: its end is not part of the secret. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0)
		why = "is empty: write the shared secret the platform shows "
		      "in "
		      "it";
	else if (n > AD_WEBHOOK_SECRET_MAX)
		why = "holds more than 4096 bytes: write only the shared "
		      "secret in it";
	else if (memchr(buf, '\n', n) != NULL)
		why = "holds more than one line: write only the shared secret "
		      "in it";
	memset(buf + n, 0, sizeof(buf) - n);
	if (why != NULL) {
		memset(buf, 0, sizeof(buf));
		ad_seterr(err, errlen, "%s %s", path, why);
		return AGENTD_ECONFIG;
	}
	*secret = ad_xmalloc(n);
	memcpy(*secret, buf, n);
	*len = n;
	memset(buf, 0, sizeof(buf));
	return 0;
}

struct seen_agent {
	char *name;
	int   line;
};

struct parse_ctx {
	const char        *file;
	char              *text;           /* its text, comments blanked */
	char               msg[AD_ERRLEN]; /* the last error reported */
	const char        *agent;          /* agent section being read */
	int                agent_line;
	struct seen_agent *seen; /* agent sections closed so far */
	size_t             nseen;
	const char        *rule; /* policy rule section being read */
	int                rule_line;
	struct seen_agent *seen_rules; /* rules of the policy being read */
	size_t             nseen_rules;
	int                addr_line; /* where http { listen } is written */
	const char        *hook;      /* webhook section being read */
	int                hook_line;
	struct seen_agent *seen_hooks; /* webhooks closed so far */
	size_t             nseen_hooks;
	const char        *sched; /* schedule section being read */
	int                sched_line;
	struct seen_agent *seen_scheds; /* the agent's, closed so far */
	size_t             nseen_scheds;
};

static pthread_mutex_t   parse_lock = PTHREAD_MUTEX_INITIALIZER;
static struct parse_ctx *parsing;

static void
seen_clear(struct seen_agent **seen, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++)
		free((*seen)[i].name);
	free(*seen);
	*seen = NULL;
	*n    = 0;
}

static void
seen_add(struct seen_agent **seen, size_t *n, const char *name, int line)
{
	*seen            = ad_xrealloc(*seen, (*n + 1) * sizeof(**seen));
	(*seen)[*n].name = ad_xstrdup(name);
	(*seen)[*n].line = line;
	(*n)++;
}

static void
ctx_clear(struct parse_ctx *ctx)
{
	seen_clear(&ctx->seen, &ctx->nseen);
	seen_clear(&ctx->seen_rules, &ctx->nseen_rules);
	seen_clear(&ctx->seen_hooks, &ctx->nseen_hooks);
	seen_clear(&ctx->seen_scheds, &ctx->nseen_scheds);
	ctx->sched = NULL;
	ctx->agent = NULL;
	ctx->rule  = NULL;
	ctx->hook  = NULL;
}

/* "FILE:LINE: agent \"NAME\": policy rule \"RULE\": what" into the
 * context's message; the agent and the rule when inside them, or the
 * webhook ("http: webhook \"NAME\": "). */
static void
report(struct parse_ctx *ctx, int line, const char *what)
{
	char where[AD_ERRLEN], agent[AD_ERRLEN] = "", rule[AD_ERRLEN] = "";

	if (line > 0)
		ad_seterr(where, sizeof(where), "%s:%d: ", ctx->file, line);
	else
		ad_seterr(where, sizeof(where), "%s: ", ctx->file);
	if (ctx->agent != NULL)
		ad_seterr(agent, sizeof(agent), "agent \"%s\": ", ctx->agent);
	if (ctx->rule != NULL)
		ad_seterr(
		    rule, sizeof(rule), "policy rule \"%s\": ", ctx->rule);
	else if (ctx->hook != NULL)
		ad_seterr(
		    rule, sizeof(rule), "http: webhook \"%s\": ", ctx->hook);
	else if (ctx->sched != NULL)
		ad_seterr(rule, sizeof(rule), "schedule \"%s\": ", ctx->sched);
	ad_seterr(
	    ctx->msg, sizeof(ctx->msg), "%s%s%s%s", where, agent, rule, what);
}

/* Our own checks: the message already says what to do.  Returns -1. */
static int reject_at(int line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reject_at(int line, const char *fmt, ...)
{
	char    what[AD_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	report(parsing, line, what);
	return -1;
}

/* The line libconfuse is reading: where the value just checked is. */
#define reject(cfg, ...) reject_at((cfg)->line, __VA_ARGS__)

/* libconfuse's own messages say what is wrong; we add what to do. */
static const char *
advice_for(const char *msg)
{
	static const struct {
		const char *start;
		const char *advice;
	} table[] = {
		{ "no such option", "remove it or fix its spelling" },
		{ "invalid integer", "write a whole number" },
		{ "integer value", "write a smaller number" },
		{ "missing equal sign", "write NAME = VALUE" },
		{ "unterminated", "close it" },
		{ "premature end", "close every open { and \"" },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strncmp(msg, table[i].start, strlen(table[i].start)) == 0)
			return table[i].advice;
	return "check the syntax here and just before";
}

/*
 * Called for every libconfuse message.  Some are not errors (it reports
 * each new key of a free-form section although it accepts it), so the
 * last one is kept and used only if the parse fails.
 */
static void
on_confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	char what[AD_ERRLEN], line[AD_ERRLEN];

	if (parsing == NULL)
		return;
	vsnprintf(what, sizeof(what), fmt, ap);
	ad_seterr(line, sizeof(line), "%s: %s", what, advice_for(what));
	report(parsing, cfg != NULL ? cfg->line : 0, line);
}

/* ---- values that remember their line --------------------------------- */

/*
 * A hidden option of the agent and agentd sections.  libconfuse keeps
 * only the current line of a section; the one moment it holds the line
 * where the section opens is when it creates the section and sets its
 * defaults, and this option's default goes through a parse callback then.
 * The name cannot be written unquoted in a file.
 */
#define LINE_OPT "(line)"

struct located {
	int  line;
	char text[];
};

static struct located *
located_new(int line, const char *text)
{
	size_t          n = strlen(text);
	struct located *l = ad_xmalloc(sizeof(*l) + n + 1);

	l->line = line;
	memcpy(l->text, text, n + 1);
	return l;
}

static int
section_opens(cfg_t *sec, cfg_opt_t *opt, const char *value, void *result)
{
	*(struct located **)result = located_new(sec->line, "");
	if (parsing != NULL) {
		parsing->agent      = cfg_title(sec);
		parsing->agent_line = sec->line;
		seen_clear(&parsing->seen_scheds, &parsing->nseen_scheds);
	}
	return 0;
}

/* The same for a policy { }: its rules' names start afresh. */
static int
policy_opens(cfg_t *sec, cfg_opt_t *opt, const char *value, void *result)
{
	*(struct located **)result = located_new(sec->line, "");
	if (parsing != NULL)
		seen_clear(&parsing->seen_rules, &parsing->nseen_rules);
	return 0;
}

/* And for a rule "NAME" { }: messages name it until it closes. */
static int
rule_opens(cfg_t *sec, cfg_opt_t *opt, const char *value, void *result)
{
	*(struct located **)result = located_new(sec->line, "");
	if (parsing != NULL) {
		parsing->rule      = cfg_title(sec);
		parsing->rule_line = sec->line;
	}
	return 0;
}

/* And for a webhook "NAME" { }. */
static int
hook_opens(cfg_t *sec, cfg_opt_t *opt, const char *value, void *result)
{
	*(struct located **)result = located_new(sec->line, "");
	if (parsing != NULL) {
		parsing->hook      = cfg_title(sec);
		parsing->hook_line = sec->line;
	}
	return 0;
}

/* And for a schedule "NAME" { }. */
static int
sched_opens(cfg_t *sec, cfg_opt_t *opt, const char *value, void *result)
{
	*(struct located **)result = located_new(sec->line, "");
	if (parsing != NULL) {
		parsing->sched      = cfg_title(sec);
		parsing->sched_line = sec->line;
	}
	return 0;
}

static int
keep_setting(cfg_t *sec, cfg_opt_t *opt, const char *value, void *result)
{
	*(struct located **)result = located_new(sec->line, value);
	return 0;
}

static int
section_line(cfg_t *sec)
{
	struct located *l = cfg_getptr(sec, LINE_OPT);

	return l != NULL ? l->line : 0;
}

/* ---- checks run while parsing, so they know the line ----------------- */

/* The rows of section `name` among rows and their sections, or NULL. */
static const struct ad_opt *
sub_rows(const struct ad_opt *rows, const char *name)
{
	const struct ad_opt *o, *found;

	for (o = rows; o->name != NULL; o++) {
		if (o->sub == NULL) /* SECTION, POLICY and RULES have rows */
			continue;
		if (strcmp(o->name, name) == 0)
			return o->sub;
		found = sub_rows(o->sub, name);
		if (found != NULL)
			return found;
	}
	return NULL;
}

/*
 * The row libconfuse's option opt of section sec was built from.  A
 * callback is told only the section's name; section names are unique
 * within agentd { } and within agent { } (test_config checks), and
 * parsing->agent says which of the two is being read (agentd { http { } }
 * and an agent's http { } share a name).  *nested (if not NULL): sec is
 * inside an agentd or agent section.
 */
static const struct ad_opt *
row_of(cfg_t *sec, cfg_opt_t *opt, int *nested)
{
	const struct ad_opt *rows, *o;
	int                  in_section = 0;

	if (strcmp(sec->name, "agentd") == 0)
		rows = ad_global_opts;
	else if (strcmp(sec->name, "webhook") == 0)
		rows = ad_webhook_opts;
	else if (strcmp(sec->name, "schedule") == 0)
		rows = ad_schedule_opts;
	else if (strcmp(sec->name, "agent") == 0)
		rows = ad_agent_opts;
	else if ((rows = sub_rows(parsing != NULL && parsing->agent != NULL
	                  ? ad_agent_opts
	                  : ad_global_opts,
	              sec->name))
	        != NULL
	    || (rows = sub_rows(ad_agent_opts, sec->name)) != NULL
	    || (rows = sub_rows(ad_global_opts, sec->name)) != NULL)
		in_section = 1;
	if (nested != NULL)
		*nested = in_section;
	for (o = rows; o != NULL && o->name != NULL; o++)
		if (strcmp(o->name, opt->name) == 0)
			return o;
	/* Every option with a check is built from a row. */
	abort();
}

static int
check_duration(cfg_t *cfg, cfg_opt_t *opt)
{
	const struct ad_opt *o = row_of(cfg, opt, NULL);
	const char          *s = cfg_opt_getnstr(opt, 0);
	int64_t              ms;

	/* Only durations are agentd's alone (test_config checks). */
	if (o->agentd_only && parsing->agent != NULL)
		return reject(cfg,
		    "policy %s is agentd's alone: remove it here, or move "
		    "it to the policy { } at the top level of a file",
		    opt->name);
	if (ad_parse_duration(s, &ms) != 0)
		return reject(cfg,
		    "%s = \"%s\" is not a duration: write a whole number "
		    "followed by ms, s, m, h or d (250ms, 2s, 5m, 1h, 90d)",
		    opt->name, s);
	if (ms == 0 && o->lo > 0)
		return reject(cfg,
		    "%s must be longer than 0: give a duration "
		    "such as 10s",
		    opt->name);
	return 0;
}

/* COUNT and BYTES. */
static int
check_count(cfg_t *cfg, cfg_opt_t *opt)
{
	const struct ad_opt *o = row_of(cfg, opt, NULL);
	long                 v = cfg_opt_getnint(opt, 0);

	if (v < o->lo || v > o->hi)
		return reject(cfg,
		    "%s = %ld is out of range: use a number from %ld "
		    "to %ld",
		    opt->name, v, o->lo, o->hi);
	return 0;
}

/* ---- a schedule's words ---------------------------------------------- */

int
ad_cron_word(const char *s)
{
	struct ad_cron c;
	char           why[AD_ERRLEN];

	return ad_cron_parse(s, &c, why, sizeof(why)) == 0 ? 0 : -1;
}

int
ad_zone_word(const char *s)
{
	char why[AD_ERRLEN];

	return ad_cron_zone_check(s, why, sizeof(why)) == 0 ? 0 : -1;
}

/* The keys every run's event has: a body may not write them. */
static const char *const sched_keys[] = { "schedule", "due", "missed" };

/* 0 if s is a JSON object without those keys; else -1, why in why. */
static int
body_check(const char *s, char *why, size_t len)
{
	json_error_t e;
	json_t      *j = json_loads(s, JSON_REJECT_DUPLICATES, &e);
	size_t       i;
	int          rv = 0;

	if (j == NULL || !json_is_object(j)) {
		ad_seterr(why, len,
		    "not a JSON object (%s): write one such as "
		    "\"{\\\"full\\\": true}\"",
		    j == NULL ? e.text : "another JSON value");
		rv = -1;
	}
	for (i = 0; rv == 0 && i < sizeof(sched_keys) / sizeof(*sched_keys);
	     i++)
		if (json_object_get(j, sched_keys[i]) != NULL) {
			ad_seterr(why, len,
			    "writes \"%s\", which every run's event has: "
			    "rename it",
			    sched_keys[i]);
			rv = -1;
		}
	json_decref(j);
	return rv;
}

int
ad_schedule_body_word(const char *s)
{
	char why[AD_ERRLEN];

	return body_check(s, why, sizeof(why));
}

/* Why a schedule's cron, timezone or body is refused, into why: 1, or 0
 * for another row. */
static int
schedule_word_why(const struct ad_opt *o, const char *s, char *why, size_t len)
{
	struct ad_cron c;

	if (o->parse == ad_cron_word)
		ad_cron_parse(s, &c, why, len);
	else if (o->parse == ad_zone_word)
		ad_cron_zone_check(s, why, len);
	else if (o->parse == ad_schedule_body_word)
		body_check(s, why, len);
	else
		return 0;
	return 1;
}

/* ENUM and WORD.  Inside a section the section names the option too:
 * "restart policy". */
static int
check_word(cfg_t *cfg, cfg_opt_t *opt)
{
	int                  nested;
	const struct ad_opt *o = row_of(cfg, opt, &nested);
	const char          *s = cfg_opt_getnstr(opt, 0);
	char                 words[AD_ERRLEN];

	/* The one address row: its line, for checks of its section. */
	if (o->parse == ad_listen_word && parsing != NULL)
		parsing->addr_line = cfg->line;
	/* A rule's, a webhook's or a schedule's options: the message
	 * names it. */
	if (strcmp(cfg->name, "rule") == 0 || strcmp(cfg->name, "webhook") == 0
	    || strcmp(cfg->name, "schedule") == 0)
		nested = 0;
	if (ad_opt_word(o, s) >= 0)
		return 0;
	if (schedule_word_why(o, s, words, sizeof(words)))
		return reject(cfg, "%s \"%s\": %s", opt->name, s, words);
	if (o->words == NULL) /* a parse() of its own */
		return reject(cfg, "%s%s%s \"%s\" is not %s",
		    nested ? cfg->name : "", nested ? " " : "", opt->name, s,
		    o->word_hint);
	ad_opt_words(o, "", words, sizeof(words));
	return reject(cfg, "%s%s%s \"%s\" is unknown: use %s",
	    nested ? cfg->name : "", nested ? " " : "", opt->name, s, words);
}

/*
 * A NUMBER as a file writes it: decimal, with a fraction and an exponent
 * if need be (not hexadecimal, inf or nan, which strtod() would take).
 * 0 with *v, or -1.
 */
static int
parse_number(const char *s, double *v)
{
	char *end;

	if (s[0] == '\0' || s[strspn(s, "0123456789.eE+-")] != '\0')
		return -1;
	errno = 0;
	*v    = strtod(s, &end);
	return *end == '\0' && errno == 0 && isfinite(*v) ? 0 : -1;
}

/* NUMBER: a finite number, 0 or more. */
static int
check_number(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);
	double      v;

	if (parse_number(s, &v) != 0)
		return reject(cfg,
		    "%s = \"%s\" is not a number: write one such as 50 or "
		    "0.8 (not nan or inf), or remove the line",
		    opt->name, s);
	if (v < 0)
		return reject(
		    cfg, "%s = %s is negative: write 0 or more", opt->name, s);
	return 0;
}

/* TOPICS (subscribe, publish) and NAMES (calls). */
static int
check_names(cfg_t *cfg, cfg_opt_t *opt)
{
	const struct ad_opt *o     = row_of(cfg, opt, NULL);
	int                  names = o->kind == AD_OPT_NAMES;
	unsigned             i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);

		if (names && !ad_valid_name(s))
			return reject(cfg,
			    "%s: \"%s\" is not an agent name: use 1 to 63 "
			    "letters, digits, '_', '.' or '-'",
			    opt->name, s);
		if (!names && strcmp(s, "*") != 0 && !ad_valid_topic(s))
			return reject(cfg,
			    "%s: \"%s\" is not a topic: use \"*\" or 1 to "
			    "255 letters, digits, '_', '.' or '-'",
			    opt->name, s);
	}
	return 0;
}

/* CAPS: capabilities = { }, each a capability, at most the limit. */
static int
check_caps(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);

		if (!ad_valid_capability(s))
			return reject(cfg,
			    "%s: \"%s\" is not a capability: use 1 to %d "
			    "lower-case letters, digits, '_', '.' or '-'",
			    opt->name, s, AGENTD_NAME_MAX);
	}
	if (cfg_opt_size(opt) > AGENTD_CAPABILITIES_MAX)
		return reject(cfg,
		    "%s: %u capabilities, more than %d: keep the ones other "
		    "agents look for",
		    opt->name, cfg_opt_size(opt), AGENTD_CAPABILITIES_MAX);
	return 0;
}

/* PATH and PLUGIN. */
static int
check_nonempty(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_getnstr(opt, 0)[0] == '\0')
		return reject(cfg,
		    "%s is empty: give a value or remove the "
		    "line",
		    opt->name);
	return 0;
}

/* SECRET: a readable file holding a secret, found from the file's
 * directory when relative (as take_rows will). */
static int
check_secret(cfg_t *cfg, cfg_opt_t *opt)
{
	const char    *s = cfg_opt_getnstr(opt, 0);
	char          *dir, *path, why[AD_ERRLEN];
	unsigned char *secret = NULL;
	size_t         len    = 0;
	int            rv;

	if (s[0] == '\0')
		return check_nonempty(cfg, opt);
	dir  = ad_dirname(parsing->file);
	path = ad_path_join(dir, s);
	rv   = ad_webhook_secret_read(path, &secret, &len, why, sizeof(why));
	ad_webhook_secret_free(secret, len);
	free(path);
	free(dir);
	if (rv != 0)
		return reject(cfg, "%s \"%s\": %s", opt->name, s, why);
	return 0;
}

/* PATHS: every entry written. */
/* paths { exec }: programs, named whole; the sandbox grants no more. */
static int
check_programs(cfg_t *cfg, cfg_opt_t *opt)
{
	struct stat st;
	unsigned    i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);

		if (s[0] != '/')
			return reject(cfg,
			    "paths exec: \"%s\" is not an absolute path: name "
			    "each program whole, as \"/usr/bin/make\"",
			    s);
		if (stat(s, &st) != 0)
			return reject(
			    cfg, "paths exec: \"%s\": %s", s, strerror(errno));
		if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0)
			return reject(cfg,
			    "paths exec: \"%s\" is not an executable file: "
			    "name each program (a directory is not granted "
			    "whole)",
			    s);
	}
	return 0;
}

static int
check_paths(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned i;

	for (i = 0; i < cfg_opt_size(opt); i++)
		if (cfg_opt_getnstr(opt, i)[0] == '\0')
			return reject(cfg,
			    "%s: an empty path: remove it or name a file or "
			    "directory",
			    opt->name);
	return strcmp(opt->name, "exec") == 0 ? check_programs(cfg, opt) : 0;
}

/* HOSTS: http { allow }'s patterns, as sdk/http_rules.h reads them. */
static int
check_hosts(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);

		if (!ad_http_pattern_valid(s))
			return reject(cfg,
			    "http %s: \"%s\" is not a host: write a name in "
			    "lower case (api.example.com), \"*.\" and a name "
			    "(*.myshopify.com), an IPv4 address (127.0.0.1) "
			    "or "
			    "a bracketed IPv6 one ([::1]); no scheme, port or "
			    "path",
			    opt->name, s);
	}
	return 0;
}

/* USER: a user of this system, not root (a plugin never runs as root). */
static int
check_user(cfg_t *cfg, cfg_opt_t *opt)
{
	const char    *s = cfg_opt_getnstr(opt, 0);
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(s)) == NULL)
		return reject(cfg,
		    "%s \"%s\": no such user: create it "
		    "(adduser --system --group %s) or name another",
		    opt->name, s, s);
	if (pw->pw_uid == 0)
		return reject(cfg,
		    "%s \"%s\" is root: plugins must run as another user",
		    opt->name, s);
	return 0;
}

/* Runs when an agent section closes: its name, and no twin in the file. */
static int
agent_closes(cfg_t *root, cfg_opt_t *opt)
{
	struct parse_ctx *ctx  = parsing;
	const char       *name = ctx->agent;
	size_t            i;

	if (!ad_valid_name(name))
		return reject_at(ctx->agent_line,
		    "not a valid agent name: use 1 to 63 letters, digits, "
		    "'_', '.' or '-'");
	for (i = 0; i < ctx->nseen; i++)
		if (strcmp(ctx->seen[i].name, name) == 0)
			return reject_at(ctx->agent_line,
			    "defined twice in this file (first at line %d): "
			    "rename or remove one",
			    ctx->seen[i].line);
	seen_add(&ctx->seen, &ctx->nseen, name, ctx->agent_line);
	ctx->agent = NULL;
	return 0;
}

static int
global_closes(cfg_t *root, cfg_opt_t *opt)
{
	parsing->agent = NULL;
	if (cfg_opt_size(opt) > 1)
		return reject_at(section_line(cfg_opt_getnsec(opt, 1)),
		    "a second agentd section (the first is at line %d): "
		    "merge them into one",
		    section_line(cfg_opt_getnsec(opt, 0)));
	return 0;
}

/* A policy { } at the top of a file or in an agent: one there at most. */
static int
policy_closes(cfg_t *parent, cfg_opt_t *opt)
{
	if (cfg_opt_size(opt) > 1)
		return reject_at(section_line(cfg_opt_getnsec(opt, 1)),
		    "a second policy section (the first is at line %d): "
		    "merge them into one",
		    section_line(cfg_opt_getnsec(opt, 0)));
	return 0;
}

/* A rule "NAME" { } closes: its name, no twin in its policy, a risk. */
static int
rule_closes(cfg_t *policy, cfg_opt_t *opt)
{
	struct parse_ctx *ctx  = parsing;
	const char       *name = ctx->rule;
	cfg_t            *sec  = cfg_opt_gettsec(opt, name);
	size_t            i;

	if (!ad_valid_name(name))
		return reject_at(ctx->rule_line,
		    "not a valid rule name: use 1 to 63 letters, digits, "
		    "'_', '.' or '-'");
	/* A decision no rule matched names "default" as its rule. */
	if (strcmp(name, "default") == 0)
		return reject_at(ctx->rule_line,
		    "\"default\" names the policy's default_risk in "
		    "decisions: give the rule another name");
	for (i = 0; i < ctx->nseen_rules; i++)
		if (strcmp(ctx->seen_rules[i].name, name) == 0)
			return reject_at(ctx->rule_line,
			    "defined twice in this policy section (first at "
			    "line %d): rename or remove one",
			    ctx->seen_rules[i].line);
	if (sec == NULL || cfg_size(sec, "risk") == 0)
		return reject_at(
		    ctx->rule_line, "no risk: add risk = low, medium or high");
	seen_add(&ctx->seen_rules, &ctx->nseen_rules, name, ctx->rule_line);
	ctx->rule = NULL;
	return 0;
}

/* The seen webhook of that path, or NULL. */
static const struct seen_agent *
hook_of_path(cfg_opt_t *opt, const char *path, const char *name)
{
	struct parse_ctx *ctx = parsing;
	size_t            i;

	for (i = 0; i < ctx->nseen_hooks; i++) {
		cfg_t *sec    = cfg_opt_gettsec(opt, ctx->seen_hooks[i].name);
		const char *p = sec != NULL ? cfg_getstr(sec, "path") : NULL;

		if (p != NULL && strcmp(p, path) == 0
		    && strcmp(ctx->seen_hooks[i].name, name) != 0)
			return &ctx->seen_hooks[i];
	}
	return NULL;
}

/* A webhook "NAME" { } closes: its name, no twin, what it needs, a path
 * of its own. */
static int
hook_closes(cfg_t *http, cfg_opt_t *opt)
{
	(void)http;
	struct parse_ctx        *ctx  = parsing;
	const char              *name = ctx->hook;
	cfg_t                   *sec  = cfg_opt_gettsec(opt, name);
	const struct seen_agent *twin;
	static const struct {
		const char *option, *advice;
	} needs[] = {
		{ "path",
		    "add path = \"/hooks/...\", where the platform POSTs" },
		{ "topic", "add topic = \"...\", the topic its events go to" },
		{ "secret_file",
		    "add secret_file = \"...\", the file holding the shared "
		    "secret" },
		{ "signature_header",
		    "add signature_header = \"...\", the header the platform "
		    "signs in (X-Shopify-Hmac-Sha256)" },
	};
	size_t i;

	if (!ad_valid_name(name) || strlen(name) > AD_WEBHOOK_NAME_MAX)
		return reject_at(ctx->hook_line,
		    "not a valid webhook name: use 1 to %d letters, digits, "
		    "'_', '.' or '-'",
		    AD_WEBHOOK_NAME_MAX);
	for (i = 0; i < ctx->nseen_hooks; i++)
		if (strcmp(ctx->seen_hooks[i].name, name) == 0)
			return reject_at(ctx->hook_line,
			    "defined twice in http { } (first at line %d): "
			    "rename or remove one",
			    ctx->seen_hooks[i].line);
	for (i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
		if (sec == NULL || cfg_size(sec, needs[i].option) == 0)
			return reject_at(ctx->hook_line, "no %s: %s",
			    needs[i].option, needs[i].advice);
	twin = hook_of_path(opt, cfg_getstr(sec, "path"), name);
	if (twin != NULL)
		return reject_at(ctx->hook_line,
		    "path \"%s\" is webhook \"%s\"'s already (line %d): "
		    "give each webhook a path of its own",
		    cfg_getstr(sec, "path"), twin->name, twin->line);
	seen_add(&ctx->seen_hooks, &ctx->nseen_hooks, name, ctx->hook_line);
	ctx->hook = NULL;
	return 0;
}

/* A schedule "NAME" { } closes: its name, no twin in the agent, every or
 * cron (one of them), a timezone only for cron. */
static int
sched_closes(cfg_t *agent, cfg_opt_t *opt)
{
	(void)agent;
	struct parse_ctx *ctx  = parsing;
	const char       *name = ctx->sched;
	cfg_t            *sec  = cfg_opt_gettsec(opt, name);
	size_t            i;
	int               every, cron;

	if (!ad_valid_name(name) || strlen(name) + strlen("schedule.") > 255)
		return reject_at(ctx->sched_line,
		    "not a valid schedule name: use 1 to 63 letters, digits, "
		    "'_', '.' or '-'");
	for (i = 0; i < ctx->nseen_scheds; i++)
		if (strcmp(ctx->seen_scheds[i].name, name) == 0)
			return reject_at(ctx->sched_line,
			    "defined twice in this agent (first at line %d): "
			    "rename or remove one",
			    ctx->seen_scheds[i].line);
	every = sec != NULL && cfg_size(sec, "every") > 0;
	cron  = sec != NULL && cfg_size(sec, "cron") > 0;
	if (every && cron)
		return reject_at(
		    ctx->sched_line, "both every and cron: keep one of them");
	if (!every && !cron)
		return reject_at(ctx->sched_line,
		    "no time: add every = 10m, or cron = \"0 3 * * *\"");
	if (every && cfg_size(sec, "timezone") > 0)
		return reject_at(ctx->sched_line,
		    "timezone is for cron: remove it (every counts "
		    "elapsed time)");
	seen_add(&ctx->seen_scheds, &ctx->nseen_scheds, name, ctx->sched_line);
	ctx->sched = NULL;
	return 0;
}

/* ---- the text libconfuse reads -------------------------------------- */

/* A configuration file larger than this is not one. */
#define CONF_MAX_SIZE (16 * 1024 * 1024)

/* What can continue an unquoted word, in libconfuse's lexer. */
static int
word_char(char c)
{
	return c != '\0' && strchr(" #\"'\t\n\r={}()+,*", c) == NULL;
}

/* From an opening quote to its closing one, or to the end; '\\' escapes. */
static size_t
skip_quoted(const char *s, size_t i)
{
	char q = s[i++];

	while (s[i] != '\0' && s[i] != q)
		i += s[i] == '\\' && s[i + 1] != '\0' ? 2 : 1;
	return i;
}

/* Spaces over [i, end) except newlines; returns end. */
static size_t
blank(char *s, size_t i, size_t end)
{
	for (; i < end; i++)
		if (s[i] != '\n')
			s[i] = ' ';
	return end;
}

/* What the walk over a file's text found wrong: lines, 0 for none. */
struct text_faults {
	int  comment;     /* a C comment that never closes */
	int  string;      /* a quote that never closes */
	char quote;       /* which quote that is */
	int  long_string; /* the first closed string that spans lines */
	char long_quote;  /* and its quote */
	int  stray;       /* the first } that closes nothing */
	int  section;     /* the outermost { that never closes */
};

/*
 * libconfuse 3.3 counts each # or // comment as three lines, so every
 * line number after one is wrong, and refuses a comment inside a list
 * (its issue #150).  Comments are therefore blanked out, newlines kept,
 * before it reads the text.  The rules are its lexer's: outside quotes
 * '#' always starts a comment; "//" and "/" "*" do where a token starts
 * (inside an unquoted word, as in http://host, they are part of it);
 * ${VAR} where a token starts is one token, whatever it holds.
 *
 * The same walk counts { and } outside quotes and comments: libconfuse
 * takes a file that ends inside a section or inside a string (strings
 * may span lines) as complete, so a file cut short, or a stray quote
 * that swallows the rest of it, would pass as valid.
 */
static void
blank_comments(char *s, struct text_faults *f)
{
	size_t i = 0, line = 1, start;
	int    at_token = 1, depth = 0;

	memset(f, 0, sizeof(*f));
	while (s[i] != '\0') {
		char *end;

		start = i;
		if (s[i] == '"' || s[i] == '\'') {
			i = skip_quoted(s, i);
			if (s[i] == '\0') {
				f->string = (int)line;
				f->quote  = s[start];
				break;
			}
			i++;
			if (f->long_string == 0
			    && memchr(s + start, '\n', i - start) != NULL) {
				f->long_string = (int)line;
				f->long_quote  = s[start];
			}
		} else if (at_token && strncmp(s + i, "${", 2) == 0
		    && (end = strchr(s + i + 2, '}')) != NULL) {
			i = (size_t)(end - s) + 1;
		} else if (s[i] == '#'
		    || (at_token && strncmp(s + i, "//", 2) == 0)) {
			i = blank(s, i, i + strcspn(s + i, "\n"));
		} else if (at_token && strncmp(s + i, "/*", 2) == 0) {
			end = strstr(s + i + 2, "*/");
			if (end == NULL) {
				f->comment = (int)line;
				return;
			}
			i = blank(s, i, (size_t)(end - s) + 2);
		} else {
			if (s[i] == '{' && depth++ == 0)
				f->section = (int)line;
			else if (s[i] == '}' && depth > 0)
				depth--;
			else if (s[i] == '}' && f->stray == 0)
				f->stray = (int)line;
			at_token = !word_char(s[i++]);
			line += s[i - 1] == '\n';
			continue;
		}
		at_token = 1;
		for (; start < i; start++)
			line += s[start] == '\n';
	}
	if (depth == 0)
		f->section = 0;
}

/*
 * The first fault found, as FILE:LINE: what: what to do; 0 if none.  A
 * stray quote pairs with the next one, which then opens a string that
 * the end of the file cuts: the first string that ran past its line is
 * the likelier culprit.
 */
static int
text_fault(struct parse_ctx *ctx, const struct text_faults *f)
{
	if (f->comment != 0)
		ad_seterr(ctx->msg, sizeof(ctx->msg),
		    "%s:%d: comment never closed: end it with */", ctx->file,
		    f->comment);
	else if (f->string != 0 && f->long_string != 0
	    && f->long_string < f->string)
		ad_seterr(ctx->msg, sizeof(ctx->msg),
		    "%s:%d: this %c is not closed on its line, so the file "
		    "ends inside a string: close the string or remove the "
		    "stray %c",
		    ctx->file, f->long_string, f->long_quote, f->long_quote);
	else if (f->string != 0)
		ad_seterr(ctx->msg, sizeof(ctx->msg),
		    "%s:%d: this %c is never closed: close the string",
		    ctx->file, f->string, f->quote);
	else if (f->stray != 0)
		ad_seterr(ctx->msg, sizeof(ctx->msg),
		    "%s:%d: this } has no matching {: remove it or add the "
		    "missing {",
		    ctx->file, f->stray);
	else if (f->section != 0)
		ad_seterr(ctx->msg, sizeof(ctx->msg),
		    "%s:%d: this { is never closed: add a } at the end of the "
		    "section",
		    ctx->file, f->section);
	else
		return 0;
	return -1;
}

/* The whole file plus a newline (libconfuse cannot read "").  n: size. */
static char *
slurp(FILE *f, size_t *n)
{
	size_t cap = 4096;
	char  *buf = ad_xmalloc(cap);

	*n = 0;
	for (;;) {
		*n += fread(buf + *n, 1, cap - *n - 1, f);
		if (*n < cap - 1 || *n > CONF_MAX_SIZE)
			break;
		cap *= 2;
		buf = ad_xrealloc(buf, cap);
	}
	buf[*n]     = '\n';
	buf[*n + 1] = '\0';
	return buf;
}

/* Its text, comments blanked, braces and quotes checked; NULL: ctx->msg. */
static char *
read_text(struct parse_ctx *ctx)
{
	FILE              *f = fopen(ctx->file, "r");
	char              *text;
	size_t             n;
	struct text_faults faults;

	if (f == NULL) {
		ad_seterr(ctx->msg, sizeof(ctx->msg), "%s: cannot read: %s",
		    ctx->file, strerror(errno));
		return NULL;
	}
	text = slurp(f, &n);
	fclose(f);
	if (n > CONF_MAX_SIZE || memchr(text, '\0', n) != NULL) {
		ad_seterr(ctx->msg, sizeof(ctx->msg),
		    "%s: not a configuration file (binary, or larger than "
		    "%d MiB): move it out of the directory",
		    ctx->file, CONF_MAX_SIZE >> 20);
		free(text);
		return NULL;
	}
	blank_comments(text, &faults);
	if (text_fault(ctx, &faults) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Parse ctx->text with these options; NULL with ctx->msg set. */
static cfg_t *
run_parser(struct parse_ctx *ctx, cfg_opt_t *root)
{
	FILE  *fp = fmemopen(ctx->text, strlen(ctx->text), "r");
	cfg_t *cfg;
	int    rc;

	ctx_clear(ctx);
	ctx->msg[0] = '\0';
	pthread_mutex_lock(&parse_lock);
	parsing = ctx;
	cfg     = cfg_init(root, CFGF_NONE);
	if (cfg == NULL || fp == NULL) {
		fputs("agentd: out of memory\n", stderr);
		abort();
	}
	cfg->filename = ad_xstrdup(ctx->file);
	cfg_set_error_function(cfg, on_confuse_error);
	rc      = cfg_parse_fp(cfg, fp);
	parsing = NULL;
	pthread_mutex_unlock(&parse_lock);
	fclose(fp);
	ctx_clear(ctx);
	if (rc == CFG_SUCCESS)
		return cfg;
	if (ctx->msg[0] == '\0')
		ad_seterr(ctx->msg, sizeof(ctx->msg),
		    "%s: cannot parse: check its syntax", ctx->file);
	cfg_free(cfg);
	return NULL;
}

/* ---- the format ------------------------------------------------------ */

/* The arrays of options built for one parse, freed once cfg_init() has
 * copied them. */
struct built {
	cfg_opt_t **v;
	size_t      n;
};

static cfg_opt_t *
built_new(struct built *b, size_t n)
{
	b->v       = ad_xrealloc(b->v, (b->n + 1) * sizeof(*b->v));
	b->v[b->n] = ad_xcalloc(n + 1, sizeof(cfg_opt_t)); /* + CFG_END */
	return b->v[b->n++];
}

static void
built_free(struct built *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->v[i]);
	free(b->v);
}

static cfg_opt_t
checked(cfg_opt_t opt, cfg_validate_callback_t check)
{
	opt.validcb = check;
	return opt;
}

#define CHECKED(opt, check) checked((cfg_opt_t)opt, (check))

static cfg_opt_t *confuse_opts(const struct ad_opt *rows, cfg_callback_t opens,
    cfg_opt_t *settings, int settings_flags, struct built *b);
static cfg_opt_t *policy_confuse_opts(
    const struct ad_opt *rows, struct built *b);

/* libconfuse's option for row o; the default is the row's text. */
static cfg_opt_t
confuse_opt(const struct ad_opt *o, cfg_opt_t *settings, int settings_flags,
    struct built *b)
{
	int  flags = o->def != NULL ? CFGF_NONE : CFGF_NODEFAULT;
	long n     = o->def != NULL ? strtol(o->def, NULL, 10) : 0;

	switch (o->kind) {
	case AD_OPT_COUNT:
	case AD_OPT_BYTES:
		return CHECKED(CFG_INT(o->name, n, flags), check_count);
	case AD_OPT_DURATION:
		return CHECKED(
		    CFG_STR(o->name, o->def, flags), check_duration);
	case AD_OPT_BOOL:
		return (cfg_opt_t)CFG_BOOL(o->name,
		    o->def != NULL && strcmp(o->def, "true") == 0 ? cfg_true
		                                                  : cfg_false,
		    flags);
	case AD_OPT_ENUM:
	case AD_OPT_WORD:
		return CHECKED(CFG_STR(o->name, o->def, flags), check_word);
	case AD_OPT_PATH:
	case AD_OPT_PLUGIN:
		return CHECKED(
		    CFG_STR(o->name, o->def, flags), check_nonempty);
	case AD_OPT_TOPICS:
	case AD_OPT_NAMES:
		return CHECKED(
		    CFG_STR_LIST(o->name, NULL, CFGF_NONE), check_names);
	case AD_OPT_PATHS:
		return CHECKED(
		    CFG_STR_LIST(o->name, NULL, CFGF_NONE), check_paths);
	case AD_OPT_HOSTS:
		return CHECKED(
		    CFG_STR_LIST(o->name, NULL, CFGF_NONE), check_hosts);
	case AD_OPT_CAPS:
		return CHECKED(
		    CFG_STR_LIST(o->name, NULL, CFGF_NONE), check_caps);
	case AD_OPT_USER:
		return CHECKED(CFG_STR(o->name, o->def, flags), check_user);
	case AD_OPT_SECRET:
		return CHECKED(CFG_STR(o->name, o->def, flags), check_secret);
	case AD_OPT_WEBHOOKS:
		return CHECKED(
		    CFG_SEC(o->name,
		        confuse_opts(o->sub, hook_opens, NULL, 0, b),
		        CFGF_MULTI | CFGF_TITLE),
		    hook_closes);
	case AD_OPT_SCHEDULES:
		return CHECKED(
		    CFG_SEC(o->name,
		        confuse_opts(o->sub, sched_opens, NULL, 0, b),
		        CFGF_MULTI | CFGF_TITLE),
		    sched_closes);
	case AD_OPT_SECTION:
		return (cfg_opt_t)CFG_SEC(o->name,
		    confuse_opts(o->sub, NULL, settings, settings_flags, b),
		    CFGF_NONE);
	case AD_OPT_SETTINGS:
		return (cfg_opt_t)CFG_SEC(o->name, settings, settings_flags);
	case AD_OPT_NUMBER:
		return CHECKED(
		    CFG_STR(o->name, NULL, CFGF_NODEFAULT), check_number);
	case AD_OPT_POLICY:
		/* MULTI, so that one not written is not there at all. */
		return CHECKED(CFG_SEC(o->name, policy_confuse_opts(o->sub, b),
		                   CFGF_MULTI | CFGF_NODEFAULT),
		    policy_closes);
	case AD_OPT_RULES:
		return CHECKED(
		    CFG_SEC(o->name,
		        confuse_opts(o->sub, rule_opens, NULL, 0, b),
		        CFGF_MULTI | CFGF_TITLE),
		    rule_closes);
	case AD_OPT_END:
		break;
	}
	abort();
}

/*
 * libconfuse's options for a section's rows; with `opens`, led by the
 * hidden option that records where the section opens (LINE_OPT), whose
 * callback it is.
 */
static cfg_opt_t *
confuse_opts(const struct ad_opt *rows, cfg_callback_t opens,
    cfg_opt_t *settings, int settings_flags, struct built *b)
{
	const struct ad_opt *o;
	cfg_opt_t           *v;
	size_t               n = opens != NULL ? 1 : 0;

	for (o = rows; o->name != NULL; o++)
		n++;
	v = built_new(b, n);
	n = 0;
	if (opens != NULL)
		v[n++] = (cfg_opt_t)CFG_PTR_CB(
		    LINE_OPT, "0", CFGF_NONE, opens, free);
	for (o = rows; o->name != NULL; o++)
		v[n++] = confuse_opt(o, settings, settings_flags, b);
	return v;
}

/*
 * A policy { }'s options, without libconfuse's defaults: an agent's
 * takes what it does not write from agentd's, and agentd's gets the
 * rows' defaults before its section is taken (ad_config_load).
 */
static cfg_opt_t *
policy_confuse_opts(const struct ad_opt *rows, struct built *b)
{
	cfg_opt_t *v = confuse_opts(rows, policy_opens, NULL, 0, b);
	size_t     i;

	for (i = 1; v[i].name != NULL; i++) /* LINE_OPT's default stays */
		v[i].flags |= CFGF_NODEFAULT;
	return v;
}

/*
 * Parse ctx->file with settings { } read through `settings` and
 * `settings_flags`.  NULL on failure, with ctx->msg saying why.
 */
static cfg_t *
parse_file(struct parse_ctx *ctx, cfg_opt_t *settings, int settings_flags)
{
	struct built b = { NULL, 0 };
	cfg_t       *cfg;
	cfg_opt_t    root[] = {
		   CHECKED(CFG_SEC("agentd",
		               confuse_opts(
		                   ad_global_opts, section_opens, NULL, 0, &b),
		               CFGF_MULTI | CFGF_NODEFAULT),
		       global_closes),
		   CHECKED(CFG_SEC("agent",
		               confuse_opts(ad_agent_opts, section_opens,
		                   settings, settings_flags, &b),
		               CFGF_MULTI | CFGF_TITLE),
		       agent_closes),
		   /* agentd's policy: the rows of an agent's. */
		   CHECKED(
		       CFG_SEC("policy", policy_confuse_opts(ad_policy_opts, &b),
		           CFGF_MULTI | CFGF_NODEFAULT),
		       policy_closes),
		   CFG_END(),
	};

	cfg = run_parser(ctx, root);
	built_free(&b);
	return cfg;
}

/* ---- small string lists ---------------------------------------------- */

struct strv {
	char **v;
	size_t n;
};

static void
strv_push(struct strv *s, const char *str)
{
	s->v         = ad_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = ad_xstrdup(str);
}

static int
strv_has(const struct strv *s, const char *str)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return 1;
	return 0;
}

static void
strv_free(struct strv *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- pass 1: which settings keys are written ------------------------- */

static int
collect_keys(struct parse_ctx *ctx, cfg_t *root, struct strv *keys)
{
	unsigned i, j;

	for (i = 0; i < cfg_size(root, "agent"); i++) {
		cfg_t *sec = cfg_getnsec(root, "agent", i);
		cfg_t *set = cfg_getsec(sec, "settings");

		for (j = 0; j < cfg_num(set); j++) {
			const char *key = cfg_opt_name(cfg_getnopt(set, j));

			if (!ad_valid_name(key)) {
				ad_seterr(ctx->msg, sizeof(ctx->msg),
				    "%s:%d: agent \"%s\": setting name "
				    "\"%s\" is not valid: use letters, "
				    "digits, '_', '.' or '-'",
				    ctx->file, section_line(sec),
				    cfg_title(sec), key);
				return -1;
			}
			if (!strv_has(keys, key))
				strv_push(keys, key);
		}
	}
	return 0;
}

/* Pass 2's settings { }: every written key keeps its text and line. */
static cfg_opt_t *
settings_opts(const struct strv *keys)
{
	cfg_opt_t *o = ad_xcalloc(keys->n + 1, sizeof(*o));
	size_t     i;

	for (i = 0; i < keys->n; i++)
		o[i] = (cfg_opt_t)CFG_PTR_CB(
		    keys->v[i], NULL, CFGF_NODEFAULT, keep_setting, free);
	o[keys->n] = (cfg_opt_t)CFG_END();
	return o;
}

/* Both passes; the result is pass 2's tree, or NULL with ctx->msg set. */
static cfg_t *
read_tree(struct parse_ctx *ctx)
{
	cfg_opt_t   none[] = { CFG_END() };
	struct strv keys   = { NULL, 0 };
	cfg_opt_t  *opts;
	cfg_t      *cfg;

	ctx->text = read_text(ctx);
	if (ctx->text == NULL)
		return NULL;
	cfg = parse_file(ctx, none, CFGF_KEYSTRVAL);
	if (cfg != NULL && collect_keys(ctx, cfg, &keys) == 0) {
		cfg_free(cfg);
		opts = settings_opts(&keys);
		cfg  = parse_file(ctx, opts, CFGF_NONE);
		free(opts);
	} else {
		cfg_free(cfg);
		cfg = NULL;
	}
	strv_free(&keys);
	free(ctx->text);
	ctx->text = NULL;
	return cfg;
}

/* ---- the loader ------------------------------------------------------ */

/* A setting as written, kept until its plugin's schema is known. */
struct raw_setting {
	char *key;
	char *text; /* a file's content when file is set: wiped when freed */
	char *file; /* NAME_file's path, resolved; NULL: written inline */
	int   line;
};

struct raw_settings {
	struct raw_setting *v;
	size_t              n;
};

struct loader {
	const struct ad_config_opts *opts;
	struct ad_config            *c;
	struct raw_settings         *raw; /* parallel to c->agents */
	int                          global_line;
	char                        *err;
	size_t                       errlen;
};

static void
raw_free(struct raw_settings *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].key);
		if (r->v[i].file != NULL)
			ad_setting_file_free(r->v[i].text);
		else
			free(r->v[i].text);
		free(r->v[i].file);
	}
	free(r->v);
}

/* One line, whatever the caller's buffer holds. */
static void
one_line(char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

/* Remember what was left out, and why (a strict load is then refused). */
static void
add_problem(struct loader *ld, const char *file, const char *agent)
{
	struct ad_config         *c = ld->c;
	struct ad_config_problem *p;

	one_line(ld->err);
	c->problems = ad_xrealloc(
	    c->problems, (c->nproblems + 1) * sizeof(*c->problems));
	p          = &c->problems[c->nproblems++];
	p->file    = ad_xstrdup(file);
	p->agent   = agent != NULL ? ad_xstrdup(agent) : NULL;
	p->err     = ad_xstrdup(ld->err);
	ld->err[0] = '\0';
}

static void free_agent(struct ad_agent_conf *a);

/* Leave agent i out of the configuration. */
static void
drop_agent(struct loader *ld, size_t i)
{
	struct ad_config *c = ld->c;

	free_agent(&c->agents[i]);
	raw_free(&ld->raw[i]);
	memmove(&c->agents[i], &c->agents[i + 1],
	    (c->nagents - i - 1) * sizeof(*c->agents));
	memmove(&ld->raw[i], &ld->raw[i + 1],
	    (c->nagents - i - 1) * sizeof(*ld->raw));
	c->nagents--;
}

static int agent_err(const struct ad_agent_conf *a, int line, char *err,
    size_t errlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
agent_err(const struct ad_agent_conf *a, int line, char *err, size_t errlen,
    const char *fmt, ...)
{
	char    what[AD_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ad_seterr(err, errlen, "%s:%d: agent \"%s\": %s", a->file, line,
	    a->name, what);
	return AGENTD_ECONFIG;
}

/* ---- from libconfuse's tree to the runtime structs ------------------- */

/* dir: where a relative PATHS entry starts (NULL: not paths). */
static void
take_list(const struct ad_opt *o, cfg_t *sec, void *base, const char *dir)
{
	size_t   n = cfg_size(sec, o->name);
	char   **v = ad_xcalloc(n, sizeof(*v));
	unsigned i;

	for (i = 0; i < n; i++)
		v[i] = dir != NULL
		    ? ad_path_join(dir, cfg_getnstr(sec, o->name, i))
		    : ad_xstrdup(cfg_getnstr(sec, o->name, i));
	*AD_OPT_FIELD(base, o, char **) = v;
	*AD_OPT_COUNT_FIELD(base, o)    = n;
}

static void
take_string(const struct ad_opt *o, void *base, char *s)
{
	free(*AD_OPT_FIELD(base, o, char *));
	*AD_OPT_FIELD(base, o, char *) = s;
}

static void take_rows(
    const struct ad_opt *rows, cfg_t *sec, void *base, const char *dir);

/* webhook "NAME" { } sections, in file order. */
static void
take_webhooks(const struct ad_opt *o, cfg_t *sec, void *base, const char *dir)
{
	size_t                  n = cfg_size(sec, o->name), i;
	struct ad_webhook_conf *v = ad_xcalloc(n, sizeof(*v));

	for (i = 0; i < n; i++) {
		cfg_t *hsec = cfg_getnsec(sec, o->name, (unsigned)i);

		ad_opts_defaults(o->sub, &v[i]);
		v[i].name = ad_xstrdup(cfg_title(hsec));
		v[i].line = section_line(hsec);
		take_rows(o->sub, hsec, &v[i], dir);
	}
	*AD_OPT_FIELD(base, o, struct ad_webhook_conf *) = v;
	*AD_OPT_COUNT_FIELD(base, o)                     = n;
}

/* schedule "NAME" { } sections, in file order. */
static void
take_schedules(const struct ad_opt *o, cfg_t *sec, void *base)
{
	size_t                   n = cfg_size(sec, o->name), i;
	struct ad_schedule_conf *v = ad_xcalloc(n, sizeof(*v));

	for (i = 0; i < n; i++) {
		cfg_t *ssec = cfg_getnsec(sec, o->name, (unsigned)i);

		ad_opts_defaults(o->sub, &v[i]);
		v[i].name = ad_xstrdup(cfg_title(ssec));
		v[i].line = section_line(ssec);
		take_rows(o->sub, ssec, &v[i], NULL);
	}
	*AD_OPT_FIELD(base, o, struct ad_schedule_conf *) = v;
	*AD_OPT_COUNT_FIELD(base, o)                      = n;
}

/*
 * Copies what sec holds into the fields its rows land in: the values
 * written, else the rows' defaults (libconfuse has them).  An option not
 * written and without a default leaves its field as it is.  Values were
 * checked while parsing, and defaults are the rows' own, so nothing
 * fails here.  dir: where a relative PATH starts.
 */
static void
take_rows(const struct ad_opt *rows, cfg_t *sec, void *base, const char *dir)
{
	const struct ad_opt *o;
	int64_t              ms = 0;
	double               v  = 0;

	for (o = rows; o->name != NULL; o++) {
		if (o->kind == AD_OPT_SECTION) {
			take_rows(o->sub, cfg_getsec(sec, o->name), base, dir);
			continue;
		}
		if (AD_OPT_IS_LIST(o->kind)) {
			take_list(o, sec, base,
			    o->kind == AD_OPT_PATHS ? dir : NULL);
			continue;
		}
		if (o->kind == AD_OPT_WEBHOOKS) {
			take_webhooks(o, sec, base, dir);
			continue;
		}
		if (o->kind == AD_OPT_SCHEDULES) {
			take_schedules(o, sec, base);
			continue;
		}
		if (o->kind == AD_OPT_SETTINGS || o->kind == AD_OPT_POLICY
		    || o->kind == AD_OPT_RULES || cfg_size(sec, o->name) == 0)
			continue;
		if (o->set_at != 0)
			*(int *)((char *)base + o->set_at) = 1;
		switch (o->kind) {
		case AD_OPT_COUNT:
			*AD_OPT_FIELD(base, o, unsigned)
			    = (unsigned)cfg_getint(sec, o->name);
			break;
		case AD_OPT_BYTES:
			*AD_OPT_FIELD(base, o, size_t)
			    = (size_t)cfg_getint(sec, o->name);
			break;
		case AD_OPT_DURATION:
			ad_parse_duration(cfg_getstr(sec, o->name), &ms);
			*AD_OPT_FIELD(base, o, int64_t) = ms;
			break;
		case AD_OPT_BOOL:
			*AD_OPT_FIELD(base, o, int)
			    = cfg_getbool(sec, o->name) ? 1 : 0;
			break;
		case AD_OPT_ENUM:
			*AD_OPT_FIELD(base, o, int)
			    = ad_opt_word(o, cfg_getstr(sec, o->name));
			break;
		case AD_OPT_WORD:
		case AD_OPT_PLUGIN:
		case AD_OPT_USER:
			take_string(
			    o, base, ad_xstrdup(cfg_getstr(sec, o->name)));
			break;
		case AD_OPT_PATH:
		case AD_OPT_SECRET:
			take_string(o, base,
			    ad_path_join(dir, cfg_getstr(sec, o->name)));
			break;
		case AD_OPT_NUMBER:
			parse_number(cfg_getstr(sec, o->name), &v);
			*AD_OPT_FIELD(base, o, double) = v;
			break;
		default:
			break;
		}
	}
}

/* ---- policy { } ------------------------------------------------------ */

/*
 * A policy section into p, which holds what is not written (agentd's
 * defaults, or nothing for an agent's); its rules in file order.  Like
 * take_rows, nothing fails here: what the tree holds was checked.
 */
static void
take_policy(cfg_t *sec, const char *file, struct ad_policy *p)
{
	unsigned i;

	p->file = ad_xstrdup(file);
	p->line = section_line(sec);
	take_rows(ad_policy_opts, sec, p, NULL);
	p->nrules = cfg_size(sec, "rule");
	p->rules  = ad_xcalloc(p->nrules, sizeof(*p->rules));
	for (i = 0; i < p->nrules; i++) {
		cfg_t                 *rsec = cfg_getnsec(sec, "rule", i);
		struct ad_policy_rule *r    = &p->rules[i];

		ad_opts_defaults(ad_rule_opts, r);
		r->name = ad_xstrdup(cfg_title(rsec));
		r->file = ad_xstrdup(file);
		r->line = section_line(rsec);
		take_rows(ad_rule_opts, rsec, r, NULL);
	}
}

/* A duration as a file would write it, in its largest whole unit. */
static const char *
duration_text(int64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		int64_t     ms;
	} units[] = { { "d", 24 * 60 * 60 * 1000 }, { "h", 60 * 60 * 1000 },
		{ "m", 60 * 1000 }, { "s", 1000 } };
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(buf, len, "%lld%s",
			    (long long)(ms / units[i].ms), units[i].unit);
			return buf;
		}
	snprintf(buf, len, "%lldms", (long long)ms);
	return buf;
}

static int policy_err(const struct ad_policy *p, const struct ad_agent_conf *a,
    int line, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* "FILE:LINE: [agent \"NAME\": ]what", a NULL: agentd's policy. */
static int
policy_err(const struct ad_policy *p, const struct ad_agent_conf *a, int line,
    char *err, size_t errlen, const char *fmt, ...)
{
	char    what[AD_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (a != NULL)
		return agent_err(a, line, err, errlen, "%s", what);
	ad_seterr(err, errlen, "%s:%d: %s", p->file, line, what);
	return AGENTD_ECONFIG;
}

/* A deadline outside agentd's bounds: 0 if within. */
static int
deadline_outside(int64_t ms, const struct ad_policy *g)
{
	return ms < g->deadline_min_ms || ms > g->deadline_max_ms;
}

/*
 * What a policy's options say together, once agentd's is known: its
 * deadlines within agentd's deadline_min and deadline_max (agentd's own
 * deadline, written or not, too), bounds that some value can meet.
 * a: the agent whose policy p is; NULL for agentd's (g == p).
 */
static int
check_policy(const struct ad_policy *p, const struct ad_policy *g,
    const struct ad_agent_conf *a, char *err, size_t errlen)
{
	char   t1[32], t2[32], t3[32];
	size_t i;

	if (a == NULL && g->deadline_min_ms > g->deadline_max_ms)
		return policy_err(p, a, p->line, err, errlen,
		    "policy deadline_min (%s) is longer than deadline_max "
		    "(%s): lower deadline_min or raise deadline_max",
		    duration_text(g->deadline_min_ms, t1, sizeof(t1)),
		    duration_text(g->deadline_max_ms, t2, sizeof(t2)));
	if ((a == NULL || p->deadline_set)
	    && deadline_outside(p->deadline_ms, g))
		return policy_err(p, a, p->line, err, errlen,
		    "policy deadline %s%s is not within %s to %s (agentd's "
		    "deadline_min and deadline_max): write one within them, "
		    "or change them",
		    duration_text(p->deadline_ms, t1, sizeof(t1)),
		    p->deadline_set ? "" : " (the default)",
		    duration_text(g->deadline_min_ms, t2, sizeof(t2)),
		    duration_text(g->deadline_max_ms, t3, sizeof(t3)));
	for (i = 0; i < p->nrules; i++) {
		const struct ad_policy_rule *r = &p->rules[i];

		if (r->deadline_ms > 0 && deadline_outside(r->deadline_ms, g))
			return policy_err(p, a, r->line, err, errlen,
			    "policy rule \"%s\": deadline %s is not within "
			    "%s to %s (agentd's deadline_min and "
			    "deadline_max): write one within them, or "
			    "change them",
			    r->name,
			    duration_text(r->deadline_ms, t1, sizeof(t1)),
			    duration_text(g->deadline_min_ms, t2, sizeof(t2)),
			    duration_text(g->deadline_max_ms, t3, sizeof(t3)));
		/* Both are false for a NAN: only bounds both set count. */
		if (r->amount_min >= r->amount_max)
			return policy_err(p, a, r->line, err, errlen,
			    "policy rule \"%s\": amount_at_least (%g) is not "
			    "below amount_below (%g), so no amount matches: "
			    "lower amount_at_least or raise amount_below",
			    r->name, r->amount_min, r->amount_max);
		if (r->confidence_min >= r->confidence_max)
			return policy_err(p, a, r->line, err, errlen,
			    "policy rule \"%s\": confidence_at_least (%g) is "
			    "not below confidence_below (%g), so no "
			    "confidence matches: lower confidence_at_least or "
			    "raise confidence_below",
			    r->name, r->confidence_min, r->confidence_max);
	}
	return 0;
}

/*
 * The policy { } at the top of a file: agentd's.  Taken into a copy of
 * what agentd's holds, checked, and only then kept, so that a refused
 * file (tolerant loading) leaves agentd's policy as it was.
 */
static int
take_top_policy(
    struct loader *ld, cfg_t *root, const char *file, struct ad_policy *out)
{
	struct ad_policy *g = &ld->c->global.policy;
	cfg_t            *sec;
	int               rv;

	memset(out, 0, sizeof(*out));
	if (cfg_size(root, "policy") == 0)
		return 0;
	sec = cfg_getnsec(root, "policy", 0);
	if (g->file != NULL) {
		ad_seterr(ld->err, ld->errlen,
		    "%s:%d: a second top-level policy section (the first is "
		    "in %s:%d): keep only one",
		    file, section_line(sec), g->file, g->line);
		return AGENTD_ECONFIG;
	}
	/* Until now g holds the rows' defaults and nothing allocated. */
	*out = *g;
	take_policy(sec, file, out);
	rv = check_policy(out, out, NULL, ld->err, ld->errlen);
	if (rv != 0)
		ad_policy_clear(out);
	return rv;
}

/* ---- agentd { } ------------------------------------------------------ */

/* What involves more than one option of http { }. */
static int
check_http(
    const struct ad_global_conf *g, const char *file, char *err, size_t errlen)
{
	int loopback = 0;

	if (g->http_listen == NULL && g->http_nwebhooks > 0) {
		ad_seterr(err, errlen,
		    "%s:%d: http: webhook \"%s\": no HTTP server to receive "
		    "it: write http { listen = \"HOST:PORT\" }",
		    file, g->http_webhooks[0].line, g->http_webhooks[0].name);
		return AGENTD_ECONFIG;
	}
	if (g->http_listen == NULL)
		return 0;
	ad_parse_listen(g->http_listen, NULL, NULL, &loopback);
	if ((g->http_cert_file == NULL) != (g->http_key_file == NULL)) {
		ad_seterr(err, errlen,
		    "%s:%d: http: cert_file and key_file go together: write "
		    "both for HTTPS, or neither",
		    file, g->http_line);
		return AGENTD_ECONFIG;
	}
	if (!loopback && g->http_cert_file == NULL && !g->http_insecure) {
		ad_seterr(err, errlen,
		    "%s:%d: http: listen = \"%s\" is not a loopback address: "
		    "give it cert_file and key_file for HTTPS, or write "
		    "insecure = true if a proxy in front does TLS",
		    file, g->http_line, g->http_listen);
		return AGENTD_ECONFIG;
	}
	return 0;
}

static int
take_global(struct loader *ld, cfg_t *root, const char *file, int addr_line)
{
	struct ad_global_conf *g = &ld->c->global;
	cfg_t                 *sec;
	char                  *base;
	int                    line;

	if (cfg_size(root, "agentd") == 0)
		return 0;
	sec  = cfg_getnsec(root, "agentd", 0);
	line = section_line(sec);
	if (g->file != NULL) {
		ad_seterr(ld->err, ld->errlen,
		    "%s:%d: a second agentd section (the first is in %s:%d): "
		    "keep only one",
		    file, line, g->file, ld->global_line);
		return AGENTD_ECONFIG;
	}
	ld->global_line = line;
	g->file         = ad_xstrdup(file);
	base            = ad_dirname(file);
	take_rows(ad_global_opts, sec, g, base);
	free(base);
	g->http_line = addr_line;
	return check_http(g, file, ld->err, ld->errlen);
}

/* What the files did not say comes from opts, after every file is read. */
static void
finish_global(struct loader *ld)
{
	struct ad_global_conf       *g = &ld->c->global;
	const struct ad_config_opts *o = ld->opts;

	if (g->state_dir == NULL)
		g->state_dir = ad_xstrdup_or_null(o->default_state_dir);
	if (g->run_dir == NULL)
		g->run_dir = ad_xstrdup_or_null(o->default_run_dir);
	if (o->plugin_dir != NULL) {
		free(g->plugin_dir);
		g->plugin_dir = ad_xstrdup(o->plugin_dir);
	} else if (g->plugin_dir == NULL) {
		g->plugin_dir = ad_xstrdup_or_null(o->default_plugin_dir);
	}
}

/* ---- agent "NAME" { } ------------------------------------------------ */

/* What involves two options; the rows' `limits` say so in the docs. */
static int
check_agent(struct ad_agent_conf *a, char *err, size_t errlen)
{
	/* max has no default of its own, and a written one is at least 1. */
	if (a->max_instances == 0)
		a->max_instances = a->min_instances > 1 ? a->min_instances : 1;
	if (a->min_instances > a->max_instances)
		return agent_err(a, a->line, err, errlen,
		    "instances min (%u) is greater than max (%u): lower min "
		    "or raise max",
		    a->min_instances, a->max_instances);
	if (a->backoff_initial_ms > a->backoff_max_ms)
		return agent_err(a, a->line, err, errlen,
		    "restart backoff_initial is longer than backoff_max: "
		    "shorten it or raise backoff_max");
	/* Two heartbeats fit in hung_after, so one lost or late report does
	 * not kill a healthy instance. */
	if (a->heartbeat_ms * 2 > a->hung_after_ms)
		return agent_err(a, a->line, err, errlen,
		    "health hung_after (%lld ms) is shorter than two "
		    "heartbeats (%lld ms each): raise hung_after or shorten "
		    "heartbeat",
		    (long long)a->hung_after_ms, (long long)a->heartbeat_ms);
	if (a->http_ca_file != NULL && a->nhttp_allow == 0)
		return agent_err(a, a->line, err, errlen,
		    "http ca_file without http allow: no request could use "
		    "it; add the hosts to allow or remove ca_file");
	if (a->http_ca_file != NULL && access(a->http_ca_file, R_OK) != 0)
		return agent_err(a, a->line, err, errlen,
		    "http ca_file %s: %s: name a PEM file agentd can read",
		    a->http_ca_file, strerror(errno));
	return 0;
}

static int
by_line(const void *a, const void *b)
{
	const struct raw_setting *x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

/* Keys and texts are copied: the tree is freed before schemas arrive. */
static void
take_settings(cfg_t *set, struct raw_settings *raw)
{
	unsigned i;

	for (i = 0; i < cfg_num(set); i++) {
		cfg_opt_t      *opt = cfg_getnopt(set, i);
		struct located *l;

		if (cfg_opt_size(opt) == 0)
			continue;
		l      = cfg_opt_getnptr(opt, 0);
		raw->v = ad_xrealloc(raw->v, (raw->n + 1) * sizeof(*raw->v));
		raw->v[raw->n].key  = ad_xstrdup(cfg_opt_name(opt));
		raw->v[raw->n].text = ad_xstrdup(l->text);
		raw->v[raw->n].file = NULL;
		raw->v[raw->n].line = l->line;
		raw->n++;
	}
	/* Problems are reported in the order they are written. */
	if (raw->n > 1)
		qsort(raw->v, raw->n, sizeof(*raw->v), by_line);
}

static int
take_agent(cfg_t *sec, const char *file, struct ad_agent_conf *a,
    struct raw_settings *raw, char *err, size_t errlen)
{
	a->name = ad_xstrdup(cfg_title(sec));
	a->file = ad_xstrdup(file);
	a->line = section_line(sec);
	if (cfg_size(sec, "plugin") == 0)
		return agent_err(a, a->line, err, errlen,
		    "no plugin: add plugin = \"NAME.so\"");
	take_rows(ad_agent_opts, sec, a, NULL);
	if (cfg_size(sec, "policy") > 0) {
		/* Nothing but what it writes: the rest is agentd's. */
		a->policy = ad_xcalloc(1, sizeof(*a->policy));
		take_policy(cfg_getnsec(sec, "policy", 0), file, a->policy);
	}
	take_settings(cfg_getsec(sec, "settings"), raw);
	return check_agent(a, err, errlen);
}

static struct ad_agent_conf *
agent_named(struct ad_config *c, const char *name)
{
	return (struct ad_agent_conf *)ad_config_agent(c, name);
}

static int
add_agent(struct loader *ld, cfg_t *sec, const char *file)
{
	struct ad_config     *c     = ld->c;
	struct ad_agent_conf *first = agent_named(c, cfg_title(sec));
	struct ad_agent_conf *a;

	if (first != NULL) {
		ad_seterr(ld->err, ld->errlen,
		    "%s:%d: agent \"%s\": already defined at %s:%d: rename "
		    "or remove one",
		    file, section_line(sec), first->name, first->file,
		    first->line);
		return AGENTD_ECONFIG;
	}
	c->agents = ad_xrealloc(c->agents, (c->nagents + 1) * sizeof(*a));
	ld->raw   = ad_xrealloc(ld->raw, (c->nagents + 1) * sizeof(*ld->raw));
	a         = &c->agents[c->nagents];
	memset(a, 0, sizeof(*a));
	memset(&ld->raw[c->nagents], 0, sizeof(*ld->raw));
	c->nagents++;
	return take_agent(
	    sec, file, a, &ld->raw[c->nagents - 1], ld->err, ld->errlen);
}

/*
 * The sections at the top of a file: its policy { }, then its agentd { }.
 * agentd's policy changes only if both are accepted.  A refused one is a
 * problem of the whole file; tolerant loading then leaves the file out,
 * agents and all, and strict loading goes on to its agents.
 */
static int
take_file_sections(
    struct loader *ld, cfg_t *root, const char *file, int addr_line)
{
	struct ad_policy policy;
	int              refused = 0;

	if (take_top_policy(ld, root, file, &policy) != 0) {
		add_problem(ld, file, NULL);
		refused = 1;
	}
	if (!refused || !ld->opts->tolerant) {
		if (take_global(ld, root, file, addr_line) != 0) {
			add_problem(ld, file, NULL);
			refused = 1;
		}
	}
	if (!refused && policy.file != NULL) {
		ad_policy_clear(&ld->c->global.policy);
		ld->c->global.policy = policy;
	} else {
		ad_policy_clear(&policy);
	}
	return refused;
}

/* Every error is a problem and the next section is read: ad_config_load
 * refuses a strict load that has any. */
static void
read_file(struct loader *ld, const char *file)
{
	struct parse_ctx ctx;
	cfg_t           *root;
	unsigned         i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.file = file;
	root     = read_tree(&ctx);
	if (root == NULL) {
		/* libconfuse stops at the first syntax error of a file. */
		ad_seterr(ld->err, ld->errlen, "%s", ctx.msg);
		add_problem(ld, file, NULL);
		return;
	}
	if (take_file_sections(ld, root, file, ctx.addr_line)
	    && ld->opts->tolerant) {
		cfg_free(root);
		return;
	}
	for (i = 0; i < cfg_size(root, "agent"); i++) {
		cfg_t *sec    = cfg_getnsec(root, "agent", i);
		size_t before = ld->c->nagents;

		if (add_agent(ld, sec, file) != 0) {
			/* This agent stays as it was; the others go on. */
			add_problem(ld, file, cfg_title(sec));
			if (ld->c->nagents > before)
				drop_agent(ld, before);
		}
	}
	cfg_free(root);
}

/* ---- the directory --------------------------------------------------- */

static int
is_conf_file(const char *dir, const char *name)
{
	size_t      n = strlen(name);
	struct stat st;
	char       *path;
	int         ok;

	/* Editors and package managers leave dot files beside real ones. */
	if (name[0] == '.' || n <= 5 || strcmp(name + n - 5, ".conf") != 0)
		return 0;
	path = ad_path_join(dir, name);
	ok   = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok;
}

/* "." is left out of the names shown, so messages read conf.d/x.conf. */
static char *
shown_path(const char *dir, const char *name)
{
	if (strcmp(dir, ".") == 0)
		return ad_xstrdup(name);
	return ad_path_join(dir, name);
}

static int
list_confs(const char *dir, struct strv *files, char *err, size_t errlen)
{
	struct strv    names = { NULL, 0 };
	struct dirent *de;
	DIR           *d = opendir(dir);
	size_t         i;

	if (d == NULL) {
		ad_seterr(err, errlen,
		    "cannot read configuration directory %s: %s", dir,
		    strerror(errno));
		return errno == ENOENT ? AGENTD_ENOENT : AGENTD_ECONFIG;
	}
	while ((de = readdir(d)) != NULL)
		if (is_conf_file(dir, de->d_name))
			strv_push(&names, de->d_name);
	closedir(d);
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(*names.v), by_name);
	for (i = 0; i < names.n; i++) {
		files->v
		    = ad_xrealloc(files->v, (files->n + 1) * sizeof(char *));
		files->v[files->n++] = shown_path(dir, names.v[i]);
	}
	strv_free(&names);
	return 0;
}

static int
list_all_confs(
    const char *confdir, struct strv *files, char *err, size_t errlen)
{
	struct stat st;
	char       *sub;
	int         rv;

	if (stat(confdir, &st) != 0 && errno == ENOENT) {
		ad_seterr(err, errlen,
		    "configuration directory %s does not exist: create it "
		    "or point agentd at another one",
		    confdir);
		return AGENTD_ENOENT;
	}
	rv = list_confs(confdir, files, err, errlen);
	if (rv != 0)
		return rv == AGENTD_ENOENT ? AGENTD_ECONFIG : rv;
	sub = shown_path(confdir, "conf.d");
	if (stat(sub, &st) == 0)
		rv = list_confs(sub, files, err, errlen);
	free(sub);
	return rv;
}

/* ---- settings against the plugin's schema ---------------------------- */

/* Text to a typed value; -1 if it is not of that type. */
static int
setting_parse(const char *text, struct ad_setting_value *v)
{
	if (ad_setting_parse(text, v) != 0)
		return -1;
	if (v->type == AGENTD_SETTING_STRING)
		v->v.s = ad_xstrdup(text);
	return 0;
}

static const char *
type_wording(enum agentd_setting_type t)
{
	switch (t) {
	case AGENTD_SETTING_INT:
		return "a whole number";
	case AGENTD_SETTING_DOUBLE:
		return "a number";
	case AGENTD_SETTING_BOOL:
		return "true or false";
	default:
		return "a string";
	}
}

static int
unknown_setting(const struct ad_agent_conf *a, const struct raw_setting *r,
    const struct ad_schema *s, char *err, size_t errlen)
{
	char   known[AD_ERRLEN] = "";
	size_t i, n;

	for (i = 0; i < s->nsettings; i++) {
		n = strlen(known);
		ad_seterr(known + n, sizeof(known) - n, "%s%s",
		    i > 0 ? ", " : "", s->settings[i].name);
	}
	if (s->nsettings == 0)
		return agent_err(a, r->line, err, errlen,
		    "unknown setting \"%s\" (plugin \"%s\" takes no "
		    "settings): remove it",
		    r->key, s->plugin_name);
	return agent_err(a, r->line, err, errlen,
	    "unknown setting \"%s\" (plugin \"%s\" knows %s): fix its name "
	    "or remove it",
	    r->key, s->plugin_name, known);
}

/* Every written key is declared and of its declared type. */
static int
check_written(const struct ad_agent_conf *a, const struct raw_settings *raw,
    const struct ad_schema *s, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < raw->n; i++) {
		const struct raw_setting    *r = &raw->v[i];
		const struct ad_setting_def *d = ad_schema_find(s, r->key);
		struct ad_setting_value      v = { .type = 0 };
		int                          bad;

		if (d == NULL)
			return unknown_setting(a, r, s, err, errlen);
		v.type = d->type;
		/* (Never the value: one read from a file may be a secret.) */
		bad = setting_parse(r->text, &v) != 0;
		if (bad && r->file != NULL)
			return agent_err(a, r->line, err, errlen,
			    "setting \"%s_file\": what %s holds must be %s "
			    "(the plugin declares \"%s\" %s)",
			    r->key, r->file, type_wording(d->type), r->key,
			    ad_setting_type_name(d->type));
		if (bad)
			return agent_err(a, r->line, err, errlen,
			    "setting \"%s\" must be %s (the plugin declares "
			    "it %s)",
			    r->key, type_wording(d->type),
			    ad_setting_type_name(d->type));
		if (v.type == AGENTD_SETTING_STRING)
			free(v.v.s);
	}
	return 0;
}

static const struct raw_setting *
raw_find(const struct raw_settings *raw, const char *key)
{
	size_t i;

	for (i = 0; i < raw->n; i++)
		if (strcmp(raw->v[i].key, key) == 0)
			return &raw->v[i];
	return NULL;
}

/*
 * `NAME_file = "PATH"` written as r, for NAME the plugin declares as d:
 * r becomes NAME, its text PATH's content (a relative PATH starts at the
 * directory of the agent's .conf).  What is refused says where.
 */
static int
take_setting_file(struct ad_agent_conf *a, struct raw_settings *raw,
    struct raw_setting *r, const struct ad_setting_def *d, char *err,
    size_t errlen)
{
	const struct raw_setting *inline_too = raw_find(raw, d->name);
	char                      why[AD_ERRLEN], *dir, *path, *value;
	size_t                    len;

	if (inline_too != NULL)
		return agent_err(a, r->line, err, errlen,
		    "setting \"%s\" and \"%s\" (line %d) both give \"%s\": "
		    "keep one",
		    r->key, d->name, inline_too->line, d->name);
	if (r->text[0] == '\0')
		return agent_err(a, r->line, err, errlen,
		    "setting \"%s\" is empty: name the file holding \"%s\"",
		    r->key, d->name);
	dir  = ad_dirname(a->file);
	path = ad_path_join(dir, r->text);
	free(dir);
	if (ad_setting_file_read(path, &value, &len, why, sizeof(why)) != 0) {
		free(path);
		return agent_err(a, r->line, err, errlen, "setting \"%s\": %s",
		    r->key, why);
	}
	free(r->key);
	free(r->text);
	r->key  = ad_xstrdup(d->name);
	r->text = value;
	r->file = path;
	return 0;
}

/*
 * Every written key NAME_file that the plugin does not declare, for a
 * NAME it does: read now, as NAME (a plugin that declares token_file
 * itself gets token_file as written).
 */
static int
take_setting_files(struct ad_agent_conf *a, struct raw_settings *raw,
    const struct ad_schema *s, char *err, size_t errlen)
{
	char                         name[AGENTD_NAME_MAX + 1];
	const struct ad_setting_def *d;
	size_t                       i;
	int                          rv;

	for (i = 0; i < raw->n; i++) {
		struct raw_setting *r = &raw->v[i];

		if (ad_schema_find(s, r->key) != NULL
		    || ad_setting_file_target(r->key, name, sizeof(name)) != 0
		    || (d = ad_schema_find(s, name)) == NULL)
			continue;
		if ((rv = take_setting_file(a, raw, r, d, err, errlen)) != 0)
			return rv;
	}
	return 0;
}

/* One value in schema order: as written, else the plugin's default. */
static int
fill_setting(struct ad_agent_conf *a, const struct raw_settings *raw,
    const struct ad_schema *s, const struct ad_setting_def *d,
    struct ad_setting_value *v, char *err, size_t errlen)
{
	const struct raw_setting *r = raw_find(raw, d->name);

	v->name = ad_xstrdup(d->name);
	v->type = d->type;
	if (r != NULL) {
		v->file = ad_xstrdup_or_null(r->file);
		return setting_parse(r->text, v) == 0 ? 0 : AGENTD_ECONFIG;
	}
	if (d->default_value == NULL)
		return agent_err(a, a->line, err, errlen,
		    "setting \"%s\" is required (the plugin declares it %s, "
		    "with no default): add %s = ... to its settings { }",
		    d->name, ad_setting_type_name(d->type), d->name);
	if (setting_parse(d->default_value, v) != 0)
		return agent_err(a, a->line, err, errlen,
		    "plugin \"%s\" declares default \"%s\" for setting "
		    "\"%s\", which is not %s: fix the plugin",
		    s->plugin_name, d->default_value, d->name,
		    ad_setting_type_name(d->type));
	return 0;
}

static int
apply_schema(struct ad_agent_conf *a, struct raw_settings *raw,
    const struct ad_schema *s, char *err, size_t errlen)
{
	size_t i;
	int    rv;

	rv = take_setting_files(a, raw, s, err, errlen);
	if (rv == 0)
		rv = check_written(a, raw, s, err, errlen);
	if (rv != 0)
		return rv;
	a->settings  = ad_xcalloc(s->nsettings, sizeof(*a->settings));
	a->nsettings = s->nsettings;
	for (i = 0; i < s->nsettings; i++) {
		rv = fill_setting(
		    a, raw, s, &s->settings[i], &a->settings[i], err, errlen);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* Without a lookup (syntax checks only), settings stay untyped strings. */
static void
keep_as_strings(struct ad_agent_conf *a, const struct raw_settings *raw)
{
	size_t i;

	a->settings  = ad_xcalloc(raw->n, sizeof(*a->settings));
	a->nsettings = raw->n;
	for (i = 0; i < raw->n; i++) {
		a->settings[i].name = ad_xstrdup(raw->v[i].key);
		a->settings[i].type = AGENTD_SETTING_STRING;
		a->settings[i].v.s  = ad_xstrdup(raw->v[i].text);
	}
}

static char *
resolve_plugin(const struct ad_agent_conf *a, const char *plugin_dir)
{
	char *dir, *path;

	if (a->plugin[0] == '/')
		return ad_xstrdup(a->plugin);
	if (strchr(a->plugin, '/') == NULL && plugin_dir != NULL)
		return ad_path_join(plugin_dir, a->plugin);
	dir  = ad_dirname(a->file);
	path = ad_path_join(dir, a->plugin);
	free(dir);
	return path;
}

static int
cap_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The agent's capabilities = { } with its plugin's (s may be NULL),
 * sorted and unique: what status, agentctl agents and find_agents show.
 */
static int
merge_capabilities(struct ad_agent_conf *a, const struct ad_schema *s,
    char *err, size_t errlen)
{
	size_t n = a->ncapabilities + (s != NULL ? s->ncapabilities : 0);
	size_t i, k;

	a->capabilities = ad_xrealloc(
	    a->capabilities, (n ? n : 1) * sizeof(*a->capabilities));
	for (i = 0; s != NULL && i < s->ncapabilities; i++)
		a->capabilities[a->ncapabilities++]
		    = ad_xstrdup(s->capabilities[i]);
	qsort(a->capabilities, n, sizeof(*a->capabilities), cap_cmp);
	for (i = k = 0; i < n; i++) {
		if (k > 0
		    && strcmp(a->capabilities[k - 1], a->capabilities[i]) == 0)
			free(a->capabilities[i]);
		else
			a->capabilities[k++] = a->capabilities[i];
	}
	a->ncapabilities = k;
	if (k > AGENTD_CAPABILITIES_MAX)
		return agent_err(a, a->line, err, errlen,
		    "%zu capabilities with those of plugin \"%s\", more "
		    "than %d: write fewer in capabilities = { }",
		    k, s != NULL ? s->plugin_name : a->plugin,
		    AGENTD_CAPABILITIES_MAX);
	return 0;
}

static int
settle_agent(
    struct loader *ld, size_t i, ad_schema_lookup_fn lookup, void *arg)
{
	struct ad_agent_conf *a              = &ld->c->agents[i];
	struct ad_schema     *schema         = NULL;
	char                  why[AD_ERRLEN] = "";
	int                   rv;

	/* agentd's policy may be in a file read after the agent's. */
	if (a->policy != NULL) {
		rv = check_policy(
		    a->policy, &ld->c->global.policy, a, ld->err, ld->errlen);
		if (rv != 0)
			return rv;
	}
	a->plugin_path = resolve_plugin(a, ld->c->global.plugin_dir);
	if (lookup == NULL) {
		keep_as_strings(a, &ld->raw[i]);
		return merge_capabilities(a, NULL, ld->err, ld->errlen);
	}
	rv = lookup(arg, a, &schema, why, sizeof(why));
	if (rv != 0)
		return agent_err(a, a->line, ld->err, ld->errlen, "%s", why);
	if (schema == NULL)
		schema = ad_xcalloc(1, sizeof(*schema));
	rv = apply_schema(a, &ld->raw[i], schema, ld->err, ld->errlen);
	if (rv == 0)
		rv = merge_capabilities(a, schema, ld->err, ld->errlen);
	ad_schema_free(schema);
	return rv;
}

static int
load(struct loader *ld, const char *confdir, ad_schema_lookup_fn lookup,
    void *arg)
{
	struct strv files = { NULL, 0 };
	size_t      i;
	int         rv;

	rv = list_all_confs(confdir, &files, ld->err, ld->errlen);
	for (i = 0; rv == 0 && i < files.n; i++)
		read_file(ld, files.v[i]);
	strv_free(&files);
	if (rv != 0)
		return rv;
	finish_global(ld);
	for (i = 0; i < ld->c->nagents;) {
		if (settle_agent(ld, i, lookup, arg) != 0) {
			add_problem(
			    ld, ld->c->agents[i].file, ld->c->agents[i].name);
			drop_agent(ld, i);
			continue;
		}
		i++;
	}
	return 0;
}

/* A strict load with problems is refused: each goes to opts->report, the
 * first into err. */
static int
refuse_problems(struct loader *ld)
{
	const struct ad_config *c = ld->c;
	size_t                  i;

	if (ld->opts->tolerant || c->nproblems == 0)
		return 0;
	for (i = 0; ld->opts->report != NULL && i < c->nproblems; i++)
		ld->opts->report(ld->opts->report_arg, c->problems[i].err);
	ad_seterr(ld->err, ld->errlen, "%s", c->problems[0].err);
	return AGENTD_ECONFIG;
}

int
ad_config_load(const char *confdir, const struct ad_config_opts *opts,
    ad_schema_lookup_fn lookup, void *lookup_arg, struct ad_config **out,
    char *err, size_t errlen)
{
	static const struct ad_config_opts no_opts;
	struct loader                      ld;
	size_t                             i;
	int                                rv;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.opts   = opts != NULL ? opts : &no_opts;
	ld.err    = err;
	ld.errlen = errlen;
	ld.c      = ad_xcalloc(1, sizeof(*ld.c));
	/* For when no file has an agentd { } or a policy { } section. */
	ad_opts_defaults(ad_global_opts, &ld.c->global);
	ad_opts_defaults(ad_policy_opts, &ld.c->global.policy);
	rv = load(&ld, confdir, lookup, lookup_arg);
	for (i = 0; i < ld.c->nagents; i++)
		raw_free(&ld.raw[i]);
	free(ld.raw);
	if (rv == 0)
		rv = refuse_problems(&ld);
	if (rv != 0) {
		one_line(err);
		ad_config_free(ld.c);
		return rv;
	}
	*out = ld.c;
	return 0;
}

/* ---- the result ------------------------------------------------------ */

static void
free_agent(struct ad_agent_conf *a)
{
	size_t i;

	free(a->name);
	free(a->file);
	free(a->plugin_path);
	ad_opts_free(ad_agent_opts, a);
	for (i = 0; i < a->nsettings; i++) {
		free(a->settings[i].name);
		if (a->settings[i].type != AGENTD_SETTING_STRING)
			;
		else if (a->settings[i].file != NULL)
			ad_setting_file_free(a->settings[i].v.s);
		else
			free(a->settings[i].v.s);
		free(a->settings[i].file);
	}
	free(a->settings);
}

void
ad_config_free(struct ad_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nagents; i++)
		free_agent(&c->agents[i]);
	free(c->agents);
	for (i = 0; i < c->nproblems; i++) {
		free(c->problems[i].file);
		free(c->problems[i].agent);
		free(c->problems[i].err);
	}
	free(c->problems);
	free(c->global.file);
	ad_opts_free(ad_global_opts, &c->global);
	ad_policy_clear(&c->global.policy);
	free(c);
}

const struct ad_agent_conf *
ad_config_agent(const struct ad_config *c, const char *name)
{
	size_t i;

	for (i = 0; c != NULL && i < c->nagents; i++)
		if (strcmp(c->agents[i].name, name) == 0)
			return &c->agents[i];
	return NULL;
}

const struct ad_setting_value *
ad_agent_setting(const struct ad_agent_conf *a, const char *name)
{
	size_t i;

	for (i = 0; a != NULL && i < a->nsettings; i++)
		if (a->settings[i].name != NULL
		    && strcmp(a->settings[i].name, name) == 0)
			return &a->settings[i];
	return NULL;
}

/* ---- copies and comparisons ------------------------------------------ */

struct ad_agent_conf *
ad_agent_conf_dup(const struct ad_agent_conf *a)
{
	struct ad_agent_conf *d = ad_xcalloc(1, sizeof(*d));
	size_t                i;

	*d             = *a;
	d->name        = ad_xstrdup(a->name);
	d->file        = ad_xstrdup(a->file);
	d->plugin_path = ad_xstrdup_or_null(a->plugin_path);
	ad_opts_dup(ad_agent_opts, d, a);
	d->settings = ad_xcalloc(a->nsettings, sizeof(*d->settings));
	for (i = 0; i < a->nsettings; i++) {
		d->settings[i]      = a->settings[i];
		d->settings[i].name = ad_xstrdup(a->settings[i].name);
		if (a->settings[i].type == AGENTD_SETTING_STRING)
			d->settings[i].v.s = ad_xstrdup(a->settings[i].v.s);
		d->settings[i].file = ad_xstrdup_or_null(a->settings[i].file);
	}
	return d;
}

void
ad_agent_conf_free(struct ad_agent_conf *a)
{
	if (a == NULL)
		return;
	free_agent(a);
	free(a);
}

static int
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
same_setting(
    const struct ad_setting_value *a, const struct ad_setting_value *b)
{
	/* A value read from another file is another value, even if the
	 * bytes are the same: it is shown and rotated from there. */
	if (!same_str(a->name, b->name) || a->type != b->type
	    || !same_str(a->file, b->file))
		return 0;
	switch (a->type) {
	case AGENTD_SETTING_STRING:
		return same_str(a->v.s, b->v.s);
	case AGENTD_SETTING_INT:
		return a->v.i == b->v.i;
	case AGENTD_SETTING_DOUBLE:
		return a->v.d == b->v.d;
	case AGENTD_SETTING_BOOL:
		return a->v.b == b->v.b;
	}
	return 0;
}

int
ad_agent_conf_same(
    const struct ad_agent_conf *a, const struct ad_agent_conf *b)
{
	size_t i;

	if (!same_str(a->name, b->name)
	    || !same_str(a->plugin_path, b->plugin_path)
	    || !ad_opts_same(ad_agent_opts, a, b)
	    || a->nsettings != b->nsettings)
		return 0;
	for (i = 0; i < a->nsettings; i++)
		if (!same_setting(&a->settings[i], &b->settings[i]))
			return 0;
	return 1;
}
