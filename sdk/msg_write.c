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
 * owed[0..depth) are the values each open map or array still waits for,
 * innermost last: a map of n pairs owes 2n, an array of n owes n.  Open
 * containers never read as complete, so a hand-counted size that is too
 * big is caught by agentd_writer_data(); one too small leaves values
 * after the container, which agentd_parse() refuses as trailing bytes.
 */
struct agentd_writer {
	msgpack_sbuffer sbuf;
	msgpack_packer  pk;
	uint64_t       *owed;
	size_t          depth;
	size_t          cap;
};

/* Out of memory aborts: the policy of msg.h, and agentd's. */
#define must ad_alloc_check

/* One whole value was written: the innermost container owes one less. */
static void
count_value(agentd_writer *w)
{
	if (w->depth > 0)
		w->owed[w->depth - 1]--;
	while (w->depth > 0 && w->owed[w->depth - 1] == 0)
		w->depth--;
}

/* A container owing n values was opened: it is one value of its parent. */
static void
count_open(agentd_writer *w, uint64_t n)
{
	if (w->depth > 0)
		w->owed[w->depth - 1]--;
	if (w->depth == w->cap) {
		w->cap  = w->cap ? 2 * w->cap : 8;
		w->owed = must(realloc(w->owed, w->cap * sizeof(*w->owed)));
	}
	w->owed[w->depth++] = n;
	while (w->depth > 0 && w->owed[w->depth - 1] == 0)
		w->depth--;
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
	free(w->owed);
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
		n += w->owed[i];
	return n;
}

const void *
agentd_writer_data(const agentd_writer *w, size_t *len)
{
#ifndef NDEBUG
	if (w != NULL && w->depth > 0) {
		fprintf(stderr,
		    "agentd_writer_data: a map or array still waits for %llu "
		    "values: its size was counted wrong\n",
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
