/*
 * test_skeleton - unit test of skeleton.so, without a running agentd.
 *
 * The mock host table of <agentd/mock.h> loads the plugin as agentd's
 * worker would (same descriptor and settings checks), then plays agentd:
 * requests go in, replies, state, audit records and log lines can be read
 * back.  Prints TAP; exits 1 if a test failed.  Each group of tests runs
 * in a child process (agentd_mock_run_case()): if the plugin crashes, that
 * group fails with the signal named and the others still run.
 *
 *   ./test_skeleton [path/to/skeleton.so]
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

/* One TAP line (agentd_mock_ok); returns cond so a failure can say more. */
#define check(cond, name) agentd_mock_ok((cond), "%s", (name))

/* ---- building requests and reading replies ----------------------------- */

static agentd_writer *req;   /* the request being built */
static agentd_doc    *reply; /* the last reply, parsed */

/* {"sku": sku, "qty": qty} */
static void
quote_req(const char *sku, int64_t qty)
{
	agentd_writer_reset(req);
	agentd_write_map(req, 2);
	agentd_write_str(req, "sku");
	agentd_write_str(req, sku);
	agentd_write_str(req, "qty");
	agentd_write_int(req, qty);
}

/* {"op": "set_price", "sku": sku, "price": price} */
static void
price_req(const char *sku, double price)
{
	agentd_writer_reset(req);
	agentd_write_map(req, 3);
	agentd_write_str(req, "op");
	agentd_write_str(req, "set_price");
	agentd_write_str(req, "sku");
	agentd_write_str(req, sku);
	agentd_write_str(req, "price");
	agentd_write_double(req, price);
}

/* Send the request built; the answer's status (reply parsed in reply). */
static int
send_req(agentd_mock *m)
{
	const void *body, *r  = NULL;
	size_t      len, rlen = 0;
	int         status = -1, rv;

	body = agentd_writer_data(req, &len);
	rv   = agentd_mock_request(m, body, len, &r, &rlen, &status);
	if (rv != 0) {
		printf("# request: %s\n", agentd_mock_errmsg(m));
		return -1;
	}
	agentd_doc_free(reply);
	reply = NULL;
	agentd_parse(r, rlen, &reply);
	return status;
}

static double
reply_double(const char *key)
{
	double d = -1;

	agentd_get_double(agentd_map_get(agentd_doc_root(reply), key), &d);
	return d;
}

/* A mock with the given discount settings (NULL: leave it out). */
static int
start(agentd_mock **m, const char *so, const char *pct, const char *min_qty)
{
	agentd_mock_new(NULL, m);
	if (pct != NULL)
		agentd_mock_setting(*m, "discount_pct", pct);
	if (min_qty != NULL)
		agentd_mock_setting(*m, "discount_min_qty", min_qty);
	return agentd_mock_load(*m, so);
}

/* ---- the tests --------------------------------------------------------- */

static void
test_settings(void *so)
{
	agentd_mock *m;

	check(start(&m, so, NULL, NULL) == AGENTD_EINVAL,
	    "discount_pct is required");
	agentd_mock_free(m);
	check(start(&m, so, "ten", NULL) == AGENTD_EINVAL,
	    "discount_pct must be a number");
	agentd_mock_free(m);
	check(start(&m, so, "150", NULL) == AGENTD_EPLUGIN
	        && strstr(agentd_mock_last_log(m, NULL), "0 to 100") != NULL,
	    "init refuses a discount over 100%, and logs why");
	agentd_mock_free(m);
}

static void
test_quotes(void *so)
{
	const struct agentd_host *host;
	agentd_ctx               *ctx;
	agentd_mock              *m;
	const char               *kind, *summary;
	void                     *val;
	size_t                    len;

	if (!check(start(&m, so, "10", "3") == 0, "skeleton.so loads")) {
		printf("# %s\n", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return;
	}

	quote_req("A-1", 4);
	check(send_req(m) == AGENTD_ENOENT, "a SKU without a price: ENOENT");

	price_req("A-1", 2.5);
	check(send_req(m) == 0 && reply_double("price") == 2.5,
	    "set_price is answered with the price");
	host = agentd_mock_host(m, &ctx);
	check(host->state_get(ctx, "price:A-1", 9, &val, &len) == 0,
	    "the price is in the agent's state");
	host->free(val);

	quote_req("A-1", 2);
	check(send_req(m) == 0 && reply_double("total") == 5.0,
	    "2 units below discount_min_qty: full price");
	check(agentd_mock_audit_count(m) == 0, "... and no decision recorded");

	quote_req("A-1", 4);
	check(send_req(m) == 0 && reply_double("total") == 9.0,
	    "4 units: 10% off 10.00 is 9.00");
	check(agentd_mock_audit_count(m) == 1
	        && agentd_mock_audit(m, 0, &kind, &summary, NULL, NULL) == 0
	        && strcmp(kind, "quote.discount") == 0
	        && strstr(summary, "A-1") != NULL,
	    "... and the discount is recorded as a decision");

	quote_req("A-1", 0);
	check(send_req(m) == AGENTD_EINVAL, "qty 0: EINVAL");
	agentd_writer_reset(req);
	agentd_write_str(req, "not a map");
	check(
	    send_req(m) == AGENTD_EINVAL, "a body that is not a map: EINVAL");
	check(agentd_mock_pending(m) == 0, "every request was answered");
	agentd_mock_free(m);
}

/* ---- reprice: quote calls stock ------------------------------------ */

/* {"op": "reprice", "sku": sku} */
static void
reprice_req(const char *sku)
{
	agentd_writer_reset(req);
	agentd_write_map_begin(req);
	agentd_write_str(req, "op");
	agentd_write_str(req, "reprice");
	agentd_write_str(req, "sku");
	agentd_write_str(req, sku);
	agentd_write_map_end(req);
}

/* Plays the stock agent: *arg units of whatever SKU is asked. */
static int
play_stock(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	agentd_write_map_begin(reply);
	agentd_write_str(reply, "stock");
	agentd_write_int(reply, *(int64_t *)arg);
	return agentd_write_map_end(reply);
}

/* The price state holds for sku, or -1. */
static double
stored_price(agentd_mock *m, const char *key)
{
	const struct agentd_host *host;
	agentd_ctx               *ctx;
	agentd_doc               *doc;
	double                    price = -1;

	host = agentd_mock_host(m, &ctx);
	if (agentd_state_get_map(host, ctx, key, &doc) == 0) {
		agentd_get_double(
		    agentd_map_get(agentd_doc_root(doc), "price"), &price);
		agentd_doc_free(doc);
	}
	return price;
}

static void
test_reprice(void *so)
{
	agentd_mock *m;
	agentd_doc  *ev    = NULL;
	int64_t      stock = 2;
	const char  *kind, *topic;
	const void  *body;
	size_t       len;
	double       d = -1;

	if (!check(start(&m, so, "10", "3") == 0, "skeleton.so loads")) {
		printf("# %s\n", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return;
	}
	price_req("A-1", 2.5);
	send_req(m);
	agentd_mock_on_call(m, "stock", play_stock, &stock);

	reprice_req("A-1");
	check(send_req(m) == 0 && reply_double("price") == 2.75
	        && reply_double("stock") == 2,
	    "2 in stock, below low_stock 5: 2.50 becomes 2.75 (+10%)");
	check(stored_price(m, "price:A-1") == 2.75,
	    "... the new price is stored");
	check(agentd_mock_audit_count(m) == 1
	        && agentd_mock_audit(m, 0, &kind, NULL, NULL, NULL) == 0
	        && strcmp(kind, "quote.reprice") == 0,
	    "... recorded as quote.reprice");
	check(agentd_mock_published_count(m) == 1
	        && agentd_mock_published(m, 0, &topic, &body, &len) == 0
	        && strcmp(topic, "quote.price_changed") == 0
	        && agentd_parse(body, len, &ev) == 0
	        && agentd_get_double(
	               agentd_map_get(agentd_doc_root(ev), "old"), &d)
	            == 0
	        && d == 2.5,
	    "... and published on quote.price_changed, old price and new");
	agentd_doc_free(ev);

	stock = 9;
	reprice_req("A-1");
	check(send_req(m) == 0 && reply_double("price") == 2.75
	        && agentd_mock_audit_count(m) == 1,
	    "9 in stock: the price stays, nothing recorded");

	agentd_mock_on_call(m, "stock", NULL, NULL);
	reprice_req("A-1");
	check(send_req(m) == AGENTD_ENOENT
	        && stored_price(m, "price:A-1") == 2.75,
	    "no stock agent: its ENOENT, the price untouched");
	reprice_req("B-2");
	check(send_req(m) == AGENTD_ENOENT, "a SKU without a price: ENOENT");
	check(agentd_mock_pending(m) == 0, "every request was answered");
	agentd_mock_free(m);
}

int
main(int argc, char **argv)
{
	char *so = argc > 1 ? argv[1] : "./skeleton.so";
	int   rv;

	agentd_writer_new(&req);
	agentd_mock_run_case("settings", test_settings, so);
	agentd_mock_run_case("quotes", test_quotes, so);
	agentd_mock_run_case("reprice", test_reprice, so);
	rv = agentd_mock_done();
	agentd_doc_free(reply);
	agentd_writer_free(req);
	return rv;
}
