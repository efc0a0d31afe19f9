/*
 * options_doc.c - doc/configuration.md's tables of options, printed from
 * the rows of options.c.  agentd never calls it: test_config checks the
 * page against them, and `make options-doc` rewrites it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/options.h"

static void
doc_type(FILE *f, const struct ad_opt *o)
{
	char words[256];

	switch (o->kind) {
	case AD_OPT_COUNT:
		fputs("count", f);
		break;
	case AD_OPT_BYTES:
		fputs("count, bytes", f);
		break;
	case AD_OPT_DURATION:
		fputs("duration", f);
		break;
	case AD_OPT_BOOL:
		fputs("boolean", f);
		break;
	case AD_OPT_ENUM:
	case AD_OPT_WORD:
		if (o->words == NULL) { /* a word of its own parse() */
			fputs(o->word_type, f);
			break;
		}
		ad_opt_words(o, "`", words, sizeof(words));
		fputs(words, f);
		break;
	case AD_OPT_PATH:
	case AD_OPT_PLUGIN:
	case AD_OPT_SECRET:
		fputs("path", f);
		break;
	case AD_OPT_TOPICS:
		fputs("list of topics", f);
		break;
	case AD_OPT_NAMES:
		fputs("list of names (agents)", f);
		break;
	case AD_OPT_PATHS:
		fputs("list of paths", f);
		break;
	case AD_OPT_HOSTS:
		fputs("list of hosts", f);
		break;
	case AD_OPT_CAPS:
		fputs("list of capabilities", f);
		break;
	case AD_OPT_USER:
		fputs("user name", f);
		break;
	case AD_OPT_SETTINGS:
		fputs("keys the plugin declares", f);
		break;
	case AD_OPT_NUMBER:
		fputs("number", f);
		break;
	case AD_OPT_POLICY:
		fputs("section", f);
		break;
	case AD_OPT_RULES:
	case AD_OPT_WEBHOOKS:
	case AD_OPT_SCHEDULES:
		fputs("sections, any number", f);
		break;
	default:
		break;
	}
}

static void
doc_default(FILE *f, const struct ad_opt *o)
{
	if (o->shown_def != NULL)
		fputs(o->shown_def, f);
	else if (o->def != NULL)
		fprintf(f, "`%s`", o->def);
	else if (AD_OPT_IS_LIST(o->kind))
		fputs("empty", f);
	else if (o->kind == AD_OPT_SETTINGS)
		fputs("the plugin's defaults", f);
	else
		fputs("none", f);
}

/* Into buf: the bounds a row checks, then those it only documents. */
static void
doc_limits(const struct ad_opt *o, char *buf, size_t len)
{
	buf[0] = '\0';
	if (o->kind == AD_OPT_COUNT || o->kind == AD_OPT_BYTES)
		snprintf(buf, len, "%ld to %ld", o->lo, o->hi);
	else if (o->kind == AD_OPT_DURATION && o->lo > 0)
		snprintf(buf, len, "more than 0");
	else if (o->kind == AD_OPT_PATH || o->kind == AD_OPT_PLUGIN
	    || o->kind == AD_OPT_PATHS)
		snprintf(buf, len, "not empty");
	else if (o->kind == AD_OPT_SECRET)
		snprintf(buf, len, "readable, not empty");
	else if (o->kind == AD_OPT_USER)
		snprintf(buf, len, "exists, not root");
	else if (o->kind == AD_OPT_SETTINGS)
		snprintf(buf, len, "the plugin's schema");
	else if (o->kind == AD_OPT_NUMBER)
		snprintf(buf, len, "0 or more, finite");
	if (o->limits != NULL)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
		    buf[0] != '\0' ? ", " : "", o->limits);
}

static void
doc_rows(FILE *f, const struct ad_opt *rows, const char *section)
{
	const struct ad_opt *o;
	char                 limits[256];

	for (o = rows; o->name != NULL; o++) {
		if (o->kind == AD_OPT_SECTION) {
			doc_rows(f, o->sub, o->name);
			continue;
		}
		if (section != NULL && o->kind == AD_OPT_WEBHOOKS)
			fprintf(f, "| `%s { %s \"NAME\" { } }` | ", section,
			    o->name);
		else if (section != NULL)
			fprintf(f, "| `%s { %s }` | ", section, o->name);
		else if (o->kind == AD_OPT_SETTINGS
		    || o->kind == AD_OPT_POLICY)
			fprintf(f, "| `%s { }` | ", o->name);
		else if (o->kind == AD_OPT_RULES
		    || o->kind == AD_OPT_SCHEDULES)
			fprintf(f, "| `%s \"NAME\" { }` | ", o->name);
		else
			fprintf(f, "| `%s` | ", o->name);
		doc_type(f, o);
		fputs(" | ", f);
		doc_default(f, o);
		doc_limits(o, limits, sizeof(limits));
		fprintf(f, " |%s%s | %s |\n", limits[0] != '\0' ? " " : "",
		    limits, o->doc);
	}
}

void
ad_opts_doc_table(FILE *f, const struct ad_opt *rows)
{
	fputs("| key | type | default | limits | meaning |\n"
	      "| --- | --- | --- | --- | --- |\n",
	    f);
	doc_rows(f, rows, NULL);
}

#define DOC_START "<!-- options: "
#define DOC_END "<!-- end -->\n"

static const struct ad_opt *
section_named(const char *s, size_t n)
{
	if (n == strlen("agentd") && strncmp(s, "agentd", n) == 0)
		return ad_global_opts;
	if (n == strlen("agent") && strncmp(s, "agent", n) == 0)
		return ad_agent_opts;
	if (n == strlen("policy") && strncmp(s, "policy", n) == 0)
		return ad_policy_opts;
	if (n == strlen("rule") && strncmp(s, "rule", n) == 0)
		return ad_rule_opts;
	if (n == strlen("webhook") && strncmp(s, "webhook", n) == 0)
		return ad_webhook_opts;
	if (n == strlen("schedule") && strncmp(s, "schedule", n) == 0)
		return ad_schedule_opts;
	return NULL;
}

char *
ad_opts_doc_update(const char *md)
{
	char       *out = NULL;
	size_t      len = 0;
	FILE       *f   = open_memstream(&out, &len);
	const char *p   = md, *start, *name, *end;

	if (f == NULL)
		abort();
	while ((start = strstr(p, DOC_START)) != NULL) {
		const struct ad_opt *rows;

		name = start + strlen(DOC_START);
		rows = section_named(name, strcspn(name, " "));
		end  = strstr(name, DOC_END);
		if (rows == NULL || end == NULL
		    || strncmp(name + strcspn(name, " "), " -->\n", 5) != 0) {
			fclose(f);
			free(out);
			return NULL;
		}
		/* Through the marker's line, then the table, then its end;
		 * blank lines keep the table a block of its own. */
		fwrite(p, 1, (size_t)(strchr(start, '\n') + 1 - p), f);
		fputs("\n", f);
		ad_opts_doc_table(f, rows);
		fputs("\n" DOC_END, f);
		p = end + strlen(DOC_END);
	}
	fputs(p, f);
	if (fclose(f) != 0)
		abort();
	return out;
}
