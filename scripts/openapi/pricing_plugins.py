# pricing_plugins.py: the contract of cart pricing adjustments from plugins (core/hooks.h, plugins/host/adjust.c,
# core/cart.c sq_cart_apply_adjustments): the shape of a plugin's adjustment on a cart line and on the order line that
# keeps it. Exec'd by generate.py after loyalty.py (which makes promotion_id nullable and adds kind).
import copy as _copy
_adj = schemas["CartLineItem"]["properties"]["adjustments"]
_adj["description"] = ("What each discount took off this line, in the order they applied (they add up to discount_total): promotions, then loyalty"
                       " points, then pricing plugins (highest priority first). A plugin's adjustment has promotion_id null, kind plugin and the plugin's name.")
_adj["items"]["description"] = "A discount's share of a line: a promotion's, redeemed loyalty points' (kind loyalty) or a pricing plugin's (kind plugin)."
_p = _adj["items"]["properties"]
_p["promotion_id"]["description"] = "The promotion (null: loyalty points or a pricing plugin)."
_p["code"]["description"] = "The promotion's code (null: automatic promotion or loyalty points), or the code a pricing plugin gave."
_p["description"]["description"] = "The promotion's description, or the text a pricing plugin gave (default: its code)."
_p["kind"] = {"type": "string", "enum": ["loyalty", "plugin"], "description": "loyalty: the share of redeemed points; plugin: a pricing plugin's (absent on promotions)."}
_p["plugin"] = {"type": "string", "description": "kind plugin: the name of the plugin that gave it.", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}
_adj["items"]["required"] = [k for k in _adj["items"]["required"] if k not in ("kind", "plugin")]
_oadj = _copy.deepcopy(_adj)
_oadj["description"] = "The line's adjustments as the cart showed them at checkout (promotions, loyalty points, pricing plugins): what the order charged."
schemas["OrderLineItem"]["properties"]["adjustments"] = _oadj
