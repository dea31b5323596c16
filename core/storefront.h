/* storefront.h: what storefronts read: products (list, search, filters, one by id or handle) priced for the
 * caller by the one resolver (core/pricing.h), in the caller's locale and sales channel. */
#ifndef SQ_STOREFRONT_H
#define SQ_STOREFRONT_H

#include <stdint.h>

#include "core/base/buf.h"
#include "core/ctx.h"
#include "core/pricing.h"

typedef enum { SQ_SORT_NEWEST, SQ_SORT_TITLE, SQ_SORT_PRICE_ASC, SQ_SORT_PRICE_DESC, SQ_SORT_RELEVANCE } sq_sort_t;

enum { SQ_EXPAND_VARIANTS = 1, SQ_EXPAND_PRICES = 2, SQ_EXPAND_AVAILABILITY = 4, SQ_EXPAND_CATEGORIES = 8 };

typedef struct {
    const char *channel_id;           /* from the publishable key */
    const char *customer_id;          /* the logged-in customer or NULL (customer-group prices) */
    const char *currency, *region_id; /* what to price in (see souq_pick_currency) */
    const char *locales;              /* text[] literal of preferences, best first */
    const char *q, *category_id, *collection_id, *tag;
    const char *price_min, *price_max; /* integers in minor units, as text */
    const char *in_stock;              /* "t", "f" or NULL */
    const char *options;               /* JSON object {"Size": "M"} or NULL */
    const char *fields;                /* text[] literal of top-level fields, or NULL for all */
    const char *id_or_handle;          /* one product */
    sq_sort_t sort;
    unsigned expand;
    sq_page_t page; /* page.after is a cursor key this module produced */
    int64_t now_us;
} sq_store_query_t;

/** Products as JSON texts ready to send (variants and resolved prices spliced in); locale is the one used. */
typedef void (*sq_store_products_cb)(const sq_list_t *list, const char *locale, const sq_err_t *err, void *data);
void sq_store_products(sq_ctx_t *cx, const sq_store_query_t *q, sq_store_products_cb cb, void *data);

/** The catalog generation. Storefront reads are cached per thread (ctx->cache) and valid only in the generation
 * they were read in; whatever changes what storefronts see bumps it: a successful admin write on this server
 * (at once) and any catalog change in the database, from anywhere (NOTIFY souq 'catalog', within milliseconds). */
uint64_t sq_store_generation(void);
void sq_store_invalidate(void);

/** Splices variants and prices into one product row (exposed for unit tests): product is the product JSON,
 * variants the variant JSONs separated by \x1e, candidates the price lines (format in storefront.c). */
char *sq_store_assemble(sq_arena_t *a, const char *product, const char *variants, const char *candidates, const char *currency,
                        const char *channel_id, const char *region_id, const char *groups, int64_t now_us, bool prices);

/** A price candidate of the idx-th variant (or cart line) of a row. */
typedef struct {
    int vidx;
    sq_price_candidate_t c;
} sq_indexed_candidate_t;
/** Parses candidate lines (format in storefront.c) into out (at most max); lists are arena-allocated and shared
 * between candidates of the same list. Returns the count. */
int sq_store_parse_candidates(sq_arena_t *a, const char *text, const char *currency, sq_indexed_candidate_t *out, int max);
/** Appends a resolved price as JSON ({amount, currency_code, compare_at_amount, price_list_id, price_type,
 * min_quantity}, or null when none was found). */
void sq_store_price_json(sq_buf_t *b, const sq_price_result_t *r);

#endif
