#include "config.h"

#include <stddef.h>

#include <agentd/error.h>

/*
 * Both tables come from the one X-macro list in error.h, so a code added
 * there cannot be forgotten here.  Codes are small and dense; an index is
 * enough, and anything outside the table is reported rather than trusted.
 */
#define ERR_TEXT_(name, num, text) [num] = text,
static const char *const err_text[] = { AGENTD_ERRORS(ERR_TEXT_) };
#undef ERR_TEXT_

#define ERR_NAME_(name, num, text) [num] = #name,
static const char *const err_name[] = { AGENTD_ERRORS(ERR_NAME_) };
#undef ERR_NAME_

#define ERR_COUNT (sizeof(err_text) / sizeof(err_text[0]))

const char *
agentd_strerror(int err)
{
	if (err < 0 || (unsigned)err >= ERR_COUNT || err_text[err] == NULL)
		return "unknown error";
	return err_text[err];
}

const char *
agentd_errname(int err)
{
	if (err < 0 || (unsigned)err >= ERR_COUNT || err_name[err] == NULL)
		return "EUNKNOWN";
	return err_name[err];
}
