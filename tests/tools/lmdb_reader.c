/*
 * lmdb_reader DIR - open the LMDB environment in DIR, begin a read
 * transaction, say "reading" and hold it until killed: a reader that dies
 * without ending its transaction, as a killed process does.
 * lmdb_reader DIR DB - print the number of entries of database DB (0 if
 * it does not exist) and exit.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include <lmdb.h>

int
main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	int      rc;

	MDB_dbi  dbi;
	MDB_stat ms;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: lmdb_reader DIR [DB]\n");
		return 2;
	}
	if ((rc = mdb_env_create(&env)) != 0
	    || (rc = mdb_env_set_maxdbs(env, 16)) != 0
	    || (rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0600)) != 0
	    || (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		fprintf(stderr, "lmdb_reader: %s\n", mdb_strerror(rc));
		return 1;
	}
	if (argc == 3) {
		rc = mdb_dbi_open(txn, argv[2], 0, &dbi);
		if (rc == 0 && (rc = mdb_stat(txn, dbi, &ms)) == 0)
			printf("%zu\n", ms.ms_entries);
		else if (rc == MDB_NOTFOUND)
			printf("0\n");
		else
			fprintf(stderr, "lmdb_reader: %s\n", mdb_strerror(rc));
		mdb_txn_abort(txn);
		mdb_env_close(env);
		return rc == 0 || rc == MDB_NOTFOUND ? 0 : 1;
	}
	printf("reading\n");
	fflush(stdout);
	for (;;)
		pause();
}
