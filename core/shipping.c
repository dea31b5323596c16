/* shipping.c: input rules of shipping options, and the built-in flat-rate shipping provider. */
#include "core/shipping.h"

#include <stdlib.h>
#include <string.h>

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)

/* an option names a built-in provider or one an enabled plugin provides (checked when the option is written; an
 * option whose plugin is later disabled is not offered: its carts show no shipping and checkout refuses them) */
static const char *check_provider(const json_t *v, const char **code)
{
    if (sq_shipping_provider(json_string_value(v)) != NULL)
        return NULL;
    *code = "invalid_value";
    return "Unknown shipping provider: flat_rate, or the id of an enabled plugin providing shipping:<id>.";
}

#define OPTION(req)                                                                                                                \
    F("name", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL), F("region_id", SQ_FT_STR, (req), 1, 40, NULL, sq_check_id, NULL),       \
        F("countries", SQ_FT_STR_ARRAY, 0, 0, 250, NULL, sq_check_country, NULL),                                                  \
        F("provider", SQ_FT_STR, 0, 1, 32, NULL, check_provider, NULL),                                                            \
        F("amount", SQ_FT_INT, (req), 0, 1000000000000, NULL, NULL, NULL),                                                         \
        F("free_over", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000000, NULL, NULL, NULL),                                              \
        F("is_active", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),                                                                     \
        F("min_subtotal", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000000, NULL, NULL, NULL),                                           \
        F("max_subtotal", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000000, NULL, NULL, NULL), META
const sq_field_t sq_shipping_option_create_fields[] = {OPTION(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_shipping_option_update_fields[] = {OPTION(0), {NULL}};

bool sq_ship_option_parse(char *rec, sq_ship_option_t *o)
{
    char *f[7];
    int nf = 0;
    for (char *p = rec; nf < 7; nf++) {
        f[nf] = p;
        char *tab = nf < 6 ? strchr(p, '\t') : NULL;
        if (tab == NULL)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (nf != 4 && nf != 6) /* 5 fields, or 7 with the subtotal range */
        return false;
    *o = (sq_ship_option_t){f[0], f[1], f[4], strtoll(f[2], NULL, 10), strtoll(f[3], NULL, 10), -1, -1};
    if (nf == 6) {
        o->min_subtotal = strtoll(f[5], NULL, 10);
        o->max_subtotal = strtoll(f[6], NULL, 10);
    }
    return true;
}

bool sq_ship_option_fits(const sq_ship_option_t *o, int64_t item_total)
{
    return (o->min_subtotal < 0 || item_total >= o->min_subtotal) && (o->max_subtotal < 0 || item_total <= o->max_subtotal);
}

int64_t sq_ship_flat_rate(int64_t amount, int64_t free_over, int64_t item_total)
{
    return free_over >= 0 && item_total >= free_over ? 0 : amount;
}

static void flat_rates(sq_ctx_t *cx, const sq_ship_req_t *req, sq_ship_rate_cb cb, void *data)
{
    (void)cx;
    sq_ship_rate_t r = {true, sq_ship_flat_rate(req->amount, req->free_over, req->item_total)};
    cb(&r, NULL, data);
}

const sq_shipping_provider_t sq_shipping_flat_rate = {"flat_rate", flat_rates, NULL, NULL};

const sq_shipping_plugins_t *sq_shipping_plugins;

const sq_shipping_provider_t *sq_shipping_builtin(const char *id)
{
    if (id != NULL && strcmp(id, sq_shipping_flat_rate.id) == 0)
        return &sq_shipping_flat_rate;
    return NULL;
}

const sq_shipping_provider_t *sq_shipping_provider(const char *id)
{
    const sq_shipping_plugins_t *pl = __atomic_load_n(&sq_shipping_plugins, __ATOMIC_ACQUIRE);
    const sq_shipping_provider_t *p = pl != NULL && id != NULL ? pl->lookup(id) : NULL;
    return p != NULL ? p : sq_shipping_builtin(id);
}
