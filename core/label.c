/* label.c: input rules of label purchases and the tracking statuses of the shipping contract (core/label.h). */
#include "core/label.h"

#include <string.h>

#define F SQ_VFIELD

/* provider ids are [a-z0-9_]{1,32} (migrations/0020); services are the carrier's names ("Priority", "Ground") */
static const char *check_provider_id(const json_t *v, const char **code)
{
    for (const char *p = json_string_value(v); p && *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            *code = "invalid_format";
            return "A shipping provider id: lower-case letters, digits and _.";
        }
    return NULL;
}

const sq_field_t sq_label_fields[] = {
    F("provider", SQ_FT_STR, 0, 1, 32, NULL, check_provider_id, NULL),
    F("service", SQ_FT_STR, 0, 1, 64, NULL, NULL, NULL),
    {NULL},
};

static const char *const statuses[] = {
    "unknown", "pre_transit", "in_transit", "out_for_delivery", "delivered", "available_for_pickup", "return_to_sender",
    "failure", "cancelled",   NULL};

bool sq_tracking_status_valid(const char *s)
{
    for (int i = 0; s != NULL && statuses[i]; i++)
        if (strcmp(statuses[i], s) == 0)
            return true;
    return false;
}
