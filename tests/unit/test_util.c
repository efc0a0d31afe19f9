/* Small helpers every runtime module uses. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/ops.h"
#include "common/util.h"
#include "tap.h"

static void
check_join(const char *dir, const char *rel, const char *want)
{
	char *got = ad_path_join(dir, rel);

	is_str(got, want, want);
	free(got);
}

static void
check_dirname(const char *path, const char *want)
{
	char *got = ad_dirname(path);

	is_str(got, want, path);
	free(got);
}

int
main(void)
{
	char        tmpl[] = "/tmp/agentd-util-XXXXXX";
	char       *deep;
	struct stat st;
	char        hex[9];
	char        err[AD_ERRLEN];

	plan(30);
	check_join("a", "b.so", "a/b.so");
	check_join("a/", "b.so", "a/b.so");
	check_join("a", "/abs/b.so", "/abs/b.so");
	check_join("", "b.so", "b.so");
	check_dirname("a/b.conf", "a");
	check_dirname("b.conf", ".");
	check_dirname("/b.conf", "/");

	ok(ad_valid_name("pricing.v2_eu-1"),
	    "letters, digits, _ . - are a name");
	ok(!ad_valid_name(""), "the empty string is not a name");
	ok(!ad_valid_name("a b"), "a space is not allowed");
	ok(!ad_valid_name("a/b"), "a slash is not allowed");
	ok(!ad_valid_name(NULL), "NULL is not a name");
	ok(ad_valid_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                 "aaaaaaaaaaa"),
	    "63 bytes is a name");
	ok(!ad_valid_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                  "aaaaaaaaaaaaa"),
	    "64 bytes is too long");

	ad_hex((const unsigned char *)"\x00\xab\x10\xff", 4, hex);
	is_str(hex, "00ab10ff", "hex of four bytes");

	ok(mkdtemp(tmpl) != NULL, "temporary folder");
	deep = ad_xasprintf("%s/x/y/z", tmpl);
	is_int(ad_mkdir_p(deep, 0700), 0, "mkdir -p creates the parents");
	ok(stat(deep, &st) == 0 && S_ISDIR(st.st_mode)
	        && (st.st_mode & 0777) == 0700,
	    "the folder exists with mode 0700");
	is_int(ad_mkdir_p(deep, 0700), 0,
	    "mkdir -p of an existing folder is fine");
	free(deep);
	deep = ad_xasprintf("rm -rf %s", tmpl);
	(void)!system(deep);
	free(deep);

	ok(ad_now_ms() > 0 && ad_wall_ms() > 1600000000000LL,
	    "clocks give milliseconds");
	is_int(
	    ad_log_parse_level("debug"), AGENTD_LOG_DEBUG, "log level debug");
	is_int(ad_log_parse_level("loud"), -1, "an unknown log level is -1");

	is_int(ad_nng_error(NNG_ETIMEDOUT), AGENTD_ETIMEOUT,
	    "nng timeout is ETIMEOUT");
	is_int(ad_nng_error(NNG_ECLOSED), AGENTD_ECLOSED,
	    "nng closed is ECLOSED");
	is_int(ad_nng_error(NNG_ECONNREFUSED), AGENTD_EUNAVAIL,
	    "nng refused is EUNAVAIL");
	ad_seterr(err, sizeof(err), "%s:%d: %s", "x.conf", 3, "bad");
	is_str(err, "x.conf:3: bad", "ad_seterr formats one line");

	/* The settings operation's mask (doc/protocol.md). */
	ok(ad_setting_is_secret("api_token") && ad_setting_is_secret("Secret")
	        && ad_setting_is_secret("DB_PASSWORD")
	        && ad_setting_is_secret("smtp_passwd"),
	    "secret, token, password, passwd: masked, in any case");
	ok(ad_setting_is_secret("signing_key")
	        && ad_setting_is_secret("credentials_file")
	        && ad_setting_is_secret("private_pem"),
	    "key, credential, private: masked");
	ok(!ad_setting_is_secret("region")
	        && !ad_setting_is_secret("target_margin")
	        && !ad_setting_is_secret("sample_product"),
	    "other names are shown");
	ok(ad_setting_is_secret("monkey_count"),
	    "the rule errs on the side of hiding (monkey has key)");
	return done_testing();
}
