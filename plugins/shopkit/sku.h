/*
 * sku.h - a SKU as every shop agent checks it (doc/shop-contracts.md):
 * 1 to SHOPKIT_SKU_MAX of A-Z a-z 0-9 _ . -.  Header only, so that an
 * agent that needs nothing else of shopkit (pricing) links nothing more.
 */
#ifndef SHOPKIT_SKU_H
#define SHOPKIT_SKU_H

#include <stddef.h>
#include <string.h>

#include <agentd/msg.h>

#define SHOPKIT_SKU_MAX 64

/* Is s (len bytes, not NUL-terminated) 1 to max of A-Z a-z 0-9 _ . -,
 * as the shop's SKUs, supplier ids and sessions are? */
static inline int
shopkit_valid_id(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		        || (c >= '0' && c <= '9') || c == '-' || c == '_'
		        || c == '.'))
			return 0;
	}
	return 1;
}

/* Is s (len bytes, not NUL-terminated) a SKU? */
static inline int
shopkit_valid_sku(const char *s, size_t len)
{
	return shopkit_valid_id(s, len, SHOPKIT_SKU_MAX);
}

/* The SKU v holds (a msgpack string) into buf (SHOPKIT_SKU_MAX + 1
 * bytes, NUL-terminated); 0, or -1 when v is not a string or not a SKU
 * (buf untouched). */
static inline int
shopkit_get_sku(const agentd_value *v, char *buf)
{
	const char *s;
	size_t      len;

	if (agentd_get_str(v, &s, &len) != 0 || !shopkit_valid_sku(s, len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

#endif /* SHOPKIT_SKU_H */
