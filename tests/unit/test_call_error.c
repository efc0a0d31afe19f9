/*
 * host->call_error() (ABI 1.5) on the mock host: the message a handler
 * gives with agentd_mock_call_fail() reaches the calling plugin, made one
 * line and at most 1024 bytes, after a failed host->call() (until the next
 * one) and inside a failed call_async callback (until it returns); the
 * mock's own refusals say what agentd would.  Linked against
 * libagentd-sdk.a only, as a plugin author's test is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

#define LINE 2048

/* ---- a plugin that calls the agent its request names ------------------ */

struct asker {
	const struct agentd_host *host;
	agentd_ctx               *ctx;
	agentd_request           *req;
	int                       sync_status, async_status;
	int                       async_reply_null;
	char                      sync_err[LINE], async_err[LINE];
};

static struct asker *asker_last;

/* What host->call_error() answers now, into buf ("(null)" for NULL). */
static void
copy_err(const struct agentd_host *host, agentd_ctx *ctx, char *buf)
{
	const char *e = host->call_error(ctx);

	snprintf(buf, LINE, "%s", e != NULL ? e : "(null)");
}

static int
asker_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct asker *a = calloc(1, sizeof(*a));

	if (a == NULL || !AGENTD_HOST_HAS(host, call_error)) {
		free(a);
		return AGENTD_ENOTSUP;
	}
	a->host    = host;
	a->ctx     = ctx;
	*state     = a;
	asker_last = a;
	return 0;
}

static void
asker_done(void *arg, int status, const void *reply, size_t len)
{
	struct asker *a = arg;

	(void)len;
	a->async_status     = status;
	a->async_reply_null = reply == NULL;
	copy_err(a->host, a->ctx, a->async_err);
	a->host->reply(a->ctx, a->req, "\xc0", 1);
}

/* The body is the callee's name (a msgpack string): a host->call, then a
 * call_async whose callback answers the request. */
static int
asker_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct asker *a = state;
	agentd_doc   *doc;
	char          agent[AGENTD_NAME_MAX + 1] = "";
	void         *r;
	size_t        rl;

	if (agentd_parse(body, len, &doc) == 0) {
		agentd_get_strcpy(agentd_doc_root(doc), agent, sizeof(agent));
		agentd_doc_free(doc);
	}
	a->req         = req;
	a->sync_status = a->host->call(a->ctx, agent, "\xc0", 1, 0, &r, &rl);
	if (a->sync_status == 0)
		a->host->free(r);
	copy_err(a->host, a->ctx, a->sync_err);
	return a->host->call_async(a->ctx, agent, "\xc0", 1, 0, asker_done, a);
}

static void
asker_fini(void *state)
{
	free(state);
}

static const struct agentd_plugin asker_desc = {
	.magic      = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "asker",
	.version    = "1.0.0",
	.init       = asker_init,
	.on_request = asker_request,
	.fini       = asker_fini,
};

/* ---- the agents it calls ---------------------------------------------- */

static char long_msg[3000];

static int
catalog(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	(void)arg, (void)agent, (void)body, (void)len;
	return agentd_mock_call_fail(
	    reply, AGENTD_EINVAL, "sku \"Z-9\"\tis not\nin the catalog");
}

static int
stock(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	(void)arg, (void)agent, (void)body, (void)len, (void)reply;
	return AGENTD_EUNAVAIL; /* no message: the code's text */
}

static int
chatty(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	(void)arg, (void)agent, (void)body, (void)len;
	return agentd_mock_call_fail(reply, AGENTD_EPLUGIN, long_msg);
}

static int
pricing(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	(void)arg, (void)agent, (void)body, (void)len;
	return agentd_write_int(reply, 42);
}

/* Ask the asker to call agent; 0 once it answered. */
static int
ask(agentd_mock *m, const char *agent)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status, rv;

	agentd_writer_new(&w);
	agentd_write_str(w, agent);
	body = agentd_writer_data(w, &len);
	rv   = agentd_mock_request(m, body, len, &reply, &rlen, &status);
	agentd_writer_free(w);
	return rv != 0 ? rv : status;
}

static void
test_messages(void)
{
	const struct agentd_host *host;
	agentd_ctx               *ctx;
	agentd_mock              *m = NULL;
	char                      buf[LINE];
	void                     *r;
	size_t                    rl;

	agentd_mock_new("asker", &m);
	agentd_mock_on_call(m, "catalog", catalog, NULL);
	agentd_mock_on_call(m, "stock", stock, NULL);
	agentd_mock_on_call(m, "chatty", chatty, NULL);
	agentd_mock_on_call(m, "pricing", pricing, NULL);
	is_int(agentd_mock_attach(m, &asker_desc), 0,
	    "a plugin that needs host->call_error starts on the mock");
	host = agentd_mock_host(m, &ctx);
	is_str(host->call_error(ctx), NULL, "before any call: NULL");

	is_int(ask(m, "catalog"), 0, "a call to an agent that fails it");
	is_int(asker_last->sync_status, AGENTD_EINVAL,
	    "host->call returns the handler's code");
	is_str(asker_last->sync_err, "sku \"Z-9\" is not in the catalog",
	    "...and call_error is its message, made one line");
	is_int(asker_last->async_status, AGENTD_EINVAL,
	    "the call_async callback gets the code");
	ok(asker_last->async_reply_null, "...and no reply");
	is_str(asker_last->async_err, "sku \"Z-9\" is not in the catalog",
	    "...and call_error is the message in the callback");
	is_str(host->call_error(ctx), "sku \"Z-9\" is not in the catalog",
	    "after the callback: the failed host->call's, until the next");
	ok(host->call(ctx, "pricing", "\xc0", 1, 0, &r, &rl) == 0,
	    "a call that succeeds...");
	host->free(r);
	is_str(host->call_error(ctx), NULL, "...leaves no message");

	is_int(ask(m, "stock"), 0, "a handler failing with a bare code");
	is_str(asker_last->sync_err, "no ready instance",
	    "...gives the code's text (host->call)");
	is_str(asker_last->async_err, "no ready instance",
	    "...and in the callback");

	is_int(ask(m, "nobody"), 0, "a call to an agent without a handler");
	is_int(asker_last->sync_status, AGENTD_ENOENT, "...is ENOENT");
	like(asker_last->sync_err, "no agent named \"nobody\"",
	    "...and says so as agentd does (host->call)");
	like(asker_last->async_err, "no agent named \"nobody\"",
	    "...and in the callback");

	memset(long_msg, 'x', sizeof(long_msg) - 1);
	memcpy(long_msg + 1022, "\xc3\xa9", 2); /* an e acute: bytes 1022-3 */
	is_int(ask(m, "chatty"), 0, "a message of 3000 bytes");
	is_int((int)strlen(asker_last->sync_err), 1024,
	    "...is cut to 1024 bytes");
	is_int((int)strlen(asker_last->async_err), 1024,
	    "...in the callback too");
	memset(long_msg, 'x', sizeof(long_msg) - 1);
	memcpy(long_msg + 1023, "\xc3\xa9", 2); /* bytes 1023-4 */
	ask(m, "chatty");
	is_int((int)strlen(asker_last->sync_err), 1023,
	    "...never inside a character");

	ok(host->call(ctx, "bad name!", "\xc0", 1, 0, &r, &rl)
	        == AGENTD_EINVAL,
	    "a call refused before it is sent");
	copy_err(host, ctx, buf);
	is_str(buf, "call to \"bad name!\": invalid argument",
	    "...says so, naming the callee");
	agentd_mock_free(m);
}

int
main(void)
{
	plan(24);
	test_messages();
	return done_testing();
}
