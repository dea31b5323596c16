/* routes.h: the route table: every endpoint, its credentials and permission. openapi/ must match it. */
#ifndef SQ_ROUTES_H
#define SQ_ROUTES_H

#include <stddef.h>

#include "api/router.h"

extern const sq_route_t sq_routes[];
extern const size_t sq_routes_count;

#endif
