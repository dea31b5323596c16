/* iso.h: country and currency code tables (ISO 3166-1 alpha-2, ISO 4217), lower case as the API uses them. */
#ifndef SQ_ISO_H
#define SQ_ISO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *code; /* "eur" */
    int minor_units;  /* 2 for eur, 0 for jpy, 3 for kwd */
    const char *name;
} sq_currency_t;

/** True for an assigned ISO 3166-1 alpha-2 code in lower case ("de"). */
bool sq_iso_country_known(const char *code);
/** The currency for a lower-case ISO 4217 code, or NULL. */
const sq_currency_t *sq_iso_currency(const char *code);
/** All currencies (sorted by code); *n gets the count. */
const sq_currency_t *sq_iso_currencies(size_t *n);

#endif
