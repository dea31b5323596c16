/* routes.c: the route table. Adding an endpoint = a row here, a handler, and its entry in openapi/. */
#include "api/routes.h"

#include "api/handlers/automation.h"
#include "api/handlers/handlers.h"
#include "core/automation.h"
#include "core/catalog.h"
#include "core/dynprice.h"
#include "core/events.h"
#include "core/import.h"
#include "core/inventory.h"
#include "core/order.h"
#include "core/order_edit.h"
#include "core/product.h"
#include "core/shipping.h"
#include "core/tax.h"
#include "core/promotion.h"
#include "core/purchasing.h"
#include "api/handlers/purchasing.h"
#include "core/loyalty.h"

static const char *const page_q[] = {"limit", "cursor", NULL};
static const char *const customers_q[] = {"limit", "cursor", "q", "tag", NULL};
static const char *const keys_q[] = {"limit", "cursor", "type", NULL};
static const char *const region_q[] = {"limit", "cursor", "currency_code", NULL};
static const char *const category_q[] = {"limit", "cursor", "parent_id", NULL};
static const char *const tax_rate_q[] = {"limit", "cursor", "region_id", "country_code", NULL};
static const char *const ship_option_q[] = {"limit", "cursor", "region_id", NULL};
static const char *const plist_q[] = {"limit", "cursor", "kind", NULL};
static const char *const product_q[] = {"limit", "cursor", "status", "q", "sku", NULL};
static const char *const store_products_q[] = {
    "limit",   "cursor", "q",      "category_id", "collection_id", "tag",           "price_min", "price_max", "in_stock",
    "options", "sort",   "expand", "fields",      "region_id",     "currency_code", "locale",    NULL};
static const char *const browse_q[] = {"locale", NULL};
static const char *const browse_tree_q[] = {"locale", "parent_id", NULL};
static const char *const iitem_q[] = {"limit", "cursor", "sku", "location_id", NULL};
static const char *const ledger_q[] = {"limit", "cursor", "inventory_item_id", "location_id", "reason", "reference", NULL};
static const char *const order_q[] = {"limit",         "cursor",       "status",        "payment_status", "fulfillment_status",
                                      "customer_id",   "sales_channel_id", "currency_code", "placed_after", "placed_before",
                                      "total_min",     "total_max",    "q",             "tag",            NULL};
static const char *const export_order_q[] = {"status",        "payment_status", "fulfillment_status", "customer_id", "sales_channel_id",
                                             "currency_code", "placed_after",   "placed_before",      "total_min",   "total_max",
                                             "q",             NULL};
static const char *const draft_q[] = {"limit", "cursor", "status", "customer_id", NULL};
static const char *const promo_q[] = {"limit", "cursor", "status", "code", NULL};
static const char *const gift_card_q[] = {"limit", "cursor", "status", "customer_id", NULL};
static const char *const webhook_q[] = {"limit", "cursor", "enabled", NULL};
static const char *const delivery_q[] = {"limit", "cursor", "state", NULL};
static const char *const event_q[] = {"limit", "cursor", "type", NULL};
static const char *const job_q[] = {"limit", "cursor", "state", "kind", NULL};
static const char *const price_change_q[] = {"limit",  "cursor",    "variant_id",    "product_id",     "price_list_id", "currency_code",
                                             "source", "source_id", "created_after", "created_before", NULL};
static const char *const status_q[] = {"limit", "cursor", "status", NULL};
static const char *const rule_q[] = {"limit", "cursor", "enabled", "event", NULL};
static const char *const run_q[] = {"limit", "cursor", "state", NULL};
static const char *const supplier_q[] = {"limit", "cursor", "currency_code", "q", NULL};
static const char *const rrule_q[] = {"limit", "cursor", "inventory_item_id", "location_id", "supplier_id", NULL};
static const char *const po_q[] = {"limit", "cursor", "status", "supplier_id", "location_id", "q", NULL};
static const char *const po_export_q[] = {"status", "supplier_id", "location_id", "q", NULL};
static const char *const loyalty_ledger_q[] = {"limit", "cursor", "customer_id", "kind", "order_id", NULL};
static const char *const notification_q[] = {"limit", "cursor", "order_id", "kind", "state", NULL};
static const char *const store_product_q[] = {"expand", "fields", "region_id", "currency_code", "locale", NULL};

/* Creating routes honour Idempotency-Key (a retry replays the first answer). */
#define IDEM SQ_RT_IDEMPOTENT

/* The routes of a plain resource: list and create on base, get and update on base/{id}, delete if it has one. */
#define LIST_GET(base, res, read, q)                                                                                               \
    {"GET", base, sq_h_res_list, ADMIN, read, 0, q, &res},                                                                         \
    {                                                                                                                              \
        "GET", base "/{id}", sq_h_res_get, ADMIN, read, 0, NULL, &res                                                              \
    }
#define CREATE_UPDATE(base, res, write)                                                                                            \
    {"POST", base, sq_h_res_create, ADMIN, write, IDEM, NULL, &res},                                                               \
    {                                                                                                                              \
        "PATCH", base "/{id}", sq_h_res_update, ADMIN, write, 0, NULL, &res                                                        \
    }
#define DELETE(base, res, write)                                                                                                   \
    {                                                                                                                              \
        "DELETE", base "/{id}", sq_h_res_delete, ADMIN, write, 0, NULL, &res                                                       \
    }
/* A translatable resource's text in one locale: base/{id}/translations/{locale}. */
#define TRANSLATIONS(base, res, read, write)                                                                                       \
    {"GET", base "/{id}/translations/{locale}", sq_h_res_translation_get, ADMIN, read, 0, NULL, &res},                             \
        {"PUT", base "/{id}/translations/{locale}", sq_h_res_translation_put, ADMIN, write, 0, NULL, &res},                        \
    {                                                                                                                              \
        "DELETE", base "/{id}/translations/{locale}", sq_h_res_translation_delete, ADMIN, write, 0, NULL, &res                     \
    }

#define NONE SQ_AUTH_NONE
#define STORE SQ_AUTH_STORE
#define CUSTOMER SQ_AUTH_STORE_CUSTOMER
#define ADMIN SQ_AUTH_ADMIN
#define AUTHB (SQ_RT_AUTH_BODY | SQ_RT_NO_STORE)
/* cart ids are capabilities: not stored by caches (and shortened in the access log, req.c) */
#define CART SQ_RT_NO_STORE

const sq_route_t sq_routes[] = {
    {"GET", "/healthz", sq_h_healthz, NONE, NULL, 0, NULL},
    {"GET", "/readyz", sq_h_readyz, NONE, NULL, 0, NULL},
    {"GET", "/metrics", sq_h_metrics, NONE, NULL, 0, NULL},
    {"GET", "/openapi.json", sq_h_openapi, NONE, NULL, 0, NULL},

    /* storefront */
    {"POST", "/v1/store/auth/token", sq_h_store_token, STORE, NULL, AUTHB | SQ_RT_RATE_LIMITED, NULL},
    {"POST", "/v1/store/auth/refresh", sq_h_store_refresh, STORE, NULL, AUTHB, NULL},
    {"POST", "/v1/store/auth/logout", sq_h_store_logout, STORE, NULL, AUTHB, NULL},
    {"POST", "/v1/store/auth/password-reset", sq_h_store_reset_request, STORE, NULL, AUTHB | SQ_RT_RATE_LIMITED, NULL},
    {"POST", "/v1/store/auth/password-reset/confirm", sq_h_store_reset_confirm, STORE, NULL, AUTHB, NULL},
    {"POST", "/v1/store/customers", sq_h_store_register, STORE, NULL, AUTHB, NULL},
    {"GET", "/v1/store/customers/me", sq_h_store_me_get, CUSTOMER, NULL, 0, NULL},
    {"PATCH", "/v1/store/customers/me", sq_h_store_me_update, CUSTOMER, NULL, 0, NULL},
    {"POST", "/v1/store/customers/me/password", sq_h_store_password_change, CUSTOMER, NULL, AUTHB, NULL},
    {"GET", "/v1/store/customers/me/addresses", sq_h_store_address_list, CUSTOMER, NULL, 0, page_q},
    {"POST", "/v1/store/customers/me/addresses", sq_h_store_address_create, CUSTOMER, NULL, IDEM, NULL},
    {"GET", "/v1/store/customers/me/addresses/{id}", sq_h_store_address_get, CUSTOMER, NULL, 0, NULL},
    {"PATCH", "/v1/store/customers/me/addresses/{id}", sq_h_store_address_update, CUSTOMER, NULL, 0, NULL},
    {"DELETE", "/v1/store/customers/me/addresses/{id}", sq_h_store_address_delete, CUSTOMER, NULL, 0, NULL},
    {"GET", "/v1/store/products", sq_h_store_products, STORE, NULL, 0, store_products_q},
    {"GET", "/v1/store/products/{id}", sq_h_store_product, STORE, NULL, 0, store_product_q},
    {"GET", "/v1/store/categories", sq_h_store_categories, STORE, NULL, 0, browse_tree_q},
    {"GET", "/v1/store/payment-providers", sq_h_store_payment_providers, STORE, NULL, 0, NULL}, /* plugin_actions.c */
    {"GET", "/v1/store/categories/{id}", sq_h_store_category, STORE, NULL, 0, browse_q},
    {"GET", "/v1/store/collections", sq_h_store_collections, STORE, NULL, 0, browse_q},
    {"GET", "/v1/store/collections/{id}", sq_h_store_collection, STORE, NULL, 0, browse_q},
    {"POST", "/v1/store/carts", sq_h_store_cart_create, STORE, NULL, SQ_RT_NO_STORE, NULL},
    {"GET", "/v1/store/carts/{id}", sq_h_store_cart_get, STORE, NULL, CART, NULL},
    {"PATCH", "/v1/store/carts/{id}", sq_h_store_cart_update, STORE, NULL, CART, NULL},
    {"POST", "/v1/store/carts/{id}/customer", sq_h_store_cart_attach, CUSTOMER, NULL, CART, NULL},
    {"POST", "/v1/store/carts/{id}/line-items", sq_h_store_cart_line_add, STORE, NULL, CART | IDEM, NULL},
    {"PATCH", "/v1/store/carts/{id}/line-items/{line_id}", sq_h_store_cart_line_update, STORE, NULL, CART, NULL},
    {"DELETE", "/v1/store/carts/{id}/line-items/{line_id}", sq_h_store_cart_line_delete, STORE, NULL, CART, NULL},
    {"POST", "/v1/store/carts/{id}/complete", sq_h_store_cart_complete, STORE, NULL, CART | IDEM, NULL},
    {"GET", "/v1/store/customers/me/orders", sq_h_store_my_orders, CUSTOMER, NULL, 0, page_q},
    {"GET", "/v1/store/customers/me/orders/{id}", sq_h_store_my_order, CUSTOMER, NULL, 0, NULL},
    {"GET", "/v1/store/carts/{id}/shipping-options", sq_h_store_cart_shipping_options, STORE, NULL, CART, NULL},
    {"POST", "/v1/store/carts/{id}/shipping-methods", sq_h_store_cart_shipping_method, STORE, NULL, CART, NULL},
    {"DELETE", "/v1/store/carts/{id}/shipping-method", sq_h_store_cart_shipping_method_remove, STORE, NULL, CART, NULL},
    {"POST", "/v1/store/customers/me/orders/{id}/returns", sq_h_store_return_create, CUSTOMER, NULL, IDEM, NULL},
    {"POST", "/v1/store/carts/{id}/promotions", sq_h_store_cart_promotion_add, STORE, NULL, CART, NULL},
    {"DELETE", "/v1/store/carts/{id}/promotions/{code}", sq_h_store_cart_promotion_remove, STORE, NULL, CART, NULL},
    {"POST", "/v1/store/carts/{id}/gift-cards", sq_h_store_cart_gift_card_add, STORE, NULL, CART, NULL},
    {"DELETE", "/v1/store/carts/{id}/gift-cards/{gift_card_id}", sq_h_store_cart_gift_card_remove, STORE, NULL, CART, NULL},
    /* loyalty points (loyalty.c) */
    {"GET", "/v1/store/customers/me/loyalty", sq_h_store_my_loyalty, CUSTOMER, NULL, 0, NULL},
    {"POST", "/v1/store/carts/{id}/loyalty", sq_h_store_cart_loyalty_set, CUSTOMER, NULL, CART, NULL},
    {"DELETE", "/v1/store/carts/{id}/loyalty", sq_h_store_cart_loyalty_remove, CUSTOMER, NULL, CART, NULL},

    /* admin */
    {"POST", "/v1/admin/auth/token", sq_h_admin_token, NONE, NULL, AUTHB | SQ_RT_RATE_LIMITED, NULL},
    {"POST", "/v1/admin/auth/refresh", sq_h_admin_refresh, NONE, NULL, AUTHB, NULL},
    {"POST", "/v1/admin/auth/logout", sq_h_admin_logout, NONE, NULL, AUTHB, NULL},
    {"GET", "/v1/admin/users/me", sq_h_admin_me, ADMIN, NULL, 0, NULL},
    {"GET", "/v1/admin/users", sq_h_admin_user_list, ADMIN, "staff:read", 0, page_q},
    {"POST", "/v1/admin/users", sq_h_admin_user_create, ADMIN, "staff:write", IDEM, NULL},
    {"GET", "/v1/admin/users/{id}", sq_h_admin_user_get, ADMIN, "staff:read", 0, NULL},
    {"PATCH", "/v1/admin/users/{id}", sq_h_admin_user_update, ADMIN, "staff:write", 0, NULL},
    {"GET", "/v1/admin/api-keys", sq_h_admin_key_list, ADMIN, "api_keys:read", 0, keys_q},
    {"POST", "/v1/admin/api-keys", sq_h_admin_key_create, ADMIN, "api_keys:write", SQ_RT_NO_STORE, NULL},
    {"GET", "/v1/admin/api-keys/{id}", sq_h_admin_key_get, ADMIN, "api_keys:read", 0, NULL},
    {"POST", "/v1/admin/api-keys/{id}/revoke", sq_h_admin_key_revoke, ADMIN, "api_keys:write", 0, NULL},
    {"GET", "/v1/admin/customers", sq_h_admin_customer_list, ADMIN, "customers:read", 0, customers_q},
    {"GET", "/v1/admin/customers/{id}", sq_h_admin_customer_get, ADMIN, "customers:read", 0, NULL},

    LIST_GET("/v1/admin/sales-channels", sq_res_sales_channel, "sales_channels:read", page_q),
    CREATE_UPDATE("/v1/admin/sales-channels", sq_res_sales_channel, "sales_channels:write"),
    {"POST", "/v1/admin/sales-channels/{id}/locations", sq_h_channel_location_set, ADMIN, "sales_channels:write", 0, NULL},
    {"DELETE", "/v1/admin/sales-channels/{id}/locations/{location_id}", sq_h_channel_location_remove, ADMIN, "sales_channels:write",
     0, NULL},
    LIST_GET("/v1/admin/regions", sq_res_region, "settings:read", region_q),
    CREATE_UPDATE("/v1/admin/regions", sq_res_region, "settings:write"),
    DELETE("/v1/admin/regions", sq_res_region, "settings:write"),
    LIST_GET("/v1/admin/tax-rates", sq_res_tax_rate, "settings:read", tax_rate_q),
    CREATE_UPDATE("/v1/admin/tax-rates", sq_res_tax_rate, "settings:write"),
    DELETE("/v1/admin/tax-rates", sq_res_tax_rate, "settings:write"),
    LIST_GET("/v1/admin/shipping-options", sq_res_shipping_option, "settings:read", ship_option_q),
    CREATE_UPDATE("/v1/admin/shipping-options", sq_res_shipping_option, "settings:write"),
    DELETE("/v1/admin/shipping-options", sq_res_shipping_option, "settings:write"),
    LIST_GET("/v1/admin/stock-locations", sq_res_stock_location, "inventory:read", page_q),
    CREATE_UPDATE("/v1/admin/stock-locations", sq_res_stock_location, "inventory:write"),
    LIST_GET("/v1/admin/customer-groups", sq_res_customer_group, "customers:read", page_q),
    CREATE_UPDATE("/v1/admin/customer-groups", sq_res_customer_group, "customers:write"),
    DELETE("/v1/admin/customer-groups", sq_res_customer_group, "customers:write"),
    {"POST", "/v1/admin/customer-groups/{id}/customers", sq_h_group_members, ADMIN, "customers:write", 0, NULL},
    LIST_GET("/v1/admin/categories", sq_res_category, "catalog:read", category_q),
    CREATE_UPDATE("/v1/admin/categories", sq_res_category, "catalog:write"),
    DELETE("/v1/admin/categories", sq_res_category, "catalog:write"),
    TRANSLATIONS("/v1/admin/categories", sq_res_category, "catalog:read", "catalog:write"),
    LIST_GET("/v1/admin/collections", sq_res_collection, "catalog:read", page_q),
    CREATE_UPDATE("/v1/admin/collections", sq_res_collection, "catalog:write"),
    DELETE("/v1/admin/collections", sq_res_collection, "catalog:write"),
    {"POST", "/v1/admin/collections/{id}/products", sq_h_collection_products, ADMIN, "catalog:write", 0, NULL},
    TRANSLATIONS("/v1/admin/collections", sq_res_collection, "catalog:read", "catalog:write"),
    LIST_GET("/v1/admin/price-lists", sq_res_price_list, "catalog:read", plist_q),
    CREATE_UPDATE("/v1/admin/price-lists", sq_res_price_list, "catalog:write"),
    DELETE("/v1/admin/price-lists", sq_res_price_list, "catalog:write"),
    {"POST", "/v1/admin/price-lists/{id}/prices", sq_h_price_list_prices, ADMIN, "catalog:write", 0, NULL},
    /* dynamic pricing (0035): the price ledger, scheduled price changes, pricing rules */
    LIST_GET("/v1/admin/price-changes", sq_res_price_change, "catalog:read", price_change_q),
    LIST_GET("/v1/admin/price-schedules", sq_res_price_schedule, "catalog:read", status_q),
    {"POST", "/v1/admin/price-schedules", sq_h_res_create, ADMIN, "catalog:write", IDEM, NULL, &sq_res_price_schedule},
    {"POST", "/v1/admin/price-schedules/{id}/cancel", sq_h_price_schedule_cancel, ADMIN, "catalog:write", 0, NULL},
    LIST_GET("/v1/admin/pricing-rules", sq_res_pricing_rule, "catalog:read", status_q),
    CREATE_UPDATE("/v1/admin/pricing-rules", sq_res_pricing_rule, "catalog:write"),
    DELETE("/v1/admin/pricing-rules", sq_res_pricing_rule, "catalog:write"),
    {"POST", "/v1/admin/pricing-rules/{id}/preview", sq_h_pricing_rule_preview, ADMIN, "catalog:read", 0, NULL},
    LIST_GET("/v1/admin/products", sq_res_product, "catalog:read", product_q),
    CREATE_UPDATE("/v1/admin/products", sq_res_product, "catalog:write"),
    {"POST", "/v1/admin/products/{id}/variants", sq_h_variant_create, ADMIN, "catalog:write", IDEM, NULL},
    {"PATCH", "/v1/admin/products/{id}/variants/{variant_id}", sq_h_variant_update, ADMIN, "catalog:write", 0, NULL},
    {"DELETE", "/v1/admin/products/{id}/variants/{variant_id}", sq_h_variant_delete, ADMIN, "catalog:write", 0, NULL},
    TRANSLATIONS("/v1/admin/products", sq_res_product, "catalog:read", "catalog:write"),
    LIST_GET("/v1/admin/inventory-items", sq_res_inventory_item, "inventory:read", iitem_q),
    {"PATCH", "/v1/admin/inventory-items/{id}", sq_h_res_update, ADMIN, "inventory:write", 0, NULL, &sq_res_inventory_item},
    {"POST", "/v1/admin/inventory-items/{id}/adjustments", sq_h_stock_adjust, ADMIN, "inventory:write", IDEM, NULL},
    {"POST", "/v1/admin/inventory-items/{id}/counts", sq_h_stock_count, ADMIN, "inventory:write", IDEM, NULL},
    {"POST", "/v1/admin/inventory-items/{id}/transfers", sq_h_stock_transfer, ADMIN, "inventory:write", IDEM, NULL},
    {"GET", "/v1/admin/inventory-ledger", sq_h_res_list, ADMIN, "inventory:read", 0, ledger_q, &sq_res_inventory_ledger},
    {"POST", "/v1/admin/imports", sq_h_import_create, ADMIN, "catalog:write", SQ_RT_UPLOAD | IDEM, NULL},
    LIST_GET("/v1/admin/imports", sq_res_import, "catalog:read", page_q),
    {"GET", "/v1/admin/exports/products.csv", sq_h_export_products, ADMIN, "catalog:read", SQ_RT_CSV, NULL},
    LIST_GET("/v1/admin/promotions", sq_res_promotion, "promotions:read", promo_q),
    CREATE_UPDATE("/v1/admin/promotions", sq_res_promotion, "promotions:write"),
    DELETE("/v1/admin/promotions", sq_res_promotion, "promotions:write"),
    /* the create answer holds the card's code, shown once: not stored by caches, nor for Idempotency-Key replays */
    LIST_GET("/v1/admin/gift-cards", sq_res_gift_card, "promotions:read", gift_card_q),
    {"POST", "/v1/admin/gift-cards", sq_h_res_create, ADMIN, "promotions:write", SQ_RT_NO_STORE, NULL, &sq_res_gift_card},
    {"PATCH", "/v1/admin/gift-cards/{id}", sq_h_res_update, ADMIN, "promotions:write", 0, NULL, &sq_res_gift_card},
    /* gift cards sold as a product (gift_sale.c): a sold card's code is revealed once, not stored by caches */
    {"POST", "/v1/admin/gift-cards/{id}/reveal", sq_h_gift_card_reveal, ADMIN, "promotions:write", SQ_RT_NO_STORE, NULL},
    {"POST", "/v1/admin/gift-cards/{id}/adjustments", sq_h_gift_card_adjust, ADMIN, "promotions:write", IDEM, NULL},
    {"GET", "/v1/admin/orders/{id}/gift-cards", sq_h_order_gift_cards, ADMIN, "orders:read", 0, NULL},
    {"POST", "/v1/admin/orders/{id}/gift-card-refunds", sq_h_order_gift_card_refund, ADMIN, "orders:write", IDEM, NULL},
    {"GET", "/v1/admin/store", sq_h_store_get, ADMIN, "settings:read", 0, NULL},
    {"PATCH", "/v1/admin/store", sq_h_store_update, ADMIN, "settings:write", 0, NULL},
    LIST_GET("/v1/admin/orders", sq_res_order, "orders:read", order_q),
    {"POST", "/v1/admin/orders/{id}/capture", sq_h_admin_order_capture, ADMIN, "orders:write", 0, NULL},
    {"POST", "/v1/admin/orders/{id}/cancel", sq_h_admin_order_cancel, ADMIN, "orders:write", 0, NULL},
    {"POST", "/v1/admin/orders/{id}/refunds", sq_h_admin_order_refund, ADMIN, "orders:write", IDEM, NULL},
    /* fulfilments, shipments, returns (fulfillment.c) */
    {"POST", "/v1/admin/orders/{id}/fulfillments", sq_h_admin_fulfillment_create, ADMIN, "orders:write", IDEM, NULL},
    {"POST", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/shipments", sq_h_admin_fulfillment_ship, ADMIN, "orders:write", IDEM,
     NULL},
    {"POST", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/deliver", sq_h_admin_fulfillment_deliver, ADMIN, "orders:write", 0,
     NULL},
    /* carrier labels and tracking (labels.c) */
    {"POST", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/labels", sq_h_admin_label_buy, ADMIN, "orders:write", IDEM, NULL},
    {"POST", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/shipments/{shipment_id}/track", sq_h_admin_shipment_track, ADMIN,
     "orders:write", 0, NULL},
    {"GET", "/v1/admin/orders/{id}/returns", sq_h_admin_return_list, ADMIN, "orders:read", 0, page_q},
    {"POST", "/v1/admin/orders/{id}/returns", sq_h_admin_return_create, ADMIN, "orders:write", IDEM, NULL},
    {"POST", "/v1/admin/orders/{id}/returns/{return_id}/approve", sq_h_admin_return_approve, ADMIN, "orders:write", 0, NULL},
    {"POST", "/v1/admin/orders/{id}/returns/{return_id}/reject", sq_h_admin_return_reject, ADMIN, "orders:write", 0, NULL},
    {"POST", "/v1/admin/orders/{id}/returns/{return_id}/receive", sq_h_admin_return_receive, ADMIN, "orders:write", 0, NULL},
    {"GET", "/v1/admin/exports/orders.csv", sq_h_export_orders, ADMIN, "orders:read", SQ_RT_CSV, export_order_q},
    /* order edits and draft orders (order_edits.c) */
    {"POST", "/v1/admin/orders/{id}/edits", sq_h_admin_order_edit, ADMIN, "orders:write", IDEM, NULL},
    LIST_GET("/v1/admin/draft-orders", sq_res_draft_order, "orders:read", draft_q),
    CREATE_UPDATE("/v1/admin/draft-orders", sq_res_draft_order, "orders:write"),
    {"POST", "/v1/admin/draft-orders/{id}/complete", sq_h_admin_draft_complete, ADMIN, "orders:write", IDEM, NULL},
    /* webhooks, events and their deliveries (events.c) */
    LIST_GET("/v1/admin/webhooks", sq_res_webhook, "webhooks:read", webhook_q),
    {"POST", "/v1/admin/webhooks", sq_h_webhook_create, ADMIN, "webhooks:write", SQ_RT_NO_STORE, NULL, &sq_res_webhook},
    {"PATCH", "/v1/admin/webhooks/{id}", sq_h_webhook_update, ADMIN, "webhooks:write", 0, NULL, &sq_res_webhook},
    DELETE("/v1/admin/webhooks", sq_res_webhook, "webhooks:write"),
    {"POST", "/v1/admin/webhooks/{id}/rotate-secret", sq_h_webhook_rotate, ADMIN, "webhooks:write", SQ_RT_NO_STORE, NULL},
    {"POST", "/v1/admin/webhooks/{id}/test", sq_h_webhook_test, ADMIN, "webhooks:write", 0, NULL},
    {"GET", "/v1/admin/webhooks/{id}/deliveries", sq_h_webhook_deliveries, ADMIN, "webhooks:read", 0, delivery_q},
    {"GET", "/v1/admin/events", sq_h_event_list, ADMIN, "events:read", 0, event_q},
    {"GET", "/v1/admin/events/{id}", sq_h_event_get, ADMIN, "events:read", 0, NULL},
    {"POST", "/v1/admin/events/{id}/replay", sq_h_event_replay, ADMIN, "webhooks:write", 0, NULL},
    /* durable jobs (jobs.c): reads with events:read, moves with settings:write */
    {"GET", "/v1/admin/jobs", sq_h_job_list, ADMIN, "events:read", 0, job_q},
    {"GET", "/v1/admin/jobs/{id}", sq_h_job_get, ADMIN, "events:read", 0, NULL},
    {"POST", "/v1/admin/jobs/{id}/retry", sq_h_job_retry, ADMIN, "settings:write", 0, NULL},
    {"POST", "/v1/admin/jobs/{id}/cancel", sq_h_job_cancel, ADMIN, "settings:write", 0, NULL},
    /* automation rules (automation.c) */
    LIST_GET("/v1/admin/automation/rules", sq_res_automation_rule, "automation:read", rule_q),
    {"POST", "/v1/admin/automation/rules", sq_h_rule_create, ADMIN, "automation:write", IDEM, NULL, &sq_res_automation_rule},
    {"PATCH", "/v1/admin/automation/rules/{id}", sq_h_rule_update, ADMIN, "automation:write", 0, NULL, &sq_res_automation_rule},
    DELETE("/v1/admin/automation/rules", sq_res_automation_rule, "automation:write"),
    {"GET", "/v1/admin/automation/rules/{id}/runs", sq_h_rule_runs, ADMIN, "automation:read", 0, run_q},
    {"POST", "/v1/admin/automation/rules/dry-run", sq_h_rule_dry_run, ADMIN, "automation:read", 0, NULL},
    {"POST", "/v1/admin/automation/rules/{id}/dry-run", sq_h_rule_dry_run_saved, ADMIN, "automation:read", 0, NULL},
    {"GET", "/v1/admin/reports/abandoned-carts", sq_h_abandoned_carts_report, ADMIN, "orders:read", 0, NULL},

    /* low stock and reorders: suppliers, reorder rules, purchase orders (purchasing.c) */
    LIST_GET("/v1/admin/suppliers", sq_res_supplier, "inventory:read", supplier_q),
    CREATE_UPDATE("/v1/admin/suppliers", sq_res_supplier, "inventory:write"),
    DELETE("/v1/admin/suppliers", sq_res_supplier, "inventory:write"),
    LIST_GET("/v1/admin/reorder-rules", sq_res_reorder_rule, "inventory:read", rrule_q),
    CREATE_UPDATE("/v1/admin/reorder-rules", sq_res_reorder_rule, "inventory:write"),
    DELETE("/v1/admin/reorder-rules", sq_res_reorder_rule, "inventory:write"),
    LIST_GET("/v1/admin/purchase-orders", sq_res_purchase_order, "inventory:read", po_q),
    CREATE_UPDATE("/v1/admin/purchase-orders", sq_res_purchase_order, "inventory:write"),
    {"POST", "/v1/admin/purchase-orders/{id}/send", sq_h_po_send, ADMIN, "inventory:write", 0, NULL},
    {"POST", "/v1/admin/purchase-orders/{id}/cancel", sq_h_po_cancel, ADMIN, "inventory:write", 0, NULL},
    {"POST", "/v1/admin/purchase-orders/{id}/receipts", sq_h_po_receive, ADMIN, "inventory:write", IDEM, NULL},
    {"GET", "/v1/admin/exports/purchase-orders.csv", sq_h_export_purchase_orders, ADMIN, "inventory:read", SQ_RT_CSV, po_export_q},
    /* loyalty points and customer segments (loyalty.c) */
    {"GET", "/v1/admin/loyalty/program", sq_h_loyalty_program_get, ADMIN, "promotions:read", 0, NULL},
    {"PATCH", "/v1/admin/loyalty/program", sq_h_loyalty_program_update, ADMIN, "promotions:write", 0, NULL},
    LIST_GET("/v1/admin/loyalty-tiers", sq_res_loyalty_tier, "promotions:read", page_q),
    CREATE_UPDATE("/v1/admin/loyalty-tiers", sq_res_loyalty_tier, "promotions:write"),
    DELETE("/v1/admin/loyalty-tiers", sq_res_loyalty_tier, "promotions:write"),
    {"GET", "/v1/admin/customers/{id}/loyalty", sq_h_admin_loyalty_get, ADMIN, "customers:read", 0, NULL},
    {"POST", "/v1/admin/customers/{id}/loyalty/adjustments", sq_h_admin_loyalty_adjust, ADMIN, "customers:write", IDEM, NULL},
    {"GET", "/v1/admin/loyalty-transactions", sq_h_res_list, ADMIN, "customers:read", 0, loyalty_ledger_q, &sq_res_loyalty_ledger},
    LIST_GET("/v1/admin/segments", sq_res_segment, "customers:read", page_q),
    CREATE_UPDATE("/v1/admin/segments", sq_res_segment, "customers:write"),
    DELETE("/v1/admin/segments", sq_res_segment, "customers:write"),
    {"POST", "/v1/admin/segments/{id}/refresh", sq_h_segment_refresh, ADMIN, "customers:write", 0, NULL},
    {"GET", "/v1/admin/segments/{id}/export.csv", sq_h_segment_export, ADMIN, "customers:read", SQ_RT_CSV, NULL},

    /* plugins (plugins.c) */
    {"GET", "/v1/admin/plugins", sq_h_admin_plugin_list, ADMIN, "plugins:read", 0, NULL},
    {"POST", "/v1/admin/plugins/reload", sq_h_admin_plugin_reload, ADMIN, "plugins:write", 0, NULL},
    {"GET", "/v1/admin/plugins/{name}", sq_h_admin_plugin_get, ADMIN, "plugins:read", 0, NULL},
    {"PATCH", "/v1/admin/plugins/{name}", sq_h_admin_plugin_update, ADMIN, "plugins:write", 0, NULL},
    {"POST", "/v1/admin/plugins/{name}/actions/{action}", sq_h_admin_plugin_action_run, ADMIN, "plugins:write", 0, NULL}, /* plugin_actions.c */
    {"POST", "/v1/admin/plugins/{name}/reseal-secrets", sq_h_admin_plugin_reseal, ADMIN, "plugins:write", 0, NULL},
    {"GET", "/v1/admin/plugins/{name}/deliveries", sq_h_plugin_deliveries, ADMIN, "plugins:read", 0, delivery_q},
    {"POST", "/v1/admin/plugins/{name}/deliveries", sq_h_plugin_replay, ADMIN, "plugins:write", 0, NULL},
    /* order notifications (notifications.c) */
    {"GET", "/v1/admin/notifications", sq_h_notification_list, ADMIN, "orders:read", 0, notification_q},
    {"GET", "/v1/admin/notification-templates", sq_h_notification_template_list, ADMIN, "settings:read", 0, NULL},
    {"GET", "/v1/admin/notification-templates/{kind}", sq_h_notification_template_get, ADMIN, "settings:read", 0, NULL},
    {"PATCH", "/v1/admin/notification-templates/{kind}", sq_h_notification_template_update, ADMIN, "settings:write", 0, NULL},

    /* callbacks of payment and shipping providers (verified by the provider) */
    {"POST", "/v1/hooks/test/charges/{id}/authenticate", sq_h_hook_test_authenticate, NONE, NULL, 0, NULL},
    {"POST", "/v1/hooks/{plugin}", sq_h_hook_plugin, NONE, NULL, 0, NULL},
    {"POST", "/v1/hooks/{plugin}/{topic}", sq_h_hook_plugin, NONE, NULL, 0, NULL},
};

const size_t sq_routes_count = sizeof(sq_routes) / sizeof(sq_routes[0]);
