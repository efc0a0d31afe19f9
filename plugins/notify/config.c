/*
 * config.c - the notify plugin's channels file (doc/notify.md):
 *
 *   {"channels": {
 *      "ops":    {"kind": "webhook", "url": "https://hooks.example/T/B/X",
 *                 "attempts": 3, "rate_per_minute": 30, "burst": 10},
 *      "oncall": {"kind": "email", "url": "smtp://mail.example:587",
 *                 "from": "agentd@example.com", "to": ["ops@example.com"],
 *                 "username": "agentd", "password_file": "/etc/agentd/p",
 *                 "starttls": "require"}},
 *    "templates": {"phase_failed": {"subject": "{run}: {phase} failed",
 *                                   "text": "{phase} failed: {error}"}},
 *    "events": {"phase.failed": {"channel": "ops",
 *                                "template": "phase_failed"}}}
 *
 * An agent's settings { } hold only scalars, so channels and templates
 * live in this file, which the agent's paths { read } must name (with
 * the password files).  Every error names the file and the entry, never
 * a URL's path or a password.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "notify.h"

#define PASSWORD_MAX 1024

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= NT_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-'
		    && *s != '.')
			return 0;
	return 1;
}

static int
topic_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AGENTD_TOPIC_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-'
		    && *s != '.')
			return 0;
	return 1;
}

/*
 * The scheme, host and port of url into where ("smtp://host:port"), the
 * host alone (lower case) into host.  0, or -1 for a URL that is not
 * scheme://host[:port][/...] with one of the schemes given.
 */
static int
url_where(const char *url, const char *const *schemes, char *where,
    size_t wlen, char *host, size_t hlen, int *scheme)
{
	const char *p = NULL, *h, *e;
	size_t      n;

	for (int i = 0; schemes[i] != NULL; i++) {
		n = strlen(schemes[i]);
		if (strncasecmp(url, schemes[i], n) == 0
		    && strncmp(url + n, "://", 3) == 0) {
			p       = url + n + 3;
			*scheme = i;
			break;
		}
	}
	if (p == NULL)
		return -1;
	h = p;
	if (*h == '[')
		e = strchr(h, ']') != NULL ? strchr(h, ']') + 1 : h;
	else
		for (e = h;
		     isalnum((unsigned char)*e) || *e == '.' || *e == '-'; e++)
			;
	if (e == h || (size_t)(e - h) >= hlen)
		return -1;
	for (n = 0; h + n < e; n++)
		host[n] = (char)tolower((unsigned char)h[n]);
	host[n] = '\0';
	if (*e == ':') {
		char *end;
		long  port = strtol(e + 1, &end, 10);

		if (end == e + 1 || port < 1 || port > 65535)
			return -1;
		e = end;
	}
	if (*e != '\0' && *e != '/' && *e != '?')
		return -1;
	if (strchr(url, '@') != NULL && strchr(url, '@') < e)
		return -1; /* credentials belong in the file's own fields */
	snprintf(where, wlen, "%.*s", (int)(e - url), url);
	return 0;
}

/* Does host match a pattern of the comma-separated list allow: the name
 * itself, or "*.example.com" for every name below example.com? */
static int
host_allowed(const char *allow, const char *host)
{
	size_t hl = strlen(host);

	while (*allow != '\0') {
		const char *e = strchr(allow, ',');
		size_t n = e != NULL ? (size_t)(e - allow) : strlen(allow);
		const char *p = allow;

		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == hl && strncasecmp(p, host, n) == 0)
			return 1;
		if (n > 2 && p[0] == '*' && p[1] == '.' && hl > n - 1
		    && strncasecmp(host + hl - (n - 1), p + 1, n - 1) == 0)
			return 1;
		allow = e != NULL ? e + 1 : allow + strlen(allow);
	}
	return 0;
}

/* A password from path: one line, trailing white space cut. */
static int
read_password(const char *path, char **out, char *why, size_t whylen)
{
	char   buf[PASSWORD_MAX + 2];
	size_t n;
	FILE  *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(why, whylen, "password_file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0 || n > PASSWORD_MAX || memchr(buf, '\n', n) != NULL
	    || strlen(buf) != n) {
		snprintf(why, whylen,
		    "password_file %s: one line of 1 to %d bytes", path,
		    PASSWORD_MAX);
		memset(buf, 0, sizeof(buf));
		return -1;
	}
	*out = strdup(buf);
	memset(buf, 0, sizeof(buf));
	return *out != NULL ? 0 : -1;
}

/* Is every key of object j one of known (NULL-terminated)?  Else -1 and
 * the first other one in *bad: a typo would otherwise be ignored. */
static int
keys_known(json_t *j, const char *const *known, const char **bad)
{
	const char *k;
	json_t     *v;

	json_object_foreach(j, k, v)
	{
		size_t i = 0;

		while (known[i] != NULL && strcmp(known[i], k) != 0)
			i++;
		if (known[i] == NULL) {
			*bad = k;
			return -1;
		}
	}
	return 0;
}

/* An optional integer field in lo..hi, else def. */
static int
int_field(json_t *j, const char *key, int64_t lo, int64_t hi, int64_t def,
    int64_t *out)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo
	    || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int
address_ok(const char *a)
{
	const char *at = a != NULL ? strchr(a, '@') : NULL;

	if (at == NULL || at == a || at[1] == '\0' || strlen(a) > 254)
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= ' ' || *a == '<' || *a == '>'
		    || *a == ',' || *a == '"' || *a == 0x7f)
			return 0;
	return 1;
}

static int
email_load(json_t *j, struct nt_channel *ch, int tls, char *why, size_t whylen)
{
	const char *from = json_string_value(json_object_get(j, "from"));
	const char *user = json_string_value(json_object_get(j, "username"));
	const char *pf
	    = json_string_value(json_object_get(j, "password_file"));
	const char *st = json_string_value(json_object_get(j, "starttls"));
	const char *ca = json_string_value(json_object_get(j, "ca_file"));
	json_t     *to = json_object_get(j, "to"), *e;
	size_t      i;

	if (!address_ok(from)) {
		snprintf(why, whylen,
		    "channel %s: \"from\": one address, name@domain",
		    ch->name);
		return -1;
	}
	if (!json_is_array(to) || json_array_size(to) == 0
	    || json_array_size(to) > NT_RCPT_MAX) {
		snprintf(why, whylen,
		    "channel %s: \"to\": a list of 1 to %d addresses",
		    ch->name, NT_RCPT_MAX);
		return -1;
	}
	json_array_foreach(to, i, e)
	{
		if (!address_ok(json_string_value(e))) {
			snprintf(why, whylen,
			    "channel %s: to[%zu]: one address, name@domain",
			    ch->name, i);
			return -1;
		}
		if ((ch->to[ch->nto] = strdup(json_string_value(e))) == NULL)
			return -1;
		ch->nto++;
	}
	if ((ch->from = strdup(from)) == NULL)
		return -1;
	if (st == NULL || strcmp(st, "require") == 0)
		ch->starttls = NT_TLS_REQUIRE;
	else if (strcmp(st, "try") == 0)
		ch->starttls = NT_TLS_TRY;
	else if (strcmp(st, "no") == 0)
		ch->starttls = NT_TLS_NO;
	else {
		snprintf(why, whylen,
		    "channel %s: \"starttls\": \"require\" (the default), "
		    "\"try\" or \"no\"",
		    ch->name);
		return -1;
	}
	if (json_object_get(j, "ca_file") != NULL
	    && (ca == NULL || access(ca, R_OK) != 0)) {
		snprintf(why, whylen,
		    "channel %s: \"ca_file\" %s: %s (is it in the agent's "
		    "paths { read }?)",
		    ch->name, ca != NULL ? ca : "(not a string)",
		    ca != NULL ? strerror(errno) : "a path");
		return -1;
	}
	if (ca != NULL && (ch->ca_file = strdup(ca)) == NULL)
		return -1;
	if ((user == NULL) != (pf == NULL)) {
		snprintf(why, whylen,
		    "channel %s: \"username\" and \"password_file\" go "
		    "together",
		    ch->name);
		return -1;
	}
	if (user != NULL && !tls && ch->starttls != NT_TLS_REQUIRE) {
		snprintf(why, whylen,
		    "channel %s: a password is sent only over TLS: use "
		    "smtps:// or \"starttls\": \"require\"",
		    ch->name);
		return -1;
	}
	if (user != NULL
	    && ((ch->username = strdup(user)) == NULL
	        || read_password(pf, &ch->password, why, whylen) != 0)) {
		size_t n = strlen(why);

		snprintf(why + n, whylen - n, " (channel %s)", ch->name);
		return -1;
	}
	return 0;
}

static int
channel_load(json_t *j, struct nt_channel *ch, const struct nt_defaults *d,
    char *why, size_t whylen)
{
	static const char *const web[]  = { "http", "https", NULL };
	static const char *const mail[] = { "smtp", "smtps", NULL };
	const char *kind = json_string_value(json_object_get(j, "kind"));
	const char *url  = json_string_value(json_object_get(j, "url"));
	char        host[NT_WHERE_MAX];
	int64_t     att, tmo, bo, rate, burst;
	int         scheme = 0;

	static const char *const keys[]
	    = { "kind", "url", "attempts", "timeout_ms", "backoff_ms",
		      "rate_per_minute", "burst", "from", "to", "username",
		      "password_file", "starttls", "ca_file", NULL };
	const char *bad;

	if (json_is_object(j) && keys_known(j, keys, &bad) != 0) {
		snprintf(why, whylen, "channel %s: no setting \"%.64s\"",
		    ch->name, bad);
		return -1;
	}
	if (!json_is_object(j) || kind == NULL
	    || (strcmp(kind, "webhook") != 0 && strcmp(kind, "email") != 0)) {
		snprintf(why, whylen,
		    "channel %s: \"kind\": \"webhook\" or \"email\"",
		    ch->name);
		return -1;
	}
	ch->kind = strcmp(kind, "webhook") == 0 ? NT_WEBHOOK : NT_EMAIL;
	if (url == NULL
	    || url_where(url, ch->kind == NT_WEBHOOK ? web : mail, ch->where,
	           sizeof(ch->where), host, sizeof(host), &scheme)
	        != 0) {
		snprintf(why, whylen,
		    "channel %s: \"url\": %s, no user or password in it",
		    ch->name,
		    ch->kind == NT_WEBHOOK
		        ? "http://HOST[:PORT]/PATH or https://"
		        : "smtp://HOST[:PORT] or smtps://");
		return -1;
	}
	if (ch->kind == NT_EMAIL && !host_allowed(d->smtp_allow, host)) {
		snprintf(why, whylen,
		    "channel %s: the SMTP server %s is not in the setting "
		    "smtp_allow (\"%s\"): add it there",
		    ch->name, host, d->smtp_allow);
		return -1;
	}
	if ((ch->url = strdup(url)) == NULL)
		return -1;
	if (int_field(
	        j, "attempts", 1, AGENTD_HTTP_ATTEMPTS_MAX, d->attempts, &att)
	        != 0
	    || int_field(j, "timeout_ms", 1, 600000, d->timeout_ms, &tmo) != 0
	    || int_field(j, "backoff_ms", 1, 600000, d->backoff_ms, &bo) != 0
	    || int_field(j, "rate_per_minute", 0, 1000000,
	           (int64_t)d->rate_per_minute, &rate)
	        != 0
	    || int_field(j, "burst", 1, 1000000, (int64_t)d->burst, &burst)
	        != 0) {
		snprintf(why, whylen,
		    "channel %s: \"attempts\" 1 to %d, \"timeout_ms\" and "
		    "\"backoff_ms\" 1 to 600000, \"rate_per_minute\" 0 to "
		    "1000000, \"burst\" 1 to 1000000",
		    ch->name, AGENTD_HTTP_ATTEMPTS_MAX);
		return -1;
	}
	ch->attempts        = (uint32_t)att;
	ch->timeout_ms      = (uint32_t)tmo;
	ch->backoff_ms      = (uint32_t)bo;
	ch->rate_per_minute = (double)rate;
	ch->burst           = (double)burst;
	nt_bucket_init(&ch->bucket, ch->rate_per_minute, ch->burst);
	ch->refused_logged_ms = -1;
	return ch->kind == NT_EMAIL
	    ? email_load(j, ch, scheme == 1, why, whylen)
	    : 0;
}

static int
channels_load(json_t *o, struct nt_config *c, const struct nt_defaults *d,
    char *why, size_t whylen)
{
	const char *name;
	json_t     *e;

	if (!json_is_object(o) || json_object_size(o) == 0) {
		snprintf(why, whylen, "\"channels\": at least one channel");
		return -1;
	}
	c->channels = calloc(json_object_size(o), sizeof(*c->channels));
	if (c->channels == NULL)
		return -1;
	json_object_foreach(o, name, e)
	{
		struct nt_channel *ch = &c->channels[c->nchannels];

		if (!name_ok(name)) {
			snprintf(why, whylen,
			    "channel \"%.64s\": a name of 1-63 of "
			    "[A-Za-z0-9_.-]",
			    name);
			return -1;
		}
		snprintf(ch->name, sizeof(ch->name), "%s", name);
		c->nchannels++;
		if (channel_load(e, ch, d, why, whylen) != 0)
			return -1;
	}
	return 0;
}

static int
templates_load(json_t *o, struct nt_config *c, char *why, size_t whylen)
{
	const char *name;
	json_t     *e;
	char        bad[256];

	if (o == NULL)
		return 0;
	if (!json_is_object(o)) {
		snprintf(why, whylen, "\"templates\": an object of templates");
		return -1;
	}
	c->templates = calloc(json_object_size(o) + 1, sizeof(*c->templates));
	if (c->templates == NULL)
		return -1;
	json_object_foreach(o, name, e)
	{
		struct nt_template *t = &c->templates[c->ntemplates];
		const char         *s
		    = json_string_value(json_object_get(e, "subject"));
		const char *x = json_string_value(json_object_get(e, "text"));

		static const char *const keys[] = { "subject", "text", NULL };
		const char              *extra;

		if (!name_ok(name) || x == NULL
		    || (json_object_get(e, "subject") != NULL && s == NULL)
		    || keys_known(e, keys, &extra) != 0) {
			snprintf(why, whylen,
			    "template \"%.64s\": a name of 1-63 of "
			    "[A-Za-z0-9_.-], and {\"text\": \"...\", "
			    "\"subject\": \"...\" (optional)}",
			    name);
			return -1;
		}
		snprintf(t->name, sizeof(t->name), "%s", name);
		c->ntemplates++;
		if ((s != NULL && nt_template_check(s, bad, sizeof(bad)) != 0)
		    || nt_template_check(x, bad, sizeof(bad)) != 0) {
			snprintf(why, whylen, "template %s: %s", name, bad);
			return -1;
		}
		if ((t->subject = strdup(s != NULL ? s : "")) == NULL
		    || (t->text = strdup(x)) == NULL)
			return -1;
	}
	return 0;
}

static int
events_load(json_t *o, struct nt_config *c, char *why, size_t whylen)
{
	const char *topic;
	json_t     *e;

	if (o == NULL)
		return 0;
	if (!json_is_object(o)) {
		snprintf(why, whylen,
		    "\"events\": an object of TOPIC: {\"channel\", "
		    "\"template\"}");
		return -1;
	}
	c->routes = calloc(json_object_size(o) + 1, sizeof(*c->routes));
	if (c->routes == NULL)
		return -1;
	json_object_foreach(o, topic, e)
	{
		struct nt_route *r = &c->routes[c->nroutes];
		const char      *ch
		    = json_string_value(json_object_get(e, "channel"));
		const char *tp
		    = json_string_value(json_object_get(e, "template"));
		int ci = ch != NULL ? nt_channel_find(c, ch, strlen(ch)) : -1;
		int ti = tp != NULL ? nt_template_find(c, tp, strlen(tp)) : -1;

		static const char *const keys[]
		    = { "channel", "template", NULL };
		const char *bad;

		if (!topic_ok(topic) || ci < 0 || ti < 0
		    || keys_known(e, keys, &bad) != 0) {
			snprintf(why, whylen,
			    "events.%.255s: a topic, and {\"channel\": a "
			    "channel, \"template\": a template} of this file",
			    topic);
			return -1;
		}
		snprintf(r->topic, sizeof(r->topic), "%s", topic);
		r->channel   = (size_t)ci;
		r->template_ = (size_t)ti;
		c->nroutes++;
	}
	return 0;
}

int
nt_config_load(const char *path, const struct nt_defaults *d,
    struct nt_config *c, char *err, size_t errlen)
{
	static const char *const top[]
	    = { "channels", "templates", "events", NULL };
	json_error_t je;
	json_t      *j;
	const char  *bad             = NULL;
	char         why[NT_ERR_MAX] = "out of memory";
	int          rv;

	memset(c, 0, sizeof(*c));
	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		return AGENTD_ECONFIG;
	}
	if (!json_is_object(j) || keys_known(j, top, &bad) != 0) {
		snprintf(err, errlen,
		    "%s: the file is an object of \"channels\", "
		    "\"templates\" and \"events\"%s%.64s%s",
		    path, bad != NULL ? ", not \"" : "",
		    bad != NULL ? bad : "", bad != NULL ? "\"" : "");
		json_decref(j);
		return AGENTD_ECONFIG;
	}
	rv = channels_load(
	         json_object_get(j, "channels"), c, d, why, sizeof(why))
	        != 0
	    || templates_load(
	           json_object_get(j, "templates"), c, why, sizeof(why))
	        != 0
	    || events_load(json_object_get(j, "events"), c, why, sizeof(why))
	        != 0;
	json_decref(j);
	if (rv != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		nt_config_free(c);
		return AGENTD_ECONFIG;
	}
	return 0;
}

void
nt_config_free(struct nt_config *c)
{
	for (size_t i = 0; i < c->nchannels; i++) {
		struct nt_channel *ch = &c->channels[i];

		free(ch->url);
		free(ch->from);
		for (size_t k = 0; k < ch->nto; k++)
			free(ch->to[k]);
		free(ch->username);
		free(ch->ca_file);
		if (ch->password != NULL) {
			memset(ch->password, 0, strlen(ch->password));
			free(ch->password);
		}
	}
	for (size_t i = 0; i < c->ntemplates; i++) {
		free(c->templates[i].subject);
		free(c->templates[i].text);
	}
	free(c->channels);
	free(c->templates);
	free(c->routes);
	memset(c, 0, sizeof(*c));
}

int
nt_channel_find(const struct nt_config *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nchannels; i++)
		if (strlen(c->channels[i].name) == len
		    && memcmp(c->channels[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

int
nt_template_find(const struct nt_config *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->ntemplates; i++)
		if (strlen(c->templates[i].name) == len
		    && memcmp(c->templates[i].name, name, len) == 0)
			return (int)i;
	return -1;
}
