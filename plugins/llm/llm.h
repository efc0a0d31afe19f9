/*
 * llm.h - the llm plugin's pieces shared between its files: the
 * configuration (config.c) and the state of providers, routes and
 * callers that llm.c runs on.
 */
#ifndef LLM_LLM_H
#define LLM_LLM_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>

#include "codec.h"

#define LLM_PROVIDERS_MAX 16
#define LLM_ROUTES_MAX 16
#define LLM_CHAIN_MAX 8
#define LLM_CALLERS_MAX 256
#define LLM_NAME_MAX 64

/* A provider's circuit breaker: closed (used), open (skipped until
 * open_until), probing (one request in flight decides). */
enum llm_breaker { BR_CLOSED = 0, BR_OPEN, BR_PROBING };

/* Failures by class, as counted and reported in stats. */
enum llm_fail {
	F_CONNECT = 0, /* no connection (refused, DNS) */
	F_TIMEOUT,     /* the attempt's timeout passed */
	F_429,         /* 429 after the retries */
	F_5XX,         /* 5xx after the retries */
	F_BAD,         /* a 2xx that is no answer of its API, too big, TLS */
	F_REFUSED,     /* http_async refused it (allow-list, limits) */
	F_4XX,         /* another 4xx: the request itself, no fallback */
	F_NCLASSES
};

struct llm_provider {
	char          name[LLM_NAME_MAX];
	enum llm_kind kind;
	char          url[1024];
	char          model[256];
	char         *key; /* from api_key_file; never logged or shown */
	uint32_t      timeout_ms, attempts;

	enum llm_breaker br;
	unsigned         fails;      /* consecutive */
	int64_t          open_until; /* monotonic ms */

	uint64_t requests, answered, fallbacks, skipped, opened;
	uint64_t failed[F_NCLASSES];
	uint64_t prompt_tokens, completion_tokens;
};

struct llm_route {
	char   name[LLM_NAME_MAX];
	size_t n;
	int    chain[LLM_CHAIN_MAX]; /* indexes into providers */
};

struct llm_caller {
	char     name[LLM_NAME_MAX];
	uint32_t rpm;     /* requests per minute; 0: no limit */
	uint64_t per_day; /* tokens per day (UTC); 0: no limit */
	int64_t  minute_start;
	uint32_t minute_n;
	int64_t  day; /* days since the epoch of day_tokens */
	uint64_t day_tokens;
	int      dirty; /* day_tokens not written to state yet */
	uint64_t requests, denied, errors, prompt_tokens, completion_tokens;
};

/* A budget the configuration gives one caller. */
struct llm_budget {
	char     caller[LLM_NAME_MAX];
	uint32_t rpm;
	uint64_t per_day;
};

struct llm_config {
	struct llm_provider providers[LLM_PROVIDERS_MAX];
	size_t              nproviders;
	struct llm_route    routes[LLM_ROUTES_MAX];
	size_t              nroutes;
	struct llm_budget   budgets[LLM_CALLERS_MAX];
	size_t              nbudgets;
};

/*
 * Read the JSON configuration at path (routes, providers, budgets; the
 * API keys from their files) into c.  0, or AGENTD_ECONFIG with one line
 * in err naming the file and what is wrong (never a key's bytes).
 */
int llm_config_load(
    const char *path, struct llm_config *c, char *err, size_t errlen);
void llm_config_free(struct llm_config *c);

#endif /* LLM_LLM_H */
