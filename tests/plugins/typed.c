/*
 * typed - a test plugin with one setting of each type, and requests that
 * make it misbehave on demand.  Request body (a map), all keys optional:
 *   "crash": true      abort() in the middle of the request
 *   "segv": true       write through a NULL pointer (SIGSEGV)
 *   "sleep_ms": N      sleep before answering
 *   "fail": CODE       return CODE without answering
 * The reply carries the settings it was started with.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

static const struct agentd_setting typed_settings[] = {
	{ "limit", AGENTD_SETTING_INT, NULL, "required integer" },
	{ "ratio", AGENTD_SETTING_DOUBLE, "0.5", "a number" },
	{ "greeting", AGENTD_SETTING_STRING, "hello", "a string" },
	{ "verbose", AGENTD_SETTING_BOOL, "false", "a boolean" },
	{ NULL, 0, NULL, NULL },
};

/* NULL, but the compiler cannot know: the write above is not optimized
 * into something else. */
static volatile int *volatile segv_target;

struct typed {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
};

static int
typed_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct typed *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return AGENTD_ENOMEM;
	t->ctx  = ctx;
	t->host = host;
	*state  = t;
	return 0;
}

static int
typed_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct typed       *t   = state;
	agentd_doc         *doc = NULL;
	const agentd_value *root;
	agentd_writer      *w;
	const char         *greeting = "";
	int64_t             limit    = 0, n;
	double              ratio    = 0;
	int                 verbose  = 0, flag, rv;
	const void         *out;
	size_t              outlen;

	if (len > 0 && agentd_parse(body, len, &doc) == 0) {
		root = agentd_doc_root(doc);
		if (agentd_get_bool(agentd_map_get(root, "crash"), &flag) == 0
		    && flag)
			abort();
		if (agentd_get_bool(agentd_map_get(root, "segv"), &flag) == 0
		    && flag)
			*(volatile int *)segv_target = 1;
		if (agentd_get_int(agentd_map_get(root, "sleep_ms"), &n)
		    == 0) {
			struct timespec ts
			    = { n / 1000, (n % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
		if (agentd_get_int(agentd_map_get(root, "fail"), &n) == 0) {
			agentd_doc_free(doc);
			return (int)n;
		}
		agentd_doc_free(doc);
	}
	t->host->setting_int(t->ctx, "limit", &limit);
	t->host->setting_double(t->ctx, "ratio", &ratio);
	t->host->setting_string(t->ctx, "greeting", &greeting);
	t->host->setting_bool(t->ctx, "verbose", &verbose);
	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	agentd_write_map(w, 5);
	agentd_write_str(w, "limit");
	agentd_write_int(w, limit);
	agentd_write_str(w, "ratio");
	agentd_write_double(w, ratio);
	agentd_write_str(w, "greeting");
	agentd_write_str(w, greeting);
	agentd_write_str(w, "verbose");
	agentd_write_bool(w, verbose);
	agentd_write_str(w, "pid");
	agentd_write_int(w, getpid());
	out = agentd_writer_data(w, &outlen);
	rv  = t->host->reply(t->ctx, req, out, outlen);
	agentd_writer_free(w);
	return rv;
}

static void
typed_fini(void *state)
{
	free(state);
}

AGENTD_PLUGIN(.name = "typed", .version = "0.1.0",
    .description = "test plugin: typed settings, misbehaves on demand",
    .settings = typed_settings, .init = typed_init,
    .on_request = typed_request, .fini = typed_fini);
