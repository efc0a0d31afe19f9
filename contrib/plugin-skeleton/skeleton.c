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
 *   {"op": "reprice", "sku": "A-1"}
 *       Ask the stock agent how many are in stock; when fewer than
 *       low_stock, raise the price by markup_pct percent, store it,
 *       record why in the audit trail, publish quote.price_changed and
 *       reply {"sku", "price", "stock", "changed": true}; otherwise reply
 *       with "changed": false.  The worked example of the plugin guide:
 *       one request served across two callbacks (see reprice_start).
 *
 * Errors are answered with a code and {"error": "one line"}: EINVAL for a
 * malformed request, ENOENT for a SKU without a price; for reprice, the
 * stock agent's error, or the audit trail's.
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
	{ "markup_pct", AGENTD_SETTING_DOUBLE, "10",
	    "percent a reprice adds when stock is low, 0 to 100" },
	{ "low_stock", AGENTD_SETTING_INT, "5",
	    "a reprice raises the price below this many in stock" },
	{ NULL, 0, NULL, NULL },
};

#define SKU_MAX 64         /* bytes of a SKU */
#define QTY_MAX 1000000    /* units on one line */
#define PRICE_KEY "price:" /* state key of a price: "price:" + SKU */
#define PRICE_MAX 1e12     /* the largest price set_price takes */
/* The state key of a price: "price:" + SKU, NUL-terminated. */
#define PRICE_KEY_SIZE (sizeof(PRICE_KEY) + SKU_MAX)

/* One instance's state: what init() allocates and fini() frees. */
struct quote {
	agentd_ctx               *ctx;  /* borrowed, valid until fini() */
	const struct agentd_host *host; /* the same */
	double                    discount_pct;
	int64_t                   discount_min_qty;
	double                    markup_pct;
	int64_t                   low_stock;
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
	host->setting_double(ctx, "markup_pct", &q->markup_pct);
	host->setting_int(ctx, "low_stock", &q->low_stock);
	/* Types are checked for us, ranges are ours to check.  Refusing
	 * here stops the instance, and agentd logs why. */
	if (q->discount_pct < 0 || q->discount_pct > 100
	    || q->discount_min_qty < 1 || q->markup_pct < 0
	    || q->markup_pct > 100) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "discount_pct and markup_pct must be 0 to 100 and "
		    "discount_min_qty at least 1 (got %g, %g and %lld)",
		    q->discount_pct, q->markup_pct,
		    (long long)q->discount_min_qty);
		free(q);
		return AGENTD_EINVAL;
	}
	/* audit_async came with ABI 1.2: an older agentd has none. */
	if (!AGENTD_HOST_HAS(host, audit_async)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "this agentd is too old for quote: it needs plugin ABI "
		    "1.2 (audit_async)");
		free(q);
		return AGENTD_ENOTSUP;
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

/* "price:" + sku into key[PRICE_KEY_SIZE]; its length. */
static size_t
price_key(const char *sku, char *key)
{
	return (size_t)snprintf(key, PRICE_KEY_SIZE, "%s%s", PRICE_KEY, sku);
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

/*
 * Store the price of sku.  State values are msgpack by convention: here
 * a map, {"price": 2.5}, which can take more fields later without a
 * migration.  A map begun and ended counts its own entries.
 */
static int
write_price(struct quote *q, const char *sku, double price)
{
	char        key[PRICE_KEY_SIZE];
	size_t      keylen = price_key(sku, key), len;
	const void *val;

	agentd_writer_reset(q->out);
	agentd_write_map_begin(q->out);
	agentd_write_str(q->out, "price");
	agentd_write_double(q->out, price);
	agentd_write_map_end(q->out);
	val = agentd_writer_data(q->out, &len);
	return q->host->state_put(q->ctx, key, keylen, val, len);
}

/* The stored price of sku: 0, AGENTD_ENOENT if none, or another error. */
static int
read_price(struct quote *q, const char *sku, double *price)
{
	char        key[PRICE_KEY_SIZE];
	agentd_doc *doc;
	int         rv;

	price_key(sku, key);
	/* state_get and parse in one: the doc owns the value, and
	 * agentd_doc_free() frees both. */
	if ((rv = agentd_state_get_map(q->host, q->ctx, key, &doc)) != 0)
		return rv;
	rv = agentd_get_double(
	    agentd_map_get(agentd_doc_root(doc), "price"), price);
	agentd_doc_free(doc);
	return rv;
}

static int
set_price(struct quote *q, agentd_request *req, const agentd_value *root)
{
	char   sku[SKU_MAX + 1];
	double price;
	int    rv;

	if (read_sku(root, sku) != 0)
		return q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "sku must be a string of 1 to 64 bytes");
	if (agentd_get_double(agentd_map_get(root, "price"), &price) != 0
	    || !(price >= 0 && price < PRICE_MAX))
		return q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "price must be a number, 0 or more");
	if ((rv = write_price(q, sku, price)) != 0)
		return q->host->reply_error(
		    q->ctx, req, rv, "the price could not be stored");
	q->host->log(
	    q->ctx, AGENTD_LOG_INFO, "price of %s is now %.2f", sku, price);

	agentd_writer_reset(q->out);
	agentd_write_map_begin(q->out);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, sku);
	agentd_write_str(q->out, "price");
	agentd_write_double(q->out, price);
	agentd_write_map_end(q->out);
	return reply_out(q, req);
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
	agentd_write_map_begin(q->out);
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
	agentd_write_map_end(q->out);
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
	agentd_write_map_begin(q->out);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, sku);
	agentd_write_str(q->out, "qty");
	agentd_write_int(q->out, qty);
	agentd_write_str(q->out, "total");
	agentd_write_double(q->out, total / 100.0);
	agentd_write_map_end(q->out);
	return reply_out(q, req);
}

/* ---- reprice: one request across two callbacks --------------------------
 *
 * reprice_start   call_async(stock, {"sku"})            returns 0
 * stock_known     (stock answered) decide; state_put the new price;
 *                 audit_async(quote.reprice, why)
 * reprice_logged  (the record is on disk) publish quote.price_changed;
 *                 reply
 *
 * The request's context (struct reprice) is malloc'ed in reprice_start
 * and owned by whichever callback is to run next: ownership passes to
 * call_async() or audit_async() only when it returns 0 (the callback will
 * run exactly once); on an error the caller still owns it, answers the
 * request and frees it.  The last callback answers and frees.  The
 * instance's thread runs one callback at a time, so nothing is locked,
 * but other requests run between the callbacks (concurrency = 8): a step
 * reads again what another may have changed meanwhile (the price, in
 * stock_known), and undoes only what is still its own (undo_price).
 */
struct reprice {
	struct quote   *q;
	agentd_request *req; /* answered exactly once, by the last step */
	char            sku[SKU_MAX + 1];
	double          old_price, new_price;
	int64_t         stock;
};

/* Put the old price back, unless another reprice changed it since. */
static void
undo_price(struct reprice *p)
{
	double now;

	if (read_price(p->q, p->sku, &now) == 0 && now == p->new_price)
		write_price(p->q, p->sku, p->old_price);
}

/* Answer p's request with an error and free p: the end of a failed one. */
static void
reprice_fail(struct reprice *p, int err, const char *why)
{
	p->q->host->reply_error(p->q->ctx, p->req, err, why);
	free(p);
}

/* The decision is on disk (status 0), or could not be recorded. */
static void
reprice_logged(void *arg, int status, uint64_t seq)
{
	struct reprice *p = arg;
	struct quote   *q = p->q;
	const void     *body;
	size_t          len;

	if (status != 0) {
		/* Unrecorded, so undone: the old price goes back. */
		undo_price(p);
		reprice_fail(p, status, "the new price could not be recorded");
		return;
	}
	/* Tell subscribers (publish = { "quote" } allows it), then answer.
	 * A failed publish loses only the news: the price stands. */
	agentd_writer_reset(q->out);
	agentd_write_map_begin(q->out);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, p->sku);
	agentd_write_str(q->out, "old");
	agentd_write_double(q->out, p->old_price);
	agentd_write_str(q->out, "new");
	agentd_write_double(q->out, p->new_price);
	agentd_write_str(q->out, "audit_seq");
	agentd_write_uint(q->out, seq);
	agentd_write_map_end(q->out);
	body = agentd_writer_data(q->out, &len);
	if (q->host->publish(q->ctx, "quote.price_changed", body, len) != 0)
		q->host->log(q->ctx, AGENTD_LOG_WARN,
		    "price of %s changed, not published", p->sku);

	agentd_writer_reset(q->out);
	agentd_write_map_begin(q->out);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, p->sku);
	agentd_write_str(q->out, "price");
	agentd_write_double(q->out, p->new_price);
	agentd_write_str(q->out, "stock");
	agentd_write_int(q->out, p->stock);
	agentd_write_str(q->out, "changed");
	agentd_write_bool(q->out, 1);
	agentd_write_map_end(q->out);
	reply_out(q, p->req);
	free(p);
}

/* The stock agent answered: decide, store, record. */
static void
stock_known(void *arg, int status, const void *reply, size_t len)
{
	struct reprice *p = arg;
	struct quote   *q = p->q;
	agentd_doc     *doc;
	char            summary[200];
	const void     *detail;
	size_t          dlen;
	int             rv;

	if (status != 0) {
		reprice_fail(p, status, "the stock agent did not answer");
		return;
	}
	/* reply is borrowed until we return: read what we need now. */
	rv = agentd_parse(reply, len, &doc);
	if (rv == 0) {
		rv = agentd_get_int(
		    agentd_map_get(agentd_doc_root(doc), "stock"), &p->stock);
		agentd_doc_free(doc);
	}
	if (rv != 0) {
		reprice_fail(p, AGENTD_EPROTO,
		    "the stock agent's answer has no \"stock\"");
		return;
	}

	/* The price now, not the one reprice_start saw: another request
	 * may have set it while stock was asked. */
	if ((rv = read_price(q, p->sku, &p->old_price)) != 0) {
		reprice_fail(p, rv, "the price could not be read");
		return;
	}
	if (p->stock >= q->low_stock) {
		agentd_writer_reset(q->out);
		agentd_write_map_begin(q->out);
		agentd_write_str(q->out, "sku");
		agentd_write_str(q->out, p->sku);
		agentd_write_str(q->out, "price");
		agentd_write_double(q->out, p->old_price);
		agentd_write_str(q->out, "stock");
		agentd_write_int(q->out, p->stock);
		agentd_write_str(q->out, "changed");
		agentd_write_bool(q->out, 0);
		agentd_write_map_end(q->out);
		reply_out(q, p->req);
		free(p);
		return;
	}
	p->new_price
	    = (double)cents(p->old_price * (1 + q->markup_pct / 100)) / 100;
	if ((rv = write_price(q, p->sku, p->new_price)) != 0) {
		reprice_fail(p, rv, "the new price could not be stored");
		return;
	}

	snprintf(summary, sizeof(summary),
	    "%s: %.2f -> %.2f, %lld in stock is below %lld (+%g%%)", p->sku,
	    p->old_price, p->new_price, (long long)p->stock,
	    (long long)q->low_stock, q->markup_pct);
	agentd_writer_reset(q->out);
	agentd_write_map_begin(q->out);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, p->sku);
	agentd_write_str(q->out, "old");
	agentd_write_double(q->out, p->old_price);
	agentd_write_str(q->out, "new");
	agentd_write_double(q->out, p->new_price);
	agentd_write_str(q->out, "stock");
	agentd_write_int(q->out, p->stock);
	agentd_write_str(q->out, "reason");
	agentd_write_str(q->out, "low stock");
	agentd_write_map_end(q->out);
	detail = agentd_writer_data(q->out, &dlen);
	/* The record is copied: q->out may be reused at once. */
	rv = q->host->audit_async(
	    q->ctx, "quote.reprice", summary, detail, dlen, reprice_logged, p);
	if (rv != 0) {
		undo_price(p);
		reprice_fail(p, rv, "the new price could not be recorded");
	}
	/* else p is reprice_logged's now */
}

static int
reprice_start(struct quote *q, agentd_request *req, const agentd_value *root)
{
	struct reprice *p;
	const void     *body;
	size_t          len;
	int             rv;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return AGENTD_ENOMEM; /* the host answers ENOMEM */
	p->q   = q;
	p->req = req;
	if (read_sku(root, p->sku) != 0) {
		reprice_fail(
		    p, AGENTD_EINVAL, "sku must be a string of 1 to 64 bytes");
		return 0;
	}
	if ((rv = read_price(q, p->sku, &p->old_price)) != 0) {
		reprice_fail(p, rv,
		    rv == AGENTD_ENOENT
		        ? "no price for this sku: set one with op set_price"
		        : "the price could not be read");
		return 0;
	}

	agentd_writer_reset(q->out);
	agentd_write_map_begin(q->out);
	agentd_write_str(q->out, "sku");
	agentd_write_str(q->out, p->sku);
	agentd_write_map_end(q->out);
	body = agentd_writer_data(q->out, &len);
	/* 0 ms: the default deadline.  calls = { "stock" } allows it. */
	rv = q->host->call_async(
	    q->ctx, "stock", body, len, 0, stock_known, p);
	if (rv != 0)
		reprice_fail(p, rv, "the stock agent cannot be called");
	/* else p is stock_known's now */
	return 0; /* answered, or to be answered by a callback */
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
	else if (str_is(op, "reprice"))
		rv = reprice_start(q, req, root);
	else
		rv = q->host->reply_error(q->ctx, req, AGENTD_EINVAL,
		    "unknown op: use quote (the default), set_price or "
		    "reprice");
	agentd_doc_free(doc);
	return rv;
}

/*
 * The descriptor: the one symbol agentd looks for.  AGENTD_PLUGIN fills
 * the magic number, size and ABI version, and exports it even though the
 * Makefile hides every other symbol.
 */
AGENTD_PLUGIN(.name = "quote", .version = "1.0.0",
    .description = "prices an order line, with a volume discount, and "
                   "reprices by stock",
    .settings = quote_settings, .init = quote_init,
    .on_request = quote_request, .fini = quote_fini);
