/*
 * options.h - every option of a configuration file, one row each.
 *
 * A row names an option and gives its type, its default as a file would
 * write it, its bounds, where its value lands (an offset into struct
 * ad_global_conf or struct ad_agent_conf) and one line of documentation.
 * From these rows conf.c builds libconfuse's options, checks each value
 * where it is written, and copies it into the runtime structs; the same
 * rows free, copy and compare those structs, and print the tables of
 * doc/configuration.md (options_doc.c; test_config fails when the page
 * differs).  A new option is a new row; a new section is a new table of
 * rows.
 *
 * What involves two options (instances min <= max, backoff_initial <=
 * backoff_max, two heartbeats within hung_after) is checked by conf.c
 * after the copy; a row's `limits` only documents it.
 *
 * A policy { } (agentd's at the top level of a file, or an agent's) lands
 * in a struct ad_policy of policy/rules.h, its rule "NAME" { } sections in
 * its rules: ad_policy_opts and ad_rule_opts are their rows.  Those rows
 * build libconfuse's options, check values and copy them like the others,
 * but rules.h frees, copies and compares a policy (AD_OPT_POLICY).
 */
#ifndef AD_OPTIONS_H
#define AD_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

enum ad_opt_kind {
	AD_OPT_END = 0,  /* ends a table of rows */
	AD_OPT_COUNT,    /* unsigned, from lo to hi */
	AD_OPT_BYTES,    /* size_t, from lo to hi */
	AD_OPT_DURATION, /* int64_t milliseconds; lo 1: longer than 0 */
	AD_OPT_BOOL,     /* int, 0 or 1 */
	AD_OPT_ENUM,     /* an enum: the index in words of the word written */
	AD_OPT_WORD,     /* char *: a word parse() accepts, as written */
	AD_OPT_PATH,     /* char *: relative to its file's directory; NULL
	                  * when not written */
	AD_OPT_PLUGIN,   /* char *: as written, required; conf.c resolves it
	                  * into plugin_path, which is what comparisons use */
	AD_OPT_TOPICS,   /* char ** and its size_t count: topics or "*" */
	AD_OPT_NAMES,    /* char ** and its size_t count: agent names */
	AD_OPT_PATHS,    /* char ** and its size_t count: paths, relative to
	                  * their file's directory */
	AD_OPT_USER,     /* char *: a user name that exists, not root */
	AD_OPT_SECTION,  /* name { sub }: lands in the same struct */
	AD_OPT_SETTINGS, /* settings { }: typed by the plugin's schema */
	AD_OPT_NUMBER,   /* double, finite, 0 or more; NAN when not written */
	AD_OPT_POLICY,   /* policy { sub }: a struct ad_policy *, NULL when
	                  * not written (rules.h frees, copies, compares) */
	AD_OPT_RULES,    /* rule "NAME" { sub }, any number: the rules of
	                  * the struct ad_policy (conf.c takes them) */
	AD_OPT_SECRET,   /* char *: a file holding a secret, relative to its
	                  * file's directory, readable and not empty when
	                  * the file is read; NULL when not written */
	AD_OPT_WEBHOOKS, /* webhook "NAME" { sub }, any number: a struct
	                  * ad_webhook_conf * (at) and its size_t count
	                  * (count_at) */
	AD_OPT_HOSTS,    /* char ** and its size_t count: host patterns of
	                  * http { allow } (sdk/http_rules.h) */
	AD_OPT_CAPS,     /* char ** and its size_t count: capabilities,
	                  * merged with the plugin's by conf.c */
	/* schedule "NAME" { sub }, any number: a struct ad_schedule_conf *
	 * (at) and its size_t count (count_at) */
	AD_OPT_SCHEDULES,
};

struct ad_opt {
	const char      *name;
	enum ad_opt_kind kind;
	const char      *def; /* as a file writes it ("2s", "4"); NULL: none */
	long             lo, hi;   /* COUNT, BYTES, DURATION (see above) */
	size_t           at;       /* offsetof the field it lands in */
	size_t           count_at; /* TOPICS, NAMES: offsetof the count */
	/* ENUM, WORD: the words a file may write, NULL-terminated. */
	const char *const *words;
	/* WORD: >= 0 if the text is valid (it may accept more than words,
	 * such as aliases). */
	int (*parse)(const char *s);
	/* WORD without words: what parse() accepts, as the page's type
	 * column names it ("address"), and what a refused value is not, as
	 * the line refusing it ends ("an address: write HOST:PORT ..."). */
	const char          *word_type;
	const char          *word_hint;
	const struct ad_opt *sub; /* SECTION, POLICY, RULES: their rows */
	/* Not 0: the offsetof an int set to 1 when the option is written
	 * (offset 0 is never such a flag: it is each struct's first,
	 * a string). */
	size_t set_at;
	int    agentd_only; /* policy { }: refused in an agent's */
	/* Documentation only. */
	const char *shown_def; /* the default, when it is not a literal */
	const char *limits;    /* limits that involve other options */
	const char *doc;       /* what it does, one line of Markdown */
};

/* The rows of agentd { } and of agent "NAME" { }, each ended by END.
 * Section names are unique in the whole format (conf.c finds a section's
 * rows by its name). */
extern const struct ad_opt ad_global_opts[];
extern const struct ad_opt ad_agent_opts[];
/* policy { } (agentd's and an agent's) and its rule "NAME" { }. */
extern const struct ad_opt ad_policy_opts[];
extern const struct ad_opt ad_rule_opts[];
/* agentd { http { } } (what a reload compares) and its webhook "NAME" { }
 * (rows of struct ad_webhook_conf). */
extern const struct ad_opt ad_http_opts[];
/* agentd { log { } }: read at start only (what a reload compares). */
extern const struct ad_opt ad_log_opts[];
/* agentd { control { } }: read at start only. */
extern const struct ad_opt ad_control_opts[];
extern const struct ad_opt ad_webhook_opts[];
/* An agent's schedule "NAME" { } (rows of struct ad_schedule_conf). */
extern const struct ad_opt ad_schedule_opts[];

/* Every field a row of `rows` (and its sections) lands in, as `def`
 * says; NULL where there is no default.  Strings are caller owns, free
 * with ad_opts_free(). */
void ad_opts_defaults(const struct ad_opt *rows, void *base);
/* Frees the strings and lists the rows land in, and zeroes them. */
void ad_opts_free(const struct ad_opt *rows, void *base);
/* Replaces the strings and lists of dst (a shallow copy of src) by
 * copies of src's. */
void ad_opts_dup(const struct ad_opt *rows, void *dst, const void *src);
/* 1 if a and b hold the same value in every field the rows land in
 * (the plugin as written excepted: see AD_OPT_PLUGIN). */
int ad_opts_same(const struct ad_opt *rows, const void *a, const void *b);

/* The field row o lands in, in the struct at base. */
#define AD_OPT_FIELD(base, o, type) ((type *)((char *)(base) + (o)->at))
#define AD_OPT_COUNT_FIELD(base, o)                                           \
	((size_t *)((char *)(base) + (o)->count_at))

/* TOPICS, NAMES, PATHS, HOSTS: a list of strings and its count. */
#define AD_OPT_IS_LIST(k)                                                     \
	((k) == AD_OPT_TOPICS || (k) == AD_OPT_NAMES || (k) == AD_OPT_PATHS   \
	    || (k) == AD_OPT_HOSTS || (k) == AD_OPT_CAPS)

/* ENUM: the index of s in words; WORD: parse(s).  -1: not a word of o. */
int ad_opt_word(const struct ad_opt *o, const char *s);
/* A row's words as "a, b or c", each between two `quote`s, into buf. */
void ad_opt_words(
    const struct ad_opt *o, const char *quote, char *buf, size_t len);

/*
 * The Markdown table of a section's rows, as doc/configuration.md holds
 * it between the lines "<!-- options: NAME -->" and "<!-- end -->".
 */
void ad_opts_doc_table(FILE *f, const struct ad_opt *rows);
/*
 * The page `md` with every such table replaced by the one the rows
 * print: caller owns, free with free().  NULL if a marker names an
 * unknown section or has no end.
 */
char *ad_opts_doc_update(const char *md);

#endif
