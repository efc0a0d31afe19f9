#include "config.h"

#include <string.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "bus/envelope.h"
#include "worker/outcomes.h"

int
ad_outcomes_each(const void *body, size_t len, ad_outcome_fn fn, void *arg)
{
	agentd_doc         *doc = NULL;
	const agentd_value *root, *list;
	size_t              i, n;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	if (agentd_type_of(root = agentd_doc_root(doc)) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		return AGENTD_EPROTO;
	}
	list = agentd_map_get(root, "events");
	n    = agentd_type_of(list) == AGENTD_T_ARRAY ? agentd_len(list) : 0;
	for (i = 0; i < n; i++) {
		const agentd_value *ev = agentd_array_at(list, i);
		char                topic[AD_TARGET_MAX];
		const void         *p;
		size_t              plen;

		if (agentd_type_of(ev) != AGENTD_T_ARRAY
		    || agentd_get_strcpy(
		           agentd_array_at(ev, 0), topic, sizeof(topic))
		        != 0
		    || agentd_get_bin(agentd_array_at(ev, 1), &p, &plen) != 0)
			continue;
		fn(arg, topic, p, plen);
	}
	agentd_doc_free(doc);
	return 0;
}
