/* tax.c: input rules of tax rates, and the built-in table tax provider (choice of rates and rounding in tax.h). */
#include "core/tax.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/money.h"
#include "core/base/util.h"

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)

/* lower-case letters, digits and underscores (variants' tax_class CHECK) */
static const char *check_class(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    *code = "invalid_format";
    if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s))
        return "must be lower-case letters, digits and underscores";
    return NULL;
}

/* an ISO 3166-2 subdivision code without the country ("ca", "by", "qc"): letters, digits and dashes */
static const char *check_province(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    *code = "invalid_format";
    if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(s))
        return "must be letters, digits and dashes (an ISO 3166-2 subdivision code without the country)";
    return NULL;
}

#define RATE(req)                                                                                                                  \
    F("region_id", SQ_FT_STR, SQ_F_NULLABLE, 1, 40, NULL, sq_check_id, NULL),                                                      \
        F("country_code", SQ_FT_STR, SQ_F_NULLABLE, 2, 2, NULL, sq_check_country, NULL),                                           \
        F("province_code", SQ_FT_STR, SQ_F_NULLABLE, 1, 16, NULL, check_province, NULL),                                           \
        F("tax_class", SQ_FT_STR, 0, 1, 32, NULL, check_class, NULL), F("rate_bp", SQ_FT_INT, (req), 0, 10000, NULL, NULL, NULL),  \
        F("name", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL), F("code", SQ_FT_STR, (req), 1, 64, NULL, NULL, NULL), META
const sq_field_t sq_tax_rate_create_fields[] = {RATE(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_tax_rate_update_fields[] = {RATE(0), {NULL}};

static bool given(const json_t *b, const char *k)
{
    const json_t *v = json_object_get(b, k);
    return v != NULL && !json_is_null(v);
}

/* A rate is for a region or for a country (a PATCH that moves it sends the other one as null; the table's CHECK
 * catches the rest), and a province needs its country. */
int sq_tax_rate_check(const json_t *b, bool create, sq_err_t *err);
int sq_tax_rate_check(const json_t *b, bool create, sq_err_t *err)
{
    bool region = given(b, "region_id"), country = given(b, "country_code");
    if (region && country)
        sq_err_field(err, "/country_code", "not_allowed", "give region_id or country_code, not both");
    else if (create && !region && !country)
        sq_err_field(err, "/region_id", "required", "give region_id (the region's default rate) or country_code");
    if (create && given(b, "province_code") && !country)
        sq_err_field(err, "/province_code", "not_allowed", "a province_code needs a country_code");
    return err->nfields ? -1 : 0;
}

/* ---- the table provider ------------------------------------------------------------------------------------- */

/* The best level with a rate of class cls, or -1. */
static int best_level(const sq_tax_req_t *req, const char *cls)
{
    int best = -1;
    for (int i = 0; i < req->nrates; i++)
        if (strcmp(req->rates[i].tax_class, cls) == 0 && req->rates[i].level > best)
            best = req->rates[i].level;
    return best;
}

int sq_tax_table_compute(const sq_tax_req_t *req, sq_tax_line_t *out, int cap)
{
    int n = 0;
    for (int i = 0; i < req->nitems; i++) {
        const sq_tax_item_t *it = &req->items[i];
        const char *cls = it->tax_class != NULL ? it->tax_class : "standard";
        int level = best_level(req, cls);
        if (level < 0) {
            cls = "standard";
            level = best_level(req, cls);
        }
        if (level < 0)
            continue;
        int64_t sum_bp = 0;
        for (int r = 0; r < req->nrates; r++)
            if (req->rates[r].level == level && strcmp(req->rates[r].tax_class, cls) == 0)
                sum_bp += req->rates[r].rate_bp;
        for (int r = 0; r < req->nrates; r++) {
            const sq_tax_rate_t *rate = &req->rates[r];
            if (rate->level != level || strcmp(rate->tax_class, cls) != 0)
                continue;
            if (SQ_NEVER(n >= cap))
                return -1;
            int64_t base = it->amount > 0 ? it->amount : 0, amount;
            bool ok = req->inclusive ? sq_money_muldiv(base, rate->rate_bp, 10000 + sum_bp, &amount)
                                     : sq_money_fraction(base, rate->rate_bp, &amount);
            if (!ok)
                return -1;
            out[n++] = (sq_tax_line_t){i, rate->id, rate->code_json, rate->name_json, rate->rate_bp, amount};
        }
    }
    return n;
}

int sq_tax_rates_parse(sq_arena_t *a, const char *text, sq_tax_rate_t **out)
{
    int cap = 1;
    for (const char *p = text ? text : ""; *p; p++)
        cap += *p == '\n';
    sq_tax_rate_t *rates = sq_arena_alloc(a, sizeof(*rates) * (size_t)cap);
    int n = 0;
    char *s = sq_arena_strdup(a, text ? text : ""), *save = NULL;
    for (char *rec = strtok_r(s, "\n", &save); rec != NULL && n < cap; rec = strtok_r(NULL, "\n", &save)) {
        char *f[6];
        int nf = 0;
        for (char *p = rec; nf < 6; nf++) {
            f[nf] = p;
            char *tab = nf < 5 ? strchr(p, '\t') : NULL;
            if (tab == NULL)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        if (SQ_NEVER(nf != 5))
            continue;
        rates[n++] = (sq_tax_rate_t){f[0], f[4], f[5], strtoll(f[1], NULL, 10), f[2], atoi(f[3])};
    }
    *out = rates;
    return n;
}

static void table_calculate(sq_ctx_t *cx, const sq_tax_req_t *req, sq_tax_cb cb, void *data)
{
    int cap = req->nitems * (req->nrates ? req->nrates : 1);
    sq_tax_line_t *lines = sq_arena_alloc(cx->arena, sizeof(*lines) * (size_t)(cap ? cap : 1));
    int n = sq_tax_table_compute(req, lines, cap);
    if (n < 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_VALIDATION, "The cart's amounts are too large to tax.");
        cb(NULL, &e, data);
        return;
    }
    sq_tax_res_t res = {lines, n, "table", false};
    cb(&res, NULL, data);
}

const sq_tax_provider_t sq_tax_table = {"table", table_calculate, NULL};

const sq_tax_plugins_t *sq_tax_plugins;

const sq_tax_provider_t *sq_tax_provider(void)
{
    const sq_tax_plugins_t *pl = __atomic_load_n(&sq_tax_plugins, __ATOMIC_ACQUIRE);
    const sq_tax_provider_t *p = pl != NULL ? pl->current() : NULL;
    return p != NULL ? p : &sq_tax_table;
}
