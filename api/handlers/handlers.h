/* handlers.h: every HTTP handler; each validates, issues one core call, and answers in its callback. */
#ifndef SQ_HANDLERS_H
#define SQ_HANDLERS_H

#include "api/req.h"

/* system.c */
void sq_h_healthz(sq_req_t *req);
void sq_h_readyz(sq_req_t *req);
void sq_h_metrics(sq_req_t *req);
void sq_h_openapi(sq_req_t *req);

/* auth.c: login, refresh and logout for both audiences */
void sq_h_store_token(sq_req_t *req);
void sq_h_store_refresh(sq_req_t *req);
void sq_h_store_logout(sq_req_t *req);
void sq_h_admin_token(sq_req_t *req);
void sq_h_admin_refresh(sq_req_t *req);
void sq_h_admin_logout(sq_req_t *req);

/* store_customers.c */
void sq_h_store_register(sq_req_t *req);
void sq_h_store_me_get(sq_req_t *req);
void sq_h_store_me_update(sq_req_t *req);
void sq_h_store_password_change(sq_req_t *req);
void sq_h_store_reset_request(sq_req_t *req);
void sq_h_store_reset_confirm(sq_req_t *req);
void sq_h_store_address_list(sq_req_t *req);
void sq_h_store_address_create(sq_req_t *req);
void sq_h_store_address_get(sq_req_t *req);
void sq_h_store_address_update(sq_req_t *req);
void sq_h_store_address_delete(sq_req_t *req);

/* store_carts.c */
void sq_h_store_cart_create(sq_req_t *req);
void sq_h_store_cart_get(sq_req_t *req);
void sq_h_store_cart_update(sq_req_t *req);
void sq_h_store_cart_attach(sq_req_t *req);
void sq_h_store_cart_line_add(sq_req_t *req);
void sq_h_store_cart_line_update(sq_req_t *req);
void sq_h_store_cart_line_delete(sq_req_t *req);
void sq_h_store_cart_shipping_options(sq_req_t *req);
void sq_h_store_cart_shipping_method(sq_req_t *req);
void sq_h_store_cart_promotion_add(sq_req_t *req);
void sq_h_store_cart_promotion_remove(sq_req_t *req);
void sq_h_store_cart_gift_card_add(sq_req_t *req);
void sq_h_store_cart_gift_card_remove(sq_req_t *req);

/* plugins.c */
void sq_h_admin_plugin_list(sq_req_t *req);
void sq_h_admin_plugin_get(sq_req_t *req);
void sq_h_admin_plugin_update(sq_req_t *req);
void sq_h_admin_plugin_reload(sq_req_t *req);
/* plugin_actions.c */
void sq_h_admin_plugin_action_run(sq_req_t *req);
void sq_h_admin_plugin_reseal(sq_req_t *req);
void sq_h_store_payment_providers(sq_req_t *req);

/* admin.c */
void sq_h_admin_me(sq_req_t *req);

/* orders.c */
void sq_h_store_cart_complete(sq_req_t *req);
void sq_h_store_my_orders(sq_req_t *req);
void sq_h_store_my_order(sq_req_t *req);
void sq_h_admin_order_capture(sq_req_t *req);
void sq_h_admin_order_cancel(sq_req_t *req);
void sq_h_admin_order_refund(sq_req_t *req);
void sq_h_hook_test_authenticate(sq_req_t *req);
void sq_h_hook_plugin(sq_req_t *req);
void sq_h_admin_user_list(sq_req_t *req);
void sq_h_admin_user_create(sq_req_t *req);
void sq_h_admin_user_get(sq_req_t *req);
void sq_h_admin_user_update(sq_req_t *req);
void sq_h_admin_key_list(sq_req_t *req);
void sq_h_admin_key_create(sq_req_t *req);
void sq_h_admin_key_get(sq_req_t *req);
void sq_h_admin_key_revoke(sq_req_t *req);
void sq_h_admin_customer_list(sq_req_t *req);
void sq_h_admin_customer_get(sq_req_t *req);

/* imports.c */
void sq_h_import_create(sq_req_t *req);
void sq_h_export_products(sq_req_t *req);

/* events.c: webhooks, events, deliveries */
void sq_h_webhook_create(sq_req_t *req);
void sq_h_webhook_update(sq_req_t *req);
void sq_h_webhook_rotate(sq_req_t *req);
void sq_h_webhook_test(sq_req_t *req);
void sq_h_webhook_deliveries(sq_req_t *req);
void sq_h_event_list(sq_req_t *req);
void sq_h_event_get(sq_req_t *req);
void sq_h_event_replay(sq_req_t *req);
/* dynprice.c: scheduled price changes and pricing rules (their CRUD is the generic resource handlers) */
void sq_h_price_schedule_cancel(sq_req_t *req);
void sq_h_pricing_rule_preview(sq_req_t *req);

/* jobs.c: durable jobs, the abandoned-cart report */
void sq_h_job_list(sq_req_t *req);
void sq_h_job_get(sq_req_t *req);
void sq_h_job_retry(sq_req_t *req);
void sq_h_job_cancel(sq_req_t *req);
void sq_h_abandoned_carts_report(sq_req_t *req);
/* notifications.c: the notification log, notification settings and templates, plugin subscriber deliveries */
void sq_h_notification_list(sq_req_t *req);
void sq_h_notification_template_list(sq_req_t *req);
void sq_h_notification_template_get(sq_req_t *req);
void sq_h_notification_template_update(sq_req_t *req);
void sq_h_plugin_deliveries(sq_req_t *req);
void sq_h_plugin_replay(sq_req_t *req);

/* resource.c: generic handlers of plain resources (the route's res) and their sub-operations */
void sq_h_res_list(sq_req_t *req);
void sq_h_res_get(sq_req_t *req);
void sq_h_res_create(sq_req_t *req);
void sq_h_res_update(sq_req_t *req);
void sq_h_res_delete(sq_req_t *req);
void sq_h_channel_location_set(sq_req_t *req);
void sq_h_channel_location_remove(sq_req_t *req);
void sq_h_group_members(sq_req_t *req);
void sq_h_collection_products(sq_req_t *req);
void sq_h_price_list_prices(sq_req_t *req);
void sq_h_variant_create(sq_req_t *req);
void sq_h_variant_update(sq_req_t *req);
void sq_h_variant_delete(sq_req_t *req);
void sq_h_store_get(sq_req_t *req);
void sq_h_store_update(sq_req_t *req);
void sq_h_res_translation_get(sq_req_t *req);
void sq_h_res_translation_put(sq_req_t *req);
void sq_h_res_translation_delete(sq_req_t *req);

/* store_products.c: the storefront's locale preferences (Accept-Language or ?locale=) as a text[] literal,
 * and the Content-Language of an answer */
const char *sq_store_locales(sq_req_t *req);
void sq_store_content_language(sq_req_t *req, const char *locale);

/* store_browse.c */
void sq_h_store_categories(sq_req_t *req);
void sq_h_store_category(sq_req_t *req);
void sq_h_store_collections(sq_req_t *req);
void sq_h_store_collection(sq_req_t *req);

/* inventory.c */
void sq_h_stock_adjust(sq_req_t *req);
void sq_h_stock_count(sq_req_t *req);
void sq_h_stock_transfer(sq_req_t *req);

/* store_products.c */
void sq_h_store_products(sq_req_t *req);
void sq_h_store_product(sq_req_t *req);

/* fulfillment.c: fulfilments, shipments, returns, the orders export */
void sq_h_admin_fulfillment_create(sq_req_t *req);
void sq_h_admin_fulfillment_ship(sq_req_t *req);
void sq_h_admin_fulfillment_deliver(sq_req_t *req);
/* labels.c: carrier labels and tracking of shipments */
void sq_h_admin_label_buy(sq_req_t *req);
void sq_h_admin_shipment_track(sq_req_t *req);
void sq_h_store_return_create(sq_req_t *req);
void sq_h_admin_return_create(sq_req_t *req);
void sq_h_admin_return_list(sq_req_t *req);
void sq_h_admin_return_approve(sq_req_t *req);
void sq_h_admin_return_reject(sq_req_t *req);
void sq_h_admin_return_receive(sq_req_t *req);
void sq_h_export_orders(sq_req_t *req);

/* loyalty.c: loyalty points and customer segments */
void sq_h_loyalty_program_get(sq_req_t *req);
void sq_h_loyalty_program_update(sq_req_t *req);
void sq_h_admin_loyalty_get(sq_req_t *req);
void sq_h_admin_loyalty_adjust(sq_req_t *req);
void sq_h_store_my_loyalty(sq_req_t *req);
void sq_h_store_cart_loyalty_set(sq_req_t *req);
void sq_h_store_cart_loyalty_remove(sq_req_t *req);
void sq_h_segment_refresh(sq_req_t *req);
void sq_h_segment_export(sq_req_t *req);

/* order_edits.c */
void sq_h_admin_order_edit(sq_req_t *req);
void sq_h_admin_draft_complete(sq_req_t *req);

/* gift_sale.c: gift cards sold as a product, staff adjustments; removing a cart's shipping method */
void sq_h_gift_card_reveal(sq_req_t *req);
void sq_h_gift_card_adjust(sq_req_t *req);
void sq_h_order_gift_cards(sq_req_t *req);
void sq_h_order_gift_card_refund(sq_req_t *req);
void sq_h_store_cart_shipping_method_remove(sq_req_t *req);

#endif
