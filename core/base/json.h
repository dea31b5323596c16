/* json.h: strict JSON input (depth pre-check, duplicate keys rejected), a declarative field decoder that reports every
 * bad field with a JSON pointer, and a streaming walker (one callback per token, no tree: for readers that build
 * something other than jansson values, such as the plugin host's Lua tables and rate cache keys). */
#ifndef SQ_JSON_H
#define SQ_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/arena.h"
#include "core/base/err.h"

#define SQ_JSON_MAX_DEPTH 32

/** True when no array/object in buf nests deeper than max_depth (strings are skipped correctly). */
bool sq_json_depth_ok(const char *buf, size_t len, int max_depth);
/** Parses a request body: depth pre-check, then jansson with duplicate keys rejected. The result is
 * owned by the arena. On failure returns NULL with SQ_E_INVALID_JSON in err. */
json_t *sq_json_parse(sq_arena_t *a, const char *buf, size_t len, sq_err_t *err);
/** Ties a new jansson reference to the arena (decref when it is freed); returns j. */
json_t *sq_json_own(sq_arena_t *a, json_t *j);
/** Compact serialisation into the arena; *len gets the length (no NUL counted, but one is written). */
char *sq_json_dump(sq_arena_t *a, const json_t *j, size_t *len);

typedef enum {
    SQ_FT_STR,          /* -> const char * (arena copy) */
    SQ_FT_INT,          /* -> int64_t */
    SQ_FT_BOOL,         /* -> bool */
    SQ_FT_JSON,         /* -> json_t * (borrowed; lives as long as the parsed body) */
    SQ_FT_STR_ARRAY,    /* -> sq_strs_t */
    SQ_FT_OBJECT,       /* -> nested struct at offset, decoded with .sub */
    SQ_FT_OBJECT_ARRAY, /* -> json_t * (borrowed); each element is an object validated with .sub (SQ_VFIELD fields only) */
} sq_ftype_t;

enum {
    SQ_F_REQUIRED = 1 << 0,
    SQ_F_NULLABLE = 1 << 1,  /* null is accepted and reported as present with a NULL/zero value */
    SQ_F_MULTILINE = 1 << 2, /* strings may hold \n \r \t; other control characters are always refused */
    SQ_F_LOWER = 1 << 3,     /* ASCII-lowercase the string (emails) */
};

typedef struct {
    const char **v;
    int n;
} sq_strs_t;

typedef struct sq_field sq_field_t;
/** A format check for one value: return NULL if fine, else a client-safe reason; code gets a slug. */
typedef const char *(*sq_check_fn)(const json_t *v, const char **code);

struct sq_field {
    const char *name;
    sq_ftype_t type;
    unsigned flags;
    size_t offset;
    int64_t min, max;         /* string: length in characters (max 0 = 256); int: value; array: element count */
    const char *const *oneof; /* NULL-terminated allowed values for strings (and array items) */
    sq_check_fn check;        /* strings, JSON values, and each item of a string array */
    const sq_field_t *sub;    /* SQ_FT_OBJECT(_ARRAY): the nested fields, terminated by {NULL} */
};

/** A field that is only validated (its value is not copied anywhere): for bodies passed on as JSON. */
#define SQ_VFIELD(name, type, flags, min, max, oneof, check, sub)                                                                  \
    {                                                                                                                              \
        name, type, flags, 0, min, max, oneof, check, sub                                                                          \
    }

/** Decodes obj into out according to fields ({NULL}-terminated). Unknown keys fail first with
 * SQ_E_UNKNOWN_FIELD; then every invalid value is reported (SQ_E_VALIDATION) with its pointer.
 * *present (may be NULL) gets bit i set when fields[i] was present (also when null). */
int sq_json_decode(sq_arena_t *a, const json_t *obj, const sq_field_t *fields, void *out, uint64_t *present, sq_err_t *err);

/* Format checks shared by every resource. */
const char *sq_check_email(const json_t *v, const char **code);
const char *sq_check_country(const json_t *v, const char **code);
const char *sq_check_metadata(const json_t *v, const char **code);
const char *sq_check_password(const json_t *v, const char **code);
const char *sq_check_phone(const json_t *v, const char **code);
/** A URL handle: lower-case letters and digits separated by single dashes. */
const char *sq_check_handle(const json_t *v, const char **code);
/** An absolute http(s) URL. */
const char *sq_check_url(const json_t *v, const char **code);
/** An RFC 3339 timestamp with a time zone ("2026-11-22T10:00:00Z"). */
const char *sq_check_timestamp(const json_t *v, const char **code);
/** An ISO 4217 currency code Souq knows (any case). */
const char *sq_check_currency(const json_t *v, const char **code);
/** A Souq id ("<prefix>_<26 base32>") of any prefix. */
const char *sq_check_id(const json_t *v, const char **code);

/** Counts UTF-8 code points (input already known valid). */
size_t sq_utf8_len(const char *s, size_t bytes);

/** A copy of JSON text without the whitespace between tokens (PostgreSQL's json_build_object writes " : " and
 * ", "); strings are copied as they are. NULL stays NULL. */
char *sq_json_minify(sq_arena_t *a, const char *json);

/* ---- the streaming walker: JSON text read token by token, one callback per token, no tree built ---- */

/** The most containers a walk may have open at once (sq_jw_t.max_depth is capped to it). */
#define SQ_JW_DEPTH_CAP 1024

typedef enum {
    SQ_JW_OBJECT = 1, /* '{': its members follow (KEY then the value), then OBJECT_END */
    SQ_JW_OBJECT_END,
    SQ_JW_ARRAY, /* '[': its elements follow, then ARRAY_END */
    SQ_JW_ARRAY_END,
    SQ_JW_KEY,
    SQ_JW_STRING,
    SQ_JW_NUMBER,
    SQ_JW_TRUE,
    SQ_JW_FALSE,
    SQ_JW_NULL,
} sq_jw_kind_t;

/** One token. depth: 0 for the top-level value (and its END); the members of a container at depth d (their KEYs
 * included) are at d + 1. s/n: KEY and STRING: the decoded bytes (not NUL-terminated; \u0000 may put a NUL inside),
 * pointing into the text when the string had no escape, else into the walker's buffer (valid until the callback
 * returns), or NULL when the walker was given no buffer; NUMBER, TRUE, FALSE, NULL: the token's text; containers:
 * the bracket. raw/rawn: the token as written (a string with its quotes and escapes), in the text. */
typedef struct {
    sq_jw_kind_t kind;
    int depth;
    const char *s;
    size_t n;
    const char *raw;
    size_t rawn;
} sq_jw_tok_t;

/** What a callback returns: 0 to go on, SQ_JW_SKIP after a KEY to leave out that member's value, or after an OBJECT
 * or ARRAY to leave out its contents and its END (skipped text is still checked, just not reported), SQ_JW_STOP to
 * end the walk (sq_json_walk then fails with stopped set). */
enum { SQ_JW_STOP = -1, SQ_JW_SKIP = 1 };

typedef int (*sq_jw_fn)(void *ctx, const sq_jw_tok_t *t);

/** A walk: the caller sets fn, ctx, max_depth and where escaped strings are decoded; sq_json_walk fills the rest. */
typedef struct {
    sq_jw_fn fn;
    void *ctx;
    int max_depth; /* containers open at once (1..SQ_JW_DEPTH_CAP); 0 = SQ_JSON_MAX_DEPTH */
    /* Where a string with escapes is decoded (each one at the start of it: its decoded form is never longer than
     * its text, so cap >= the text's length always suffices); a string that does not fit fails the walk. buf NULL:
     * cap bytes (the text's length when 0) from arena at the first escaped string; both NULL: escaped strings are
     * still checked, but reported with s NULL (raw only). */
    char *buf;
    size_t cap;
    sq_arena_t *arena;
    /* set when sq_json_walk fails */
    const char *err; /* a static, client-safe reason ("unterminated string", ...) */
    size_t err_at;   /* its byte offset in the text */
    bool stopped;    /* the callback returned SQ_JW_STOP (err is then "stopped") */
} sq_jw_t;

/** Walks text[0..len) (any JSON value at the top level, RFC 8259 strictly: no trailing text, no control characters
 * or invalid UTF-8 in strings, no lone surrogates, no leading zeros; never reads outside the text, not even a NUL
 * at text[len]) calling w->fn for each token in order. Returns 0, or -1 with w->err and w->err_at: the callback has
 * then seen a prefix of the tokens. Neither allocates (but from w->arena, see sq_jw_t) nor recurses, so a callback
 * may longjmp out (a Lua error). What it does not check: duplicate keys (the caller sees both). */
int sq_json_walk(sq_jw_t *w, const char *text, size_t len);

/** A top-level member's value as sq_json_members finds it: kind 0 when the object has no such member; s/n as the
 * token's (a STRING decoded and copied into the arena, NUL-terminated; a scalar: its text; a container: NULL). */
typedef struct {
    sq_jw_kind_t kind;
    const char *s;
    size_t n;
} sq_json_member_t;

/** The values of the top-level members names[0..n) of a JSON object text, without building a tree (reading a few
 * fields of a large document: a priced cart is about 3 KB, and jansson's tree of it cost a checkout a quarter of
 * the server's CPU). The last of duplicate members wins, as in jansson. 0, or -1 when text is not a JSON object. */
int sq_json_members(sq_arena_t *a, const char *text, const char *const *names, int n, sq_json_member_t *out);
/** A member's value as an integer: *v, true when it is one that fits int64 (else *v = 0: jansson's
 * json_integer_value of anything else). */
bool sq_json_member_int(const sq_json_member_t *m, int64_t *v);

/** Reads a NUMBER token the way jansson types it: 1 with *i for an integer (no fraction or exponent) that fits in
 * int64; 0 with *d for the rest (a fraction or an exponent, or an integer too big for int64, which jansson refuses
 * and the walker's users read as a double); -1 when it is beyond a double's range (jansson refuses it too). */
int sq_json_number(const char *s, size_t n, int64_t *i, double *d);

#endif
