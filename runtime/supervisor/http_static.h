/*
 * http_static.h - the command center's files (doc/console.md), served by
 * the HTTP server at / beside the API.
 *
 * The files of one directory are read once, when the server starts, and
 * served from memory: a request names one of them ("/" is index.html) or
 * gets 404, so no path reaches the file system and nothing is listed.
 * The directory is $AGENTD_CONSOLE_DIR, else "console" beside agentd (a
 * build tree: runtime/console), else AGENTD_CONSOLEDIR (make install puts
 * the files there).  Every answer carries a Content-Security-Policy that
 * allows only this origin's scripts, styles and requests.
 *
 * This file owns struct ad_http_static.
 */
#ifndef AD_HTTP_STATIC_H
#define AD_HTTP_STATIC_H

#include <microhttpd.h>

struct ad_http_static;

/*
 * The files of the console's directory into *st (caller owns, free with
 * ad_http_static_free; an empty set when the directory is missing, with
 * one line logged).  Never fails: agentd serves its API without them.
 */
void ad_http_static_load(struct ad_http_static **st);
void ad_http_static_free(struct ad_http_static *st);

/* How many files *st holds. */
unsigned ad_http_static_count(const struct ad_http_static *st);

/*
 * Answer method and url (decoded, no query) on conn from st: 200 with the
 * file, 404, or 405 for a method other than GET and HEAD.  *code is the
 * status sent (for the server's counters).
 */
enum MHD_Result ad_http_static_serve(const struct ad_http_static *st,
    struct MHD_Connection *conn, const char *method, const char *url,
    unsigned *code);

#endif
