#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/msg.h>

#include <float.h>
#include <math.h>

#include "common/json_mp.h"
#include "common/json_out.h"
#include "common/util.h"
#include "tap.h"

/*
 * JSON text -> msgpack -> JSON text, compact with sorted keys so the result
 * can be compared as a string.  Caller owns the result, free with free().
 */
static char *
round_trip(const char *text)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;
	json_t        *j   = NULL;
	char          *out = NULL;
	char           err[AD_ERRLEN];

	agentd_writer_new(&w);
	if (ad_json_text_to_mp(text, w, err, sizeof(err)) == 0) {
		data = agentd_writer_data(w, &len);
		if (ad_mp_to_json(data, len, &j) == 0)
			out = ad_json_dumps(j,
			    JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	} else {
		diag("%s", err);
	}
	json_decref(j);
	agentd_writer_free(w);
	return out;
}

static void
is_round_trip(const char *text, const char *name)
{
	char *out = round_trip(text);

	is_str(out, text, name);
	free(out);
}

/* msgpack bytes -> compact JSON text; caller frees. */
static char *
mp_to_text(agentd_writer *w)
{
	const void *data;
	size_t      len;
	json_t     *j;
	char       *out;

	data = agentd_writer_data(w, &len);
	if (ad_mp_to_json(data, len, &j) != 0)
		return NULL;
	out = ad_json_dumps(
	    j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return out;
}

static void
is_mp_text(agentd_writer *w, const char *want, const char *name)
{
	char *out = mp_to_text(w);

	is_str(out, want, name);
	free(out);
	agentd_writer_reset(w);
}

static void
test_round_trips(void)
{
	is_round_trip("{\"hello\":\"world\"}", "object round trip");
	is_round_trip("[1,\"two\",[3,[]],{}]", "nested arrays round trip");
	is_round_trip("{\"a\":{\"b\":{\"c\":[true,false,null]}},\"z\":0}",
	    "nested objects round trip");
	is_round_trip("[0,-1,9223372036854775807,-9223372036854775808]",
	    "integers round trip");
	is_round_trip("[1.5,-0.25,2.0,1024.5,1e-300]", "reals round trip");
	is_round_trip("[true,false,null]", "true, false, null round trip");
	is_round_trip("\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"",
	    "unicode round trip");
	is_round_trip("\"x\"", "a bare string is a valid body");
	is_round_trip("42", "a bare number is a valid body");
	is_round_trip("\"\"", "empty string");
}

/* What the msgpack side sees, not only that it comes back. */
static void
test_encoding(void)
{
	agentd_writer      *w;
	agentd_doc         *doc;
	const agentd_value *root;
	const void         *data;
	const char         *s;
	size_t              len;
	int64_t             i;
	double              d;
	char                err[AD_ERRLEN];

	agentd_writer_new(&w);
	is_int(ad_json_text_to_mp("{\"n\":7,\"r\":7.0,\"u\":\"\\u00e9\\ud83d"
	                          "\\ude00\"}",
	           w, err, sizeof(err)),
	    0, "encode an object");
	data = agentd_writer_data(w, &len);
	is_int(agentd_parse(data, len, &doc), 0, "the msgpack parses");
	root = agentd_doc_root(doc);
	ok(agentd_type_of(agentd_map_get(root, "n")) == AGENTD_T_INT
	        && agentd_get_int(agentd_map_get(root, "n"), &i) == 0
	        && i == 7,
	    "JSON integer becomes a msgpack int");
	ok(agentd_type_of(agentd_map_get(root, "r")) == AGENTD_T_DOUBLE
	        && agentd_get_double(agentd_map_get(root, "r"), &d) == 0
	        && d == 7.0,
	    "JSON real becomes a msgpack double");
	ok(agentd_get_str(agentd_map_get(root, "u"), &s, &len) == 0 && len == 6
	        && memcmp(s, "\xc3\xa9\xf0\x9f\x98\x80", 6) == 0,
	    "\\u escapes become UTF-8 bytes");
	agentd_doc_free(doc);
	agentd_writer_free(w);
}

static void
test_syntax_errors(void)
{
	agentd_writer *w;
	char           err[AD_ERRLEN] = "";
	size_t         len;

	agentd_writer_new(&w);
	is_int(ad_json_text_to_mp("{\"a\": }", w, err, sizeof(err)),
	    AGENTD_EINVAL, "syntax error is EINVAL");
	like(err, "line 1", "error names the line");
	like(err, "column", "error names the column");
	is_int(
	    ad_json_text_to_mp("{\n\"a\": 1,\n\"b\" 2}", w, err, sizeof(err)),
	    AGENTD_EINVAL, "syntax error on line 3");
	like(err, "line 3", "error names line 3");
	is_int(ad_json_text_to_mp("", w, err, sizeof(err)), AGENTD_EINVAL,
	    "empty text");
	is_int(ad_json_text_to_mp("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]"
	                          "]]]]]]]]]]]]]]]]]]]]]]]]",
	           w, err, sizeof(err)),
	    AGENTD_EINVAL, "33 nested arrays are refused");
	like(err, "nested", "error says why");
	agentd_writer_reset(w);
	is_int(ad_json_text_to_mp("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]"
	                          "]]]]]]]]]]]]]]]]]]]]]]",
	           w, err, sizeof(err)),
	    0, "32 nested arrays are accepted");
	agentd_writer_data(w, &len);
	is_int(len, 33, "and encoded");
	agentd_writer_free(w);
}

/* Values JSON has no direct form for. */
static void
test_decoding(void)
{
	agentd_writer *w;
	json_t        *j;

	agentd_writer_new(&w);
	agentd_write_bin(w, "\xff\x00\x01", 3);
	is_mp_text(
	    w, "{\"$base64\":\"/wAB\"}", "non-UTF-8 bin becomes $base64");
	agentd_write_bin(w, "\xfb\xff", 2);
	is_mp_text(w, "{\"$base64\":\"+/8=\"}", "base64 padding");
	agentd_write_bin(w, "abc", 3);
	is_mp_text(w, "\"abc\"", "UTF-8 bin becomes a string");
	agentd_write_strn(w, "\xc3(", 2);
	is_mp_text(
	    w, "{\"$base64\":\"wyg=\"}", "invalid UTF-8 str becomes $base64");
	agentd_write_uint(w, UINT64_MAX);
	is_mp_text(
	    w, "1.8446744073709552e19", "uint beyond INT64_MAX is real");
	agentd_write_uint(w, INT64_MAX);
	is_mp_text(w, "9223372036854775807", "INT64_MAX stays an integer");
	agentd_write_map(w, 4);
	agentd_write_int(w, 1);
	agentd_write_str(w, "one");
	agentd_write_bool(w, 1);
	agentd_write_str(w, "yes");
	agentd_write_nil(w);
	agentd_write_str(w, "nil");
	agentd_write_array(w, 1);
	agentd_write_int(w, 2);
	agentd_write_str(w, "arr");
	is_mp_text(w,
	    "{\"1\":\"one\",\"[2]\":\"arr\",\"null\":\"nil\","
	    "\"true\":\"yes\"}",
	    "non-string keys become their JSON text");
	agentd_write_raw(w, "\xd4\x01\x05", 3);
	is_mp_text(w, "null", "ext becomes null");
	agentd_write_double(w, 0.0 / 0.0);
	is_mp_text(w, "null", "NaN becomes null");

	/*
	 * Bytes at the deepest level msgpack may nest are shown, one level
	 * deeper in their {"$base64"} object; that JSON cannot go back.
	 */
	{
		char        err[128], *text;
		int         i;
		const void *data;
		size_t      len;

		for (i = 0; i < AGENTD_MSG_MAX_DEPTH; i++)
			agentd_write_array(w, 1);
		agentd_write_bin(w, "\xff", 1);
		data = agentd_writer_data(w, &len);
		j    = NULL;
		is_int(ad_mp_to_json(data, len, &j), 0,
		    "bytes 32 arrays deep are shown");
		text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
		agentd_writer_reset(w);
		is_int(ad_json_text_to_mp(text, w, err, sizeof(err)),
		    AGENTD_EINVAL, "their JSON, 33 deep, is refused as input");
		like(err, "nested deeper than 32", "saying why");
		free(text);
		json_decref(j);
		agentd_writer_reset(w);
	}

	j = (json_t *)1;
	is_int(ad_mp_to_json("\xdf\xff\xff\xff\xff", 5, &j), AGENTD_EPROTO,
	    "malformed msgpack is refused");
	agentd_writer_free(w);
}

/*
 * A map key that is a map whose key is a map...: each level's JSON text
 * escapes the one inside, doubling it, so 64 bytes of msgpack once asked
 * for gigabytes.  Key texts are bounded (AD_JSON_KEY_MAX).
 */
static void
test_nested_keys(void)
{
	agentd_writer *w;
	json_t        *j = NULL;
	const void    *data;
	size_t         len;
	int            i, depth;

	for (depth = 3; depth <= 20; depth += 17) {
		agentd_writer_new(&w);
		for (i = 0; i < depth; i++)
			agentd_write_map(w, 1);
		agentd_write_str(w, "a");
		for (i = 0; i < depth; i++)
			agentd_write_int(w, 1);
		data = agentd_writer_data(w, &len);
		if (depth == 3) {
			is_int(ad_mp_to_json(data, len, &j), 0,
			    "a map key that is a map of maps becomes JSON "
			    "text");
			json_decref(j);
		} else {
			is_int(ad_mp_to_json(data, len, &j), AGENTD_ETOOBIG,
			    "a key whose text grows with each level is "
			    "refused");
		}
		agentd_writer_free(w);
	}
}

/* ---- reals as the shortest text that reads back ------------------------ */

static void
is_real_text(double d, const char *want, const char *name)
{
	char buf[AD_REAL_TEXT_MAX];

	ad_real_text(d, buf);
	is_str(buf, want, name);
}

/*
 * Would fewer significant digits than the text of d has still read back
 * to d (then the text was not the shortest)?  Its significant digits are
 * those of its mantissa without leading and trailing zeros: "100.0" has
 * one, "0.0025" two.
 */
static int
shorter_reads_back(double d, const char *text)
{
	char   digits[64], sci[64];
	size_t i, n = 0, first = 0;

	for (i = 0; text[i] != '\0' && text[i] != 'e'; i++)
		if (text[i] >= '0' && text[i] <= '9')
			digits[n++] = text[i];
	while (n > 0 && digits[n - 1] == '0')
		n--;
	while (first < n && digits[first] == '0')
		first++;
	if (n - first <= 1)
		return 0;
	snprintf(sci, sizeof(sci), "%.*e", (int)(n - first) - 2, d);
	return strtod(sci, NULL) == d;
}

static void
test_reals(void)
{
	char     buf[AD_REAL_TEXT_MAX], *out;
	json_t  *j;
	uint64_t x   = 0x9e3779b97f4a7c15u;
	int      bad = 0, notshort = 0, reported = 0, i;

	is_real_text(4.17, "4.17", "4.17 prints as 4.17");
	is_real_text(0.1, "0.1", "0.1 prints as 0.1");
	is_real_text(0.1 + 0.2, "0.30000000000000004",
	    "0.1 + 0.2 prints the 17 digits it needs");
	is_real_text(1e-300, "1e-300", "1e-300 prints as 1e-300");
	is_real_text(9007199254740993.0, "9007199254740992.0",
	    "2^53 + 1 as a double is 2^53, and prints as such");
	is_real_text(1.0 / 3, "0.3333333333333333", "1/3: 16 digits");
	is_real_text(100.0, "100.0", "100.0 stays positional, a real");
	is_real_text(-0.0, "-0.0", "-0.0 keeps its sign");
	is_real_text(0.0001, "0.0001", "1e-4 is positional");
	is_real_text(0.00001, "1e-5", "1e-5 has an exponent");
	is_real_text(
	    1e15 + 0.5, "1000000000000000.5", "below 1e16: positional");
	is_real_text(1e16, "1e16", "1e16 has an exponent");
	is_real_text(DBL_MAX, "1.7976931348623157e308", "the largest double");
	is_real_text(5e-324, "5e-324", "the smallest denormal");

	/* Random finite doubles: each reads back, none has a shorter text. */
	for (i = 0; i < 200000; i++) {
		double d;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (!isfinite(d))
			continue;
		ad_real_text(d, buf);
		if (strtod(buf, NULL) != d
		    || (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL))
			bad++;
		else if (shorter_reads_back(d, buf))
			notshort++;
		if (bad + notshort == 1 && !reported) {
			diag("%.17g printed as %s", d, buf);
			reported = 1;
		}
	}
	ok(bad == 0,
	    "200000 random doubles read back from their text, "
	    "each a real");
	ok(notshort == 0, "... and none has a shorter text that reads back");

	/* A document: every real shortest whatever its neighbours need;
	 * integers and strings untouched. */
	j   = json_pack("{s:f, s:f, s:I, s:s, s:[f, f, f]}", "price", 4.17,
	      "third", 1.0 / 3, "big", (json_int_t)9007199254740993LL, "text",
	      "4.1699999999999999", "list", 0.1, 1e-300, 2.5);
	out = ad_json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	is_str(out,
	    "{\"big\":9007199254740993,\"list\":[0.1,1e-300,2.5],"
	    "\"price\":4.17,\"text\":\"4.1699999999999999\","
	    "\"third\":0.3333333333333333}",
	    "a document: each real shortest beside one that needs 16 digits, "
	    "the integer 2^53 + 1 exact, a string untouched");
	free(out);
	out = ad_json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	ok(out != NULL && strstr(out, "\"price\": 4.17,\n") != NULL
	        && strstr(out, "\n  \"list\": [\n    0.1,\n    1e-300,")
	            != NULL,
	    "indented as jansson indents, the reals shortest");
	free(out);
	json_decref(j);

	is_round_trip("[4.17,0.1,1e-300,0.3333333333333333,9007199254740993]",
	    "JSON -> msgpack -> JSON keeps 4.17, 0.1, 1e-300, 1/3, 2^53 + 1");
}

int
main(void)
{
	plan(59);
	test_round_trips();
	test_encoding();
	test_syntax_errors();
	test_decoding();
	test_nested_keys();
	test_reals();
	return done_testing();
}
