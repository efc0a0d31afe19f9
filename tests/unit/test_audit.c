#include "config.h"

#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <openssl/evp.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "common/util.h"
#include "store/audit.h"
#include "store/store.h"
#include "tap.h"

/* The end of a wait for something another thread does: ms on a quiet
 * machine, scaled by AGENTD_TEST_SLOW (default 4) as in tests/lib.sh.  A
 * wait polls and ends as soon as its condition holds. */
static int64_t
wait_until(int64_t ms)
{
	const char *f = getenv("AGENTD_TEST_SLOW");
	long        k = f != NULL && atol(f) > 0 ? atol(f) : 4;

	return ad_now_ms() + ms * k;
}

#define THREADS 4
#define PER_THREAD 250
#define NREC (THREADS * PER_THREAD)
/* 2033-05-18: later than any record stamped "now" by this test. */
#define T_FUTURE 2000000000000LL

static char tmp[] = "/tmp/agentd-test-audit-XXXXXX";

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct ad_audit *
audit_open_ok(MDB_env *env, const char *name)
{
	struct ad_audit *a              = NULL;
	char             err[AD_ERRLEN] = "";

	if (!ok(ad_audit_open(env, NULL, &a, err, sizeof(err)) == 0, name))
		diag("  %s", err);
	return a;
}

static struct ad_audit_rec
rec(const char *agent, const char *kind, const char *summary, int64_t t)
{
	struct ad_audit_rec r = {
		.time_ms = t, .agent = agent, .kind = kind, .summary = summary
	};
	return r;
}

/* ---- raw LMDB, as someone tampering with the file would ---------------- */

static void
key_of(uint64_t seq, unsigned char kb[8], MDB_val *key)
{
	for (int i = 7; i >= 0; i--, seq >>= 8)
		kb[i] = seq & 0xff;
	key->mv_data = kb;
	key->mv_size = 8;
}

/* Raw access to database db, keyed by a big-endian number: op 'g': *copy
 * gets a malloc'd copy of the value; 'p': put; 'd': del. */
static int
raw_db(MDB_env *env, const char *db, int op, uint64_t seq, void **copy,
    size_t *len)
{
	MDB_txn      *txn;
	MDB_dbi       dbi;
	MDB_val       key, val = { len ? *len : 0, copy ? *copy : NULL };
	unsigned char kb[8];
	int           rc;

	key_of(seq, kb, &key);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_dbi_open(txn, db, 0, &dbi)) == 0) {
		if (op == 'g' && (rc = mdb_get(txn, dbi, &key, &val)) == 0) {
			*copy = malloc(val.mv_size);
			memcpy(*copy, val.mv_data, val.mv_size);
			*len = val.mv_size;
		} else if (op == 'p') {
			rc = mdb_put(txn, dbi, &key, &val, 0);
		} else if (op == 'd') {
			rc = mdb_del(txn, dbi, &key, NULL);
		}
	}
	if (rc == 0)
		return mdb_txn_commit(txn);
	mdb_txn_abort(txn);
	return rc;
}

/* The same on the audit records, keyed by sequence number. */
static int
raw(MDB_env *env, int op, uint64_t seq, void **copy, size_t *len)
{
	return raw_db(env, "audit", op, seq, copy, len);
}

/* ---- concurrent appends ------------------------------------------------- */

struct acks {
	struct ad_audit *a;
	pthread_mutex_t  mtx;
	pthread_cond_t   cv;
	int              pending, bad_status, unseen, dup, out_of_range;
	unsigned char    seen[NREC + 1];
};

static int
take_seq(void *arg, const struct ad_audit_entry *e)
{
	*(uint64_t *)arg = e->seq;
	return 0;
}

/* Reads its record with a fresh read transaction: it must be there. */
static void
ack(void *arg, int status, uint64_t seq)
{
	struct acks           *k     = arg;
	struct ad_audit_filter f     = { .min_seq = seq, .max_seq = seq };
	uint64_t               found = 0;

	if (status == 0)
		ad_audit_query(k->a, &f, take_seq, &found);
	pthread_mutex_lock(&k->mtx);
	k->bad_status += status != 0;
	k->unseen += found != seq;
	if (seq < 1 || seq > NREC)
		k->out_of_range++;
	else if (k->seen[seq]++ != 0)
		k->dup++;
	k->pending--;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mtx);
}

struct appender {
	struct acks *k;
	int          id, failures;
};

static void *
appender_run(void *arg)
{
	struct appender    *p = arg;
	char                agent[32], summary[64];
	struct ad_audit_rec r;

	snprintf(agent, sizeof(agent), "agent-%d", p->id);
	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(
		    summary, sizeof(summary), "thread %d record %d", p->id, i);
		r = rec(agent, "test.concurrent", summary, 0);
		if (ad_audit_append(p->k->a, &r, ack, p->k) != 0) {
			p->failures++;
			pthread_mutex_lock(&p->k->mtx);
			p->k->pending--;
			pthread_mutex_unlock(&p->k->mtx);
		}
	}
	return NULL;
}

static int
acks_wait(struct acks *k)
{
	int contiguous = 1;

	pthread_mutex_lock(&k->mtx);
	while (k->pending > 0)
		pthread_cond_wait(&k->cv, &k->mtx);
	pthread_mutex_unlock(&k->mtx);
	for (int s = 1; s <= NREC; s++)
		contiguous &= k->seen[s] == 1;
	return contiguous;
}

static void
test_concurrent(struct ad_audit *a)
{
	static struct acks    k;
	struct appender       p[THREADS];
	pthread_t             t[THREADS];
	struct ad_audit_stats st;
	int                   failures = 0, contiguous;

	k = (struct acks) { .a = a, .pending = NREC };
	pthread_mutex_init(&k.mtx, NULL);
	pthread_cond_init(&k.cv, NULL);
	for (int i = 0; i < THREADS; i++) {
		p[i] = (struct appender) { .k = &k, .id = i };
		pthread_create(&t[i], NULL, appender_run, &p[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		failures += p[i].failures;
	}
	contiguous = acks_wait(&k);
	is_int(failures, 0, "4 threads queue 1000 appends");
	is_int(k.bad_status, 0, "every append is acknowledged as committed");
	is_int(k.unseen, 0, "each done() finds its record in a new read txn");
	ok(k.dup == 0 && k.out_of_range == 0, "no seq is given twice");
	ok(contiguous, "the seqs are exactly 1..1000");
	ad_audit_stats(a, &st);
	is_int(st.records, NREC, "the writer counts 1000 records");
	ok(st.txns < st.records,
	    "group commit: fewer transactions than records");
	diag("%llu records in %llu transactions, at most %llu in one",
	    (unsigned long long)st.records, (unsigned long long)st.txns,
	    (unsigned long long)st.max_batch);
	is_int(st.head_seq, NREC, "the head is record 1000");
	pthread_cond_destroy(&k.cv);
	pthread_mutex_destroy(&k.mtx);
}

static void
test_reject(struct ad_audit *a)
{
	static const unsigned char bad[] = { 0xc1 };
	struct ad_audit_rec        r     = rec("x", NULL, "no kind", 0);
	char                       big[AD_AUDIT_SUMMARY_MAX + 2];

	is_int(ad_audit_append(a, &r, NULL, NULL), AGENTD_EINVAL,
	    "a record without a kind is EINVAL");
	r            = rec("x", "k", "bad detail", 0);
	r.detail     = bad;
	r.detail_len = 1;
	is_int(ad_audit_append(a, &r, NULL, NULL), AGENTD_EPROTO,
	    "a detail that is not msgpack is EPROTO");
	memset(big, 's', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r                    = rec("x", "k", big, 0);
	is_int(ad_audit_append(a, &r, NULL, NULL), AGENTD_ETOOBIG,
	    "a summary over the limit is ETOOBIG");
}

/* ---- verify and tampering ----------------------------------------------- */

static struct ad_audit_verify_result
verify(struct ad_audit *a)
{
	struct ad_audit_verify_result res;

	if (ad_audit_verify(a, &res) != 0)
		res.ok = -1;
	if (res.ok != 1)
		diag("verify: %s", res.what);
	return res;
}

static void
test_verify_ok(struct ad_audit *a)
{
	struct ad_audit_verify_result res = verify(a);
	struct ad_audit_stats         st;

	ad_audit_stats(a, &st);
	is_int(res.ok, 1, "verify passes on an untouched log");
	ok(res.first_seq == 1 && res.records == st.head_seq
	        && res.last_seq == st.head_seq,
	    "verify walks every record from 1 to the head");
	ok(memcmp(res.head_hash, st.head_hash, AD_AUDIT_HASH_LEN) == 0,
	    "verify reports the head's hash");
}

static void
test_altered(struct ad_audit *a, MDB_env *env)
{
	const char                   *needle = "thread";
	void                         *val    = NULL, *orig;
	size_t                        len    = 0;
	char                         *at;
	struct ad_audit_verify_result res;

	is_int(raw(env, 'g', 500, &val, &len), 0, "raw read of record 500");
	orig = malloc(len);
	memcpy(orig, val, len);
	at = memmem(val, len, needle, strlen(needle));
	if (at != NULL)
		*at = 'T';
	is_int(raw(env, 'p', 500, &val, &len), 0, "raw edit of its summary");
	res = verify(a);
	ok(res.ok == 0 && res.bad_seq == 500, "verify names record 500");
	like(res.what, "altered", "and says it was altered");
	raw(env, 'p', 500, &orig, &len);
	is_int(verify(a).ok, 1, "verify passes once it is restored");
	free(val);
	free(orig);
}

/* Delete record seq behind the log's back; verify must name it. */
static void
test_missing(struct ad_audit *a, MDB_env *env, uint64_t seq, const char *name)
{
	void                         *val = NULL;
	size_t                        len = 0;
	char                          what[128];
	struct ad_audit_verify_result res;

	raw(env, 'g', seq, &val, &len);
	snprintf(what, sizeof(what), "raw delete of %s", name);
	is_int(raw(env, 'd', seq, NULL, NULL), 0, what);
	res = verify(a);
	snprintf(what, sizeof(what), "verify reports %s (%llu) missing", name,
	    (unsigned long long)seq);
	ok(res.ok == 0 && res.bad_seq == seq, what);
	like(res.what, "missing", "the line says missing");
	raw(env, 'p', seq, &val, &len);
	is_int(verify(a).ok, 1, "verify passes once it is back");
	free(val);
}

/* ---- query -------------------------------------------------------------- */

struct got {
	uint64_t seq[16];
	int      n;
	int      stop_after;
	char     detail_ok;
};

static int
collect(void *arg, const struct ad_audit_entry *e)
{
	struct got *g = arg;

	if (g->n < 16)
		g->seq[g->n] = e->seq;
	g->n++;
	return g->stop_after && g->n == g->stop_after ? 7 : 0;
}

static struct got
query(struct ad_audit *a, struct ad_audit_filter f)
{
	struct got g = { .n = 0 };

	if (ad_audit_query(a, &f, collect, &g) != 0)
		g.n = -1;
	return g;
}

static int
seqs_are(const struct got *g, int n, const uint64_t *want)
{
	if (g->n != n)
		return 0;
	for (int i = 0; i < n; i++)
		if (g->seq[i] != want[i])
			return 0;
	return 1;
}

static uint64_t q[6];

static int
check_detail(void *arg, const struct ad_audit_entry *e)
{
	const struct ad_audit_rec *r = arg;

	return e->agent == NULL && e->instance == NULL
	        && e->detail_len == r->detail_len
	        && memcmp(e->detail, r->detail, r->detail_len) == 0
	    ? 1
	    : 2;
}

static void
query_seed(struct ad_audit *a)
{
	static const unsigned char detail[] = { 0x81, 0xa1, 0x6b, 0x01 };
	struct ad_audit_rec        r[5]     = {
		           rec("alpha", "x.start", "a1", T_FUTURE + 10),
		           rec("beta", "x.start", "b1", T_FUTURE + 20),
		           rec("alpha", "x.stop", "a2", T_FUTURE + 30),
		           rec(NULL, "sys.boot", "boot", T_FUTURE + 40),
		           rec("alpha", "x.start", "a3", T_FUTURE + 50),
	};
	struct ad_audit_filter f  = { .kind = "sys.boot" };
	int                    rv = 0;

	r[3].detail     = detail;
	r[3].detail_len = sizeof(detail);
	r[4].instance   = "alpha-1";
	for (int i = 0; i < 5; i++)
		rv |= ad_audit_append_sync(a, &r[i], &q[i + 1]);
	is_int(rv, 0, "five records appended with append_sync");
	ok(q[5] == q[1] + 4, "they got consecutive seqs");
	is_int(ad_audit_query(a, &f, check_detail, &r[3]), 1,
	    "detail and absent agent read back as written");
}

static void
test_query(struct ad_audit *a)
{
	struct got g;

	query_seed(a);
	g = query(a, (struct ad_audit_filter) { .agent = "alpha" });
	ok(seqs_are(&g, 3, (uint64_t[]) { q[5], q[3], q[1] }),
	    "agent filter, newest first");
	g = query(a,
	    (struct ad_audit_filter) {
	        .agent = "alpha", .oldest_first = 1, .limit = 2 });
	ok(seqs_are(&g, 2, (uint64_t[]) { q[1], q[3] }),
	    "oldest_first with a limit");
	g = query(a, (struct ad_audit_filter) { .kind = "x.start" });
	ok(seqs_are(&g, 3, (uint64_t[]) { q[5], q[2], q[1] }), "kind filter");
	g = query(a,
	    (struct ad_audit_filter) {
	        .since_ms = T_FUTURE + 20, .until_ms = T_FUTURE + 40 });
	ok(seqs_are(&g, 2, (uint64_t[]) { q[3], q[2] }),
	    "since is inclusive, until exclusive");
	g = query(a,
	    (struct ad_audit_filter) { .agent = "alpha",
	        .kind                         = "x.start",
	        .since_ms                     = T_FUTURE + 20 });
	ok(seqs_are(&g, 1, (uint64_t[]) { q[5] }), "filters combine");
	g = query(a, (struct ad_audit_filter) { .limit = 1 });
	ok(seqs_are(&g, 1, (uint64_t[]) { q[5] }), "limit 1 is the newest");
	g = query(
	    a, (struct ad_audit_filter) { .min_seq = q[2], .max_seq = q[4] });
	ok(seqs_are(&g, 3, (uint64_t[]) { q[4], q[3], q[2] }), "seq range");
	g = query(a, (struct ad_audit_filter) { .agent = "nobody" });
	is_int(g.n, 0, "an agent without records matches nothing");
	g = (struct got) { .stop_after = 2 };
	is_int(ad_audit_query(a, &(struct ad_audit_filter) { 0 }, collect, &g),
	    7, "a non-zero return from fn stops the query and is returned");
	is_int(g.n, 2, "after the second record");
}

/* ---- archive ------------------------------------------------------------ */

static void
flip_byte(const char *path)
{
	FILE *f = fopen(path, "r+b");
	long  n;
	int   c;

	if (f == NULL)
		return;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, n / 2, SEEK_SET);
	c = fgetc(f);
	fseek(f, n / 2, SEEK_SET);
	fputc(c ^ 0x01, f);
	fclose(f);
}

static int
count_files(const char *dir)
{
	DIR           *d = opendir(dir);
	struct dirent *e;
	int            n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.'
		    || strncmp(e->d_name, ".audit", 6) == 0;
	if (d != NULL)
		closedir(d);
	return n;
}

static int
prev_of(void *arg, const struct ad_audit_entry *e)
{
	memcpy(arg, e->prev, AD_AUDIT_HASH_LEN);
	return 0;
}

static int
time_of(void *arg, const struct ad_audit_entry *e)
{
	*(int64_t *)arg = e->time_ms;
	return 0;
}

/* The file is named after the UTC date of its first record, record 1. */
static void
expected_name(
    struct ad_audit *a, char *buf, size_t len, const char *dir, uint64_t last)
{
	int64_t   ms = 0;
	time_t    t;
	struct tm tm;

	ad_audit_query(a,
	    &(struct ad_audit_filter) { .min_seq = 1, .max_seq = 1 }, time_of,
	    &ms);
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s/audit-%04d%02d%02d-1-%llu.mp", dir,
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    (unsigned long long)last);
}

/* The first archive: everything stamped "now", up to q[1]. */
static void
archive_first(struct ad_audit *a, const char *dir, unsigned char *last_hash)
{
	struct ad_audit_archive_result res;
	struct ad_audit_verify_result  v;
	unsigned char                  prev[AD_AUDIT_HASH_LEN];
	char                           err[AD_ERRLEN] = "", want[PATH_MAX];
	struct ad_audit_filter f = { .min_seq = q[1], .max_seq = q[1] };
	unsigned char          wrong[AD_AUDIT_HASH_LEN];

	memset(wrong, 0xff, sizeof(wrong));
	expected_name(a, want, sizeof(want), dir, q[1] - 1);
	is_int(ad_audit_archive(a, T_FUTURE, dir, &res, err, sizeof(err)), 0,
	    "archive the records older than the cut");
	ok(res.records == q[1] - 1 && res.first_seq == 1
	        && res.last_seq == q[1] - 1,
	    "the prefix before the first new enough record moved");
	is_str(res.path, want, "to dir/audit-YYYYMMDD-FIRST-LAST.mp");
	v = verify(a);
	ok(v.ok == 1 && v.first_seq == q[1] && v.records == 5,
	    "verify passes from the archive boundary on");
	is_int(ad_audit_verify_archive(res.path, NULL, &v), 0,
	    "verify_archive reads the file");
	ok(v.ok == 1 && v.first_seq == 1 && v.records == q[1] - 1,
	    "the file's chain is whole");
	ad_audit_query(a, &f, prev_of, prev);
	ok(memcmp(v.head_hash, prev, sizeof(prev)) == 0,
	    "its last hash is the prev of the first live record");
	memcpy(last_hash, v.head_hash, AD_AUDIT_HASH_LEN);
	ad_audit_verify_archive(res.path, wrong, &v);
	ok(v.ok == 0 && v.bad_seq == 1, "a wrong expected prev is reported");
	ok(ad_audit_verify_archive(res.path, NULL, &v) == 0 && v.ok == 1,
	    "verify_archive passes without an expectation");
	flip_byte(res.path);
	ad_audit_verify_archive(res.path, NULL, &v);
	ok(v.ok == 0, "one flipped byte in the file fails verify_archive");
	diag("%s", v.what);
}

/* A later record older than the cut stays: only a prefix moves. */
static void
archive_prefix(struct ad_audit *a, const char *dir, unsigned char *prev)
{
	struct ad_audit_rec            r = rec("old", "x.old", "late", 1000);
	struct ad_audit_archive_result res;
	struct ad_audit_verify_result  v;
	char                           err[AD_ERRLEN] = "";
	uint64_t                       old            = 0;
	struct got                     g;

	ad_audit_append_sync(a, &r, &old);
	is_int(ad_audit_archive(a, T_FUTURE + 25, dir, &res, err, sizeof(err)),
	    0, "archive a second time");
	ok(res.records == 2 && res.first_seq == q[1] && res.last_seq == q[2],
	    "only the prefix older than the cut moved");
	g = query(a, (struct ad_audit_filter) { .min_seq = old });
	ok(g.n == 1 && g.seq[0] == old, "the old record after it stayed");
	ok(ad_audit_verify_archive(res.path, prev, &v) == 0 && v.ok == 1,
	    "the second file chains onto the first");
	ok(verify(a).ok == 1, "verify passes after the second archive");
	is_int(ad_audit_archive(a, 1, dir, &res, err, sizeof(err)), 0,
	    "an archive with nothing old enough succeeds");
	ok(res.records == 0 && res.path[0] == '\0', "and writes no file");
}

static void
archive_broken(struct ad_audit *a, MDB_env *env, const char *dir)
{
	struct ad_audit_archive_result res;
	char                           err[AD_ERRLEN] = "";
	void                          *val            = NULL;
	size_t                         len            = 0;

	raw(env, 'g', q[4], &val, &len);
	raw(env, 'd', q[4], NULL, NULL);
	is_int(
	    ad_audit_archive(a, T_FUTURE + 100, dir, &res, err, sizeof(err)),
	    AGENTD_EPROTO, "a broken chain is not archived");
	like(err, "missing", "the message says what is broken");
	raw(env, 'p', q[4], &val, &len);
	free(val);
	is_int(count_files(dir), 2, "and leaves no file behind");
	ok(verify(a).ok == 1
	        && query(a,
	               (struct ad_audit_filter) {
	                   .min_seq = q[3], .max_seq = q[3] })
	                .n
	            == 1,
	    "nothing left the log");
}

static void
test_archive(struct ad_audit *a, MDB_env *env)
{
	char         *dir = ad_path_join(tmp, "archive");
	unsigned char last[AD_AUDIT_HASH_LEN];

	archive_first(a, dir, last);
	archive_prefix(a, dir, last);
	archive_broken(a, env, dir);
	free(dir);
}

/* ---- reopen, close
 * --------------------------------------------------------*/

static void
test_reopen(struct ad_store **s, struct ad_audit **a)
{
	struct ad_audit_stats before, after;
	struct ad_audit_rec   r = rec("z", "x.reopen", "again", 0);
	char                  err[AD_ERRLEN] = "";
	unsigned char         prev[AD_AUDIT_HASH_LEN];
	uint64_t              seq = 0;

	ad_audit_stats(*a, &before);
	ad_audit_close(*a);
	ad_store_close(*s);
	*a = NULL;
	if (!ok(ad_store_open(tmp, s, err, sizeof(err)) == 0, "reopen store"))
		return;
	if ((*a = audit_open_ok(ad_store_env(*s), "reopen audit")) == NULL)
		return;
	ad_audit_stats(*a, &after);
	ok(after.head_seq == before.head_seq
	        && memcmp(after.head_hash, before.head_hash, AD_AUDIT_HASH_LEN)
	            == 0,
	    "the head is restored");
	ad_audit_append_sync(*a, &r, &seq);
	is_int(seq, before.head_seq + 1, "a new append continues the seqs");
	ad_audit_query(*a,
	    &(struct ad_audit_filter) { .min_seq = seq, .max_seq = seq },
	    prev_of, prev);
	ok(memcmp(prev, before.head_hash, AD_AUDIT_HASH_LEN) == 0,
	    "and chains onto the old head");
	is_int(verify(*a).ok, 1, "verify passes after reopen");
}

static void
count_ok(void *arg, int status, uint64_t seq)
{
	(void)seq;
	if (status == 0)
		(*(int *)arg)++; /* done() runs on the one writer thread */
}

static void
test_close_drains(struct ad_audit *a)
{
	struct ad_audit_rec r = rec("d", "x.drain", "queued", 0);
	int                 n = 0;

	for (int i = 0; i < 200; i++)
		ad_audit_append(a, &r, count_ok, &n);
	ad_audit_close(a);
	is_int(n, 200, "close writes everything queued before returning");
}

/* ---- map growth, and the hash by hand ------------------------------------*/

struct reader {
	struct ad_audit *a;
	pthread_mutex_t  mtx;
	int              stop;
	int              queries, failures;
};

static int
reader_stopped(struct reader *r, int set)
{
	int stop;

	pthread_mutex_lock(&r->mtx);
	r->stop |= set;
	stop = r->stop;
	pthread_mutex_unlock(&r->mtx);
	return stop;
}

static int
count_one(void *arg, const struct ad_audit_entry *e)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* Queries while the map grows under it: no read may see a stale map. */
static void *
reader_run(void *arg)
{
	struct reader         *r = arg;
	struct ad_audit_filter f = { .limit = 50 };
	int                    n;

	while (!reader_stopped(r, 0)) {
		n = 0;
		if (ad_audit_query(r->a, &f, count_one, &n) != 0)
			r->failures++;
		r->queries++;
	}
	return NULL;
}

/* The worked example of audit.h, hashed without the module's encoder. */
static void
test_hash_by_hand(struct ad_audit *a)
{
	static const unsigned char m[] = { 0x97, 0x01, 0xcd, 0x03, 0xe8, 0xa1,
		0x61, 0xc0, 0xa1, 0x6b, 0xa1, 0x73, 0xc4, 0x00 };
	unsigned char              buf[AD_AUDIT_HASH_LEN + sizeof(m)] = { 0 };
	unsigned char              want[AD_AUDIT_HASH_LEN];
	struct ad_audit_rec        r = rec("a", "k", "s", 1000);
	struct ad_audit_stats      st;
	unsigned int               n = 0;

	memcpy(buf + AD_AUDIT_HASH_LEN, m, sizeof(m));
	EVP_Digest(buf, sizeof(buf), want, &n, EVP_sha256(), NULL);
	is_int(ad_audit_append_sync(a, &r, NULL), 0, "append record 1");
	ad_audit_stats(a, &st);
	ok(st.head_seq == 1 && memcmp(st.head_hash, want, sizeof(want)) == 0,
	    "its hash is SHA-256(32 zero bytes || the documented bytes)");
}

static void
grow_fill(struct ad_audit *a, int *sync_fail, struct acks *k)
{
	unsigned char       pad[1000];
	agentd_writer      *w;
	struct ad_audit_rec r = rec("g", "x.grow", "fill", 0);

	memset(pad, 0x5a, sizeof(pad));
	agentd_writer_new(&w);
	agentd_write_bin(w, pad, sizeof(pad));
	r.detail = agentd_writer_data(w, &r.detail_len);
	for (int i = 0; i < 300; i++)
		*sync_fail += ad_audit_append_sync(a, &r, NULL) != 0;
	for (int i = 0; i < NREC; i++)
		if (ad_audit_append(a, &r, ack, k) != 0)
			k->pending--;
	acks_wait(k);
	agentd_writer_free(w);
}

static MDB_env *
tiny_env(const char *dir, size_t mapsize, unsigned flags)
{
	MDB_env *env = NULL;

	mkdir(dir, 0700);
	if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 4) != 0
	    || mdb_env_set_mapsize(env, mapsize) != 0
	    || mdb_env_open(env, dir, MDB_NOTLS | flags, 0600) != 0) {
		mdb_env_close(env);
		return NULL;
	}
	return env;
}

static void
test_growth(void)
{
	char            *dir = ad_path_join(tmp, "tiny");
	MDB_env         *env = tiny_env(dir, 64 << 10, 0);
	struct ad_audit *a
	    = env ? audit_open_ok(env, "open on a 64 KiB map") : NULL;
	static struct acks    k;
	struct reader         rd = { .a = a };
	struct ad_audit_stats st;
	MDB_envinfo           info;
	pthread_t             t;
	int                   sync_fail = 0;

	if (a == NULL)
		return;
	test_hash_by_hand(a);
	k = (struct acks) { .a = a, .pending = NREC };
	pthread_mutex_init(&k.mtx, NULL);
	pthread_cond_init(&k.cv, NULL);
	pthread_mutex_init(&rd.mtx, NULL);
	pthread_create(&t, NULL, reader_run, &rd);
	grow_fill(a, &sync_fail, &k);
	reader_stopped(&rd, 1);
	pthread_join(t, NULL);
	is_int(sync_fail + k.bad_status, 0, "1300 appends of 1 KiB succeed");
	ad_audit_stats(a, &st);
	mdb_env_info(env, &info);
	ok(st.grows > 0 && info.me_mapsize > (64 << 10), "the map grew");
	diag("grew %llu times to %zu KiB; %d queries ran meanwhile",
	    (unsigned long long)st.grows, info.me_mapsize >> 10, rd.queries);
	ok(rd.queries > 0 && rd.failures == 0, "queries ran during growth");
	is_int(verify(a).ok, 1, "verify passes after growth");
	ad_audit_close(a);
	mdb_env_close(env);
	pthread_cond_destroy(&k.cv);
	pthread_mutex_destroy(&k.mtx);
	pthread_mutex_destroy(&rd.mtx);
	free(dir);
}

/* No durable acknowledgement without synced commits. */
static void
test_nosync(void)
{
	char            *dir            = ad_path_join(tmp, "nosync");
	MDB_env         *env            = tiny_env(dir, 1 << 20, MDB_NOSYNC);
	struct ad_audit *a              = NULL;
	char             err[AD_ERRLEN] = "";

	is_int(env ? ad_audit_open(env, NULL, &a, err, sizeof(err)) : -1,
	    AGENTD_EINVAL, "an environment opened with MDB_NOSYNC is refused");
	like(err, "does not sync", "the message says why");
	if (env != NULL)
		mdb_env_close(env);
	free(dir);
}

/*
 * With the gate held for writing (as while the map grows), the writer
 * commits nothing, the queue fills up to max_queue, and everything queued
 * is committed once the gate is released.
 */
static void
test_gate(void)
{
	char                 *dir = ad_path_join(tmp, "gate");
	MDB_env              *env = tiny_env(dir, 1 << 20, 0);
	pthread_rwlock_t      gate;
	struct ad_audit_opts  o = { .gate = &gate, .max_queue = 2 };
	struct ad_audit      *a = NULL;
	struct ad_audit_rec   r = rec("q", "x.busy", "queued", 0);
	struct ad_audit_stats st;
	char                  err[AD_ERRLEN] = "";
	int                   rv, busy = 0, queued = 0;

	pthread_rwlock_init(&gate, NULL);
	if (env == NULL || ad_audit_open(env, &o, &a, err, sizeof(err)) != 0) {
		ok(0, "open with a gate of the caller's");
		diag("%s", err);
		return;
	}
	pthread_rwlock_wrlock(&gate);
	for (int i = 0; i < 5; i++) {
		rv = ad_audit_append(a, &r, NULL, NULL);
		busy += rv == AGENTD_EBUSY;
		queued += rv == 0;
	}
	ok(busy >= 2 && queued <= 3, "appends past max_queue are EBUSY");
	usleep(50 * 1000);
	ad_audit_stats(a, &st);
	is_int(st.txns, 0, "nothing commits while the gate is held");
	pthread_rwlock_unlock(&gate);
	ad_audit_close(a);
	mdb_env_close(env);
	env = tiny_env(dir, 1 << 20, 0);
	a   = env ? audit_open_ok(env, "reopen after the gate test") : NULL;
	if (a != NULL)
		ad_audit_stats(a, &st);
	is_int(a ? (int)st.head_seq : -1, queued,
	    "once released, everything queued was committed");
	ad_audit_close(a);
	if (env != NULL)
		mdb_env_close(env);
	pthread_rwlock_destroy(&gate);
	free(dir);
}

/*
 * A query returns the records queued before it, not only those already
 * committed: with the gate held no commit happens, and a query started
 * meanwhile answers once they are in, with all of them.  (Without the wait
 * the query's read transaction, taken as the gate opens, is all but
 * certain to start before the writer's commit and its fsync end.)
 */
struct query_run {
	struct ad_audit *a;
	int              n, rv, done;
};

static int
count_entry(void *arg, const struct ad_audit_entry *e)
{
	(void)e;
	((struct query_run *)arg)->n++;
	return 0;
}

static void *
query_main(void *arg)
{
	struct query_run      *run = arg;
	struct ad_audit_filter f;

	memset(&f, 0, sizeof(f));
	run->rv = ad_audit_query(run->a, &f, count_entry, run);
	__atomic_store_n(&run->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void
test_query_waits(void)
{
	char                *dir = ad_path_join(tmp, "qwait");
	MDB_env             *env = tiny_env(dir, 1 << 20, 0);
	pthread_rwlock_t     gate;
	struct ad_audit_opts o   = { .gate = &gate };
	struct query_run     run = { NULL, 0, -1, 0 };
	struct ad_audit_rec  r   = rec("run", "x.queued", "queued", 0);
	pthread_t            t;
	char                 err[AD_ERRLEN] = "";
	int                  queued         = 0;

	pthread_rwlock_init(&gate, NULL);
	if (env == NULL
	    || ad_audit_open(env, &o, &run.a, err, sizeof(err)) != 0) {
		ok(0, "open with a gate of the caller's");
		diag("%s", err);
		return;
	}
	pthread_rwlock_wrlock(&gate);
	for (int i = 0; i < 3; i++)
		queued += ad_audit_append(run.a, &r, NULL, NULL) == 0;
	pthread_create(&t, NULL, query_main, &run);
	usleep(30 * 1000);
	ok(queued == 3 && !__atomic_load_n(&run.done, __ATOMIC_SEQ_CST),
	    "a query while records are queued and none can commit waits");
	pthread_rwlock_unlock(&gate);
	pthread_join(t, NULL);
	is_int(run.rv, 0, "the query succeeds once they commit");
	is_int(run.n, 3, "and returns the records queued before it");
	ad_audit_close(run.a);
	mdb_env_close(env);
	pthread_rwlock_destroy(&gate);
	free(dir);
}

/*
 * Records are numbered and chained when they are queued.  A batch that
 * fails to commit must not leave the records queued behind it chained onto
 * records that were never written: they are chained again onto the head.
 * The failure: a file size limit the first batch's 512 KiB detail crosses
 * and the second batch's small record does not.
 */
struct fail_ack {
	pthread_mutex_t mtx;
	int             calls[2], status[2];
	uint64_t        seq[2];
};

struct fail_arg {
	struct fail_ack *k;
	int              i;
};

static void
fail_done(void *arg, int status, uint64_t seq)
{
	struct fail_arg *f = arg;

	pthread_mutex_lock(&f->k->mtx);
	f->k->calls[f->i]++;
	f->k->status[f->i] = status;
	f->k->seq[f->i]    = seq;
	pthread_mutex_unlock(&f->k->mtx);
}

static void
test_failed_commit(void)
{
	char                         *dir = ad_path_join(tmp, "failed");
	MDB_env                      *env = tiny_env(dir, 8 << 20, 0);
	pthread_rwlock_t              gate;
	struct ad_audit_opts          o = { .gate = &gate };
	struct ad_audit              *a = NULL;
	struct ad_audit_rec           r = rec("f", "x.first", "one", 0);
	struct ad_audit_stats         st;
	struct ad_audit_verify_result v;
	struct fail_ack               k = { .mtx = PTHREAD_MUTEX_INITIALIZER };
	struct fail_arg               fa = { &k, 0 }, fb = { &k, 1 };
	struct rlimit                 old, lim;
	MDB_envinfo                   info;
	MDB_stat                      ms;
	unsigned char                *big;
	char                          err[AD_ERRLEN] = "";
	int64_t                       end;

	pthread_rwlock_init(&gate, NULL);
	if (env == NULL || ad_audit_open(env, &o, &a, err, sizeof(err)) != 0) {
		ok(0, "open with a gate of the caller's");
		diag("%s", err);
		free(dir);
		return;
	}
	ok(ad_audit_append_sync(a, &r, NULL) == 0, "one record committed");
	big = ad_xcalloc(1, 512 << 10);
	/* A bin32 of 512 KiB: one msgpack value. */
	big[0]       = 0xc6;
	big[1]       = 0;
	big[2]       = 0x07;
	big[3]       = 0xff;
	big[4]       = 0xfb;
	r            = rec("f", "x.big", "fails", 0);
	r.detail     = big;
	r.detail_len = 512 << 10;
	pthread_rwlock_wrlock(&gate);
	ok(ad_audit_append(a, &r, fail_done, &fa) == 0, "a big record queued");
	for (end = wait_until(5000); ad_now_ms() < end;) {
		ad_audit_stats(a, &st);
		if (st.queued == 0)
			break;
		usleep(2000);
	}
	ok(st.queued == 0, "the writer took it and waits for the gate");
	r = rec("f", "x.small", "behind it", 0);
	ok(ad_audit_append(a, &r, fail_done, &fb) == 0,
	    "a small record queued behind it");
	mdb_env_info(env, &info);
	mdb_env_stat(env, &ms);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim          = old;
	lim.rlim_cur = (info.me_last_pgno + 1 + 64) * (rlim_t)ms.ms_psize;
	setrlimit(RLIMIT_FSIZE, &lim);
	pthread_rwlock_unlock(&gate);
	for (end = wait_until(5000); ad_now_ms() < end;) {
		pthread_mutex_lock(&k.mtx);
		int done = k.calls[0] + k.calls[1];
		pthread_mutex_unlock(&k.mtx);
		if (done == 2)
			break;
		usleep(2000);
	}
	setrlimit(RLIMIT_FSIZE, &old);
	ok(k.calls[0] == 1 && k.status[0] != 0,
	    "the big record's commit failed");
	if (!ok(k.calls[1] == 1 && k.status[1] == 0 && k.seq[1] == 2,
	        "the record behind it is committed as number 2"))
		diag("  status %d, seq %" PRIu64, k.status[1], k.seq[1]);
	r = rec("f", "x.after", "after", 0);
	ok(ad_audit_append_sync(a, &r, NULL) == 0, "appending goes on");
	memset(&v, 0, sizeof(v));
	if (!ok(ad_audit_verify(a, &v) == 0 && v.ok && v.records == 3,
	        "the chain of 3 records verifies"))
		diag("  %s", v.what);
	ad_audit_close(a);
	mdb_env_close(env);
	pthread_rwlock_destroy(&gate);
	free(big);
	free(dir);
}

/* ad_audit_append_many: one answer for the lot. */
struct many_ack {
	int      calls, status;
	uint64_t seq;
};

static void
many_done(void *arg, int status, uint64_t seq)
{
	struct many_ack *k = arg;

	k->calls++;
	k->status = status;
	k->seq    = seq;
}

struct many_seen {
	size_t   n;
	uint64_t seqs[16];
};

static int
many_seen(void *arg, const struct ad_audit_entry *e)
{
	struct many_seen *s = arg;

	if (s->n < 16)
		s->seqs[s->n] = e->seq;
	s->n++;
	return 0;
}

static void
test_many(void)
{
	static const unsigned char bad[] = { 0xc1 };
	char                      *dir   = ad_path_join(tmp, "many");
	MDB_env                   *env   = tiny_env(dir, 1 << 20, 0);
	struct ad_audit_opts       o     = { .max_queue = 8 };
	struct ad_audit           *a     = NULL;
	struct ad_audit_rec        r[10];
	struct many_seen           seen = { 0, { 0 } };
	struct ad_audit_filter     f;
	struct ad_audit_stats      st;
	struct many_ack            k              = { 0, -1, 0 };
	char                       err[AD_ERRLEN] = "";

	if (env == NULL || ad_audit_open(env, &o, &a, err, sizeof(err)) != 0) {
		ok(0, "many: open");
		diag("%s", err);
		return;
	}
	for (int i = 0; i < 10; i++)
		r[i] = rec("m", "many", "one of several", 0);
	is_int(ad_audit_append_sync(a, &r[0], NULL), 0, "many: record 1");
	is_int(ad_audit_append_many(a, r, 3, many_done, &k), 0,
	    "many: three records queued together");
	ad_audit_close(a); /* drains */
	ok(k.calls == 1 && k.status == 0 && k.seq == 2,
	    "many: one answer, after the commit, with the first seq (2)");
	a = NULL;
	if (!ok(ad_audit_open(env, &o, &a, err, sizeof(err)) == 0,
	        "many: reopen"))
		return;
	memset(&f, 0, sizeof(f));
	f.oldest_first = 1;
	ok(ad_audit_query(a, &f, many_seen, &seen) == 0 && seen.n == 4
	        && seen.seqs[1] == 2 && seen.seqs[3] == 4,
	    "many: records 2, 3 and 4 are in the log, in order");
	r[1].detail     = bad;
	r[1].detail_len = 1;
	is_int(ad_audit_append_many(a, r, 3, many_done, &k), AGENTD_EPROTO,
	    "many: one bad record refuses all");
	r[1].detail     = NULL;
	r[1].detail_len = 0;
	is_int(ad_audit_append_many(a, r, 9, many_done, &k), AGENTD_ETOOBIG,
	    "many: more records than the queue holds is ETOOBIG");
	is_int(ad_audit_append_many(a, r, 0, many_done, &k), AGENTD_EINVAL,
	    "many: none is EINVAL");
	is_int(ad_audit_append_sync(a, &r[0], NULL), 0, "many: one more");
	ad_audit_stats(a, &st);
	is_int(
	    st.head_seq, 5, "many: nothing of the refused lots was written");
	ad_audit_close(a);
	mdb_env_close(env);
	free(dir);
}

/* ---- side writes ---------------------------------------------------------
 */

static int
side_get(MDB_env *env, MDB_dbi dbi, const char *key, char *out, size_t len)
{
	MDB_txn *txn;
	MDB_val  k = { strlen(key), (void *)key }, v;
	int      rc;

	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0)
		snprintf(out, len, "%.*s", (int)v.mv_size, (char *)v.mv_data);
	mdb_txn_abort(txn);
	return rc;
}

static void
test_sides(void)
{
	char                *dir = ad_path_join(tmp, "sides");
	MDB_env             *env = tiny_env(dir, 1 << 20, 0);
	struct ad_audit     *a   = NULL;
	struct ad_audit_rec  r   = rec("s", "side", "with a side write", 0);
	struct ad_audit_side sd[AD_AUDIT_SIDES_MAX + 1];
	MDB_txn             *txn;
	MDB_dbi              dbi;
	char                 got[32] = "", err[AD_ERRLEN] = "";

	if (env == NULL || mdb_txn_begin(env, NULL, 0, &txn) != 0
	    || mdb_dbi_open(txn, "side", MDB_CREATE, &dbi) != 0
	    || mdb_txn_commit(txn) != 0
	    || ad_audit_open(env, NULL, &a, err, sizeof(err)) != 0) {
		ok(0, "sides: open");
		diag("%s", err);
		return;
	}
	memset(sd, 0, sizeof(sd));
	sd[0]    = (struct ad_audit_side) { dbi, "k1", 2, "one", 3, 0 };
	sd[1]    = (struct ad_audit_side) { dbi, "k2", 2, "two", 3, 0 };
	r.sides  = sd;
	r.nsides = 2;
	is_int(ad_audit_append_sync(a, &r, NULL), 0,
	    "sides: a record with two side writes is committed");
	ok(side_get(env, dbi, "k1", got, sizeof(got)) == 0
	        && strcmp(got, "one") == 0
	        && side_get(env, dbi, "k2", got, sizeof(got)) == 0
	        && strcmp(got, "two") == 0,
	    "sides: both side writes are in their database");
	sd[0]    = (struct ad_audit_side) { dbi, "k1", 2, NULL, 0, 0 };
	sd[1]    = (struct ad_audit_side) { dbi, "k3", 2, NULL, 0, 0 };
	r.nsides = 2;
	is_int(ad_audit_append_sync(a, &r, NULL), 0,
	    "sides: deletes, one of a missing key, are committed");
	is_int(side_get(env, dbi, "k1", got, sizeof(got)), MDB_NOTFOUND,
	    "sides: a NULL value deleted its key");
	/* k2 is there: an append of k5 goes after it, one of k0 is out of
	 * order and must still be written, and a second of k2 replaces. */
	sd[0]    = (struct ad_audit_side) { dbi, "k5", 2, "five", 4, 1 };
	sd[1]    = (struct ad_audit_side) { dbi, "k0", 2, "zero", 4, 1 };
	sd[2]    = (struct ad_audit_side) { dbi, "k2", 2, "TWO", 3, 1 };
	r.nsides = 3;
	is_int(ad_audit_append_sync(a, &r, NULL), 0,
	    "sides: appends, two of them out of order, are committed");
	ok(side_get(env, dbi, "k5", got, sizeof(got)) == 0
	        && strcmp(got, "five") == 0
	        && side_get(env, dbi, "k0", got, sizeof(got)) == 0
	        && strcmp(got, "zero") == 0
	        && side_get(env, dbi, "k2", got, sizeof(got)) == 0
	        && strcmp(got, "TWO") == 0,
	    "sides: an append below the last key is put the usual way");
	r.nsides = AD_AUDIT_SIDES_MAX + 1;
	is_int(ad_audit_append(a, &r, NULL, NULL), AGENTD_EINVAL,
	    "sides: more than AD_AUDIT_SIDES_MAX is EINVAL");
	sd[0]    = (struct ad_audit_side) { dbi, "", 0, "x", 1, 0 };
	r.nsides = 1;
	is_int(ad_audit_append(a, &r, NULL, NULL), AGENTD_EINVAL,
	    "sides: an empty key is EINVAL");
	ad_audit_close(a);
	mdb_env_close(env);
	free(dir);
}

/* ---- seals ------------------------------------------------------------- */

#define SEAL_EVERY 10

static char *seal_dir, *seal_keyfile;

static struct ad_audit *
seal_open(struct ad_store *s, int64_t interval_ms)
{
	struct ad_audit_opts o
	    = { ad_store_gate(s), 0, seal_keyfile, SEAL_EVERY, interval_ms };
	struct ad_audit *a              = NULL;
	char             err[AD_ERRLEN] = "";

	if (ad_audit_open(ad_store_env(s), &o, &a, err, sizeof(err)) != 0)
		diag("seal open: %s", err);
	return a;
}

struct keys {
	int                 n;
	struct ad_audit_key k[4];
};

static int
take_key(void *arg, const struct ad_audit_key *k)
{
	struct keys *ks = arg;

	if (ks->n < 4)
		ks->k[ks->n] = *k;
	ks->n++;
	return 0;
}

static struct ad_audit_verify_result
verify_keys(struct ad_audit *a, const unsigned char (*keys)[32], size_t n)
{
	struct ad_audit_verify_result res;

	if (ad_audit_verify_sealed(a, keys, n, &res) != 0)
		res.ok = -1;
	if (res.ok != 1)
		diag("verify --key: %s", res.what);
	return res;
}

/* The bytes of a file (at most 64); -1 if it cannot be read. */
static int
slurp(const char *path, unsigned char *buf)
{
	FILE *f = fopen(path, "rb");
	int   n;

	if (f == NULL)
		return -1;
	n = (int)fread(buf, 1, 64, f);
	fclose(f);
	return n;
}

static int
spit(const char *path, const unsigned char *buf, int n)
{
	FILE *f   = fopen(path, "wb");
	int   ok_ = f != NULL && fwrite(buf, 1, (size_t)n, f) == (size_t)n;

	if (f != NULL)
		fclose(f);
	return ok_ ? 0 : -1;
}

/* The same on the seals database, keyed by epoch. */
static int
raw_seal(MDB_env *env, int op, uint64_t epoch, void **copy, size_t *len)
{
	return raw_db(env, "seals", op, epoch, copy, len);
}

/* The head mark, written as someone rewriting the log would. */
static int
raw_head(MDB_env *env, uint64_t seq, const unsigned char *hash)
{
	agentd_writer *w;
	MDB_txn       *txn;
	MDB_dbi        dbi;
	MDB_val        key = { 10, "audit_head" }, val;
	int            rc;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "seq");
	agentd_write_uint(w, seq);
	agentd_write_str(w, "hash");
	agentd_write_bin(w, hash, AD_AUDIT_HASH_LEN);
	val.mv_data = (void *)agentd_writer_data(w, &val.mv_size);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
		if ((rc = mdb_dbi_open(txn, "meta", 0, &dbi)) == 0
		    && (rc = mdb_put(txn, dbi, &key, &val, 0)) == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	agentd_writer_free(w);
	return rc;
}

static void
write_opt_str(agentd_writer *w, const agentd_value *v)
{
	const char *p;
	size_t      n;

	if (agentd_get_str(v, &p, &n) == 0)
		agentd_write_strn(w, p, n);
	else
		agentd_write_nil(w);
}

/*
 * The attack of issue 19: every record rewritten (its summary replaced)
 * and every hash recomputed from audit.h's definition, the head moved to
 * the new last hash.  *hash_at gets the new hash of record at.
 */
static void
rewrite_all(MDB_env *env, uint64_t head, unsigned char *hash_at, uint64_t at)
{
	unsigned char  prev[AD_AUDIT_HASH_LEN] = { 0 }, h[AD_AUDIT_HASH_LEN];
	agentd_writer *m, *v;

	agentd_writer_new(&m);
	agentd_writer_new(&v);
	for (uint64_t seq = 1; seq <= head; seq++) {
		void               *val = NULL;
		size_t              len = 0, mlen, vlen;
		agentd_doc         *doc;
		const agentd_value *r;
		const void         *detail, *mb;
		size_t              dlen;
		int64_t             t;
		EVP_MD_CTX         *ctx = EVP_MD_CTX_new();
		unsigned int        hn;

		raw(env, 'g', seq, &val, &len);
		agentd_parse(val, len, &doc);
		r = agentd_doc_root(doc);
		agentd_get_int(agentd_map_get(r, "time_ms"), &t);
		agentd_get_bin(agentd_map_get(r, "detail"), &detail, &dlen);
		agentd_writer_reset(m);
		agentd_write_array(m, 7);
		agentd_write_uint(m, seq);
		agentd_write_int(m, t);
		write_opt_str(m, agentd_map_get(r, "agent"));
		write_opt_str(m, agentd_map_get(r, "instance"));
		write_opt_str(m, agentd_map_get(r, "kind"));
		agentd_write_str(m, "nothing happened");
		agentd_write_bin(m, detail, dlen);
		mb = agentd_writer_data(m, &mlen);
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, prev, sizeof(prev));
		EVP_DigestUpdate(ctx, mb, mlen);
		EVP_DigestFinal_ex(ctx, h, &hn);
		EVP_MD_CTX_free(ctx);
		agentd_writer_reset(v);
		agentd_write_map(v, 9);
		agentd_write_str(v, "seq");
		agentd_write_uint(v, seq);
		agentd_write_str(v, "time_ms");
		agentd_write_int(v, t);
		agentd_write_str(v, "agent");
		write_opt_str(v, agentd_map_get(r, "agent"));
		agentd_write_str(v, "instance");
		write_opt_str(v, agentd_map_get(r, "instance"));
		agentd_write_str(v, "kind");
		write_opt_str(v, agentd_map_get(r, "kind"));
		agentd_write_str(v, "summary");
		agentd_write_str(v, "nothing happened");
		agentd_write_str(v, "detail");
		agentd_write_bin(v, detail, dlen);
		agentd_write_str(v, "prev");
		agentd_write_bin(v, prev, sizeof(prev));
		agentd_write_str(v, "hash");
		agentd_write_bin(v, h, sizeof(h));
		agentd_doc_free(doc);
		free(val);
		val = (void *)agentd_writer_data(v, &vlen);
		raw(env, 'p', seq, &val, &vlen);
		memcpy(prev, h, sizeof(prev));
		if (seq == at)
			memcpy(hash_at, h, sizeof(h));
	}
	raw_head(env, head, prev);
	agentd_writer_free(m);
	agentd_writer_free(v);
}

static void
be64(unsigned char *p, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		p[i] = x & 0xff;
}

/*
 * A seal made from audit.h's definition, signed with the key of the key
 * file (the one a reader of the state directory holds), and stored as
 * seal epoch.
 */
static int
forge_seal(MDB_env *env, uint64_t epoch, uint64_t seq,
    const unsigned char *hash, const unsigned char *seed)
{
	unsigned char m[141], pub[32], sig[64];
	size_t        n = 32, sn = 64, vlen;
	EVP_PKEY     *k
	    = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX    *ctx = EVP_MD_CTX_new();
	int64_t        t   = ad_wall_ms();
	agentd_writer *w;
	void          *val;
	int            rc;

	EVP_PKEY_get_raw_public_key(k, pub, &n);
	memcpy(m, "agentd audit seal v1", 20);
	be64(m + 20, epoch);
	be64(m + 28, seq);
	be64(m + 36, (uint64_t)t);
	m[44] = 0;
	memcpy(m + 45, hash, 32);
	memcpy(m + 77, pub, 32);
	memcpy(m + 109, pub, 32); /* next: the same key again */
	EVP_DigestSignInit(ctx, NULL, NULL, NULL, k);
	EVP_DigestSign(ctx, sig, &sn, m, sizeof(m));
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	agentd_writer_new(&w);
	agentd_write_map(w, 8);
	agentd_write_str(w, "epoch");
	agentd_write_uint(w, epoch);
	agentd_write_str(w, "seq");
	agentd_write_uint(w, seq);
	agentd_write_str(w, "time_ms");
	agentd_write_int(w, t);
	agentd_write_str(w, "restart");
	agentd_write_bool(w, 0);
	agentd_write_str(w, "hash");
	agentd_write_bin(w, hash, 32);
	agentd_write_str(w, "pub");
	agentd_write_bin(w, pub, 32);
	agentd_write_str(w, "next");
	agentd_write_bin(w, pub, 32);
	agentd_write_str(w, "sig");
	agentd_write_bin(w, sig, 64);
	val = (void *)agentd_writer_data(w, &vlen);
	rc  = raw_seal(env, 'p', epoch, &val, &vlen);
	agentd_writer_free(w);
	return rc;
}

static void
append_n(struct ad_audit *a, int n)
{
	struct ad_audit_rec r = rec("s", "x.seal", "sealed record", 0);

	for (int i = 0; i < n; i++)
		ad_audit_append_sync(a, &r, NULL);
}

/* Seals are written where they should be, and verify --key passes. */
static void
seal_basics(struct ad_audit *a, unsigned char pub0[32])
{
	struct ad_audit_verify_result res;
	struct ad_audit_stats         st;
	struct keys                   ks = { 0 };
	struct stat                   sb;
	unsigned char                 other[32], buf[64];
	char *knew = ad_xasprintf("%s.new", seal_keyfile);

	ok(stat(seal_keyfile, &sb) == 0 && (sb.st_mode & 0777) == 0600
	        && sb.st_size == 48,
	    "seal: the key file is there, mode 0600, 48 bytes");
	ad_audit_stats(a, &st);
	ok(st.seals == 1 && st.sealed_seq == 0 && st.seal_epoch == 1,
	    "seal: a new key is sealed at once (seal 0, no record)");
	ad_audit_keys(a, take_key, &ks);
	ok(ks.n == 1 && ks.k[0].epoch == 0 && !ks.k[0].restart,
	    "seal: audit key names one key, seal 0's");
	memcpy(pub0, ks.k[0].pub, 32);
	append_n(a, 25);
	ad_audit_stats(a, &st);
	ok(st.seals == 3 && st.sealed_seq == 20 && st.seal_epoch == 3,
	    "seal: a seal every 10 records: seals 1 and 2 cover 10 and 20");
	ok(slurp(seal_keyfile, buf) == 48 && memcmp(buf, "ADSEALK1", 8) == 0
	        && buf[15] == 3,
	    "seal: the key file holds epoch 3's key only");
	ok(slurp(knew, buf) < 0, "seal: no key.new is left");
	free(knew);
	res = verify_keys(a, (const unsigned char(*)[32])pub0, 1);
	ok(res.ok == 1 && res.keyed && res.seals == 3 && res.sealed_seq == 20
	        && res.unsealed == 5 && res.last_seq == 25,
	    "seal: verify --key: 3 seals, sealed to 20, 5 unsealed");
	memset(other, 0x42, sizeof(other));
	res = verify_keys(a, (const unsigned char(*)[32])other, 1);
	ok(res.ok == 0 && res.bad_seq == 1, "seal: another key is refused");
	like(res.what, "seal 0 (no record) is signed by", "and names seal 0");
}

static int
hash_of(void *arg, const struct ad_audit_entry *e)
{
	memcpy(arg, e->hash, AD_AUDIT_HASH_LEN);
	return 0;
}

/* A dropped seal and a cut tail are named; without the key they are not. */
static void
seal_dropped(struct ad_audit *a, MDB_env *env, const unsigned char *pub0)
{
	const unsigned char(*k)[32] = (const unsigned char(*)[32])pub0;
	struct ad_audit_verify_result res;
	struct ad_audit_stats         st;
	void                         *val = NULL, *recs[10];
	size_t                        len = 0, lens[10];
	unsigned char                 h15[AD_AUDIT_HASH_LEN];

	raw_seal(env, 'g', 1, &val, &len);
	raw_seal(env, 'd', 1, NULL, NULL);
	is_int(verify(a).ok, 1, "seal: a dropped seal: whole without the key");
	res = verify_keys(a, k, 1);
	ok(res.ok == 0 && res.bad_seq == 1, "seal: with it, caught at 1");
	like(res.what, "seal 1 is missing", "and named: seal 1 is missing");
	raw_seal(env, 'p', 1, &val, &len);
	free(val);
	is_int(verify_keys(a, k, 1).ok, 1, "seal: whole once it is back");

	/* Records 16 to 25 cut, the head moved back to 15. */
	ad_audit_stats(a, &st);
	ad_audit_query(a,
	    &(struct ad_audit_filter) { .min_seq = 15, .max_seq = 15 },
	    hash_of, h15);
	for (int i = 0; i < 10; i++) {
		recs[i] = NULL;
		raw(env, 'g', 16 + (uint64_t)i, &recs[i], &lens[i]);
		raw(env, 'd', 16 + (uint64_t)i, NULL, NULL);
	}
	raw_head(env, 15, h15);
	is_int(verify(a).ok, 1, "seal: a cut tail: whole without the key");
	res = verify_keys(a, k, 1);
	ok(res.ok == 0 && res.bad_seq == 16, "seal: with it, caught at 16");
	like(res.what,
	    "seal 2 covers records to 20 but the log ends at "
	    "record 15",
	    "and said so");
	for (int i = 0; i < 10; i++) {
		raw(env, 'p', 16 + (uint64_t)i, &recs[i], &lens[i]);
		free(recs[i]);
	}
	raw_head(env, st.head_seq, st.head_hash);
	is_int(verify_keys(a, k, 1).ok, 1, "seal: whole once they are back");
}

/*
 * Crashes inside a seal: the key kept is the one the last seal
 * announced, whichever file holds it; a lost key starts a new one.
 */
static struct ad_audit *
seal_crashes(struct ad_store *s, struct ad_audit *a, unsigned char *pub_new)
{
	char                 *knew = ad_xasprintf("%s.new", seal_keyfile);
	unsigned char         before[64], after[64], buf[64];
	int                   nb, na;
	struct ad_audit_stats st;
	struct keys           ks = { 0 };

	ad_audit_close(a); /* seals what is unsealed: 21 to 25 */
	nb = slurp(seal_keyfile, before);
	a  = seal_open(s, 0);
	append_n(a, 1);
	ad_audit_close(a); /* seal 4 over record 26, key of epoch 5 */
	na = slurp(seal_keyfile, after);
	/* Killed after the seal's commit, before the key was replaced. */
	spit(seal_keyfile, before, nb);
	spit(knew, after, na);
	a = seal_open(s, 0);
	ad_audit_stats(a, &st);
	ok(a != NULL && st.seal_epoch == 5 && st.seals == 0,
	    "seal: after a crash inside a seal, the announced key in .new is "
	    "kept (epoch 5), no new key");
	ok(slurp(seal_keyfile, buf) == na && memcmp(buf, after, na) == 0
	        && access(knew, F_OK) != 0,
	    "seal: it is the key file now, .new is gone");
	/* Killed before the seal's commit: .new holds a key nobody
	 * announced. */
	ad_audit_close(a);
	memcpy(before, after, sizeof(before));
	before[20] ^= 1;
	spit(knew, before, na);
	a = seal_open(s, 0);
	ad_audit_stats(a, &st);
	ok(a != NULL && st.seal_epoch == 5 && st.seals == 0
	        && access(knew, F_OK) != 0,
	    "seal: an unannounced key in .new is destroyed, the key file "
	    "kept");
	/* The key lost: a new one, whose first seal says so. */
	ad_audit_close(a);
	unlink(seal_keyfile);
	a = seal_open(s, 0);
	ad_audit_stats(a, &st);
	ok(a != NULL && st.seals == 1 && st.seal_epoch == 6,
	    "seal: a lost key: a new key sealed at once (seal 5)");
	ad_audit_keys(a, take_key, &ks);
	ok(ks.n == 2 && ks.k[1].epoch == 5 && ks.k[1].restart,
	    "seal: audit key names it, as a restart at seal 5");
	memcpy(pub_new, ks.k[1].pub, 32);
	/* The time trigger. */
	ad_audit_close(a);
	a = seal_open(s, 100);
	append_n(a, 1);
	for (int64_t end = wait_until(5000);
	     ad_now_ms() < end && (ad_audit_stats(a, &st), st.seals == 0);)
		usleep(20000);
	ok(st.seals == 1 && st.sealed_seq == 27,
	    "seal: audit_seal_interval seals a record left alone");
	free(knew);
	return a;
}

/* The attack of issue 19, and a seal forged with the key on the disk. */
static void
seal_rewritten(struct ad_audit *a, MDB_env *env, const unsigned char *pub0,
    const unsigned char *pub_new)
{
	unsigned char                 keys[2][32], h10[32], buf[64];
	struct ad_audit_verify_result res;
	struct ad_audit_stats         st;

	memcpy(keys[0], pub0, 32);
	memcpy(keys[1], pub_new, 32);
	res = verify_keys(a, (const unsigned char(*)[32])keys, 1);
	ok(res.ok == 0 && res.bad_seq == 27,
	    "seal: with only the first key, the restart seal is named");
	like(res.what, "seal 5 (no record) is a new key's first seal",
	    "as a new key");
	res = verify_keys(a, (const unsigned char(*)[32])keys, 2);
	ok(res.ok == 1 && res.seals == 7 && res.unsealed == 0,
	    "seal: with both keys, whole: 7 seals, nothing unsealed");
	ad_audit_stats(a, &st);
	rewrite_all(env, st.head_seq, h10, 10);
	res = verify(a);
	ok(res.ok == 1 && res.last_seq == st.head_seq,
	    "seal: every record rewritten, every hash recomputed: verify "
	    "without a key says whole");
	res = verify_keys(a, (const unsigned char(*)[32])keys, 2);
	ok(res.ok == 0 && res.bad_seq == 1,
	    "seal: with the keys, broken at record 1, the first sealed one");
	like(res.what, "records 1 to 10 do not match seal 1",
	    "and says records 1 to 10 do not match seal 1");
	/* Seal 1 re-signed with the key the state directory holds. */
	slurp(seal_keyfile, buf);
	forge_seal(env, 1, 10, h10, buf + 16);
	res = verify_keys(a, (const unsigned char(*)[32])keys, 2);
	ok(res.ok == 0 && res.bad_seq == 1, "seal: a forged seal is caught");
	like(res.what,
	    "seal 1 (records 1 to 10) is not signed by the key seal 0 "
	    "announced",
	    "and named: seal 1 not signed by the key seal 0 announced");
}

static void
test_seal(void)
{
	struct ad_store              *s              = NULL;
	struct ad_audit              *a              = NULL;
	char                          err[AD_ERRLEN] = "";
	unsigned char                 pub0[32], pub_new[32], k[1][32];
	struct ad_audit_verify_result res;

	seal_dir     = ad_path_join(tmp, "seal");
	seal_keyfile = ad_path_join(seal_dir, "audit.key");
	if (!ok(ad_store_open(seal_dir, &s, err, sizeof(err)) == 0
	            && (a = seal_open(s, 0)) != NULL,
	        "seal: open a sealed audit log"))
		return;
	seal_basics(a, pub0);
	seal_dropped(a, ad_store_env(s), pub0);
	a = seal_crashes(s, a, pub_new);
	seal_rewritten(a, ad_store_env(s), pub0, pub_new);
	ad_audit_close(a);
	ad_store_close(s);
	/* A log opened without seals has nothing to check a key against. */
	s = NULL;
	ad_store_open(tmp, &s, err, sizeof(err));
	a = audit_open_ok(ad_store_env(s), "seal: open a log without seals");
	memset(k, 1, sizeof(k));
	res = verify_keys(a, (const unsigned char(*)[32])k, 1);
	ok(res.ok == 0, "seal: verify --key of a log without seals fails");
	ad_audit_close(a);
	ad_store_close(s);
	free(seal_dir);
	free(seal_keyfile);
}

int
main(void)
{
	struct ad_store *s              = NULL;
	struct ad_audit *a              = NULL;
	char             err[AD_ERRLEN] = "";
	int              opened;

	plan(85 + 10 + 8 + 3 + 6 + 34);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	opened = ad_store_open(tmp, &s, err, sizeof(err)) == 0;
	if (!ok(opened, "open a store")
	    || (a = audit_open_ok(ad_store_env(s), "open its audit log"))
	        == NULL)
		return 1;
	test_concurrent(a);
	test_reject(a);
	test_verify_ok(a);
	test_altered(a, ad_store_env(s));
	test_missing(a, ad_store_env(s), 300, "a middle record");
	test_missing(a, ad_store_env(s), NREC, "the last record");
	test_query(a);
	test_archive(a, ad_store_env(s));
	test_reopen(&s, &a);
	if (a != NULL)
		test_close_drains(a);
	ad_store_close(s);
	test_growth();
	test_nosync();
	test_gate();
	test_query_waits();
	test_failed_commit();
	test_many();
	test_sides();
	test_seal();
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
