/*
 * counters.c - host->count()'s counters; see counters.h.
 */
#include "config.h"

#include <string.h>

#include "counters.h"

int
ad_counter_name_checkn(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len < 1 || len > AGENTD_COUNTER_NAME_MAX || s[0] < 'a'
	    || s[0] > 'z')
		return AGENTD_EINVAL;
	for (i = 1; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		        || c == '_'))
			return AGENTD_EINVAL;
	}
	return 0;
}

int
ad_counter_name_check(const char *s)
{
	if (s == NULL)
		return AGENTD_EINVAL;
	/* strnlen: a name longer than the limit is refused unread. */
	return ad_counter_name_checkn(
	    s, strnlen(s, AGENTD_COUNTER_NAME_MAX + 1));
}

/* An entry's name against name[0..len), as strcmp() orders them. */
static int
compare(const char *entry, const char *name, size_t len)
{
	int c = strncmp(entry, name, len);

	return c != 0 ? c : entry[len] != '\0';
}

/* Where name[0..len) is, or would go to keep the order: *found says.  A
 * binary search: the count of a 32nd name costs what the first's does. */
static size_t
position(const struct ad_counters *t, const char *name, size_t len, int *found)
{
	size_t lo = 0, hi = t->n, mid;
	int    c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c   = compare(t->c[mid].name, name, len);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int64_t
sat_add(int64_t a, int64_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

/* name[0..len) is checked; add delta (>= 0) or say it does not fit. */
static int
add_checked(struct ad_counters *t, const char *name, size_t len, int64_t delta)
{
	struct ad_counter *e;
	size_t             i;
	int                found;

	i = position(t, name, len, &found);
	if (!found) {
		if (t->n == AGENTD_COUNTERS_MAX)
			return AGENTD_ETOOBIG;
		memmove(&t->c[i + 1], &t->c[i], (t->n - i) * sizeof(t->c[0]));
		t->n++;
		e = &t->c[i];
		memset(e, 0, sizeof(*e));
		memcpy(e->name, name, len);
	}
	e         = &t->c[i];
	e->value  = sat_add(e->value, delta);
	e->unsent = sat_add(e->unsent, delta);
	if (!e->dirty) {
		e->dirty = 1;
		t->ndirty++;
	}
	return 0;
}

int
ad_counters_add(struct ad_counters *t, const char *name, int64_t delta)
{
	int rv;

	if ((rv = ad_counter_name_check(name)) != 0)
		return rv;
	if (delta < 0)
		return AGENTD_EINVAL;
	return add_checked(t, name, strlen(name), delta);
}

const struct ad_counter *
ad_counters_find(const struct ad_counters *t, const char *name)
{
	size_t i;
	int    found;

	if (ad_counter_name_check(name) != 0)
		return NULL;
	i = position(t, name, strlen(name), &found);
	return found ? &t->c[i] : NULL;
}

size_t
ad_counters_write_unsent(struct ad_counters *t, agentd_writer *w, size_t max)
{
	size_t i, n = t->ndirty < max ? t->ndirty : max, left = n;

	if (n == 0)
		return 0;
	agentd_write_map(w, (uint32_t)n);
	for (i = 0; i < t->n && left > 0; i++) {
		struct ad_counter *e = &t->c[i];

		if (!e->dirty)
			continue;
		agentd_write_str(w, e->name);
		agentd_write_int(w, e->unsent);
		e->unsent = 0;
		e->dirty  = 0;
		left--;
	}
	t->ndirty -= n;
	return n;
}

/* Key i of map v as a counter name, and its value as a delta. */
static int
entry_at(const agentd_value *v, size_t i, const char **name, size_t *len,
    int64_t *delta)
{
	if (agentd_get_str(agentd_map_key_at(v, i), name, len) != 0
	    || ad_counter_name_checkn(*name, *len) != 0
	    || agentd_get_int(agentd_map_value_at(v, i), delta) != 0
	    || *delta < 0)
		return AGENTD_EPROTO;
	return 0;
}

int
ad_counters_merge(
    struct ad_counters *t, const agentd_value *v, size_t *dropped)
{
	const char *name;
	size_t      i, n, len;
	int64_t     delta;

	if (dropped != NULL)
		*dropped = 0;
	if (agentd_type_of(v) != AGENTD_T_MAP)
		return AGENTD_EPROTO;
	n = agentd_len(v);
	for (i = 0; i < n; i++)
		if (entry_at(v, i, &name, &len, &delta) != 0)
			return AGENTD_EPROTO;
	for (i = 0; i < n; i++) {
		entry_at(v, i, &name, &len, &delta);
		if (add_checked(t, name, len, delta) != 0 && dropped != NULL)
			(*dropped)++;
	}
	return 0;
}
