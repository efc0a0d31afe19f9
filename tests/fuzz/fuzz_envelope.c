/*
 * fuzz_envelope - libFuzzer harness for the envelope decoder
 * (bus/envelope.c), which reads every message a worker or a client sends.
 *
 * What must hold for any bytes: decoding answers 0, AGENTD_EPROTO or
 * AGENTD_ETOOBIG and never reads outside the input; a refused envelope
 * leaves a zeroed struct; an accepted one encodes back into bytes that
 * decode to the same fields; and a batch (envelopes one after another, as
 * the event hub reads them) is walked with decode_prefix to its end.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>

#include "bus/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A size limit inside the inputs' range, so ETOOBIG is reached too. */
#define FUZZ_MAX_LEN 4096

static void
check_zeroed(const struct ad_envelope *e)
{
	static const struct ad_envelope zero;

	if (memcmp(e, &zero, sizeof(*e)) != 0)
		abort();
}

static void
check_same(const struct ad_envelope *a, const struct ad_envelope *b)
{
	if (a->version != b->version || a->id != b->id || a->kind != b->kind
	    || strcmp(a->src, b->src) != 0
	    || strcmp(a->src_instance, b->src_instance) != 0
	    || strcmp(a->dst, b->dst) != 0 || a->correlation != b->correlation
	    || a->deadline_ms != b->deadline_ms || a->status != b->status
	    || a->body_len != b->body_len
	    || (a->body_len > 0 && memcmp(a->body, b->body, a->body_len) != 0))
		abort();
}

/* What was accepted survives an encode and a decode unchanged. */
static void
round_trip(const struct ad_envelope *e)
{
	agentd_writer     *w;
	const void        *p;
	size_t             n;
	struct ad_envelope back;

	if (agentd_writer_new(&w) != 0 || ad_envelope_encode(e, w) != 0)
		abort();
	p = agentd_writer_data(w, &n);
	if (ad_envelope_decode(p, n, SIZE_MAX, &back) != 0)
		abort();
	check_same(e, &back);
	agentd_writer_free(w);
}

static void
decode_one(const uint8_t *data, size_t size)
{
	struct ad_envelope e;
	int                rv;

	rv = ad_envelope_decode(data, size, FUZZ_MAX_LEN, &e);
	if (rv == 0)
		round_trip(&e);
	else if (rv == AGENTD_EPROTO || rv == AGENTD_ETOOBIG)
		check_zeroed(&e);
	else
		abort();
}

static void
decode_batch(const uint8_t *data, size_t size)
{
	struct ad_envelope e;
	size_t             used;

	while (size > 0) {
		used = 0;
		if (ad_envelope_decode_prefix(data, size, SIZE_MAX, &e, &used)
		    != 0)
			return;
		if (used == 0 || used > size)
			abort();
		round_trip(&e);
		data += used;
		size -= used;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_one(data, size);
	decode_batch(data, size);
	return 0;
}
