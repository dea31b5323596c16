/* store_products.c: GET /v1/store/products and /v1/store/products/{id_or_handle}: the query string and
 * Accept-Language become a sq_store_query_t; answers are priced for the caller's channel and groups. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/buf.h"
#include "core/base/id.h"
#include "core/base/iso.h"
#include "core/base/util.h"
#include "core/storefront.h"

static int bad(sq_req_t *req, const char *param, const char *code, const char *detail)
{
    sq_err_set(&req->err, SQ_E_INVALID_PARAMETER, "A query parameter is invalid.");
    req->err.param_errors = true;
    sq_err_field(&req->err, param, code, "%s %s", param, detail);
    return -1;
}

static bool is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return n > 0;
}

/* "a,b,c" -> '{a,b,c}' after checking each against allowed (NULL-terminated); -1 on an unknown one */
static int csv_set(sq_req_t *req, const char *param, const char *const *allowed, const char **literal, unsigned *bits)
{
    const char *v = sq_req_query(req, param);
    *literal = NULL;
    if (v == NULL)
        return 0;
    sq_buf_t b;
    sq_buf_init(&b, req->arena, strlen(v) + 4);
    sq_buf_str(&b, "{");
    int n = 0;
    for (const char *p = v; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (int i = 0; allowed[i] != NULL; i++)
            if (strlen(allowed[i]) == len && strncmp(allowed[i], p, len) == 0)
                found = i;
        if (found < 0)
            return bad(req, param, "invalid_value", "has a value this endpoint does not know");
        if (bits != NULL)
            *bits |= 1u << found;
        if (n++)
            sq_buf_str(&b, ",");
        sq_buf_add(&b, p, len);
        p += len + (e ? 1 : 0);
        if (e && !*p)
            return bad(req, param, "invalid_value", "must not end with a comma");
    }
    sq_buf_str(&b, "}");
    *literal = b.p;
    return 0;
}

static int nonneg_int(sq_req_t *req, const char *param, const char **out)
{
    const char *v = sq_req_query(req, param);
    *out = NULL;
    if (v == NULL)
        return 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < 0 || x > 1000000000000LL)
        return bad(req, param, "out_of_range", "must be an integer amount in minor units");
    *out = v;
    return 0;
}

/* a filter value of 1 to max characters */
static int text_param(sq_req_t *req, const char *param, size_t max, const char **out)
{
    *out = sq_req_query(req, param);
    if (*out != NULL && (**out == '\0' || strlen(*out) > max)) {
        char what[48];
        snprintf(what, sizeof(what), "must be 1 to %zu characters", max);
        return bad(req, param, "invalid_length", what);
    }
    return 0;
}

/* options=Size:M,Color:Blue -> {"Size":"M","Color":"Blue"} */
static int options_filter(sq_req_t *req, const char **out)
{
    const char *v = sq_req_query(req, "options");
    *out = NULL;
    if (v == NULL)
        return 0;
    json_t *o = sq_json_own(req->arena, json_object());
    char *copy = sq_arena_strdup(req->arena, v), *save = NULL;
    for (char *pair = strtok_r(copy, ",", &save); pair != NULL; pair = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(pair, ':');
        if (colon == NULL || colon == pair || colon[1] == '\0' || strlen(pair) > 200)
            return bad(req, "options", "invalid_format", "must be title:value pairs separated by commas");
        *colon = '\0';
        json_object_set_new(o, pair, json_string(colon + 1));
    }
    if (json_object_size(o) == 0 || json_object_size(o) > 3)
        return bad(req, "options", "invalid_format", "must name 1 to 3 options");
    size_t len;
    *out = sq_json_dump(req->arena, o, &len);
    return 0;
}

/* Accept-Language (RFC 9110 12.5.4) or ?locale= -> a text[] literal of language tags, best first */
const char *sq_store_locales(sq_req_t *req)
{
    const char *explicit_locale = sq_req_query(req, "locale");
    const char *h = explicit_locale ? explicit_locale : sq_req_header(req, "accept-language");
    if (h == NULL)
        return "{}";
    struct {
        char tag[12];
        int q;
    } prefs[8];
    int n = 0;
    for (const char *p = h; *p && n < 8;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ';')
            p++;
        size_t len = (size_t)(p - start);
        while (len > 0 && start[len - 1] == ' ')
            len--;
        int q = 1000;
        if (*p == ';') {
            const char *qs = strstr(p, "q=");
            const char *next = strchr(p, ',');
            if (qs != NULL && (next == NULL || qs < next))
                q = (int)(strtod(qs + 2, NULL) * 1000);
            if (q > 1000) /* RFC 9110 qvalues are 0 to 1 */
                q = 1000;
            while (*p && *p != ',')
                p++;
        }
        /* ll or ll-RR only */
        if ((len == 2 || (len == 5 && start[2] == '-')) && q > 0 && isalpha((unsigned char)start[0]) &&
            isalpha((unsigned char)start[1])) {
            char *t = prefs[n].tag;
            t[0] = (char)tolower((unsigned char)start[0]);
            t[1] = (char)tolower((unsigned char)start[1]);
            t[2] = '\0';
            if (len == 5 && isalpha((unsigned char)start[3]) && isalpha((unsigned char)start[4])) {
                t[2] = '-';
                t[3] = (char)toupper((unsigned char)start[3]);
                t[4] = (char)toupper((unsigned char)start[4]);
                t[5] = '\0';
            }
            prefs[n++].q = q;
        }
    }
    /* stable sort by q, highest first */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && prefs[j].q > prefs[j - 1].q; j--) {
            __typeof__(prefs[0]) tmp = prefs[j];
            prefs[j] = prefs[j - 1];
            prefs[j - 1] = tmp;
        }
    sq_buf_t b;
    sq_buf_init(&b, req->arena, 64);
    sq_buf_str(&b, "{");
    for (int i = 0; i < n; i++)
        sq_buf_printf(&b, "%s%s", i ? "," : "", prefs[i].tag);
    sq_buf_str(&b, "}");
    return b.p;
}

static const char *const expand_names[] = {"variants", "prices", "availability", "categories", NULL};
static const char *const field_names[] = {"id",   "object", "title", "handle",  "subtitle",   "description", "type",       "brand",
                                          "tags", "seo",    "media", "options", "categories", "created_at",  "updated_at",
                                          "gift_card", NULL};
static const char *const sort_names[] = {"newest", "title", "price_asc", "price_desc", "relevance", NULL};

static int build_query(sq_req_t *req, sq_store_query_t *q, bool one)
{
    memset(q, 0, sizeof(*q));
    q->channel_id = req->principal.channel_id;
    q->customer_id = req->principal.kind == SQ_PRINCIPAL_CUSTOMER ? req->principal.id : NULL;
    q->now_us = sq_now_us();
    q->locales = sq_store_locales(req);
    q->region_id = sq_req_query(req, "region_id");
    const char *cur = sq_req_query(req, "currency_code");
    if (cur != NULL) {
        char lower[4] = {0};
        for (int i = 0; i < 3 && cur[i]; i++)
            lower[i] = (char)tolower((unsigned char)cur[i]);
        if (strlen(cur) != 3 || sq_iso_currency(lower) == NULL)
            return bad(req, "currency_code", "invalid_value", "must be an ISO 4217 currency code");
        q->currency = sq_arena_strdup(req->arena, lower);
    }
    if (q->region_id != NULL && !is_token(q->region_id, strlen(q->region_id)))
        return bad(req, "region_id", "invalid_format", "must be a region id");
    const char *literal;
    unsigned bits = 0;
    if (csv_set(req, "expand", expand_names, &literal, &bits) != 0 || csv_set(req, "fields", field_names, &q->fields, NULL) != 0)
        return -1;
    q->expand = literal != NULL ? bits : one ? (SQ_EXPAND_VARIANTS | SQ_EXPAND_PRICES | SQ_EXPAND_AVAILABILITY) : 0;
    if (q->expand & (SQ_EXPAND_PRICES | SQ_EXPAND_AVAILABILITY))
        q->expand |= SQ_EXPAND_VARIANTS;
    if (one)
        return 0;
    q->q = sq_req_query(req, "q");
    if (q->q != NULL && (strlen(q->q) == 0 || strlen(q->q) > 256))
        return bad(req, "q", "invalid_length", "must be 1 to 256 characters");
    const char *sort = sq_req_query(req, "sort");
    q->sort = q->q != NULL ? SQ_SORT_RELEVANCE : SQ_SORT_NEWEST;
    if (sort != NULL) {
        int s = -1;
        for (int i = 0; sort_names[i] != NULL; i++)
            if (strcmp(sort_names[i], sort) == 0)
                s = i;
        if (s < 0)
            return bad(req, "sort", "invalid_value", "must be newest, title, price_asc, price_desc or relevance");
        if (s == SQ_SORT_RELEVANCE && q->q == NULL)
            return bad(req, "sort", "invalid_value", "relevance needs a search text (q)");
        q->sort = (sq_sort_t)s;
    }
    req->list_sort = sort_names[q->sort]; /* the cursor is signed for the sort used, implied or not */
    if (sq_req_page(req, &q->page) != 0)
        return -1;
    if (text_param(req, "category_id", 128, &q->category_id) != 0 ||
        text_param(req, "collection_id", 128, &q->collection_id) != 0 || text_param(req, "tag", 256, &q->tag) != 0)
        return -1;
    if (nonneg_int(req, "price_min", &q->price_min) != 0 || nonneg_int(req, "price_max", &q->price_max) != 0 ||
        options_filter(req, &q->options) != 0)
        return -1;
    if (q->price_min != NULL && q->price_max != NULL && strtoll(q->price_min, NULL, 10) > strtoll(q->price_max, NULL, 10))
        return bad(req, "price_max", "out_of_range", "must not be below price_min");
    const char *stock = sq_req_query(req, "in_stock");
    if (stock != NULL) {
        if (strcmp(stock, "true") != 0 && strcmp(stock, "false") != 0)
            return bad(req, "in_stock", "invalid_value", "must be true or false");
        q->in_stock = stock[0] == 't' ? "t" : "f";
    }
    return 0;
}

/* The text depends on Accept-Language: caches must key on it (Vary), and the client learns what it got. */
void sq_store_content_language(sq_req_t *req, const char *locale)
{
    if (req->h2o == NULL)
        return;
    h2o_set_header_token(&req->h2o->pool, &req->h2o->res.headers, H2O_TOKEN_VARY, H2O_STRLIT("Accept-Language"));
    if (locale != NULL)
        h2o_add_header(&req->h2o->pool, &req->h2o->res.headers, H2O_TOKEN_CONTENT_LANGUAGE, NULL,
                       sq_arena_strdup(req->arena, locale), strlen(locale));
}

static void on_list(const sq_list_t *list, const char *locale, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_store_content_language(req, locale);
    sq_req_send_list(req, list);
}

static void on_one(const sq_list_t *list, const char *locale, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    if (list->n == 0) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The product does not exist.");
        return;
    }
    sq_store_content_language(req, locale);
    sq_req_send_json(req, 200, list->items[0], strlen(list->items[0]));
}

void sq_h_store_products(sq_req_t *req)
{
    sq_store_query_t *q = SQ_NEW(req->arena, sq_store_query_t);
    if (build_query(req, q, false) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_store_products(&req->cx, q, on_list, req);
}

void sq_h_store_product(sq_req_t *req)
{
    sq_store_query_t *q = SQ_NEW(req->arena, sq_store_query_t);
    if (build_query(req, q, true) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *key = sq_req_param(req, "id");
    json_t *as_json = sq_json_own(req->arena, json_string(key));
    const char *code;
    if (!sq_id_valid("prod", key) && (as_json == NULL || sq_check_handle(as_json, &code) != NULL)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The product does not exist.");
        return;
    }
    q->id_or_handle = key;
    q->page.limit = 1;
    sq_store_products(&req->cx, q, on_one, req);
}
