/*
 * store.h - the LMDB environment under the state directory.
 *
 * One environment, DIR/db/{data,lock}.mdb, holds every named database of
 * agentd (layout in doc/state.md).  This module owns the environment and
 * the `agents` registry; later modules add their databases here.
 *
 * The supervisor is the only process that opens the environment, and never
 * uses it across fork() (workers are spawned with posix_spawn).
 */
#ifndef AD_STORE_H
#define AD_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct ad_store;

/* One configured agent as last started: the `agents` database. */
struct ad_agent_record {
	char   *name;
	char   *plugin_path;    /* the plugin file, resolved path */
	char   *plugin_hash;    /* "sha256:<64 hex>" of its content */
	char   *plugin_version; /* the descriptor's version string */
	char   *conf_file;      /* the .conf that defines it */
	int64_t loaded_ms;      /* wall clock when registered */
	char   *by;             /* who loaded it: "agentd start", "SIGHUP",
	                           "agentctl (uid 0)"; may be NULL */
};

/*
 * Open (creating if needed) the environment in state_dir/db.  On success
 * *out is caller owns, close with ad_store_close().
 */
int ad_store_open(
    const char *state_dir, struct ad_store **out, char *err, size_t errlen);
void ad_store_close(struct ad_store *s);

/*
 * The environment, for modules that keep their own databases in it (the
 * audit log).  Borrowed, valid until ad_store_close().
 */
struct MDB_env *ad_store_env(struct ad_store *s);

/*
 * The lock every transaction in the environment holds for reading, and
 * whoever grows the map holds for writing (LMDB resizes only with no
 * transaction open in the process).  Pass it to ad_audit_open().
 * Borrowed, valid until ad_store_close().
 */
pthread_rwlock_t *ad_store_gate(struct ad_store *s);

/*
 * Grow env's map to fit about `need` more bytes, unless someone grew it
 * since it was seen at `seen` bytes (the size read when the transaction
 * that filled it began).  Takes gate for writing, so the caller must hold
 * no transaction.  Returns 0 (*grown_to the new size, or 0 when someone
 * else had grown it) or an LMDB/errno code (MDB_MAP_FULL when the size
 * cannot be represented).  Any module writing to the environment grows
 * it through this, so MDB_MAP_FULL is never an answer while the disk has
 * room.
 */
int ad_env_grow(struct MDB_env *env, pthread_rwlock_t *gate, size_t seen,
    size_t need, size_t *grown_to);

/*
 * After a failed write (rc an LMDB or errno code): when the file system
 * holding env is (nearly) full, "; the file system holding DIR has N KiB
 * free: make room there" into buf; "" otherwise.  LMDB reports a short
 * write as EIO, so the reason has to be looked up.  Returns buf.
 */
const char *ad_env_hint(struct MDB_env *env, int rc, char *buf, size_t len);

/*
 * Record fields that are NULL are stored as nil and read back as NULL; a
 * name that is not a valid agent name is AGENTD_EINVAL; a record that does
 * not decode is AGENTD_EPROTO.
 */

/* Insert or replace the record of r->name (one durable transaction). */
int ad_store_agent_put(struct ad_store *s, const struct ad_agent_record *r);

/*
 * Read one record.  On success *out is caller owns, free with
 * ad_agent_record_free().  AGENTD_ENOENT if there is none.
 */
int ad_store_agent_get(
    struct ad_store *s, const char *name, struct ad_agent_record **out);

/* Remove a record; AGENTD_ENOENT if there was none. */
int ad_store_agent_del(struct ad_store *s, const char *name);

/*
 * Call fn for every record in name order; r is borrowed, valid until fn
 * returns.  Records are read before fn runs, so fn may put or delete.  A
 * non-zero return from fn stops the walk and is returned.
 */
int ad_store_agent_each(struct ad_store *s,
    int (*fn)(void *arg, const struct ad_agent_record *r), void *arg);

void ad_agent_record_free(struct ad_agent_record *r);

/*
 * The versions database: one record per agent and plugin content ever
 * loaded (key NAME NUL HASH), overwritten with the latest load.  each
 * walks one agent's records in hash order, like ad_store_agent_each.
 */
int ad_store_version_put(struct ad_store *s, const struct ad_agent_record *r);
int ad_store_version_each(struct ad_store *s, const char        *name,
    int (*fn)(void *arg, const struct ad_agent_record *r), void *arg);

/*
 * The schedules database: one record per agent and schedule (key NAME
 * NUL SCHEDULE), a msgpack map {"spec", "last_due", "next_due"} (wall
 * ms; 0: none), written after each run (supervisor/schedule.h).  get:
 * AGENTD_ENOENT when there is none; *spec caller owns, free with free().
 * del: removing one that is not there is no error.
 */
struct ad_schedule_record {
	char   *spec; /* what the schedule said when it was written */
	int64_t last_due_ms;
	int64_t next_due_ms;
};
int ad_store_schedule_put(struct ad_store *s, const char *agent,
    const char *name, const struct ad_schedule_record *r);
int ad_store_schedule_get(struct ad_store *s, const char *agent,
    const char *name, struct ad_schedule_record *r);
int ad_store_schedule_del(
    struct ad_store *s, const char *agent, const char *name);
/* Several puts (rec) and removals (rec NULL; none there is no error)
 * in one durable transaction, all or none: the scheduler's writes of
 * one turn of the main loop. */
struct ad_schedule_change {
	const char                      *agent, *name;
	const struct ad_schedule_record *rec;
};
int ad_store_schedule_apply(
    struct ad_store *s, const struct ad_schedule_change *v, size_t n);

/*
 * Clear reader slots left by dead processes (after reaping a worker);
 * *dead gets how many were freed.
 */
int ad_store_reader_check(struct ad_store *s, int *dead);

#endif
