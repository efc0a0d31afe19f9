#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/msg.h>
#include <msgpack.h>

#include "contract.h"
#include "mp_check.h"

/*
 * open[0..depth) are the maps and arrays not complete yet, innermost last.
 * A counted one (agentd_write_map(w, n)) owes the values still to come: a
 * map of n pairs owes 2n, an array of n owes n; it closes by itself once
 * it owes none.  A begun one (agentd_write_map_begin()) counts the values
 * written into it and closes at its end, which writes that count into the
 * header it reserved at start.  Open containers never read as complete,
 * so a hand-counted size that is too big, or a begin without its end, is
 * caught by agentd_writer_data(); a size too small leaves values after the
 * container, which agentd_parse() refuses as trailing bytes.
 */
enum wr_kind { WR_COUNTED, WR_MAP, WR_ARRAY };

struct wr_open {
	enum wr_kind kind;
	uint64_t     owed;  /* WR_COUNTED: values still to come */
	uint64_t     count; /* begun: values written into it */
	size_t       start; /* begun: offset of its reserved header */
};

/* A begun container reserves the largest header, 1 + 4 bytes. */
#define WR_HEADER_MAX 5

struct agentd_writer {
	msgpack_sbuffer sbuf;
	msgpack_packer  pk;
	struct wr_open *open;
	size_t          depth;
	size_t          cap;
};

/* Out of memory aborts: the policy of msg.h, and agentd's. */
#define must ad_alloc_check

/* One value, or a container opened, in the innermost open container. */
static void
count_in_parent(agentd_writer *w)
{
	struct wr_open *o;

	if (w->depth == 0)
		return;
	o = &w->open[w->depth - 1];
	if (o->kind == WR_COUNTED)
		o->owed--;
	else
		o->count++;
}

/* Counted containers that owe nothing are complete (a whole value each of
 * its parent, counted when it was opened). */
static void
close_complete(agentd_writer *w)
{
	while (w->depth > 0 && w->open[w->depth - 1].kind == WR_COUNTED
	    && w->open[w->depth - 1].owed == 0)
		w->depth--;
}

static void
push_open(agentd_writer *w, enum wr_kind kind, uint64_t owed)
{
	if (w->depth == w->cap) {
		w->cap  = w->cap ? 2 * w->cap : 8;
		w->open = must(realloc(w->open, w->cap * sizeof(*w->open)));
	}
	w->open[w->depth].kind  = kind;
	w->open[w->depth].owed  = owed;
	w->open[w->depth].count = 0;
	w->open[w->depth].start = w->sbuf.size;
	w->depth++;
}

/*
 * One whole value was written.  Hundreds a message: only a counted
 * container that now owes nothing can close (and its parents then), so
 * the walk of close_complete() runs only for it.
 */
static inline void
count_value(agentd_writer *w)
{
	struct wr_open *o;

	if (w->depth == 0)
		return;
	o = &w->open[w->depth - 1];
	if (o->kind != WR_COUNTED)
		o->count++;
	else if (--o->owed == 0)
		close_complete(w);
}

/* A container owing n values was opened: it is one value of its parent. */
static void
count_open(agentd_writer *w, uint64_t n)
{
	count_in_parent(w);
	push_open(w, WR_COUNTED, n);
	close_complete(w);
}

int
agentd_writer_new(agentd_writer **w)
{
	agentd_writer *nw;

	if (w == NULL)
		return AGENTD_EINVAL;
	nw = must(calloc(1, sizeof(*nw)));
	msgpack_sbuffer_init(&nw->sbuf);
	msgpack_packer_init(&nw->pk, &nw->sbuf, msgpack_sbuffer_write);
	*w = nw;
	return 0;
}

void
agentd_writer_free(agentd_writer *w)
{
	if (w == NULL)
		return;
	msgpack_sbuffer_destroy(&w->sbuf);
	free(w->open);
	free(w);
}

void
agentd_writer_reset(agentd_writer *w)
{
	if (w == NULL)
		return;
	msgpack_sbuffer_clear(&w->sbuf);
	w->depth = 0;
}

uint64_t
agentd_writer_owed(const agentd_writer *w)
{
	uint64_t n = 0;
	size_t   i;

	for (i = 0; w != NULL && i < w->depth; i++)
		n += w->open[i].kind == WR_COUNTED ? w->open[i].owed : 1;
	return n;
}

const void *
agentd_writer_data(const agentd_writer *w, size_t *len)
{
#ifndef NDEBUG
	if (w != NULL && w->depth > 0) {
		if (w->open[w->depth - 1].kind != WR_COUNTED)
			fprintf(stderr,
			    "agentd_writer_data: a map or array begun with "
			    "agentd_write_%s_begin() was not ended\n",
			    w->open[w->depth - 1].kind == WR_MAP ? "map"
			                                         : "array");
		else
			fprintf(stderr,
			    "agentd_writer_data: a map or array still waits "
			    "for %llu values: its size was counted wrong\n",
			    (unsigned long long)agentd_writer_owed(w));
		abort();
	}
#endif
	if (len != NULL)
		*len = w != NULL ? w->sbuf.size : 0;
	return w != NULL ? w->sbuf.data : NULL;
}

/*
 * msgpack-c reports a failed realloc as -1 (and nothing else): out of
 * memory, which aborts.  A value written whole is counted.
 */
static int
writer_done(agentd_writer *w, int rc)
{
	if (rc != 0)
		must(NULL);
	count_value(w);
	return 0;
}

int
agentd_write_map(agentd_writer *w, uint32_t npairs)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	if (msgpack_pack_map(&w->pk, npairs) != 0)
		must(NULL);
	count_open(w, 2 * (uint64_t)npairs);
	return 0;
}

/* Open a begun container: its header reserved at the largest size. */
static int
write_begin(agentd_writer *w, enum wr_kind kind)
{
	int rc;

	if (w == NULL)
		return AGENTD_EINVAL;
	count_in_parent(w);
	push_open(w, kind, 0);
	/* UINT32_MAX needs the 32-bit form: WR_HEADER_MAX bytes. */
	rc = kind == WR_MAP ? msgpack_pack_map(&w->pk, UINT32_MAX)
	                    : msgpack_pack_array(&w->pk, UINT32_MAX);
	if (rc != 0)
		must(NULL);
	return 0;
}

/*
 * Close the innermost container, begun as kind: write its count into the
 * smallest header that holds it, moving what follows back over the rest
 * of the reserved bytes.
 */
static int
write_end(agentd_writer *w, enum wr_kind kind)
{
	struct wr_open *o;
	unsigned char   h[WR_HEADER_MAX];
	uint64_t        n;
	size_t          hlen, body;

	if (w == NULL || w->depth == 0)
		return AGENTD_EINVAL;
	o = &w->open[w->depth - 1];
	if (o->kind != kind || (kind == WR_MAP && o->count % 2 != 0))
		return AGENTD_EINVAL;
	n = kind == WR_MAP ? o->count / 2 : o->count;
	if (n > UINT32_MAX)
		return AGENTD_ETOOBIG;
	if (n <= 15) {
		h[0] = (unsigned char)((kind == WR_MAP ? 0x80 : 0x90) | n);
		hlen = 1;
	} else if (n <= 0xffff) {
		h[0] = kind == WR_MAP ? 0xde : 0xdc;
		h[1] = (unsigned char)(n >> 8);
		h[2] = (unsigned char)n;
		hlen = 3;
	} else {
		h[0] = kind == WR_MAP ? 0xdf : 0xdd;
		h[1] = (unsigned char)(n >> 24);
		h[2] = (unsigned char)(n >> 16);
		h[3] = (unsigned char)(n >> 8);
		h[4] = (unsigned char)n;
		hlen = 5;
	}
	body = w->sbuf.size - o->start - WR_HEADER_MAX;
	memmove(w->sbuf.data + o->start + hlen,
	    w->sbuf.data + o->start + WR_HEADER_MAX, body);
	memcpy(w->sbuf.data + o->start, h, hlen);
	w->sbuf.size -= WR_HEADER_MAX - hlen;
	w->depth--;
	close_complete(w);
	return 0;
}

int
agentd_write_map_begin(agentd_writer *w)
{
	return write_begin(w, WR_MAP);
}

int
agentd_write_map_end(agentd_writer *w)
{
	return write_end(w, WR_MAP);
}

int
agentd_write_array_begin(agentd_writer *w)
{
	return write_begin(w, WR_ARRAY);
}

int
agentd_write_array_end(agentd_writer *w)
{
	return write_end(w, WR_ARRAY);
}

int
agentd_write_array(agentd_writer *w, uint32_t n)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	if (msgpack_pack_array(&w->pk, n) != 0)
		must(NULL);
	count_open(w, n);
	return 0;
}

int
agentd_write_strn(agentd_writer *w, const char *s, size_t len)
{
	int rc;

	if (w == NULL || (s == NULL && len != 0))
		return AGENTD_EINVAL;
	/* msgpack-c would silently cut the length to 32 bits. */
	if (len > UINT32_MAX)
		return AGENTD_ETOOBIG;
	/* A fixstr, as msgpack_pack_str() writes it, in one append: most
	 * strings are keys and short values. */
	if (len < 32) {
		unsigned char b[32];

		/* Where the buffer has room, straight into it; else as
		 * one write that makes the room. */
		if (w->sbuf.alloc - w->sbuf.size > len) {
			char *d = w->sbuf.data + w->sbuf.size;

			d[0] = (char)(0xa0 | len);
			memcpy(d + 1, s, len);
			w->sbuf.size += len + 1;
			count_value(w);
			return 0;
		}
		b[0] = (unsigned char)(0xa0 | len);
		if (len > 0)
			memcpy(b + 1, s, len);
		return writer_done(w,
		    msgpack_sbuffer_write(&w->sbuf, (const char *)b, len + 1));
	}
	rc = msgpack_pack_str(&w->pk, len);
	if (rc == 0)
		rc = msgpack_pack_str_body(&w->pk, s, len);
	return writer_done(w, rc);
}

int
agentd_write_str(agentd_writer *w, const char *s)
{
	if (s == NULL)
		return AGENTD_EINVAL;
	return agentd_write_strn(w, s, strlen(s));
}

int
agentd_write_int(agentd_writer *w, int64_t v)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	/* A positive fixint, as msgpack_pack_int64() writes it. */
	if (v >= 0 && v < 128) {
		char b = (char)v;

		return writer_done(w, msgpack_sbuffer_write(&w->sbuf, &b, 1));
	}
	return writer_done(w, msgpack_pack_int64(&w->pk, v));
}

int
agentd_write_uint(agentd_writer *w, uint64_t v)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, msgpack_pack_uint64(&w->pk, v));
}

int
agentd_write_double(agentd_writer *w, double v)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, msgpack_pack_double(&w->pk, v));
}

int
agentd_write_bool(agentd_writer *w, int v)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(
	    w, v ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}

int
agentd_write_nil(agentd_writer *w)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, msgpack_pack_nil(&w->pk));
}

int
agentd_write_bin(agentd_writer *w, const void *p, size_t len)
{
	int rc;

	if (w == NULL || (p == NULL && len != 0))
		return AGENTD_EINVAL;
	if (len > UINT32_MAX)
		return AGENTD_ETOOBIG;
	rc = msgpack_pack_bin(&w->pk, len);
	if (rc == 0)
		rc = msgpack_pack_bin_body(&w->pk, p, len);
	return writer_done(w, rc);
}

/*
 * The bytes are checked to be one whole value: a bad one would otherwise
 * surface later as EPROTO at whoever reads the message, far from the bug.
 * A value deeper than a reader accepts could never be read back, whatever
 * depth it ends up at, so the reader's limit applies here too.
 */
int
agentd_write_raw(agentd_writer *w, const void *p, size_t len)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	if (mp_check(p, len, AGENTD_MSG_MAX_DEPTH) != 0)
		return AGENTD_EPROTO;
	return writer_done(w, msgpack_sbuffer_write(&w->sbuf, p, len));
}

int
ad_write_encoded(agentd_writer *w, const void *p, size_t len, size_t nvalues)
{
	if (w == NULL || nvalues == 0)
		return AGENTD_EINVAL;
	if (msgpack_sbuffer_write(&w->sbuf, p, len) != 0)
		must(NULL);
	while (nvalues-- > 0)
		count_value(w);
	return 0;
}

/* agentd_value is never defined: a pointer to one is a msgpack_object. */
int
agentd_write_value(agentd_writer *w, const agentd_value *v)
{
	const msgpack_object *o = (const msgpack_object *)v;

	if (w == NULL || v == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, msgpack_pack_object(&w->pk, *o));
}
