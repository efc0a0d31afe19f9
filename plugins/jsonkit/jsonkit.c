/*
 * jsonkit - JSON written as msgpack (jsonkit.h).
 */
#include "jsonkit.h"

void
jsonkit_write(agentd_writer *w, const json_t *j)
{
	const char *k;
	json_t     *e;
	size_t      i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		agentd_write_map(w, (uint32_t)json_object_size(j));
		json_object_foreach((json_t *)j, k, e)
		{
			agentd_write_str(w, k);
			jsonkit_write(w, e);
		}
		break;
	case JSON_ARRAY:
		agentd_write_array(w, (uint32_t)json_array_size(j));
		json_array_foreach(j, i, e) jsonkit_write(w, e);
		break;
	case JSON_STRING:
		agentd_write_strn(
		    w, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		agentd_write_int(w, json_integer_value(j));
		break;
	case JSON_REAL:
		agentd_write_double(w, json_real_value(j));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		agentd_write_bool(w, json_is_true(j));
		break;
	default:
		agentd_write_nil(w);
	}
}
