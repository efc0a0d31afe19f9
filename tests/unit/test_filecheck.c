#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/util.h"
#include "plugin/filecheck.h"
#include "tap.h"

static char tmp[] = "/tmp/agentd-test-filecheck-XXXXXX";

static char *
make_file(const char *name, const char *content, mode_t mode)
{
	char *p = ad_path_join(tmp, name);
	FILE *f = fopen(p, "w");

	if (f != NULL) {
		fputs(content, f);
		fclose(f);
	}
	/* chmod, not the umask of fopen, decides the mode under test. */
	chmod(p, mode);
	return p;
}

static void
check_mode(mode_t mode, const char *name)
{
	char *p              = make_file("mode.so", "x", mode);
	char  err[AD_ERRLEN] = "";

	is_int(ad_plugin_file_check(p, geteuid(), err, sizeof(err)),
	    AGENTD_EDENIED, name);
	like(err, "chmod go-w", "the message says to chmod");
	unlink(p);
	free(p);
}

static void
test_modes(void)
{
	char *p              = make_file("good.so", "x", 0644);
	char  err[AD_ERRLEN] = "";

	is_int(ad_plugin_file_check(p, geteuid(), err, sizeof(err)), 0,
	    "a 0644 file of ours passes");
	unlink(p);
	free(p);
	check_mode(0664, "a group-writable file is refused");
	check_mode(0646, "a world-writable file is refused");
}

static void
test_not_regular(void)
{
	char *missing        = ad_path_join(tmp, "missing.so");
	char  err[AD_ERRLEN] = "";

	is_int(ad_plugin_file_check(tmp, geteuid(), err, sizeof(err)),
	    AGENTD_EDENIED, "a directory is refused");
	like(err, "not a regular file", "the message says why");
	is_int(ad_plugin_file_check(missing, geteuid(), err, sizeof(err)),
	    AGENTD_ENOENT, "a missing file is refused");
	like(err, "check `plugin =`", "the message says where to look");
	free(missing);
}

/* Only root can give a file away, so only root can test the owner rule. */
static void
test_owner(void)
{
	char *p;
	char  err[AD_ERRLEN] = "";

	if (geteuid() != 0) {
		for (int i = 0; i < 2; i++)
			printf("ok %d # SKIP not root\n", ++tap_run_);
		return;
	}
	p = make_file("owned.so", "x", 0644);
	if (chown(p, 65534, 65534) != 0)
		perror("chown");
	is_int(ad_plugin_file_check(p, 0, err, sizeof(err)), AGENTD_EDENIED,
	    "a file owned by another user is refused");
	like(err, "chown", "the message says to chown");
	unlink(p);
	free(p);
}

static void
test_sha256(void)
{
	char *abc   = make_file("abc.so", "abc", 0644);
	char *empty = make_file("empty.so", "", 0644);
	char *none  = ad_path_join(tmp, "none.so");
	char  hash[AD_HASH_LEN];
	char  err[AD_ERRLEN] = "";

	is_int(ad_file_sha256(abc, hash, err, sizeof(err)), 0, "hash abc");
	is_str(hash,
	    "sha256:"
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "sha256 of abc is the known one");
	is_int(ad_file_sha256(empty, hash, err, sizeof(err)), 0, "hash empty");
	is_str(hash,
	    "sha256:"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "sha256 of an empty file is the known one");
	is_int(ad_file_sha256(none, hash, err, sizeof(err)), AGENTD_ENOENT,
	    "hashing a missing file fails");
	unlink(abc);
	unlink(empty);
	free(abc);
	free(empty);
	free(none);
}

/* Spans several 64 KiB reads: a chunking bug changes the hash. */
static void
test_sha256_large(void)
{
	char  *p = ad_path_join(tmp, "large.so");
	FILE  *f = fopen(p, "w");
	char   hash[AD_HASH_LEN];
	char   err[AD_ERRLEN] = "";
	size_t i;

	for (i = 0; f != NULL && i < 1000000; i++)
		fputc('a', f);
	if (f != NULL)
		fclose(f);
	is_int(
	    ad_file_sha256(p, hash, err, sizeof(err)), 0, "hash a million a");
	is_str(hash,
	    "sha256:"
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	    "sha256 of a million a is the FIPS 180-2 one");
	unlink(p);
	free(p);
}

/*
 * The plugin store: a copy named by its content, read-only, unaffected
 * by what happens to the original afterwards.
 */
static void
test_store(void)
{
	char       *src   = make_file("p.so", "abc", 0644);
	char       *store = ad_path_join(tmp, "plugins");
	char       *path = NULL, *again = NULL, *want;
	char        err[AD_ERRLEN] = "", hash[AD_HASH_LEN];
	struct stat st;
	ino_t       ino;

	ad_file_sha256(src, hash, err, sizeof(err));
	is_int(ad_plugin_store(store, src, hash, &path, err, sizeof(err)), 0,
	    "store: copy in");
	want = ad_path_join(store,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	    ".so");
	is_str(path, want, "store: named by the content's sha256");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0555,
	    "store: the copy is read-only, readable by the plugin user "
	    "(0555)");
	ino = st.st_ino;
	free(src);
	src = make_file("p.so", "abd", 0644); /* overwritten in place */
	ok(stat(path, &st) == 0 && st.st_size == 3, "store: copy unaffected");
	is_int(ad_plugin_store(store, src, hash, &again, err, sizeof(err)), 0,
	    "store: a build stored already is used");
	ok(again != NULL && strcmp(again, path) == 0 && stat(again, &st) == 0
	        && st.st_ino == ino,
	    "store: the same file, not copied again");
	free(again);
	again = NULL;
	is_int(ad_plugin_store(store, src,
	           "sha256:"
	           "0000000000000000000000000000000000000000000000000000000000"
	           "000000",
	           &again, err, sizeof(err)),
	    AGENTD_EIO, "store: content that is not what was checked");
	like(err, "changed while it was being loaded", "store: says so");
	ok(again == NULL, "store: no path for a refused copy");
	is_int(ad_plugin_store(store, src, NULL, &again, err, sizeof(err)), 0,
	    "store: the new content beside the old");
	ok(again != NULL && strcmp(again, path) != 0
	        && access(path, R_OK) == 0,
	    "store: both versions kept");
	unlink(path);
	if (again != NULL)
		unlink(again);
	rmdir(store);
	unlink(src);
	free(src);
	free(store);
	free(path);
	free(again);
	free(want);
}

int
main(void)
{
	plan(18 + 11);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_modes();
	test_not_regular();
	test_owner();
	test_sha256();
	test_sha256_large();
	test_store();
	rmdir(tmp);
	return done_testing();
}
