# dynprice.py: the contract of dynamic pricing (core/dynprice*.c, migrations/0035): the price ledger, scheduled price
# changes and pricing rules; run by generate.py (exec'd after the promotions section, with its helpers in scope).
AMT = lambda d: {"type": "integer", "description": d + " Minor units."}
AMTN = lambda d: {"type": ["integer", "null"], "description": d + " Minor units."}
SOURCES = ["staff", "api_key", "import", "schedule", "rule", "system"]
schemas["PriceChange"] = obj({"id": ID("pchg"), "object": {"const": "price_change", "description": "Always price_change."},
    "price_id": S("The price (it may have been removed since)."), "variant_id": S("Its variant."), "product_id": SN("The variant's product (null when the variant was already gone)."),
    "price_list_id": SN("The price list (null: a base price)."), "currency_code": S("Currency (lower-case ISO 4217)."), "min_quantity": {"type": "integer", "description": "Volume tier."},
    "old_amount": AMTN("Before (null: the price was created)."), "new_amount": AMTN("After (null: the price was removed)."),
    "source": {"type": "string", "enum": SOURCES, "description": "What changed it: staff (a staff user's admin call), api_key (a secret key's admin call), import, schedule (a scheduled price change), rule (a pricing rule), system (no attribution: SQL by hand)."},
    "source_id": SN("The staff user, API key, import (imp_), schedule (psch_) or rule (prule_) that changed it; null for system changes."),
    "actor": SN("The staff user or API key responsible: the caller, the uploader of an import, the creator of a schedule; null for rules and system changes."),
    "event_id": S("The price.changed event written with this entry (evt_)."), "created_at": TS("When the change committed's transaction ran.")},
    desc="One entry of the price ledger: every creation, change and removal of a base or list price, written in the same transaction as the change, with a price.changed event.")
schemas["PriceChangeList"] = list_of("PriceChange", "price changes")
op("get", "/v1/admin/price-changes", "listPriceChanges", "Admin Dynamic Pricing", "Query the price ledger", "admin", [ok("200", "PriceChangeList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, Q("variant_id", "Only changes of this variant.", maxLength=40), Q("product_id", "Only changes of this product's variants.", maxLength=40),
           Q("price_list_id", "Only changes of this list's prices.", maxLength=40), Q("currency_code", "Only this currency.", minLength=3, maxLength=3),
           Q("source", "Only changes from this source.", enum=SOURCES), Q("source_id", "Only changes by this staff user, API key, schedule or rule.", maxLength=64),
           Q("created_after", "Only changes at or after this time (RFC 3339 or YYYY-MM-DD).", maxLength=40), Q("created_before", "Only changes before this time.", maxLength=40), P_INM],
   perm="catalog:read", desc="Newest first. 400 invalid-parameter for an unknown source, a malformed currency or time.")
op("get", "/v1/admin/price-changes/{id}", "getPriceChange", "Admin Dynamic Pricing", "One price ledger entry", "admin", [ok("200", "PriceChange", headers=H_ETAG), NOTMOD],
   params=[P_ID("pchg", "price change"), P_INM], perm="catalog:read")

sched_item_in = req({"variant_id": S("Variant.", maxLength=40), "currency_code": cur_code, "amount": {"type": "integer", "minimum": 0, "maximum": 1000000000000, "description": "The price to set, minor units."},
                     "min_quantity": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "Volume tier (default 1)."}}, ["variant_id", "currency_code", "amount"], "A price to set.")
sched_item_out = obj({"variant_id": S("Variant."), "currency_code": S("Currency."), "amount": AMT("The price to set."), "min_quantity": {"type": "integer", "description": "Volume tier."}}, desc="A price to set.")
schemas["PriceSchedule"] = obj({"id": ID("psch"), "object": {"const": "price_schedule", "description": "Always price_schedule."}, "title": SN("Title."),
    "status": {"type": "string", "enum": ["pending", "applied", "reverted", "canceled"], "description": "pending until apply_at; applied; reverted after revert_at; canceled (only a pending schedule can be)."},
    "price_list_id": SN("The price list whose prices it sets (null: base prices)."), "items": {"type": "array", "items": sched_item_out, "description": "The prices it sets."},
    "apply_at": TS("When it applies."), "revert_at": TSN("When the prices it set go back (null: never)."),
    "applied": {"type": ["array", "null"], "description": "What applying did (null until applied).", "items": obj({"price_id": S("The price."), "variant_id": S("Variant."), "currency_code": S("Currency."),
        "min_quantity": {"type": "integer", "description": "Volume tier."}, "old_amount": AMTN("Before (null: the price was created)."), "new_amount": AMT("After.")}, desc="One price it set.")},
    "reverted": {"type": ["array", "null"], "description": "What reverting did (null until reverted).", "items": obj({"price_id": S("The price."), "restored": B("Whether the old amount came back."),
        "reason": {"type": "string", "enum": ["restored", "removed_new_price", "changed_since", "removed"], "description": "restored; removed_new_price (it had created the price); changed_since (someone changed the price after the schedule: the later change stays); removed (the price is gone)."}}, desc="One price it reverted.")},
    "applied_at": TSN("When it applied."), "reverted_at": TSN("When it reverted."), "canceled_at": TSN("When it was canceled."),
    "created_by": SN("The staff user or API key that created it."), "metadata": metadata_out, **ts_pair},
    desc="A scheduled price change: prices of variants (base prices, or a price list's) set at apply_at and optionally put back at revert_at, run exactly once by durable jobs.")
schemas["PriceScheduleList"] = list_of("PriceSchedule", "price schedules")
schemas["PriceScheduleCreate"] = req({"title": S("Title.", minLength=1, maxLength=256), "price_list_id": {**idin("A price list whose prices to set (null or absent: base prices)."), "minLength": 1},
    "items": {"type": "array", "minItems": 1, "maxItems": 1000, "items": sched_item_in, "description": "The prices to set; one item per variant, currency and min_quantity."},
    "apply_at": {"type": "string", "format": "date-time", "description": "When to apply (RFC 3339 with a zone). A time in the past applies at once."},
    "revert_at": {"type": ["string", "null"], "format": "date-time", "description": "When to put the prices back (after apply_at); null: never."}, "metadata": metadata_in},
    ["items", "apply_at"], "A new scheduled price change.")
SID = P_ID("psch", "price schedule")
op("get", "/v1/admin/price-schedules", "listPriceSchedules", "Admin Dynamic Pricing", "List scheduled price changes", "admin", [ok("200", "PriceScheduleList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, Q("status", "Only schedules in this status.", enum=["pending", "applied", "reverted", "canceled"]), P_INM], perm="catalog:read")
op("post", "/v1/admin/price-schedules", "createPriceSchedule", "Admin Dynamic Pricing", "Schedule a price change", "admin", [ok("201", "PriceSchedule", "The new schedule (pending).")], body="PriceScheduleCreate",
   perm="catalog:write", desc="422 validation-failed with the pointer for an unknown variant (/items/N/variant_id, not_found), price list (/price_list_id), currency, two items for the same price (/items/N, duplicate) or a revert_at not after apply_at (/revert_at).")
op("get", "/v1/admin/price-schedules/{id}", "getPriceSchedule", "Admin Dynamic Pricing", "One scheduled price change", "admin", [ok("200", "PriceSchedule", headers=H_ETAG), NOTMOD], params=[SID, P_INM], perm="catalog:read")
op("post", "/v1/admin/price-schedules/{id}/cancel", "cancelPriceSchedule", "Admin Dynamic Pricing", "Cancel a pending scheduled price change", "admin", [ok("200", "PriceSchedule", "The canceled schedule.")],
   params=[SID], perm="catalog:write", desc="Takes no body (or {}). 409 invalid-state once the schedule applied (cancel its revert by scheduling the price you want instead).")

days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
cond_in = {"type": "object", "additionalProperties": False, "description": "When the rule applies: stock_below (the variant's available stock over all locations, in units of the variant, is below threshold; variants without managed inventory never match) or time_window (UTC; days default to every day; an end before the start runs past midnight and belongs to the start's day).",
    "properties": {"type": {"type": "string", "enum": ["stock_below", "time_window"], "description": "Kind."}, "threshold": {"type": "integer", "minimum": 1, "maximum": 1000000000, "description": "stock_below: the threshold."},
                   "days": {"type": "array", "minItems": 1, "maxItems": 7, "items": {"type": "string", "enum": days}, "description": "time_window: the days (default all)."},
                   "start": S("time_window: start, HH:MM UTC (inclusive).", pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$"), "end": S("time_window: end, HH:MM UTC (exclusive).", pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$")},
    "required": ["type"]}
adj_in = {"type": "object", "additionalProperties": False, "description": "The adjustment: percent in basis points of the merchant's price (-10000..100000; 1000 = +10 %, -1500 = -15 %), rounded half away from zero; or fixed minor units added (negative: off). Never zero.",
    "properties": {"type": {"type": "string", "enum": ["percent", "fixed"], "description": "Kind."}, "value": {"type": "integer", "minimum": -1000000000000, "maximum": 1000000000000, "description": "Basis points or minor units."}},
    "required": ["type", "value"]}
rule_in = {"title": S("Title.", minLength=1, maxLength=256), "status": {"type": "string", "enum": ["active", "disabled"], "description": "Only active rules adjust prices (default active). Disabling gives the prices back at once."},
    "priority": {"type": "integer", "minimum": -1000, "maximum": 1000, "description": "Higher is evaluated first; a price is adjusted by one rule at a time (default 0)."},
    "currency_code": cur_code, "condition": cond_in, "adjustment": adj_in,
    "floor_amount": {"type": "integer", "minimum": 0, "maximum": 1000000000000, "description": "A decrease never goes below it (a price already below stays)."},
    "ceiling_amount": {"type": "integer", "minimum": 0, "maximum": 1000000000000, "description": "An increase never goes above it (a price already above stays); not below floor_amount."},
    "variant_ids": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string", "maxLength": 40}, "description": "The variants whose base prices in currency_code (every volume tier) it adjusts; replaced whole when present."},
    "metadata": metadata_in}
schemas["PricingRuleCreate"] = req(rule_in, ["title", "currency_code", "condition", "adjustment", "floor_amount", "ceiling_amount", "variant_ids"], "A new pricing rule; it is evaluated at once.")
schemas["PricingRuleUpdate"] = req(rule_in, [], "Fields to change (condition and adjustment are replaced whole); the rule is evaluated again at once. Rules are not ETag-guarded.")
schemas["PricingRule"] = obj({"id": ID("prule"), "object": {"const": "pricing_rule", "description": "Always pricing_rule."}, "title": S("Title."),
    "status": {"type": "string", "enum": ["active", "disabled"], "description": "Status."}, "priority": {"type": "integer", "description": "Evaluation order (higher first)."},
    "currency_code": S("The currency of the prices it adjusts."),
    "condition": {"type": "object", "description": "When it applies.", "oneOf": [
        obj({"type": {"const": "stock_below", "description": "Kind."}, "threshold": {"type": "integer", "description": "Threshold."}}, desc="Stock below a threshold."),
        obj({"type": {"const": "time_window", "description": "Kind."}, "days": {"type": "array", "items": {"type": "string", "enum": days}, "description": "Days."},
             "start": S("Start, HH:MM UTC."), "end": S("End, HH:MM UTC.")}, desc="A UTC time window.")]},
    "adjustment": obj({"type": {"type": "string", "enum": ["percent", "fixed"], "description": "Kind."}, "value": {"type": "integer", "description": "Basis points or minor units."}}, desc="The adjustment."),
    "floor_amount": AMT("Floor."), "ceiling_amount": AMT("Ceiling."), "variant_ids": {"type": "array", "items": {"type": "string"}, "description": "The variants it covers."},
    "applied_prices": {"type": "integer", "minimum": 0, "description": "Prices it holds adjusted now."}, "metadata": metadata_out,
    "last_evaluated_at": TSN("When it was last evaluated."), **ts_pair},
    desc="A pricing rule: adjusts base prices while a stock or time condition holds, within floor and ceiling, and gives the merchant's price back when it stops holding. Evaluated when saved, every minute, when stock crosses its threshold and at its window's boundaries.")
schemas["PricingRuleList"] = list_of("PricingRule", "pricing rules")
schemas["PricingRulePreview"] = obj({"object": {"const": "pricing_rule_preview", "description": "Always pricing_rule_preview."}, "rule_id": ID("prule"), "evaluated_at": TS("The time the rule was evaluated for."),
    "changes": {"type": "array", "description": "What evaluating the rule now, as if it were active, would change (empty: nothing).", "items": obj({"rule_id": ID("prule"), "price_id": S("The price."), "variant_id": S("Variant."),
        "currency_code": S("Currency."), "min_quantity": {"type": "integer", "description": "Volume tier."}, "old_amount": AMT("Now."), "new_amount": AMT("After."),
        "action": {"type": "string", "enum": ["apply", "restore"], "description": "apply: the rule's adjustment; restore: the merchant's price comes back."}}, desc="One price change.")}},
    desc="A dry run of a pricing rule: nothing was changed.")
crud("/v1/admin/pricing-rules", "Admin Dynamic Pricing", "PricingRule", "prule", "pricing rule", "catalog:read", "catalog:write",
     list_params=[Q("status", "Only rules in this status.", enum=["active", "disabled"])],
     extra_desc="422 validation-failed with the pointer: a condition missing what its type needs or having what it does not (/condition/threshold, /condition/start, ...), a percent outside -10000..100000 or zero (/adjustment/value), a ceiling below the floor (/ceiling_amount), an unknown variant (/variant_ids/N, not_found) or currency. Every price it changes is in the ledger (source rule) with a price.changed event.")
op("post", "/v1/admin/pricing-rules/{id}/preview", "previewPricingRule", "Admin Dynamic Pricing", "Preview what a pricing rule would change", "admin", [ok("200", "PricingRulePreview", "The dry run.")],
   params=[P_ID("prule", "pricing rule")], perm="catalog:read", desc="Takes no body (or {}). Evaluates the rule now as if it were active (so a disabled draft can be previewed) and changes nothing.")
TAGS.append(("Admin Dynamic Pricing", "The price ledger, scheduled price changes and pricing rules."))
