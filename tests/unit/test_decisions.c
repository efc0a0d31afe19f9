#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include <agentd/msg.h>

#include "store/audit.h"
#include "store/decisions.h"
#include "store/store.h"
#include "tap.h"

/*
 * The decisions' open set across versions: a database written before
 * floors (every open decision has an entry in decisions_open) opens with
 * the floor after its last id, and from then on the decisions decided
 * at their proposal (no entry) from the floor on, not delivered, are
 * open; those below it are delivered.
 */

static char tmp[] = "/tmp/agentd-test-decisions-XXXXXX";

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void
key8(uint64_t id, unsigned char k[8])
{
	for (int i = 7; i >= 0; i--, id >>= 8)
		k[i] = (unsigned char)id;
}

/* Put decision id (agent "a"), and its open entry with entry. */
static void
put_decision(MDB_env *env, uint64_t id, enum ad_decision_state st,
    int64_t delivered_ms, int entry)
{
	struct ad_decision d;
	agentd_writer     *w;
	unsigned char      k[8];
	MDB_txn           *txn;
	MDB_dbi            all, open;
	MDB_val            key = { 8, k }, val;

	memset(&d, 0, sizeof(d));
	d.id         = id;
	d.agent      = "a";
	d.instance   = "a-1";
	d.type       = "t";
	d.title      = "t";
	d.reasoning  = "";
	d.rule       = "r";
	d.by         = st == AD_DECISION_PENDING ? "" : "policy";
	d.note       = "";
	d.state      = st;
	d.risk       = st == AD_DECISION_PENDING ? AD_RISK_HIGH : AD_RISK_LOW;
	d.decided_ms = st == AD_DECISION_PENDING ? 0 : 1;
	d.delivered_ms = delivered_ms;
	agentd_writer_new(&w);
	key8(id, k);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "decisions", MDB_CREATE, &all);
	mdb_dbi_open(txn, "decisions_open", MDB_CREATE, &open);
	ad_decision_write(w, &d, 0);
	val.mv_data = (void *)agentd_writer_data(w, &val.mv_size);
	mdb_put(txn, all, &key, &val, 0);
	if (entry) {
		agentd_writer_reset(w);
		agentd_write_map(w, 3);
		agentd_write_str(w, "agent");
		agentd_write_str(w, "a");
		agentd_write_str(w, "state");
		agentd_write_int(w, st);
		agentd_write_str(w, "deadline_ms");
		agentd_write_int(w, st == AD_DECISION_PENDING ? 99 : 0);
		val.mv_data = (void *)agentd_writer_data(w, &val.mv_size);
		mdb_put(txn, open, &key, &val, 0);
	}
	mdb_txn_commit(txn);
	agentd_writer_free(w);
}

/* The floor as stored; 0: none. */
static uint64_t
floor_of(MDB_env *env)
{
	unsigned char k[8] = { 0 };
	MDB_txn      *txn;
	MDB_dbi       open;
	MDB_val       key = { 8, k }, val;
	uint64_t      f   = 0;

	mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (mdb_dbi_open(txn, "decisions_open", 0, &open) == 0
	    && mdb_get(txn, open, &key, &val) == 0 && val.mv_size == 8)
		for (int i = 0; i < 8; i++)
			f = f << 8 | ((unsigned char *)val.mv_data)[i];
	mdb_txn_abort(txn);
	return f;
}

static int
list_one(void *arg, uint64_t id, const char *agent,
    enum ad_decision_state state, int64_t deadline_ms, int entry)
{
	char *out = arg;

	(void)deadline_ms;
	snprintf(out + strlen(out), 256 - strlen(out), "%s%llu:%s:%d:%d",
	    out[0] ? " " : "", (unsigned long long)id, agent, (int)state,
	    entry);
	return 0;
}

static const char *
listing(struct ad_decisions *d)
{
	static char out[256];

	out[0] = '\0';
	if (ad_decisions_open_each(d, list_one, out) != 0)
		return "(failed)";
	return out;
}

int
main(void)
{
	struct ad_store     *s = NULL;
	struct ad_decisions *d = NULL;
	struct ad_audit_side side;
	unsigned char        fv[8];
	char                 err[256] = "";
	MDB_env             *env;
	MDB_txn             *txn;
	MDB_val              key, val;

	plan(7);
	if (mkdtemp(tmp) == NULL || ad_store_open(tmp, &s, err, sizeof(err)))
		return 1;
	env = ad_store_env(s);
	/* Written before floors: 1 delivered, 2 approved and 3 pending
	 * with their entries. */
	put_decision(env, 1, AD_DECISION_APPROVED, 5, 0);
	put_decision(env, 2, AD_DECISION_APPROVED, 0, 1);
	put_decision(env, 3, AD_DECISION_PENDING, 0, 1);
	ok(floor_of(env) == 0, "a database of before has no floor");
	ok(ad_decisions_open(s, &d, err, sizeof(err)) == 0, "it opens");
	ok(floor_of(env) == 4, "with the floor after its last id");
	is_str(listing(d), "2:a:1:1 3:a:0:1",
	    "its open decisions are those with entries");
	/* Since: 4 delivered and 5 not, neither with an entry. */
	put_decision(env, 4, AD_DECISION_APPROVED, 9, 0);
	put_decision(env, 5, AD_DECISION_APPROVED, 0, 0);
	ad_decisions_close(d);
	ok(ad_decisions_open(s, &d, err, sizeof(err)) == 0
	        && floor_of(env) == 4,
	    "opened again, the floor is kept");
	is_str(listing(d), "2:a:1:1 3:a:0:1 5:a:1:0",
	    "a decided one without an entry above the floor is open");
	/* A delivered batch moved the floor past 5. */
	ad_decisions_floor_side(d, 6, fv, &side);
	mdb_txn_begin(env, NULL, 0, &txn);
	key.mv_data = (void *)side.key;
	key.mv_size = side.keylen;
	val.mv_data = (void *)side.val;
	val.mv_size = side.vallen;
	mdb_put(txn, side.dbi, &key, &val, 0);
	mdb_txn_commit(txn);
	is_str(listing(d), "2:a:1:1 3:a:0:1",
	    "below the floor, one without an entry is delivered");
	ad_decisions_close(d);
	ad_store_close(s);
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
