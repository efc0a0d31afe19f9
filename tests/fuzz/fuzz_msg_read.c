/*
 * fuzz_msg_read - libFuzzer harness for the SDK's msgpack reader
 * (sdk/msg_read.c), which parses every message a plugin is handed.
 *
 * What must hold for any bytes: agentd_parse() answers 0 or AGENTD_EPROTO
 * and never reads outside the input; every accessor works on every value
 * of a parsed doc; and re-encoding a doc with agentd_write_value() gives
 * bytes that parse again and re-encode to themselves (a fixed point: the
 * writer may pick shorter encodings than the input, but only once).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>
#include <agentd/msg.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every accessor on v and, through them, on everything below it. */
static void
walk(const agentd_value *v)
{
	const char *s;
	const void *p;
	size_t      i, n, len;
	int64_t     si;
	uint64_t    u;
	double      d;
	int         b;
	char        small[8];

	(void)agentd_get_int(v, &si);
	(void)agentd_get_uint(v, &u);
	(void)agentd_get_double(v, &d);
	(void)agentd_get_bool(v, &b);
	if (agentd_get_str(v, &s, &len) == 0 && s == NULL)
		abort();
	if (agentd_get_bin(v, &p, &len) == 0 && p == NULL)
		abort();
	(void)agentd_get_strcpy(v, small, sizeof(small));
	n = agentd_len(v);
	switch (agentd_type_of(v)) {
	case AGENTD_T_ARRAY:
		for (i = 0; i < n; i++)
			walk(agentd_array_at(v, i));
		if (agentd_array_at(v, n) != NULL)
			abort();
		break;
	case AGENTD_T_MAP:
		for (i = 0; i < n; i++) {
			walk(agentd_map_key_at(v, i));
			walk(agentd_map_value_at(v, i));
		}
		(void)agentd_map_get(v, "b");
		if (agentd_map_key_at(v, n) != NULL)
			abort();
		break;
	default:
		if (n != 0)
			abort();
	}
}

/* The doc re-encoded; caller owns, free with agentd_writer_free(). */
static agentd_writer *
encode(const agentd_doc *doc)
{
	agentd_writer *w;

	if (agentd_writer_new(&w) != 0
	    || agentd_write_value(w, agentd_doc_root(doc)) != 0
	    || agentd_writer_owed(w) != 0)
		abort();
	return w;
}

static void
check_fixed_point(const agentd_doc *doc)
{
	agentd_writer *w1, *w2;
	agentd_doc    *again;
	const void    *p1, *p2;
	size_t         n1, n2;

	w1 = encode(doc);
	p1 = agentd_writer_data(w1, &n1);
	if (agentd_parse(p1, n1, &again) != 0)
		abort();
	w2 = encode(again);
	p2 = agentd_writer_data(w2, &n2);
	if (n1 != n2 || memcmp(p1, p2, n1) != 0)
		abort();
	agentd_doc_free(again);
	agentd_writer_free(w2);
	agentd_writer_free(w1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	agentd_doc *doc;
	size_t      used;
	int         rv;

	rv = agentd_parse(data, size, &doc);
	if (rv == 0) {
		walk(agentd_doc_root(doc));
		check_fixed_point(doc);
		agentd_doc_free(doc);
	} else if (rv != AGENTD_EPROTO) {
		abort();
	}
	/* The first value of a sequence, as batches are read. */
	used = 0;
	if (agentd_parse_prefix(data, size, &doc, &used) == 0) {
		if (used == 0 || used > size)
			abort();
		agentd_doc_free(doc);
	}
	return 0;
}
