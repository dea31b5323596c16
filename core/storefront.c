/* storefront.c: turns storefront product rows into responses: the variants are spliced into the product and
 * each variant gets the price sq_price_resolve() picks from the candidates PostgreSQL returned. No JSON is
 * parsed here: the rows carry JSON texts and a flat candidate list.
 *
 * Candidate lines (one per price, '\n'-separated, fields '\t'-separated):
 *   variant_index price_id amount compare_at min_quantity list_id kind priority starts_us ends_us percent_bp rules
 * list_id/kind are empty for base prices; rules is "attribute=value;..." (sales_channel, region,
 * customer_group, company). A percentage list comes as one line per variant with amount 0. */
#include "core/storefront.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/pricing.h"

#define MAX_LISTS 64
#define MAX_CANDIDATES 512

typedef sq_indexed_candidate_t cand_t;

static uint64_t generation = 1;

uint64_t sq_store_generation(void)
{
    return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

void sq_store_invalidate(void)
{
    __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
}

static char *next_field(char **p)
{
    char *s = *p, *t = strchr(s, '\t');
    if (t != NULL) {
        *t = '\0';
        *p = t + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

static sq_rule_attr_t attr_of(const char *s)
{
    if (strcmp(s, "region") == 0)
        return SQ_RULE_REGION;
    if (strcmp(s, "customer_group") == 0)
        return SQ_RULE_CUSTOMER_GROUP;
    if (strcmp(s, "company") == 0)
        return SQ_RULE_COMPANY;
    return SQ_RULE_CHANNEL;
}

/* Parses the rules text "attr=value;attr=value" of a list. */
static void parse_rules(sq_arena_t *a, char *text, sq_price_list_t *l)
{
    int n = *text ? 1 : 0;
    for (char *p = text; *p; p++)
        n += *p == ';';
    sq_price_rule_t *r = sq_arena_alloc(a, sizeof(*r) * (size_t)(n ? n : 1));
    l->nrules = 0;
    char *save = NULL;
    for (char *t = strtok_r(text, ";", &save); t != NULL; t = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(t, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        r[l->nrules++] = (sq_price_rule_t){attr_of(t), eq + 1};
    }
    l->rules = r;
}

int sq_store_parse_candidates(sq_arena_t *a, const char *text, const char *currency, sq_indexed_candidate_t *out, int max)
{
    if (text == NULL || *text == '\0')
        return 0;
    char *copy = sq_arena_strdup(a, text), *save = NULL;
    sq_price_list_t *lists[MAX_LISTS];
    int nlists = 0, n = 0;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL && n < max; line = strtok_r(NULL, "\n", &save)) {
        char *p = line;
        cand_t *c = &out[n];
        c->vidx = atoi(next_field(&p));
        c->c.id = next_field(&p);
        c->c.currency = currency; /* PostgreSQL only returns prices in the context currency */
        c->c.amount = strtoll(next_field(&p), NULL, 10);
        c->c.compare_at = strtoll(next_field(&p), NULL, 10);
        c->c.min_quantity = atoi(next_field(&p));
        const char *list_id = next_field(&p);
        const char *kind = next_field(&p);
        int priority = atoi(next_field(&p));
        int64_t starts = strtoll(next_field(&p), NULL, 10), ends = strtoll(next_field(&p), NULL, 10);
        int pct = atoi(next_field(&p));
        char *rules = next_field(&p);
        c->c.list = NULL;
        if (*list_id) {
            sq_price_list_t *l = NULL;
            for (int i = 0; i < nlists; i++)
                if (strcmp(lists[i]->id, list_id) == 0)
                    l = lists[i];
            if (l == NULL && nlists < MAX_LISTS) {
                l = SQ_NEW(a, sq_price_list_t);
                l->id = list_id;
                l->kind = strcmp(kind, "override") == 0 ? SQ_PRICE_OVERRIDE : SQ_PRICE_SALE;
                l->priority = priority;
                l->starts_at_us = starts;
                l->ends_at_us = ends;
                l->percent_off_bp = pct;
                parse_rules(a, rules, l);
                lists[nlists++] = l;
            }
            if (l == NULL)
                continue;
            c->c.list = l;
        }
        n++;
    }
    return n;
}

void sq_store_price_json(sq_buf_t *b, const sq_price_result_t *r)
{
    if (!r->found) {
        sq_buf_str(b, "null");
        return;
    }
    static const char *const kinds[] = {"base", "sale", "override"};
    sq_buf_printf(b, "{\"amount\":%lld,\"currency_code\":\"%s\",\"compare_at_amount\":", (long long)r->amount, r->currency);
    if (r->compare_at > 0)
        sq_buf_printf(b, "%lld", (long long)r->compare_at);
    else
        sq_buf_str(b, "null");
    sq_buf_str(b, ",\"price_list_id\":");
    if (r->list != NULL)
        sq_buf_printf(b, "\"%s\"", r->list->id);
    else
        sq_buf_str(b, "null");
    sq_buf_printf(b, ",\"price_type\":\"%s\",\"min_quantity\":%d}", kinds[r->kind], r->min_quantity);
}

/* The text of a JSON object without its closing brace (whitespace before it included). */
static size_t open_len(const char *obj, size_t len)
{
    while (len > 0 && obj[len - 1] != '}')
        len--;
    return len > 0 ? len - 1 : 0;
}

char *sq_store_assemble(sq_arena_t *a, const char *product, const char *variants, const char *candidates, const char *currency,
                        const char *channel_id, const char *region_id, const char *groups, int64_t now_us, bool prices)
{
    if (variants == NULL)
        return (char *)product;
    cand_t *cands = NULL;
    int ncand = 0;
    const char *group_list[32];
    int ngroups = 0;
    if (prices) {
        cands = sq_arena_alloc(a, sizeof(cand_t) * MAX_CANDIDATES);
        ncand = currency != NULL ? sq_store_parse_candidates(a, candidates, currency, cands, MAX_CANDIDATES) : 0;
        if (groups != NULL && *groups) {
            char *g = sq_arena_strdup(a, groups), *save = NULL;
            for (char *t = strtok_r(g, ",", &save); t != NULL && ngroups < 32; t = strtok_r(NULL, ",", &save))
                group_list[ngroups++] = t;
        }
    }
    sq_price_context_t ctx = {currency, 1, channel_id, region_id, NULL, group_list, ngroups, now_us};
    size_t plen = strlen(product);
    sq_buf_t b;
    sq_buf_init(&b, a, plen + strlen(variants) + 64 + (prices ? 160 : 0) * 8);
    sq_buf_add(&b, product, open_len(product, plen));
    sq_buf_str(&b, ",\"variants\":[");
    const char *v = variants;
    int idx = 0;
    sq_price_candidate_t *mine = prices ? sq_arena_alloc(a, sizeof(sq_price_candidate_t) * (size_t)(ncand ? ncand : 1)) : NULL;
    while (*v) {
        const char *end = strchr(v, '\x1e');
        size_t vlen = end ? (size_t)(end - v) : strlen(v);
        if (idx > 0)
            sq_buf_add(&b, ",", 1);
        if (prices) {
            int n = 0;
            for (int i = 0; i < ncand; i++)
                if (cands[i].vidx == idx)
                    mine[n++] = cands[i].c;
            sq_price_result_t r = {0};
            if (currency != NULL) /* no region or currency configured: nothing can be priced */
                sq_price_resolve(mine, n, &ctx, &r);
            sq_buf_add(&b, v, open_len(v, vlen));
            sq_buf_str(&b, ",\"price\":");
            sq_store_price_json(&b, &r);
            sq_buf_add(&b, "}", 1);
        } else {
            sq_buf_add(&b, v, vlen);
        }
        idx++;
        v += vlen + (end ? 1 : 0);
    }
    sq_buf_str(&b, "]}");
    return b.p;
}
