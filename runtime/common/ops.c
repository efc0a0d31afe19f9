#include "config.h"

#include <string.h>

#include "common/ops.h"

static const char *const role_names[]
    = { "none", "viewer", "operator", "admin" };

const char *
ad_role_name(enum ad_role r)
{
	return (unsigned)r < 4 ? role_names[r] : "none";
}

int
ad_role_parse(const char *word)
{
	int i;

	for (i = AD_ROLE_VIEWER; i <= AD_ROLE_ADMIN; i++)
		if (word != NULL && strcmp(word, role_names[i]) == 0)
			return i;
	return -1;
}
