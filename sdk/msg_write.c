#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/msg.h>
#include <msgpack.h>

#include "mp_check.h"

struct agentd_writer {
	msgpack_sbuffer sbuf;
	msgpack_packer  pk;
};

int
agentd_writer_new(agentd_writer **w)
{
	agentd_writer *nw;

	if (w == NULL)
		return AGENTD_EINVAL;
	if ((nw = calloc(1, sizeof(*nw))) == NULL)
		return AGENTD_ENOMEM;
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
	free(w);
}

void
agentd_writer_reset(agentd_writer *w)
{
	if (w != NULL)
		msgpack_sbuffer_clear(&w->sbuf);
}

const void *
agentd_writer_data(const agentd_writer *w, size_t *len)
{
	if (len != NULL)
		*len = w != NULL ? w->sbuf.size : 0;
	return w != NULL ? w->sbuf.data : NULL;
}

/*
 * msgpack-c reports a failed realloc as -1, possibly after a header went
 * out without its body.  Cutting back to the size before the call keeps
 * every value in the buffer whole, so a writer that saw ENOMEM can still be
 * reset and reused, or its content sent.
 */
static int
writer_done(agentd_writer *w, size_t mark, int rc)
{
	if (rc == 0)
		return 0;
	w->sbuf.size = mark;
	return AGENTD_ENOMEM;
}

int
agentd_write_map(agentd_writer *w, uint32_t npairs)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, w->sbuf.size, msgpack_pack_map(&w->pk, npairs));
}

int
agentd_write_array(agentd_writer *w, uint32_t n)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, w->sbuf.size, msgpack_pack_array(&w->pk, n));
}

int
agentd_write_strn(agentd_writer *w, const char *s, size_t len)
{
	size_t mark;
	int    rc;

	if (w == NULL || (s == NULL && len != 0))
		return AGENTD_EINVAL;
	/* msgpack-c would silently cut the length to 32 bits. */
	if (len > UINT32_MAX)
		return AGENTD_ETOOBIG;
	mark = w->sbuf.size;
	rc   = msgpack_pack_str(&w->pk, len);
	if (rc == 0)
		rc = msgpack_pack_str_body(&w->pk, s, len);
	return writer_done(w, mark, rc);
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
	return writer_done(w, w->sbuf.size, msgpack_pack_int64(&w->pk, v));
}

int
agentd_write_uint(agentd_writer *w, uint64_t v)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, w->sbuf.size, msgpack_pack_uint64(&w->pk, v));
}

int
agentd_write_double(agentd_writer *w, double v)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, w->sbuf.size, msgpack_pack_double(&w->pk, v));
}

int
agentd_write_bool(agentd_writer *w, int v)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, w->sbuf.size,
	    v ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}

int
agentd_write_nil(agentd_writer *w)
{
	if (w == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, w->sbuf.size, msgpack_pack_nil(&w->pk));
}

int
agentd_write_bin(agentd_writer *w, const void *p, size_t len)
{
	size_t mark;
	int    rc;

	if (w == NULL || (p == NULL && len != 0))
		return AGENTD_EINVAL;
	if (len > UINT32_MAX)
		return AGENTD_ETOOBIG;
	mark = w->sbuf.size;
	rc   = msgpack_pack_bin(&w->pk, len);
	if (rc == 0)
		rc = msgpack_pack_bin_body(&w->pk, p, len);
	return writer_done(w, mark, rc);
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
	return writer_done(
	    w, w->sbuf.size, msgpack_sbuffer_write(&w->sbuf, p, len));
}

/* agentd_value is never defined: a pointer to one is a msgpack_object. */
int
agentd_write_value(agentd_writer *w, const agentd_value *v)
{
	const msgpack_object *o = (const msgpack_object *)v;

	if (w == NULL || v == NULL)
		return AGENTD_EINVAL;
	return writer_done(w, w->sbuf.size, msgpack_pack_object(&w->pk, *o));
}
