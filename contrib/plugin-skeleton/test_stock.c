/*
 * test_stock - unit test of stock.so against the mock host of
 * <agentd/mock.h>.  Prints TAP; exits 1 if a test failed.
 *
 *   ./test_stock [path/to/stock.so]
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

/* Send {"sku": sku} (with "op": "set" and stock when stock >= 0); the
 * status, and the reply's stock in *out. */
static int
ask(agentd_mock *m, const char *sku, int64_t stock, int64_t *out)
{
	agentd_writer *w;
	agentd_doc    *doc;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	if (stock >= 0) {
		agentd_write_str(w, "op");
		agentd_write_str(w, "set");
		agentd_write_str(w, "stock");
		agentd_write_int(w, stock);
	}
	agentd_write_map_end(w);
	body = agentd_writer_data(w, &len);
	*out = -1;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0
	    && status == 0 && agentd_parse(reply, rlen, &doc) == 0) {
		agentd_get_int(
		    agentd_map_get(agentd_doc_root(doc), "stock"), out);
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	return status;
}

static void
test_stock(void *so)
{
	agentd_mock *m;
	int64_t      n;

	agentd_mock_new(NULL, &m);
	if (!agentd_mock_ok(agentd_mock_load(m, so) == 0, "stock.so loads")) {
		printf("# %s\n", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return;
	}
	agentd_mock_ok(ask(m, "A-1", -1, &n) == 0 && n == 0,
	    "a SKU never set has 0 in stock");
	agentd_mock_ok(ask(m, "A-1", 12, &n) == 0 && n == 12, "set 12");
	agentd_mock_ok(
	    ask(m, "A-1", -1, &n) == 0 && n == 12, "... and 12 it has");
	agentd_mock_free(m);
}

int
main(int argc, char **argv)
{
	agentd_mock_run_case(
	    "stock", test_stock, argc > 1 ? argv[1] : "./stock.so");
	return agentd_mock_done();
}
