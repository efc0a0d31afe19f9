/*
 * quote - prices an order line.  The skeleton of an agentd plugin: copy
 * this folder, rename things, and keep the shape.
 *
 * Requests are msgpack maps (`agentctl call quote '{...}'` turns JSON into
 * msgpack for you):
 *
 *   {"op": "set_price", "sku": "A-1", "price": 2.5}
 *       Remember the unit price of a SKU, in this agent's state.
 *       Reply {"sku": "A-1", "price": 2.5}.
 *
 *   {"sku": "A-1", "qty": 4}                  ("op": "quote" is the default)
 *       Reply {"sku": "A-1", "qty": 4, "total": 9.0}: price times quantity,
 *       less discount_pct percent when qty is at least discount_min_qty.
 *       A discount is a decision: it goes to the audit trail first, and
 *       no quote leaves if it could not be recorded.
 *
 * Errors are answered with a code and {"error": "one line"}: EINVAL for a
 * malformed request, ENOENT for a SKU without a price.
 *
 * The rules every plugin lives by (sdk/include/agentd/agent.h has them all):
 *   - agentd talks to the plugin only through the descriptor at the bottom
 *     of this file, and the plugin to agentd only through the host table
 *     that init() receives.  Never link against agentd.
 *   - Every callback of one instance runs on one thread.  No locks needed.
 *   - Each pointer crossing the boundary says who owns it: a request body
 *     is "borrowed" (gone once on_request returns), a state value from
 *     host->state_get() is ours to free with host->free().
 *   - Answer every request exactly once, with host->reply() or
 *     host->reply_error().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

/*
 * The settings this plugin takes in its agent's settings { } section.
 * agentd checks the operator's values against this list before starting
 * the plugin: unknown names, wrong types and missing required settings are
 * configuration errors, so init() below gets values already typed.
 */
static const struct agentd_setting quote_settings[] = {
	/* No default: the operator must choose one. */
	{ "discount_pct", AGENTD_SETTING_DOUBLE, NULL,
	    "percent off a line of at least discount_min_qty units, 0 to "
	    "100" },
	{ "discount_min_qty", AGENTD_SETTING_INT, "10",
	    "smallest quantity that gets the discount" },
	{ NULL, 0, NULL, NULL },
};

#define SKU_MAX 64         /* bytes of a SKU */
#define QTY_MAX 1000000    /* units on one line */
#define PRICE_KEY "price:" /* state key of a price: "price:" + SKU */

/* One instance's state: what init() allocates and fini() frees. */
struct quote {
	agentd_ctx               *ctx;  /* borrowed, valid until fini() */
	const struct agentd_host *host; /* the same */
	double                    discount_pct;
	int64_t                   discount_min_qty;
	agentd_writer            *out; /* reused to build every message */
};

/* Money is rounded to whole cents once, here. */
static int64_t
cents(double amount)
{
	return (int64_t)(amount * 100.0 + 0.5);
}

static int
quote_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct quote *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return AGENTD_ENOMEM;
	q->ctx  = ctx;
	q->host = host;
	/* Cannot fail: agentd typed them by the schema above. */
	host->setting_double(ctx, "discount_pct", &q->discount_pct);
	host->setting_int(ctx, "discount_min_qty", &q->discount_min_qty);
	/* Types are checked for us, ranges are ours to check.  Refusing
	 * here stops the instance, and agentd logs why. */
	if (q->discount_pct < 0 || q->discount_pct > 100
	    || q->discount_min_qty < 1) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "discount_pct must be 0 to 100 and discount_min_qty at "
		    "least 1 (got %g and %lld)",
		    q->discount_pct, (long long)q->discount_min_qty);
		free(q);
		return AGENTD_EINVAL;
	}
	if (agentd_writer_new(&q->out) != 0) {
		free(q);
		return AGENTD_ENOMEM;
	}
	*state = q;
	return 0;
}

static void
quote_fini(void *state)
{
	struct quote *q = state;

	agentd_writer_free(q->out);
	free(q);
}

/* Send what q->out holds as the reply. */
static int
reply_out(struct quote *q, agentd_request *req)
{
	size_t      len;
	const void *data = agentd_writer_data(q->out, &len);

	return q->host->reply(q->ctx, req, data, len);
}

/* "price:" + sku into key; its length. */
static size_t
price_key(const char *sku, char *key, size_t size)
{
	return (size_t)snprintf(key, size, "%s%s", PRICE_KEY, sku);
}

/* The "sku" of a request into sku[SKU_MAX + 1]; 0 or AGENTD_EINVAL. */
static int
read_sku(const agentd_value *root, char *sku)
{
	if (agentd_get_strcpy(agentd_map_get(root, "sku"), sku, SKU_MAX + 1)
	        != 0
	    || sku[0] == '\0')
		return AGENTD_EINVAL;
	return 0;
}

static int
set_price(struct quote *q, agentd_request *req, const agentd_value *root)
{
	char        sku[SKU_MAX + 1], key[sizeof(PRICE_KEY) + SKU_MAX];
	double      price;
	const void *val;
	size_t      len;
	int         rv;

	if (read_sku(root, sku) != 0)
		return q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "sku must be a string of 1 to 64 bytes");
	if (agentd_get_double(agentd_map_get(root, "price"), &price) != 0
	    || !(price >= 0 && price < 1e12))
		return q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "price must be a number, 0 or more");

	/* State values are msgpack by convention: here, one double. */
	agentd_writer_reset(q->out);
	agentd_write_double(q->out, price);
	val = agentd_writer_data(q->out, &len);
	rv  = q->host->state_put(
	     q->ctx, key, price_key(sku, key, sizeof(key)), val, len);
	if (rv != 0)
		return q->host->reply_error(
		    q->ctx, req, rv, "the price could not be stored");
	q->host->log(
	    q->ctx, AGENTD_LOG_INFO, "price of %s is now %.2f", sku, price);

	agentd_writer_reset(q->out);
	agentd_write_map(q->out, 2);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, sku);
	agentd_write_str(q->out, "price");
	agentd_write_double(q->out, price);
	return reply_out(q, req);
}

/* The stored price of sku: 0, AGENTD_ENOENT if none, or another error. */
static int
read_price(struct quote *q, const char *sku, double *price)
{
	char        key[sizeof(PRICE_KEY) + SKU_MAX];
	void       *val;
	size_t      len;
	agentd_doc *doc;
	int         rv;

	rv = q->host->state_get(
	    q->ctx, key, price_key(sku, key, sizeof(key)), &val, &len);
	if (rv != 0)
		return rv;
	/* val is ours: free it with host->free(), after the doc that
	 * points into it. */
	rv = agentd_parse(val, len, &doc);
	if (rv == 0) {
		rv = agentd_get_double(agentd_doc_root(doc), price);
		agentd_doc_free(doc);
	}
	q->host->free(val);
	return rv;
}

/*
 * Append a "quote.discount" record to the audit trail: a one-line summary
 * a person reads, and the numbers as a msgpack map for tools.  When
 * audit() returns 0 the record is on disk.  (Kinds starting "decision."
 * are the policy gate's own: a plugin names its records after itself.)
 */
static int
record_discount(struct quote *q, const char *sku, int64_t qty,
    int64_t subtotal, int64_t total)
{
	char        summary[200];
	const void *detail;
	size_t      len;

	snprintf(summary, sizeof(summary),
	    "%s x%lld: %g%% off %.2f = %.2f (at least %lld units)", sku,
	    (long long)qty, q->discount_pct, subtotal / 100.0, total / 100.0,
	    (long long)q->discount_min_qty);
	agentd_writer_reset(q->out);
	agentd_write_map(q->out, 5);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, sku);
	agentd_write_str(q->out, "qty");
	agentd_write_int(q->out, qty);
	agentd_write_str(q->out, "subtotal");
	agentd_write_double(q->out, subtotal / 100.0);
	agentd_write_str(q->out, "discount_pct");
	agentd_write_double(q->out, q->discount_pct);
	agentd_write_str(q->out, "total");
	agentd_write_double(q->out, total / 100.0);
	detail = agentd_writer_data(q->out, &len);
	return q->host->audit(q->ctx, "quote.discount", summary, detail, len);
}

static int
quote_line(struct quote *q, agentd_request *req, const agentd_value *root)
{
	char    sku[SKU_MAX + 1];
	int64_t qty, subtotal, total;
	double  price;
	int     rv;

	if (read_sku(root, sku) != 0)
		return q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "sku must be a string of 1 to 64 bytes");
	if (agentd_get_int(agentd_map_get(root, "qty"), &qty) != 0 || qty < 1
	    || qty > QTY_MAX)
		return q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "qty must be a whole number from 1 to 1000000");
	rv = read_price(q, sku, &price);
	if (rv == AGENTD_ENOENT)
		return q->host->reply_error(q->ctx, req, AGENTD_ENOENT,
		    "no price for this sku: set one with op set_price");
	if (rv != 0)
		return q->host->reply_error(
		    q->ctx, req, rv, "the price could not be read");

	subtotal = cents(price * (double)qty);
	total    = subtotal;
	if (q->discount_pct > 0 && qty >= q->discount_min_qty) {
		total = cents(subtotal / 100.0 * (1 - q->discount_pct / 100));
		/* Record first, act after: an unrecorded discount is never
		 * given. */
		rv = record_discount(q, sku, qty, subtotal, total);
		if (rv != 0)
			return q->host->reply_error(q->ctx, req, rv,
			    "the discount could not be recorded");
	}

	agentd_writer_reset(q->out);
	agentd_write_map(q->out, 3);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, sku);
	agentd_write_str(q->out, "qty");
	agentd_write_int(q->out, qty);
	agentd_write_str(q->out, "total");
	agentd_write_double(q->out, total / 100.0);
	return reply_out(q, req);
}

/* Is v the string s? */
static int
str_is(const agentd_value *v, const char *s)
{
	const char *p;
	size_t      len;

	return agentd_get_str(v, &p, &len) == 0 && len == strlen(s)
	    && memcmp(p, s, len) == 0;
}

static int
quote_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct quote       *q   = state;
	agentd_doc         *doc = NULL;
	const agentd_value *root, *op;
	int                 rv;

	/* The doc points into body, which is borrowed until we return: use
	 * it, and free it, before returning. */
	if (agentd_parse(body, len, &doc) != 0
	    || agentd_type_of(agentd_doc_root(doc)) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		return q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "send a map, such as {\"sku\": \"A-1\", \"qty\": 4}");
	}
	root = agentd_doc_root(doc);
	op   = agentd_map_get(root, "op");
	if (op == NULL || str_is(op, "quote"))
		rv = quote_line(q, req, root);
	else if (str_is(op, "set_price"))
		rv = set_price(q, req, root);
	else
		rv = q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "unknown op: use quote (the default) or set_price");
	agentd_doc_free(doc);
	return rv;
}

/*
 * The descriptor: the one symbol agentd looks for.  AGENTD_PLUGIN fills
 * the magic number, size and ABI version, and exports it even though the
 * Makefile hides every other symbol.
 */
AGENTD_PLUGIN(.name = "quote", .version = "1.0.0",
    .description = "prices an order line, with a volume discount",
    .settings = quote_settings, .init = quote_init,
    .on_request = quote_request, .fini = quote_fini);
