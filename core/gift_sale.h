/* gift_sale.h: gift cards sold as a product (migrations/0036_gift_card_sales.sql): the one-time reveal of a sold
 * card's code, the cards an order issued, and staff adjustments of a card's balance through its ledger. Cards are
 * issued by the database when an order becomes paid (a deferred trigger), so every capture path issues them exactly
 * once; the rules are in the migration's header and the README ("Gift cards sold as a product"). */
#ifndef SQ_GIFT_SALE_H
#define SQ_GIFT_SALE_H

#include <stdint.h>

#include "core/base/json.h"
#include "core/ctx.h"
#include "core/db/db.h"

/** POST /v1/admin/gift-cards/{id}/reveal: the card with its code ("code"), once; the clear code is deleted in the
 * same transaction. 404 for no such card; 409 invalid-state when the code was revealed already, its 7-day delivery
 * expired, or staff issued the card (their code is shown at creation). actor goes on the order's timeline. */
void sq_gift_card_reveal(sq_ctx_t *cx, const char *card_id, const char *actor, sq_json_cb cb, void *data);

/** GET /v1/admin/orders/{id}/gift-cards: {"object":"list","data":[gift cards the order issued]}; 404 for no order. */
void sq_order_gift_cards(sq_ctx_t *cx, const char *order_id, sq_json_cb cb, void *data);

/** POST /v1/admin/gift-cards/{id}/adjustments {amount, reason, note}. */
typedef struct {
    int64_t amount; /* + credit, - debit; never 0 */
    const char *reason, *note;
} sq_gift_card_adjust_in_t;
extern const sq_field_t sq_gift_card_adjust_fields[];
/** Moves the balance under the card's row lock: 422 /amount insufficient_balance (a debit below 0) or
 * exceeds_initial_balance (a credit above the initial value), 409 invalid-state for a disabled card, 404 for no
 * card. Answers the card with its ledger. */
void sq_gift_card_adjust(sq_ctx_t *cx, const char *card_id, const sq_gift_card_adjust_in_t *in, const char *actor, sq_json_cb cb,
                         void *data);

/** POST /v1/admin/orders/{id}/gift-card-refunds {amount, gift_card_id}: gives amount back onto the gift cards that
 * paid the order (only gift_card_id's when given), in card id order, through the ledger (refund rows), and adds it
 * to the order's refunded_total. 422 /amount exceeds_refundable (more than the cards paid and did not get back, or
 * than the order has left) or exceeds_initial_balance; 422 /gift_card_id not_found (the card did not pay the order);
 * 409 invalid-state (the order is not paid, or a card is disabled); 404 for no order. */
typedef struct {
    int64_t amount;
    const char *gift_card_id;
} sq_gift_card_refund_in_t;
extern const sq_field_t sq_gift_card_refund_fields[];
void sq_order_gift_card_refund(sq_ctx_t *cx, const char *order_id, const sq_gift_card_refund_in_t *in, const char *actor,
                               sq_json_cb cb, void *data);

/** Registers the "gift_cards.purge_deliveries" job kind (hourly schedule of migrations/0036): deletes the clear
 * codes of deliveries past their 7 days. Before the server starts its threads. */
void sq_gift_sale_register(void);

#endif
