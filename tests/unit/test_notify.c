/*
 * The notify plugin (plugins/notify) in the mock host: a webhook's POST
 * (URL, header, the JSON jansson escaped), templates and their errors,
 * retries of a receiver that is down ending in notify.failed and an
 * error reply, the rate limit's refusal, an event escalated, the
 * configuration's errors (one line naming the file and the entry), and
 * neither the text nor the webhook's secret path in any audit record,
 * reply or log line.  The receiver is played by the mock's http_async
 * handler.
 */
#define _GNU_SOURCE

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <regex.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "../../plugins/jsonkit/jsonkit.h"
#include "tap.h"

/* Does s match the extended regular expression re? */
static int
matches(const char *s, const char *re)
{
	regex_t r;
	int     m;

	if (s == NULL || regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	m = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return m;
}

#define re_like(s, re, name)                                                  \
	do {                                                                  \
		const char *s_ = (s);                                         \
		if (!ok(matches(s_, (re)), (name)))                           \
			diag("  \"%s\" does not match /%s/",                  \
			    s_ ? s_ : "(null)", (re));                        \
	} while (0)

/* The test's own folder, under $TMPDIR (or /tmp). */
static char dir[512];

/* The receiver: answers code (0: no connection), records the last POST. */
struct hook {
	int    code;
	int    calls;
	char   url[512];
	char   ctype[128];
	char   body[4096];
	size_t body_len;
};

static int
receiver(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	struct hook *h = arg;

	h->calls++;
	snprintf(h->url, sizeof(h->url), "%s", c->url);
	h->ctype[0] = '\0';
	for (size_t i = 0; i < c->nheaders; i++)
		if (strcasecmp(c->headers[i].name, "Content-Type") == 0)
			snprintf(h->ctype, sizeof(h->ctype), "%s",
			    c->headers[i].value);
	h->body_len = c->body_len < sizeof(h->body) - 1 ? c->body_len
	                                                : sizeof(h->body) - 1;
	memcpy(h->body, c->body, h->body_len);
	h->body[h->body_len] = '\0';
	if (h->code == 0)
		return AGENTD_EUNAVAIL;
	return agentd_mock_http_answer(m, c->id, h->code, NULL, 0, "ok", 2);
}

static const char *
plugin_path(void)
{
	static char path[512];
	const char *d = getenv("AGENTD_BUNDLED_PLUGINS");

	snprintf(path, sizeof(path), "%s/notify.so",
	    d != NULL ? d : "plugins/.libs");
	return path;
}

/* Write text to dir/name; the path. */
static const char *
write_file(const char *name, const char *text)
{
	static char path[600];
	FILE       *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

#define CHANNELS                                                              \
	"{\"channels\": {"                                                    \
	"  \"ops\": {\"kind\": \"webhook\", "                                 \
	"    \"url\": \"http://127.0.0.1:9/T0/SECRET-PATH\", "                \
	"    \"attempts\": 3, \"backoff_ms\": 100},"                          \
	"  \"tight\": {\"kind\": \"webhook\", "                               \
	"    \"url\": \"http://127.0.0.1:9/tight\", \"burst\": 2, "           \
	"    \"rate_per_minute\": 1}},"                                       \
	" \"templates\": {"                                                   \
	"  \"phase_failed\": {\"subject\": \"{run}: {phase} failed\", "       \
	"    \"text\": \"Phase {phase} failed after {tries} tries "           \
	"({{code}}): {error}\"},"                                             \
	"  \"twice\": {\"text\": \"{v}{v}\"},"                                \
	"  \"page\": {\"text\": \"<!here> {what}\"}},"                        \
	" \"events\": {\"phase.failed\": {\"channel\": \"ops\", "             \
	"    \"template\": \"phase_failed\"}}}"

static agentd_mock *
new_notify(struct hook *h, const char *channels)
{
	agentd_mock *m;

	agentd_mock_new("notify", &m);
	agentd_mock_setting(
	    m, "channels_file", write_file("channels.json", channels));
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, receiver, h);
	if (agentd_mock_load(m, plugin_path()) != 0) {
		diag("load: %s", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return NULL;
	}
	return m;
}

/* JSON text to msgpack, into w (the test's requests read as JSON). */
static agentd_writer *
msg_of(const char *json)
{
	agentd_writer *w;
	json_error_t   e;
	json_t        *j = json_loads(json, 0, &e);

	if (j == NULL)
		diag("bad JSON in the test: %s", e.text);
	agentd_writer_new(&w);
	jsonkit_write(w, j);
	json_decref(j);
	return w;
}

/* A request; *status, and the reply's "error" or "digest" into out. */
static int
ask(agentd_mock *m, const char *json, char *out, size_t outlen)
{
	agentd_writer *w = msg_of(json);
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;
	agentd_doc    *doc;

	body   = agentd_writer_data(w, &len);
	out[0] = '\0';
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0
	    && agentd_parse(reply, rlen, &doc) == 0) {
		const agentd_value *r = agentd_doc_root(doc);

		if (agentd_get_strcpy(agentd_map_get(r, "error"), out, outlen)
		    != 0)
			agentd_get_strcpy(
			    agentd_map_get(r, "digest"), out, outlen);
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	return status;
}

/* The last audit record: its kind, and its detail as text. */
static const char *
last_audit(agentd_mock *m, char *detail, size_t len)
{
	const char *kind = "", *summary;
	const void *d;
	size_t      dl, n = agentd_mock_audit_count(m);

	detail[0] = '\0';
	if (n == 0
	    || agentd_mock_audit(m, n - 1, &kind, &summary, &d, &dl) != 0)
		return "";
	/* The detail's strings are in its bytes as they are: enough to look
	 * for a value in it, or to see that one is not. */
	dl = dl < len - 1 ? dl : len - 1;
	for (size_t i = 0; i < dl; i++)
		detail[i] = ((const char *)d)[i] >= 0x20 ? ((const char *)d)[i]
		                                         : ' ';
	detail[dl] = '\0';
	(void)summary;
	return kind;
}

static void
test_webhook(void)
{
	struct hook  h = { .code = 200 };
	agentd_mock *m = new_notify(&h, CHANNELS);
	char         out[1024], detail[2048];
	json_t      *j;
	const char  *text;

	ok(m != NULL, "notify loads with two webhook channels and a template");
	if (m == NULL)
		return;
	is_int(
	    ask(m,
	        "{\"channel\": \"ops\", \"template\": \"phase_failed\", "
	        "\"vars\": {\"run\": \"r-7\", \"phase\": \"build\", "
	        "\"tries\": 2, \"error\": \"make said \\\"no\\\"\\nexit 2\"}}",
	        out, sizeof(out)),
	    0, "a template's message is sent");
	ok(strncmp(out, "sha256:", 7) == 0 && strlen(out) == 71,
	    "...the reply carries the text's SHA-256 digest");
	is_int(h.calls, 1, "...in one POST");
	is_str(h.url, "http://127.0.0.1:9/T0/SECRET-PATH",
	    "...to the channel's URL");
	is_str(h.ctype, "application/json", "...as JSON");
	j    = json_loads(h.body, 0, NULL);
	text = json_string_value(json_object_get(j, "text"));
	is_str(text != NULL ? text : "(none)",
	    "r-7: build failed\nPhase build failed after 2 tries ({code}): "
	    "make said \"no\"\nexit 2",
	    "...Slack's {\"text\"}: the subject, then the text, the vars "
	    "put in, quotes and newlines escaped");
	ok(j != NULL && json_object_size(j) == 1, "...and nothing else");
	json_decref(j);
	is_str(last_audit(m, detail, sizeof(detail)), "notify.sent",
	    "the send is audited as notify.sent");
	ok(strstr(detail, out) != NULL
	        && strstr(detail, "phase_failed") != NULL
	        && strstr(detail, "ops") != NULL,
	    "...with the channel, the template and the digest");
	ok(strstr(detail, "make said") == NULL
	        && strstr(detail, "SECRET-PATH") == NULL,
	    "...but not the text, nor the webhook's secret path");
	is_int(agentd_mock_counter(m, "sent", NULL), 1, "...and counted");

	is_int(ask(m,
	           "{\"channel\": \"ops\", \"text\": \"plain words\", "
	           "\"subject\": \"Heads up\"}",
	           out, sizeof(out)),
	    0, "a literal text with a subject is sent");
	ok(strstr(h.body, "\"Heads up\\nplain words\"") != NULL,
	    "...as {\"text\": SUBJECT \\n TEXT}");
	is_int(ask(m,
	           "{\"channel\": \"ops\", \"template\": \"page\", \"vars\": "
	           "{\"what\": \"<!channel> & <https://x.test|click>\"}}",
	           out, sizeof(out)),
	    0, "a template that pages with a var that tries to");
	ok(strstr(h.body,
	       "\"<!here> &lt;!channel&gt; &amp; "
	       "&lt;https://x.test|click&gt;\"")
	        != NULL,
	    "...the template's <!here> is kept, the var's &, < and > are "
	    "escaped for Slack");
	is_int(ask(m, "{\"channel\": \"ops\", \"text\": \"<!channel>\"}", out,
	           sizeof(out)),
	    0, "a literal text");
	ok(strstr(h.body, "\"&lt;!channel&gt;\"") != NULL,
	    "...is escaped too: an agent's words are data");
	agentd_mock_free(m);
}

static void
test_down(void)
{
	struct hook  h = { .code = 503 };
	agentd_mock *m = new_notify(&h, CHANNELS);
	char         out[1024], detail[2048];
	uint64_t     waited = 0;

	if (m == NULL)
		return;
	is_int(ask(m, "{\"channel\": \"ops\", \"text\": \"is anyone there\"}",
	           out, sizeof(out)),
	    AGENTD_EUNAVAIL, "a receiver answering 503: EUNAVAIL");
	is_int(h.calls, 3, "...after the channel's 3 attempts");
	agentd_mock_http_waited(m, 0, &waited);
	ok(waited >= 100, "...with backoff between them (waited ms)");
	re_like(out,
	    "^channel ops \\(webhook http://127.0.0.1:9\\): HTTP 503 "
	    "after 3 attempts; recorded as notify.failed$",
	    "...one line: the channel, where (no path), what, how often");
	is_str(last_audit(m, detail, sizeof(detail)), "notify.failed",
	    "...and audited as notify.failed");
	ok(strstr(detail, "HTTP 503 after 3 attempts") != NULL
	        && strstr(detail, "EUNAVAIL") != NULL,
	    "...saying why");
	ok(strstr(detail, "SECRET-PATH") == NULL
	        && strstr(out, "SECRET-PATH") == NULL,
	    "...without the secret path");
	is_int(agentd_mock_counter(m, "failed", NULL), 1, "...and counted");

	h.code  = 0;
	h.calls = 0;
	is_int(ask(m, "{\"channel\": \"ops\", \"text\": \"again\"}", out,
	           sizeof(out)),
	    AGENTD_EUNAVAIL, "no connection at all: EUNAVAIL");
	is_int(h.calls, 3, "...after 3 attempts too");
	h.code  = 404;
	h.calls = 0;
	is_int(ask(m, "{\"channel\": \"ops\", \"text\": \"again\"}", out,
	           sizeof(out)),
	    AGENTD_EIO, "a 404 (a wrong URL): EIO");
	is_int(h.calls, 1, "...not tried again");
	agentd_mock_free(m);
}

static void
test_rate(void)
{
	struct hook  h = { .code = 200 };
	agentd_mock *m = new_notify(&h, CHANNELS);
	char         out[1024];
	size_t       audits;

	if (m == NULL)
		return;
	is_int(ask(m,
	           "{\"channel\": \"tight\", \"template\": "
	           "\"phase_failed\"}",
	           out, sizeof(out)),
	    AGENTD_EINVAL, "a message lacking its vars: EINVAL...");
	is_int(ask(m, "{\"channel\": \"tight\", \"text\": \"1\"}", out,
	           sizeof(out)),
	    0, "...takes nothing of the burst of 2: the first is sent");
	is_int(ask(m, "{\"channel\": \"tight\", \"text\": \"2\"}", out,
	           sizeof(out)),
	    0, "...the second");
	audits = agentd_mock_audit_count(m);
	is_int(ask(m, "{\"channel\": \"tight\", \"text\": \"3\"}", out,
	           sizeof(out)),
	    AGENTD_EBUSY, "...the third is refused: EBUSY");
	re_like(out,
	    "^channel tight: rate limit reached \\(1 a minute, burst "
	    "2\\): try again in [0-9]+ s$",
	    "...one line saying which limit and when to try again");
	is_int(h.calls, 2, "...and nothing was posted for it");
	is_int((int)agentd_mock_audit_count(m), (int)audits, "...nor audited");
	is_int(ask(m, "{\"channel\": \"ops\", \"text\": \"other\"}", out,
	           sizeof(out)),
	    0, "another channel is not limited by it");
	agentd_mock_free(m);
}

static void
test_event(void)
{
	struct hook    h = { .code = 200 };
	agentd_mock   *m = new_notify(&h, CHANNELS);
	agentd_writer *w;
	const void    *body;
	size_t         len;
	char           detail[2048];

	if (m == NULL)
		return;
	w    = msg_of("{\"run\": \"r-9\", \"phase\": \"deploy\", \"tries\": "
	                 "3, \"error\": \"timeout\", \"extra\": [1]}");
	body = agentd_writer_data(w, &len);
	agentd_mock_event(m, "phase.failed", body, len);
	agentd_mock_run(m);
	agentd_writer_free(w);
	is_int(h.calls, 1, "an event the file maps is posted");
	ok(strstr(h.body,
	       "r-9: deploy failed\\nPhase deploy failed after 3 "
	       "tries ({code}): timeout")
	        != NULL,
	    "...rendered from the event's body");
	is_str(last_audit(m, detail, sizeof(detail)), "notify.sent",
	    "...audited as notify.sent");
	ok(strstr(detail, "phase.failed") != NULL, "...with the topic");

	w    = msg_of("{\"run\": \"r-9\"}");
	body = agentd_writer_data(w, &len);
	agentd_mock_event(m, "phase.failed", body, len);
	agentd_mock_run(m);
	agentd_writer_free(w);
	is_int(h.calls, 1, "an event lacking a template's var is not posted");
	is_str(last_audit(m, detail, sizeof(detail)), "notify.failed",
	    "...but audited as notify.failed");
	ok(strstr(detail, "has no \\\"phase\\\"") != NULL
	        || strstr(detail, "has no \"phase\"") != NULL,
	    "...saying which var is missing");
	re_like(agentd_mock_last_log(m, NULL), "event phase.failed: .*phase",
	    "...and logged");

	agentd_mock_event(m, "other.topic", "\x80", 1);
	is_int(h.calls, 1, "an event the file does not map is not posted");
	like(agentd_mock_last_log(m, NULL), "other.topic: no entry",
	    "...and says so in one line");
	agentd_mock_free(m);
}

static void
test_requests(void)
{
	struct hook  h = { .code = 200 };
	agentd_mock *m = new_notify(&h, CHANNELS);
	char         out[1024];

	if (m == NULL)
		return;
	is_int(ask(m, "{\"channel\": \"nope\", \"text\": \"x\"}", out,
	           sizeof(out)),
	    AGENTD_EINVAL, "an unknown channel: EINVAL");
	like(out, "no channel \"nope\" in the channels file",
	    "...naming what is wrong");
	is_int(ask(m, "{\"channel\": \"ops\", \"template\": \"nope\"}", out,
	           sizeof(out)),
	    AGENTD_EINVAL, "an unknown template: EINVAL");
	is_int(ask(m,
	           "{\"channel\": \"ops\", \"template\": \"phase_failed\", "
	           "\"vars\": {\"run\": 1}}",
	           out, sizeof(out)),
	    AGENTD_EINVAL, "a var missing: EINVAL");
	like(out, "template phase_failed: \"vars\" has no \"phase\"",
	    "...naming the template and the var");
	is_int(ask(m,
	           "{\"channel\": \"ops\", \"template\": \"phase_failed\", "
	           "\"vars\": {\"run\": 1, \"phase\": {\"a\": 1}}}",
	           out, sizeof(out)),
	    AGENTD_EINVAL, "a var that is a map: EINVAL");
	{
		char *req = malloc(30100);

		snprintf(req, 30100,
		    "{\"channel\": \"ops\", \"template\": \"twice\", "
		    "\"vars\": {\"v\": \"%020001d\"}}",
		    7);
		is_int(ask(m, req, out, sizeof(out)), AGENTD_ETOOBIG,
		    "a text rendered over 40000 bytes: ETOOBIG");
		like(out, "the text would be over 40000 bytes",
		    "...saying the limit");
		free(req);
	}
	is_int(ask(m, "{\"channel\": \"ops\"}", out, sizeof(out)),
	    AGENTD_EINVAL, "neither template nor text: EINVAL");
	is_int(ask(m, "[1]", out, sizeof(out)), AGENTD_EINVAL,
	    "not a map: EINVAL");
	is_int(h.calls, 0, "...and none of them posted anything");
	agentd_mock_free(m);
}

/* Load with channels; the load's result and its last log line. */
static int
load_bad(const char *channels, const char *smtp_allow, char *log, size_t len)
{
	agentd_mock *m;
	const char  *l;
	int          rv;

	agentd_mock_new("notify", &m);
	agentd_mock_setting(
	    m, "channels_file", write_file("bad.json", channels));
	if (smtp_allow != NULL)
		agentd_mock_setting(m, "smtp_allow", smtp_allow);
	rv = agentd_mock_load(m, plugin_path());
	l  = agentd_mock_last_log(m, NULL);
	snprintf(log, len, "%s", l != NULL ? l : "");
	agentd_mock_free(m);
	return rv;
}

static void
test_config(void)
{
	char log[1024];

	is_int(load_bad("{\"channels\": {}}", NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "no channel: refused");
	like(log, "bad.json: \"channels\": at least one channel",
	    "...one line naming the file");
	is_int(load_bad("{\"channels\": {\"a\": {\"kind\": \"webhook\", "
	                "\"url\": \"ftp://x\"}}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "a webhook URL that is not http(s): refused");
	like(log, "channel a: \"url\"", "...naming the channel");
	is_int(load_bad("{\"channels\": {\"a\": {\"kind\": \"webhook\", "
	                "\"url\": \"http://u:p@x/\"}}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "credentials in a URL: refused");
	is_int(load_bad("{\"channels\": {\"a\": {\"kind\": \"webhook\", "
	                "\"url\": \"http://x/\"}}, \"templates\": {\"t\": "
	                "{\"text\": \"oops {name\"}}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "an unclosed {name: refused");
	like(log, "template t: '{' at byte 5", "...saying where");
	is_int(load_bad("{\"channels\": {\"a\": {\"kind\": \"webhook\", "
	                "\"url\": \"http://x/\"}}, \"events\": {\"x.y\": "
	                "{\"channel\": \"a\", \"template\": \"none\"}}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "an event mapped to no template: refused");
	like(log, "events.x.y", "...naming the event");
	is_int(load_bad("{\"channels\": {\"m\": {\"kind\": \"email\", "
	                "\"url\": \"smtp://mail.example.com\", \"from\": "
	                "\"a@b.c\", \"to\": [\"d@e.f\"]}}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "an SMTP server not in smtp_allow: refused");
	like(log,
	    "channel m: the SMTP server mail.example.com is not in the "
	    "setting smtp_allow",
	    "...saying what to add where");
	is_int(load_bad("{\"channels\": {\"m\": {\"kind\": \"email\", "
	                "\"url\": \"smtp://mail.example.com\", \"from\": "
	                "\"a@b.c\", \"to\": [\"d@e.f\"], \"starttls\": "
	                "\"no\", \"username\": \"u\", \"password_file\": "
	                "\"/nonexistent\"}}}",
	           "*.example.com", log, sizeof(log)),
	    AGENTD_EPLUGIN, "a password without TLS: refused");
	like(log, "a password is sent only over TLS", "...saying why");
	is_int(load_bad("{\"channels\": {\"a\": {\"kind\": \"webhook\", "
	                "\"url\": \"http://x/\", \"attempts\": 11}}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "11 attempts: refused");
	is_int(load_bad("{\"channels\": {\"a\": {\"kind\": \"webhook\", "
	                "\"url\": \"http://x/\", \"atempts\": 2}}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "a misspelt channel setting: refused");
	like(log, "channel a: no setting \"atempts\"", "...naming it");
	is_int(load_bad("{\"channels\": {\"a\": {\"kind\": \"webhook\", "
	                "\"url\": \"http://x/\"}}, \"template\": {}}",
	           NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "a misspelt section: refused");
	like(log, "not \"template\"", "...naming it");
	is_int(load_bad("{\"channels\": {\"m\": {\"kind\": \"email\", "
	                "\"url\": \"smtps://mail.example.com\", \"from\": "
	                "\"a@b.c\", \"to\": [\"d@e.f\"], \"ca_file\": "
	                "\"/nonexistent/ca.pem\"}}}",
	           "mail.example.com", log, sizeof(log)),
	    AGENTD_EPLUGIN, "a ca_file that cannot be read: refused");
	like(log, "channel m: \"ca_file\" /nonexistent/ca.pem: No such file",
	    "...naming the file and why");
	is_int(load_bad("{\"channels\": ", NULL, log, sizeof(log)),
	    AGENTD_EPLUGIN, "a file that is not JSON: refused");
	like(log, "bad.json:1:", "...with its line");
}

/* ---- e-mail, against tests/tools/fakesmtp.py -------------------------- */

extern char **environ;

static pid_t smtp_pid = -1;
static char  mail_path[600];
static int   smtp_port;

/* Start the fake SMTP server; 0, or -1 (no python3, no top_srcdir). */
static int
smtp_start(void)
{
	const char *top = getenv("top_srcdir");
	char        fake[512], portf[600], logf[600];
	char *argv[] = { "python3", fake, "--port-file", portf, "--log", logf,
		"--limit", "120", NULL };
	FILE *f;

	snprintf(fake, sizeof(fake), "%s/tests/tools/fakesmtp.py",
	    top != NULL ? top : ".");
	snprintf(portf, sizeof(portf), "%s/smtp.port", dir);
	snprintf(logf, sizeof(logf), "%s/smtp.log", dir);
	if (access(fake, R_OK) != 0
	    || posix_spawnp(&smtp_pid, "python3", NULL, NULL, argv, environ)
	        != 0) {
		smtp_pid = -1;
		return -1;
	}
	for (int i = 0; i < 200 && smtp_port == 0; i++) {
		if ((f = fopen(portf, "r")) != NULL) {
			if (fscanf(f, "%d", &smtp_port) != 1)
				smtp_port = 0;
			fclose(f);
		}
		if (smtp_port == 0)
			usleep(50000);
	}
	return smtp_port > 0 ? 0 : -1;
}

static void
smtp_stop(void)
{
	char path[600];

	if (smtp_pid > 0) {
		kill(smtp_pid, SIGTERM);
		waitpid(smtp_pid, NULL, 0);
	}
	snprintf(path, sizeof(path), "%s/smtp.port", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/smtp.log", dir);
	unlink(path);
}

/* What the fake logged, whole. */
static char *
smtp_log(void)
{
	static char buf[65536];
	char        path[600];
	size_t      n = 0;
	FILE       *f;

	snprintf(path, sizeof(path), "%s/smtp.log", dir);
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * A request the worker's loop must carry: sent, then the loop played
 * (descriptors polled, the clock moved 20 ms a turn) until it is
 * answered, at most about 20 s.  *status; "error" or "digest" in out.
 */
static int
ask_loop(agentd_mock *m, const char *json, char *out, size_t outlen)
{
	agentd_writer *w = msg_of(json);
	const void    *body, *reply;
	size_t         len, rlen, id;
	int            status = -1, rv = AGENTD_ENOENT;
	agentd_doc    *doc;

	body   = agentd_writer_data(w, &len);
	out[0] = '\0';
	agentd_mock_send(m, body, len, &id);
	for (int i = 0; i < 1000 && rv == AGENTD_ENOENT; i++) {
		agentd_mock_poll(m, 20);
		agentd_mock_clock_advance(m, 20);
		agentd_mock_run(m);
		rv = agentd_mock_answer(m, id, &reply, &rlen, &status);
	}
	if (rv == 0 && agentd_parse(reply, rlen, &doc) == 0) {
		const agentd_value *r = agentd_doc_root(doc);

		if (agentd_get_strcpy(agentd_map_get(r, "error"), out, outlen)
		    != 0)
			agentd_get_strcpy(
			    agentd_map_get(r, "digest"), out, outlen);
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	return rv == 0 ? status : -1;
}

static void
test_email(void)
{
	char         channels[4096], out[1024], detail[2048], *log;
	agentd_mock *m;
	int          dead = 9; /* the discard port: nothing listens */
	int          connects;

	snprintf(channels, sizeof(channels),
	    "{\"channels\": {"
	    " \"oncall\": {\"kind\": \"email\", \"url\": "
	    "\"smtp://127.0.0.1:%d\", \"starttls\": \"no\", \"from\": "
	    "\"agentd@example.test\", \"to\": [\"ops@example.test\", "
	    "\"lead@example.test\"]},"
	    " \"busy\": {\"kind\": \"email\", \"url\": "
	    "\"smtp://127.0.0.1:%d\", \"starttls\": \"no\", \"from\": "
	    "\"a@example.test\", \"to\": [\"tempfail@example.test\"], "
	    "\"attempts\": 3, \"backoff_ms\": 100},"
	    " \"gone\": {\"kind\": \"email\", \"url\": "
	    "\"smtp://127.0.0.1:%d\", \"starttls\": \"no\", \"from\": "
	    "\"a@example.test\", \"to\": [\"reject@example.test\"], "
	    "\"attempts\": 3, \"backoff_ms\": 100},"
	    " \"clear\": {\"kind\": \"email\", \"url\": "
	    "\"smtp://127.0.0.1:%d\", \"from\": \"a@example.test\", \"to\": "
	    "[\"x@example.test\"], \"attempts\": 3},"
	    " \"nobody\": {\"kind\": \"email\", \"url\": "
	    "\"smtp://127.0.0.1:%d\", \"starttls\": \"no\", \"from\": "
	    "\"a@example.test\", \"to\": [\"x@example.test\"], "
	    "\"attempts\": 2, \"backoff_ms\": 100, \"timeout_ms\": 3000}},"
	    " \"templates\": {\"t\": {\"subject\": \"{run} failed \\u2014 "
	    "sorry\", \"text\": \"line one\\n.\\n..two dots\\nvar: "
	    "{v}\"}}}",
	    smtp_port, smtp_port, smtp_port, smtp_port, dead);
	agentd_mock_new("notify", &m);
	snprintf(mail_path, sizeof(mail_path), "%s",
	    write_file("mail.json", channels));
	agentd_mock_setting(m, "channels_file", mail_path);
	agentd_mock_setting(m, "smtp_allow", "localhost, 127.0.0.1");
	if (!ok(agentd_mock_load(m, plugin_path()) == 0,
	        "notify loads with e-mail channels")) {
		diag("%s", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return;
	}
	is_int(ask_loop(m,
	           "{\"channel\": \"oncall\", \"template\": \"t\", \"vars\": "
	           "{\"run\": \"r-1\", \"v\": \"a\\r\\nBcc: x@evil\"}}",
	           out, sizeof(out)),
	    0, "an e-mail is sent through the loop's descriptors and timers");
	log = smtp_log();
	ok(strstr(log,
	       "\"from\": \"agentd@example.test\", \"to\": "
	       "[\"ops@example.test\", \"lead@example.test\"]")
	        != NULL,
	    "...the server got it from the sender, for both recipients");
	ok(strstr(log, "Subject: =?UTF-8?B?") != NULL,
	    "...a subject beyond ASCII as an RFC 2047 encoded word");
	ok(strstr(log, "To: ops@example.test, lead@example.test\\r\\n") != NULL
	        && strstr(log, "Content-Type: text/plain; charset=utf-8")
	            != NULL,
	    "...with its To and Content-Type headers");
	ok(strstr(log,
	       "\\r\\n\\r\\nline one\\r\\n.\\r\\n..two "
	       "dots\\r\\nvar: a\\r\\nBcc: x@evil\\r\\n")
	        != NULL,
	    "...the body in CRLF lines, dots as written (curl stuffs, the "
	    "server unstuffs)");
	ok(strstr(log, "\\r\\nBcc: x@evil\\r\\n\\r\\n") == NULL
	        && count_of(log, "Bcc:") == 1,
	    "...a CR LF in a var stays in the body, never a header");
	is_str(last_audit(m, detail, sizeof(detail)), "notify.sent",
	    "...audited as notify.sent");

	connects = count_of(smtp_log(), "\"rcpt\": \"tempfail@");
	is_int(ask_loop(m, "{\"channel\": \"busy\", \"text\": \"x\"}", out,
	           sizeof(out)),
	    AGENTD_EUNAVAIL, "a recipient answered 451: EUNAVAIL");
	is_int(count_of(smtp_log(), "\"rcpt\": \"tempfail@") - connects, 3,
	    "...the server saw 3 attempts");
	like(out, "SMTP 451", "...saying what the server said");
	like(out, "after 3 attempts; recorded as notify.failed",
	    "...after the channel's 3 attempts");
	is_str(last_audit(m, detail, sizeof(detail)), "notify.failed",
	    "...audited as notify.failed");
	is_int(agentd_mock_timers(m), 0, "...and no timer is left behind");

	is_int(ask_loop(m, "{\"channel\": \"gone\", \"text\": \"x\"}", out,
	           sizeof(out)),
	    AGENTD_EDENIED, "a recipient refused for good (550): EDENIED");
	like(out, "after 1 attempt;", "...not tried again");

	is_int(ask_loop(m, "{\"channel\": \"clear\", \"text\": \"x\"}", out,
	           sizeof(out)),
	    AGENTD_EIO,
	    "STARTTLS required (the default) and the server has none: EIO");
	like(out, "after 1 attempt;", "...at once, nothing sent in clear");
	is_int(ask_loop(m, "{\"channel\": \"nobody\", \"text\": \"x\"}", out,
	           sizeof(out)),
	    AGENTD_EUNAVAIL, "no server listening: EUNAVAIL");
	like(out, "after 2 attempts", "...after its 2 attempts");
	agentd_mock_free(m);
}

/* An instance stopped with one e-mail waiting to be tried again and one
 * in flight: both are ended (no crash, nothing leaked under valgrind). */
static void
test_email_stop(void)
{
	agentd_mock   *m;
	agentd_writer *w;
	const void    *body;
	size_t         len, id;
	int            i;

	agentd_mock_new("notify", &m);
	agentd_mock_setting(m, "channels_file", mail_path);
	agentd_mock_setting(m, "smtp_allow", "127.0.0.1");
	if (agentd_mock_load(m, plugin_path()) != 0) {
		ok(0, "notify loads again");
		agentd_mock_free(m);
		return;
	}
	w    = msg_of("{\"channel\": \"busy\", \"text\": \"x\"}");
	body = agentd_writer_data(w, &len);
	agentd_mock_send(m, body, len, &id);
	agentd_writer_free(w);
	for (i = 0; i < 500 && agentd_mock_timers(m) < 2; i++)
		agentd_mock_poll(m, 20);
	w    = msg_of("{\"channel\": \"oncall\", \"text\": \"y\"}");
	body = agentd_writer_data(w, &len);
	agentd_mock_send(m, body, len, &id);
	agentd_writer_free(w);
	ok(agentd_mock_pending(m) == 2,
	    "two e-mails under way, one waiting for its next attempt");
	agentd_mock_free(m);
	ok(1, "...the instance stops with them");
	unlink(mail_path);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "%s/test_notify.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 1;
	plan(103);
	test_webhook();
	test_down();
	test_rate();
	test_event();
	test_requests();
	test_config();
	if (smtp_start() == 0) {
		test_email();
		test_email_stop();
	} else
		for (int i = 0; i < 22; i++)
			printf("ok %d - e-mail # SKIP no python3 or no "
			       "tests/tools/fakesmtp.py\n",
			    ++tap_run_);
	smtp_stop();
	unlink(write_file("channels.json", ""));
	unlink(write_file("bad.json", ""));
	rmdir(dir);
	return done_testing();
}
