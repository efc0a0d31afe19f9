#include "config.h"

#include <stdlib.h>

#include <agentd/error.h>

#include "common/util.h"
#include "store/state_msg.h"

int
ad_state_ops_read(
    const agentd_value *list, struct agentd_state_op **ops, size_t *n)
{
	size_t i;

	*n   = agentd_len(list);
	*ops = ad_xcalloc(*n ? *n : 1, sizeof(**ops));
	if (agentd_type_of(list) != AGENTD_T_ARRAY)
		return AGENTD_EINVAL;
	for (i = 0; i < *n; i++) {
		const agentd_value     *op = agentd_array_at(list, i);
		struct agentd_state_op *o  = &(*ops)[i];
		const void             *k;

		if (agentd_get_bin(agentd_array_at(op, 0), &k, &o->keylen)
		    != 0)
			return AGENTD_EINVAL;
		o->key = k;
		if (agentd_type_of(agentd_array_at(op, 1)) != AGENTD_T_NIL
		    && agentd_get_bin(
		           agentd_array_at(op, 1), &o->val, &o->vallen)
		        != 0)
			return AGENTD_EINVAL;
	}
	return 0;
}

int
ad_state_batches_read(
    const agentd_value *root, struct ad_state_batch **bs, size_t *n)
{
	const agentd_value *list = agentd_map_get(root, "batches");
	size_t              i;

	*bs = NULL;
	*n  = agentd_len(list);
	if (agentd_type_of(list) != AGENTD_T_ARRAY || *n == 0)
		return AGENTD_EINVAL;
	*bs = ad_xcalloc(*n, sizeof(**bs));
	for (i = 0; i < *n; i++) {
		struct agentd_state_op *ops;

		if (ad_state_ops_read(
		        agentd_array_at(list, i), &ops, &(*bs)[i].n)
		    != 0) {
			free(ops);
			ad_state_batches_free(*bs, i);
			*bs = NULL;
			return AGENTD_EINVAL;
		}
		(*bs)[i].ops = ops;
	}
	return 0;
}

void
ad_state_batches_free(struct ad_state_batch *bs, size_t n)
{
	size_t i;

	if (bs == NULL)
		return;
	for (i = 0; i < n; i++)
		free((void *)bs[i].ops);
	free(bs);
}
