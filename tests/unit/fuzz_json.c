/* fuzz_json.c: libFuzzer target for sq_json_walk against jansson (`make fuzz-json`, clang only; not a unit test and not
 * part of `make test`): on any input, the walker and jansson both refuse it or read the same value, and a walk that
 * reports nothing (skipped contents, no decoding buffer) accepts exactly what the reporting walk accepts. Known,
 * documented differences are left out: a NUL byte in a key (jansson refuses it), integers beyond int64 (jansson
 * refuses them; the walker's users read doubles: compared by value), depth (jansson counts values up to 2048, the
 * walker open containers up to SQ_JW_DEPTH_CAP), and raw NUL bytes (jansson's reader drops some of them, as an
 * empty slot of its look-ahead buffer, and reads "0\0" as 0; the walker refuses every one: checked instead). */
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
    json_decref(want);
    json_decref(got);
    return 0;
}
