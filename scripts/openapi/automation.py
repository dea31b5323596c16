# automation.py: the contract of automation rules (core/automation*.c, api/handlers/automation.c,
# migrations/0032_automation_rules.sql): rules, their runs, dry runs, the automation.custom_event type, and the tags
# rules put on customers and orders. exec'd by generate.py after events.py, with its helpers and schemas in scope.

# ---- the event emit_event writes ------------------------------------------------------------------------------------
EVENTS["automation.custom_event"] = _payload("Written by an automation rule's emit_event action. Rules and webhooks receive it like any event; a chain of rules emitting events stops at depth 3.",
    {"name": _s("The action's name for the event (vip_order)."), "data": {"type": "object", "description": "The action's data template, filled from the triggering event."},
     "rule_id": _s("The rule."), "run_id": _s("The run that emitted it (unique per rule and triggering event)."),
     "source_event_id": _sn("The event that triggered the run (null for scheduled rules)."), "source_event_type": _s("Its type (automation.schedule for scheduled rules).")},
    ["name", "data", "rule_id", "run_id"])
schemas["Event_automation_custom_event"] = {**EVENTS["automation.custom_event"]["schema"], "description": f"Payload (data) of automation.custom_event events, version {EVENTS_VERSION}: {EVENTS['automation.custom_event']['description']}"}
X_EVENTS["types"]["automation.custom_event"] = {"description": EVENTS["automation.custom_event"]["description"], "sensitive": False, "payload": {"$ref": "#/components/schemas/Event_automation_custom_event"}}

# ---- tags on customers and orders ---------------------------------------------------------------------------------
_tags = {"type": "array", "items": {"type": "string"}, "description": "Tags (added by automation rules' tag_customer and tag_order actions); staff reads only."}
for _n in ("Customer", "Order", "AdminOrder"):
    schemas[_n]["properties"]["tags"] = _tags
_tagq = qp("tag", "Only those carrying this tag (1 to 64 characters).", {"type": "string", "minLength": 1, "maxLength": 64})
for _p in ("/v1/admin/customers", "/v1/admin/orders"):
    _ps = paths[_p]["get"]["parameters"]
    _ps.insert(len(_ps) - 1, _tagq)  # before If-None-Match

# ---- rules ----------------------------------------------------------------------------------------------------------
EXPR_DESC = ("A condition over the triggering event's data (a JSON AST): {\"all\": [c, ...]}, {\"any\": [c, ...]} (1 to 20 each), {\"not\": c}, or a comparison "
    "{\"field\": \"<JSON pointer into the data>\", \"op\": \"eq|ne|lt|lte|gt|gte|in|exists\", \"value\": v, \"type\": \"number|string|money|date\" (optional; inferred from value), \"currency_field\": \"<pointer>\" (money)}. "
    "number and string compare JSON numbers and strings (strings by bytes); money values are {\"amount\": <minor units>, \"currency\": \"eur\"} and compare with a field that is such an object or an integer amount whose "
    "currency is at currency_field (default: the sibling currency_code, else currency); a different currency makes the comparison false. date values are RFC 3339 times, YYYY-MM-DD dates or now, now-7d, now+12h (s, m, h, d). "
    "in takes an array of 1 to 100 numbers or strings; exists takes no value. A comparison on a missing or null field is false (use not/exists). At most 100 nodes, 8 levels. Validated at save time: errors point into it (/conditions/all/1/op).")
_cond = {"type": ["object", "null"], "description": EXPR_DESC + " null or absent: always."}
_trigger_in = {"oneOf": [req({"type": {"const": "event", "description": "An event of the catalogue."}, "event": S("An event type of x-events (not a sensitive one), or of one of its families: order.placed, inventory.low, automation.custom_event, plugin.loyalty.points_earned, ...", maxLength=128)}, ["type", "event"], "Runs for every event of this type."),
                         req({"type": {"const": "schedule", "description": "A schedule."}, "schedule": S("\"every N seconds|minutes|hours\" (periods aligned to the Unix epoch) or \"daily at HH:MM\" (UTC).", maxLength=64)}, ["type", "schedule"], "Runs once per period; the run's data is {rule_id, schedule, fired_at}.")],
               "description": "What starts a run."}
_action_in = req({"type": {"type": "string", "enum": ["tag_customer", "tag_order", "emit_event", "call_webhook", "adjust_price", "start_price_list", "send_notification", "create_purchase_order", "run_plugin_action"], "description": "The action (the registry in core/automation_actions.c)."},
    "params": {"type": "object", "description": "The action's parameters, validated at save time (422 with pointers /actions/i/params/...). "
        "tag_customer: {tags: [1-10 tags], customer_id?: pointer (default /customer_id, else /id of customer.* events, else the customer of /order_id)}. "
        "tag_order: {tags, order_id?: pointer (default /order_id)}. A tag is 1-64 lower-case letters, digits and - _ : . "
        "emit_event: {name: ^[a-z][a-z0-9_.]{0,63}$, data?: object template} writes automation.custom_event. "
        "call_webhook: {webhook_id: whk_..., data?: object template} POSTs {id: <run id>.<index>, object: automation_call, rule_id, run_id, event: {id, type, data}, data} to the endpoint's URL, signed with its secret(s) like webhook deliveries (Souq-Signature), with Idempotency-Key: <run id>.<index>; the egress policy applies at each call; 2xx succeeds, network errors, 408, 429 and 5xx are retried, other answers fail the run for good. "
        "adjust_price: {variant_id: var_... | variant_field: pointer, price_list_id?: plist_... (default: the base price), currency_code, exactly one of set (minor units) | delta (minor units) | percent (basis points, -10000..100000; rounded half away from zero), floor?, ceiling?} changes the price for quantity 1 and keeps it within [floor, ceiling]; price.changed follows. "
        "start_price_list: {price_list_id: plist_..., duration_s?: 60-31536000} activates the list now (status active, starts_at now, ends_at now + duration_s when given, else its future end or none); a missing list fails the run for good. "
        "send_notification: {channel?: email (default) | sms, to?: an address (staff alerts) | to_field?: pointer (default /email), subject (email), text, html? (email)} renders the templates ({{name}} is the event's top-level field name, HTML-escaped in html; missing names render empty) and sends them through the notification provider enabled for the channel (notify-email) with Idempotency-Key <run id>.<index>; no provider or a refused recipient fails the run for good, a provider failure retries. "
        "create_purchase_order: {inventory_item_id?: pointer (default /inventory_item_id), location_id?: pointer (default /location_id; without one the item's only enabled reorder rule), quantity?: 1-1000000 (default the rule's reorder_quantity)} puts the item on the open draft purchase order of its reorder rule's supplier and location (created when there is none; an item already on it stays as it is: added false); no reorder rule fails the run for good. "
        "run_plugin_action: {plugin, action (an enabled plugin's named action, checked at save time), input?: object template} runs the plugin's action_<name>(conf, input) under its background budgets, the filled input checked against the action's input schema (a misfit fails the run for good); at least once: a run retried after the call may call it again. "
        "Templates: any {\"$field\": \"/pointer\"} in data becomes the event's value there (null when absent)."}}, ["type"], "One action; actions run in order, each at most once per run.")
_rule_props = {"name": S("Name shown in the back office.", minLength=1, maxLength=200), "description": {"type": ["string", "null"], "maxLength": 1000, "description": "What it is for."},
    "enabled": B("Only enabled rules start runs (default true). Disabling cancels runs not yet finished."), "trigger": _trigger_in, "conditions": _cond,
    "actions": {"type": "array", "minItems": 1, "maxItems": 20, "items": _action_in, "description": "Actions, in order."},
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Attempts of a failing run before it is dead (default 5); retries follow the jobs' exponential backoff."},
    "metadata": metadata_in}
schemas["AutomationRuleCreate"] = req(_rule_props, ["name", "trigger", "actions"], "A new rule.")
schemas["AutomationRuleUpdate"] = req(_rule_props, [], "Fields to change. Runs already created keep the rule as it was (they snapshot it); a change of trigger, conditions, actions or max_attempts raises version.")
_trigger_out = {"type": "object", "description": "What starts a run.", "properties": {"type": {"type": "string", "enum": ["event", "schedule"], "description": "event or schedule."},
    "event": S("The event type (event triggers)."), "schedule": S("The schedule (schedule triggers)."), "next_run_at": TSN("When the schedule fires next (null when disabled).")}, "required": ["type"], "additionalProperties": False}
schemas["AutomationRule"] = obj({"id": ID("arule"), "object": {"const": "automation_rule", "description": "Always automation_rule."}, "name": S("Name."), "description": SN("Description."),
    "enabled": B("Whether it starts runs."), "trigger": _trigger_out, "conditions": {"type": ["object", "null"], "description": "The condition tree (null: always)."},
    "actions": {"type": "array", "items": {"type": "object"}, "description": "The actions, as saved."}, "max_attempts": {"type": "integer", "description": "Attempts per run."},
    "version": {"type": "integer", "description": "Raised by every change of what the rule does; runs record the version they ran."},
    "metadata": metadata_out, "created_by": SN("Who created it (staff user or API key)."), **ts_pair}, desc="An automation rule: trigger -> conditions -> ordered actions.")
schemas["AutomationRuleList"] = list_of("AutomationRule", "rules")
RUN_STATES = ["pending", "running", "retrying", "succeeded", "skipped", "dead", "canceled"]
_cond_result = {"type": "object", "description": "One node of the condition tree: at (its pointer in the rule), result, and for comparisons field, op, expected, actual and reason (missing, type_mismatch, currency_mismatch).",
    "properties": {"at": S("Pointer of the node in the rule (/conditions/all/0)."), "result": B("Its value."), "field": S("The field compared."), "op": S("The operator."),
                   "expected": {"description": "The rule's value."}, "actual": {"description": "The event's value (null: missing)."}, "reason": S("Why it is false beyond the values.")}, "required": ["at", "result"]}
_action_result = {"type": "object", "description": "One action of a run: index, type, outcome (succeeded, failed, pending, not_run), result (what it did) or error.",
    "properties": {"index": {"type": "integer", "description": "Position in the rule."}, "type": S("The action."), "outcome": {"type": "string", "enum": ["succeeded", "failed", "pending", "not_run"], "description": "Its outcome so far."},
                   "result": {"type": "object", "description": "What it did (tag_customer: customer_id, added, tags; emit_event: event_id; call_webhook: status, idempotency_key; adjust_price: price_id, old_amount, new_amount, bounded)."},
                   "error": SN("The last error (failed)."), "at": TS("When.")}, "required": ["index", "type", "outcome"]}
schemas["AutomationRun"] = obj({"id": ID("arun"), "object": {"const": "automation_run", "description": "Always automation_run."}, "rule_id": ID("arule"), "rule_version": {"type": "integer", "description": "The rule's version the run executes."},
    "trigger": {"type": "string", "enum": ["event", "schedule"], "description": "What started it."}, "event_id": IDN("evt", "The triggering event (event triggers); a run is unique per rule and event."),
    "job_id": IDN("job", "The schedule's job for the period (schedule triggers)."),
    "execution_job_id": IDN("job", "The durable job (kind automation.run) that executes the run: POST /v1/admin/jobs/{id}/retry gives a dead run one more attempt, from its failed action (after the webhook or the data was fixed)."), "event_type": S("The event type (automation.schedule for schedules)."),
    "state": {"type": "string", "enum": RUN_STATES, "description": "pending (queued), running, retrying (a failed attempt; next_attempt_at), succeeded, skipped (the conditions do not hold), dead (a permanent error or attempts used up), canceled (the rule was disabled)."},
    "matched": {"type": ["boolean", "null"], "description": "The conditions' verdict (null until evaluated; evaluated once)."},
    "conditions": {"type": "array", "items": _cond_result, "description": "Each condition's result."}, "actions": {"type": "array", "items": _action_result, "description": "Each action's outcome, in order."},
    "attempts": {"type": "integer", "description": "Attempts made."}, "max_attempts": {"type": "integer", "description": "Attempts allowed."}, "last_error": SN("The last error."),
    "errors": {"type": "array", "items": {"type": "object"}, "description": "One entry per failed attempt: attempt, at, index, type, error, permanent."},
    "next_attempt_at": TSN("When it runs (again) next."), "created_at": TS("Created (with the event)."), "updated_at": TS("Last change."), "completed_at": TSN("When it reached a final state.")}, desc="One run of a rule for one event (or one schedule period).")
schemas["AutomationRunList"] = list_of("AutomationRun", "runs")
_event_in = req({"type": S("An event type of x-events (optional; when it is not the rule's trigger, trigger_matches is false).", maxLength=128), "data": {"type": "object", "description": "The event's data (its payload)."}}, ["data"], "A sample event.")
schemas["AutomationDryRun"] = req({"rule": {"$ref": "#/components/schemas/AutomationRuleCreate"}, "event": _event_in}, ["rule", "event"], "An unsaved rule and a sample event (errors of the rule point at /rule/...).")
schemas["AutomationDryRunSaved"] = req({"event": _event_in}, ["event"], "A sample event for a saved rule.")
schemas["AutomationDryRunReport"] = obj({"object": {"const": "automation_dry_run", "description": "Always automation_dry_run."}, "trigger_matches": B("The sample's type is the rule's trigger (true when either is not an event type)."),
    "matched": B("The conditions hold."), "would_run": B("trigger_matches and matched."), "conditions": {"type": "array", "items": _cond_result, "description": "Each condition's result."},
    "actions": {"type": "array", "description": "What each action would do.", "items": {"type": "object", "properties": {"index": {"type": "integer", "description": "Position."}, "type": S("The action."),
        "would_run": B("It would run."), "external": B("It calls out (an idempotency key is sent)."), "plan": {"type": ["object", "null"], "description": "What it would do: its parameters resolved from the event."},
        "error": SN("Why it could not run for this event (a run would be dead)."), "preview": {"type": "object", "description": "What the database says it would change (adjust_price: old_amount, new_amount)."},
        "preview_error": S("The preview failed.")}, "required": ["index", "type", "would_run", "external", "plan", "error"]}},
    "changes_made": {"const": False, "description": "Always false: a dry run changes nothing."}}, desc="What a rule would do for a sample event.")

TAGS.append(("Admin Automation", "Automation rules (trigger -> conditions -> actions), their run history and dry runs."))
TA = "Admin Automation"
ARULE = P_ID("arule", "automation rule")
op("get", "/v1/admin/automation/rules", "listAutomationRules", TA, "List automation rules", "admin", [ok("200", "AutomationRuleList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, qp("enabled", "Only enabled (true) or disabled (false) rules.", {"type": "string", "enum": ["true", "false"]}),
           qp("event", "Only rules triggered by this event type.", {"type": "string", "minLength": 1, "maxLength": 128}), P_INM], perm="automation:read")
op("post", "/v1/admin/automation/rules", "createAutomationRule", TA, "Create an automation rule", "admin", [ok("201", "AutomationRule", "The rule.")], body="AutomationRuleCreate", perm="automation:write",
   desc="Validated whole at save time: 422 validation-failed with one error per problem, its pointer inside the rule (/trigger/event, /conditions/any/0/value, /actions/1/params/tags/0). Referenced webhooks, variants and price lists must exist (422 not_found).")
op("get", "/v1/admin/automation/rules/{id}", "getAutomationRule", TA, "One automation rule", "admin", [ok("200", "AutomationRule", headers=H_ETAG), NOTMOD], params=[ARULE, P_INM], perm="automation:read")
op("patch", "/v1/admin/automation/rules/{id}", "updateAutomationRule", TA, "Update an automation rule", "admin", [ok("200", "AutomationRule", "The rule.")], body="AutomationRuleUpdate",
   params=[ARULE, {**P_IFMATCH, "description": "ETag the change is based on; 412 when the rule changed since."}], perm="automation:write")
op("delete", "/v1/admin/automation/rules/{id}", "deleteAutomationRule", TA, "Delete an automation rule", "admin", [ok("204", desc="Deleted, with its schedule and run history; queued runs do nothing.")], params=[ARULE], perm="automation:write")
op("get", "/v1/admin/automation/rules/{id}/runs", "listAutomationRuns", TA, "A rule's run history", "admin", [ok("200", "AutomationRunList", headers=H_ETAG), NOTMOD],
   params=[ARULE, P_LIMIT, P_CURSOR, qp("state", "Only runs in this state.", {"type": "string", "enum": RUN_STATES}), P_INM], perm="automation:read",
   desc="Newest first; 404 for an unknown rule.")
op("post", "/v1/admin/automation/rules/dry-run", "dryRunAutomationRule", TA, "Dry-run an unsaved rule", "admin", [ok("200", "AutomationDryRunReport", "What the rule would do; nothing changed.")], body="AutomationDryRun", perm="automation:read",
   desc="The rule is validated as on creation (errors at /rule/...); the sample event's type, if given, must be in the catalogue (/event/type).")
op("post", "/v1/admin/automation/rules/{id}/dry-run", "dryRunSavedAutomationRule", TA, "Dry-run a saved rule", "admin", [ok("200", "AutomationDryRunReport", "What the rule would do; nothing changed.")], body="AutomationDryRunSaved", params=[ARULE], perm="automation:read")
