# purchasing.py: the contract of suppliers, reorder rules and purchase orders (core/purchasing*.c,
# api/handlers/purchasing.c, migrations/0033_reorder_purchasing.sql) and the events of the reorder automation, the
# payment-failure monitor (core/upkeep*.c); exec'd by generate.py after events.py, with its helpers in scope.

_iid = {"type": "string", "maxLength": 40, "description": "An inventory item (iitem_...)."}
_sid = lambda d: {"type": "string", "maxLength": 40, "description": d}
_qty = lambda d, lo: {"type": "integer", "minimum": lo, "maximum": 1000000, "description": d}
_cost_in = {"type": "integer", "minimum": 0, "maximum": 10000000000, "description": "Cost of one unit in minor units of the supplier's currency."}
_ssku_in = {"type": ["string", "null"], "minLength": 1, "maxLength": 64, "description": "The supplier's own article number."}

# ---- suppliers -------------------------------------------------------------------------------------------------
schemas["Supplier"] = obj({"id": ID("sup"), "object": {"const": "supplier", "description": "Always supplier."}, "name": S("Name."),
    "email": SN("Where purchase orders go (the purchase_order.sent event carries it for the webhook or notification that sends it)."),
    "phone": SN("Phone."), "currency_code": S("Currency purchase orders to this supplier are in (lower-case ISO 4217)."),
    "lead_time_days": INT("Days from sending to delivery; a sent order without expected_at expects its goods this much later.", minimum=0, maximum=365),
    "metadata": metadata_out, **ts_pair}, desc="A supplier that restocks inventory items.")
schemas["SupplierList"] = list_of("Supplier", "suppliers")
_sup_in = {"name": S("Name.", minLength=1, maxLength=256), "email": {**email_in, "type": ["string", "null"], "description": "Email for purchase orders (stored lower-case)."},
    "phone": phone_in, "currency_code": cur_code, "lead_time_days": INT("Lead time, days (default 0).", minimum=0, maximum=365), "metadata": metadata_in}
schemas["SupplierCreate"] = req(_sup_in, ["name", "currency_code"], "A new supplier.")
schemas["SupplierUpdate"] = req(_sup_in, [], "Fields to change; absent fields stay as they are. The currency cannot change while reorder rules with a cost or open purchase orders are in it (409 conflict).")

# ---- reorder rules ---------------------------------------------------------------------------------------------
schemas["ReorderRule"] = obj({"id": ID("rrule"), "object": {"const": "reorder_rule", "description": "Always reorder_rule."},
    "inventory_item_id": ID("iitem"), "sku": SN("The item's SKU."), "location_id": ID("sloc"), "supplier_id": ID("sup"),
    "reorder_point": INT("When the item's available stock at the location falls from above this to this or below, it is reordered."),
    "reorder_quantity": INT("Units a reorder asks for."), "unit_cost": INT("Cost of one unit, minor units of currency_code (the default cost of its purchase order lines)."),
    "currency_code": S("The supplier's currency."), "supplier_sku": SN("The supplier's article number."), "enabled": B("Disabled rules reorder nothing."),
    "available": {"type": ["integer", "null"], "description": "Available stock at the location now (null: no stock level there yet)."},
    "metadata": metadata_out, **ts_pair}, desc="When and how much of an inventory item to reorder at a location, and from whom.")
schemas["ReorderRuleList"] = list_of("ReorderRule", "reorder rules")
_rule_common = {"reorder_point": _qty("Reorder at this available quantity or below.", 0), "reorder_quantity": _qty("Units to order.", 1),
    "unit_cost": _cost_in, "supplier_sku": _ssku_in, "enabled": B("Enable or disable (default true)."), "metadata": metadata_in}
schemas["ReorderRuleCreate"] = req({"inventory_item_id": _iid, "location_id": _sid("The stock location."), "supplier_id": _sid("The supplier."), **_rule_common},
    ["inventory_item_id", "location_id", "supplier_id", "reorder_point", "reorder_quantity"], "A reorder rule; one per item and location (409 already-exists at /location_id).")
schemas["ReorderRuleUpdate"] = req({"supplier_id": _sid("Another supplier."), **_rule_common}, [], "Fields to change (the item and location are the rule's identity).")

# ---- purchase orders -------------------------------------------------------------------------------------------
PO_STATUSES = ["draft", "sent", "partially_received", "received", "canceled"]
_po_line = obj({"id": ID("poli"), "inventory_item_id": ID("iitem"), "sku": SN("SKU."), "title": SN("Item title."), "supplier_sku": SN("Supplier's article number."),
    "quantity": INT("Units ordered."), "received_quantity": INT("Units received so far (more than ordered only with allow_over_receipt)."),
    "unit_cost": INT("Cost of one unit, minor units."), "subtotal": INT("quantity x unit_cost, minor units.")}, desc="A line of a purchase order.")
_receipt = obj({"id": ID("porc"), "location_id": ID("sloc"), "items": {"type": "array", "description": "What arrived.",
        "items": obj({"line_id": ID("poli"), "inventory_item_id": ID("iitem"), "quantity": INT("Units.")})},
    "note": SN("Note."), "actor": SN("Who received it."), "created_at": TS("When.")}, desc="Goods received against a purchase order.")
schemas["PurchaseOrder"] = obj({"id": ID("po"), "object": {"const": "purchase_order", "description": "Always purchase_order."},
    "number": INT("Sequential number from 1001."), "display_number": S("PO-<number>."),
    "status": {"type": "string", "enum": PO_STATUSES, "description": "draft -> sent -> partially_received -> received; draft, sent and partially_received -> canceled. Other moves are 409 invalid-state."},
    "source": {"type": "string", "enum": ["manual", "reorder", "automation"], "description": "reorder: created by the reorder automation; automation: by an automation rule's create_purchase_order action."},
    "supplier_id": ID("sup"), "supplier": obj({"id": ID("sup"), "name": S("Name."), "email": SN("Email."), "phone": SN("Phone."), "lead_time_days": INT("Lead time.")}, desc="The supplier's contact."),
    "location_id": ID("sloc"), "currency_code": S("The supplier's currency (lower-case ISO 4217)."),
    "lines": {"type": "array", "items": _po_line, "description": "Lines in order."}, "total": INT("Sum of the lines' subtotals, minor units."),
    "receipts": {"type": "array", "items": _receipt, "description": "Receipts, oldest first."}, "note": SN("Note."), "metadata": metadata_out,
    "expected_at": TSN("When the goods are expected."), "created_by": SN("Staff user or API key, or reorder."), "sent_at": TSN("When it was sent."),
    "received_at": TSN("When everything had arrived."), "canceled_at": TSN("When it was canceled."), **ts_pair}, desc="A purchase order to a supplier, for one stock location.")
schemas["PurchaseOrderList"] = list_of("PurchaseOrder", "purchase orders")
_po_line_in = req({"inventory_item_id": _iid, "quantity": _qty("Units to order.", 1), "unit_cost": {**_cost_in, "description": _cost_in["description"] + " Default: the item's reorder rule for this supplier and location, else 0."},
    "supplier_sku": _ssku_in}, ["inventory_item_id", "quantity"], "A line.")
_po_common = {"lines": {"type": "array", "maxItems": 250, "items": _po_line_in, "description": "Lines; an item at most once (422 repeated). A PATCH replaces the whole list."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Note."}, "expected_at": {"type": ["string", "null"], "format": "date-time", "description": "When the goods are expected (RFC 3339)."}, "metadata": metadata_in}
schemas["PurchaseOrderCreate"] = req({"supplier_id": _sid("The supplier (422 not_found)."), "location_id": _sid("Where the goods go (422 not_found)."), **_po_common},
    ["supplier_id", "location_id"], "A new draft purchase order. One open draft per supplier and location (409 already-exists at /supplier_id).")
schemas["PurchaseOrderUpdate"] = req(_po_common, [], "Changes to a draft (409 invalid-state once sent).")
schemas["PurchaseOrderReceipt"] = req({"location_id": {"type": ["string", "null"], "maxLength": 40, "description": "Where the goods arrived (default: the order's location; 422 not_found)."},
    "lines": {"type": "array", "minItems": 1, "maxItems": 250, "description": "Lines and the units that arrived; a line at most once (422 repeated).",
              "items": req({"line_id": _sid("A line of this purchase order (422 not_found)."), "quantity": _qty("Units that arrived.", 1)}, ["line_id", "quantity"], "Units of one line.")},
    "allow_over_receipt": B("Accept more units than are outstanding (default false: 422 exceeds_outstanding at /lines/i/quantity)."),
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Note (also on the ledger rows)."}}, ["lines"], "Goods received.")
schemas["PurchaseOrderMove"] = req({}, [], "No fields (an empty body or {}; fields are 422 unknown-field).")

TP = "Admin Purchasing"
TAGS.append((TP, "Suppliers, reorder rules and purchase orders: low stock creates draft purchase orders; receipts restock through the ledger."))
crud("/v1/admin/suppliers", TP, "Supplier", "sup", "supplier", "inventory:read", "inventory:write",
     list_params=[Q("currency_code", "Only suppliers in this currency.", maxLength=3), Q("q", "Name contains this text, or the email is it (case-insensitive).", maxLength=256)])
paths["/v1/admin/suppliers/{id}"]["delete"]["description"] = "409 conflict while reorder rules or purchase orders name the supplier."
crud("/v1/admin/reorder-rules", TP, "ReorderRule", "rrule", "reorder rule", "inventory:read", "inventory:write",
     list_params=[Q("inventory_item_id", "Only this item's rules.", maxLength=40), Q("location_id", "Only rules of this location.", maxLength=40), Q("supplier_id", "Only this supplier's rules.", maxLength=40)],
     extra_desc="422 not_found-style errors at /inventory_item_id, /location_id, /supplier_id for what does not exist; 409 already-exists at /location_id when the item has a rule there.")
crud("/v1/admin/purchase-orders", TP, "PurchaseOrder", "po", "purchase order", "inventory:read", "inventory:write", delete=False,
     list_params=[Q("status", "Only orders in this status.", enum=PO_STATUSES), Q("supplier_id", "Only this supplier's orders.", maxLength=40),
                  Q("location_id", "Only orders for this location.", maxLength=40), Q("q", "The number (1001 or PO-1001), or the SKU or supplier SKU of a line (case-insensitive).", maxLength=64)],
     extra_desc="A draft; lines without unit_cost take the item's reorder rule cost for this supplier and location.")
paths["/v1/admin/purchase-orders/{id}"]["patch"]["description"] = "Drafts only (409 invalid-state otherwise)."
_P_PO = P_ID("po", "purchase order")
op("post", "/v1/admin/purchase-orders/{id}/send", "sendPurchaseOrder", TP, "Send a draft purchase order", "admin", [ok("200", "PurchaseOrder", "The order, sent.")], body="PurchaseOrderMove", params=[_P_PO], perm="inventory:write",
   desc="draft -> sent (409 invalid-state otherwise; 422 required at /lines without lines). The ordered quantities become incoming at the location, and purchase_order.sent carries the whole order with the supplier's contact for the webhook or notification that sends it.")
paths["/v1/admin/purchase-orders/{id}/send"]["post"]["requestBody"]["required"] = False
op("post", "/v1/admin/purchase-orders/{id}/cancel", "cancelPurchaseOrder", TP, "Cancel a purchase order", "admin", [ok("200", "PurchaseOrder", "The order, canceled.")], body="PurchaseOrderMove", params=[_P_PO], perm="inventory:write",
   desc="draft, sent or partially_received -> canceled (409 invalid-state for received or canceled orders). What was still outstanding leaves incoming; what was received stays.")
paths["/v1/admin/purchase-orders/{id}/cancel"]["post"]["requestBody"]["required"] = False
op("post", "/v1/admin/purchase-orders/{id}/receipts", "receivePurchaseOrder", TP, "Receive goods", "admin", [ok("200", "PurchaseOrder", "The order after the receipt.")], body="PurchaseOrderReceipt", params=[_P_PO], perm="inventory:write",
   desc="Requires Idempotency-Key (400 invalid-parameter without): the key is stored with the receipt in its transaction, so a receipt is applied exactly once, also when a retry comes after the stored answer expired or was lost. "
        "sent or partially_received only (409 invalid-state). On hand rises at the location through the ledger (reason receive, reference the order), incoming falls by what was outstanding, and the order becomes partially_received or received (purchase_order.received).")
op("get", "/v1/admin/exports/purchase-orders.csv", "exportPurchaseOrders", TP, "Export purchase orders as CSV", "admin",
   [ok("200", mt="text/csv", schema={"type": "string"}, desc="One row per line of every matching order, newest order first: header first, CRLF line ends, UTF-8, Content-Disposition: attachment. Costs in minor units; text cells that would start a spreadsheet formula begin with an apostrophe.")],
   params=[p for p in paths["/v1/admin/purchase-orders"]["get"]["parameters"] if p.get("name") not in ("limit", "cursor", "If-None-Match")], perm="inventory:read", desc="400 invalid-parameter for a filter value of the wrong form.")

# ---- events ----------------------------------------------------------------------------------------------------
_po_summary = {"purchase_order_id": _s("The purchase order."), "number": _i("Its number."), "supplier_id": _s("The supplier."), "location_id": _s("The stock location.")}
_NEW_EVENTS = {
 "inventory.reorder_needed": _payload("An item's available stock at a location fell to or below its reorder rule's point while it was not on order there; a line of reorder_quantity was put on the open draft purchase order of the rule's supplier and location (created when there was none). Once per crossing: nothing more while the item is on a draft or an outstanding sent order there.",
     {"inventory_item_id": _s("Inventory item."), "sku": _sn("SKU."), "location_id": _s("Stock location."), "available": _i("Available there now."),
      "reorder_point": _i("The rule's point."), "reorder_quantity": _i("Units ordered."), "supplier_id": _s("Supplier."), "purchase_order_id": _s("The draft purchase order."),
      "purchase_order_line_id": _s("The line added."), "reorder_rule_id": _s("The rule.")}),
 "purchase_order.sent": _payload("A purchase order was sent: the whole order (lines, quantities, unit costs, total, currency, the supplier's name and email) for the webhook or notification that delivers it to the supplier.",
     {"purchase_order": {"type": "object", "description": "The purchase order as GET /v1/admin/purchase-orders/{id} shows it."}, "sent_by": _sn("Staff user or API key.")}, ["purchase_order"]),
 "purchase_order.received": _payload("Every line of a purchase order has arrived.", _po_summary),
 "payment.failure_rate_high": _payload("A payment provider's failure rate (declined or failed authorizations) over the monitor's window reached payment_failure_threshold_pct with at least payment_failure_min_attempts attempts. Once per spike: the next is written only after payment.failure_rate_recovered.",
     {"provider": _s("Payment provider id."), "attempts": _i("Finished authorizations in the window."), "failures": _i("Of which declined or failed."), "declined": _i("Declined."), "errors": _i("Provider errors."),
      "failure_rate": {"type": "number", "description": "failures / attempts (0..1)."}, "threshold": {"type": "number", "description": "The alert threshold (0..1)."}, "window_s": _i("Window, seconds.")}),
 "payment.failure_rate_recovered": _payload("A provider with an open failure-rate alert is below payment_failure_recover_pct again (a window without attempts counts as recovered).",
     {"provider": _s("Payment provider id."), "attempts": _i("Finished authorizations in the window."), "failures": _i("Of which declined or failed."),
      "failure_rate": {"type": "number", "description": "failures / attempts (0 without attempts)."}, "threshold": {"type": "number", "description": "The recovery threshold (0..1)."}, "window_s": _i("Window, seconds."),
      "alerting_since": _ts("When the alert started.")}),
}
for _t, _e in _NEW_EVENTS.items():
    EVENTS[_t] = _e
    schemas["Event_" + _t.replace(".", "_")] = {**_e["schema"], "description": f"Payload (data) of {_t} events, version {EVENTS_VERSION}: {_e['description']}"}
    X_EVENTS["types"][_t] = {"description": _e["description"], "sensitive": _e["sensitive"], "payload": {"$ref": f"#/components/schemas/Event_{_t.replace('.', '_')}"}}
