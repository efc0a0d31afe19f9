#include "config.h"

#include <float.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <agentd/msg.h>

#include "../../sdk/mp_check.h"
#include "tap.h"

/* Parse a byte literal; the result code, doc freed. */
static int
parse_bytes(const void *p, size_t len)
{
	agentd_doc *doc = NULL;
	int         rc  = agentd_parse(p, len, &doc);

	agentd_doc_free(doc);
	return rc;
}

static void
test_errors(void)
{
	is_str(agentd_strerror(AGENTD_ETIMEOUT), "deadline passed",
	    "strerror of ETIMEOUT");
	is_str(agentd_errname(AGENTD_ETIMEOUT), "ETIMEOUT",
	    "errname of ETIMEOUT");
	is_str(agentd_errname(AGENTD_EUNAVAIL), "EUNAVAIL",
	    "errname of the last code");
	is_str(agentd_errname(0), "OK", "errname of success");
	ok(agentd_strerror(999) != NULL && agentd_strerror(-1) != NULL,
	    "strerror of unknown codes is not NULL");
	is_str(agentd_errname(999), "EUNKNOWN", "errname of an unknown code");
}

/*
 * One map holding every type, written with the writer and read back with
 * the accessors.
 */
static void
test_round_trip(void)
{
	static const unsigned char bin[] = { 0x00, 0xff, 0x10 };
	agentd_writer             *w;
	agentd_doc                *doc;
	const agentd_value        *root, *v, *arr;
	const void                *data, *p;
	const char                *s;
	size_t                     len, dlen;
	int64_t                    i;
	uint64_t                   u;
	double                     d;
	int                        b;

	ok(agentd_writer_new(&w) == 0, "writer_new");
	agentd_write_map(w, 12);
	agentd_write_str(w, "nil");
	agentd_write_nil(w);
	agentd_write_str(w, "t");
	agentd_write_bool(w, 7);
	agentd_write_str(w, "f");
	agentd_write_bool(w, 0);
	agentd_write_str(w, "neg");
	agentd_write_int(w, INT64_MIN);
	agentd_write_str(w, "pos");
	agentd_write_int(w, 42);
	agentd_write_str(w, "umax");
	agentd_write_uint(w, UINT64_MAX);
	agentd_write_str(w, "dbl");
	agentd_write_double(w, -2.5e-300);
	agentd_write_str(w, "str");
	agentd_write_strn(w, "h\0llo", 5);
	agentd_write_str(w, "empty");
	agentd_write_str(w, "");
	agentd_write_str(w, "bin");
	agentd_write_bin(w, bin, sizeof(bin));
	agentd_write_str(w, "arr");
	agentd_write_array(w, 2);
	agentd_write_int(w, -1);
	agentd_write_array(w, 0);
	agentd_write_str(w, "map");
	agentd_write_map(w, 1);
	agentd_write_str(w, "inner");
	agentd_write_map(w, 1);
	agentd_write_str(w, "deep");
	ok(agentd_write_str(w, "yes") == 0, "writes succeed");

	data = agentd_writer_data(w, &dlen);
	is_int(agentd_parse(data, dlen, &doc), 0, "parse what was written");
	root = agentd_doc_root(doc);
	is_int(agentd_type_of(root), AGENTD_T_MAP, "root is a map");
	is_int(agentd_len(root), 12, "root has 12 pairs");

	v = agentd_map_get(root, "nil");
	ok(v != NULL && agentd_type_of(v) == AGENTD_T_NIL, "nil");
	ok(agentd_get_bool(agentd_map_get(root, "t"), &b) == 0 && b == 1,
	    "true (any nonzero writes true)");
	ok(agentd_get_bool(agentd_map_get(root, "f"), &b) == 0 && b == 0,
	    "false");
	ok(agentd_get_int(agentd_map_get(root, "neg"), &i) == 0
	        && i == INT64_MIN,
	    "INT64_MIN");
	ok(agentd_get_int(agentd_map_get(root, "pos"), &i) == 0 && i == 42,
	    "positive int through get_int");
	ok(agentd_get_uint(agentd_map_get(root, "pos"), &u) == 0 && u == 42,
	    "positive int through get_uint");
	ok(agentd_get_uint(agentd_map_get(root, "umax"), &u) == 0
	        && u == UINT64_MAX,
	    "UINT64_MAX");
	v = agentd_map_get(root, "dbl");
	is_int(agentd_type_of(v), AGENTD_T_DOUBLE, "double type");
	ok(agentd_get_double(v, &d) == 0 && d == -2.5e-300, "double value");
	ok(agentd_get_double(agentd_map_get(root, "neg"), &d) == 0
	        && d == (double)INT64_MIN,
	    "get_double accepts a negative int");
	ok(agentd_get_double(agentd_map_get(root, "umax"), &d) == 0
	        && d == (double)UINT64_MAX,
	    "get_double accepts a big unsigned int");
	ok(agentd_get_str(agentd_map_get(root, "str"), &s, &len) == 0
	        && len == 5 && memcmp(s, "h\0llo", 5) == 0,
	    "string with a NUL byte keeps its length");
	ok(s >= (const char *)data && s + 5 <= (const char *)data + dlen,
	    "string points into the parsed buffer");
	ok(agentd_get_str(agentd_map_get(root, "empty"), &s, &len) == 0
	        && len == 0 && s != NULL,
	    "empty string, with a usable pointer");
	v = agentd_map_get(root, "bin");
	is_int(agentd_type_of(v), AGENTD_T_BIN, "bin type");
	ok(agentd_get_bin(v, &p, &len) == 0 && len == sizeof(bin)
	        && memcmp(p, bin, len) == 0,
	    "bin bytes");
	arr = agentd_map_get(root, "arr");
	is_int(agentd_len(arr), 2, "array length");
	ok(agentd_get_int(agentd_array_at(arr, 0), &i) == 0 && i == -1,
	    "array element 0");
	ok(agentd_type_of(agentd_array_at(arr, 1)) == AGENTD_T_ARRAY
	        && agentd_len(agentd_array_at(arr, 1)) == 0,
	    "empty nested array");
	ok(agentd_array_at(arr, 2) == NULL, "array index past the end");
	v = agentd_map_get(
	    agentd_map_get(agentd_map_get(root, "map"), "inner"), "deep");
	ok(agentd_get_str(v, &s, &len) == 0 && len == 3
	        && memcmp(s, "yes", 3) == 0,
	    "nested map lookup");
	ok(agentd_get_str(agentd_map_key_at(root, 11), &s, &len) == 0
	        && len == 3 && memcmp(s, "map", 3) == 0,
	    "map_key_at");
	is_int(agentd_type_of(agentd_map_value_at(root, 0)), AGENTD_T_NIL,
	    "map_value_at");
	ok(agentd_map_key_at(root, 12) == NULL
	        && agentd_map_value_at(root, 12) == NULL,
	    "map index past the end");

	agentd_doc_free(doc);
	agentd_writer_free(w);
}

static void
test_lookups_and_types(void)
{
	agentd_writer      *w;
	agentd_doc         *doc;
	const agentd_value *root, *n;
	const void         *data, *p;
	const char         *s;
	char                buf[8];
	size_t              len;
	int64_t             i;
	uint64_t            u;
	double              d;
	int                 b;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "name");
	agentd_write_str(w, "hello");
	agentd_write_str(w, "neg");
	agentd_write_int(w, -3);
	agentd_write_str(w, "big");
	agentd_write_uint(w, (uint64_t)INT64_MAX + 1);
	agentd_write_int(w, 5); /* an integer key */
	agentd_write_str(w, "five");
	agentd_write_str(w, "nul");
	agentd_write_strn(w, "ad\0x", 4);
	data = agentd_writer_data(w, &len);
	agentd_parse(data, len, &doc);
	root = agentd_doc_root(doc);

	ok(agentd_map_get(root, "name") != NULL, "map_get hit");
	ok(agentd_map_get(root, "nam") == NULL, "map_get miss on a prefix");
	ok(agentd_map_get(root, "names") == NULL,
	    "map_get miss on a longer key");
	ok(agentd_map_get(root, "5") == NULL,
	    "an integer key is not a string");
	ok(agentd_map_get(agentd_map_get(root, "name"), "x") == NULL,
	    "map_get on a string");
	n = agentd_map_get(agentd_map_get(root, "missing"), "x");
	ok(n == NULL, "chained lookup through a miss");
	is_int(agentd_type_of(n), AGENTD_T_NIL, "type_of NULL is nil");
	is_int(agentd_len(n), 0, "len of NULL");
	ok(agentd_array_at(n, 0) == NULL, "array_at NULL");
	is_int(agentd_get_int(n, &i), AGENTD_EINVAL, "get_int NULL");
	is_int(agentd_get_str(n, &s, &len), AGENTD_EINVAL, "get_str NULL");
	is_int(agentd_len(agentd_map_get(root, "name")), 0, "len of a string");

	is_int(agentd_get_int(agentd_map_get(root, "name"), &i), AGENTD_EINVAL,
	    "get_int on a string");
	is_int(agentd_get_str(agentd_map_get(root, "neg"), &s, &len),
	    AGENTD_EINVAL, "get_str on an int");
	is_int(agentd_get_bin(agentd_map_get(root, "name"), &p, &len),
	    AGENTD_EINVAL, "get_bin on a string");
	is_int(agentd_get_bool(agentd_map_get(root, "neg"), &b), AGENTD_EINVAL,
	    "get_bool on an int");
	is_int(agentd_get_double(agentd_map_get(root, "name"), &d),
	    AGENTD_EINVAL, "get_double on a string");
	is_int(agentd_get_uint(agentd_map_get(root, "neg"), &u), AGENTD_EINVAL,
	    "get_uint refuses a negative");
	is_int(agentd_get_int(agentd_map_get(root, "big"), &i), AGENTD_EINVAL,
	    "get_int refuses INT64_MAX + 1");
	ok(agentd_get_uint(agentd_map_get(root, "big"), &u) == 0
	        && u == (uint64_t)INT64_MAX + 1,
	    "get_uint takes INT64_MAX + 1");

	is_int(agentd_get_strcpy(agentd_map_get(root, "name"), buf, 6), 0,
	    "strcpy that fits exactly");
	is_str(buf, "hello", "strcpy copy");
	is_int(agentd_get_strcpy(agentd_map_get(root, "name"), buf, 4),
	    AGENTD_ETOOBIG, "strcpy that does not fit");
	is_str(buf, "hel", "strcpy truncates and terminates");
	is_int(
	    agentd_get_strcpy(agentd_map_get(root, "neg"), buf, sizeof(buf)),
	    AGENTD_EINVAL, "strcpy of an int");
	is_int(
	    agentd_get_strcpy(agentd_map_get(root, "nul"), buf, sizeof(buf)),
	    AGENTD_EINVAL, "strcpy refuses a string holding NUL");

	agentd_doc_free(doc);
	agentd_writer_free(w);
}

/* write_value re-encodes a sub-tree to the same bytes as writing it. */
static void
test_write_value(void)
{
	agentd_writer      *w, *direct, *copy;
	agentd_doc         *doc;
	const void         *data;
	const void         *a, *b;
	size_t              len, alen, blen;
	const agentd_value *inner;

	agentd_writer_new(&w);
	agentd_writer_new(&direct);
	agentd_writer_new(&copy);
	agentd_write_map(w, 1);
	agentd_write_str(w, "body");
	agentd_write_array(direct, 5);
	agentd_write_str(direct, "x");
	agentd_write_int(direct, -70000);
	agentd_write_double(direct, 0.125);
	agentd_write_bin(direct, "\x01\x02", 2);
	agentd_write_map(direct, 1);
	agentd_write_uint(direct, 300);
	agentd_write_bool(direct, 1);
	a = agentd_writer_data(direct, &alen);
	is_int(agentd_write_raw(w, a, alen), 0, "write_raw of a whole value");

	data = agentd_writer_data(w, &len);
	is_int(agentd_parse(data, len, &doc), 0, "parse the outer map");
	inner = agentd_map_get(agentd_doc_root(doc), "body");
	is_int(agentd_write_value(copy, inner), 0, "write_value");
	b = agentd_writer_data(copy, &blen);
	ok(alen == blen && memcmp(a, b, alen) == 0,
	    "write_value gives the same bytes");
	is_int(agentd_write_value(copy, NULL), AGENTD_EINVAL,
	    "write_value of NULL");

	is_int(agentd_write_raw(copy, "\x92\x01", 2), AGENTD_EPROTO,
	    "write_raw refuses a truncated value");
	is_int(agentd_write_raw(copy, "\x01\x02", 2), AGENTD_EPROTO,
	    "write_raw refuses two values");
	agentd_writer_data(copy, &len);
	is_int(len, blen, "refused raw bytes were not appended");

	agentd_writer_reset(copy);
	agentd_writer_data(copy, &len);
	is_int(len, 0, "reset empties the writer");
	agentd_write_nil(copy);
	b = agentd_writer_data(copy, &len);
	ok(len == 1 && *(const unsigned char *)b == 0xc0,
	    "writer usable after reset");

	agentd_doc_free(doc);
	agentd_writer_free(w);
	agentd_writer_free(direct);
	agentd_writer_free(copy);
}

static void
test_float32(void)
{
	/* float 32 of 1.5, from another encoder. */
	static const unsigned char f32[] = { 0xca, 0x3f, 0xc0, 0x00, 0x00 };
	agentd_doc                *doc;
	double                     d;

	is_int(agentd_parse(f32, sizeof(f32), &doc), 0, "parse float 32");
	ok(agentd_get_double(agentd_doc_root(doc), &d) == 0 && d == 1.5,
	    "float 32 read as a double");
	agentd_doc_free(doc);
}

/*
 * Malformed input, each checked twice: through agentd_parse(), and through
 * mp_check() alone, because msgpack-c catches some of these by itself and
 * would hide a hole in the walker that exists to protect it.  The byte
 * tables are laid out by hand.
 */
/* clang-format off */
static const struct {
	const char *name;
	const char *bytes;
	size_t      len;
} malformed[] = {
#define BAD(name, lit) { name, lit, sizeof(lit) - 1 }
	BAD("empty buffer", ""),
	BAD("truncated fixstr", "\xa5hel"),
	BAD("truncated str 8", "\xd9\x10short"),
	BAD("truncated str 8 inside an array", "\x92\xd9\x03" "ab"),
	BAD("array missing its last element", "\x93\x01\x02"),
	BAD("truncated map (value missing)", "\x82\xa1" "a\x01\xa1" "b"),
	BAD("map 16 with no entries present", "\xde\x00\x01"),
	BAD("map 32 header cut short", "\xdf\x00\x00"),
	BAD("str 32 header cut short", "\xdb\x00"),
	BAD("truncated uint 16", "\xcd\x01"),
	BAD("truncated float 64", "\xcb\x00\x00\x00"),
	BAD("truncated fixext 4", "\xd6\x01\x00"),
	BAD("ext 8 missing its type byte", "\xc7\x00"),
	BAD("trailing bytes", "\xc0\xc0"),
	BAD("trailing bytes after an array", "\x91\x01\x02"),
	BAD("map 32 declaring 0xFFFFFFFF pairs in 5 bytes",
	    "\xdf\xff\xff\xff\xff"),
	BAD("array 32 declaring 2^31 elements",
	    "\xdd\x80\x00\x00\x00\xc0\xc0"),
	BAD("map 16 declaring more pairs than bytes",
	    "\xde\x00\x03\x01\x02\x03\x04"),
	BAD("str 32 declaring 4 GiB", "\xdb\xff\xff\xff\xff" "abc"),
	BAD("bin 32 declaring 4 GiB", "\xc6\xff\xff\xff\xff" "abc"),
	BAD("ext 32 declaring 4 GiB", "\xc9\xff\xff\xff\xff\x01" "abc"),
	BAD("reserved byte 0xc1", "\xc1"),
	BAD("reserved byte 0xc1 inside an array", "\x92\x01\xc1"),
#undef BAD
};
/* clang-format on */

#define NMALFORMED (sizeof(malformed) / sizeof(malformed[0]))

/* One well-formed value of every format, from the msgpack spec. */
/* clang-format off */
static const struct {
	const char *name;
	const char *bytes;
	size_t      len;
} wellformed[] = {
#define GOOD(name, lit) { name, lit, sizeof(lit) - 1 }
	GOOD("positive fixint", "\x7f"),
	GOOD("negative fixint", "\xe0"),
	GOOD("nil, false, true", "\x93\xc0\xc2\xc3"),
	GOOD("fixstr", "\xa3" "abc"),
	GOOD("str 8", "\xd9\x02" "ab"),
	GOOD("str 16", "\xda\x00\x02" "ab"),
	GOOD("str 32", "\xdb\x00\x00\x00\x02" "ab"),
	GOOD("bin 8", "\xc4\x02\x00\x01"),
	GOOD("bin 16", "\xc5\x00\x02\x00\x01"),
	GOOD("bin 32", "\xc6\x00\x00\x00\x02\x00\x01"),
	GOOD("uint 8, 16, 32, 64",
	    "\x94\xcc\x01\xcd\x00\x01\xce\x00\x00\x00\x01"
	    "\xcf\x00\x00\x00\x00\x00\x00\x00\x01"),
	GOOD("int 8, 16, 32, 64",
	    "\x94\xd0\xff\xd1\xff\xff\xd2\xff\xff\xff\xff"
	    "\xd3\xff\xff\xff\xff\xff\xff\xff\xff"),
	GOOD("float 32 and 64",
	    "\x92\xca\x3f\xc0\x00\x00"
	    "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"),
	GOOD("fixext 1, 2, 4, 8, 16",
	    "\x95\xd4\x01\x00\xd5\x01\x00\x00\xd6\x01\x00\x00\x00\x00"
	    "\xd7\x01\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\xd8\x01\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x00\x00\x00\x00"),
	GOOD("ext 8, 16, 32",
	    "\x93\xc7\x01\x05\x00\xc8\x00\x01\x05\x00"
	    "\xc9\x00\x00\x00\x01\x05\x00"),
	GOOD("fixarray and fixmap", "\x92\x90\x81\x01\x02"),
	GOOD("array 16", "\xdc\x00\x02\x01\x02"),
	GOOD("array 32", "\xdd\x00\x00\x00\x02\x01\x02"),
	GOOD("map 16", "\xde\x00\x01\xd9\x02" "hi" "\xc3"),
	GOOD("map 32", "\xdf\x00\x00\x00\x02\x01\x02\x03\x04"),
#undef GOOD
};
/* clang-format on */

#define NWELLFORMED (sizeof(wellformed) / sizeof(wellformed[0]))

static void
test_wellformed(void)
{
	size_t i;

	for (i = 0; i < NWELLFORMED; i++)
		is_int(parse_bytes(wellformed[i].bytes, wellformed[i].len), 0,
		    wellformed[i].name);
}

/* depth x 0x91 (an array of one), then nil; caller frees. */
static unsigned char *
nested(size_t depth)
{
	unsigned char *buf = malloc(depth + 1);

	memset(buf, 0x91, depth);
	buf[depth] = 0xc0;
	return buf;
}

static void
test_refusals(void)
{
	agentd_doc    *doc = (agentd_doc *)&doc;
	unsigned char *deep;
	char           name[128];
	size_t         i;

	/* Heap copies of the exact length, so valgrind sees any overread. */
	for (i = 0; i < NMALFORMED; i++) {
		size_t         len = malformed[i].len;
		unsigned char *buf = malloc(len > 0 ? len : 1);

		memcpy(buf, malformed[i].bytes, len);
		is_int(
		    parse_bytes(buf, len), AGENTD_EPROTO, malformed[i].name);
		snprintf(name, sizeof(name), "mp_check alone: %s",
		    malformed[i].name);
		is_int(mp_check(buf, len, AGENTD_MSG_MAX_DEPTH), AGENTD_EPROTO,
		    name);
		free(buf);
	}

	is_int(agentd_parse("\xc1", 1, &doc), AGENTD_EPROTO, "refused again");
	ok(doc == NULL, "doc is NULL after a refusal");
	is_int(parse_bytes(NULL, 0), AGENTD_EPROTO, "NULL buffer");

	deep = nested(AGENTD_MSG_MAX_DEPTH + 1);
	is_int(parse_bytes(deep + 1, AGENTD_MSG_MAX_DEPTH + 1), 0,
	    "nesting of exactly AGENTD_MSG_MAX_DEPTH is accepted");
	is_int(parse_bytes(deep, AGENTD_MSG_MAX_DEPTH + 2), AGENTD_EPROTO,
	    "nesting deeper than AGENTD_MSG_MAX_DEPTH");
	is_int(mp_check(deep, AGENTD_MSG_MAX_DEPTH + 2, AGENTD_MSG_MAX_DEPTH),
	    AGENTD_EPROTO, "mp_check alone: nesting too deep");
	free(deep);
	deep = nested(100000);
	is_int(parse_bytes(deep, 100001), AGENTD_EPROTO,
	    "nesting 100000 deep is refused without overflowing the stack");
	free(deep);
}

/* Run fn in a child; did it die of SIGABRT? */
static int
aborts(void (*fn)(void))
{
	pid_t pid;
	int   st;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		/* The writer's message would land in the test's log. */
		freopen("/dev/null", "w", stderr);
		fn();
		_exit(0);
	}
	return waitpid(pid, &st, 0) == pid && WIFSIGNALED(st)
	    && WTERMSIG(st) == SIGABRT;
}

/* A map of 3 pairs given only 2: read back before it is complete. */
static void
map_short_by_one(void)
{
	agentd_writer *w;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "a");
	agentd_write_int(w, 1);
	agentd_write_str(w, "b");
	agentd_write_int(w, 2);
	agentd_writer_data(w, &len);
	agentd_writer_free(w);
}

static void
test_counts(void)
{
	agentd_writer *w;
	agentd_doc    *doc;
	const void    *data;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	is_int(
	    (int)agentd_writer_owed(w), 4, "a map of 2 pairs owes 4 values");
	agentd_write_str(w, "list");
	agentd_write_array(w, 2);
	is_int((int)agentd_writer_owed(w), 4,
	    "an array of 2 inside: 2 for it, 2 for the map");
	agentd_write_int(w, 1);
	agentd_write_map(w, 0);
	is_int((int)agentd_writer_owed(w), 2,
	    "the array is complete; the map owes its last pair");
	agentd_write_str(w, "x");
	is_int((int)agentd_writer_owed(w), 1, "a key owes its value");
	agentd_write_nil(w);
	is_int((int)agentd_writer_owed(w), 0, "complete");
	agentd_write_map(w, 1);
	agentd_writer_reset(w);
	is_int((int)agentd_writer_owed(w), 0, "reset forgets open maps");

	/* One pair too many: the extra pair follows the map, and a reader
	 * refuses the trailing bytes. */
	agentd_write_map(w, 1);
	agentd_write_str(w, "a");
	agentd_write_int(w, 1);
	agentd_write_str(w, "b");
	agentd_write_int(w, 2);
	is_int((int)agentd_writer_owed(w), 0, "over-count: nothing owed");
	data = agentd_writer_data(w, &len);
	is_int(agentd_parse(data, len, &doc), AGENTD_EPROTO,
	    "over-count: the reader refuses the extra pair");
	agentd_writer_free(w);

#ifndef NDEBUG
	ok(aborts(map_short_by_one),
	    "under-count: agentd_writer_data() aborts on an open map");
#else
	printf("ok %d # SKIP built with NDEBUG: agentd_writer_data() does not "
	       "check\n",
	    ++tap_run_);
#endif
}

/* ---- maps and arrays that count themselves ----------------------------- */

/* A begun map left open: read back before its end. */
static void
map_not_ended(void)
{
	agentd_writer *w;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "a");
	agentd_write_int(w, 1);
	agentd_writer_data(w, &len);
	agentd_writer_free(w);
}

/* The bytes of w equal want[0..n). */
static int
bytes_are(agentd_writer *w, const char *want, size_t n)
{
	size_t      len;
	const void *data = agentd_writer_data(w, &len);

	return len == n && memcmp(data, want, n) == 0;
}

/* A begun map of n pairs {i: i} parses back with n entries, and its
 * header is the smallest: h bytes. */
static int
begun_map_of(size_t n, size_t h)
{
	agentd_writer *w;
	agentd_doc    *doc = NULL;
	const void    *data;
	size_t         len, i;
	int64_t        v = -1;
	int            good;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	for (i = 0; i < n; i++) {
		agentd_write_int(w, (int64_t)i);
		agentd_write_int(w, (int64_t)i);
	}
	agentd_write_map_end(w);
	data = agentd_writer_data(w, &len);
	/* positive fixints 0..127 take one byte, 128..255 two, more three */
	good = agentd_parse(data, len, &doc) == 0
	    && agentd_len(agentd_doc_root(doc)) == n;
	if (good && n > 0)
		good
		    = agentd_get_int(
		          agentd_map_value_at(agentd_doc_root(doc), n - 1), &v)
		        == 0
		    && v == (int64_t)(n - 1);
	{
		size_t body = 0;

		for (i = 0; i < n; i++)
			body += 2 * (i < 128 ? 1 : i < 256 ? 2 : 3);
		good = good && len == h + body;
	}
	agentd_doc_free(doc);
	agentd_writer_free(w);
	return good;
}

static void
test_begin_end(void)
{
	agentd_writer *w;
	agentd_doc    *doc;
	const void    *data;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "a");
	agentd_write_int(w, 1);
	is_int((int)agentd_writer_owed(w), 1, "a begun map owes 1: its end");
	is_int(agentd_write_map_end(w), 0, "map_end");
	ok(bytes_are(w,
	       "\x81\xa1"
	       "a\x01",
	       4),
	    "{\"a\": 1} begun and ended is a fixmap of one pair, as "
	    "agentd_write_map(w, 1) writes it");
	agentd_writer_reset(w);

	agentd_write_map_begin(w);
	agentd_write_map_end(w);
	ok(bytes_are(w, "\x80", 1), "an empty begun map is {} (0x80)");
	agentd_writer_reset(w);

	ok(begun_map_of(15, 1) && begun_map_of(16, 3) && begun_map_of(65535, 3)
	        && begun_map_of(65536, 5),
	    "15 pairs: fixmap; 16 and 65535: map16; 65536: map32; all read "
	    "back");

	/* Nesting: begun in counted, counted in begun, begun in begun. */
	agentd_write_map(w, 2);
	agentd_write_str(w, "list");
	agentd_write_array_begin(w);
	agentd_write_int(w, 1);
	agentd_write_map_begin(w);
	agentd_write_str(w, "k");
	agentd_write_array(w, 2);
	agentd_write_nil(w);
	agentd_write_bool(w, 1);
	is_int(agentd_write_map_end(w), 0, "a begun map inside a begun array");
	is_int(agentd_write_array_end(w), 0, "the array ends");
	is_int((int)agentd_writer_owed(w), 2,
	    "the counted map owes its last pair");
	agentd_write_str(w, "n");
	agentd_write_int(w, 7);
	is_int((int)agentd_writer_owed(w), 0, "complete");
	ok(bytes_are(
	       w, "\x82\xa4list\x92\x01\x81\xa1k\x92\xc0\xc3\xa1n\x07", 17),
	    "{\"list\": [1, {\"k\": [nil, true]}], \"n\": 7}, every "
	    "header the smallest");
	data = agentd_writer_data(w, &len);
	is_int(agentd_parse(data, len, &doc), 0, "... and it parses");
	agentd_doc_free(doc);
	agentd_writer_reset(w);

	/* Mistakes: refused, and nothing changes. */
	is_int(
	    agentd_write_map_end(w), AGENTD_EINVAL, "an end without a begin");
	agentd_write_map_begin(w);
	agentd_write_str(w, "key without value");
	len = agentd_writer_owed(w);
	is_int(agentd_write_map_end(w), AGENTD_EINVAL,
	    "a map with a key and no value: EINVAL");
	is_int(agentd_write_array_end(w), AGENTD_EINVAL,
	    "a map ended as an array: EINVAL");
	is_int((int)agentd_writer_owed(w), (int)len, "... the map stays open");
	agentd_write_int(w, 1);
	agentd_write_str(w, "list");
	agentd_write_array(w, 2);
	agentd_write_int(w, 1);
	is_int(agentd_write_map_end(w), AGENTD_EINVAL,
	    "an end while a counted array inside still waits: EINVAL");
	agentd_write_int(w, 2);
	is_int(
	    agentd_write_map_end(w), 0, "once it is complete, the end works");
	agentd_writer_free(w);
	is_int(agentd_write_map_begin(NULL), AGENTD_EINVAL, "NULL writer");

#ifndef NDEBUG
	ok(aborts(map_not_ended),
	    "a begun map not ended: agentd_writer_data() aborts");
#else
	printf("ok %d # SKIP built with NDEBUG: agentd_writer_data() does not "
	       "check\n",
	    ++tap_run_);
#endif
}

/* ---- agentd_state_get_map ----------------------------------------------- */

/* A host of one state value, counting what it handed out and got back. */
static const void *fake_val;
static size_t      fake_len;
static int         fake_out, fake_freed;

static int
fake_get(agentd_ctx *ctx, const char *key, size_t keylen, void **val,
    size_t *vallen)
{
	if (keylen != 3 || memcmp(key, "key", 3) != 0 || fake_val == NULL)
		return AGENTD_ENOENT;
	*val = malloc(fake_len);
	memcpy(*val, fake_val, fake_len);
	*vallen = fake_len;
	fake_out++;
	return 0;
}

static void
fake_free(void *p)
{
	fake_freed++;
	free(p);
}

static void
test_state_get_map(void)
{
	struct agentd_host host;
	agentd_doc        *doc   = (agentd_doc *)&host;
	double             price = 0;

	memset(&host, 0, sizeof(host));
	host.size      = sizeof(host);
	host.state_get = fake_get;
	host.free      = fake_free;

	fake_val = "\x81\xa5price\xcb\x40\x10\xae\x14\x7a\xe1\x47\xae";
	fake_len = 16; /* {"price": 4.17} */
	is_int(agentd_state_get_map(&host, NULL, "key", &doc), 0,
	    "a map value is read in one call");
	ok(agentd_get_double(
	       agentd_map_get(agentd_doc_root(doc), "price"), &price)
	            == 0
	        && price == 4.17,
	    "... its entries are there");
	is_int(fake_freed, 0, "... the value is kept while the doc lives");
	agentd_doc_free(doc);
	is_int(fake_freed, 1, "agentd_doc_free() frees it with host->free()");

	doc = (agentd_doc *)&host;
	is_int(agentd_state_get_map(&host, NULL, "nokey", &doc), AGENTD_ENOENT,
	    "a missing key: state_get's ENOENT");
	ok(doc == NULL, "... and *doc is NULL");
	fake_val = "\x93\x01\x02\x03"; /* [1, 2, 3] */
	fake_len = 4;
	is_int(agentd_state_get_map(&host, NULL, "key", &doc), AGENTD_EINVAL,
	    "a value that is not a map: EINVAL");
	fake_val = "\xc1"; /* never used in msgpack */
	fake_len = 1;
	is_int(agentd_state_get_map(&host, NULL, "key", &doc), AGENTD_EPROTO,
	    "a value that is not msgpack: EPROTO");
	ok(doc == NULL && fake_out == 3 && fake_freed == 3,
	    "every value handed out was freed, on errors too");
	is_int(agentd_state_get_map(NULL, NULL, "key", &doc), AGENTD_EINVAL,
	    "NULL host: EINVAL");
}

int
main(void)
{
	plan(184);
	test_errors();
	test_round_trip();
	test_lookups_and_types();
	test_write_value();
	test_float32();
	test_wellformed();
	test_refusals();
	test_counts();
	test_begin_end();
	test_state_get_map();
	return done_testing();
}
