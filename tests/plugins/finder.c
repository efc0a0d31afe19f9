/*
 * finder - asks host->find_agents for the capability a request names, for
 * the discovery tests.  A request's body is a msgpack string, the
 * capability; the reply, once agentd answered, is {"agents": [NAME, ...]}
 * in the order the callback gave them, or the error find_agents or its
 * callback had.  A body {"capability": C, "times": N} asks N times, one
 * after another, and answers {"agents": [...], "times": N, "us": T}, T
 * the microseconds from the first question to the last answer (what
 * one find_agents costs, measured).  Its descriptor says .capabilities
 * {"finder", "search"}; Makefile.am builds it a second and a third time,
 * refused by the loader: -DFINDER_BAD    .capabilities {"finder", "Not OK"}:
 * not a capability -DFINDER_MANY   33 of them, one past
 * AGENTD_CAPABILITIES_MAX
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#if defined(FINDER_BAD)
static const char *const finder_capabilities[] = { "finder", "Not OK", NULL };
#elif defined(FINDER_MANY)
#define C4(p) p "a", p "b", p "c", p "d"
static const char *const finder_capabilities[] = { C4("a"), C4("b"), C4("c"),
	C4("d"), C4("e"), C4("f"), C4("g"), C4("h"), "z", NULL };
#else
static const char *const finder_capabilities[] = { "finder", "search", NULL };
#endif

struct finder {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
};

/* One request waiting for its answer. */
struct asked {
	struct finder  *f;
	agentd_request *req;
	char            cap[128];
	int64_t         times, left; /* times 0: a plain request */
	int64_t         start_us;
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
finder_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct finder *f;

	if (!AGENTD_HOST_HAS(host, find_agents))
		return AGENTD_ENOTSUP;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return AGENTD_ENOMEM;
	f->ctx  = ctx;
	f->host = host;
	*state  = f;
	return 0;
}

static void
found(void *arg, int status, const char *const *names, size_t n)
{
	struct asked  *a = arg;
	agentd_writer *w;
	const void    *body;
	size_t         i, len;

	if (status == 0 && a->left > 1) {
		a->left--;
		status = a->f->host->find_agents(a->f->ctx, a->cap, found, a);
		if (status == 0)
			return;
	}
	if (status != 0) {
		a->f->host->reply_error(a->f->ctx, a->req, status,
		    "find_agents answered an error");
		free(a);
		return;
	}
	agentd_writer_new(&w);
	agentd_write_map(w, a->times > 0 ? 3 : 1);
	agentd_write_str(w, "agents");
	agentd_write_array(w, (uint32_t)n);
	for (i = 0; i < n; i++)
		agentd_write_str(w, names[i]);
	if (a->times > 0) {
		agentd_write_str(w, "times");
		agentd_write_int(w, a->times);
		agentd_write_str(w, "us");
		agentd_write_int(w, now_us() - a->start_us);
	}
	body = agentd_writer_data(w, &len);
	a->f->host->reply(a->f->ctx, a->req, body, len);
	agentd_writer_free(w);
	free(a);
}

/* The capability (and how many times) a request's body asks for. */
static int
asked_of(const void *body, size_t len, struct asked *a)
{
	const agentd_value *root;
	agentd_doc         *doc;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	root = agentd_doc_root(doc);
	if (agentd_type_of(root) == AGENTD_T_MAP) {
		rv = agentd_get_strcpy(agentd_map_get(root, "capability"),
		    a->cap, sizeof(a->cap));
		if (rv == 0
		    && (agentd_get_int(
		            agentd_map_get(root, "times"), &a->times)
		            != 0
		        || a->times < 1))
			rv = AGENTD_EINVAL;
	} else {
		rv = agentd_get_strcpy(root, a->cap, sizeof(a->cap));
	}
	agentd_doc_free(doc);
	return rv != 0 ? AGENTD_EINVAL : 0;
}

static int
finder_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct finder *f = state;
	struct asked  *a;
	int            rv;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return AGENTD_ENOMEM;
	if ((rv = asked_of(body, len, a)) != 0) {
		free(a);
		return rv;
	}
	a->f        = f;
	a->req      = req;
	a->left     = a->times;
	a->start_us = now_us();
	if ((rv = f->host->find_agents(f->ctx, a->cap, found, a)) != 0) {
		free(a);
		return f->host->reply_error(
		    f->ctx, req, rv, "find_agents refused the capability");
	}
	return 0;
}

static void
finder_fini(void *state)
{
	free(state);
}

AGENTD_PLUGIN(.name = "finder", .version = "1.0.0",
    .description = "answers with the agents that have a capability",
    .init = finder_init, .on_request = finder_request, .fini = finder_fini,
    .capabilities = finder_capabilities);
