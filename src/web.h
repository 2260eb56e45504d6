/* web.h — the browser client built into the binary (web.c). */
#ifndef CHATD_WEB_H
#define CHATD_WEB_H
#include "server.h"

/* Answers a request for "/" or one of the client's files (GET, HEAD, OPTIONS; 405 for the
 * rest) and returns 1; returns 0, answering nothing, for any other path. */
int web_route(server *s, conn *c, http_req *r, const char *path, size_t n);
#endif
