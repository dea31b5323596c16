/* authn.h: the authentication stage of the pipeline: credentials -> principal -> permission, then the handler. */
#ifndef SQ_AUTHN_H
#define SQ_AUTHN_H

#include "api/req.h"

/** Authenticates req per its route's auth kind; calls sq_req_dispatch or answers 401/403/503. */
void sq_authn(sq_req_t *req);
/** Drops this thread's cached publishable keys (on NOTIFY souq 'api_keys'). */
void sq_authn_flush_keys(sq_thread_t *thr);
/** True if the principal holds perm (staff role or secret-key scope). */
bool sq_authn_can(const sq_principal_t *p, const char *perm);

#endif
