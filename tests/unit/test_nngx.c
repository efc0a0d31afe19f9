/*
 * test_nngx.c - the nng helpers: a batch built one piece at a time grows
 * its capacity geometrically (nng 1.5.2 alone grows it to the exact size
 * on every append, copying everything each time).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>

#include "common/nngx.h"
#include "tap.h"

#define PIECES 10000
#define PIECE 100

int
main(void)
{
	unsigned char  piece[PIECE];
	const uint8_t *body;
	nng_msg       *m;
	size_t         cap;
	unsigned       grows = 0, bad = 0, i;
	int            failed = 0;
	char           name[80];

	plan(5);
	if (nng_msg_alloc(&m, 0) != 0)
		return 1;
	cap = nng_msg_capacity(m);
	for (i = 0; i < PIECES; i++) {
		memset(piece, (int)(i & 0xff), sizeof(piece));
		if (ad_msg_append(m, piece, sizeof(piece)) != 0)
			failed = 1;
		if (nng_msg_capacity(m) != cap) {
			grows++;
			cap = nng_msg_capacity(m);
		}
	}
	ok(!failed, "10000 appends of 100 bytes");
	is_int(
	    (int)nng_msg_len(m), PIECES * PIECE, "the message holds them all");
	body = nng_msg_body(m);
	for (i = 0; i < PIECES * PIECE; i++) {
		if (body[i] != ((i / PIECE) & 0xff))
			bad++;
	}
	is_int((int)bad, 0, "each piece where it was appended, intact");
	snprintf(name, sizeof(name),
	    "the capacity grew %u times, not once per append", grows);
	ok(grows <= 20, name);
	ok(nng_msg_capacity(m) <= 2 * (size_t)PIECES * PIECE,
	    "and holds at most twice what the message uses");
	nng_msg_free(m);
	return done_testing();
}
