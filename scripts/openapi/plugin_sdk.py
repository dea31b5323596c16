# plugin_sdk.py: the contract of the plugin SDK's additions (migrations/0031, plugins/host/actions.c, kv.c): named
# automation actions and their admin route, plugin settings per sales channel, the custom event family
# plugin.<plugin>.<type>, order.payment_failed, and what core did with a provider's payment event. Exec'd by
# generate.py after events.py, with its helpers, schemas, EVENTS and X_EVENTS in scope.

# ---- plugins: actions and sales channels ------------------------------------------------------------------------------
schemas["PluginAction"] = obj({"name": S("The action's name (the handler's function action_<name>).", pattern="^[a-z][a-z0-9_]{0,47}$"),
    "description": S("What the action does (from the manifest)."),
    "input_schema": {"type": "object", "additionalProperties": PLUGIN_FIELD, "description": "The inputs it takes, by name (the same field rules as config_schema)."}},
    desc="A named automation action a plugin implements: automation rules run it, staff can run it by hand.")
schemas["Plugin"]["properties"]["actions"] = {"type": "array", "maxItems": 32, "items": {"$ref": "#/components/schemas/PluginAction"}, "description": "The plugin's named automation actions (manifest actions)."}
schemas["Plugin"]["properties"]["sales_channels"] = {"type": ["array", "null"], "items": ID("sc"), "description": "The sales channels the plugin serves; null: every channel. Its payment providers are refused at checkout in other channels (422 at /payment/provider)."}
schemas["Plugin"]["required"] += ["actions", "sales_channels"]
schemas["PluginUpdate"]["properties"]["sales_channels"] = {"type": ["array", "null"], "minItems": 1, "maxItems": 100, "uniqueItems": True, "items": ID("sc"),
    "description": "Restricts the plugin to these sales channels (ids of existing channels, else 422 at /sales_channels/<i>); null serves every channel again."}

schemas["PluginActionRunRequest"] = req({"input": {"type": "object", "description": "The action's inputs, validated against its input_schema (422 with /input/<name>; 422 unknown-field for an input it does not take). Omitted: {}."}},
    [], "Inputs of a run.")
schemas["PluginActionRun"] = obj({"object": {"const": "plugin_action_run", "description": "Always plugin_action_run."}, "plugin": S("The plugin."), "action": S("The action."),
    "output": {"description": "What the action returned, as JSON (null for nothing)."}}, desc="The outcome of running an action.")
P_ACTION = {"name": "action", "in": "path", "required": True, "description": "The action's name.", "schema": {"type": "string", "minLength": 1, "maxLength": 48}}
op("post", "/v1/admin/plugins/{name}/actions/{action}", "adminRunPluginAction", "Admin Plugins", "Run a plugin's action by hand", "admin",
   [ok("200", "PluginActionRun")], body="PluginActionRunRequest", params=[P_PLUGIN, P_ACTION], perm="plugins:write",
   desc="Runs the named automation action as the automation rules do: input validated against the action's schema, then action_<name>(config, input) under the plugin's background budgets "
        "(instructions, wall clock; its deadline is bounded by the request deadline here). 404 not-found for a plugin that is not loaded and enabled, or an action it does not have; "
        "a failing action is 502 plugin-failed, 504 plugin-timeout or 503 plugin-degraded, and whatever it wrote before failing (souq.kv, souq.events) stays written. Takes no body, {} or {\"input\": {...}}.")
paths["/v1/admin/plugins/{name}/actions/{action}"]["post"]["requestBody"]["required"] = False

# ---- the webhook receipt says what core did -----------------------------------------------------------------------------
PAYMENT_OUTCOME = {"type": ["object", "null"], "additionalProperties": False, "description": "What core did with the payment move the plugin asked for (null: none asked, or a duplicate).",
    "properties": {"action": {"type": "string", "enum": ["captured", "failed", "refunded"], "description": "The move asked for."},
                   "result": {"type": "string", "enum": ["applied", "already", "ignored"], "description": "applied: the payment moved; already: it was there already (nothing to do); ignored: an unknown payment, a payment without an order yet, or an illegal move (logged; the provider is answered 200 so it stops retrying)."},
                   "payment_id": {"type": ["string", "null"], "description": "The payment, when found."}, "order_id": {"type": ["string", "null"], "description": "Its order."},
                   "refund_id": S("refunded: the refund Souq recorded."), "detail": S("Why it was ignored or already done.")},
    "required": ["action", "result"]}
schemas["WebhookReceipt"]["properties"]["payment"] = PAYMENT_OUTCOME
schemas["WebhookReceipt"]["required"] = [k for k in schemas["WebhookReceipt"]["required"] if k != "payment"]

# ---- events ---------------------------------------------------------------------------------------------------------------
EVENTS["order.payment_failed"] = _payload("The payment provider reported that an order's open (pending or authorized) payment failed (payment-stripe: payment_intent.payment_failed): the payment is declined and the order's payment_status voided. The order is not canceled: staff decide.",
    {"order_id": _oid, "payment_id": _s("The payment."), "decline_code": _sn("The provider's reason."), "provider_event_id": _s("The provider's event id.")}, ["order_id", "payment_id"])
EVENTS["order.paid"]["schema"]["properties"].update({"source": _s("provider: captured outside Souq and reported by the payment provider's webhook (absent for captures through the API)."),
    "provider_event_id": _s("source provider: the provider's event id.")})
EVENTS["plugin.webhook_received"]["schema"]["properties"]["payment"] = {**PAYMENT_OUTCOME, "description": "What core did with the payment move the plugin asked for (absent when none was asked)."}
for _t in ("order.payment_failed", "order.paid", "plugin.webhook_received"):
    schemas["Event_" + _t.replace(".", "_")] = {**EVENTS[_t]["schema"], "description": f"Payload (data) of {_t} events, version {EVENTS_VERSION}: {EVENTS[_t]['description']}"}
    X_EVENTS["types"][_t] = {"description": EVENTS[_t]["description"], "sensitive": EVENTS[_t]["sensitive"], "payload": {"$ref": f"#/components/schemas/Event_{_t.replace('.', '_')}"}}
schemas["Event_plugin_custom"] = {"type": "object", "additionalProperties": True, "properties": {},
    "description": f"Payload (data) of plugin.<plugin>.<type> events, version {EVENTS_VERSION}: whatever the plugin passed to souq.events.emit (a JSON object of at most 64 KiB); its README documents it."}
X_EVENTS["families"] = {"plugin.{plugin}.{type}": {
    "description": "Custom events a plugin emits with souq.events.emit(type, payload): the type is prefixed with plugin.<plugin name>. (plugin.loyalty.points_earned), so plugins cannot write core events or each other's. "
                   "type is 1-64 of a-z 0-9 _ . starting with a letter. Subscribe by exact name, by plugin (plugin.loyalty.*) or to all plugin events (plugin.*). Delivered at least once like every event.",
    "pattern": "^plugin\\.[a-z][a-z0-9_-]{0,47}\\.[a-z][a-z0-9_.]{0,63}$", "sensitive": False, "payload": {"$ref": "#/components/schemas/Event_plugin_custom"}}}

# ---- secret settings at rest: the rotation's reseal -------------------------------------------------------------------------
schemas["PluginSecretsReseal"] = obj({"object": {"const": "plugin_secrets_reseal", "description": "Always plugin_secrets_reseal."}, "plugin": S("The plugin."),
    "resealed": {"type": "array", "items": S("A secret setting's name."), "description": "The secret settings now sealed with the current plugin_secrets_key (they were stored in plain text or sealed with plugin_secrets_previous_key); empty when there was nothing to do or no key is configured."}},
    desc="The outcome of resealing a plugin's secret settings.")
op("post", "/v1/admin/plugins/{name}/reseal-secrets", "adminResealPluginSecrets", "Admin Plugins", "Reseal a plugin's secret settings with the current key", "admin",
   [ok("200", "PluginSecretsReseal")], params=[P_PLUGIN], perm="plugins:write",
   desc="The second step of a key rotation (README, Configuration): after plugin_secrets_key became the new key and plugin_secrets_previous_key the old one, this rewrites the plugin's stored secret values sealed with the old key (or stored in plain text before any key was set) with the new key, compare-and-set: a PATCH that changed one meanwhile wins (409 conflict, try again). Values are never returned. 404 for a plugin that is not loaded. Takes no body (an empty JSON object is accepted).")

# ---- the payment providers a storefront may offer -----------------------------------------------------------------------
schemas["StorePaymentProviderList"] = obj({"object": {"const": "list", "description": "Always list."},
    "data": {"type": "array", "items": obj({"object": {"const": "payment_provider", "description": "Always payment_provider."},
        "id": S("What checkout's payment.provider names (manual, test, or a plugin's payment:<id>).")}, desc="A payment provider."), "description": "Sorted by id."},
    "has_more": {"const": False, "description": "Always false."}, "next_cursor": {"type": "null", "description": "Always null."}},
    desc="The payment providers checkout accepts in the publishable key's sales channel.")
op("get", "/v1/store/payment-providers", "storeListPaymentProviders", "Store Carts", "The payment providers of this sales channel", "store", [ok("200", "StorePaymentProviderList", headers=H_ETAG), NOTMOD], params=[P_INM],
   desc="The built-in providers and those of enabled plugins, without plugins restricted to other sales channels (their sales_channels setting): a storefront offers these, and checkout refuses the others (422 at /payment/provider).")
