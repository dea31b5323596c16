# loyalty.py: the contract of loyalty points and customer segments (core/loyalty*.c, api/handlers/loyalty.c,
# migrations/0034_loyalty_segments.sql) and their events; exec'd by generate.py after events.py.

_rate = obj({"earn_points": {"type": "integer", "minimum": 0, "maximum": 1000000, "description": "Points earned for every earn_per minor units spent (0: none in this currency)."},
             "earn_per": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "Minor units of spend that earn earn_points."},
             "redeem_points": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "Points that are worth redeem_value (absent: points cannot be redeemed in this currency)."},
             "redeem_value": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "Minor units redeem_points points take off a cart."}},
            ["earn_points", "earn_per"], "The rates of one currency.")
schemas["LoyaltyProgram"] = obj({"object": {"const": "loyalty_program", "description": "Always loyalty_program."},
    "enabled": B("Whether customers earn and redeem points."),
    "currencies": {"type": "object", "additionalProperties": _rate, "description": "Rates per currency (lower-case ISO 4217 keys). Orders in a currency not listed earn nothing; carts in a currency without redeem rates cannot redeem."},
    "min_redeem_points": INT("The fewest points a cart redeems.", minimum=1),
    "tier_period_days": INT("Tiers are decided by the points earned (less claw-backs) in this many days before now.", minimum=1),
    "expiry_days": {"type": ["integer", "null"], "minimum": 1, "description": "A balance expires whole after this many days without earning, redeeming or an adjustment (null: never)."},
    "updated_at": TS("When the program last changed.")}, desc="The loyalty program's settings.")
schemas["LoyaltyProgramUpdate"] = req({"enabled": B("Run the program."),
    "currencies": {"type": "object", "maxProperties": 200, "additionalProperties": _rate, "description": "Replaces the rates as a whole. 422 with pointer /currencies/<code>/<field> for a bad entry or a currency that is not loaded."},
    "min_redeem_points": INT("The fewest points a cart redeems.", minimum=1, maximum=1000000000),
    "tier_period_days": INT("The tier window, days.", minimum=1, maximum=3660),
    "expiry_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3660, "description": "Inactivity before a balance expires; null: never."}}, [], "Fields to change.")
schemas["LoyaltyTier"] = obj({"id": ID("ltier"), "object": {"const": "loyalty_tier", "description": "Always loyalty_tier."}, "name": S("Name (unique)."),
    "min_points": INT("Points earned within the tier window that reach this tier (unique).", minimum=0),
    "multiplier_bp": INT("Earning multiplier in basis points (10000 = 1x, 15000 = 1.5x).", minimum=10000, maximum=100000), "metadata": metadata_out, **ts_pair}, desc="A loyalty tier.")
schemas["LoyaltyTierList"] = list_of("LoyaltyTier", "loyalty tiers")
schemas["LoyaltyTierCreate"] = req({"name": S("Name (unique; 409 already-exists).", minLength=1, maxLength=256), "min_points": INT("Threshold (unique; 409 already-exists).", minimum=0, maximum=1000000000000),
    "multiplier_bp": INT("Earning multiplier, basis points (default 10000).", minimum=10000, maximum=100000), "metadata": metadata_in}, ["name", "min_points"], "A new tier.")
schemas["LoyaltyTierUpdate"] = req({k: v for k, v in schemas["LoyaltyTierCreate"]["properties"].items()}, [], "Fields to change; absent fields stay as they are.")
_ltx = obj({"id": ID("ltx"), "object": {"const": "loyalty_transaction", "description": "Always loyalty_transaction."},
    "kind": {"type": "string", "enum": ["earn", "redeem", "release", "expire", "adjust", "clawback"], "description": "earn: an order was paid; redeem: points paid for part of an order; release: a canceled order gave its redeemed points back; expire: the balance expired; adjust: staff; clawback: a refund took back earned points."},
    "points": INT("Points added (positive) or taken (negative)."), "balance_after": INT("The balance after it.", minimum=0),
    "order_id": IDN("order", "The order (earn, redeem, release, clawback)."), "reason": SN("Why (staff adjustments, expiry, refunds)."), "created_at": TS("When.")}, desc="A ledger entry.")
schemas["LoyaltyAccount"] = obj({"object": {"const": "loyalty_account", "description": "Always loyalty_account."}, "customer_id": ID("cus"),
    "program_enabled": B("Whether the program runs."), "balance": INT("Points to redeem now; never negative.", minimum=0),
    "lifetime_earned": INT("Points earned ever, less claw-backs."),
    "tier": {"oneOf": [obj({"id": ID("ltier"), "name": S("Name."), "multiplier_bp": INT("Earning multiplier.")}, desc="The tier held."), {"type": "null"}], "description": "The tier held now (null: none)."},
    "tier_points": INT("Points earned (less claw-backs) within the tier window."),
    "next_tier": {"oneOf": [obj({"id": ID("ltier"), "name": S("Name."), "min_points": INT("Its threshold.")}, desc="The next tier."), {"type": "null"}], "description": "The next tier up (null: the top one is held)."},
    "expires_at": TSN("When the balance expires without activity (null: never, or nothing to expire)."),
    "transactions": {"type": "array", "maxItems": 50, "items": _ltx, "description": "The latest 50 ledger entries, newest first."}}, desc="A customer's points.")
schemas["LoyaltyAdjustment"] = req({"points": {"type": "integer", "minimum": -1000000000000, "maximum": 1000000000000, "not": {"const": 0}, "description": "Points to add (positive) or remove (negative; 422 insufficient_points beyond the balance)."},
    "reason": S("Why (kept in the ledger).", minLength=1, maxLength=256)}, ["points", "reason"], "A manual adjustment.")
schemas["CartLoyaltyRedeem"] = req({"points": {"type": "integer", "minimum": 1, "maximum": 1000000000000, "description": "Points to redeem on this cart (replaces an earlier amount)."}}, ["points"], "Points to redeem.")
_srules = {"currency_code": {**cur_code, "description": "Currency of the total_spent rules (required with them)."},
    "total_spent_min": {"type": "integer", "minimum": 0, "description": "At least this much paid (less refunds) in currency_code over orders not canceled, minor units."},
    "total_spent_max": {"type": "integer", "minimum": 0, "description": "At most this much."},
    "order_count_min": {"type": "integer", "minimum": 0, "description": "At least this many orders not canceled."},
    "order_count_max": {"type": "integer", "minimum": 0, "description": "At most this many."},
    "last_order_after": {"type": "string", "format": "date-time", "description": "Last order placed at or after."},
    "last_order_before": {"type": "string", "format": "date-time", "description": "Last order placed before."},
    "last_order_within_days": {"type": "integer", "minimum": 1, "maximum": 3660, "description": "Last order within this many days (recomputed hourly)."},
    "countries": {"type": "array", "minItems": 1, "maxItems": 250, "items": country, "description": "The default shipping address's country (else the latest order's) is one of these."},
    "customer_group_ids": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string"}, "description": "Member of any of these groups."},
    "has_account": B("Registered customers (true) or guests of checkout (false)."),
    "tags": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 64}, "description": "The customer has any of these tags (set by staff or automation rules)."}}
schemas["Segment"] = obj({"id": ID("seg"), "object": {"const": "segment", "description": "Always segment."}, "name": S("Name (unique)."), "description": SN("Description."),
    "rules": {"type": "object", "additionalProperties": False, "properties": _srules, "description": "Every rule given must hold (empty: every customer)."},
    "customer_group_id": ID("cgrp"), "member_count": INT("Members now.", minimum=0), "refreshed_at": TSN("When every member was last recomputed."),
    "metadata": metadata_out, **ts_pair}, desc="A customer segment. Its members are the members of its customer group (customer_group_id), so price lists and promotions that target the group apply to the segment.")
schemas["SegmentList"] = list_of("Segment", "segments")
_sin = {"name": S("Name (unique; 409 already-exists).", minLength=1, maxLength=200), "description": SN("Description.", maxLength=1000),
        "rules": {"type": "object", "additionalProperties": False, "properties": _srules, "description": "The rules; replaced whole when present."}, "metadata": metadata_in}
schemas["SegmentCreate"] = req(_sin, ["name"], "A new segment (its members are computed at once).")
schemas["SegmentUpdate"] = req(_sin, [], "Fields to change; new rules are applied at once.")

LT = "Admin Loyalty"
op("get", "/v1/admin/loyalty/program", "getLoyaltyProgram", LT, "The loyalty program", "admin", [ok("200", "LoyaltyProgram", headers=H_ETAG), NOTMOD], params=[P_INM], perm="promotions:read")
op("patch", "/v1/admin/loyalty/program", "updateLoyaltyProgram", LT, "Change the loyalty program", "admin", [ok("200", "LoyaltyProgram", "The program.")], body="LoyaltyProgramUpdate", perm="promotions:write")
crud("/v1/admin/loyalty-tiers", LT, "LoyaltyTier", "ltier", "loyalty tier", "promotions:read", "promotions:write")
P_CUS = P_ID("cus", "customer")
op("get", "/v1/admin/customers/{id}/loyalty", "adminGetLoyaltyAccount", LT, "A customer's points, tier and history", "admin", [ok("200", "LoyaltyAccount", headers=H_ETAG), NOTMOD], params=[P_CUS, P_INM], perm="customers:read")
op("post", "/v1/admin/customers/{id}/loyalty/adjustments", "adminAdjustLoyalty", LT, "Add or remove points by hand", "admin", [ok("201", "LoyaltyAccount", "The account after the adjustment.")], body="LoyaltyAdjustment", params=[P_CUS], perm="customers:write",
   desc="Writes an adjust ledger entry with the reason and the staff user or key, and loyalty.points_adjusted. 422 insufficient_points (pointer /points) when a removal exceeds the balance; 404 for an unknown customer.")
schemas["LoyaltyTransaction"] = obj({**_ltx["properties"], "customer_id": ID("cus"), "actor": SN("Who made an adjustment (staff user or API key id); null otherwise.")}, desc="A ledger entry (staff view).")
schemas["LoyaltyTransactionList"] = list_of("LoyaltyTransaction", "ledger entries")
op("get", "/v1/admin/loyalty-transactions", "listLoyaltyTransactions", LT, "Query the points ledger", "admin", [ok("200", "LoyaltyTransactionList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, Q("customer_id", "Entries of this customer.", maxLength=40), Q("kind", "Entries of this kind.", enum=["earn", "redeem", "release", "expire", "adjust", "clawback"]),
           Q("order_id", "Entries of this order.", maxLength=40), P_INM], perm="customers:read", desc="Newest first; a customer's whole history, page by page (the account shows the latest 50).")
op("get", "/v1/store/customers/me/loyalty", "storeGetMyLoyalty", "Store Customers", "The customer's points, tier and history", "customer", [ok("200", "LoyaltyAccount", headers=H_ETAG), NOTMOD], params=[P_INM])
op("post", "/v1/store/carts/{id}/loyalty", "storeRedeemLoyalty", "Store Carts", "Redeem points on the cart", "customer", [CART_OK("200", "The cart; loyalty and the lines' adjustments show the discount.")], body="CartLoyaltyRedeem", params=[P_CART],
   desc="Only on the customer's own cart. The points are a discount on the items (before shipping and tax), split over the lines; the cart's loyalty shows the points it uses (fewer when the items cost less) and the amount. They are debited when checkout places the order, in its transaction (422 insufficient_points, pointer /loyalty, when the balance no longer covers them). 422 validation-failed with pointer /points: customer_cart_required, loyalty_disabled, loyalty_unavailable (no redeem rate in the cart's currency), below_minimum, insufficient_points. 404 for a cart the caller cannot reach.")
op("delete", "/v1/store/carts/{id}/loyalty", "storeRemoveLoyalty", "Store Carts", "Stop redeeming points on the cart", "customer", [CART_OK("200", "The cart without the points.")], params=[P_CART], desc="404 when the cart redeems no points, or for a cart the caller cannot reach.")
ST = "Admin Segments"
crud("/v1/admin/segments", ST, "Segment", "seg", "segment", "customers:read", "customers:write",
     extra_desc="Creates the segment's customer group (\"Segment: <name>\") and computes its members. 422 (pointer /rules/...) for an unknown currency or group.")
P_SEG = P_ID("seg", "segment")
op("post", "/v1/admin/segments/{id}/refresh", "refreshSegment", ST, "Recompute a segment's members now", "admin", [ok("200", "Segment", "The segment.")], params=[P_SEG], perm="customers:write",
   desc="No request body (an empty one or {}; fields are 422 unknown-field).")
paths["/v1/admin/segments/{id}/refresh"]["post"]["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CartAttach"}}}}
op("get", "/v1/admin/segments/{id}/export.csv", "exportSegment", ST, "The segment's members as CSV", "admin",
   [ok("200", mt="text/csv", schema={"type": "string"}, desc="Header email,first_name,last_name,has_account; one row per member by email; CRLF, UTF-8; formula-like cells get a leading apostrophe.")], params=[P_SEG], perm="customers:read")
TAGS.append((LT, "Loyalty points: the program, tiers, customers' balances and manual adjustments."))
TAGS.append((ST, "Customer segments by rules, kept current, materialised as customer groups, exported as CSV."))

# the cart: points redeemed, and the adjustment they leave on lines
cart = schemas["Cart"]
cart["properties"]["loyalty"] = {"oneOf": [obj({"points_requested": INT("Points the buyer asked to redeem.", minimum=1), "points": INT("Points the discount uses (what checkout debits).", minimum=0),
    "amount": {"type": "integer", "minimum": 0, "description": "Minor units off the items (part of discount_total)."},
    "balance": INT("The customer's balance now. Below points, checkout refuses the order (422 insufficient_points, pointer /loyalty): the discount is never dropped silently.", minimum=0)}, desc="Points redeemed on the cart."), {"type": "null"}],
    "description": "Points redeemed on the cart (POST .../loyalty); null when none (or the program is off, or the currency has no redeem rate)."}
cart["required"] = [*cart["required"], "loyalty"]
_adj = schemas["CartLineItem"]["properties"]["adjustments"]["items"]
_adj["properties"]["promotion_id"] = {"oneOf": [ID("promo"), {"type": "null"}], "description": "The promotion (null: loyalty points)."}
_adj["properties"]["kind"] = {"type": "string", "enum": ["loyalty"], "description": "Present on the share of redeemed loyalty points."}

# events
_lp = {"customer_id": _s("The customer."), "transaction_id": _s("The ledger entry."), "points": _i("Points (negative when taken)."), "balance": _i("Balance after."),
       "order_id": _sn("The order, if any."), "reason": _sn("Why, if given.")}
for _t, _d in [("loyalty.points_earned", "A paid order earned points (items after discounts, without tax and shipping, times the tier's multiplier)."),
               ("loyalty.points_redeemed", "Checkout debited the points a cart redeemed."),
               ("loyalty.points_released", "A canceled order gave back the points it had redeemed."),
               ("loyalty.points_expired", "A balance expired after expiry_days without activity."),
               ("loyalty.points_adjusted", "Staff added or removed points (reason given)."),
               ("loyalty.points_clawed_back", "A refund took back the refunded share of the points its order earned (never below a zero balance).")]:
    EVENTS[_t] = _payload(_d, _lp, ["customer_id", "transaction_id", "points", "balance"])
EVENTS["loyalty.tier_changed"] = _payload("A customer's tier changed (earning, a claw-back, or the tier window moving).",
    {"customer_id": _s("The customer."), "from_tier_id": _sn("The tier before (null: none)."), "to_tier_id": _sn("The tier now (null: none)."),
     "to_tier_name": _sn("Its name."), "tier_points": _i("Points in the tier window.")}, ["customer_id", "from_tier_id", "to_tier_id"])
for t in [t for t in EVENTS if t.startswith("loyalty.")]:  # only ours: other files may have refined their schemas
    e = EVENTS[t]
    schemas["Event_" + t.replace(".", "_")] = {**e["schema"], "description": f"Payload (data) of {t} events, version {EVENTS_VERSION}: {e['description']}"}
    X_EVENTS["types"][t] = {"description": e["description"], "sensitive": e["sensitive"], "payload": {"$ref": f"#/components/schemas/Event_{t.replace('.', '_')}"}}
