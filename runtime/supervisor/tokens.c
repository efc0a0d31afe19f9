#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/util.h"
#include "store/audit.h"
#include "store/store.h"
#include "supervisor/server.h"
#include "supervisor/supervisor.h"
#include "supervisor/tokens.h"

#define HASH_LEN AD_TOKEN_HASH

struct token {
	char          name[AD_NAME_MAX];
	enum ad_role  role;
	unsigned char hash[HASH_LEN];
	int64_t       created_ms;
	char          by[AD_WHO_MAX];
	int64_t       last_used_ms; /* since agentd started; 0: not yet */
	int           writing;      /* created, not yet committed */
};

struct ad_tokens {
	MDB_env          *env;
	pthread_rwlock_t *gate;
	MDB_dbi           dbi;
	struct token     *all;
	size_t            n, cap;
};

/* ---- the table --------------------------------------------------------- */

static struct token *
find(struct ad_tokens *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->all[i].name, name) == 0)
			return &t->all[i];
	return NULL;
}

static struct token *
add(struct ad_tokens *t)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		t->all = ad_xrealloc(t->all, t->cap * sizeof(*t->all));
	}
	memset(&t->all[t->n], 0, sizeof(t->all[0]));
	return &t->all[t->n++];
}

static void
drop(struct ad_tokens *t, const char *name)
{
	struct token *k = find(t, name);

	if (k == NULL)
		return;
	OPENSSL_cleanse(k->hash, sizeof(k->hash));
	*k = t->all[--t->n];
}

/*
 * SHA-256 fetched from the provider once: EVP_sha256() makes each
 * EVP_Digest look the algorithm up again (a read lock on the provider
 * store and a cache search), which was most of a check's cost on every
 * HTTP request.  Kept until the process exits.
 */
static EVP_MD        *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void
sha256(const void *p, size_t len, unsigned char out[HASH_LEN])
{
	unsigned int n = HASH_LEN;

	pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL
	    || EVP_Digest(p, len, out, &n, sha256_md, NULL) != 1)
		abort(); /* only without memory; nothing can be checked */
}

/* {"role", "sha256", "created_ms", "by"}: the stored value. */
static void
encode(agentd_writer *w, const struct token *k)
{
	agentd_write_map(w, 4);
	agentd_write_str(w, "role");
	agentd_write_str(w, ad_role_name(k->role));
	agentd_write_str(w, "sha256");
	agentd_write_bin(w, k->hash, HASH_LEN);
	agentd_write_str(w, "created_ms");
	agentd_write_int(w, k->created_ms);
	agentd_write_str(w, "by");
	agentd_write_str(w, k->by);
}

static int
decode(const MDB_val *key, const MDB_val *val, struct token *k)
{
	agentd_doc         *doc;
	const agentd_value *m;
	const void         *hash;
	size_t              hlen     = 0;
	char                role[16] = "";
	int                 rv       = AGENTD_EPROTO;

	if (key->mv_size == 0 || key->mv_size >= sizeof(k->name))
		return AGENTD_EPROTO;
	memcpy(k->name, key->mv_data, key->mv_size);
	k->name[key->mv_size] = '\0';
	if (agentd_parse(val->mv_data, val->mv_size, &doc) != 0)
		return AGENTD_EPROTO;
	m = agentd_doc_root(doc);
	if (agentd_get_strcpy(agentd_map_get(m, "role"), role, sizeof(role))
	        == 0
	    && ad_role_parse(role) > 0
	    && agentd_get_bin(agentd_map_get(m, "sha256"), &hash, &hlen) == 0
	    && hlen == HASH_LEN
	    && agentd_get_int(agentd_map_get(m, "created_ms"), &k->created_ms)
	        == 0
	    && agentd_get_strcpy(agentd_map_get(m, "by"), k->by, sizeof(k->by))
	        == 0) {
		k->role = (enum ad_role)ad_role_parse(role);
		memcpy(k->hash, hash, HASH_LEN);
		rv = 0;
	}
	agentd_doc_free(doc);
	return rv;
}

int
ad_tokens_open(struct ad_sv *sv, char *err, size_t errlen)
{
	struct ad_tokens *t = ad_xcalloc(1, sizeof(*t));
	MDB_txn          *txn;
	MDB_cursor       *cur;
	MDB_val           k, v;
	int               rc;

	t->env  = ad_store_env(sv->store);
	t->gate = ad_store_gate(sv->store);
	pthread_rwlock_rdlock(t->gate);
	if ((rc = mdb_txn_begin(t->env, NULL, 0, &txn)) == 0) {
		if ((rc = mdb_dbi_open(txn, "tokens", MDB_CREATE, &t->dbi))
		        == 0
		    && (rc = mdb_cursor_open(txn, t->dbi, &cur)) == 0) {
			while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
				struct token *tok = add(t);

				if (decode(&k, &v, tok) != 0) {
					ad_warn(
					    "tokens: a stored token (%.*s) "
					    "does not decode: left out; "
					    "revoke it and create it again",
					    (int)(k.mv_size > 63 ? 63
					                         : k.mv_size),
					    (const char *)k.mv_data);
					t->n--;
				}
			}
			mdb_cursor_close(cur);
		}
		if (rc != 0)
			mdb_txn_abort(txn);
		else
			rc = mdb_txn_commit(txn);
	}
	pthread_rwlock_unlock(t->gate);
	if (rc != 0) {
		ad_seterr(err, errlen, "cannot open the tokens database: %s",
		    mdb_strerror(rc));
		free(t->all);
		free(t);
		return rc == MDB_MAP_FULL ? AGENTD_ETOOBIG : AGENTD_EIO;
	}
	sv->tokens = t;
	return 0;
}

void
ad_tokens_close(struct ad_sv *sv)
{
	struct ad_tokens *t = sv->tokens;

	if (t == NULL)
		return;
	OPENSSL_cleanse(t->all, t->cap * sizeof(*t->all));
	free(t->all);
	free(t);
	sv->tokens = NULL;
}

size_t
ad_tokens_count(struct ad_sv *sv)
{
	return sv->tokens != NULL ? sv->tokens->n : 0;
}

int
ad_tokens_hash(const char *token, size_t len, unsigned char h[AD_TOKEN_HASH])
{
	if (len != AD_TOKEN_LEN)
		return -1;
	sha256(token, len, h);
	return 0;
}

enum ad_role
ad_tokens_check(struct ad_sv *sv, const unsigned char h[AD_TOKEN_HASH],
    char *name, size_t namelen)
{
	struct ad_tokens *t   = sv->tokens;
	struct token     *hit = NULL;

	if (t == NULL)
		return AD_ROLE_NONE;
	/* Every entry is compared, in constant time, whichever matches. */
	for (size_t i = 0; i < t->n; i++)
		if (CRYPTO_memcmp(h, t->all[i].hash, HASH_LEN) == 0
		    && !t->all[i].writing)
			hit = &t->all[i];
	if (hit == NULL)
		return AD_ROLE_NONE;
	hit->last_used_ms = ad_wall_ms();
	snprintf(name, namelen, "%s", hit->name);
	return hit->role;
}

/* ---- the operations ---------------------------------------------------- */

/* A create or revoke on its way to the audit writer. */
struct change {
	struct ad_sv     *sv;
	struct ad_srvctx *c;
	int               create;
	char              name[AD_NAME_MAX];
	char              token[AD_TOKEN_LEN + 1]; /* create: its answer */
	enum ad_role      role;
	int64_t           created_ms;
};

static void
change_free(struct change *ch)
{
	OPENSSL_cleanse(ch->token, sizeof(ch->token));
	free(ch);
}

/* The writer committed (or failed) the change: writer thread. */
static void
change_done(void *arg, int status, uint64_t seq)
{
	struct change    *ch = arg;
	struct ad_tokens *t;
	struct token     *k;
	agentd_writer    *w;
	const void       *body;
	size_t            len;

	(void)seq;
	pthread_mutex_lock(&ch->sv->mtx);
	t = ch->sv->tokens;
	k = t != NULL ? find(t, ch->name) : NULL;
	if (status != 0) {
		ad_error("token %s not %s: %s", ch->name,
		    ch->create ? "created" : "revoked",
		    agentd_strerror(status));
		if (ch->create && k != NULL)
			drop(t, ch->name);
		ad_srv_fail(ch->c, status,
		    "token %s not %s: %s: agentd's log says more", ch->name,
		    ch->create ? "created" : "revoked",
		    agentd_strerror(status));
	} else if (ch->create) {
		if (k != NULL)
			k->writing = 0;
		agentd_writer_new(&w);
		agentd_write_map(w, 4);
		agentd_write_str(w, "name");
		agentd_write_str(w, ch->name);
		agentd_write_str(w, "role");
		agentd_write_str(w, ad_role_name(ch->role));
		agentd_write_str(w, "token");
		agentd_write_str(w, ch->token);
		agentd_write_str(w, "created_ms");
		agentd_write_int(w, ch->created_ms);
		body = agentd_writer_data(w, &len);
		ad_srv_reply(ch->c, 0, body, len);
		OPENSSL_cleanse((void *)body, len);
		agentd_writer_free(w);
	} else {
		ad_srv_reply(ch->c, 0, NULL, 0);
	}
	pthread_mutex_unlock(&ch->sv->mtx);
	change_free(ch);
}

/* The record, with the stored value (or its deletion) as a side write. */
static int
change_commit(struct change *ch, const struct token *k, const char *by)
{
	struct ad_tokens    *t = ch->sv->tokens;
	struct ad_audit_rec  r;
	struct ad_audit_side side;
	agentd_writer       *val, *detail;
	char                 summary[256];
	const void          *p;
	size_t               len;
	int                  rv;

	agentd_writer_new(&val);
	agentd_writer_new(&detail);
	memset(&r, 0, sizeof(r));
	memset(&side, 0, sizeof(side));
	side.dbi    = t->dbi;
	side.key    = ch->name;
	side.keylen = strlen(ch->name);
	agentd_write_map(detail, 2);
	agentd_write_str(detail, "name");
	agentd_write_str(detail, ch->name);
	agentd_write_str(detail, "role");
	agentd_write_str(detail, ad_role_name(ch->role));
	if (ch->create) {
		encode(val, k);
		side.val    = agentd_writer_data(val, &len);
		side.vallen = len;
		snprintf(summary, sizeof(summary),
		    "token %s (%s) created by %s", ch->name,
		    ad_role_name(ch->role), by);
	} else {
		snprintf(summary, sizeof(summary),
		    "token %s (%s) revoked by %s", ch->name,
		    ad_role_name(ch->role), by);
	}
	r.kind       = ch->create ? "token.create" : "token.revoke";
	r.summary    = summary;
	p            = agentd_writer_data(detail, &len);
	r.detail     = p;
	r.detail_len = len;
	r.sides      = &side;
	r.nsides     = 1;
	rv           = ad_audit_append(ch->sv->audit, &r, change_done, ch);
	agentd_writer_free(val);
	agentd_writer_free(detail);
	return rv;
}

static void
token_create(struct ad_srvctx *c, const agentd_value *m, const char *by)
{
	struct ad_tokens *t = c->srv->sv->tokens;
	struct change    *ch;
	struct token     *k;
	unsigned char     raw[32];
	char              role[16] = "";
	int               r, rv;

	ch     = ad_xcalloc(1, sizeof(*ch));
	ch->sv = c->srv->sv;
	ch->c  = c;
	if (agentd_get_strcpy(
	        agentd_map_get(m, "name"), ch->name, sizeof(ch->name))
	        != 0
	    || !ad_valid_name(ch->name)) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "a token's name is 1 to 63 letters, digits, '_', '.' or "
		    "'-'");
		goto fail;
	}
	agentd_get_strcpy(agentd_map_get(m, "role"), role, sizeof(role));
	if ((r = ad_role_parse(role)) < 0) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "role \"%s\": a token is a viewer, an operator or an "
		    "admin",
		    role);
		goto fail;
	}
	if (find(t, ch->name) != NULL) {
		ad_srv_fail(c, AGENTD_EEXIST,
		    "there is a token named %s: `agentctl token revoke %s` "
		    "first, or pick another name",
		    ch->name, ch->name);
		goto fail;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		ad_srv_fail(c, AGENTD_EIO, "no random bytes for a token");
		goto fail;
	}
	memcpy(ch->token, AD_TOKEN_PREFIX, sizeof(AD_TOKEN_PREFIX) - 1);
	ad_hex(raw, sizeof(raw), ch->token + sizeof(AD_TOKEN_PREFIX) - 1);
	OPENSSL_cleanse(raw, sizeof(raw));
	ch->create     = 1;
	ch->role       = (enum ad_role)r;
	ch->created_ms = ad_wall_ms();
	k              = add(t);
	snprintf(k->name, sizeof(k->name), "%s", ch->name);
	snprintf(k->by, sizeof(k->by), "%s", by);
	k->role       = ch->role;
	k->created_ms = ch->created_ms;
	k->writing    = 1;
	sha256(ch->token, AD_TOKEN_LEN, k->hash);
	c->state = AD_SRV_WAIT;
	if ((rv = change_commit(ch, k, by)) != 0) {
		drop(t, ch->name);
		ad_srv_fail(c, rv, "token %s not created: %s", ch->name,
		    agentd_strerror(rv));
		goto fail;
	}
	return;
fail:
	change_free(ch);
}

static void
token_revoke(struct ad_srvctx *c, const agentd_value *m, const char *by)
{
	struct ad_tokens *t = c->srv->sv->tokens;
	struct change    *ch;
	struct token     *k;
	int               rv;

	ch     = ad_xcalloc(1, sizeof(*ch));
	ch->sv = c->srv->sv;
	ch->c  = c;
	agentd_get_strcpy(
	    agentd_map_get(m, "name"), ch->name, sizeof(ch->name));
	if ((k = find(t, ch->name)) == NULL || k->writing) {
		ad_srv_fail(c, AGENTD_ENOENT,
		    "no token named \"%s\": `agentctl token list` shows them",
		    ch->name);
		change_free(ch);
		return;
	}
	ch->role = k->role;
	/* Refused from now on, whether or not the record is written. */
	drop(t, ch->name);
	c->state = AD_SRV_WAIT;
	if ((rv = change_commit(ch, NULL, by)) != 0) {
		ad_srv_fail(c, rv,
		    "token %s refused until agentd restarts, but its "
		    "revocation was not written: %s",
		    ch->name, agentd_strerror(rv));
		change_free(ch);
	}
}

static void
token_list(struct ad_srvctx *c)
{
	struct ad_tokens *t = c->srv->sv->tokens;
	agentd_writer    *w;
	const void       *body;
	size_t            len, n = 0;

	for (size_t i = 0; i < t->n; i++)
		n += !t->all[i].writing;
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "tokens");
	agentd_write_array(w, (uint32_t)n);
	for (size_t i = 0; i < t->n; i++) {
		const struct token *k = &t->all[i];

		if (k->writing)
			continue;
		agentd_write_map(w, 5);
		agentd_write_str(w, "name");
		agentd_write_str(w, k->name);
		agentd_write_str(w, "role");
		agentd_write_str(w, ad_role_name(k->role));
		agentd_write_str(w, "created_ms");
		agentd_write_int(w, k->created_ms);
		agentd_write_str(w, "by");
		agentd_write_str(w, k->by);
		agentd_write_str(w, "last_used_ms");
		agentd_write_int(w, k->last_used_ms);
	}
	body = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(w);
}

void
ad_tokens_control(
    struct ad_srvctx *c, const struct ad_envelope *e, const char *by)
{
	agentd_doc         *doc  = NULL;
	const agentd_value *root = NULL;

	if (strcmp(e->dst, AD_OP_TOKEN_LIST) == 0) {
		token_list(c);
		return;
	}
	if (agentd_parse(e->body, e->body_len, &doc) == 0
	    && agentd_type_of(agentd_doc_root(doc)) == AGENTD_T_MAP)
		root = agentd_doc_root(doc);
	if (root == NULL)
		ad_srv_fail(
		    c, AGENTD_EINVAL, "%s needs {\"name\": ...}", e->dst);
	else if (strcmp(e->dst, AD_OP_TOKEN_CREATE) == 0)
		token_create(c, root, by);
	else
		token_revoke(c, root, by);
	agentd_doc_free(doc);
}
