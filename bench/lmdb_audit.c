/*
 * lmdb_audit - bench/run's raw LMDB audit rows: the limit of what agentd's
 * audit log can do on this disk.  One writer appends records to a plain
 * LMDB database in a temporary folder, BATCH records per transaction,
 * durably (LMDB's default sync flags, as agentd's store: MDB_NOTLS only),
 * keys 8-byte big-endian sequence numbers written with MDB_APPEND, values
 * as big as agentd's (bench/auditrec.h; no hash is computed).
 *
 *   lmdb_audit [-b BATCH] [-d SECONDS] [-W WARMUP_SECONDS]
 *
 * Counts the records of the transactions that began after the warm-up and
 * committed within SECONDS after it; latency is per transaction, from its
 * begin to the return of mdb_txn_commit (every record in it is
 * acknowledged then).  Prints one line (bench/README.md):
 *
 *   audit way=lmdb conf=BATCH/txn clients=1 recs=N secs=S rate=R
 *       p50_us=X p99_us=Y per_txn=BATCH
 *
 * The folder is made in $BENCH_TMPDIR (else $TMPDIR, else /tmp) and
 * removed at the end.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "auditrec.h"
#include "benchlib.h"

static char dir[4096];

static void
cleanup(void)
{
	char path[4200];

	if (dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
	dir[0] = '\0';
}

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "lmdb_audit: %s: %s\n", what, mdb_strerror(rc));
	cleanup();
	return 1;
}

static int
usage(void)
{
	fprintf(
	    stderr, "usage: lmdb_audit [-b BATCH] [-d SECONDS] [-W WARMUP]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char    *base  = getenv("BENCH_TMPDIR");
	long           batch = 1;
	double         secs = 2, warm = 0.2;
	MDB_env       *env;
	MDB_txn       *txn;
	MDB_dbi        dbi;
	struct samples lat;
	uint64_t       seq = 0, recs = 0, txns = 0, t0, t1, warm_end, end;
	unsigned char  kb[8], vb[AUDITREC_VALUE_MAX];
	int            c, rc, i;

	while ((c = getopt(argc, argv, "b:d:W:")) != -1) {
		switch (c) {
		case 'b':
			batch = atol(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'W':
			warm = atof(optarg);
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || batch < 1 || batch > 1000000 || secs <= 0
	    || warm < 0)
		return usage();
	if (base == NULL || base[0] == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/lmdb_audit.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "lmdb_audit: mkdtemp %s: %s\n", dir,
		    strerror(errno));
		return 1;
	}
	if (samples_init(&lat, 1) != 0)
		return fail("samples", ENOMEM);
	if ((rc = mdb_env_create(&env)) != 0
	    || (rc = mdb_env_set_mapsize(env, (size_t)4 << 30)) != 0
	    || (rc = mdb_env_set_maxdbs(env, 4)) != 0
	    || (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0)
		return fail("opening the environment", rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0
	    || (rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &dbi)) != 0
	    || (rc = mdb_txn_commit(txn)) != 0)
		return fail("creating the database", rc);

	warm_end = now_ns() + (uint64_t)(warm * 1e9);
	end      = warm_end + (uint64_t)(secs * 1e9);
	for (;;) {
		t0 = now_ns();
		if (t0 >= end)
			break;
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			return fail("mdb_txn_begin", rc);
		for (i = 0; i < batch; i++) {
			MDB_val key = { sizeof(kb), kb }, val;
			int     k;

			seq++;
			for (k = 0; k < 8; k++)
				kb[k] = (unsigned char)(seq >> (56 - 8 * k));
			val.mv_data = vb;
			val.mv_size = auditrec_value(
			    vb, seq, (int64_t)(t0 / 1000000), "a1", "a1-1");
			if ((rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND))
			    != 0) {
				mdb_txn_abort(txn);
				return fail("mdb_put", rc);
			}
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			return fail("mdb_txn_commit", rc);
		t1 = now_ns();
		if (t0 >= warm_end && t1 <= end) {
			recs += (uint64_t)batch;
			txns++;
			samples_add(&lat, t1 - t0);
		}
	}
	mdb_env_close(env);
	cleanup();
	samples_sort(&lat);
	printf("audit way=lmdb conf=%ld/txn clients=1 recs=%llu secs=%.3f "
	       "rate=%.0f p50_us=%.1f p99_us=%.1f per_txn=%.1f\n",
	    batch, (unsigned long long)recs, secs, (double)recs / secs,
	    pct_us(&lat, 50), pct_us(&lat, 99),
	    txns ? (double)recs / (double)txns : 0);
	samples_free(&lat);
	return 0;
}
