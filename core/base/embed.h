/* embed.h: files compiled into the binary (migrations, the catalog seed, the OpenAPI document); see scripts/embed.sh. */
#ifndef SQ_EMBED_H
#define SQ_EMBED_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *data; /* NUL-terminated */
    size_t len;
} sq_embed_t;

/** migrations/NNNN_name.sql in order. */
extern const sq_embed_t sq_migrations[];
extern const size_t sq_migrations_count;
/** openapi/openapi.json. */
extern const sq_embed_t sq_openapi_json;
/** core/seed_catalog.sql: defines pg_temp.souq_seed_catalog(n, demo) for the session (core/seed_db.c). */
extern const sq_embed_t sq_seed_catalog_sql;

#endif
