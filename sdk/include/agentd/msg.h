/*
 * agentd/msg.h - build and read msgpack messages without touching msgpack.
 *
 * Bodies, replies and state values crossing the plugin boundary are msgpack
 * bytes.  A writer appends values to a growing buffer; a reader parses a
 * buffer into a tree of values you look up by key or index.  Parsing is
 * strict and bounded: malformed, truncated or absurdly nested input, and
 * containers that declare more elements than the buffer could hold, are
 * refused with AGENTD_EPROTO before anything is allocated for them.
 */
#ifndef AGENTD_MSG_H
#define AGENTD_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>
#include <agentd/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- writing ---------------------------------------------------------- */

/*
 * Out of memory, a writer prints one line on stderr and aborts the
 * process, as agentd's own allocators do: no write ever fails for want of
 * memory, so a message is never sent with a value missing.  What a write
 * can still return is a caller's bug or bad input (see below): check it
 * where the input comes from outside (raw bytes, lengths), or not at all.
 */
typedef struct agentd_writer agentd_writer;

/* *w: caller owns, free with agentd_writer_free().  AGENTD_EINVAL for a
 * NULL w, else 0. */
int  agentd_writer_new(agentd_writer **w);
void agentd_writer_free(agentd_writer *w);
/* Forget what was written, keep the buffer. */
void agentd_writer_reset(agentd_writer *w);

/*
 * Append one value.  A map of n pairs is followed by 2n values (key, value,
 * key, value...); an array of n by n values.  Strings are borrowed for the
 * call.  Each returns 0, AGENTD_EINVAL (NULL argument) or AGENTD_ETOOBIG (a
 * string or bin of 4 GiB or more); the writer then holds what it held
 * before the call.
 *
 * The writer counts the values written into each open map and array.
 * agentd_writer_data() on a writer whose maps or arrays still wait for
 * values (a size counted too big) aborts with a message, unless the SDK
 * was built with NDEBUG; a size counted too small leaves values after the
 * container, which agentd_parse() refuses (AGENTD_EPROTO).
 */
int agentd_write_map(agentd_writer *w, uint32_t npairs);
int agentd_write_array(agentd_writer *w, uint32_t n);

/*
 * A map or array that counts its own entries: begin it, write its values
 * (for a map: key, value, key, value...), end it.  The end writes the
 * count, in the smallest encoding, so no count is written by hand:
 *
 *   agentd_write_map_begin(w);
 *   agentd_write_str(w, "sku");
 *   agentd_write_str(w, sku);
 *   if (qty > 0) {
 *       agentd_write_str(w, "qty");
 *       agentd_write_int(w, qty);
 *   }
 *   agentd_write_map_end(w);   (1 or 2 pairs, as written)
 *
 * They nest, inside each other and inside counted containers (and those
 * inside them).  An end returns AGENTD_EINVAL, changing nothing, when the
 * innermost open container is not one begun as that kind (another kind, a
 * counted one still waiting for values, none), or when a map holds an odd
 * number of values (a key without its value); AGENTD_ETOOBIG past
 * UINT32_MAX entries.  A begin not ended leaves the writer incomplete, as
 * a count too big does: agentd_writer_data() aborts, naming it.
 */
int agentd_write_map_begin(agentd_writer *w);
int agentd_write_map_end(agentd_writer *w);
int agentd_write_array_begin(agentd_writer *w);
int agentd_write_array_end(agentd_writer *w);
int agentd_write_str(agentd_writer *w, const char *s); /* NUL-terminated */
int agentd_write_strn(agentd_writer *w, const char *s, size_t len);
int agentd_write_int(agentd_writer *w, int64_t v);
int agentd_write_uint(agentd_writer *w, uint64_t v);
int agentd_write_double(agentd_writer *w, double v);
int agentd_write_bool(agentd_writer *w, int v);
int agentd_write_nil(agentd_writer *w);
int agentd_write_bin(agentd_writer *w, const void *p, size_t len);
/* Append bytes that already are one encoded msgpack value (checked:
 * AGENTD_EPROTO if they are not exactly one well-formed value). */
int agentd_write_raw(agentd_writer *w, const void *p, size_t len);

/*
 * The bytes written so far: borrowed, valid until the next write, reset or
 * agentd_writer_free().  Every map and array must be complete (above).
 */
const void *agentd_writer_data(const agentd_writer *w, size_t *len);

/* Values the open maps and arrays of w still wait for (a begun one counts
 * 1 until its end); 0 when complete. */
uint64_t agentd_writer_owed(const agentd_writer *w);

/* ---- reading ---------------------------------------------------------- */

enum agentd_type {
	AGENTD_T_NIL = 0,
	AGENTD_T_BOOL,
	AGENTD_T_INT, /* signed or unsigned integer */
	AGENTD_T_DOUBLE,
	AGENTD_T_STR,
	AGENTD_T_BIN,
	AGENTD_T_ARRAY,
	AGENTD_T_MAP,
	AGENTD_T_OTHER, /* ext types */
};

typedef struct agentd_doc   agentd_doc;   /* a parsed buffer */
typedef struct agentd_value agentd_value; /* one value inside a doc */

/* Deepest nesting agentd_parse() accepts. */
#define AGENTD_MSG_MAX_DEPTH 32

/*
 * Parse exactly one msgpack value filling buf[0..len).  On success *doc is
 * caller owns, free with agentd_doc_free().  Strings and bins of the doc
 * point into buf (no copy): buf must stay valid and unchanged until the doc
 * is freed.  AGENTD_EPROTO for malformed, truncated, trailing or too deep
 * input.
 */
int agentd_parse(const void *buf, size_t len, agentd_doc **doc);

/*
 * Parse the first msgpack value of buf[0..len), which may hold several one
 * after another; *used gets its size (parse the rest from buf + *used).
 * Same ownership and errors as agentd_parse().
 */
int agentd_parse_prefix(
    const void *buf, size_t len, agentd_doc **doc, size_t *used);
void agentd_doc_free(agentd_doc *doc);

/*
 * Every agentd_value pointer below is borrowed, valid until the doc it came
 * from is freed.  Functions given a NULL value return AGENTD_T_NIL, 0,
 * NULL or AGENTD_EINVAL, so lookups can be chained without checks.
 */
const agentd_value *agentd_doc_root(const agentd_doc *doc);
enum agentd_type    agentd_type_of(const agentd_value *v);

/* Map lookup by string key; NULL if v is not a map or has no such key.
 * With duplicate keys, the first one wins. */
const agentd_value *agentd_map_get(const agentd_value *v, const char *key);
/* Entries of a map or array; 0 for other types. */
size_t              agentd_len(const agentd_value *v);
const agentd_value *agentd_array_at(const agentd_value *v, size_t i);
const agentd_value *agentd_map_key_at(const agentd_value *v, size_t i);
const agentd_value *agentd_map_value_at(const agentd_value *v, size_t i);

/* Scalars: 0 on success, AGENTD_EINVAL on another type or out of range. */
int agentd_get_int(const agentd_value *v, int64_t *out);
int agentd_get_uint(const agentd_value *v, uint64_t *out);
int agentd_get_double(const agentd_value *v, double *out); /* ints too */
int agentd_get_bool(const agentd_value *v, int *out);
/* *s points into the doc, not NUL-terminated; never NULL on success
 * (an empty string or bin gives "" and 0). */
int agentd_get_str(const agentd_value *v, const char **s, size_t *len);
int agentd_get_bin(const agentd_value *v, const void **p, size_t *len);

/*
 * Copy a string value into buf as a NUL-terminated string.  AGENTD_ETOOBIG
 * if it does not fit (buf then holds a truncated copy); AGENTD_EINVAL if
 * the string contains a NUL byte, so "admin\0x" never reads as "admin".
 */
int agentd_get_strcpy(const agentd_value *v, char *buf, size_t size);

/*
 * Append value v (from any doc) to writer w, re-encoding it unchanged; used
 * to echo or forward parts of a message.
 */
int agentd_write_value(agentd_writer *w, const agentd_value *v);

/* ---- state values ------------------------------------------------------ */

/*
 * host->state_get() of key (NUL-terminated) and agentd_parse() of the
 * value, which must be one msgpack map, in one call:
 *
 *   agentd_doc *doc;
 *   double      price;
 *
 *   if (agentd_state_get_map(host, ctx, "price:A-1", &doc) == 0) {
 *       agentd_get_double(
 *           agentd_map_get(agentd_doc_root(doc), "price"), &price);
 *       agentd_doc_free(doc);
 *   }
 *
 * On success *doc is caller owns, free with agentd_doc_free(), which also
 * frees the value it was parsed from (with host->free()).  Otherwise *doc
 * is NULL and the result is state_get's error (AGENTD_ENOENT: no such
 * key), AGENTD_EPROTO (the value is not msgpack), AGENTD_EINVAL (it is not
 * a map; a NULL argument).
 */
int agentd_state_get_map(const struct agentd_host *host, agentd_ctx *ctx,
    const char *key, agentd_doc **doc);

#ifdef __cplusplus
}
#endif

#endif /* AGENTD_MSG_H */
