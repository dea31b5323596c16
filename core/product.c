/* product.c: input rules of products and variants; SQL in product_db.c and migrations/0005. */
#include "core/product.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)
#define IDS(name) F(name, SQ_FT_STR_ARRAY, 0, 0, 100, NULL, sq_check_id, NULL)
#define DIM(name) F(name, SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000, NULL, NULL, NULL)

/* {"Size": "M", "Color": "Blue"}: option title -> value, at most 3 */
static const char *check_variant_options(const json_t *v, const char **code)
{
    *code = "invalid_value";
    if (!json_is_object(v) || json_object_size(v) > 3)
        return "must be an object of at most 3 option titles and their values";
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)v, k, val)
    {
        if (strlen(k) == 0 || strlen(k) > 100 || !json_is_string(val) || json_string_length(val) == 0 ||
            json_string_length(val) > 100)
            return "must map option titles to values (strings of 1 to 100 characters)";
    }
    return NULL;
}

static const sq_field_t price_fields[] = {
    F("currency_code", SQ_FT_STR, SQ_F_REQUIRED, 3, 3, NULL, sq_check_currency, NULL),
    F("amount", SQ_FT_INT, SQ_F_REQUIRED, 0, 1000000000000, NULL, NULL, NULL),
    F("compare_at_amount", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000000, NULL, NULL, NULL),
    F("min_quantity", SQ_FT_INT, 0, 1, 1000000, NULL, NULL, NULL),
    {NULL},
};
static const sq_field_t stock_fields[] = {
    F("location_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("quantity", SQ_FT_INT, SQ_F_REQUIRED, 0, 1000000000, NULL, NULL, NULL),
    {NULL},
};

#define VARIANT(sku_flags)                                                                                                         \
    F("title", SQ_FT_STR, 0, 1, 256, NULL, NULL, NULL), F("sku", SQ_FT_STR, (sku_flags), 1, 64, NULL, NULL, NULL),                 \
        F("barcode", SQ_FT_STR, SQ_F_NULLABLE, 0, 64, NULL, NULL, NULL),                                                           \
        F("options", SQ_FT_JSON, 0, 0, 0, NULL, check_variant_options, NULL), DIM("weight_g"), DIM("length_mm"), DIM("width_mm"),  \
        DIM("height_mm"), F("requires_shipping", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),                                           \
        F("tax_class", SQ_FT_STR, 0, 1, 32, NULL, NULL, NULL), F("manage_inventory", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),       \
        F("allow_backorder", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL), F("rank", SQ_FT_INT, 0, -1000000, 1000000, NULL, NULL, NULL), \
        F("prices", SQ_FT_OBJECT_ARRAY, 0, 0, 100, NULL, NULL, price_fields), META

const sq_field_t sq_variant_create_fields[] = {
    VARIANT(SQ_F_REQUIRED),
    F("inventory", SQ_FT_OBJECT_ARRAY, 0, 0, 50, NULL, NULL, stock_fields),
    F("low_stock_threshold", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000, NULL, NULL, NULL),
    {NULL},
};
const sq_field_t sq_variant_update_fields[] = {VARIANT(0), {NULL}};

static const sq_field_t media_fields[] = {
    F("url", SQ_FT_STR, SQ_F_REQUIRED, 1, 2048, NULL, sq_check_url, NULL),
    F("alt", SQ_FT_STR, SQ_F_NULLABLE, 0, 512, NULL, NULL, NULL),
    {NULL},
};
static const sq_field_t option_fields[] = {
    F("title", SQ_FT_STR, SQ_F_REQUIRED, 1, 100, NULL, NULL, NULL),
    F("values", SQ_FT_STR_ARRAY, SQ_F_REQUIRED, 1, 100, NULL, NULL, NULL),
    {NULL},
};
static const sq_field_t seo_fields[] = {
    F("title", SQ_FT_STR, SQ_F_NULLABLE, 0, 256, NULL, NULL, NULL),
    F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    {NULL},
};
static const char *const statuses[] = {"draft", "active", "archived", NULL};

#define PRODUCT(req)                                                                                                               \
    F("title", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL), F("handle", SQ_FT_STR, 0, 1, 128, NULL, sq_check_handle, NULL),        \
        F("subtitle", SQ_FT_STR, SQ_F_NULLABLE, 0, 256, NULL, NULL, NULL),                                                         \
        F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 65536, NULL, NULL, NULL),                                   \
        F("status", SQ_FT_STR, 0, 1, 16, statuses, NULL, NULL), F("type", SQ_FT_STR, SQ_F_NULLABLE, 0, 100, NULL, NULL, NULL),     \
        F("brand", SQ_FT_STR, SQ_F_NULLABLE, 0, 100, NULL, NULL, NULL), F("tags", SQ_FT_STR_ARRAY, 0, 0, 50, NULL, NULL, NULL),    \
        F("seo", SQ_FT_OBJECT, 0, 0, 0, NULL, NULL, seo_fields), IDS("sales_channel_ids"), IDS("category_ids"),                    \
        IDS("collection_ids"), F("media", SQ_FT_OBJECT_ARRAY, 0, 0, 50, NULL, NULL, media_fields),                             \
        F("gift_card", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL), META

const sq_field_t sq_product_create_fields[] = {
    PRODUCT(SQ_F_REQUIRED),
    F("options", SQ_FT_OBJECT_ARRAY, 0, 0, 3, NULL, NULL, option_fields),
    F("variants", SQ_FT_OBJECT_ARRAY, 0, 0, 100, NULL, NULL, sq_variant_create_fields),
    {NULL},
};
const sq_field_t sq_product_update_fields[] = {PRODUCT(0), {NULL}};

int sq_variant_check(const json_t *b, const char *pointer, sq_err_t *err)
{
    const json_t *prices = json_object_get(b, "prices");
    size_t i, j;
    for (i = 0; json_is_array(prices) && i < json_array_size(prices); i++)
        for (j = 0; j < i; j++) {
            const json_t *a = json_array_get(prices, i), *c = json_array_get(prices, j);
            const char *ca = json_string_value(json_object_get(a, "currency_code")),
                       *cc = json_string_value(json_object_get(c, "currency_code"));
            json_int_t qa =
                json_is_integer(json_object_get(a, "min_quantity")) ? json_integer_value(json_object_get(a, "min_quantity")) : 1;
            json_int_t qc =
                json_is_integer(json_object_get(c, "min_quantity")) ? json_integer_value(json_object_get(c, "min_quantity")) : 1;
            if (ca && cc && strcasecmp(ca, cc) == 0 && qa == qc) {
                char ptr[96];
                snprintf(ptr, sizeof(ptr), "%s/prices/%zu", pointer, i);
                sq_err_field(err, ptr, "duplicate", "a price for this currency and min_quantity is already given");
            }
        }
    return err->nfields ? -1 : 0;
}

/* Options and variants must agree: every variant names a declared value for every option, combinations and
 * SKUs are unique. SQL checks the same, this reports every problem at once with its pointer. */
static int check_product(const json_t *b, bool create, sq_err_t *err)
{
    if (!create)
        return 0;
    const json_t *options = json_object_get(b, "options"), *variants = json_object_get(b, "variants");
    size_t nopt = json_is_array(options) ? json_array_size(options) : 0;
    for (size_t i = 0; i < nopt; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_object_get(json_array_get(options, i), "title")),
                       json_string_value(json_object_get(json_array_get(options, j), "title"))) == 0) {
                char ptr[64];
                snprintf(ptr, sizeof(ptr), "/options/%zu/title", i);
                sq_err_field(err, ptr, "duplicate", "option titles must be unique");
            }
    size_t nvar = json_is_array(variants) ? json_array_size(variants) : 0;
    for (size_t v = 0; v < nvar; v++) {
        const json_t *var = json_array_get(variants, v), *vo = json_object_get(var, "options");
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/variants/%zu", v);
        sq_variant_check(var, ptr, err);
        size_t given = json_is_object(vo) ? json_object_size(vo) : 0;
        bool ok = given == nopt;
        for (size_t i = 0; ok && i < nopt; i++) {
            const json_t *opt = json_array_get(options, i),
                         *val = json_object_get(vo, json_string_value(json_object_get(opt, "title")));
            bool declared = false;
            const json_t *values = json_object_get(opt, "values");
            for (size_t k = 0; json_is_string(val) && k < json_array_size(values); k++)
                declared |= strcmp(json_string_value(json_array_get(values, k)), json_string_value(val)) == 0;
            ok = declared;
        }
        if (!ok) {
            snprintf(ptr, sizeof(ptr), "/variants/%zu/options", v);
            sq_err_field(err, ptr, "invalid_value", "must give one declared value for each option of the product");
        }
        for (size_t w = 0; w < v; w++) {
            const json_t *other = json_array_get(variants, w);
            if (json_equal(json_object_get(other, "options"), vo) || (vo == NULL && json_object_get(other, "options") == NULL)) {
                snprintf(ptr, sizeof(ptr), "/variants/%zu/options", v);
                sq_err_field(err, ptr, "duplicate", "another variant has the same options");
            }
            const json_t *s1 = json_object_get(var, "sku"), *s2 = json_object_get(other, "sku");
            if (json_is_string(s1) && json_is_string(s2) && strcmp(json_string_value(s1), json_string_value(s2)) == 0) {
                snprintf(ptr, sizeof(ptr), "/variants/%zu/sku", v);
                sq_err_field(err, ptr, "duplicate", "another variant has the same sku");
            }
        }
    }
    return err->nfields ? -1 : 0;
}

int sq_product_check(const json_t *b, bool create, sq_err_t *err);
int sq_product_check(const json_t *b, bool create, sq_err_t *err)
{
    return check_product(b, create, err);
}

bool sq_locale_valid(const char *s)
{
    size_t n = strlen(s);
    return (n == 2 || (n == 5 && s[2] == '-')) && islower((unsigned char)s[0]) && islower((unsigned char)s[1]) &&
           (n == 2 || (isupper((unsigned char)s[3]) && isupper((unsigned char)s[4])));
}

static const char *check_locale(const json_t *v, const char **code)
{
    *code = "invalid_format";
    return sq_locale_valid(json_string_value(v)) ? NULL : "must be a language tag like en or de-CH";
}

static const char *const payment_captures[] = {"manual", "on_fulfillment", NULL}; /* migrations/0036 */

const sq_field_t sq_store_fields[] = {
    F("default_locale", SQ_FT_STR, 0, 2, 5, NULL, check_locale, NULL),
    F("locales", SQ_FT_STR_ARRAY, 0, 1, 50, NULL, check_locale, NULL),
    F("payment_capture", SQ_FT_STR, 0, 1, 16, payment_captures, NULL, NULL),
    {NULL},
};

/* variant id -> title, option id -> {title, values: {default value -> translated value}} */
static const char *check_string_map(const json_t *v, const char **code)
{
    *code = "invalid_value";
    if (!json_is_object(v) || json_object_size(v) > 1000)
        return "must be an object";
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        if (json_is_string(x)) {
            if (json_string_length(x) == 0 || sq_utf8_len(json_string_value(x), json_string_length(x)) > 256)
                return "values must be 1 to 256 characters";
            continue;
        }
        if (!json_is_object(x))
            return "values must be strings or objects";
        const char *k2;
        json_t *y;
        json_object_foreach(x, k2, y)
        {
            if (strcmp(k2, "title") == 0 && (json_is_string(y) || json_is_null(y)))
                continue;
            if (strcmp(k2, "values") == 0 && json_is_object(y))
                continue;
            return "option entries are {title, values}";
        }
    }
    return NULL;
}

const sq_field_t sq_translation_fields[] = {
    F("title", SQ_FT_STR, SQ_F_NULLABLE, 1, 256, NULL, NULL, NULL),
    F("subtitle", SQ_FT_STR, SQ_F_NULLABLE, 0, 256, NULL, NULL, NULL),
    F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 65536, NULL, NULL, NULL),
    F("seo", SQ_FT_OBJECT, 0, 0, 0, NULL, NULL, seo_fields),
    F("variants", SQ_FT_JSON, 0, 0, 0, NULL, check_string_map, NULL),
    F("options", SQ_FT_JSON, 0, 0, 0, NULL, check_string_map, NULL),
    {NULL},
};
