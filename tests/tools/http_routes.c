/*
 * http_routes - print the HTTP API's route table (supervisor/http_route.c),
 * one route a line: "METHOD PATH QUERY", QUERY being the route's
 * "name:type,..." or "-" when it reads none.
 *
 * tests/system/http_openapi.sh compares these lines with doc/openapi.yaml,
 * so that a route added to the table without its documentation, or a
 * query argument, fails the suite.
 */
#include "config.h"

#include <stdio.h>

#include "supervisor/http_route.h"

int
main(void)
{
	const struct ad_route *r;
	size_t                 i;

	for (i = 0; (r = ad_route_at(i)) != NULL; i++)
		printf("%s %s %s\n", ad_route_method(r), ad_route_path(r),
		    ad_route_query(r)[0] != '\0' ? ad_route_query(r) : "-");
	return 0;
}
