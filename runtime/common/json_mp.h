/*
 * json_mp.h - JSON <-> msgpack, for agentctl and the HTTP API.
 *
 * JSON objects, arrays, strings, integers, reals, booleans and null map to
 * their msgpack twins.  Going back, msgpack bin becomes a JSON string when
 * it is valid UTF-8 and {"$base64": "..."} otherwise; map keys that are
 * not strings become their JSON text, at most AD_JSON_KEY_MAX bytes (a
 * longer one makes the conversion AGENTD_ETOOBIG).
 */
#ifndef AD_JSON_MP_H
#define AD_JSON_MP_H

#include <stddef.h>

#include <agentd/msg.h>
#include <jansson.h>

#define AD_JSON_KEY_MAX 4096

/*
 * Parse JSON text and encode it as msgpack into w (appended).  On a syntax
 * error fills err with "line L column C: what" and returns AGENTD_EINVAL.
 */
int ad_json_text_to_mp(
    const char *text, agentd_writer *w, char *err, size_t errlen);

/* Encode a jansson value into w (appended). */
int ad_json_to_mp(const json_t *j, agentd_writer *w);

/* Decode msgpack into a new jansson value: caller owns, json_decref(). */
int ad_mp_to_json(const void *buf, size_t len, json_t **out);
int ad_value_to_json(const agentd_value *v, json_t **out);

/*
 * Bytes that hold msgpack by convention (a state value, an audit detail,
 * an event body) as JSON: the value they encode; a JSON string or
 * {"$base64"} when they are not one msgpack value; null when empty.
 * NULL only without memory.
 */
json_t *ad_bytes_to_json(const void *p, size_t len);
/* Bytes as a JSON string when valid UTF-8, else {"$base64"}. */
json_t *ad_raw_to_json(const void *p, size_t len);

#endif
