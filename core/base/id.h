/* id.h: Souq ids are "<prefix>_<26 lower-case Crockford base32 characters>" (souq_id() in SQL). */
#ifndef SQ_ID_H
#define SQ_ID_H

#include <stdbool.h>
#include <string.h>

/** True if s is a well-formed id with this prefix ("cus"); anything else can be answered 404 without a query. */
static inline bool sq_id_valid(const char *prefix, const char *s)
{
    size_t p = strlen(prefix);
    if (strncmp(s, prefix, p) != 0 || s[p] != '_' || strlen(s + p + 1) != 26)
        return false;
    for (const char *c = s + p + 1; *c; c++)
        if (strchr("0123456789abcdefghjkmnpqrstvwxyz", *c) == NULL)
            return false;
    return true;
}

#endif
