/*
 * jsonkit - JSON (a jansson value) written as msgpack, for the bundled
 * plugins that speak JSON to the outside (llm, concierge, scout,
 * vetting).  Compiled into each (no library of its own: a plugin exports
 * only its descriptor).
 */
#ifndef JSONKIT_H
#define JSONKIT_H

#include <jansson.h>

#include <agentd/msg.h>

/*
 * j appended to w as one msgpack value: objects as maps (their keys as
 * strings), arrays, strings (their whole length: a JSON string may hold
 * NUL), integers, reals, booleans, null as nil.
 */
void jsonkit_write(agentd_writer *w, const json_t *j);

#endif /* JSONKIT_H */
