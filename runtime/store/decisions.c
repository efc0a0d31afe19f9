#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>

#include "common/util.h"
#include "sdk/contract.h"
#include "store/audit.h"
#include "store/decisions.h"

struct ad_decisions {
	MDB_env          *env;
	pthread_rwlock_t *gate;
	MDB_dbi           all, open;
};

/* The floor's key in `decisions_open`: id 0, never a decision's. */
static const unsigned char floor_key[8];

/* What a decision's side writes do to its entry in `decisions_open`. */
enum open_op {
	OPEN_PUT,  /* the entry, encoded after the record */
	OPEN_DEL,  /* finished: the entry removed */
	OPEN_NONE, /* no entry (decided at the proposal): nothing */
};

/* Ids read per transaction by ad_decisions_each. */
#define EACH_CHUNK 256

static const char *const state_names[] = {
	[AD_DECISION_PENDING]  = "pending",
	[AD_DECISION_APPROVED] = "approved",
	[AD_DECISION_REJECTED] = "rejected",
	[AD_DECISION_EXPIRED]  = "expired",
};

const char *
ad_decision_state_name(enum ad_decision_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0])
	    ? state_names[s]
	    : "?";
}

int
ad_decision_state_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]);
	     i++)
		if (s != NULL && strcmp(s, state_names[i]) == 0)
			return (int)i;
	return -1;
}

/* ---- opening ----------------------------------------------------------- */

static void     id_key(uint64_t id, unsigned char key[8]);
static uint64_t key_id(const MDB_val *k);

/*
 * The floor, put if there is none: a database written before floors
 * has an open entry for every decision not delivered, so every decision
 * there is below its floor, the id after its last.
 */
static int
floor_init(MDB_txn *txn, struct ad_decisions *d)
{
	MDB_val       k = { 8, (void *)floor_key }, v;
	MDB_cursor   *cur;
	uint64_t      last = 0;
	unsigned char fb[8];
	int           rc;

	if ((rc = mdb_get(txn, d->open, &k, &v)) != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_cursor_open(txn, d->all, &cur)) != 0)
		return rc;
	if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0)
		last = key_id(&k);
	mdb_cursor_close(cur);
	id_key(last + 1, fb);
	k.mv_data = (void *)floor_key;
	k.mv_size = 8;
	v.mv_data = fb;
	v.mv_size = 8;
	return mdb_put(txn, d->open, &k, &v, 0);
}

int
ad_decisions_open(
    struct ad_store *s, struct ad_decisions **out, char *err, size_t errlen)
{
	struct ad_decisions *d = ad_xcalloc(1, sizeof(*d));
	MDB_txn             *txn;
	int                  rc;

	d->env  = ad_store_env(s);
	d->gate = ad_store_gate(s);
	pthread_rwlock_rdlock(d->gate);
	if ((rc = mdb_txn_begin(d->env, NULL, 0, &txn)) == 0) {
		if ((rc = mdb_dbi_open(txn, "decisions", MDB_CREATE, &d->all))
		        != 0
		    || (rc = mdb_dbi_open(
		            txn, "decisions_open", MDB_CREATE, &d->open))
		        != 0
		    || (rc = floor_init(txn, d)) != 0)
			mdb_txn_abort(txn);
		else
			rc = mdb_txn_commit(txn);
	}
	pthread_rwlock_unlock(d->gate);
	if (rc != 0) {
		ad_seterr(err, errlen,
		    "cannot open the decisions database: %s",
		    mdb_strerror(rc));
		free(d);
		return rc == MDB_MAP_FULL ? AGENTD_ETOOBIG : AGENTD_EIO;
	}
	*out = d;
	return 0;
}

void
ad_decisions_close(struct ad_decisions *d)
{
	free(d); /* the dbi handles close with the environment */
}

/* ---- the record -------------------------------------------------------- */

static void
id_key(uint64_t id, unsigned char key[8])
{
	for (int i = 7; i >= 0; i--, id >>= 8)
		key[i] = (unsigned char)id;
}

static uint64_t
key_id(const MDB_val *k)
{
	const unsigned char *p  = k->mv_data;
	uint64_t             id = 0;

	if (k->mv_size != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		id = id << 8 | p[i];
	return id;
}

/* K("key"): a key literal and its length, so that a record's keys are
 * written without a strlen each (a record has about twenty). */
#define K(lit) lit, sizeof(lit) - 1

static void
kv_str(agentd_writer *w, const char *k, size_t klen, const char *v)
{
	agentd_write_strn(w, k, klen);
	agentd_write_str(w, v != NULL ? v : "");
}

static void
kv_int(agentd_writer *w, const char *k, size_t klen, int64_t v)
{
	agentd_write_strn(w, k, klen);
	agentd_write_int(w, v);
}

static void
kv_map(agentd_writer *w, const char *k, size_t klen, const void *p, size_t len)
{
	static const unsigned char empty_map = 0x80;

	/* A decision's parameters: checked when they came in, or read
	 * back from a record (map_of), or given by a person (modify). */
	agentd_write_strn(w, k, klen);
	if (p != NULL && len > 0)
		ad_write_encoded(w, p, len, 1);
	else
		ad_write_encoded(w, &empty_map, 1, 1);
}

void
ad_decision_write(
    agentd_writer *w, const struct ad_decision *d, uint32_t extra)
{
	char id[AD_U64_DEC];

	ad_u64_dec(d->id, id);
	agentd_write_map(w, 19 + (d->proposed_params != NULL) + extra);
	kv_str(w, K("id"), id);
	kv_str(w, K("agent"), d->agent);
	kv_str(w, K("instance"), d->instance);
	kv_str(w, K("type"), d->type);
	kv_str(w, K("title"), d->title);
	kv_str(w, K("reasoning"), d->reasoning);
	agentd_write_strn(w, K("amount"));
	agentd_write_double(w, d->amount);
	agentd_write_strn(w, K("confidence"));
	agentd_write_double(w, d->confidence);
	kv_map(w, K("params"), d->params, d->params_len);
	if (d->proposed_params != NULL)
		kv_map(w, K("proposed_params"), d->proposed_params,
		    d->proposed_params_len);
	kv_str(w, K("risk"), ad_risk_name(d->risk));
	kv_str(w, K("rule"), d->rule);
	kv_str(w, K("state"), ad_decision_state_name(d->state));
	kv_int(w, K("proposed_ms"), d->proposed_ms);
	kv_int(w, K("deadline_ms"), d->deadline_ms);
	kv_str(w, K("at_deadline"),
	    d->at_deadline == AD_AT_DEADLINE_APPROVE ? "approve" : "reject");
	kv_int(w, K("decided_ms"), d->decided_ms);
	kv_str(w, K("by"), d->by);
	kv_str(w, K("note"), d->note);
	kv_int(w, K("delivered_ms"), d->delivered_ms);
}

void
ad_decision_sides_init(struct ad_decision_sides *s)
{
	memset(s, 0, sizeof(*s));
	agentd_writer_new(&s->w);
}

void
ad_decision_sides_reset(struct ad_decision_sides *s)
{
	s->len = 0;
	s->n   = 0;
}

void
ad_decision_sides_fini(struct ad_decision_sides *s)
{
	agentd_writer_free(s->w);
	free(s->buf);
	free(s->key);
	free(s->off);
	free(s->op);
	memset(s, 0, sizeof(*s));
}

static void
sides_put(struct ad_decision_sides *s, const void *p, size_t len)
{
	if (s->len + len > s->bufcap) {
		while (s->len + len > s->bufcap)
			s->bufcap = s->bufcap ? 2 * s->bufcap : 8192;
		s->buf = ad_xrealloc(s->buf, s->bufcap);
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
}

/* The scratch writer's bytes, appended. */
static void
sides_put_written(struct ad_decision_sides *s)
{
	size_t      len;
	const void *p = agentd_writer_data(s->w, &len);

	sides_put(s, p, len);
	agentd_writer_reset(s->w);
}

static void
sides_begin(struct ad_decision_sides *s, uint64_t id)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->key = ad_xrealloc(s->key, 8 * s->cap);
		s->off = ad_xrealloc(s->off, 3 * s->cap * sizeof(*s->off));
		s->op  = ad_xrealloc(s->op, s->cap);
	}
	id_key(id, s->key + 8 * s->n);
	s->off[3 * s->n] = s->len;
}

/* The open entry of dc with op OPEN_PUT; then the decision is
 * complete. */
static void
sides_end(
    struct ad_decision_sides *s, const struct ad_decision *dc, enum open_op op)
{
	s->off[3 * s->n + 1] = s->len;
	if (op == OPEN_PUT) {
		agentd_write_map(s->w, 3);
		kv_str(s->w, K("agent"), dc->agent);
		kv_int(s->w, K("state"), dc->state);
		kv_int(s->w, K("deadline_ms"), dc->deadline_ms);
		sides_put_written(s);
	}
	s->off[3 * s->n + 2] = s->len;
	s->op[s->n]          = (unsigned char)op;
	s->n++;
}

void
ad_decision_sides_add(
    struct ad_decision_sides *s, const struct ad_decision *dc, int entry)
{
	sides_begin(s, dc->id);
	agentd_writer_reset(s->w);
	ad_decision_write(s->w, dc, 0);
	sides_put_written(s);
	sides_end(s, dc,
	    !entry                      ? OPEN_NONE
	        : dc->delivered_ms == 0 ? OPEN_PUT
	                                : OPEN_DEL);
}

int
ad_decision_sides_add_delivered(struct ad_decision_sides *s, uint64_t id,
    const void *rec, size_t len, int64_t delivered_ms, int entry)
{
	static const char tail[] = "\xac"
	                           "delivered_ms"
	                           "\x00";
	const size_t      tlen   = sizeof(tail) - 1;

	if (len < tlen
	    || memcmp((const char *)rec + len - tlen, tail, tlen) != 0
	    || delivered_ms <= 0)
		return AGENTD_EINVAL;
	sides_begin(s, id);
	sides_put(s, rec, len - 1);
	agentd_writer_reset(s->w);
	agentd_write_int(s->w, delivered_ms);
	sides_put_written(s);
	sides_end(s, NULL, entry ? OPEN_DEL : OPEN_NONE);
	return 0;
}

const void *
ad_decision_sides_record(
    const struct ad_decision_sides *s, size_t i, size_t *len)
{
	*len = s->off[3 * i + 1] - s->off[3 * i];
	return s->buf + s->off[3 * i];
}

size_t
ad_decision_sides_get_one(struct ad_decisions *d,
    const struct ad_decision_sides *s, size_t i, struct ad_audit_side *sides,
    int fresh)
{
	const size_t         *off = s->off + 3 * i;
	struct ad_audit_side *rec = &sides[0], *open = rec + 1;

	memset(rec, 0, sizeof(*rec));
	rec->dbi    = d->all;
	rec->key    = s->key + 8 * i;
	rec->keylen = 8;
	rec->val    = s->buf + off[0];
	rec->vallen = off[1] - off[0];
	rec->append = fresh;
	if (s->op[i] == OPEN_NONE)
		return 1;
	open->dbi    = d->open;
	open->key    = rec->key;
	open->keylen = 8;
	/* OPEN_DEL (no entry written): out of decisions_open. */
	open->val    = s->op[i] == OPEN_PUT ? s->buf + off[1] : NULL;
	open->vallen = off[2] - off[1];
	open->append = fresh && open->val != NULL;
	return 2;
}

size_t
ad_decision_sides_get(struct ad_decisions *d,
    const struct ad_decision_sides *s, struct ad_audit_side *sides, int fresh)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += ad_decision_sides_get_one(d, s, i, sides + n, fresh);
	return n;
}

void
ad_decisions_floor_side(struct ad_decisions *d, uint64_t floor,
    unsigned char val[8], struct ad_audit_side *side)
{
	id_key(floor, val);
	memset(side, 0, sizeof(*side));
	side->dbi    = d->open;
	side->key    = floor_key;
	side->keylen = 8;
	side->val    = val;
	side->vallen = 8;
}

static char *
str_of(const agentd_value *v)
{
	const char *s;
	size_t      len;

	if (agentd_get_str(v, &s, &len) != 0)
		return ad_xstrdup("");
	return ad_xstrndup(s, len);
}

static int64_t
int_of(const agentd_value *v)
{
	int64_t i = 0;

	agentd_get_int(v, &i);
	return i;
}

/* A map value re-encoded on its own; NULL when v is not a map. */
static void *
map_of(const agentd_value *v, size_t *len)
{
	agentd_writer *w;
	const void    *p;
	void          *out;

	*len = 0;
	if (agentd_type_of(v) != AGENTD_T_MAP || agentd_writer_new(&w) != 0)
		return NULL;
	agentd_write_value(w, v);
	p   = agentd_writer_data(w, len);
	out = ad_xmalloc(*len);
	memcpy(out, p, *len);
	agentd_writer_free(w);
	return out;
}

int
ad_decision_decode(const void *buf, size_t len, struct ad_decision **out)
{
	agentd_doc         *doc;
	const agentd_value *r;
	struct ad_decision *d;
	char                word[16];
	const char         *id;
	size_t              idlen;
	int                 risk, state;

	if (agentd_parse(buf, len, &doc) != 0)
		return AGENTD_EPROTO;
	r = agentd_doc_root(doc);
	if (agentd_get_str(agentd_map_get(r, "id"), &id, &idlen) != 0
	    || idlen == 0 || idlen > 20) {
		agentd_doc_free(doc);
		return AGENTD_EPROTO;
	}
	d            = ad_xcalloc(1, sizeof(*d));
	d->id        = strtoull(id, NULL, 10);
	d->agent     = str_of(agentd_map_get(r, "agent"));
	d->instance  = str_of(agentd_map_get(r, "instance"));
	d->type      = str_of(agentd_map_get(r, "type"));
	d->title     = str_of(agentd_map_get(r, "title"));
	d->reasoning = str_of(agentd_map_get(r, "reasoning"));
	agentd_get_double(agentd_map_get(r, "amount"), &d->amount);
	agentd_get_double(agentd_map_get(r, "confidence"), &d->confidence);
	d->params = map_of(agentd_map_get(r, "params"), &d->params_len);
	if (d->params == NULL) {
		d->params                   = ad_xmalloc(1);
		*(unsigned char *)d->params = 0x80;
		d->params_len               = 1;
	}
	d->proposed_params = map_of(
	    agentd_map_get(r, "proposed_params"), &d->proposed_params_len);
	word[0] = '\0';
	agentd_get_strcpy(agentd_map_get(r, "risk"), word, sizeof(word));
	risk    = ad_risk_parse(word);
	d->risk = risk < 0 ? AD_RISK_HIGH : (enum ad_risk)risk;
	d->rule = str_of(agentd_map_get(r, "rule"));
	word[0] = '\0';
	agentd_get_strcpy(agentd_map_get(r, "state"), word, sizeof(word));
	state = ad_decision_state_parse(word);
	d->state
	    = state < 0 ? AD_DECISION_PENDING : (enum ad_decision_state)state;
	d->proposed_ms = int_of(agentd_map_get(r, "proposed_ms"));
	d->deadline_ms = int_of(agentd_map_get(r, "deadline_ms"));
	word[0]        = '\0';
	agentd_get_strcpy(
	    agentd_map_get(r, "at_deadline"), word, sizeof(word));
	d->at_deadline  = strcmp(word, "approve") == 0 ? AD_AT_DEADLINE_APPROVE
	                                               : AD_AT_DEADLINE_REJECT;
	d->decided_ms   = int_of(agentd_map_get(r, "decided_ms"));
	d->by           = str_of(agentd_map_get(r, "by"));
	d->note         = str_of(agentd_map_get(r, "note"));
	d->delivered_ms = int_of(agentd_map_get(r, "delivered_ms"));
	agentd_doc_free(doc);
	*out = d;
	return 0;
}

void
ad_decision_free(struct ad_decision *d)
{
	if (d == NULL)
		return;
	free(d->agent);
	free(d->instance);
	free(d->type);
	free(d->title);
	free(d->reasoning);
	free(d->params);
	free(d->proposed_params);
	free(d->rule);
	free(d->by);
	free(d->note);
	free(d);
}

/* ---- reading ----------------------------------------------------------- */

static int
read_begin(struct ad_decisions *d, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(d->gate);
	if ((rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, txn)) != 0) {
		pthread_rwlock_unlock(d->gate);
		return AGENTD_EIO;
	}
	return 0;
}

static void
read_end(struct ad_decisions *d, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(d->gate);
}

int
ad_decisions_get(struct ad_decisions *d, uint64_t id, struct ad_decision **out)
{
	unsigned char kb[8];
	MDB_val       k = { 8, kb }, v;
	MDB_txn      *txn;
	int           rc;

	id_key(id, kb);
	if ((rc = read_begin(d, &txn)) != 0)
		return rc;
	rc = mdb_get(txn, d->all, &k, &v);
	if (rc == 0)
		rc = ad_decision_decode(v.mv_data, v.mv_size, out);
	else
		rc = rc == MDB_NOTFOUND ? AGENTD_ENOENT : AGENTD_EIO;
	read_end(d, txn);
	return rc;
}

int
ad_decisions_get_many(struct ad_decisions *d, const uint64_t *ids, size_t n,
    ad_decision_fn fn, void *arg)
{
	unsigned char       kb[8];
	MDB_val             k = { 8, kb }, v;
	MDB_txn            *txn;
	struct ad_decision *dc;
	int                 rc = 0;

	if (n == 0)
		return 0;
	if ((rc = read_begin(d, &txn)) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		id_key(ids[i], kb);
		if (mdb_get(txn, d->all, &k, &v) != 0
		    || ad_decision_decode(v.mv_data, v.mv_size, &dc) != 0)
			continue;
		rc = fn(arg, &dc);
		ad_decision_free(dc);
	}
	read_end(d, txn);
	return rc;
}

/*
 * Up to EACH_CHUNK records from *next on (next 0: the end the walk starts
 * from), decoded into list; *next is set past the last one, 0 at the end.
 */
static int
each_chunk(struct ad_decisions *d, int oldest_first, uint64_t *next,
    struct ad_decision **list, size_t *n)
{
	unsigned char kb[8];
	MDB_val       k = { 8, kb }, v;
	MDB_txn      *txn;
	MDB_cursor   *cur;
	MDB_cursor_op op;
	uint64_t      id = 0;
	int           rc;

	*n = 0;
	if ((rc = read_begin(d, &txn)) != 0)
		return rc;
	if (mdb_cursor_open(txn, d->all, &cur) != 0) {
		read_end(d, txn);
		return AGENTD_EIO;
	}
	if (*next == 0)
		rc = mdb_cursor_get(
		    cur, &k, &v, oldest_first ? MDB_FIRST : MDB_LAST);
	else {
		id_key(*next, kb);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (!oldest_first && rc == 0 && key_id(&k) != *next)
			rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
		else if (!oldest_first && rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	}
	op = oldest_first ? MDB_NEXT : MDB_PREV;
	while (rc == 0 && *n < EACH_CHUNK) {
		id = key_id(&k);
		if (ad_decision_decode(v.mv_data, v.mv_size, &list[*n]) == 0)
			(*n)++;
		rc = mdb_cursor_get(cur, &k, &v, op);
	}
	*next = rc == 0 ? key_id(&k) : 0;
	(void)id;
	mdb_cursor_close(cur);
	read_end(d, txn);
	return 0;
}

int
ad_decisions_each(
    struct ad_decisions *d, int oldest_first, ad_decision_fn fn, void *arg)
{
	struct ad_decision **list = ad_xcalloc(EACH_CHUNK, sizeof(*list));
	uint64_t             next = 0;
	size_t               n, i;
	int                  rv = 0, first = 1;

	while (rv == 0 && (first || next != 0)) {
		first = 0;
		if ((rv = each_chunk(d, oldest_first, &next, list, &n)) != 0)
			break;
		for (i = 0; i < n; i++) {
			if (rv == 0)
				rv = fn(arg, &list[i]);
			ad_decision_free(list[i]);
		}
		if (n == 0)
			break;
	}
	free(list);
	return rv;
}

/* One entry of `decisions_open` given to fn. */
static int
open_entry(
    const MDB_val *k, const MDB_val *v, ad_decision_open_fn fn, void *arg)
{
	const agentd_value *r;
	agentd_doc         *doc;
	char                agent[64];
	int                 rv;

	if (agentd_parse(v->mv_data, v->mv_size, &doc) != 0)
		return 0;
	r        = agentd_doc_root(doc);
	agent[0] = '\0';
	agentd_get_strcpy(agentd_map_get(r, "agent"), agent, sizeof(agent));
	rv = fn(arg, key_id(k), agent,
	    (enum ad_decision_state)int_of(agentd_map_get(r, "state")),
	    int_of(agentd_map_get(r, "deadline_ms")), 1);
	agentd_doc_free(doc);
	return rv;
}

/* A record at or above the floor without an entry: given to fn if it was
 * decided and not delivered (its record ends in delivered_ms 0). */
static int
open_record(
    const MDB_val *k, const MDB_val *v, ad_decision_open_fn fn, void *arg)
{
	static const char   tail[] = "\xac"
	                             "delivered_ms"
	                             "\x00";
	struct ad_decision *dc;
	int                 rv;

	if (v->mv_size < sizeof(tail) - 1
	    || memcmp(
	           (const char *)v->mv_data + v->mv_size - (sizeof(tail) - 1),
	           tail, sizeof(tail) - 1)
	        != 0
	    || ad_decision_decode(v->mv_data, v->mv_size, &dc) != 0)
		return 0;
	rv = 0;
	if (dc->delivered_ms == 0 && dc->state != AD_DECISION_PENDING)
		rv = fn(arg, key_id(k), dc->agent, dc->state, 0, 0);
	ad_decision_free(dc);
	return rv;
}

int
ad_decisions_open_each(
    struct ad_decisions *d, ad_decision_open_fn fn, void *arg)
{
	MDB_txn      *txn;
	MDB_cursor   *oc, *ac;
	MDB_val       ok, ov, ak, av;
	unsigned char fb[8];
	uint64_t      floor = 1;
	int           orc, arc, rv = 0;

	if ((rv = read_begin(d, &txn)) != 0)
		return rv;
	if (mdb_cursor_open(txn, d->open, &oc) != 0) {
		read_end(d, txn);
		return AGENTD_EIO;
	}
	if (mdb_cursor_open(txn, d->all, &ac) != 0) {
		mdb_cursor_close(oc);
		read_end(d, txn);
		return AGENTD_EIO;
	}
	/* The floor leads (key 0); the entries follow in id order. */
	orc = mdb_cursor_get(oc, &ok, &ov, MDB_FIRST);
	if (orc == 0 && key_id(&ok) == 0 && ok.mv_size == 8) {
		if (ov.mv_size == 8)
			floor = key_id(&ov);
		orc = mdb_cursor_get(oc, &ok, &ov, MDB_NEXT);
	}
	id_key(floor, fb);
	ak.mv_data = fb;
	ak.mv_size = 8;
	arc        = mdb_cursor_get(ac, &ak, &av, MDB_SET_RANGE);
	/* Both in id order, merged: an entry stands for its record. */
	while (rv == 0 && (orc == 0 || arc == 0)) {
		uint64_t oid = orc == 0 ? key_id(&ok) : UINT64_MAX;
		uint64_t aid = arc == 0 ? key_id(&ak) : UINT64_MAX;

		if (oid <= aid) {
			rv  = open_entry(&ok, &ov, fn, arg);
			orc = mdb_cursor_get(oc, &ok, &ov, MDB_NEXT);
			if (aid == oid)
				arc = mdb_cursor_get(ac, &ak, &av, MDB_NEXT);
		} else {
			rv  = open_record(&ak, &av, fn, arg);
			arc = mdb_cursor_get(ac, &ak, &av, MDB_NEXT);
		}
	}
	mdb_cursor_close(ac);
	mdb_cursor_close(oc);
	read_end(d, txn);
	return rv;
}

uint64_t
ad_decisions_last_id(struct ad_decisions *d)
{
	MDB_txn    *txn;
	MDB_cursor *cur;
	MDB_val     k, v;
	uint64_t    id = 0;

	if (read_begin(d, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, d->all, &cur) == 0) {
		if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0)
			id = key_id(&k);
		mdb_cursor_close(cur);
	}
	read_end(d, txn);
	return id;
}
