# gift_sale.py: the contract of gift cards sold as a product (core/gift_sale*.c, api/handlers/gift_sale.c,
# migrations/0036_gift_card_sales.sql) and of removing a cart's shipping method; exec'd by generate.py after
# events.py, with its helpers and schemas in scope.

# products: the flag
schemas["Product"]["properties"]["gift_card"] = B("The product sells gift cards: its variants' prices are the denominations; they never ship and never track stock. Paid orders issue one card per unit (README, Gift cards sold as a product).")
schemas["Product"]["required"] = [*schemas["Product"]["required"], "gift_card"]
for n in ("ProductCreate", "ProductUpdate"):
    schemas[n]["properties"]["gift_card"] = B("Sell gift cards (default false). Setting it makes every variant requires_shipping false and manage_inventory false, and keeps them so.")

# cart lines: which are gift cards
schemas["CartLineItem"]["properties"]["gift_card"] = B("A gift card line: no promotion discounts it, no tax is charged on it, it does not count toward promotion or shipping thresholds, and gift cards applied to the cart do not pay for it.")
schemas["CartLineItem"]["required"] = [*schemas["CartLineItem"]["required"], "gift_card"]

# gift cards: origin of sold cards, the ledger's adjustments
for n in ("GiftCard", "GiftCardCreated"):
    p = schemas[n]["properties"]
    p["order_id"] = IDN("order", "The order that bought the card (sold cards); null for cards issued by staff.")
    p["order_line_item_id"] = {"type": ["string", "null"], "description": "The order line that bought it (sold cards)."}
    schemas[n]["required"] = [*schemas[n]["required"], "order_id", "order_line_item_id"]
    t = dict(p["transactions"]["items"])
    tp = dict(t["properties"])
    tp["kind"] = {"type": "string", "enum": ["issue", "redeem", "adjust", "refund"], "description": "issue: the initial balance (by staff, or by a paid order); redeem: paid an order; adjust: a staff credit or debit; refund: given back by a refund or a cancel of an order it paid."}
    tp["reason"] = {"type": ["string", "null"], "enum": ["correction", "goodwill", "fraud", "other", None], "description": "Why staff adjusted it (adjust)."}
    tp["note"] = SN("Staff note (adjust).")
    tp["actor"] = SN("Who made the change: a staff user or API key, order:<id> for a sold card's issue row, null for checkout.")
    t["properties"] = tp
    t["required"] = list(tp.keys())
    p["transactions"] = {**p["transactions"], "items": t}
schemas["GiftCardRevealed"] = obj({**schemas["GiftCard"]["properties"], "code": {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$", "description": "The code, shown this once: the clear text is deleted as it is answered."}},
    desc="A sold gift card with its code.")
schemas["GiftCardAdjustment"] = req({"amount": {"type": "integer", "minimum": -100000000000, "maximum": 100000000000, "not": {"const": 0}, "description": "Minor units: positive credits the card, negative debits it (0 is 422 out_of_range)."},
    "reason": {"type": "string", "enum": ["correction", "goodwill", "fraud", "other"], "description": "Why (kept in the ledger)."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Staff note (kept in the ledger)."}}, ["amount", "reason"], "A staff adjustment of a card's balance.")
schemas["GiftCardOrderList"] = obj({"object": {"const": "list", "description": "Always list."},
    "data": {"type": "array", "items": {"$ref": "#/components/schemas/GiftCard"}, "description": "The cards, by line and unit."},
    "has_more": {"const": False, "description": "Always false (every card of the order)."}, "next_cursor": {"type": "null", "description": "Always null."}}, desc="The gift cards an order issued.")
GID2 = P_ID("gcard", "gift card")
op("post", "/v1/admin/gift-cards/{id}/reveal", "revealGiftCard", "Admin Gift Cards", "Show a sold gift card's code, once", "admin",
   [ok("200", "GiftCardRevealed", "The card and its code (Cache-Control: no-store).")], params=[GID2], perm="promotions:write",
   desc="Codes are stored hashed. A card sold by an order keeps its code in clear only until this call (it is deleted as it is answered) or for 7 days after issuance:"
        " the integration that mails it (a webhook or notification plugin subscribed to gift_card.issued, which never carries the code) calls this once. 409 invalid-state when the code was"
        " revealed already, its delivery expired, or staff issued the card (its code was shown at creation): disable the card and issue a new one. 404 not-found for no such card. The order's timeline records who revealed it.")
paths["/v1/admin/gift-cards/{id}/reveal"]["post"]["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CartAttach"}}}}
op("post", "/v1/admin/gift-cards/{id}/adjustments", "adjustGiftCard", "Admin Gift Cards", "Credit or debit a gift card", "admin",
   [ok("200", "GiftCard", "The card with its ledger.")], body="GiftCardAdjustment", params=[GID2], perm="promotions:write",
   desc="Through the ledger (an adjust row with the reason, note and who), under the card's row lock: concurrent adjustments and checkouts never take the balance below 0."
        " 422 validation-failed at /amount: insufficient_balance (a debit larger than the balance), exceeds_initial_balance (a credit may restore at most what was spent; the balance never exceeds the initial value: issue a new card to give more), out_of_range (0)."
        " 409 invalid-state for a disabled card (enable it first). 404 not-found for no such card.")
op("get", "/v1/admin/orders/{id}/gift-cards", "listOrderGiftCards", "Admin Orders", "The gift cards an order issued", "admin",
   [ok("200", "GiftCardOrderList")], params=[P_ORDER], perm="orders:read", desc="One card per unit of each gift card line, issued when the order became paid. 404 not-found for no such order.")
paths["/v1/admin/orders/{id}/refunds"]["post"]["description"] += (" An order that issued gift cards keeps their value: 422 at /amount with code gift_cards_issued when the refund would reach into it"
    " (disable a card to make its unused balance refundable; what was spent is never refundable; a card whose balance was refunded cannot be enabled again: 409 conflict).")
paths["/v1/admin/gift-cards/{id}"]["patch"]["description"] = "409 conflict when enabling a sold card whose unused balance was refunded with its order."

op("delete", "/v1/store/carts/{id}/shipping-method", "storeRemoveCartShippingMethod", "Store Carts", "Remove the cart's shipping method", "store", [CART_OK("200", "The cart without a shipping method.")],
   params=[P_CART, P_CART_IFMATCH], desc="404 not-found when the cart has no shipping method, or for a cart the caller cannot reach. With If-Match, 412 precondition-failed when the cart changed.")

# events
_gc = {"type": "string", "pattern": "^gcard_[0-9a-hjkmnp-tv-z]{26}$", "description": "The gift card."}
_gift_events = {
 "gift_card.issued": _payload("A paid order issued a gift card (one per unit of a gift card line). Never carries the code: the consumer that mails it calls POST /v1/admin/gift-cards/{id}/reveal once, before reveal_before.",
     {"order_id": _oid, "gift_card_id": _gc, "order_line_item_id": _s("The line that bought it."), "amount": _i("Balance, minor units."), "currency_code": _s("Currency (lower-case ISO 4217)."),
      "code_last4": _s("Last four characters of the code."), "email": _sn("The order's email (the buyer)."), "customer_id": _sn("The order's customer."), "reveal_before": _ts("The code can be revealed until then.")},
     ["order_id", "gift_card_id", "order_line_item_id", "amount", "currency_code", "code_last4", "reveal_before"]),
 "gift_card.not_issued": _payload("Order timeline only (not in the outbox): a gift card line of a paid order issued nothing (its unit price is not a valid balance).", {"order_id": _oid, "order_line_item_id": _s("Line."), "reason": _s("Why.")}),
 "gift_card.code_revealed": _payload("Order timeline only (not in the outbox): a sold card's code was revealed (the actor is who).", {"order_id": _oid, "gift_card_id": _gc}),
}
for t, e in _gift_events.items():
    EVENTS[t] = e
    schemas["Event_" + t.replace(".", "_")] = {**e["schema"], "description": f"Payload (data) of {t} events, version {EVENTS_VERSION}: {e['description']}"}
    X_EVENTS["types"][t] = {"description": e["description"], "sensitive": e["sensitive"], "payload": {"$ref": f"#/components/schemas/Event_{t.replace('.', '_')}"}}

# automatic capture on fulfilment (core/auto_capture_db.c)
_pc = {"type": "string", "enum": ["manual", "on_fulfillment"], "description": "When card-style payments are captured: manual (staff capture, the default) or on_fulfillment (a job captures the whole payment once every line that ships is fulfilled; a partial fulfilment captures nothing; manual payments are never captured automatically; failures go on the order's timeline as order.capture_failed and are retried)."}
schemas["Store"]["properties"]["payment_capture"] = _pc
schemas["Store"]["required"] = [*schemas["Store"]["required"], "payment_capture"]
schemas["StoreUpdate"]["properties"]["payment_capture"] = _pc
_ac = {"order.capture_failed": _payload("Order timeline only (not in the outbox): an automatic capture on fulfilment failed at the payment provider; it is retried until max_attempts (final: the last one failed; capture by hand).",
    {"order_id": _oid, "attempt": _i("Which attempt failed."), "max_attempts": _i("Attempts in all."), "final": _b("No attempt follows."), "error": _s("What the provider answered.")})}
for t, e in _ac.items():
    EVENTS[t] = e
    schemas["Event_" + t.replace(".", "_")] = {**e["schema"], "description": f"Payload (data) of {t} events, version {EVENTS_VERSION}: {e['description']}"}
    X_EVENTS["types"][t] = {"description": e["description"], "sensitive": e["sensitive"], "payload": {"$ref": f"#/components/schemas/Event_{t.replace('.', '_')}"}}

# refunds onto gift cards
schemas["GiftCardRefundCreate"] = req({"amount": {"type": "integer", "minimum": 1, "maximum": 100000000000, "description": "Minor units to give back onto the cards that paid the order."},
    "gift_card_id": {"type": "string", "maxLength": 40, "description": "Only onto this card (one that paid the order; 422 not_found otherwise). Default: the order's cards in id order, each up to what it paid and did not get back."}},
    ["amount"], "A refund onto gift cards.")
schemas["GiftCardRefund"] = obj({"object": {"const": "gift_card_refund", "description": "Always gift_card_refund."}, "order_id": ORDER_ID, "amount": OM("Given back onto the cards."),
    "gift_cards": {"type": "array", "description": "What each card got back.", "items": obj({"gift_card_id": _gc, "amount": {"type": "integer", "minimum": 1, "description": "Minor units."},
        "balance_after": {"type": "integer", "minimum": 0, "description": "The card's balance after it."}}, desc="A card's share.")},
    "refunded_total": OM("The order's refunded total after it."), "payment_status": {"type": "string", "enum": ["partially_refunded", "refunded"], "description": "The order's payment status after it."}},
    desc="A refund onto the gift cards that paid an order.")
op("post", "/v1/admin/orders/{id}/gift-card-refunds", "adminRefundOrderGiftCards", "Admin Orders", "Refund the gift card part of an order onto its cards", "admin",
   [ok("201", "GiftCardRefund", "What went back onto which card.")], body="GiftCardRefundCreate", params=[P_ORDER], perm="orders:write",
   desc="Each refund goes back to its own tender: POST .../refunds refunds the payment (at most what the provider captured); this gives the part paid with gift cards back onto those cards, through their ledgers (refund rows, a gift_card.refunded event per card), and adds it to the order's refunded_total."
        " A canceled order gives every redeemed amount back by itself. 422 validation-failed at /amount: exceeds_refundable (more than the cards paid and did not get back, or than the order has left to refund), exceeds_initial_balance (staff credited the card since);"
        " at /gift_card_id: not_found (the card did not pay this order). 409 invalid-state: the order is not paid (or refunded already), or a card is disabled. 404 not-found for no such order.")
_gr = {"gift_card.refunded": _payload("An amount went back onto a gift card that paid an order: a refund onto gift cards, or the order was canceled.",
    {"order_id": _oid, "gift_card_id": _gc, "amount": _i("Minor units credited."), "currency_code": _s("Currency."), "balance_after": _i("The card's balance after it."), "reason": {"type": "string", "enum": ["refund", "cancel"], "description": "Why."}})}
for t, e in _gr.items():
    EVENTS[t] = e
    schemas["Event_" + t.replace(".", "_")] = {**e["schema"], "description": f"Payload (data) of {t} events, version {EVENTS_VERSION}: {e['description']}"}
    X_EVENTS["types"][t] = {"description": e["description"], "sensitive": e["sensitive"], "payload": {"$ref": f"#/components/schemas/Event_{t.replace('.', '_')}"}}

# shipping options for a range of cart subtotals
_rng = lambda d: {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000000000, "description": d}
schemas["ShippingOption"]["properties"]["min_subtotal"] = {"type": ["integer", "null"], "description": "Offered only to carts whose items (after discounts, without gift cards) come to at least this, minor units; null: no minimum."}
schemas["ShippingOption"]["properties"]["max_subtotal"] = {"type": ["integer", "null"], "description": "Offered only up to this subtotal (inclusive); null: no maximum."}
schemas["ShippingOption"]["required"] = [*schemas["ShippingOption"]["required"], "min_subtotal", "max_subtotal"]
for n in ("ShippingOptionCreate", "ShippingOptionUpdate"):
    schemas[n]["properties"]["min_subtotal"] = _rng("Minimum subtotal of the cart's items after discounts (gift card lines do not count), minor units, inclusive; null: none.")
    schemas[n]["properties"]["max_subtotal"] = _rng("Maximum subtotal, inclusive; null: none. Below min_subtotal: 422 at /max_subtotal.")
_sm = paths["/v1/store/carts/{id}/shipping-methods"]["post"]
_sm["description"] += " An option whose subtotal range (min_subtotal, max_subtotal) the cart is outside of is 422 not_available at /option_id; a cart that later leaves the range loses the method from its answer (and checkout asks for one), as for an option that stopped serving it."

# the storefront shows which products sell gift cards (fields= may ask for it)
schemas["StoreProduct"]["properties"]["gift_card"] = B("The product sells gift cards (delivered by email once paid: no shipping, no stock).")
