#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/json_mp.h"
#include "common/json_out.h"
#include "common/util.h"

/* ---- JSON -> msgpack -------------------------------------------------- */

/*
 * depth counts the containers that may still be opened.  Output nested
 * deeper than agentd_parse() accepts could never be read back, and the
 * limit also bounds this recursion.  It is the only source of EINVAL here.
 */
static int jm_encode(const json_t *j, agentd_writer *w, unsigned depth);

static int
jm_encode_object(const json_t *j, agentd_writer *w, unsigned depth)
{
	/* jansson's iterators want a non-const object but do not change it */
	json_t *obj = (json_t *)j;
	void   *it;
	int     rc;

	if (depth == 0)
		return AGENTD_EINVAL;
	if (json_object_size(obj) > UINT32_MAX)
		return AGENTD_ETOOBIG;
	if ((rc = agentd_write_map(w, (uint32_t)json_object_size(obj))) != 0)
		return rc;
	for (it = json_object_iter(obj); it != NULL;
	     it = json_object_iter_next(obj, it)) {
		rc = agentd_write_str(w, json_object_iter_key(it));
		if (rc == 0)
			rc = jm_encode(
			    json_object_iter_value(it), w, depth - 1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
jm_encode_array(const json_t *j, agentd_writer *w, unsigned depth)
{
	size_t i, n = json_array_size(j);
	int    rc;

	if (depth == 0)
		return AGENTD_EINVAL;
	if (n > UINT32_MAX)
		return AGENTD_ETOOBIG;
	if ((rc = agentd_write_array(w, (uint32_t)n)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = jm_encode(json_array_get(j, i), w, depth - 1)) != 0)
			return rc;
	return 0;
}

static int
jm_encode(const json_t *j, agentd_writer *w, unsigned depth)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return jm_encode_object(j, w, depth);
	case JSON_ARRAY:
		return jm_encode_array(j, w, depth);
	case JSON_STRING:
		return agentd_write_strn(
		    w, json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		return agentd_write_int(w, json_integer_value(j));
	case JSON_REAL:
		return agentd_write_double(w, json_real_value(j));
	case JSON_TRUE:
		return agentd_write_bool(w, 1);
	case JSON_FALSE:
		return agentd_write_bool(w, 0);
	default:
		return agentd_write_nil(w);
	}
}

int
ad_json_to_mp(const json_t *j, agentd_writer *w)
{
	if (j == NULL || w == NULL)
		return AGENTD_EINVAL;
	return jm_encode(j, w, AGENTD_MSG_MAX_DEPTH);
}

int
ad_json_text_to_mp(
    const char *text, agentd_writer *w, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t      *j;
	int          rc;

	if (text == NULL || w == NULL) {
		ad_seterr(err, errlen, "no JSON text");
		return AGENTD_EINVAL;
	}
	/* DECODE_ANY: a body may be a bare string or number, not only {}. */
	if ((j = json_loads(text, JSON_DECODE_ANY, &jerr)) == NULL) {
		ad_seterr(err, errlen, "line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return AGENTD_EINVAL;
	}
	rc = ad_json_to_mp(j, w);
	if (rc == AGENTD_EINVAL)
		ad_seterr(err, errlen, "nested deeper than %d levels",
		    AGENTD_MSG_MAX_DEPTH);
	else if (rc != 0)
		ad_seterr(err, errlen, "%s", agentd_strerror(rc));
	json_decref(j);
	return rc;
}

/* ---- msgpack -> JSON -------------------------------------------------- */

/*
 * {"$base64": "..."} for bytes JSON cannot hold as a string.  Chunks are a
 * multiple of 3 bytes so their encodings join without inner padding, and
 * EVP_EncodeBlock's int length never overflows.
 */
static int
jm_base64(const void *p, size_t len, json_t **out)
{
	enum { CHUNK = 3 * 4096 };
	const unsigned char *in = p;
	unsigned char       *text;
	json_t              *obj, *str;
	size_t               i, n, o = 0;

	if (len > SIZE_MAX / 4 - 3)
		return AGENTD_ETOOBIG;
	if ((text = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return AGENTD_ENOMEM;
	for (i = 0; i < len; i += n) {
		n = len - i < CHUNK ? len - i : CHUNK;
		o += (size_t)EVP_EncodeBlock(text + o, in + i, (int)n);
	}
	str = json_stringn((const char *)text, o);
	free(text);
	if (str == NULL || (obj = json_object()) == NULL) {
		json_decref(str);
		return AGENTD_ENOMEM;
	}
	if (json_object_set_new(obj, "$base64", str) != 0) {
		json_decref(obj);
		return AGENTD_ENOMEM;
	}
	*out = obj;
	return 0;
}

/*
 * str and bin alike: a JSON string if the bytes are valid UTF-8 (jansson
 * checks), base64 otherwise.  A msgpack str is meant to be UTF-8 but
 * nothing on the wire enforces it.
 */
static int
jm_decode_bytes(const void *p, size_t len, json_t **out)
{
	if ((*out = json_stringn(p, len)) != NULL)
		return 0;
	return jm_base64(p, len, out);
}

static int
jm_decode_int(const agentd_value *v, json_t **out)
{
	int64_t  i;
	uint64_t u;

	if (agentd_get_int(v, &i) == 0)
		*out = json_integer(i);
	else if (agentd_get_uint(v, &u) == 0)
		*out = json_real((double)u); /* beyond jansson's int64 */
	else
		return AGENTD_EINVAL;
	return *out != NULL ? 0 : AGENTD_ENOMEM;
}

static int
jm_decode_double(const agentd_value *v, json_t **out)
{
	double d = 0;

	agentd_get_double(v, &d);
	/* JSON has no NaN or infinity; jansson refuses them. */
	*out = isfinite(d) ? json_real(d) : json_null();
	return *out != NULL ? 0 : AGENTD_ENOMEM;
}

static int jm_decode(const agentd_value *v, json_t **out);

static int
jm_decode_array(const agentd_value *v, json_t **out)
{
	json_t *arr, *el;
	size_t  i, n = agentd_len(v);
	int     rc;

	if ((arr = json_array()) == NULL)
		return AGENTD_ENOMEM;
	for (i = 0; i < n; i++) {
		if ((rc = jm_decode(agentd_array_at(v, i), &el)) != 0) {
			json_decref(arr);
			return rc;
		}
		if (json_array_append_new(arr, el) != 0) {
			json_decref(arr);
			return AGENTD_ENOMEM;
		}
	}
	*out = arr;
	return 0;
}

/*
 * JSON keys are strings without NUL: a key that decodes to one is used as
 * is, any other (number, bool, base64 object...) as its JSON text.  That
 * text is bounded: a map key holding a map keyed by a map... escapes the
 * text of the level inside at each level, doubling it.  val is consumed
 * either way.
 */
static int
jm_set_member(json_t *obj, const json_t *key, json_t *val)
{
	const char *name = json_string_value(key);
	char       *text = NULL;
	int         rc;

	if (name == NULL || strlen(name) != json_string_length(key)) {
		text = ad_json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT);
		rc   = text == NULL                    ? AGENTD_ENOMEM
		      : strlen(text) > AD_JSON_KEY_MAX ? AGENTD_ETOOBIG
		                                       : 0;
		if (rc != 0) {
			free(text);
			json_decref(val);
			return rc;
		}
		name = text;
	}
	rc = json_object_set_new(obj, name, val) == 0 ? 0 : AGENTD_ENOMEM;
	free(text);
	return rc;
}

static int
jm_decode_map(const agentd_value *v, json_t **out)
{
	json_t *obj, *key, *val;
	size_t  i, n = agentd_len(v);
	int     rc = 0;

	if ((obj = json_object()) == NULL)
		return AGENTD_ENOMEM;
	for (i = 0; i < n && rc == 0; i++) {
		if ((rc = jm_decode(agentd_map_key_at(v, i), &key)) != 0)
			break;
		if ((rc = jm_decode(agentd_map_value_at(v, i), &val)) == 0)
			rc = jm_set_member(obj, key, val);
		json_decref(key);
	}
	if (rc != 0) {
		json_decref(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

/* Recursion is bounded: values come from docs agentd_parse() accepted. */
static int
jm_decode(const agentd_value *v, json_t **out)
{
	const char *s;
	const void *p;
	size_t      len;
	int         b = 0;

	switch (agentd_type_of(v)) {
	case AGENTD_T_BOOL:
		agentd_get_bool(v, &b);
		*out = json_boolean(b);
		return *out != NULL ? 0 : AGENTD_ENOMEM;
	case AGENTD_T_INT:
		return jm_decode_int(v, out);
	case AGENTD_T_DOUBLE:
		return jm_decode_double(v, out);
	case AGENTD_T_STR:
		agentd_get_str(v, &s, &len);
		return jm_decode_bytes(s, len, out);
	case AGENTD_T_BIN:
		agentd_get_bin(v, &p, &len);
		return jm_decode_bytes(p, len, out);
	case AGENTD_T_ARRAY:
		return jm_decode_array(v, out);
	case AGENTD_T_MAP:
		return jm_decode_map(v, out);
	default: /* nil, and ext which JSON has no form for */
		*out = json_null();
		return *out != NULL ? 0 : AGENTD_ENOMEM;
	}
}

int
ad_value_to_json(const agentd_value *v, json_t **out)
{
	if (v == NULL || out == NULL)
		return AGENTD_EINVAL;
	return jm_decode(v, out);
}

int
ad_mp_to_json(const void *buf, size_t len, json_t **out)
{
	agentd_doc *doc;
	int         rc;

	if (out == NULL)
		return AGENTD_EINVAL;
	if ((rc = agentd_parse(buf, len, &doc)) != 0)
		return rc;
	rc = ad_value_to_json(agentd_doc_root(doc), out);
	agentd_doc_free(doc);
	return rc;
}

json_t *
ad_raw_to_json(const void *p, size_t len)
{
	json_t *j = NULL;

	return jm_decode_bytes(p, len, &j) == 0 ? j : NULL;
}

json_t *
ad_bytes_to_json(const void *p, size_t len)
{
	json_t *j = NULL;

	if (len == 0)
		return json_null();
	if (ad_mp_to_json(p, len, &j) == 0)
		return j;
	return ad_raw_to_json(p, len);
}
