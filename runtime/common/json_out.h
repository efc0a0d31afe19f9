/*
 * json_out.h - JSON text for output (agentctl, the HTTP API): jansson's
 * layout, with every real written as the shortest text that reads back
 * to the same double (4.17, not 4.1699999999999999).
 *
 * Why not jansson alone: it prints a real with "%.17g", or with the one
 * precision JSON_REAL_PRECISION(p) gives the whole document.  17 digits
 * read back exactly but show binary noise; a precision per document, the
 * smallest with which all of its reals read back, is wrong as soon as one
 * real needs 17 (a 1/3 brings the noise back to every price beside it).
 * So jansson writes the text at 17 digits, which read back exactly, and
 * each real in it is written again with the fewest significant digits
 * that read back to the same double (glibc's strtod rounds correctly):
 * positional notation from 1e-4 to below 1e16, an exponent outside that
 * range, as Python's repr does; always with a "." or an exponent, so it
 * stays a real when read again.  Integers are left as they are: they never
 * were doubles.  Output only: nothing is parsed back but our own reals.
 */
#ifndef AD_JSON_OUT_H
#define AD_JSON_OUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Enough for any real ad_real_text() writes, with its NUL. */
#define AD_REAL_TEXT_MAX 32

/*
 * The shortest text of d as a JSON real into buf (AD_REAL_TEXT_MAX
 * bytes): "4.17", "0.1", "100.0", "1e-300", "-0.0".  d must be finite
 * (JSON has no other).  Returns the text's length.
 */
size_t ad_real_text(double d, char *buf);

/*
 * json_dumps(j, flags) with every real as ad_real_text() writes it
 * (flags' JSON_REAL_PRECISION is ignored).  Caller owns, free with
 * free(); NULL where json_dumps() returns NULL.
 */
char *ad_json_dumps(const json_t *j, size_t flags);

/* The same onto f: 0, or -1 if it could not be made or written. */
int ad_json_dumpf(const json_t *j, FILE *f, size_t flags);

#endif
