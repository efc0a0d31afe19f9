/*
 * lmdb_reader DIR - open the LMDB environment in DIR, begin a read
 * transaction, say "reading" and hold it until killed: a reader that dies
 * without ending its transaction, as a killed process does.
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

	if (argc != 2) {
		fprintf(stderr, "usage: lmdb_reader DIR\n");
		return 2;
	}
	if ((rc = mdb_env_create(&env)) != 0
	    || (rc = mdb_env_set_maxdbs(env, 16)) != 0
	    || (rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0600)) != 0
	    || (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		fprintf(stderr, "lmdb_reader: %s\n", mdb_strerror(rc));
		return 1;
	}
	printf("reading\n");
	fflush(stdout);
	for (;;)
		pause();
}
