/*
 * optdoc - rewrite the tables of options in a page (doc/configuration.md)
 * from the rows of config/options.c.  `make options-doc` runs it.
 *
 *   optdoc FILE    rewrites FILE's tables in place; exit 1 on an error
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/options.h"

static char *
slurp(const char *path)
{
	FILE  *f   = fopen(path, "r");
	char  *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL)
		return NULL;
	do {
		cap = cap ? cap * 2 : 65536;
		buf = ad_xrealloc(buf, cap + 1);
		n += fread(buf + n, 1, cap - n, f);
	} while (n == cap);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	char *md, *out;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: optdoc FILE\n");
		return 2;
	}
	md = slurp(argv[1]);
	if (md == NULL) {
		perror(argv[1]);
		return 1;
	}
	out = ad_opts_doc_update(md);
	if (out == NULL) {
		fprintf(stderr,
		    "optdoc: %s: a \"<!-- options: NAME -->\" line names no "
		    "section or has no \"<!-- end -->\" after it\n",
		    argv[1]);
		return 1;
	}
	if (strcmp(out, md) != 0) {
		f = fopen(argv[1], "w");
		if (f == NULL || fputs(out, f) < 0 || fclose(f) != 0) {
			perror(argv[1]);
			return 1;
		}
	}
	free(out);
	free(md);
	return 0;
}
