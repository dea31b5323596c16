# promotions.py: the contract of promotions and gift cards (core/promotion*.c, migrations/0021); run by generate.py
# (exec'd after the carts section, with its helpers and schemas in scope).
PROMO_TYPES = ["percentage", "fixed", "free_shipping", "buy_x_get_y"]
cur_map = lambda d, nullable=True: {"type": ["object", "null"] if nullable else "object", "description": d, "minProperties": 1, "maxProperties": 50,
    "propertyNames": {"pattern": "^[a-z]{3}$"}, "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 1000000000000}}
ids_out = lambda what: {"type": "array", "items": {"type": "string"}, "description": f"Ids of the {what} (target items)."}
ids_in = lambda what: {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 40}, "description": f"Ids of {what}; replaced whole when present (422 not_found when one does not exist)."}
code_in = {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]{3,64}$", "description": "The discount code buyers type: 3 to 64 letters, digits, - or _; unique case-insensitively (409 already-exists). null: an automatic promotion, applied to every cart it qualifies for."}
promo_props = {
    "code": code_in, "description": SN("Shown in the cart's adjustments (default: the code, else the type).", maxLength=256),
    "percent_bp": {"type": ["integer", "null"], "minimum": 1, "maximum": 10000, "description": "percentage: basis points off (1500 = 15 %); buy_x_get_y: off each free unit (10000 = free). Required for those types, refused for the others."},
    "amounts": cur_map("fixed: the amount off per currency, minor units ({\"eur\": 500}); a cart in a currency not listed does not qualify (coupon_wrong_currency). Required for fixed, refused for the others."),
    "target": {"type": "string", "enum": ["order", "items"], "description": "order (default): the whole cart; items: only lines whose product is in product_ids, in a category of category_ids or in a collection of collection_ids. buy_x_get_y needs items."},
    "product_ids": ids_in("products"), "category_ids": ids_in("categories"), "collection_ids": ids_in("collections"),
    "customer_group_ids": ids_in("customer groups: the cart's customer must be in one (empty: everybody)"),
    "min_subtotal": cur_map("Spend threshold per currency: the cart's item subtotal before discounts must reach it (coupon_min_subtotal); a currency not listed does not qualify."),
    "buy_quantity": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000, "description": "buy_x_get_y: X, the units paid."},
    "get_quantity": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000, "description": "buy_x_get_y: Y, the cheapest units of every X+Y matching units get percent_bp off."},
    "starts_at": {"type": ["string", "null"], "format": "date-time", "description": "Valid from (inclusive); null: open."},
    "ends_at": {"type": ["string", "null"], "format": "date-time", "description": "Valid until (exclusive), after starts_at; null: open."},
    "status": {"type": "string", "enum": ["draft", "active", "disabled"], "description": "Only active promotions apply (default active)."},
    "usage_limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000000, "description": "Orders that may use it in total (1: a one-time code); null: unlimited. Enforced exactly at checkout, also under concurrent checkouts."},
    "usage_limit_per_customer": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000, "description": "Orders per customer; such a code needs a logged-in customer."},
    "priority": {"type": "integer", "minimum": -1000, "maximum": 1000, "description": "Higher applies first among combinable promotions, and wins ties (default 0)."},
    "combinable": B("Whether it stacks with other combinable promotions (default false: it applies alone, when it gives more than any other option). Free shipping always combines."),
    "metadata": metadata_in}
schemas["Promotion"] = obj({"id": ID("promo"), "object": {"const": "promotion", "description": "Always promotion."},
    "code": SN("The code (null: automatic)."), "description": SN("Description."), "type": {"type": "string", "enum": PROMO_TYPES, "description": "What it gives."},
    "percent_bp": {"type": ["integer", "null"], "description": "Basis points (percentage, buy_x_get_y)."}, "amounts": cur_map("Amounts off per currency (fixed)."),
    "target": {"type": "string", "enum": ["order", "items"], "description": "The whole order or matching items."},
    "product_ids": ids_out("products"), "category_ids": ids_out("categories"), "collection_ids": ids_out("collections"),
    "customer_group_ids": {"type": "array", "items": {"type": "string"}, "description": "Customer groups it is limited to (empty: everybody)."},
    "min_subtotal": cur_map("Spend threshold per currency."), "buy_quantity": {"type": ["integer", "null"], "description": "X of buy X get Y."},
    "get_quantity": {"type": ["integer", "null"], "description": "Y of buy X get Y."}, "starts_at": TSN("Valid from."), "ends_at": TSN("Valid until."),
    "status": {"type": "string", "enum": ["draft", "active", "disabled"], "description": "Status."},
    "usage_limit": {"type": ["integer", "null"], "description": "Total uses allowed."}, "usage_limit_per_customer": {"type": ["integer", "null"], "description": "Uses per customer."},
    "usage_count": {"type": "integer", "minimum": 0, "description": "Orders that used it."}, "priority": {"type": "integer", "description": "Stacking priority."},
    "combinable": B("Stacks with other combinable promotions."), "metadata": metadata_out, **ts_pair},
    desc="A promotion: a discount code or an automatic promotion. Stacking and rounding rules: core/promotion.h (README, Promotions and gift cards).")
schemas["PromotionList"] = list_of("Promotion", "promotions")
schemas["PromotionCreate"] = req({"type": {"type": "string", "enum": PROMO_TYPES, "description": "What it gives (create only)."}, **promo_props}, ["type"], "A new promotion.")
schemas["PromotionUpdate"] = req(promo_props, [], "Fields to change; absent fields stay as they are. Send If-Match to refuse a stale change (412).")
crud("/v1/admin/promotions", "Admin Promotions", "Promotion", "promo", "promotion", "promotions:read", "promotions:write",
     list_params=[Q("status", "Only promotions with this status.", enum=["draft", "active", "disabled"]), Q("code", "Only the promotion with this code (case-insensitive).", maxLength=64)],
     extra_desc="422 with a pointer for rules across fields (percent_bp, amounts, buy_quantity, target, ends_at); 409 already-exists (pointer /code) when the code is taken.")
paths["/v1/admin/promotions/{id}"]["delete"]["description"] = "409 conflict once the promotion was used by an order (its usages are order history): set status disabled instead."

gtx = obj({"id": ID("gctx"), "kind": {"type": "string", "enum": ["issue", "redeem"], "description": "issue: the initial balance; redeem: paid an order."},
    "amount": {"type": "integer", "description": "Change of the balance (+ credit, - debit), minor units."}, "balance_after": {"type": "integer", "minimum": 0, "description": "Balance after it."},
    "order_id": SN("The order it paid (redeem)."), "created_at": TS("When.")}, desc="A row of the gift card's ledger.")
gift_props = {"id": ID("gcard"), "object": {"const": "gift_card", "description": "Always gift_card."},
    "code_last4": S("The last four characters of the code (the code itself is only shown when the card is created)."),
    "currency_code": S("Currency (lower-case ISO 4217); the card pays carts in this currency only."),
    "initial_balance": {"type": "integer", "minimum": 1, "description": "Issued amount, minor units."}, "balance": {"type": "integer", "minimum": 0, "description": "What is left, minor units; never negative."},
    "status": {"type": "string", "enum": ["active", "disabled"], "description": "Disabled cards pay nothing."}, "expires_at": TSN("After this the card pays nothing; null: never."),
    "customer_id": IDN("cus", "The customer it was issued to (informational; anyone with the code can use it)."), "note": SN("Staff note."), "metadata": metadata_out,
    "transactions": {"type": "array", "maxItems": 100, "items": gtx, "description": "The ledger, oldest first (the latest 100)."}, **ts_pair}
schemas["GiftCard"] = obj(gift_props, desc="A gift card: a balance in one currency that pays part or all of orders.")
schemas["GiftCardCreated"] = obj({**gift_props, "code": {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$", "description": "The code: 20 characters of Crockford base32 (100 random bits) in groups of five. Shown only now (only a SHA-256 is stored): hand it to the buyer. Dashes, blanks and case do not matter when it is typed in."}},
    desc="A new gift card, with its code.")
schemas["GiftCardList"] = list_of("GiftCard", "gift cards")
schemas["GiftCardCreate"] = req({"currency_code": cur_code, "initial_balance": {"type": "integer", "minimum": 1, "maximum": 100000000000, "description": "Amount, minor units."},
    "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "Expiry (in the future); null: never."},
    "customer_id": {"type": ["string", "null"], "maxLength": 40, "description": "Customer it is issued to (informational)."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Staff note."}, "status": {"type": "string", "enum": ["active", "disabled"], "description": "Default active."}, "metadata": metadata_in},
    ["currency_code", "initial_balance"], "A new gift card issued by staff.")
schemas["GiftCardUpdate"] = req({"status": {"type": "string", "enum": ["active", "disabled"], "description": "Disable or re-enable."},
    "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "New expiry; null: never."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Staff note."}, "metadata": metadata_in}, [], "Fields to change. The balance only moves through the ledger.")
GID = P_ID("gcard", "gift card")
op("get", "/v1/admin/gift-cards", "listGiftCards", "Admin Gift Cards", "List gift cards", "admin", [ok("200", "GiftCardList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, Q("status", "Only cards with this status.", enum=["active", "disabled"]), Q("customer_id", "Only cards issued to this customer.", maxLength=40), P_INM], perm="promotions:read")
op("post", "/v1/admin/gift-cards", "createGiftCard", "Admin Gift Cards", "Issue a gift card", "admin", [ok("201", "GiftCardCreated", "The new card with its code (Cache-Control: no-store; not replayed for Idempotency-Key: the code is not kept).")],
   body="GiftCardCreate", perm="promotions:write", desc="The ledger gets an issue row. Selling gift cards as a product is not there yet.")
op("get", "/v1/admin/gift-cards/{id}", "getGiftCard", "Admin Gift Cards", "One gift card with its ledger", "admin", [ok("200", "GiftCard", headers=H_ETAG), NOTMOD], params=[GID, P_INM], perm="promotions:read")
op("patch", "/v1/admin/gift-cards/{id}", "updateGiftCard", "Admin Gift Cards", "Disable, re-enable or change a gift card's expiry", "admin", [ok("200", "GiftCard", "The card.")], body="GiftCardUpdate",
   params=[GID, {**P_IFMATCH, "description": "ETag of the representation the change is based on; 412 precondition-failed when it changed since."}], perm="promotions:write")
TAGS.append(("Admin Promotions", "Discount codes and automatic promotions."))
TAGS.append(("Admin Gift Cards", "Gift cards: issue, balance, ledger, disable."))

# the cart: adjustments, applied promotions, gift cards
line = schemas["CartLineItem"]["properties"]
line["adjustments"] = {"type": "array", "description": "What each promotion took off this line (they add up to discount_total).",
    "items": obj({"promotion_id": ID("promo"), "code": SN("The code (null: automatic promotion)."), "amount": {"type": "integer", "minimum": 1, "description": "Minor units off this line."},
                  "description": S("The promotion's description.")}, desc="A promotion's share of a line.")}
cart = schemas["Cart"]
cart["properties"]["promotion_codes"] = {"type": "array", "items": {"type": "string"}, "description": "The codes applied to the cart (POST /promotions), as the promotion spells them. A code that stopped qualifying (threshold, dates, limits) stays here but gives nothing; see promotions."}
cart["properties"]["promotions"] = {"type": "array", "description": "The promotions that give something now (codes and automatic ones): what checkout redeems.",
    "items": obj({"id": ID("promo"), "code": SN("The code (null: automatic)."), "kind": {"type": "string", "enum": ["items", "shipping"], "description": "items: discounts of lines; shipping: free shipping."},
                  "amount": {"type": "integer", "minimum": 0, "description": "Minor units it takes off (shipping: the shipping price, 0 until a method is chosen)."}}, desc="An applied promotion.")}
cart["properties"]["gift_cards"] = {"type": "array", "maxItems": 5, "description": "Gift cards applied (usable now: active, not expired, in the cart's currency, with a balance), in the order they were applied; each pays what it can of what is left of the total.",
    "items": obj({"id": ID("gcard"), "last4": S("The last four characters of its code."), "amount": {"type": "integer", "minimum": 0, "description": "What it pays of this cart, minor units."},
                  "balance": {"type": "integer", "minimum": 1, "description": "Its balance now."}}, desc="A gift card applied to the cart.")}
cart["required"] = [*cart["required"], "promotions", "gift_cards"]
schemas["CartPromotionAdd"] = req({"code": S("A discount code (case-insensitive).", minLength=1, maxLength=64)}, ["code"], "A code to apply.")
schemas["CartGiftCardAdd"] = req({"code": S("A gift card code (case, dashes and blanks do not matter).", minLength=1, maxLength=64)}, ["code"], "A gift card to apply.")
COUPON = (" 422 validation-failed with pointer /code and a stable code: coupon_invalid (unknown or not active), coupon_not_started, coupon_expired, coupon_exhausted (usage limit reached, in total or by this customer),"
          " coupon_wrong_currency, coupon_not_eligible (customer group, or a per-customer limit on a guest cart), coupon_min_subtotal, coupon_not_applicable (no matching item, or too few units for buy X get Y),"
          " coupon_not_combinable (another promotion that cannot be combined with it gives more).")
op("post", "/v1/store/carts/{id}/promotions", "storeApplyPromotion", "Store Carts", "Apply a discount code", "store", [CART_OK("200", "The cart with the code applied.")], body="CartPromotionAdd", params=[P_CART],
   desc="The code is first tried on the cart as it is: it must be usable and give something now. Applying a code that is on the cart already answers the cart unchanged. Automatic promotions need no code." + COUPON
        + " 404 not-found for a cart the caller cannot reach (another channel's, another customer's, expired).")
op("delete", "/v1/store/carts/{id}/promotions/{code}", "storeRemovePromotion", "Store Carts", "Remove a discount code", "store", [CART_OK("200", "The cart without the code.")],
   params=[P_CART, {"name": "code", "in": "path", "required": True, "description": "The code (case-insensitive).", "schema": {"type": "string"}}], desc="404 not-found when the code is not on the cart, or for a cart the caller cannot reach.")
op("post", "/v1/store/carts/{id}/gift-cards", "storeApplyGiftCard", "Store Carts", "Apply a gift card", "store", [CART_OK("200", "The cart; gift_card_total and amount_due show what the card pays.")], body="CartGiftCardAdd", params=[P_CART],
   desc="Attempts are throttled per client address (gift_card_rate_ip, 30 a minute) and per cart (gift_card_rate_cart, 10 a minute): over it, 429 rate-limited with Retry-After, before the code is looked up."
        " 422 validation-failed, pointer /code: gift_card_invalid (unknown, disabled or expired: one answer for all), gift_card_wrong_currency, gift_card_empty, too_many (5 cards per cart). The card is debited only at checkout. 404 not-found for a cart the caller cannot reach.")
op("delete", "/v1/store/carts/{id}/gift-cards/{gift_card_id}", "storeRemoveGiftCard", "Store Carts", "Remove a gift card", "store", [CART_OK("200", "The cart without the card.")],
   params=[P_CART, {"name": "gift_card_id", "in": "path", "required": True, "description": "Id of the gift card (gift_cards[].id of the cart).", "schema": {"type": "string", "pattern": "^gcard_[0-9a-hjkmnp-tv-z]{26}$"}}],
   desc="404 not-found when the card is not on the cart, or for a cart the caller cannot reach.")
