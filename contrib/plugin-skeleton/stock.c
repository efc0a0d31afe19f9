/*
 * stock - how many of each SKU are in stock.  The second plugin of the
 * skeleton (the Makefile builds every plugin of PLUGINS): the agent that
 * quote's reprice calls.
 *
 *   {"op": "set", "sku": "A-1", "stock": 12}
 *       Remember the stock of a SKU.  Reply {"sku": "A-1", "stock": 12}.
 *
 *   {"sku": "A-1"}                             ("op": "get" is the default)
 *       Reply {"sku": "A-1", "stock": 12}; a SKU never set has 0.
 *
 * Stock is kept in this agent's state as {"stock": N} under "stock:SKU".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#define SKU_MAX 64
#define STOCK_KEY "stock:"
#define STOCK_KEY_SIZE (sizeof(STOCK_KEY) + SKU_MAX)

struct stock {
	agentd_ctx               *ctx;  /* borrowed, valid until fini() */
	const struct agentd_host *host; /* the same */
	agentd_writer            *out;  /* reused for every message */
};

static int
stock_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct stock *inv = calloc(1, sizeof(*inv));

	if (inv == NULL)
		return AGENTD_ENOMEM;
	inv->ctx  = ctx;
	inv->host = host;
	if (agentd_writer_new(&inv->out) != 0) {
		free(inv);
		return AGENTD_ENOMEM;
	}
	*state = inv;
	return 0;
}

static void
stock_fini(void *state)
{
	struct stock *inv = state;

	agentd_writer_free(inv->out);
	free(inv);
}

/* inv->out := {"sku": sku, "stock": stock} */
static void
write_stock(struct stock *inv, const char *sku, int64_t stock)
{
	agentd_writer_reset(inv->out);
	agentd_write_map_begin(inv->out);
	agentd_write_str(inv->out, "sku");
	agentd_write_str(inv->out, sku);
	agentd_write_str(inv->out, "stock");
	agentd_write_int(inv->out, stock);
	agentd_write_map_end(inv->out);
}

/* Is v the string s? */
static int
op_is(const agentd_value *v, const char *s)
{
	const char *p;
	size_t      len;

	return agentd_get_str(v, &p, &len) == 0 && len == strlen(s)
	    && memcmp(p, s, len) == 0;
}

static int
stock_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct stock       *inv = state;
	agentd_doc         *doc = NULL, *val;
	const agentd_value *root, *op;
	char                sku[SKU_MAX + 1], key[STOCK_KEY_SIZE];
	size_t              keylen, outlen;
	const void         *out;
	int64_t             stock = 0;
	int                 rv, set;

	if (agentd_parse(body, len, &doc) != 0
	    || agentd_get_strcpy(agentd_map_get(agentd_doc_root(doc), "sku"),
	           sku, sizeof(sku))
	        != 0
	    || sku[0] == '\0') {
		agentd_doc_free(doc);
		return inv->host->reply_error(inv->ctx, req, AGENTD_EINVAL,
		    "send {\"sku\": \"A-1\"}, or add \"op\": \"set\" and "
		    "\"stock\"");
	}
	root = agentd_doc_root(doc);
	op   = agentd_map_get(root, "op");
	set  = op_is(op, "set");
	if (!set && op != NULL && !op_is(op, "get")) {
		agentd_doc_free(doc);
		return inv->host->reply_error(inv->ctx, req, AGENTD_EINVAL,
		    "unknown op: use get (the default) or set");
	}
	keylen = (size_t)snprintf(key, sizeof(key), "%s%s", STOCK_KEY, sku);
	if (set) {
		rv = agentd_get_int(agentd_map_get(root, "stock"), &stock);
		agentd_doc_free(doc);
		if (rv != 0 || stock < 0)
			return inv->host->reply_error(inv->ctx, req,
			    AGENTD_EINVAL,
			    "stock must be a whole number, 0 "
			    "or more");
		agentd_writer_reset(inv->out);
		agentd_write_map_begin(inv->out);
		agentd_write_str(inv->out, "stock");
		agentd_write_int(inv->out, stock);
		agentd_write_map_end(inv->out);
		out = agentd_writer_data(inv->out, &outlen);
		rv  = inv->host->state_put(inv->ctx, key, keylen, out, outlen);
		if (rv != 0)
			return inv->host->reply_error(inv->ctx, req, rv,
			    "the stock could not be stored");
	} else {
		agentd_doc_free(doc);
		rv = agentd_state_get_map(inv->host, inv->ctx, key, &val);
		if (rv == 0) {
			agentd_get_int(
			    agentd_map_get(agentd_doc_root(val), "stock"),
			    &stock);
			agentd_doc_free(val);
		} else if (rv != AGENTD_ENOENT) {
			return inv->host->reply_error(
			    inv->ctx, req, rv, "the stock could not be read");
		}
	}
	write_stock(inv, sku, stock);
	out = agentd_writer_data(inv->out, &outlen);
	return inv->host->reply(inv->ctx, req, out, outlen);
}

AGENTD_PLUGIN(.name = "stock", .version = "1.0.0",
    .description = "how many of each SKU are in stock", .init = stock_init,
    .on_request = stock_request, .fini = stock_fini);
