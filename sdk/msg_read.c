#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/msg.h>
#include <msgpack.h>

#include "contract.h"
#include "mp_check.h"

/*
 * agentd_value is never defined: a pointer to one is a pointer to a
 * msgpack_object inside the doc's zone.  Keeping the type incomplete means
 * plugins cannot look inside, and no copy or wrapper is needed.
 */
struct agentd_doc {
	msgpack_unpacked up;
	/* agentd_parse_prefix's docs: the zone of up.data, in the doc
	 * (up.zone NULL; ad_parse_next's docs use up.zone). */
	msgpack_zone zone;
	int          own_zone;
	/* The buffer the doc points into, when the doc owns it
	 * (agentd_state_get_map): freed after the doc, with buf_free. */
	void *buf;
	void (*buf_free)(void *);
};

static const msgpack_object *
msg_obj(const agentd_value *v)
{
	return (const msgpack_object *)v;
}

static const agentd_value *
msg_value(const msgpack_object *o)
{
	return (const agentd_value *)o;
}

/*
 * The first chunk of a doc's zone: what the unpacker will take from it
 * (items msgpack_objects, counted by mp_check; bounded by the value's
 * size, as what it takes is), so that it takes one chunk.  A plugin
 * parses each event and answer: a few hundred bytes from malloc's small
 * bins cost less than the 8 KiB msgpack_unpack_next() makes and frees
 * for every value.
 */
static size_t
zone_chunk(uint64_t items)
{
	return (size_t)(items < 4 ? 4 : items) * sizeof(msgpack_object);
}

/*
 * mp_check() runs first so that msgpack-c only ever sees input whose counts
 * fit in the buffer (see mp_check.c).  AGENTD_MSG_MAX_DEPTH must also stay
 * within msgpack-c's own nesting limit (MSGPACK_EMBED_STACK_SIZE, 32), or
 * input we accept would fail in the unpacker; test_msg parses a value
 * nested exactly AGENTD_MSG_MAX_DEPTH deep to hold both to that.
 */
int
agentd_parse_prefix(
    const void *buf, size_t len, agentd_doc **doc, size_t *used)
{
	agentd_doc           *d;
	size_t                off = 0, n;
	uint64_t              items;
	msgpack_unpack_return r;

	if (doc == NULL || used == NULL)
		return AGENTD_EINVAL;
	*doc = NULL;
	if (mp_check_items_prefix(buf, len, AGENTD_MSG_MAX_DEPTH, &n, &items)
	    != 0)
		return AGENTD_EPROTO;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return AGENTD_ENOMEM;
	msgpack_unpacked_init(&d->up);
	if (!msgpack_zone_init(&d->zone, zone_chunk(items))) {
		free(d);
		return AGENTD_ENOMEM;
	}
	d->own_zone = 1;
	/* The C unpacker points str, bin and ext into buf: no copies. */
	r = msgpack_unpack(buf, n, &off, &d->zone, &d->up.data);
	if (r != MSGPACK_UNPACK_SUCCESS || off != n) {
		agentd_doc_free(d);
		return r == MSGPACK_UNPACK_NOMEM_ERROR ? AGENTD_ENOMEM
		                                       : AGENTD_EPROTO;
	}
	*doc  = d;
	*used = n;
	return 0;
}

int
ad_parse_next(const void *buf, size_t len, agentd_doc **doc, size_t *used)
{
	agentd_doc           *d   = *doc;
	size_t                off = 0, n;
	msgpack_unpack_return r;

	if (mp_check_prefix(buf, len, AGENTD_MSG_MAX_DEPTH, &n) != 0)
		return AGENTD_EPROTO;
	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return AGENTD_ENOMEM;
		msgpack_unpacked_init(&d->up);
		*doc = d;
	}
	/* One zone for the whole run: cleared, not freed, between values
	 * (msgpack_unpack_next would make a new one each time). */
	if (d->up.zone == NULL
	    && (d->up.zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE))
	        == NULL)
		return AGENTD_ENOMEM;
	msgpack_zone_clear(d->up.zone);
	r = msgpack_unpack(buf, n, &off, d->up.zone, &d->up.data);
	if (r != MSGPACK_UNPACK_SUCCESS || off != n) {
		d->up.data.type = MSGPACK_OBJECT_NIL;
		return r == MSGPACK_UNPACK_NOMEM_ERROR ? AGENTD_ENOMEM
		                                       : AGENTD_EPROTO;
	}
	*used = n;
	return 0;
}

int
agentd_parse(const void *buf, size_t len, agentd_doc **doc)
{
	size_t used;
	int    rv;

	if ((rv = agentd_parse_prefix(buf, len, doc, &used)) != 0)
		return rv;
	if (used != len) {
		agentd_doc_free(*doc);
		*doc = NULL;
		return AGENTD_EPROTO;
	}
	return 0;
}

void
agentd_doc_free(agentd_doc *doc)
{
	if (doc == NULL)
		return;
	msgpack_unpacked_destroy(&doc->up);
	if (doc->own_zone)
		msgpack_zone_destroy(&doc->zone);
	if (doc->buf_free != NULL)
		doc->buf_free(doc->buf);
	free(doc);
}

int
agentd_state_get_map(const struct agentd_host *host, agentd_ctx *ctx,
    const char *key, agentd_doc **doc)
{
	void  *val;
	size_t len;
	int    rv;

	if (doc != NULL)
		*doc = NULL;
	if (host == NULL || key == NULL || doc == NULL)
		return AGENTD_EINVAL;
	if ((rv = host->state_get(ctx, key, strlen(key), &val, &len)) != 0)
		return rv;
	if ((rv = agentd_parse(val, len, doc)) == 0
	    && agentd_type_of(agentd_doc_root(*doc)) != AGENTD_T_MAP) {
		agentd_doc_free(*doc);
		*doc = NULL;
		rv   = AGENTD_EINVAL;
	}
	if (rv != 0) {
		host->free(val);
		return rv;
	}
	(*doc)->buf      = val;
	(*doc)->buf_free = host->free;
	return 0;
}

const agentd_value *
agentd_doc_root(const agentd_doc *doc)
{
	return doc != NULL ? msg_value(&doc->up.data) : NULL;
}

enum agentd_type
agentd_type_of(const agentd_value *v)
{
	if (v == NULL)
		return AGENTD_T_NIL;
	switch (msg_obj(v)->type) {
	case MSGPACK_OBJECT_NIL:
		return AGENTD_T_NIL;
	case MSGPACK_OBJECT_BOOLEAN:
		return AGENTD_T_BOOL;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return AGENTD_T_INT;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return AGENTD_T_DOUBLE;
	case MSGPACK_OBJECT_STR:
		return AGENTD_T_STR;
	case MSGPACK_OBJECT_BIN:
		return AGENTD_T_BIN;
	case MSGPACK_OBJECT_ARRAY:
		return AGENTD_T_ARRAY;
	case MSGPACK_OBJECT_MAP:
		return AGENTD_T_MAP;
	default:
		return AGENTD_T_OTHER;
	}
}

const agentd_value *
agentd_map_get(const agentd_value *v, const char *key)
{
	const msgpack_object_map *m;
	size_t                    klen;
	uint32_t                  i;

	if (v == NULL || key == NULL || msg_obj(v)->type != MSGPACK_OBJECT_MAP)
		return NULL;
	m    = &msg_obj(v)->via.map;
	klen = strlen(key);
	for (i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen
		    && memcmp(k->via.str.ptr, key, klen) == 0)
			return msg_value(&m->ptr[i].val);
	}
	return NULL;
}

size_t
agentd_len(const agentd_value *v)
{
	switch (agentd_type_of(v)) {
	case AGENTD_T_MAP:
		return msg_obj(v)->via.map.size;
	case AGENTD_T_ARRAY:
		return msg_obj(v)->via.array.size;
	default:
		return 0;
	}
}

const agentd_value *
agentd_array_at(const agentd_value *v, size_t i)
{
	if (agentd_type_of(v) != AGENTD_T_ARRAY
	    || i >= msg_obj(v)->via.array.size)
		return NULL;
	return msg_value(&msg_obj(v)->via.array.ptr[i]);
}

const agentd_value *
agentd_map_key_at(const agentd_value *v, size_t i)
{
	if (agentd_type_of(v) != AGENTD_T_MAP || i >= msg_obj(v)->via.map.size)
		return NULL;
	return msg_value(&msg_obj(v)->via.map.ptr[i].key);
}

const agentd_value *
agentd_map_value_at(const agentd_value *v, size_t i)
{
	if (agentd_type_of(v) != AGENTD_T_MAP || i >= msg_obj(v)->via.map.size)
		return NULL;
	return msg_value(&msg_obj(v)->via.map.ptr[i].val);
}

/*
 * msgpack-c files every non-negative integer, however it was encoded, as
 * POSITIVE_INTEGER in u64, and only negative ones as NEGATIVE_INTEGER.
 */
int
agentd_get_int(const agentd_value *v, int64_t *out)
{
	if (v == NULL || out == NULL)
		return AGENTD_EINVAL;
	switch (msg_obj(v)->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (msg_obj(v)->via.u64 > INT64_MAX)
			return AGENTD_EINVAL;
		*out = (int64_t)msg_obj(v)->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = msg_obj(v)->via.i64;
		return 0;
	default:
		return AGENTD_EINVAL;
	}
}

int
agentd_get_uint(const agentd_value *v, uint64_t *out)
{
	if (v == NULL || out == NULL
	    || msg_obj(v)->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return AGENTD_EINVAL;
	*out = msg_obj(v)->via.u64;
	return 0;
}

int
agentd_get_double(const agentd_value *v, double *out)
{
	if (v == NULL || out == NULL)
		return AGENTD_EINVAL;
	switch (msg_obj(v)->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = msg_obj(v)->via.f64;
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)msg_obj(v)->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)msg_obj(v)->via.i64;
		return 0;
	default:
		return AGENTD_EINVAL;
	}
}

int
agentd_get_bool(const agentd_value *v, int *out)
{
	if (v == NULL || out == NULL
	    || msg_obj(v)->type != MSGPACK_OBJECT_BOOLEAN)
		return AGENTD_EINVAL;
	*out = msg_obj(v)->via.boolean ? 1 : 0;
	return 0;
}

/*
 * msgpack-c leaves the pointer of an empty fixstr NULL; callers may hand it
 * to memcpy() or "%.*s", which want a valid pointer even for 0 bytes.
 */
int
agentd_get_str(const agentd_value *v, const char **s, size_t *len)
{
	if (v == NULL || s == NULL || len == NULL
	    || msg_obj(v)->type != MSGPACK_OBJECT_STR)
		return AGENTD_EINVAL;
	*s   = msg_obj(v)->via.str.size > 0 ? msg_obj(v)->via.str.ptr : "";
	*len = msg_obj(v)->via.str.size;
	return 0;
}

int
agentd_get_bin(const agentd_value *v, const void **p, size_t *len)
{
	if (v == NULL || p == NULL || len == NULL
	    || msg_obj(v)->type != MSGPACK_OBJECT_BIN)
		return AGENTD_EINVAL;
	*p   = msg_obj(v)->via.bin.size > 0 ? msg_obj(v)->via.bin.ptr : "";
	*len = msg_obj(v)->via.bin.size;
	return 0;
}

/*
 * A string holding a NUL byte is refused: as a C string it would read as a
 * shorter, different name ("admin\0x" as "admin"), which is how checks on
 * names get bypassed.
 */
int
agentd_get_strcpy(const agentd_value *v, char *buf, size_t size)
{
	const char *s;
	size_t      len;

	if (buf == NULL || size == 0)
		return AGENTD_EINVAL;
	buf[0] = '\0';
	if (agentd_get_str(v, &s, &len) != 0 || memchr(s, '\0', len) != NULL)
		return AGENTD_EINVAL;
	if (len >= size) {
		memcpy(buf, s, size - 1);
		buf[size - 1] = '\0';
		return AGENTD_ETOOBIG;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}
