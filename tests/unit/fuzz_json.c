/* fuzz_json.c: libFuzzer target for sq_json_walk against jansson (`make fuzz-json`, clang only; not a unit test and not
 * part of `make test`): on any input, the walker and jansson both refuse it or read the same value, and a walk that
 * reports nothing (skipped contents, no decoding buffer) accepts exactly what the reporting walk accepts. Known,
 * documented differences are left out: a NUL byte in a key (jansson refuses it), integers beyond int64 (jansson
 * refuses them; the walker's users read doubles: compared by value), depth (jansson counts values up to 2048, the
 * walker open containers up to SQ_JW_DEPTH_CAP), and raw NUL bytes (jansson's reader drops some of them, as an
 * empty slot of its look-ahead buffer, and reads "0\0" as 0; the walker refuses every one: checked instead). It also
 * reads an object's members with sq_json_members and compares them with the tree's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/json_tree.h"

static int quiet_on(void *ctx, const sq_jw_tok_t *t)
{
    (void)ctx;
    return t->kind == SQ_JW_OBJECT || t->kind == SQ_JW_ARRAY || t->kind == SQ_JW_KEY ? SQ_JW_SKIP : 0;
}

static int count_on(void *ctx, const sq_jw_tok_t *t)
{
    (void)t;
    (*(int *)ctx)++;
    return 0;
}

/* sq_json_members on an object the walker read: each named member as json_object_get finds it in the tree (the last
 * of duplicate keys, as both keep), its nested members never */
static void check_members(const char *t, size_t size, json_t *got)
{
    if (!json_is_object(got) || json_object_size(got) == 0)
        return;
    const char *names[4] = {"a", NULL, NULL, NULL};
    int n = 1;
    const char *k;
    json_t *v;
    json_object_foreach(got, k, v) if (n < 4 && strlen(k) > 0) names[n++] = k;
    char *text = strndup(t, size);
    sq_arena_t *a = sq_arena_new();
    sq_json_member_t m[4];
    sq_jw_t plain = {.fn = count_on, .ctx = &(int){0}}; /* the default depth, which sq_json_members walks with */
    if (sq_json_members(a, text, names, n, m) != 0) {
        if (sq_json_walk(&plain, text, size) == 0) {
            fprintf(stderr, "members: refused an object the walker reads\n");
            abort();
        }
    } else {
        for (int i = 0; i < n; i++) {
            json_t *want = json_object_get(got, names[i]);
            int64_t iv;
            bool ok = want == NULL ? m[i].kind == 0
                    : json_is_string(want) ? m[i].kind == SQ_JW_STRING && m[i].n == json_string_length(want) &&
                                                 memcmp(m[i].s, json_string_value(want), m[i].n) == 0
                    : json_is_integer(want) ? sq_json_member_int(&m[i], &iv) && iv == json_integer_value(want)
                    : json_is_real(want)    ? m[i].kind == SQ_JW_NUMBER && !sq_json_member_int(&m[i], &iv)
                    : json_is_object(want)  ? m[i].kind == SQ_JW_OBJECT
                    : json_is_array(want)   ? m[i].kind == SQ_JW_ARRAY
                    : json_is_true(want)    ? m[i].kind == SQ_JW_TRUE
                    : json_is_false(want)   ? m[i].kind == SQ_JW_FALSE
                                            : m[i].kind == SQ_JW_NULL;
            if (!ok) {
                fprintf(stderr, "members: \"%s\" differs from the tree's\n", names[i]);
                abort();
            }
        }
    }
    sq_arena_unref(a);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    json_error_t je;
    bool numeric = false;
    json_t *want = json_loadb(t, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    enum json_error_code code = want == NULL ? json_error_code(&je) : json_error_unknown;
    if (want == NULL && code == json_error_numeric_overflow) {
        want = json_loadb(t, size, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        code = want == NULL ? json_error_code(&je) : json_error_unknown;
        numeric = true;
    }
    bool nul = memchr(t, '\0', size) != NULL;
    sq_jw_t w;
    json_t *got = jtree_walk(&w, t, size, SQ_JW_DEPTH_CAP);
    if (nul && got != NULL) {
        fprintf(stderr, "walker: read a text with a NUL byte\n");
        abort();
    }
    bool deep = w.err != NULL && strcmp(w.err, "nested too deeply") == 0;
    bool known = (want == NULL && (code == json_error_null_byte_in_key || code == json_error_stack_overflow)) || deep || nul;
    if (!known && ((want == NULL) != (got == NULL) || (want != NULL && !jtree_same(got, want, numeric)))) {
        fprintf(stderr, "walker: %s (at %zu); jansson: %s\n", got ? "read" : w.err, w.err_at, want ? "read" : je.text);
        abort();
    }
    int tokens = 0;
    sq_jw_t loud = {.fn = count_on, .ctx = &tokens, .max_depth = SQ_JW_DEPTH_CAP};
    sq_jw_t quiet = {.fn = quiet_on, .max_depth = SQ_JW_DEPTH_CAP};
    int rl = sq_json_walk(&loud, t, size), rq = sq_json_walk(&quiet, t, size);
    if (rl != rq || (got != NULL && rl != 0) || (rl != 0 && strcmp(loud.err, quiet.err) != 0)) {
        fprintf(stderr, "reporting walk %d (%s), quiet walk %d (%s), tree %s\n", rl, loud.err, rq, quiet.err,
                got ? "read" : "none");
        abort();
    }
    if (!nul)
        check_members(t, size, got);
    json_decref(want);
    json_decref(got);
    return 0;
}
