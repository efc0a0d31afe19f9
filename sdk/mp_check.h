/*
 * mp_check.h - bounds check of msgpack bytes before msgpack-c sees them.
 *
 * Internal to the SDK; not installed.
 */
#ifndef AGENTD_MP_CHECK_H
#define AGENTD_MP_CHECK_H

#include <stddef.h>
#include <stdint.h>

/*
 * 0 if buf[0..len) holds exactly one complete msgpack value, nested at most
 * max_depth containers deep, with every length and element count fitting in
 * the bytes that follow it; AGENTD_EPROTO otherwise.  Recursion depth is
 * bounded by max_depth, so callers pass a small constant.
 */
int mp_check(const void *buf, size_t len, unsigned max_depth);

/*
 * The same for the first value of buf[0..len); *used gets its size.  For
 * buffers that hold several values one after another.
 */
int mp_check_prefix(
    const void *buf, size_t len, unsigned max_depth, size_t *used);
/*
 * The same, and *items gets the number of elements of its containers, a
 * map's pairs counted twice: what msgpack-c's unpacker takes from its
 * zone is that many msgpack_objects (strings, bins and exts point into
 * buf).
 */
int mp_check_items_prefix(const void *buf, size_t len, unsigned max_depth,
    size_t *used, uint64_t *items);

#endif /* AGENTD_MP_CHECK_H */
