/* The envelope codec: round trips, and strict refusal of bad input. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bus/envelope.h"
#include "tap.h"

static struct ad_envelope
sample(void)
{
	struct ad_envelope e;

	memset(&e, 0, sizeof(e));
	e.id          = 42;
	e.kind        = AD_KIND_REQUEST;
	e.correlation = 7;
	e.deadline_ms = 1700000000000;
	e.status      = AGENTD_ETIMEOUT;
	strcpy(e.src, "pricing");
	strcpy(e.src_instance, "pricing-3");
	strcpy(e.dst, "ceo");
	e.body     = "\x81\xa1x\x01"; /* {"x": 1} */
	e.body_len = 4;
	return e;
}

/* Encode an arbitrary map built by fn into buf; returns its length. */
static size_t
build(void (*fn)(agentd_writer *), unsigned char *buf, size_t size)
{
	agentd_writer *w;
	const void    *p;
	size_t         n;

	agentd_writer_new(&w);
	fn(w);
	p = agentd_writer_data(w, &n);
	if (n > size)
		n = size;
	memcpy(buf, p, n);
	agentd_writer_free(w);
	return n;
}

/* A valid envelope with the field `bad` replaced by a wrong value. */
static const char *bad_field;

static void
with_bad_field(agentd_writer *w)
{
	const char *keys[] = { "v", "id", "k", "dst", "b" };
	size_t      i;

	agentd_write_map(w, 5);
	for (i = 0; i < 5; i++) {
		agentd_write_str(w, keys[i]);
		if (strcmp(keys[i], bad_field) == 0
		    && strcmp(bad_field, "dst") == 0)
			agentd_write_int(w, 12);
		else if (strcmp(keys[i], bad_field) == 0)
			agentd_write_str(w, "wrong type");
		else if (strcmp(keys[i], "dst") == 0)
			agentd_write_str(w, "echo");
		else if (strcmp(keys[i], "b") == 0)
			agentd_write_bin(w, "", 0);
		else
			agentd_write_uint(w, 1);
	}
}

static void
unknown_kind(agentd_writer *w)
{
	agentd_write_map(w, 5);
	agentd_write_str(w, "v");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "id");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "k");
	agentd_write_uint(w, 9);
	agentd_write_str(w, "dst");
	agentd_write_str(w, "echo");
	agentd_write_str(w, "b");
	agentd_write_bin(w, "", 0);
}

static void
long_name(agentd_writer *w)
{
	char name[300];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	agentd_write_map(w, 5);
	agentd_write_str(w, "v");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "id");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "k");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "dst");
	agentd_write_str(w, name);
	agentd_write_str(w, "b");
	agentd_write_bin(w, "", 0);
}

static void
missing_body(agentd_writer *w)
{
	agentd_write_map(w, 4);
	agentd_write_str(w, "v");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "id");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "k");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "dst");
	agentd_write_str(w, "echo");
}

static void
extra_key(agentd_writer *w)
{
	agentd_write_map(w, 6);
	agentd_write_str(w, "v");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "future");
	agentd_write_array(w, 0);
	agentd_write_str(w, "id");
	agentd_write_uint(w, 5);
	agentd_write_str(w, "k");
	agentd_write_uint(w, 3);
	agentd_write_str(w, "dst");
	agentd_write_str(w, "topic.a");
	agentd_write_str(w, "b");
	agentd_write_bin(w, "", 0);
}

int
main(void)
{
	struct ad_envelope e = sample(), d;
	agentd_writer     *w;
	const void        *p;
	unsigned char      buf[1024];
	size_t             n, cut;
	const char        *fields[] = { "v", "id", "k", "dst", "b" };
	int                i, all_refused;

	plan(21);
	agentd_writer_new(&w);
	ok(ad_envelope_encode(&e, w) == 0, "encode a full envelope");
	p = agentd_writer_data(w, &n);
	memcpy(buf, p, n);
	is_int(ad_envelope_decode(buf, n, 1 << 20, &d), 0, "decode it");
	ok(d.id == 42 && d.kind == AD_KIND_REQUEST && d.correlation == 7
	        && d.deadline_ms == 1700000000000
	        && d.status == AGENTD_ETIMEOUT,
	    "numbers survive the round trip");
	is_str(d.src, "pricing", "source agent");
	is_str(d.src_instance, "pricing-3", "source instance");
	is_str(d.dst, "ceo", "target");
	ok(d.body_len == 4 && memcmp(d.body, "\x81\xa1x\x01", 4) == 0,
	    "body bytes unchanged");
	ok((const unsigned char *)d.body >= buf
	        && (const unsigned char *)d.body < buf + n,
	    "body points into the buffer (no copy)");

	is_int(ad_envelope_decode(buf, n, n - 1, &d), AGENTD_ETOOBIG,
	    "over the size cap: ETOOBIG");
	all_refused = 1;
	for (cut = 0; cut < n; cut++)
		all_refused &= ad_envelope_decode(buf, cut, 1 << 20, &d)
		    == AGENTD_EPROTO;
	ok(all_refused, "every truncation of a valid envelope is refused");

	for (i = 0; i < 5; i++) {
		char name[64];

		bad_field = fields[i];
		n         = build(with_bad_field, buf, sizeof(buf));
		snprintf(name, sizeof(name), "wrong type in \"%s\": EPROTO",
		    fields[i]);
		is_int(ad_envelope_decode(buf, n, 1 << 20, &d), AGENTD_EPROTO,
		    name);
	}
	n = build(unknown_kind, buf, sizeof(buf));
	is_int(ad_envelope_decode(buf, n, 1 << 20, &d), AGENTD_EPROTO,
	    "unknown kind: EPROTO");
	n = build(long_name, buf, sizeof(buf));
	is_int(ad_envelope_decode(buf, n, 1 << 20, &d), AGENTD_EPROTO,
	    "a target longer than the limit: EPROTO");
	n = build(missing_body, buf, sizeof(buf));
	is_int(ad_envelope_decode(buf, n, 1 << 20, &d), AGENTD_EPROTO,
	    "a required key missing: EPROTO");
	memcpy(buf, "\xdf\xff\xff\xff\xff", 5);
	is_int(ad_envelope_decode(buf, 5, 1 << 20, &d), AGENTD_EPROTO,
	    "a map declaring 2^32 entries in 5 bytes: EPROTO");
	n = build(extra_key, buf, sizeof(buf));
	ok(ad_envelope_decode(buf, n, 1 << 20, &d) == 0 && d.id == 5
	        && d.kind == AD_KIND_EVENT,
	    "unknown keys from a newer peer are ignored");
	ok(ad_envelope_next_id() != ad_envelope_next_id(),
	    "message ids are unique");
	agentd_writer_free(w);
	return done_testing();
}
