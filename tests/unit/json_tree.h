/* json_tree.h: a jansson tree built from sq_json_walk's tokens, and a comparison of two trees; the bridge to jansson
 * as the oracle of tests/unit/json.c and of the fuzz target tests/unit/fuzz_json.c (not a test by itself). */
#ifndef SQ_JSON_TREE_H
#define SQ_JSON_TREE_H

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/json.h"

typedef struct {
    json_t *root;
    json_t *open[SQ_JW_DEPTH_CAP]; /* borrowed: each is held by its parent (or is root) */
    char *key[SQ_JW_DEPTH_CAP + 1];
    size_t keyn[SQ_JW_DEPTH_CAP + 1];
    bool bad_number; /* sq_json_number refused a number */
    int tokens;
} jtree_t;

static void jtree_put(jtree_t *b, int depth, json_t *v)
{
    if (depth == 0) {
        b->root = v;
        return;
    }
    json_t *parent = b->open[depth - 1];
    if (json_is_object(parent)) {
        json_object_setn_new_nocheck(parent, b->key[depth], b->keyn[depth], v);
        free(b->key[depth]);
        b->key[depth] = NULL;
    } else {
        json_array_append_new(parent, v);
    }
}

static int jtree_on(void *ctx, const sq_jw_tok_t *t)
{
    jtree_t *b = ctx;
    json_t *v = NULL;
    b->tokens++;
    switch (t->kind) {
    case SQ_JW_OBJECT:
    case SQ_JW_ARRAY:
        v = t->kind == SQ_JW_OBJECT ? json_object() : json_array();
        b->open[t->depth] = v;
        break;
    case SQ_JW_OBJECT_END:
    case SQ_JW_ARRAY_END:
        return 0;
    case SQ_JW_KEY:
        free(b->key[t->depth]);
        b->key[t->depth] = malloc(t->n + 1);
        memcpy(b->key[t->depth], t->s, t->n);
        b->keyn[t->depth] = t->n;
        return 0;
    case SQ_JW_STRING:
        v = json_stringn_nocheck(t->s, t->n);
        break;
    case SQ_JW_NUMBER: {
        int64_t i;
        double d;
        int r = sq_json_number(t->s, t->n, &i, &d);
        if (r < 0) {
            b->bad_number = true;
            return SQ_JW_STOP;
        }
        v = r == 1 ? json_integer((json_int_t)i) : json_real(d);
        break;
    }
    case SQ_JW_TRUE:
        v = json_true();
        break;
    case SQ_JW_FALSE:
        v = json_false();
        break;
    case SQ_JW_NULL:
        v = json_null();
        break;
    }
    jtree_put(b, t->depth, v);
    return 0;
}

/* The tree of text (NULL when the walk fails; *w tells why). A jtree_t is big: it is allocated here. */
static json_t *jtree_walk(sq_jw_t *w, const char *text, size_t len, int max_depth)
{
    jtree_t *b = calloc(1, sizeof(*b));
    char *buf = malloc(len + 1);
    *w = (sq_jw_t){.fn = jtree_on, .ctx = b, .max_depth = max_depth, .buf = buf, .cap = len};
    int r = sq_json_walk(w, text, len);
    json_t *root = b->root;
    if (r != 0 || b->bad_number) {
        json_decref(root);
        root = NULL;
    }
    for (int i = 0; i <= SQ_JW_DEPTH_CAP; i++)
        free(b->key[i]);
    free(b);
    free(buf);
    return root;
}

/* json_equal, but with numbers compared by value when numeric is set (an integer and a real are then equal when the
 * real is the integer): for jansson's JSON_DECODE_INT_AS_REAL trees */
static bool jtree_same(const json_t *a, const json_t *b, bool numeric)
{
    if (numeric && json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b) || (isnan(json_number_value(a)) && isnan(json_number_value(b)));
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!jtree_same(json_array_get(a, i), json_array_get(b, i), numeric))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        size_t kn;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, k, kn, v)
        {
            json_t *o = json_object_getn(b, k, kn);
            if (o == NULL || !jtree_same(v, o, numeric))
                return false;
        }
        return true;
    }
    if (json_is_real(a)) /* -0.0 and 0.0 differ for a plugin that divides by them */
        return json_real_value(a) == json_real_value(b) && signbit(json_real_value(a)) == signbit(json_real_value(b));
    return json_equal(a, b);
}

#endif
