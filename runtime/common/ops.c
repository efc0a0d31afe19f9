#include "config.h"

#include <ctype.h>
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

static const char *const secret_words[] = { "secret", "token", "password",
	"passwd", "key", "credential", "private" };

int
ad_setting_is_secret(const char *name)
{
	char   low[128];
	size_t i, n;

	if (name == NULL)
		return 0;
	n = strlen(name);
	if (n >= sizeof(low))
		return 1; /* not a setting name agentd accepts: hide it */
	for (i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	for (i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
		if (strstr(low, secret_words[i]) != NULL)
			return 1;
	return 0;
}
