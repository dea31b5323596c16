/* base.c: tests of core/base (arena, crypto, errors, ISO tables, ids), the SQLSTATE table of core/db and
 * the roles and password hashing of core/auth. */
#include <stdint.h>
#include <stdlib.h>

#include "core/auth.h"
#include "core/base/arena.h"
#include "core/base/buf.h"
#include "core/base/crypto.h"
#include "core/base/err.h"
#include "core/base/id.h"
#include "core/base/iso.h"
#include "core/base/util.h"
#include "core/db/db.h"
#include "tests/unit/check.h"

static int order[4], norder;
static void mark(void *p)
{
    order[norder++] = (int)(intptr_t)p;
}

static void test_arena(void)
{
    sq_arena_t *a = sq_arena_new();
    for (int i = 1; i < 40; i++) {
        void *p = sq_arena_alloc(a, (size_t)i * 7);
        CHECK(((uintptr_t)p & 15) == 0);
        memset(p, 0xab, (size_t)i * 7);
    }
    char *big = sq_arena_alloc(a, 100000); /* its own chunk */
    memset(big, 1, 100000);
    CHECK(((uintptr_t)big & 15) == 0);
    char *z = sq_arena_zalloc(a, 64);
    CHECK(z[0] == 0 && z[63] == 0);
    CHECK_STR(sq_arena_strdup(a, "hello"), "hello");
    CHECK(sq_arena_strdup(a, NULL) == NULL);
    CHECK_STR(sq_arena_strndup(a, "hello", 3), "hel");
    CHECK_STR(sq_arena_printf(a, "%d-%s", 42, "x"), "42-x");
    char long_s[1000];
    memset(long_s, 'q', 999);
    long_s[999] = '\0';
    CHECK_INT(strlen(sq_arena_printf(a, "%s!", long_s)), 1000);
    CHECK(sq_arena_used(a) >= 100000);
    norder = 0;
    sq_arena_defer(a, mark, (void *)1);
    sq_arena_defer(a, mark, (void *)2);
    sq_arena_defer(a, mark, (void *)3);
    sq_arena_ref(a); /* an async operation keeps it alive */
    sq_arena_unref(a);
    CHECK_INT(norder, 0);
    sq_arena_unref(a);
    CHECK_INT(norder, 3);
    CHECK(order[0] == 3 && order[1] == 2 && order[2] == 1); /* reverse order */
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    sq_hex(in, n, out);
}

/* sq_buf_reserve: room for n more bytes past len, moved when it grows, the text so far kept */
static void test_buf(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_buf_t b;
    sq_buf_init(&b, a, 16);
    sq_buf_add(&b, "abc", 3);
    char *o = sq_buf_reserve(&b, 100);
    CHECK(o == b.p + 3 && b.cap >= 3 + 100 + 1);
    memset(o, 'x', 100);
    b.len += 100;
    b.p[b.len] = '\0';
    CHECK(strncmp(b.p, "abcxxx", 6) == 0 && strlen(b.p) == 103);
    CHECK(sq_buf_reserve(&b, 0) == b.p + 103);
    sq_arena_unref(a);
}

static void test_crypto(void)
{
    unsigned char d[32];
    char h[65];
    sq_sha256("abc", 3, d);
    hex(d, 32, h);
    CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unsigned char m[16];
    char mh[33];
    sq_md5("abc", 3, m);
    hex(m, 16, mh);
    CHECK_STR(mh, "900150983cd24fb0d6963f7d28e17f72");
    /* ETags: the first half of the SHA-256, as souq_etag computes it in the database */
    char etag[33];
    sq_etag("abc", 3, etag);
    CHECK_STR(etag, "ba7816bf8f01cfea414140de5dae2223");
    /* RFC 4231 test case 2 */
    sq_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    hex(d, 32, h);
    CHECK_STR(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    sq_hmac_key_t *k = sq_hmac_key_new("Jefe", 4);
    unsigned char d2[32];
    sq_hmac_sign(k, "what do ya want for nothing?", 28, d2);
    CHECK(memcmp(d, d2, 32) == 0);
    sq_hmac_key_free(k);
    /* RFC 4231 test case 6: a key longer than the block size is hashed first */
    unsigned char key131[131];
    memset(key131, 0xaa, sizeof(key131));
    sq_hmac_sha256(key131, sizeof(key131), "Test Using Larger Than Block-Size Key - Hash Key First", 54, d);
    hex(d, 32, h);
    CHECK_STR(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* base64url round trips for every length 0..64 */
    unsigned char raw[64], back[64];
    char enc[100];
    for (int i = 0; i < 64; i++)
        raw[i] = (unsigned char)(i * 37 + 11);
    bool all_ok = true;
    for (size_t n = 0; n <= 64; n++) {
        size_t len = sq_b64url_encode(raw, n, enc);
        all_ok &= len == (n * 4 + 2) / 3 && sq_b64url_decode(enc, len, back) == (long)n && memcmp(raw, back, n) == 0;
        all_ok &= strchr(enc, '=') == NULL && strchr(enc, '+') == NULL && strchr(enc, '/') == NULL;
    }
    CHECK(all_ok);
    CHECK_INT(sq_b64url_decode("ab+c", 4, back), -1);
    CHECK_INT(sq_b64url_decode("ab/c", 4, back), -1);
    CHECK_INT(sq_b64url_decode("abc=", 4, back), -1);
    CHECK_INT(sq_b64url_decode("abcde", 5, back), -1); /* length % 4 == 1 */
    CHECK_INT(sq_b64url_decode("QR", 2, back), -1);    /* non-canonical trailing bits */
    CHECK_INT(sq_b64url_decode("QQ", 2, back), 1);
    CHECK(sq_ct_equal("abc", 3, "abc", 3));
    CHECK(!sq_ct_equal("abc", 3, "abd", 3));
    CHECK(!sq_ct_equal("abc", 3, "abcd", 4));
    sq_arena_t *a = sq_arena_new();
    char *t1 = sq_token_new(a, "sk_"), *t2 = sq_token_new(a, "sk_");
    CHECK(strncmp(t1, "sk_", 3) == 0 && strlen(t1) == 46);
    CHECK(strcmp(t1, t2) != 0);
    /* ids in souq_id()'s format: a valid id whose first 10 characters are the millisecond time it was made at */
    static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
    int64_t before = sq_now_us() / 1000;
    char *i1 = sq_id_new(a, "cali"), *i2 = sq_id_new(a, "cali");
    int64_t after = sq_now_us() / 1000, made = 0;
    CHECK(sq_id_valid("cali", i1) && sq_id_valid("cali", i2));
    CHECK(strcmp(i1, i2) != 0);
    for (int i = 0; i < 10; i++)
        made = made << 5 | (strchr(b32, i1[5 + i]) - b32);
    CHECK(made >= before && made <= after);
    char *th = sq_token_hash(a, t1, strlen(t1));
    CHECK_INT(strlen(th), 64);
    CHECK(strspn(th, "0123456789abcdef") == 64);
    sq_arena_unref(a);
}

static void test_errors(void)
{
    sq_err_t e;
    sq_err_clear(&e);
    CHECK_INT(e.code, SQ_OK);
    CHECK_INT(sq_err_set(&e, SQ_E_VALIDATION, "bad %s", "thing"), -1);
    CHECK_STR(e.detail, "bad thing");
    for (int i = 0; i < SQ_ERR_MAX_FIELDS + 5; i++)
        sq_err_field(&e, "/x", "required", "field %d", i);
    CHECK_INT(e.nfields, SQ_ERR_MAX_FIELDS);
    CHECK_STR(e.fields[3].detail, "field 3");
    sq_err_t c;
    sq_err_copy(&c, &e);
    CHECK_INT(c.nfields, SQ_ERR_MAX_FIELDS);
    CHECK_STR(c.fields[15].pointer, "/x");
    bool unique = true, named = true;
    for (int i = 0; i < SQ_ERR__COUNT; i++) {
        named &= sq_err_slug((sq_code_t)i)[0] != '\0' && sq_err_title((sq_code_t)i)[0] != '\0';
        for (int j = 0; j < i; j++)
            unique &= strcmp(sq_err_slug((sq_code_t)i), sq_err_slug((sq_code_t)j)) != 0;
    }
    CHECK(unique);
    CHECK(named);
    CHECK_STR(sq_err_slug(SQ_E_UNKNOWN_FIELD), "unknown-field");
    CHECK_STR(sq_err_slug((sq_code_t)999), "internal");
}

static void test_sqlstate(void)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_db_map_sqlstate("23505", "customers_email_key", "duplicate key value violates unique constraint", &e);
    CHECK_INT(e.code, SQ_E_ALREADY_EXISTS);
    CHECK_STR(e.constraint, "customers_email_key");
    CHECK(strstr(e.detail, "violates") == NULL); /* the server's wording stays internal */
    CHECK_CONTAINS(e.internal, "23505");
    sq_err_clear(&e);
    sq_db_map_sqlstate("40P01", NULL, "deadlock detected", &e);
    CHECK_INT(e.code, SQ_E_BUSY);
    CHECK(e.retry_after >= 1);
    sq_err_clear(&e);
    sq_db_map_sqlstate("55P03", NULL, "could not obtain lock", &e);
    CHECK_INT(e.code, SQ_E_BUSY);
    sq_err_clear(&e);
    sq_db_map_sqlstate("08006", NULL, "connection failure", &e);
    CHECK_INT(e.code, SQ_E_UNAVAILABLE);
    sq_err_clear(&e);
    sq_db_map_sqlstate(NULL, NULL, NULL, &e);
    CHECK_INT(e.code, SQ_E_UNAVAILABLE);
    sq_err_clear(&e);
    sq_db_map_sqlstate("SQ409", NULL, "A customer can have at most 50 addresses.", &e);
    CHECK_INT(e.code, SQ_E_CONFLICT);
    CHECK_STR(e.detail, "A customer can have at most 50 addresses."); /* Souq's own messages are for clients */
    sq_err_clear(&e);
    sq_db_map_sqlstate("42P01", NULL, "relation \"secret_table\" does not exist", &e);
    CHECK_INT(e.code, SQ_E_INTERNAL);
    CHECK(strstr(e.detail, "secret_table") == NULL);
    sq_err_clear(&e);
    sq_db_map_where("handle", "/variants/12", &e);
    CHECK_STR(e.column, "handle");
    CHECK_STR(e.at, "/variants/12");
    sq_db_map_where(NULL, "Perhaps you meant to reference the column \"x\".", &e); /* PostgreSQL's hints stay out */
    CHECK_STR(e.column, "");
    CHECK_STR(e.at, "");
}

static void test_iso_and_ids(void)
{
    CHECK(sq_iso_country_known("de"));
    CHECK(sq_iso_country_known("us"));
    CHECK(!sq_iso_country_known("DE"));
    CHECK(!sq_iso_country_known("xx"));
    CHECK(!sq_iso_country_known("deu"));
    CHECK(!sq_iso_country_known(NULL));
    CHECK_INT(sq_iso_currency("eur")->minor_units, 2);
    CHECK_INT(sq_iso_currency("jpy")->minor_units, 0);
    CHECK_INT(sq_iso_currency("kwd")->minor_units, 3);
    CHECK(sq_iso_currency("EUR") == NULL);
    CHECK(sq_iso_currency("xau") == NULL); /* gold is not money here */
    size_t n;
    const sq_currency_t *all = sq_iso_currencies(&n);
    CHECK(n > 150);
    bool sorted = true;
    for (size_t i = 1; i < n; i++)
        sorted &= strcmp(all[i - 1].code, all[i].code) < 0;
    CHECK(sorted);
    CHECK(sq_id_valid("cus", "cus_01m81hne18kf6732amhwkz5js4"));
    CHECK(!sq_id_valid("cus", "addr_01m81hne18kf6732amhwkz5js4"));
    CHECK(!sq_id_valid("cus", "cus_01m81hne18kf6732amhwkz5js"));  /* 25 characters */
    CHECK(!sq_id_valid("cus", "cus_01m81hne18kf6732amhwkz5jsu")); /* u is not Crockford */
    CHECK(!sq_id_valid("cus", "cus_01M81HNE18KF6732AMHWKZ5JS4"));
    CHECK(!sq_id_valid("cus", "cus-01m81hne18kf6732amhwkz5js4"));
}

static void test_roles(void)
{
    for (int p = 0; sq_permissions[p] != NULL; p++) {
        CHECK(sq_role_can(SQ_ROLE_OWNER, sq_permissions[p]));
        CHECK(sq_perm_known(sq_permissions[p]));
        if (strstr(sq_permissions[p], ":write") != NULL)
            CHECK(!sq_role_can(SQ_ROLE_READ_ONLY, sq_permissions[p]));
    }
    CHECK(!sq_perm_known("root"));
    CHECK(!sq_role_can(SQ_ROLE_OWNER, "root"));
    CHECK(sq_role_can(SQ_ROLE_SUPPORT, "customers:write"));
    CHECK(!sq_role_can(SQ_ROLE_SUPPORT, "staff:read"));
    CHECK(!sq_role_can(SQ_ROLE_CATALOG_MANAGER, "orders:read"));
    CHECK(sq_role_can(SQ_ROLE_CATALOG_MANAGER, "catalog:write"));
    for (int r = 0; sq_role_names[r] != NULL; r++)
        CHECK_INT(sq_role_parse(sq_role_names[r]), r);
    CHECK_INT(sq_role_parse("king"), -1);
    CHECK(sq_role_may_grant(SQ_ROLE_OWNER, SQ_ROLE_OWNER));
    CHECK(sq_role_may_grant(SQ_ROLE_ADMIN, SQ_ROLE_ADMIN));
    CHECK(!sq_role_may_grant(SQ_ROLE_ADMIN, SQ_ROLE_OWNER));
    CHECK(!sq_role_may_grant(SQ_ROLE_SUPPORT, SQ_ROLE_READ_ONLY));
}

static void test_passwords(void)
{
    sq_password_set_cost(1024, 1); /* cheap for the test; the default is 19 MiB, t=2 */
    char *h = sq_password_hash("correct horse");
    CHECK(h != NULL && strncmp(h, "$argon2id$v=19$m=1024,t=1,p=1$", 30) == 0);
    CHECK(sq_password_verify(h, "correct horse"));
    CHECK(!sq_password_verify(h, "correct horsf"));
    CHECK(!sq_password_verify(h, ""));
    CHECK(!sq_password_verify(NULL, "correct horse"));
    char *h2 = sq_password_hash("correct horse");
    CHECK(strcmp(h, h2) != 0); /* salted */
    CHECK(!sq_password_verify("not-a-hash", "x"));
    free(h);
    free(h2);
}

int main(void)
{
    test_arena();
    test_buf();
    test_crypto();
    test_errors();
    test_sqlstate();
    test_iso_and_ids();
    test_roles();
    test_passwords();
    return check_done("base");
}
