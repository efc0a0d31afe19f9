/*
 * tokens.h - who may use the HTTP API: named tokens, each with a role.
 *
 * A token is "agentd_" and 64 hex digits (32 bytes from the kernel's
 * random source), shown once, in the answer to token.create.  agentd
 * keeps only its SHA-256, in the LMDB database `tokens` of the store's
 * environment: key = the token's name, value = {"role": str, "sha256":
 * bin, "created_ms": int, "by": str}, written in the transaction of the
 * audit record that says so (token.create, token.revoke), so the trail
 * and the tokens never disagree.  At start agentd reads them all; a
 * token is checked by hashing it and comparing the hash with every
 * token's in constant time.  A token never appears in a log, an audit
 * record or an answer but the one that creates it.
 *
 * This file owns the table of tokens and the three operations on it.
 */
#ifndef AD_TOKENS_H
#define AD_TOKENS_H

#include <stddef.h>

#include "bus/envelope.h"
#include "common/ops.h"

struct ad_sv;
struct ad_srvctx;

#define AD_TOKEN_PREFIX "agentd_"
#define AD_TOKEN_LEN (sizeof(AD_TOKEN_PREFIX) - 1 + 64)

/* Open (creating) the database and load the tokens into sv. */
int  ad_tokens_open(struct ad_sv *sv, char *err, size_t errlen);
void ad_tokens_close(struct ad_sv *sv);

/* The bytes of a token's hash (SHA-256), as kept. */
#define AD_TOKEN_HASH 32

/*
 * The hash of the token of len bytes into h, for ad_tokens_check; -1 for
 * a token of the wrong length (never known).  Any thread, no lock: the
 * HTTP server hashes before it takes mtx, so that no other thread waits
 * for the hash.
 */
int ad_tokens_hash(
    const char *token, size_t len, unsigned char h[AD_TOKEN_HASH]);

/*
 * The role of the token whose hash is h (ad_tokens_hash), its name into
 * name; AD_ROLE_NONE for a token that is not (or no longer) known.  mtx
 * held.
 */
enum ad_role ad_tokens_check(struct ad_sv *sv,
    const unsigned char h[AD_TOKEN_HASH], char *name, size_t namelen);

/* How many tokens there are (the HTTP server warns when there is none).
 * mtx held. */
size_t ad_tokens_count(struct ad_sv *sv);

/*
 * token.create {name, role}: {name, role, token, created_ms};
 * token.list: {"tokens": [{name, role, created_ms, by, last_used_ms}]};
 * token.revoke {name}: empty.  by names the person asking.  mtx held.
 */
void ad_tokens_control(
    struct ad_srvctx *c, const struct ad_envelope *e, const char *by);

#endif
