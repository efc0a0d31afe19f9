#include "config.h"

#include <stdint.h>

#include <agentd/error.h>

#include "mp_check.h"

/*
 * Why this exists: msgpack-c's C unpacker trusts a container's declared
 * count when it reserves zone memory for the elements, before reading any
 * of them.  Five bytes declaring a map of 2^32 entries would make it try to
 * allocate about 200 GB.  We never size a buffer from a length read off the
 * wire, so every message is walked here first: once each length and count
 * is known to fit in the bytes actually present, what msgpack-c allocates
 * is bounded by a small multiple of the message size.
 *
 * This is the only hand-written msgpack parsing in the project.  It checks
 * shape only and decodes no values.
 */

struct mp_cursor {
	const uint8_t *p;
	size_t         left;
	uint64_t       items; /* container elements (a map pair is 2) */
};

static int
mp_skip(struct mp_cursor *c, uint64_t n)
{
	if (n > c->left)
		return AGENTD_EPROTO;
	c->p += n;
	c->left -= (size_t)n;
	return 0;
}

/* A big-endian unsigned of nbytes (1, 2 or 4). */
static int
mp_read_be(struct mp_cursor *c, unsigned nbytes, uint64_t *out)
{
	uint64_t v = 0;
	unsigned i;

	if (nbytes > c->left)
		return AGENTD_EPROTO;
	for (i = 0; i < nbytes; i++)
		v = (v << 8) | c->p[i];
	c->p += nbytes;
	c->left -= nbytes;
	*out = v;
	return 0;
}

/* str, bin and ext: a length of lenbytes, extra header bytes, the body. */
static int
mp_skip_sized(struct mp_cursor *c, unsigned lenbytes, unsigned extra)
{
	uint64_t n;

	if (mp_read_be(c, lenbytes, &n) != 0)
		return AGENTD_EPROTO;
	return mp_skip(c, n + extra);
}

static int mp_check_value(struct mp_cursor *c, unsigned depth);

/* nitems values (2 per map pair), one level below the container. */
static int
mp_check_items(struct mp_cursor *c, uint64_t nitems, unsigned depth)
{
	uint64_t i;

	/*
	 * Every value takes at least one byte, so a count above the bytes
	 * left is refused at once rather than after walking to the end.
	 */
	if (depth == 0 || nitems > c->left)
		return AGENTD_EPROTO;
	c->items += nitems;
	for (i = 0; i < nitems; i++)
		if (mp_check_value(c, depth - 1) != 0)
			return AGENTD_EPROTO;
	return 0;
}

/* A container whose count is a big-endian field of countbytes. */
static int
mp_check_counted(struct mp_cursor *c, unsigned countbytes, unsigned per_item,
    unsigned depth)
{
	uint64_t n;

	if (mp_read_be(c, countbytes, &n) != 0)
		return AGENTD_EPROTO;
	return mp_check_items(c, n * per_item, depth);
}

/* depth: how many more containers may be opened. */
static int
mp_check_value(struct mp_cursor *c, unsigned depth)
{
	uint8_t b;

	if (c->left == 0)
		return AGENTD_EPROTO;
	b = *c->p++;
	c->left--;

	if (b <= 0x7f || b >= 0xe0) /* positive and negative fixint */
		return 0;
	if (b <= 0x8f) /* fixmap */
		return mp_check_items(c, 2 * (uint64_t)(b & 0x0f), depth);
	if (b <= 0x9f) /* fixarray */
		return mp_check_items(c, b & 0x0f, depth);
	if (b <= 0xbf) /* fixstr */
		return mp_skip(c, b & 0x1f);

	switch (b) {
	case 0xc0: /* nil */
	case 0xc2: /* false */
	case 0xc3: /* true */
		return 0;
	case 0xc4: /* bin 8 */
	case 0xd9: /* str 8 */
		return mp_skip_sized(c, 1, 0);
	case 0xc5: /* bin 16 */
	case 0xda: /* str 16 */
		return mp_skip_sized(c, 2, 0);
	case 0xc6: /* bin 32 */
	case 0xdb: /* str 32 */
		return mp_skip_sized(c, 4, 0);
	case 0xc7: /* ext 8, 16, 32: the length, then a type byte */
		return mp_skip_sized(c, 1, 1);
	case 0xc8:
		return mp_skip_sized(c, 2, 1);
	case 0xc9:
		return mp_skip_sized(c, 4, 1);
	case 0xcc: /* uint 8 */
	case 0xd0: /* int 8 */
		return mp_skip(c, 1);
	case 0xcd:
	case 0xd1:
		return mp_skip(c, 2);
	case 0xca: /* float 32 */
	case 0xce:
	case 0xd2:
		return mp_skip(c, 4);
	case 0xcb: /* float 64 */
	case 0xcf:
	case 0xd3:
		return mp_skip(c, 8);
	case 0xd4: /* fixext 1, 2, 4, 8, 16: a type byte, then the data */
		return mp_skip(c, 1 + 1);
	case 0xd5:
		return mp_skip(c, 1 + 2);
	case 0xd6:
		return mp_skip(c, 1 + 4);
	case 0xd7:
		return mp_skip(c, 1 + 8);
	case 0xd8:
		return mp_skip(c, 1 + 16);
	case 0xdc: /* array 16, 32 */
		return mp_check_counted(c, 2, 1, depth);
	case 0xdd:
		return mp_check_counted(c, 4, 1, depth);
	case 0xde: /* map 16, 32 */
		return mp_check_counted(c, 2, 2, depth);
	case 0xdf:
		return mp_check_counted(c, 4, 2, depth);
	default: /* 0xc1 is reserved and never valid */
		return AGENTD_EPROTO;
	}
}

int
mp_check_items_prefix(const void *buf, size_t len, unsigned max_depth,
    size_t *used, uint64_t *items)
{
	struct mp_cursor c = { buf, len, 0 };

	if (buf == NULL || mp_check_value(&c, max_depth) != 0)
		return AGENTD_EPROTO;
	*used = len - c.left;
	if (items != NULL)
		*items = c.items;
	return 0;
}

int
mp_check_prefix(const void *buf, size_t len, unsigned max_depth, size_t *used)
{
	return mp_check_items_prefix(buf, len, max_depth, used, NULL);
}

int
mp_check(const void *buf, size_t len, unsigned max_depth)
{
	size_t used;

	if (mp_check_prefix(buf, len, max_depth, &used) != 0)
		return AGENTD_EPROTO;
	return used == len ? 0 : AGENTD_EPROTO;
}
