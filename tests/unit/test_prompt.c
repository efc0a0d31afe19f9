/*
 * The prompt plugin (plugins/prompt) against the mock host: templates
 * filled with strings, integers, reals and booleans, braces written
 * twice, the system message optional, and each refused request (no user
 * template, a missing field, a map where a value goes, a lone brace, a
 * text past the limit, a body that is no map) with its one line, also
 * logged.
 * Linked as a plugin author's test is.
 */
#define _GNU_SOURCE

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

static agentd_mock *
new_mock(void)
{
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];
	agentd_mock *m;

	snprintf(path, sizeof(path), "%s/prompt.so",
	    d != NULL ? d : "plugins/.libs");
	if (agentd_mock_new("prompt", &m) != 0)
		return NULL;
	if (agentd_mock_load(m, path) != 0) {
		diag("load %s: %s", path, agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return NULL;
	}
	return m;
}

/*
 * Send a map of (key, type, value) triples ended by NULL: type 's' a
 * string, 'i' an int, 'd' a double, 'b' a bool, 'm' an empty map.  *doc
 * (caller frees with agentd_doc_free) is the answer; returns the status.
 */
static int
ask(agentd_mock *m, agentd_doc **doc, ...)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	const char    *key;
	int            status = -1;
	va_list        ap;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	va_start(ap, doc);
	while ((key = va_arg(ap, const char *)) != NULL) {
		agentd_write_str(w, key);
		switch (va_arg(ap, int)) {
		case 's':
			agentd_write_str(w, va_arg(ap, const char *));
			break;
		case 'i':
			agentd_write_int(w, va_arg(ap, int));
			break;
		case 'd':
			agentd_write_double(w, va_arg(ap, double));
			break;
		case 'b':
			agentd_write_bool(w, va_arg(ap, int));
			break;
		default:
			agentd_write_map(w, 0);
		}
	}
	va_end(ap);
	agentd_write_map_end(w);
	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0)
		agentd_parse(reply, rlen, doc);
	agentd_writer_free(w);
	return status;
}

/* The content of message i if its role is role, else NULL; borrowed from
 * doc, NUL-terminated in buf. */
static const char *
message(agentd_doc *doc, size_t i, const char *role, char *buf, size_t size)
{
	const agentd_value *msgs, *msg;
	char                r[16];

	if (doc == NULL)
		return NULL;
	msgs = agentd_map_get(agentd_doc_root(doc), "messages");
	msg  = agentd_array_at(msgs, i);
	if (agentd_get_strcpy(agentd_map_get(msg, "role"), r, sizeof(r)) != 0
	    || strcmp(r, role) != 0
	    || agentd_get_strcpy(agentd_map_get(msg, "content"), buf, size)
	        != 0)
		return NULL;
	return buf;
}

static size_t
n_messages(agentd_doc *doc)
{
	if (doc == NULL)
		return 0;
	return agentd_len(agentd_map_get(agentd_doc_root(doc), "messages"));
}

/* The error line of an answer, or "". */
static const char *
error_of(agentd_doc *doc, char *buf, size_t size)
{
	buf[0] = '\0';
	if (doc != NULL)
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "error"), buf, size);
	return buf;
}

static void
test_filled(agentd_mock *m)
{
	agentd_doc *doc;
	char        buf[512];
	int         st;

	st = ask(m, &doc, "system", 's', "You write copy for {shop}.", "user",
	    's', "{title} at {price} EUR, {stock} left, new: {new}", "shop",
	    's', "Lamps & Co", "title", 's', "Desk lamp", "price", 'd', 24.99,
	    "stock", 'i', 12, "new", 'b', 1, "idempotency_key", 's', "r/1/1",
	    NULL);
	is_int(st, 0, "a request with both templates is answered");
	is_int((int)n_messages(doc), 2, "with two messages");
	is_str(message(doc, 0, "system", buf, sizeof(buf)),
	    "You write copy for Lamps & Co.", "the system message, filled");
	is_str(message(doc, 1, "user", buf, sizeof(buf)),
	    "Desk lamp at 24.99 EUR, 12 left, new: true",
	    "the user message: a string, a real, an integer, a boolean");
	ok(agentd_map_get(agentd_doc_root(doc), "idempotency_key") == NULL,
	    "fields are not copied into the answer");
	agentd_doc_free(doc);

	st = ask(
	    m, &doc, "user", 's', "{{literal}} and {n}}}", "n", 'i', -3, NULL);
	is_int(st, 0, "a user template alone is answered");
	is_int((int)n_messages(doc), 1, "with one message, no system one");
	is_str(message(doc, 0, "user", buf, sizeof(buf)), "{literal} and -3}",
	    "{{ and }} are braces");
	agentd_doc_free(doc);

	st = ask(m, &doc, "user", 's', "no fields at all", NULL);
	is_str(message(doc, 0, "user", buf, sizeof(buf)), "no fields at all",
	    "a template without fields is its own text");
	agentd_doc_free(doc);
}

/* Each refused request: its code and a line that names what to fix. */
static void
refused(agentd_mock *m, int code, const char *want, const char *name, int st,
    agentd_doc *doc)
{
	char buf[512];

	error_of(doc, buf, sizeof(buf));
	if (!ok(st == code && strstr(buf, want) != NULL, name))
		diag("status %d, error \"%s\"; wanted %d with \"%s\"", st, buf,
		    code, want);
	agentd_doc_free(doc);
	(void)m;
}

static void
test_refused(agentd_mock *m)
{
	agentd_doc *doc;
	char       *big, name[80], long_name[64], buf[512];
	int         st, level = -1;

	memset(long_name, 'n', 63);
	long_name[63] = '\0';
	st            = ask(m, &doc, "system", 's', "hello", NULL);
	refused(m, AGENTD_EINVAL, "\"user\" must be a string",
	    "no user template", st, doc);
	st = ask(m, &doc, "user", 'i', 3, NULL);
	refused(m, AGENTD_EINVAL, "\"user\" must be a string",
	    "a user template that is no string", st, doc);
	st = ask(m, &doc, "user", 's', "at {price} EUR", NULL);
	refused(m, AGENTD_EINVAL,
	    "{price} in \"user\": the request has no such field",
	    "a missing field is named", st, doc);
	st = ask(m, &doc, "system", 's', "about {order}", "user", 's', "x",
	    "order", 'm', NULL);
	refused(m, AGENTD_EINVAL,
	    "{order} in \"system\": the field is not a string",
	    "a map where a value goes is named, with its template", st, doc);
	like(agentd_mock_last_log(m, &level),
	    "{order} in \"system\": the field is not a string",
	    "the line is logged too (a workflow sees only the code)");
	is_int(level, AGENTD_LOG_WARN, "as a warning");
	st = ask(m, &doc, "user", 's', "a { here", NULL);
	refused(m, AGENTD_EINVAL, "\"user\", byte 3: a lone \"{\"",
	    "a lone { is named with its byte", st, doc);
	st = ask(m, &doc, "user", 's', "a } here", NULL);
	refused(m, AGENTD_EINVAL, "\"user\", byte 3: a lone \"}\"",
	    "a lone } too", st, doc);
	st = ask(m, &doc, "user", 's', "{}", NULL);
	refused(m, AGENTD_EINVAL, "a lone \"{\"", "an empty {} too", st, doc);
	snprintf(name, sizeof(name), "{%s}", long_name); /* 63 characters */
	st = ask(m, &doc, "user", 's', name, long_name, 's', "ok", NULL);
	is_str(message(doc, 0, "user", buf, sizeof(buf)), "ok",
	    "a field name of 63 characters is one");
	agentd_doc_free(doc);
	snprintf(name, sizeof(name), "{%sn}", long_name); /* 64 */
	st = ask(m, &doc, "user", 's', name, NULL);
	refused(m, AGENTD_EINVAL, "byte 1: a lone \"{\"",
	    "one of 64 is a lone brace", st, doc);

	big = malloc(200 * 1024);
	memset(big, 'x', 200 * 1024 - 1);
	big[200 * 1024 - 1] = '\0';
	st = ask(m, &doc, "user", 's', "{b}{b}", "b", 's', big, NULL);
	refused(m, AGENTD_ETOOBIG, "\"user\" fills to more than",
	    "a text past 256 KiB is ETOOBIG", st, doc);
	free(big);
}

static void
test_not_a_map(agentd_mock *m)
{
	static const unsigned char arr[] = { 0x91, 0x01 }; /* [1] */
	const void                *reply;
	size_t                     rlen;
	int                        st = -1;

	agentd_mock_request(m, arr, sizeof(arr), &reply, &rlen, &st);
	is_int(st, AGENTD_EPROTO, "a body that is no map is EPROTO");
}

int
main(void)
{
	agentd_mock *m;

	plan(22);
	if ((m = new_mock()) == NULL) {
		printf("Bail out! the prompt plugin does not load\n");
		return 1;
	}
	test_filled(m);
	test_refused(m);
	test_not_a_map(m);
	agentd_mock_free(m);
	return done_testing();
}
