#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <lmdb.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

/*
 * Layout of the environment this code writes and understands.  Bump it when
 * a database changes shape in a way older code would misread, and teach
 * ad_store_open to migrate from the previous value.
 */
/*
 * 2: `decisions_open` holds a floor, and a decision decided at its
 * proposal below it without an entry is delivered (store/decisions.h).
 * An agentd of layout 1 would take every such decision not yet delivered
 * for delivered: it must refuse the environment, so it is marked 2 at
 * open (a layout 1 environment reads as one of 2 without a floor).
 */
#define STORE_LAYOUT 2

/* A start; MDB_MAP_FULL surfaces as AGENTD_ETOOBIG until growth exists. */
#define STORE_MAPSIZE ((size_t)64 << 20)
#define STORE_MAXDBS 16
#define STORE_MAXREADERS 1022

struct ad_store {
	/*
	 * LMDB may change the map size only while this process has no
	 * transaction open.  Every transaction holds the gate for reading;
	 * whoever grows the map (the audit writer) holds it for writing.
	 */
	pthread_rwlock_t gate;
	MDB_env         *env;
	MDB_dbi          agents;
	MDB_dbi          versions;  /* NAME NUL HASH: every plugin loaded */
	MDB_dbi          schedules; /* NAME NUL SCHEDULE: its last run */
	MDB_dbi          meta;
};

/*
 * The one place LMDB codes become agentd codes.  The original is logged
 * here because the caller only ever sees the agentd code.  MDB_NOTFOUND is
 * an ordinary answer, not a failure, so it is not logged.
 */
static int
store_err(int rc, const char *what)
{
	if (rc == MDB_NOTFOUND)
		return AGENTD_ENOENT;
	ad_error("store: %s: %s", what, mdb_strerror(rc));
	return rc == MDB_MAP_FULL ? AGENTD_ETOOBIG : AGENTD_EIO;
}

/* ---- record codec ------------------------------------------------------ */

/* A NULL field is stored as nil so that it reads back as NULL. */
static int
write_str_or_nil(agentd_writer *w, const char *key, const char *val)
{
	int rv;

	if ((rv = agentd_write_str(w, key)) != 0)
		return rv;
	return val != NULL ? agentd_write_str(w, val) : agentd_write_nil(w);
}

static int
record_encode(agentd_writer *w, const struct ad_agent_record *r)
{
	int rv = 0;

	if ((rv = agentd_write_map(w, 6)) != 0
	    || (rv = write_str_or_nil(w, "by", r->by)) != 0
	    || (rv = write_str_or_nil(w, "plugin", r->plugin_path)) != 0
	    || (rv = write_str_or_nil(w, "hash", r->plugin_hash)) != 0
	    || (rv = write_str_or_nil(w, "version", r->plugin_version)) != 0
	    || (rv = write_str_or_nil(w, "conf", r->conf_file)) != 0
	    || (rv = agentd_write_str(w, "loaded_ms")) != 0
	    || (rv = agentd_write_int(w, r->loaded_ms)) != 0)
		return rv;
	return 0;
}

/*
 * A missing or nil field reads as NULL, so a record written by a later
 * layout-compatible release without some field still loads.
 */
static int
read_str(const agentd_value *map, const char *key, char **out)
{
	const agentd_value *v = agentd_map_get(map, key);
	const char         *s;
	size_t              n;

	*out = NULL;
	if (v == NULL || agentd_type_of(v) == AGENTD_T_NIL)
		return 0;
	if (agentd_get_str(v, &s, &n) != 0)
		return AGENTD_EPROTO;
	*out = ad_xstrndup(s, n);
	return 0;
}

static int
record_fields(const agentd_value *root, struct ad_agent_record *r)
{
	const agentd_value *ms;

	if (agentd_type_of(root) != AGENTD_T_MAP)
		return AGENTD_EPROTO;
	if (read_str(root, "plugin", &r->plugin_path) != 0
	    || read_str(root, "hash", &r->plugin_hash) != 0
	    || read_str(root, "version", &r->plugin_version) != 0
	    || read_str(root, "conf", &r->conf_file) != 0
	    || read_str(root, "by", &r->by) != 0)
		return AGENTD_EPROTO;
	ms = agentd_map_get(root, "loaded_ms");
	if (ms != NULL && agentd_get_int(ms, &r->loaded_ms) != 0)
		return AGENTD_EPROTO;
	return 0;
}

/* Decode one `agents` entry; *out: caller owns, ad_agent_record_free. */
static int
record_decode(
    const MDB_val *key, const MDB_val *val, struct ad_agent_record **out)
{
	struct ad_agent_record *r = ad_xcalloc(1, sizeof(*r));
	agentd_doc             *doc;
	int                     rv;

	/* agents: NAME; versions: NAME NUL HASH */
	r->name
	    = ad_xstrndup(key->mv_data, strnlen(key->mv_data, key->mv_size));
	rv = agentd_parse(val->mv_data, val->mv_size, &doc);
	if (rv == 0) {
		rv = record_fields(agentd_doc_root(doc), r);
		agentd_doc_free(doc);
	}
	if (rv != 0) {
		ad_error("store: the record of agent %s is unreadable (%s)",
		    r->name, agentd_strerror(rv));
		ad_agent_record_free(r);
		return rv;
	}
	*out = r;
	return 0;
}

void
ad_agent_record_free(struct ad_agent_record *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->plugin_path);
	free(r->plugin_hash);
	free(r->plugin_version);
	free(r->conf_file);
	free(r->by);
	free(r);
}

/* ---- opening ----------------------------------------------------------- */

static int
layout_write(MDB_txn *txn, MDB_dbi meta)
{
	agentd_writer *w   = NULL;
	MDB_val        key = { 6, "layout" };
	MDB_val        val;
	size_t         len;
	int            rc;

	if (agentd_writer_new(&w) != 0
	    || agentd_write_int(w, STORE_LAYOUT) != 0) {
		agentd_writer_free(w);
		return ENOMEM;
	}
	val.mv_data = (void *)agentd_writer_data(w, &len);
	val.mv_size = len;
	rc          = mdb_put(txn, meta, &key, &val, 0);
	agentd_writer_free(w);
	return rc;
}

/*
 * The layout recorded in meta: 0 if there is none yet (a new environment),
 * -1 if the record is not a positive integer.
 */
static int
layout_read(MDB_txn *txn, MDB_dbi meta, int64_t *layout)
{
	MDB_val     key = { 6, "layout" };
	MDB_val     val;
	agentd_doc *doc;
	int         rc;

	*layout = 0;
	if ((rc = mdb_get(txn, meta, &key, &val)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	*layout = -1;
	if (agentd_parse(val.mv_data, val.mv_size, &doc) != 0)
		return 0;
	if (agentd_get_int(agentd_doc_root(doc), layout) != 0 || *layout < 1)
		*layout = -1;
	agentd_doc_free(doc);
	return 0;
}

static void
layout_refuse(int64_t layout, const char *db, char *err, size_t errlen)
{
	if (layout < 0)
		ad_seterr(err, errlen,
		    "state in %s has an unreadable layout record: restore it "
		    "from a backup or point --state-dir elsewhere",
		    db);
	else
		ad_seterr(err, errlen,
		    "state in %s has layout %lld, newer than this agentd "
		    "understands (%d): run the newer agentd or point "
		    "--state-dir elsewhere",
		    db, (long long)layout, STORE_LAYOUT);
}

/*
 * Check (or, in a new environment, write) the layout and open the named
 * databases, all in one write transaction so a refused environment is left
 * exactly as it was.
 */
static int
store_setup(struct ad_store *s, const char *db, char *err, size_t errlen)
{
	MDB_txn *txn;
	int64_t  layout;
	int      rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0
	    || (rc = layout_read(txn, s->meta, &layout)) != 0)
		goto abort;
	if (layout > STORE_LAYOUT || layout < 0) {
		mdb_txn_abort(txn);
		layout_refuse(layout, db, err, errlen);
		return AGENTD_EINVAL;
	}
	if (layout < STORE_LAYOUT && (rc = layout_write(txn, s->meta)) != 0)
		goto abort; /* new, or layout 1: upgraded (see STORE_LAYOUT) */
	if ((rc = mdb_dbi_open(txn, "agents", MDB_CREATE, &s->agents)) != 0
	    || (rc = mdb_dbi_open(txn, "versions", MDB_CREATE, &s->versions))
	        != 0
	    || (rc = mdb_dbi_open(txn, "schedules", MDB_CREATE, &s->schedules))
	        != 0)
		goto abort;
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
abort:
	mdb_txn_abort(txn);
fail:
	ad_seterr(err, errlen, "cannot set up state in %s: %s", db,
	    mdb_strerror(rc));
	return rc == MDB_MAP_FULL ? AGENTD_ETOOBIG : AGENTD_EIO;
}

/* What a person should do about an errno met opening the state. */
static const char *
open_hint(int rc, const char *state_dir, char *buf, size_t len)
{
	if (rc == ENOTDIR || rc == EEXIST)
		snprintf(buf, len,
		    "check --state-dir: %s or a folder under it is a file",
		    state_dir);
	else
		snprintf(buf, len, "check --state-dir or the owner of %s",
		    state_dir);
	return buf;
}

static int
env_open(struct ad_store *s, const char *state_dir, const char *db, char *err,
    size_t errlen)
{
	char        hint[AD_ERRLEN];
	MDB_envinfo info;
	int         rc;

	if ((rc = mdb_env_create(&s->env)) != 0)
		goto fail;
	/* No map size before opening: a map grown by an earlier run (its size
	 * is kept in the file) stays as large; at least STORE_MAPSIZE after.
	 */
	if ((rc = mdb_env_set_maxdbs(s->env, STORE_MAXDBS)) != 0
	    || (rc = mdb_env_set_maxreaders(s->env, STORE_MAXREADERS)) != 0)
		goto fail;
	/*
	 * No MDB_NOSYNC/MDB_NOMETASYNC: a committed write must survive a
	 * power cut.  MDB_NOTLS because read transactions may begin on one
	 * supervisor thread and end on another.
	 */
	if ((rc = mdb_env_open(s->env, db, MDB_NOTLS, 0600)) != 0
	    || (rc = mdb_env_info(s->env, &info)) != 0
	    || (info.me_mapsize < STORE_MAPSIZE
	        && (rc = mdb_env_set_mapsize(s->env, STORE_MAPSIZE)) != 0))
		goto fail;
	return 0;
fail:
	ad_seterr(err, errlen, "cannot open state in %s: %s: %s", db,
	    mdb_strerror(rc), open_hint(rc, state_dir, hint, sizeof(hint)));
	return rc == ENOMEM ? AGENTD_ENOMEM : AGENTD_EIO;
}

/* Writer-preferring, so a map growth is not starved by a stream of
 * readers. */
static void
init_gate(pthread_rwlock_t *gate)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(gate, &attr);
	pthread_rwlockattr_destroy(&attr);
}

/* The size to grow a map of cur bytes, used of them in use, to fit need
 * more; 0 if it cannot be represented. */
static size_t
grow_size(size_t cur, size_t used, size_t need)
{
	size_t want = used + 2 * need; /* copy-on-write touches branch pages */
	size_t size = cur;

	do {
		if (size > SIZE_MAX / 2)
			return 0;
		size *= 2;
	} while (size < want);
	return size;
}

int
ad_env_grow(MDB_env *env, pthread_rwlock_t *gate, size_t seen, size_t need,
    size_t *grown_to)
{
	MDB_envinfo info;
	MDB_stat    st;
	size_t      size = 0;
	int         rc   = 0;

	pthread_rwlock_wrlock(gate);
	mdb_env_info(env, &info);
	mdb_env_stat(env, &st);
	if (info.me_mapsize <= seen) {
		size = grow_size(info.me_mapsize,
		    (info.me_last_pgno + 1) * (size_t)st.ms_psize, need);
		rc = size != 0 ? mdb_env_set_mapsize(env, size) : MDB_MAP_FULL;
	}
	pthread_rwlock_unlock(gate);
	*grown_to = rc == 0 ? size : 0;
	if (rc == 0 && size != 0)
		ad_info("store: the map grew from %zu to %zu KiB",
		    info.me_mapsize >> 10, size >> 10);
	return rc;
}

const char *
ad_env_hint(MDB_env *env, int rc, char *buf, size_t len)
{
	struct statvfs     vfs;
	const char        *path = NULL;
	unsigned long long avail;

	buf[0] = '\0';
	if ((rc != EIO && rc != ENOSPC && rc != MDB_MAP_FULL)
	    || mdb_env_get_path(env, &path) != 0 || path == NULL
	    || statvfs(path, &vfs) != 0)
		return buf;
	avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	/* Less than 1 MiB or 1% left: call it full. */
	if (avail < (1ull << 20)
	    || avail < (unsigned long long)vfs.f_blocks * vfs.f_frsize / 100)
		snprintf(buf, len,
		    "; the file system holding %s has %llu KiB free: make "
		    "room there",
		    path, avail >> 10);
	return buf;
}

pthread_rwlock_t *
ad_store_gate(struct ad_store *s)
{
	return &s->gate;
}

int
ad_store_open(
    const char *state_dir, struct ad_store **out, char *err, size_t errlen)
{
	struct ad_store *s;
	char             hint[AD_ERRLEN];
	char            *db   = ad_path_join(state_dir, "db");
	int              dead = 0;
	int              rv;

	/* 0700: agent state and the audit trail are nobody else's business. */
	if ((rv = ad_mkdir_p(db, 0700)) != 0) {
		ad_seterr(err, errlen,
		    "cannot create state directory %s: %s: %s", db,
		    strerror(rv),
		    open_hint(rv, state_dir, hint, sizeof(hint)));
		free(db);
		return AGENTD_EIO;
	}
	s = ad_xcalloc(1, sizeof(*s));
	init_gate(&s->gate);
	if ((rv = env_open(s, state_dir, db, err, errlen)) != 0
	    || (rv = store_setup(s, db, err, errlen)) != 0) {
		ad_store_close(s);
		free(db);
		return rv;
	}
	/* A supervisor killed with -9 leaves its reader slots behind. */
	if (mdb_reader_check(s->env, &dead) == 0 && dead > 0)
		ad_info(
		    "store: cleared %d stale reader slot(s) in %s", dead, db);
	free(db);
	*out = s;
	return 0;
}

void
ad_store_close(struct ad_store *s)
{
	if (s == NULL)
		return;
	/* Named dbi handles close with the environment. */
	if (s->env != NULL)
		mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->gate);
	free(s);
}

MDB_env *
ad_store_env(struct ad_store *s)
{
	return s->env;
}

/* ---- the agents database ----------------------------------------------- */

static int
name_key(const char *name, MDB_val *key)
{
	if (!ad_valid_name(name))
		return AGENTD_EINVAL;
	key->mv_data = (void *)name;
	key->mv_size = strlen(name);
	return 0;
}

/* Run one put or delete in its own write transaction and commit it. */
static int
write_one(struct ad_store *s, MDB_dbi dbi, MDB_val *key, MDB_val *val,
    const char *what)
{
	MDB_txn *txn;
	int      rc;

	pthread_rwlock_rdlock(&s->gate);
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) == 0) {
		rc = val != NULL ? mdb_put(txn, dbi, key, val, 0)
		                 : mdb_del(txn, dbi, key, NULL);
		if (rc != 0)
			mdb_txn_abort(txn);
		else
			rc = mdb_txn_commit(txn);
	}
	pthread_rwlock_unlock(&s->gate);
	return rc != 0 ? store_err(rc, what) : 0;
}

int
ad_store_agent_put(struct ad_store *s, const struct ad_agent_record *r)
{
	agentd_writer *w;
	MDB_val        key, val;
	size_t         len;
	int            rv;

	if ((rv = name_key(r->name, &key)) != 0)
		return rv;
	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	if ((rv = record_encode(w, r)) == 0) {
		val.mv_data = (void *)agentd_writer_data(w, &len);
		val.mv_size = len;
		rv          = write_one(
		             s, s->agents, &key, &val, "writing an agent record");
	}
	agentd_writer_free(w);
	return rv;
}

int
ad_store_agent_del(struct ad_store *s, const char *name)
{
	MDB_val key;
	int     rv;

	if ((rv = name_key(name, &key)) != 0)
		return rv;
	return write_one(s, s->agents, &key, NULL, "removing an agent record");
}

int
ad_store_agent_get(
    struct ad_store *s, const char *name, struct ad_agent_record **out)
{
	MDB_txn *txn;
	MDB_val  key, val;
	int      rc, rv;

	if ((rv = name_key(name, &key)) != 0)
		return rv;
	pthread_rwlock_rdlock(&s->gate);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&s->gate);
		return store_err(rc, "reading an agent record");
	}
	rc = mdb_get(txn, s->agents, &key, &val);
	/* val lives in the map only while txn does: decode first. */
	rv = rc == 0 ? record_decode(&key, &val, out)
	             : store_err(rc, "reading an agent record");
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->gate);
	return rv;
}

struct record_list {
	struct ad_agent_record **v;
	size_t                   n, cap;
};

static void
list_push(struct record_list *l, struct ad_agent_record *r)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v   = ad_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = r;
}

static void
list_free(struct record_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		ad_agent_record_free(l->v[i]);
	free(l->v);
}

/*
 * Copy the records of dbi out of one read transaction, in key order: all
 * of them, or those whose key starts with prefix (plen bytes).
 */
static int
list_load(struct ad_store *s, MDB_dbi dbi, const void *prefix, size_t plen,
    struct record_list *l)
{
	struct ad_agent_record *r;
	MDB_txn                *txn;
	MDB_cursor             *cur;
	MDB_val                 key, val;
	int                     rc, rv = 0;

	pthread_rwlock_rdlock(&s->gate);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&s->gate);
		return store_err(rc, "listing agent records");
	}
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		pthread_rwlock_unlock(&s->gate);
		return store_err(rc, "listing agent records");
	}
	key.mv_data = (void *)prefix;
	key.mv_size = plen;
	rc          = mdb_cursor_get(
	             cur, &key, &val, plen > 0 ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (key.mv_size < plen
		    || (plen > 0 && memcmp(key.mv_data, prefix, plen) != 0)) {
			rc = MDB_NOTFOUND;
			break;
		}
		if ((rv = record_decode(&key, &val, &r)) != 0)
			break;
		list_push(l, r);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		rv = store_err(rc, "listing agent records");
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->gate);
	return rv;
}

/*
 * The records are copied out and the transaction ended before fn runs, so
 * fn may itself put or delete records and a slow fn does not pin old pages
 * of the map.  There are as many records as configured agents: few.
 */
int
ad_store_agent_each(struct ad_store *s,
    int (*fn)(void *arg, const struct ad_agent_record *r), void *arg)
{
	struct record_list l = { NULL, 0, 0 };
	int                rv;

	rv = list_load(s, s->agents, NULL, 0, &l);
	for (size_t i = 0; rv == 0 && i < l.n; i++)
		rv = fn(arg, l.v[i]);
	list_free(&l);
	return rv;
}

/* ---- the versions database --------------------------------------------- */

int
ad_store_version_put(struct ad_store *s, const struct ad_agent_record *r)
{
	agentd_writer *w;
	MDB_val        key, val;
	size_t         nlen, hlen, len;
	char          *k;
	int            rv;

	if (!ad_valid_name(r->name) || r->plugin_hash == NULL)
		return AGENTD_EINVAL;
	nlen = strlen(r->name);
	hlen = strlen(r->plugin_hash);
	k    = ad_xmalloc(nlen + 1 + hlen);
	memcpy(k, r->name, nlen + 1);
	memcpy(k + nlen + 1, r->plugin_hash, hlen);
	key.mv_data = k;
	key.mv_size = nlen + 1 + hlen;
	if ((rv = agentd_writer_new(&w)) == 0) {
		if ((rv = record_encode(w, r)) == 0) {
			val.mv_data = (void *)agentd_writer_data(w, &len);
			val.mv_size = len;
			rv          = write_one(s, s->versions, &key, &val,
			             "writing a plugin version record");
		}
		agentd_writer_free(w);
	}
	free(k);
	return rv;
}

int
ad_store_version_each(struct ad_store *s, const char            *name,
    int (*fn)(void *arg, const struct ad_agent_record *r), void *arg)
{
	struct record_list l = { NULL, 0, 0 };
	int                rv;

	if (!ad_valid_name(name))
		return AGENTD_EINVAL;
	/* The name and its NUL: "price" does not list "pricing". */
	rv = list_load(s, s->versions, name, strlen(name) + 1, &l);
	for (size_t i = 0; rv == 0 && i < l.n; i++) {
		/* the hash is the rest of the key, also in the value */
		rv = fn(arg, l.v[i]);
	}
	list_free(&l);
	return rv;
}

/* ---- the schedules database ------------------------------------------- */

/* Two names of at most 63 bytes, a NUL between them. */
#define SCHED_KEY_MAX 128

/* NAME NUL SCHEDULE into buf (AGENTD_EINVAL for a bad agent name). */
static int
schedule_key(
    const char *agent, const char *name, char *buf, size_t len, MDB_val *key)
{
	int n;

	if (!ad_valid_name(agent) || !ad_valid_name(name))
		return AGENTD_EINVAL;
	n = snprintf(buf, len, "%s%c%s", agent, '\0', name);
	if (n < 0 || (size_t)n >= len)
		return AGENTD_EINVAL;
	key->mv_data = buf;
	key->mv_size = (size_t)n;
	return 0;
}

/* One change of the schedules database in txn. */
static int
schedule_change(struct ad_store *s, MDB_txn *txn, agentd_writer *w,
    const struct ad_schedule_change *c)
{
	const struct ad_schedule_record *r = c->rec;
	MDB_val                          key, val;
	char                             buf[SCHED_KEY_MAX];
	size_t                           len;
	int                              rv, rc;

	if ((rv = schedule_key(c->agent, c->name, buf, sizeof(buf), &key))
	    != 0)
		return rv;
	if (r == NULL) {
		rc = mdb_del(txn, s->schedules, &key, NULL);
		return rc == 0 || rc == MDB_NOTFOUND
		    ? 0
		    : store_err(rc, "removing a schedule");
	}
	agentd_writer_reset(w);
	if ((rv = agentd_write_map(w, 3)) != 0
	    || (rv = agentd_write_str(w, "spec")) != 0
	    || (rv = agentd_write_str(w, r->spec)) != 0
	    || (rv = agentd_write_str(w, "last_due")) != 0
	    || (rv = agentd_write_int(w, r->last_due_ms)) != 0
	    || (rv = agentd_write_str(w, "next_due")) != 0
	    || (rv = agentd_write_int(w, r->next_due_ms)) != 0)
		return rv;
	val.mv_data = (void *)agentd_writer_data(w, &len);
	val.mv_size = len;
	rc          = mdb_put(txn, s->schedules, &key, &val, 0);
	return rc == 0 ? 0 : store_err(rc, "writing a schedule's run");
}

int
ad_store_schedule_apply(
    struct ad_store *s, const struct ad_schedule_change *v, size_t n)
{
	agentd_writer *w;
	MDB_txn       *txn;
	size_t         i;
	int            rc, rv = 0;

	if (n == 0)
		return 0;
	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	pthread_rwlock_rdlock(&s->gate);
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		rv = store_err(rc, "writing schedules");
	} else {
		for (i = 0; i < n && rv == 0; i++)
			rv = schedule_change(s, txn, w, &v[i]);
		if (rv != 0)
			mdb_txn_abort(txn);
		else if ((rc = mdb_txn_commit(txn)) != 0)
			rv = store_err(rc, "writing schedules");
	}
	pthread_rwlock_unlock(&s->gate);
	agentd_writer_free(w);
	return rv;
}

int
ad_store_schedule_put(struct ad_store *s, const char *agent, const char *name,
    const struct ad_schedule_record *r)
{
	struct ad_schedule_change c = { agent, name, r };

	return ad_store_schedule_apply(s, &c, 1);
}

int
ad_store_schedule_get(struct ad_store *s, const char *agent, const char *name,
    struct ad_schedule_record *r)
{
	MDB_txn            *txn;
	MDB_val             key, val;
	agentd_doc         *doc = NULL;
	const agentd_value *root;
	const char         *spec;
	size_t              slen;
	char                buf[SCHED_KEY_MAX];
	int                 rc, rv;

	memset(r, 0, sizeof(*r));
	if ((rv = schedule_key(agent, name, buf, sizeof(buf), &key)) != 0)
		return rv;
	pthread_rwlock_rdlock(&s->gate);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&s->gate);
		return store_err(rc, "reading a schedule's run");
	}
	rc = mdb_get(txn, s->schedules, &key, &val);
	/* val lives in the map only while txn does: decode first. */
	rv = rc != 0 ? store_err(rc, "reading a schedule's run")
	             : agentd_parse(val.mv_data, val.mv_size, &doc);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->gate);
	if (rv != 0)
		return rv == AGENTD_ENOENT ? rv : AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	if (agentd_get_str(agentd_map_get(root, "spec"), &spec, &slen) != 0
	    || agentd_get_int(
	           agentd_map_get(root, "last_due"), &r->last_due_ms)
	        != 0
	    || agentd_get_int(
	           agentd_map_get(root, "next_due"), &r->next_due_ms)
	        != 0) {
		agentd_doc_free(doc);
		return AGENTD_EPROTO;
	}
	r->spec = ad_xstrndup(spec, slen);
	agentd_doc_free(doc);
	return 0;
}

int
ad_store_schedule_del(struct ad_store *s, const char *agent, const char *name)
{
	struct ad_schedule_change c = { agent, name, NULL };

	return ad_store_schedule_apply(s, &c, 1);
}

int
ad_store_reader_check(struct ad_store *s, int *dead)
{
	int rc;

	*dead = 0;
	if ((rc = mdb_reader_check(s->env, dead)) != 0)
		return store_err(rc, "clearing stale readers");
	return 0;
}
