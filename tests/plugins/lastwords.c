/*
 * lastwords - a test plugin that dies in the middle of what it is saying.
 *
 * From its first tick it keeps `outstanding` of each kind of traffic a
 * worker has with agentd under way, on every one of its connections:
 * audit_async records and LOW proposals (calls.sock, answered by agentd;
 * the proposals' outcomes come back on its channel), call_async calls to
 * its own agent (its channel, both ways: an instance of the agent answers
 * them on its own), and events on a topic it both publishes and
 * subscribes to (publish.sock in, its event socket out).  Each completion
 * starts the next.  exit_after_ms after its init, plus up to as much
 * again drawn at random, it _exit()s from whichever callback comes first,
 * with all of that in flight in both directions: agentd is reading its
 * last messages and writing to a peer that is gone.
 * tests/system/last_words.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

static const struct agentd_setting lastwords_settings[] = {
	{ "outstanding", AGENTD_SETTING_INT, "32",
	    "of each kind of traffic under way" },
	{ "exit_after_ms", AGENTD_SETTING_INT, "200",
	    "_exit() this long after init, and up to as much again" },
	{ "topic", AGENTD_SETTING_STRING, "lastwords",
	    "published and subscribed" },
	{ "type", AGENTD_SETTING_STRING, "low.lastwords",
	    "what the proposals are (the test's policy makes it LOW)" },
	{ NULL, 0, NULL, NULL },
};

struct lastwords {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	int64_t                   outstanding;
	int64_t                   exit_at_ms; /* monotonic */
	const char               *topic;      /* borrowed from the host */
	const char               *type;
	int64_t                   audits, proposals, calls; /* under way */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Its time has come: no fini, no goodbye, nothing flushed. */
static void
maybe_die(struct lastwords *lw)
{
	if (now_ms() >= lw->exit_at_ms)
		_exit(0);
}

static void top_up(struct lastwords *lw);

static void
audit_done(void *arg, int status, uint64_t seq)
{
	struct lastwords *lw = arg;

	(void)status;
	(void)seq;
	lw->audits--;
	top_up(lw);
}

static void
proposed(void *arg, int status, const char *decision_id)
{
	struct lastwords *lw = arg;

	(void)status;
	(void)decision_id;
	lw->proposals--;
	top_up(lw);
}

static void
called(void *arg, int status, const void *reply, size_t len)
{
	struct lastwords *lw = arg;

	(void)status;
	(void)reply;
	(void)len;
	lw->calls--;
	top_up(lw);
}

/* Start what is missing of each kind; the host may refuse (queues full):
 * the next tick tries again. */
static void
top_up(struct lastwords *lw)
{
	static const unsigned char body[] = { 0x80 }; /* {} */
	struct agentd_proposal     p;
	const char                *self = lw->host->agent_name(lw->ctx);
	int64_t                    n;

	maybe_die(lw);
	while (lw->audits < lw->outstanding
	    && lw->host->audit_async(lw->ctx, "lastwords.record",
	           "said just before the end", NULL, 0, audit_done, lw)
	        == 0)
		lw->audits++;
	memset(&p, 0, sizeof(p));
	p.type       = lw->type;
	p.title      = "one more thing";
	p.confidence = 1;
	while (lw->proposals < lw->outstanding
	    && lw->host->propose_async(lw->ctx, &p, proposed, lw) == 0)
		lw->proposals++;
	while (lw->calls < lw->outstanding
	    && lw->host->call_async(
	           lw->ctx, self, body, sizeof(body), 2000, called, lw)
	        == 0)
		lw->calls++;
	for (n = 0; n < lw->outstanding; n++)
		if (lw->host->publish(lw->ctx, lw->topic, body, sizeof(body))
		    != 0)
			break;
}

static int
lastwords_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct lastwords *lw    = calloc(1, sizeof(*lw));
	int64_t           after = 0;
	unsigned          seed  = (unsigned)getpid() ^ (unsigned)now_ms();

	if (lw == NULL)
		return AGENTD_ENOMEM;
	if (!AGENTD_HOST_HAS(host, propose_async)) {
		free(lw);
		return AGENTD_ENOTSUP;
	}
	lw->ctx  = ctx;
	lw->host = host;
	host->setting_int(ctx, "outstanding", &lw->outstanding);
	host->setting_int(ctx, "exit_after_ms", &after);
	host->setting_string(ctx, "topic", &lw->topic);
	host->setting_string(ctx, "type", &lw->type);
	if (after < 1)
		after = 1;
	lw->exit_at_ms = now_ms() + after + rand_r(&seed) % after;
	*state         = lw;
	return 0;
}

static int
lastwords_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct lastwords *lw = state;

	maybe_die(lw);
	return lw->host->reply(lw->ctx, req, body, len);
}

static void
lastwords_event(void *state, const char *topic, const void *body, size_t len)
{
	(void)topic;
	(void)body;
	(void)len;
	maybe_die(state);
}

static void
lastwords_tick(void *state)
{
	top_up(state);
}

static void
lastwords_fini(void *state)
{
	free(state);
}

AGENTD_PLUGIN(.name = "lastwords", .version = "0.1.0",
    .description = "test plugin: exits with traffic in flight both ways",
    .settings = lastwords_settings, .init = lastwords_init,
    .on_request = lastwords_request, .on_event = lastwords_event,
    .on_tick = lastwords_tick, .tick_ms = 5, .fini = lastwords_fini);
