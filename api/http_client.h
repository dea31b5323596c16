/* http_client.h: the implementation of sq_ctx_t.http on a loop thread (core/http.h). */
#ifndef SQ_HTTP_CLIENT_H
#define SQ_HTTP_CLIENT_H

#include "api/runtime.h"
#include "core/ctx.h"

/** sq_ctx_t.http for contexts of loop threads: cx->offload_ctx must be the sq_thread_t. */
void sq_api_http(sq_ctx_t *cx, const sq_http_request_t *rq, sq_http_cb cb, void *data);

#endif
