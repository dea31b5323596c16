#!/usr/bin/env python3
"""generate.py: writes openapi/openapi.json, the HTTP contract, from the compact definitions below.
Edit this file (and description.md), run it, commit both. The tests validate every response against the
generated document and fail when the router and the document disagree."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ID = lambda p: {"type": "string", "pattern": f"^{p}_[0-9a-hjkmnp-tv-z]{{26}}$", "description": f"Id ({p}_ followed by 26 lower-case base32 characters, time-ordered)."}
TS = lambda d: {"type": "string", "format": "date-time", "description": d}
TSN = lambda d: {"type": ["string", "null"], "format": "date-time", "description": d}
S = lambda d, **kw: {"type": "string", "description": d, **kw}
SN = lambda d, **kw: {"type": ["string", "null"], "description": d, **kw}
B = lambda d: {"type": "boolean", "description": d}
ROLES = ["owner", "admin", "catalog_manager", "order_manager", "support", "read_only"]
PERMS = ["staff:read","staff:write","api_keys:read","api_keys:write","customers:read","customers:write","sales_channels:read","sales_channels:write","catalog:read","catalog:write","inventory:read","inventory:write","orders:read","orders:write","promotions:read","promotions:write","settings:read","settings:write","plugins:read","plugins:write","webhooks:read","webhooks:write","events:read","automation:read","automation:write"]
SLUGS = [("invalid-json",400),("invalid-parameter",400),("bad-request",400),("unauthorized",401),("invalid-token",401),("invalid-credentials",401),("forbidden",403),("not-found",404),("method-not-allowed",405),("not-acceptable",406),("conflict",409),("already-exists",409),("insufficient-stock",409),("invalid-state",409),("payment-declined",402),("payment-provider-error",502),("plugin-failed",502),("plugin-timeout",504),("plugin-degraded",503),("idempotency-key-in-use",409),("precondition-failed",412),("payload-too-large",413),("uri-too-long",414),("unsupported-media-type",415),("unknown-field",422),("validation-failed",422),("idempotency-key-reused",422),("precondition-required",428),("rate-limited",429),("headers-too-large",431),("internal",500),("dependency-unavailable",503),("busy",503),("request-timeout",503),("shutting-down",503)]

def obj(props, required=None, desc=None, extra=None):
    o = {"type": "object", "additionalProperties": False, "properties": props, "required": list(props.keys()) if required is None else required}
    if desc: o["description"] = desc
    if extra: o.update(extra)
    return o

metadata_in = {"type": ["object", "null"], "description": "Free-form key-value pairs (Stripe's shape): at most 50 keys of 1 to 40 characters; values are strings of at most 500 characters, numbers, booleans or null. In a PATCH the object is merged into the stored one and a key set to null is deleted; null clears all metadata.",
               "maxProperties": 50, "propertyNames": {"minLength": 1, "maxLength": 40},
               "additionalProperties": {"type": ["string", "number", "boolean", "null"], "maxLength": 500}}
metadata_out = {"type": "object", "description": "Free-form key-value pairs set by the API user.", "additionalProperties": {"type": ["string", "number", "boolean"]}}
name = lambda d: {"type": ["string", "null"], "maxLength": 100, "description": d}
phone_in = {"type": ["string", "null"], "maxLength": 32, "description": "Phone number: digits with optional leading +, spaces, dashes, dots and parentheses (4 to 15 digits)."}
email_in = {"type": "string", "format": "email", "maxLength": 254, "description": "Email address; stored lower-case. Unique among customer accounts (case-insensitively)."}
password_in = {"type": "string", "minLength": 8, "maxLength": 256, "description": "Password, at least 8 characters. Stored only as an argon2id hash."}
country = {"type": "string", "minLength": 2, "maxLength": 2, "description": "ISO 3166-1 alpha-2 country code; any case on input, stored and returned lower-case."}

schemas = {}
schemas["ProblemFieldError"] = {"type": "object", "additionalProperties": False, "description": "One invalid field (body) or parameter (query, path, header).",
    "properties": {"pointer": S("JSON pointer (RFC 6901) to the invalid field of the request body, e.g. /email."),
                   "parameter": S("Name of the invalid query, path or header parameter."),
                   "code": S("Machine-readable reason: required, invalid_type, too_long, too_short, blank, invalid_format, invalid_value, invalid_characters, out_of_range, invalid_length, unknown_field, unknown_parameter, repeated, invalid_cursor, taken, weak_password, incorrect, invalid_token, not_allowed, not_found, invalid_metadata."),
                   "detail": S("Human-readable explanation.")},
    "required": ["code", "detail"], "oneOf": [{"required": ["pointer"]}, {"required": ["parameter"]}]}
schemas["Problem"] = obj({
    "type": S("Stable problem type URI: the configured problem_base_url followed by a slug. Slugs and statuses: " + ", ".join(f"{s} ({c})" for s, c in SLUGS) + ".", format="uri"),
    "title": S("Short summary of the problem type."),
    "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status code, repeated."},
    "detail": S("Explanation of this occurrence, safe to show to a user."),
    "instance": S("The request path."),
    "request_id": S("Id of the request, also in the X-Request-Id header; quote it when reporting problems."),
    "errors": {"type": "array", "maxItems": 16, "items": {"$ref": "#/components/schemas/ProblemFieldError"}, "description": "Every invalid field or parameter (empty when the problem is not about input)."},
}, desc="An RFC 9457 problem document (application/problem+json). Bodies never contain SQL, file paths or library names.",
   extra={"x-problem-types": {s: c for s, c in SLUGS}})
schemas["Health"] = obj({"status": {"const": "ok", "description": "Always ok: the process serves requests."}}, desc="Liveness.")
schemas["Ready"] = obj({"status": {"const": "ready", "description": "Ready to serve."}, "database": {"const": "ok", "description": "The database answered."},
                        "migrations": obj({"applied": {"type": "integer", "description": "Migrations recorded in schema_migrations."}, "expected": {"type": "integer", "description": "Migrations this binary carries."}}, desc="Schema state.")}, desc="Readiness: the database is reachable and the schema is current.")
schemas["Customer"] = obj({
    "id": ID("cus"), "object": {"const": "customer", "description": "Always customer."},
    "email": S("Email address (lower-case)."), "first_name": SN("First name."), "last_name": SN("Last name."), "phone": SN("Phone number."),
    "has_account": B("True for customers who registered (can log in); false for guests created by checkout."),
    "metadata": metadata_out, "created_at": TS("When the customer was created (UTC)."), "updated_at": TS("When the customer last changed (UTC).")}, desc="A customer.")
schemas["Address"] = obj({
    "id": ID("addr"), "object": {"const": "address", "description": "Always address."}, "customer_id": ID("cus"),
    "first_name": SN("First name."), "last_name": SN("Last name."), "company": SN("Company."), "address_1": S("First address line."), "address_2": SN("Second address line."),
    "city": S("City."), "province": SN("Province, state or region."), "postal_code": SN("Postal code."), "country_code": {**country, "description": "ISO 3166-1 alpha-2 country code, lower-case."}, "phone": SN("Phone number."),
    "is_default_shipping": B("The customer's default shipping address (at most one)."), "is_default_billing": B("The customer's default billing address (at most one)."),
    "metadata": metadata_out, "created_at": TS("When the address was created."), "updated_at": TS("When the address last changed.")}, desc="An address of a customer's address book.")
schemas["User"] = obj({
    "id": ID("usr"), "object": {"const": "user", "description": "Always user."}, "email": S("Email address (login)."),
    "role": {"type": "string", "enum": ROLES, "description": "Role; it decides the permissions (see the x-permission of each operation)."},
    "first_name": SN("First name."), "last_name": SN("Last name."), "disabled": B("Disabled users cannot log in and their sessions are ended."),
    "created_at": TS("When the user was created."), "updated_at": TS("When the user last changed.")}, desc="A staff user of the back office.")
key_props = {
    "id": ID("key"), "object": {"const": "api_key", "description": "Always api_key."},
    "type": {"type": "string", "enum": ["publishable", "secret"], "description": "publishable: identifies a storefront and its sales channel, public by design. secret: an integration's credential with scopes."},
    "title": S("Name shown in the back office."), "redacted": S("The token with its middle hidden (pk_...wxyz / sk_...wxyz), for lists."),
    "token": SN("The token. Always shown for publishable keys; for secret keys only in the response that created it (null afterwards: only a SHA-256 is stored)."),
    "scopes": {"type": "array", "items": {"type": "string", "enum": PERMS}, "description": "Permissions of a secret key (empty for publishable keys)."},
    "sales_channel_id": {"type": ["string", "null"], "pattern": "^sc_[0-9a-hjkmnp-tv-z]{26}$", "description": "Sales channel of a publishable key (null for secret keys)."},
    "created_by": SN("Id of the staff user or API key that created it, or cli / seed."),
    "created_at": TS("When the key was created."), "last_used_at": TSN("Last use (recorded at most once a minute)."), "revoked_at": TSN("When the key was revoked; revoked keys authenticate nothing.")}
schemas["ApiKey"] = obj(key_props, desc="An API key.")
schemas["ApiKeyCreated"] = obj({**key_props, "token": S("The token. For a secret key this is the only time it is shown: store it now.")}, desc="A new API key, with its token.")
schemas["TokenResponse"] = obj({
    "token_type": {"const": "Bearer", "description": "Always Bearer."},
    "access_token": S("A JWT for the Authorization header (audience souq:store for customers, souq:admin for staff)."),
    "expires_in": {"type": "integer", "minimum": 60, "maximum": 900, "description": "Seconds until the access token expires."},
    "refresh_token": S("Opaque token for /auth/refresh; rotated on every use (a rotated token presented again ends the session).")}, desc="Tokens of a session (RFC 6749 section 5.1 shape).")
def list_of(ref, what):
    return obj({"object": {"const": "list", "description": "Always list."},
                "data": {"type": "array", "maxItems": 100, "items": {"$ref": f"#/components/schemas/{ref}"}, "description": f"The {what}, newest first."},
                "has_more": B("Whether another page follows."),
                "next_cursor": SN("Pass as cursor to get the next page; null on the last page.")}, desc=f"A page of {what}.")
schemas["CustomerList"] = list_of("Customer", "customers")
schemas["AddressList"] = list_of("Address", "addresses")
schemas["UserList"] = list_of("User", "staff users")
schemas["ApiKeyList"] = list_of("ApiKey", "API keys")
# requests
req = lambda props, required, desc: obj(props, required, desc)
schemas["LoginRequest"] = req({"email": S("Email address (case-insensitive).", maxLength=254), "password": S("Password.", minLength=1, maxLength=256)}, ["email", "password"], "Email and password.")
schemas["RefreshRequest"] = req({"refresh_token": S("A refresh token from a token response.", minLength=1, maxLength=128)}, ["refresh_token"], "A refresh token.")
schemas["CustomerCreate"] = req({"email": email_in, "password": password_in, "first_name": name("First name."), "last_name": name("Last name."), "phone": phone_in, "metadata": metadata_in}, ["email", "password"], "A new customer account.")
schemas["CustomerUpdate"] = req({"email": {**email_in, "description": "New email address (409 already-exists if taken)."}, "first_name": name("First name; null clears it."), "last_name": name("Last name; null clears it."), "phone": {**phone_in, "description": "Phone number; null clears it."}, "metadata": metadata_in}, [], "Fields to change; absent fields stay as they are.")
schemas["PasswordChange"] = req({"current_password": S("The current password.", maxLength=256), "new_password": password_in}, ["current_password", "new_password"], "A password change; every other session of the customer ends.")
schemas["PasswordResetRequest"] = req({"email": email_in}, ["email"], "Starts a password reset.")
schemas["PasswordResetConfirm"] = req({"token": S("The reset token from the customer.password_reset_requested event (sent by the notification provider).", maxLength=128), "password": password_in}, ["token", "password"], "Completes a password reset; every session of the customer ends.")
addr_in = {"first_name": name("First name."), "last_name": name("Last name."), "company": {"type": ["string", "null"], "maxLength": 200, "description": "Company."},
           "address_1": {"type": "string", "minLength": 0, "maxLength": 200, "description": "First address line."}, "address_2": {"type": ["string", "null"], "maxLength": 200, "description": "Second address line."},
           "city": {"type": "string", "maxLength": 100, "description": "City."}, "province": {"type": ["string", "null"], "maxLength": 100, "description": "Province, state or region."},
           "postal_code": {"type": ["string", "null"], "maxLength": 20, "description": "Postal code."}, "country_code": country, "phone": phone_in,
           "is_default_shipping": B("Make this the default shipping address (the previous default loses the flag)."),
           "is_default_billing": B("Make this the default billing address (the previous default loses the flag)."), "metadata": metadata_in}
schemas["AddressCreate"] = req(addr_in, ["address_1", "city", "country_code"], "A new address (at most 50 per customer).")
schemas["AddressUpdate"] = req(addr_in, [], "Fields to change; absent fields stay as they are.")
schemas["UserCreate"] = req({"email": {**email_in, "description": "Email address (login); unique among staff."}, "password": password_in, "role": {"type": "string", "enum": ROLES, "description": "Role. Only owners grant owner."}, "first_name": name("First name."), "last_name": name("Last name.")}, ["email", "password", "role"], "A new staff user.")
schemas["UserUpdate"] = req({"role": {"type": "string", "enum": ROLES, "description": "New role. Nobody changes their own; only owners grant or change owners; an active owner always remains."}, "first_name": name("First name."), "last_name": name("Last name."), "disabled": B("Disable (true) or re-enable (false); disabling ends the user's sessions at once. Nobody disables themself.")}, [], "Fields to change.")
schemas["ApiKeyCreate"] = req({"type": {"type": "string", "enum": ["publishable", "secret"], "description": "Kind of key."}, "title": S("Name shown in the back office.", minLength=1, maxLength=256),
    "sales_channel_id": S("Publishable keys only: the sales channel the key's storefront sells in (default: the default channel).", pattern="^sc_[0-9a-hjkmnp-tv-z]{26}$"),
    "scopes": {"type": "array", "maxItems": 64, "items": {"type": "string", "enum": PERMS}, "description": "Secret keys only (required, at least one): the permissions the key grants."}}, ["type", "title"], "A new API key.")

H_ETAG = {"ETag": {"description": "Strong entity tag of the body (first 128 bits of its SHA-256, hex); send it back in If-None-Match (or If-Match where supported).", "schema": {"type": "string"}}}
H_RID = {"X-Request-Id": {"description": "The request id (the client's, when it sent a well-formed one).", "schema": {"type": "string"}}}

def ok(code, ref=None, desc="OK", headers=None, mt="application/json", schema=None):
    r = {"description": desc, "headers": {**H_RID, **(headers or {})}}
    if ref or schema:
        r["content"] = {mt: {"schema": schema or {"$ref": f"#/components/schemas/{ref}"}}}
    return code, r

ERR = {"4XX": {"$ref": "#/components/responses/Problem"}, "5XX": {"$ref": "#/components/responses/Problem"}}
NOTMOD = ("304", {"description": "Not modified: the If-None-Match ETag is current (no body)."})
P_LIMIT = {"name": "limit", "in": "query", "required": False, "description": "Page size, 1 to 100 (default 20).", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}
P_CURSOR = {"name": "cursor", "in": "query", "required": False, "description": "The next_cursor of the previous page (opaque, signed).", "schema": {"type": "string"}}
P_Q = {"name": "q", "in": "query", "required": False, "description": "Only customers whose email starts with this text (case-insensitive, 1 to 254 characters).", "schema": {"type": "string", "minLength": 1, "maxLength": 254}}
P_TYPE = {"name": "type", "in": "query", "required": False, "description": "Only keys of this type.", "schema": {"type": "string", "enum": ["publishable", "secret"]}}
P_ID = lambda p, what: {"name": "id", "in": "path", "required": True, "description": f"Id of the {what}.", "schema": {"type": "string", "pattern": f"^{p}_[0-9a-hjkmnp-tv-z]{{26}}$"}}
P_IFMATCH = {"name": "If-Match", "in": "header", "required": False, "description": "ETag of the representation the change is based on; 412 precondition-failed if the customer changed since.", "schema": {"type": "string"}}
P_INM = {"name": "If-None-Match", "in": "header", "required": False, "description": "ETags the client has; 304 when one is current.", "schema": {"type": "string"}}

SEC = {"none": [], "store": [{"publishableKey": []}], "customer": [{"publishableKey": [], "customerToken": []}], "admin": [{"staffToken": []}, {"secretKey": []}]}
paths = {}
TAGS = [("System", "Health, readiness, metrics and this document."), ("Store Auth", "Customer sessions (publishable key required)."), ("Store Customers", "Registration, the customer's profile and address book."), ("Admin Auth", "Staff sessions."), ("Admin Users", "Staff users and roles."), ("Admin API Keys", "Publishable and secret API keys."), ("Admin Customers", "The customer directory.")]
def op(method, path, opid, tag, summary, auth, responses, body=None, params=None, perm="__none__", desc=None):
    o = {"operationId": opid, "summary": summary, "tags": [tag], "security": SEC[auth], "x-auth": auth}
    if desc: o["description"] = desc
    if auth == "admin": o["x-permission"] = None if perm == "__none__" else perm
    if params: o["parameters"] = params
    if body: o["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    o["responses"] = {**dict(responses), **ERR}
    paths.setdefault(path, {})[method] = o

RL = " Failed attempts are throttled per account and per client address (429 rate-limited with Retry-After)."
op("get", "/healthz", "getHealth", "System", "Liveness (does not touch the database)", "none", [ok("200", "Health")])
op("get", "/readyz", "getReady", "System", "Readiness: database reachable and migrations current", "none", [ok("200", "Ready")], desc="Answers 503 dependency-unavailable (with Retry-After) while the database is unreachable or the schema is behind.")
op("get", "/metrics", "getMetrics", "System", "Prometheus metrics", "none", [ok("200", mt="text/plain", schema={"type": "string"}, desc="Prometheus text format 0.0.4: requests by route and status, latency histograms, database connection state, round trips, plugin calls, failures by reason, breaker state and memory.")], desc="Requires Authorization: Bearer <metrics_token> when metrics_token is configured.")
op("get", "/openapi.json", "getOpenApi", "System", "This document", "none", [ok("200", schema={"type": "object"}, desc="The OpenAPI document.", headers=H_ETAG)])

op("post", "/v1/store/auth/token", "storeLogin", "Store Auth", "Log a customer in", "store", [ok("200", "TokenResponse", "Tokens.")], body="LoginRequest", desc="Wrong email and wrong password answer the same 401 invalid-credentials." + RL)
op("post", "/v1/store/auth/refresh", "storeRefresh", "Store Auth", "Rotate a customer's refresh token", "store", [ok("200", "TokenResponse", "New tokens; the old refresh token is spent.")], body="RefreshRequest")
op("post", "/v1/store/auth/logout", "storeLogout", "Store Auth", "End the session of a refresh token", "store", [ok("204", desc="Done (also for unknown tokens, as RFC 7009).")], body="RefreshRequest")
op("post", "/v1/store/auth/password-reset", "storePasswordResetRequest", "Store Auth", "Start a password reset", "store", [ok("202", desc="Accepted, whether or not the email has an account. For an account, a customer.password_reset_requested event with a one-hour single-use token is written to the outbox.")], body="PasswordResetRequest", desc="Throttled to 3 requests per account and 10 per client address per hour (429).")
op("post", "/v1/store/auth/password-reset/confirm", "storePasswordResetConfirm", "Store Auth", "Set a new password with a reset token", "store", [ok("204", desc="Password set; every session of the customer ended.")], body="PasswordResetConfirm")
op("post", "/v1/store/customers", "storeRegister", "Store Customers", "Register a customer account", "store", [ok("201", "Customer", "The new customer.")], body="CustomerCreate", desc="409 already-exists (pointer /email) when the email has an account. Writes customer.created to the outbox.")
op("get", "/v1/store/customers/me", "storeGetMe", "Store Customers", "The logged-in customer", "customer", [ok("200", "Customer", headers=H_ETAG), NOTMOD], params=[P_INM])
op("patch", "/v1/store/customers/me", "storeUpdateMe", "Store Customers", "Update the logged-in customer", "customer", [ok("200", "Customer", "The updated customer.")], body="CustomerUpdate", params=[P_IFMATCH], desc="Writes customer.updated to the outbox.")
op("post", "/v1/store/customers/me/password", "storeChangePassword", "Store Customers", "Change the password", "customer", [ok("204", desc="Changed; the customer's other sessions ended.")], body="PasswordChange", desc="422 (pointer /current_password) when the current password is wrong.")
op("get", "/v1/store/customers/me/addresses", "storeListAddresses", "Store Customers", "The customer's addresses", "customer", [ok("200", "AddressList", headers=H_ETAG), NOTMOD], params=[P_LIMIT, P_CURSOR, P_INM])
op("post", "/v1/store/customers/me/addresses", "storeCreateAddress", "Store Customers", "Add an address", "customer", [ok("201", "Address", "The new address.")], body="AddressCreate", desc="409 conflict past 50 addresses.")
AID = P_ID("addr", "address")
op("get", "/v1/store/customers/me/addresses/{id}", "storeGetAddress", "Store Customers", "One of the customer's addresses", "customer", [ok("200", "Address", headers=H_ETAG), NOTMOD], params=[AID, P_INM], desc="Another customer's address is a 404, as a missing one.")
op("patch", "/v1/store/customers/me/addresses/{id}", "storeUpdateAddress", "Store Customers", "Update an address", "customer", [ok("200", "Address", "The updated address.")], body="AddressUpdate", params=[AID])
op("delete", "/v1/store/customers/me/addresses/{id}", "storeDeleteAddress", "Store Customers", "Delete an address", "customer", [ok("204", desc="Deleted.")], params=[AID])

op("post", "/v1/admin/auth/token", "adminLogin", "Admin Auth", "Log a staff user in", "none", [ok("200", "TokenResponse", "Tokens.")], body="LoginRequest", desc="Disabled users get the same 401 invalid-credentials." + RL)
op("post", "/v1/admin/auth/refresh", "adminRefresh", "Admin Auth", "Rotate a staff refresh token", "none", [ok("200", "TokenResponse", "New tokens.")], body="RefreshRequest")
op("post", "/v1/admin/auth/logout", "adminLogout", "Admin Auth", "End the session of a refresh token", "none", [ok("204", desc="Done; the session's access tokens stop working at once.")], body="RefreshRequest")
op("get", "/v1/admin/users/me", "adminGetMe", "Admin Users", "The logged-in staff user", "admin", [ok("200", "User", headers=H_ETAG), NOTMOD], params=[P_INM], perm=None, desc="Any staff user; API keys get 403.")
op("get", "/v1/admin/users", "adminListUsers", "Admin Users", "List staff users", "admin", [ok("200", "UserList", headers=H_ETAG), NOTMOD], params=[P_LIMIT, P_CURSOR, P_INM], perm="staff:read")
op("post", "/v1/admin/users", "adminCreateUser", "Admin Users", "Create a staff user", "admin", [ok("201", "User", "The new user.")], body="UserCreate", perm="staff:write", desc="403 when the caller may not grant the role; 409 already-exists when the email is taken.")
UID = P_ID("usr", "staff user")
op("get", "/v1/admin/users/{id}", "adminGetUser", "Admin Users", "One staff user", "admin", [ok("200", "User", headers=H_ETAG), NOTMOD], params=[UID, P_INM], perm="staff:read")
op("patch", "/v1/admin/users/{id}", "adminUpdateUser", "Admin Users", "Change a staff user's role, names or status", "admin", [ok("200", "User", "The updated user.")], body="UserUpdate", params=[UID], perm="staff:write", desc="409 for changes to one's own role or status, or that would leave no active owner; 403 when an admin touches an owner.")
op("get", "/v1/admin/api-keys", "adminListApiKeys", "Admin API Keys", "List API keys", "admin", [ok("200", "ApiKeyList", headers=H_ETAG), NOTMOD], params=[P_LIMIT, P_CURSOR, P_TYPE, P_INM], perm="api_keys:read")
op("post", "/v1/admin/api-keys", "adminCreateApiKey", "Admin API Keys", "Create an API key", "admin", [ok("201", "ApiKeyCreated", "The new key with its token (Cache-Control: no-store).")], body="ApiKeyCreate", perm="api_keys:write")
KID = P_ID("key", "API key")
op("get", "/v1/admin/api-keys/{id}", "adminGetApiKey", "Admin API Keys", "One API key", "admin", [ok("200", "ApiKey", headers=H_ETAG), NOTMOD], params=[KID, P_INM], perm="api_keys:read")
op("post", "/v1/admin/api-keys/{id}/revoke", "adminRevokeApiKey", "Admin API Keys", "Revoke an API key", "admin", [ok("200", "ApiKey", "The revoked key (revoking again changes nothing).")], params=[KID], perm="api_keys:write", desc="Takes effect on every node at once (cached publishable keys are dropped through NOTIFY).")
op("get", "/v1/admin/customers", "adminListCustomers", "Admin Customers", "List customers", "admin", [ok("200", "CustomerList", headers=H_ETAG), NOTMOD], params=[P_LIMIT, P_CURSOR, P_Q, P_INM], perm="customers:read")
op("get", "/v1/admin/customers/{id}", "adminGetCustomer", "Admin Customers", "One customer (guests included)", "admin", [ok("200", "Customer", headers=H_ETAG), NOTMOD], params=[P_ID("cus", "customer"), P_INM], perm="customers:read")


# ---- catalog resources (core/catalog.c, migrations/0004_catalog_api.sql) ------------------------------------------
IDN = lambda p, d: {"type": ["string", "null"], "pattern": f"^{p}_[0-9a-hjkmnp-tv-z]{{26}}$", "description": d}
TSS = lambda d: {"type": "string", "format": "date-time", "description": d}
ts_pair = {"created_at": TS("When it was created."), "updated_at": TS("When it last changed.")}
cur_code = {"type": "string", "minLength": 3, "maxLength": 3, "description": "ISO 4217 currency code; any case on input, lower-case in responses."}
handle_in = {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 128, "description": "URL handle: lower-case letters and digits separated by single dashes; unique."}
schemas["SalesChannel"] = obj({"id": ID("sc"), "object": {"const": "sales_channel", "description": "Always sales_channel."},
    "name": S("Name."), "description": SN("Description."), "is_default": B("The store's default channel (new publishable keys and products use it)."),
    "disabled": B("Disabled channels sell nothing."), "default_region_id": IDN("reg", "Region whose currency storefront prices use when a request names none."),
    "locations": {"type": "array", "description": "Stock locations the channel sells from, in order of preference.", "items": obj({"location_id": ID("sloc"), "priority": {"type": "integer", "description": "Lower sells first."}})},
    "metadata": metadata_out, **ts_pair}, desc="A sales channel: a web shop, a mobile app, a POS, a marketplace, a B2B portal.")
schemas["Region"] = obj({"id": ID("reg"), "object": {"const": "region", "description": "Always region."}, "name": S("Name."),
    "currency_code": S("Currency of the region (lower-case ISO 4217)."), "tax_inclusive": B("Prices in this region include tax."),
    "countries": {"type": "array", "items": {"type": "string"}, "description": "Countries (lower-case ISO 3166-1 alpha-2); a country belongs to one region."},
    "metadata": metadata_out, **ts_pair}, desc="A region: countries sharing a currency and a tax treatment.")
schemas["StockLocation"] = obj({"id": ID("sloc"), "object": {"const": "stock_location", "description": "Always stock_location."}, "name": S("Name."),
    "address_1": SN("Street address."), "city": SN("City."), "postal_code": SN("Postal code."), "country_code": SN("Country (lower-case)."),
    "is_active": B("Inactive locations are not reserved from."), "metadata": metadata_out, **ts_pair}, desc="A warehouse, store or other place stock is kept.")
schemas["CustomerGroup"] = obj({"id": ID("cgrp"), "object": {"const": "customer_group", "description": "Always customer_group."}, "name": S("Name (unique)."),
    "customer_count": {"type": "integer", "description": "Members."}, "metadata": metadata_out, **ts_pair}, desc="A group of customers (for price lists and promotions).")
schemas["Category"] = obj({"id": ID("pcat"), "object": {"const": "category", "description": "Always category."}, "name": S("Name."), "handle": S("URL handle (unique)."),
    "description": SN("Description."), "parent_id": IDN("pcat", "Parent category; null at the top."), "rank": {"type": "integer", "description": "Order among siblings (lower first)."},
    "is_active": B("Inactive categories are hidden from storefronts."), "metadata": metadata_out, **ts_pair}, desc="A node of the category tree.")
rules_out = {"type": ["object", "null"], "additionalProperties": False, "description": "Rules of a rule collection (null for manual ones): products matching any tag, any type and the base-price range belong to it.",
    "properties": {"tags": {"type": "array", "items": {"type": "string"}, "description": "Any of these tags."}, "types": {"type": "array", "items": {"type": "string"}, "description": "Any of these product types."},
                   "currency_code": SN("Currency of the price range."), "price_min": {"type": ["integer", "null"], "description": "Lowest base price, minor units."},
                   "price_max": {"type": ["integer", "null"], "description": "Highest base price, minor units."}},
    "required": ["tags", "types", "currency_code", "price_min", "price_max"]}
schemas["Collection"] = obj({"id": ID("pcol"), "object": {"const": "collection", "description": "Always collection."}, "title": S("Title."), "handle": S("URL handle (unique)."),
    "description": SN("Description."), "kind": {"type": "string", "enum": ["manual", "rule"], "description": "manual: products are added by hand; rule: products match the rules."},
    "rules": rules_out, "product_count": {"type": ["integer", "null"], "description": "Products of a manual collection (null for rule collections)."}, "metadata": metadata_out, **ts_pair}, desc="A curated or rule-based group of products.")
rule_map = lambda d: {"type": "object", "additionalProperties": False, "description": d,
    "properties": {k: {"type": "array", "items": {"type": "string"}, "description": f"Ids of the {k.replace('_', ' ')}s the list applies to."} for k in ["sales_channel", "region", "customer_group", "company"]}}
schemas["PriceList"] = obj({"id": ID("plist"), "object": {"const": "price_list", "description": "Always price_list."}, "title": S("Title."), "description": SN("Description."),
    "kind": {"type": "string", "enum": ["sale", "override"], "description": "sale: applies when lower than the base price; override: always wins (negotiated, group, channel, company prices)."},
    "status": {"type": "string", "enum": ["draft", "active"], "description": "Only active lists apply."}, "priority": {"type": "integer", "description": "Higher wins among overrides; breaks ties among equal sales."},
    "starts_at": TSN("Start (inclusive); null = open."), "ends_at": TSN("End (exclusive); null = open."),
    "percent_off_bp": {"type": ["integer", "null"], "description": "A percentage list: basis points (1500 = 15%) off the base price of its products; null for lists of prices."},
    "rules": rule_map("Conditions: the list applies when the context matches one value of every attribute present (channel, region, customer group, company)."),
    "product_ids": {"type": "array", "items": {"type": "string"}, "description": "Products a percentage list applies to (all when empty)."},
    "price_count": {"type": "integer", "description": "Prices in the list."}, "metadata": metadata_out, **ts_pair}, desc="A price list. The resolution rules are in core/pricing.h.")
for n, item, what in [("SalesChannelList", "SalesChannel", "sales channels"), ("RegionList", "Region", "regions"), ("StockLocationList", "StockLocation", "stock locations"),
                      ("CustomerGroupList", "CustomerGroup", "customer groups"), ("CategoryList", "Category", "categories"), ("CollectionList", "Collection", "collections"), ("PriceListList", "PriceList", "price lists")]:
    schemas[n] = list_of(item, what)
idin = lambda d: {"type": ["string", "null"], "description": d, "maxLength": 40}
def both(name, props, required, desc):
    schemas[name + "Create"] = req(props, required, desc)
    schemas[name + "Update"] = req({k: v for k, v in props.items() if k not in ("kind",)}, [], "Fields to change; absent fields stay as they are. Send If-Match to refuse a stale change (412).")
both("SalesChannel", {"name": S("Name.", minLength=1, maxLength=256), "description": SN("Description.", maxLength=1000), "default_region_id": idin("Default region."),
     "disabled": B("Disable or enable."), "metadata": metadata_in}, ["name"], "A new sales channel.")
both("Region", {"name": S("Name.", minLength=1, maxLength=256), "currency_code": cur_code, "tax_inclusive": B("Prices include tax."),
     "countries": {"type": "array", "maxItems": 250, "items": country, "description": "Countries; replaces the list when present (409 if one belongs to another region)."}, "metadata": metadata_in}, ["name", "currency_code"], "A new region.")
both("StockLocation", {"name": S("Name.", minLength=1, maxLength=256), "address_1": SN("Street.", maxLength=200), "city": SN("City.", maxLength=100),
     "postal_code": SN("Postal code.", maxLength=20), "country_code": {**country, "type": ["string", "null"]}, "is_active": B("Active."), "metadata": metadata_in}, ["name"], "A new stock location.")
both("CustomerGroup", {"name": S("Name (unique).", minLength=1, maxLength=256), "metadata": metadata_in}, ["name"], "A new customer group.")
both("Category", {"name": S("Name.", minLength=1, maxLength=256), "handle": handle_in, "description": SN("Description.", maxLength=4096), "parent_id": idin("Parent category (a cycle is refused, 422)."),
     "rank": {"type": "integer", "description": "Order among siblings."}, "is_active": B("Active."), "metadata": metadata_in}, ["name", "handle"], "A new category.")
rules_in = {"type": ["object", "null"], "additionalProperties": False, "description": "Rules (kind rule only); replaced whole when present.",
    "properties": {"tags": {"type": "array", "maxItems": 50, "items": {"type": "string"}, "description": "Any of these tags."}, "types": {"type": "array", "maxItems": 50, "items": {"type": "string"}, "description": "Any of these types."},
                   "currency_code": {**cur_code, "type": ["string", "null"]}, "price_min": {"type": ["integer", "null"], "minimum": 0, "description": "Lowest base price (needs currency_code)."},
                   "price_max": {"type": ["integer", "null"], "minimum": 0, "description": "Highest base price (needs currency_code)."}}}
both("Collection", {"title": S("Title.", minLength=1, maxLength=256), "handle": handle_in, "description": SN("Description.", maxLength=4096), "rules": rules_in,
     "kind": {"type": "string", "enum": ["manual", "rule"], "description": "Kind (create only; default manual)."}, "metadata": metadata_in}, ["title", "handle"], "A new collection.")
both("PriceList", {"title": S("Title.", minLength=1, maxLength=256), "description": SN("Description.", maxLength=4096), "kind": {"type": "string", "enum": ["sale", "override"], "description": "Kind (create only)."},
     "status": {"type": "string", "enum": ["draft", "active"], "description": "Status (default active)."}, "priority": {"type": "integer", "minimum": -1000, "maximum": 1000, "description": "Priority."},
     "starts_at": {"type": ["string", "null"], "format": "date-time", "description": "Start, RFC 3339 with a zone."}, "ends_at": {"type": ["string", "null"], "format": "date-time", "description": "End (after starts_at)."},
     "percent_off_bp": {"type": ["integer", "null"], "minimum": 1, "maximum": 10000, "description": "Basis points off the base price."},
     "rules": rule_map("Conditions; replaced whole when present."), "product_ids": {"type": "array", "maxItems": 1000, "items": {"type": "string"}, "description": "Scope of a percentage list; replaced when present."}, "metadata": metadata_in},
     ["title", "kind"], "A new price list.")
schemas["ChannelLocation"] = req({"location_id": S("The stock location.", maxLength=40), "priority": {"type": "integer", "minimum": -1000, "maximum": 1000, "description": "Lower sells first (default 0)."}}, ["location_id"], "Adds a location to the channel, or changes its priority.")
schemas["MemberChange"] = req({"add": {"type": "array", "maxItems": 1000, "items": {"type": "string"}, "description": "Ids to add."}, "remove": {"type": "array", "maxItems": 1000, "items": {"type": "string"}, "description": "Ids to remove."}}, [], "Members to add and remove.")
schemas["ListPriceChange"] = req({"upsert": {"type": "array", "maxItems": 1000, "description": "Prices to add or replace (per variant, currency and min_quantity).",
    "items": req({"variant_id": S("Variant.", maxLength=40), "currency_code": cur_code, "amount": {"type": "integer", "minimum": 0, "description": "Minor units."},
                  "compare_at_amount": {"type": ["integer", "null"], "minimum": 0, "description": "Was-price, minor units."}, "min_quantity": {"type": "integer", "minimum": 1, "description": "Volume tier (default 1)."}}, ["variant_id", "currency_code", "amount"], "A list price.")},
    "remove": {"type": "array", "maxItems": 1000, "items": {"type": "string"}, "description": "Price ids to remove."}}, [], "Prices to change.")

def crud(base, tag, name, prefix, what, read, write, list_params=(), delete=True, update=True, extra_desc=""):
    op("get", base, f"list{name}s", tag, f"List {what}s", "admin", [ok("200", f"{name}List", headers=H_ETAG), NOTMOD], params=[P_LIMIT, P_CURSOR, *list_params, P_INM], perm=read)
    op("post", base, f"create{name}", tag, f"Create a {what}", "admin", [ok("201", name, f"The new {what}.")], body=f"{name}Create", perm=write, desc=extra_desc or None)
    pid = P_ID(prefix, what)
    op("get", base + "/{id}", f"get{name}", tag, f"One {what}", "admin", [ok("200", name, headers=H_ETAG), NOTMOD], params=[pid, P_INM], perm=read)
    if update:
        op("patch", base + "/{id}", f"update{name}", tag, f"Update a {what}", "admin", [ok("200", name, f"The updated {what}.")], body=f"{name}Update",
           params=[pid, {**P_IFMATCH, "description": "ETag of the representation the change is based on; 412 precondition-failed when it changed since."}], perm=write)
    if delete:
        op("delete", base + "/{id}", f"delete{name}", tag, f"Delete a {what}", "admin", [ok("204", desc="Deleted.")], params=[pid], perm=write)

Q = lambda name, d, **sch: {"name": name, "in": "query", "required": False, "description": d, "schema": {"type": "string", **sch}}
crud("/v1/admin/sales-channels", "Admin Sales Channels", "SalesChannel", "sc", "sales channel", "sales_channels:read", "sales_channels:write", delete=False)
op("post", "/v1/admin/sales-channels/{id}/locations", "setSalesChannelLocation", "Admin Sales Channels", "Sell from a stock location", "admin", [ok("200", "SalesChannel", "The channel.")],
   body="ChannelLocation", params=[P_ID("sc", "sales channel")], perm="sales_channels:write")
op("delete", "/v1/admin/sales-channels/{id}/locations/{location_id}", "removeSalesChannelLocation", "Admin Sales Channels", "Stop selling from a stock location", "admin", [ok("200", "SalesChannel", "The channel.")],
   params=[P_ID("sc", "sales channel"), {**P_ID("sloc", "stock location"), "name": "location_id"}], perm="sales_channels:write")
crud("/v1/admin/regions", "Admin Regions", "Region", "reg", "region", "settings:read", "settings:write", list_params=[Q("currency_code", "Only regions of this currency.")])
crud("/v1/admin/stock-locations", "Admin Stock Locations", "StockLocation", "sloc", "stock location", "inventory:read", "inventory:write", delete=False)
crud("/v1/admin/customer-groups", "Admin Customer Groups", "CustomerGroup", "cgrp", "customer group", "customers:read", "customers:write")
op("post", "/v1/admin/customer-groups/{id}/customers", "changeCustomerGroupMembers", "Admin Customer Groups", "Add and remove members", "admin", [ok("200", "CustomerGroup", "The group.")],
   body="MemberChange", params=[P_ID("cgrp", "customer group")], perm="customers:write", desc="422 (pointer /add) when a customer does not exist.")
crud("/v1/admin/categories", "Admin Categories", "Category", "pcat", "category", "catalog:read", "catalog:write", list_params=[Q("parent_id", "Only children of this category.")],
     extra_desc="409 already-exists (pointer /handle) when the handle is taken.")
crud("/v1/admin/collections", "Admin Collections", "Collection", "pcol", "collection", "catalog:read", "catalog:write")
op("post", "/v1/admin/collections/{id}/products", "changeCollectionProducts", "Admin Collections", "Add and remove products of a manual collection", "admin", [ok("200", "Collection", "The collection.")],
   body="MemberChange", params=[P_ID("pcol", "collection")], perm="catalog:write", desc="409 for rule collections.")
crud("/v1/admin/price-lists", "Admin Price Lists", "PriceList", "plist", "price list", "catalog:read", "catalog:write", list_params=[Q("kind", "Only lists of this kind.", enum=["sale", "override"])])
op("post", "/v1/admin/price-lists/{id}/prices", "changePriceListPrices", "Admin Price Lists", "Add, replace and remove prices of a list", "admin", [ok("200", "PriceList", "The list.")],
   body="ListPriceChange", params=[P_ID("plist", "price list")], perm="catalog:write", desc="Writes price.changed events.")
for t, d in [("Admin Sales Channels", "Sales channels and where they sell from."), ("Admin Regions", "Regions, currencies, tax treatment."), ("Admin Stock Locations", "Warehouses and stores."),
             ("Admin Customer Groups", "Customer groups."), ("Admin Categories", "The category tree."), ("Admin Collections", "Collections."), ("Admin Price Lists", "Sale and override price lists.")]:
    TAGS.append((t, d))

# ---- products (core/product.c, migrations/0005_products_api.sql) and the storefront (core/storefront*.c) -----------
INTN = lambda d: {"type": ["integer", "null"], "description": d}
INT = lambda d, **kw: {"type": "integer", "description": d, **kw}
seo_out = obj({"title": SN("Title for search engines (default: the title)."), "description": SN("Meta description.")}, desc="Search-engine fields.")
price_out = obj({"id": ID("price"), "currency_code": S("Currency (lower-case ISO 4217)."), "amount": INT("Minor units."),
                 "compare_at_amount": INTN("Was-price, minor units."), "min_quantity": INT("Volume tier: applies from this quantity.")}, desc="A base price.")
schemas["Variant"] = obj({"id": ID("var"), "object": {"const": "variant", "description": "Always variant."}, "product_id": ID("prod"),
    "title": S("Title."), "sku": S("Stock-keeping unit (unique)."), "barcode": SN("GTIN, EAN or UPC."),
    "options": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Option title -> value, e.g. {\"Size\": \"M\"}."},
    "weight_g": INTN("Weight, grams."), "length_mm": INTN("Length, millimetres."), "width_mm": INTN("Width, millimetres."), "height_mm": INTN("Height, millimetres."),
    "requires_shipping": B("Physical goods are shipped."), "tax_class": S("Tax class (standard, reduced, zero, ...)."),
    "manage_inventory": B("Stock is tracked and reserved."), "allow_backorder": B("Sells when out of stock."), "rank": INT("Order among the product's variants."),
    "inventory_items": {"type": "array", "description": "What selling one unit takes from stock (a bundle has several).",
                        "items": obj({"inventory_item_id": ID("iitem"), "required_quantity": INT("Units of the item per unit sold.")})},
    "prices": {"type": "array", "items": price_out, "description": "Base prices by currency and volume tier (price lists are separate)."},
    "metadata": metadata_out, **ts_pair}, desc="A purchasable variant of a product.")
schemas["Product"] = obj({"id": ID("prod"), "object": {"const": "product", "description": "Always product."}, "title": S("Title."), "handle": S("URL handle (unique)."),
    "subtitle": SN("Subtitle."), "description": SN("Description (plain text or the storefront's markup)."),
    "status": {"type": "string", "enum": ["draft", "active", "archived"], "description": "Only active products are visible in storefronts."},
    "type": SN("Product type (free text, used by rule collections)."), "brand": SN("Brand."), "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."},
    "seo": seo_out, "sales_channel_ids": {"type": "array", "items": {"type": "string"}, "description": "Channels that sell it."},
    "category_ids": {"type": "array", "items": {"type": "string"}, "description": "Categories."}, "collection_ids": {"type": "array", "items": {"type": "string"}, "description": "Manual collections."},
    "media": {"type": "array", "description": "Images, in order.", "items": obj({"id": ID("med"), "url": S("URL.", format="uri"), "alt": SN("Alternative text."), "rank": INT("Order.")})},
    "options": {"type": "array", "description": "Options (at most 3) and their values, in order.", "items": obj({"id": ID("opt"), "title": S("Title."), "values": {"type": "array", "items": {"type": "string"}, "description": "Values."}})},
    "variants": {"type": "array", "items": {"$ref": "#/components/schemas/Variant"}, "description": "Variants, in order."},
    "metadata": metadata_out, **ts_pair}, desc="A product, as the back office sees it (default locale, every status).")
schemas["ProductList"] = list_of("Product", "products")
price_in = req({"currency_code": cur_code, "amount": {"type": "integer", "minimum": 0, "maximum": 1000000000000, "description": "Minor units."},
                "compare_at_amount": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000000000, "description": "Was-price, minor units."},
                "min_quantity": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "Volume tier (default 1)."}}, ["currency_code", "amount"], "A base price.")
dim = lambda d: {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000000, "description": d}
variant_in = {"title": S("Title (default: the option values, or the product title).", minLength=1, maxLength=256), "sku": S("Stock-keeping unit, unique.", minLength=1, maxLength=64),
    "barcode": SN("GTIN, EAN or UPC.", maxLength=64), "options": {"type": "object", "maxProperties": 3, "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 100}, "description": "A value for every option of the product; the combination is unique."},
    "weight_g": dim("Grams."), "length_mm": dim("Millimetres."), "width_mm": dim("Millimetres."), "height_mm": dim("Millimetres."),
    "requires_shipping": B("Shipped (default true)."), "tax_class": S("Tax class (default standard).", minLength=1, maxLength=32),
    "manage_inventory": B("Track stock (default true)."), "allow_backorder": B("Sell when out of stock (default false)."), "rank": {"type": "integer", "minimum": -1000000, "maximum": 1000000, "description": "Order."},
    "prices": {"type": "array", "maxItems": 100, "items": price_in, "description": "Base prices; replaces them all when present. One per currency and min_quantity."}, "metadata": metadata_in}
schemas["VariantCreate"] = req({**variant_in, "inventory": {"type": "array", "maxItems": 50, "description": "Initial stock per location (recorded in the stock ledger).",
        "items": req({"location_id": S("Stock location.", maxLength=40), "quantity": {"type": "integer", "minimum": 0, "maximum": 1000000000, "description": "Units on hand."}}, ["location_id", "quantity"], "Stock at a location.")},
    "low_stock_threshold": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000000, "description": "inventory.low_stock events fire below this."}}, ["sku"], "A new variant; its inventory item (same SKU) is created with it.")
schemas["VariantUpdate"] = req(variant_in, [], "Fields to change; absent fields stay as they are.")
product_in = {"title": S("Title.", minLength=1, maxLength=256), "handle": {**handle_in, "description": "URL handle, taken as given (409 already-exists at /handle when another product has it). Default: from the title (ASCII letters and digits joined by dashes), with -2, -3, ... when taken; a title without letters or digits needs a handle (422). Changing the title keeps the handle."},
    "subtitle": SN("Subtitle.", maxLength=256), "description": SN("Description.", maxLength=65536),
    "status": {"type": "string", "enum": ["draft", "active", "archived"], "description": "Status (default draft)."},
    "type": SN("Product type.", maxLength=100), "brand": SN("Brand.", maxLength=100), "tags": {"type": "array", "maxItems": 50, "items": {"type": "string"}, "description": "Tags; replaced when present."},
    "seo": req({"title": SN("Title.", maxLength=256), "description": SN("Meta description.", maxLength=1000)}, [], "Search-engine fields."),
    "sales_channel_ids": {"type": "array", "maxItems": 100, "items": {"type": "string"}, "description": "Channels (default on create: the default channel); replaced when present."},
    "category_ids": {"type": "array", "maxItems": 100, "items": {"type": "string"}, "description": "Categories; replaced when present."},
    "collection_ids": {"type": "array", "maxItems": 100, "items": {"type": "string"}, "description": "Manual collections; replaced when present."},
    "media": {"type": "array", "maxItems": 50, "items": req({"url": S("https URL.", maxLength=2048), "alt": SN("Alternative text.", maxLength=512)}, ["url"], "An image."), "description": "Images in order; replaced when present."},
    "metadata": metadata_in}
schemas["ProductCreate"] = req({**product_in,
    "options": {"type": "array", "maxItems": 3, "items": req({"title": S("Title, unique in the product.", minLength=1, maxLength=100), "values": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string"}, "description": "Values."}}, ["title", "values"], "An option."), "description": "Options."},
    "variants": {"type": "array", "maxItems": 100, "items": {"$ref": "#/components/schemas/VariantCreate"}, "description": "Variants, created with the product in one transaction."}},
    ["title"], "A new product with its options, variants, prices, initial stock and media, all or nothing.")
schemas["ProductUpdate"] = req(product_in, [], "Fields to change; absent fields stay as they are. Variants change through their own endpoints. Send If-Match to refuse a stale change (412).")
crud("/v1/admin/products", "Admin Products", "Product", "prod", "product", "catalog:read", "catalog:write", delete=False,
     list_params=[Q("status", "Only products of this status.", enum=["draft", "active", "archived"]), Q("q", "Full-text search in titles, descriptions and tags, or a variant's exact SKU (case-insensitive).", minLength=1, maxLength=256), Q("sku", "The product with a variant of this SKU.", minLength=1, maxLength=64)],
     extra_desc="409 already-exists (pointer /handle or /variants/i/sku) when a handle or SKU is taken. Products are archived, not deleted (orders keep pointing at them).")
PRID = P_ID("prod", "product")
_pp = paths["/v1/admin/products/{id}"]["patch"]
_pp["parameters"][1] = {**P_IFMATCH, "required": True, "description": "ETag of the product you read (required: 428 precondition-required without it, 412 precondition-failed when it changed since). Keeps the back office and integrations from overwriting each other."}
VID = {**P_ID("var", "variant"), "name": "variant_id"}
op("post", "/v1/admin/products/{id}/variants", "createVariant", "Admin Products", "Add a variant", "admin", [ok("201", "Variant", "The new variant.")], body="VariantCreate", params=[PRID], perm="catalog:write")
op("patch", "/v1/admin/products/{id}/variants/{variant_id}", "updateVariant", "Admin Products", "Update a variant", "admin", [ok("200", "Variant", "The updated variant.")], body="VariantUpdate", params=[PRID, VID], perm="catalog:write")
op("delete", "/v1/admin/products/{id}/variants/{variant_id}", "deleteVariant", "Admin Products", "Delete a variant", "admin", [ok("204", desc="Deleted.")], params=[PRID, VID], perm="catalog:write",
   desc="409 conflict while the variant has stock reservations.")
LOC = {"name": "locale", "in": "path", "required": True, "description": "A language tag the store offers, like de or de-CH (not the default locale).", "schema": {"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"}}
schemas["ProductTranslation"] = obj({"object": {"const": "product_translation", "description": "Always product_translation."}, "product_id": ID("prod"), "locale": S("Language tag."),
    "title": SN("Title (null: the default locale's)."), "subtitle": SN("Subtitle."), "description": SN("Description."), "seo": seo_out,
    "variants": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Variant id -> translated title."},
    "options": {"type": "object", "description": "Option id -> translated title and values (keyed by the default-locale value).",
                "additionalProperties": obj({"title": SN("Translated title."), "values": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Default value -> translated value."}})}},
    desc="A product's text in one locale. Missing fields fall back to the default locale in storefronts.")
schemas["ProductTranslationInput"] = req({"title": SN("Title.", minLength=1, maxLength=256), "subtitle": SN("Subtitle.", maxLength=256), "description": SN("Description.", maxLength=65536),
    "seo": req({"title": SN("Title.", maxLength=256), "description": SN("Meta description.", maxLength=1000)}, [], "Search-engine fields."),
    "variants": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 256}, "description": "Variant id -> title."},
    "options": {"type": "object", "description": "Option id -> {title, values: {default value -> translated value}}.",
                "additionalProperties": req({"title": SN("Title."), "values": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Values."}}, [], "An option's text.")}},
    [], "The whole translation; it replaces the previous one.")
TR = "Admin Products"
op("get", "/v1/admin/products/{id}/translations/{locale}", "getProductTranslation", TR, "A product's translation", "admin", [ok("200", "ProductTranslation", headers=H_ETAG), NOTMOD], params=[PRID, LOC, P_INM], perm="catalog:read",
   desc="Fields not translated yet are null. A locale that is not a language tag is a 404.")
op("put", "/v1/admin/products/{id}/translations/{locale}", "putProductTranslation", TR, "Set a product's translation", "admin", [ok("200", "ProductTranslation", "The translation.")], body="ProductTranslationInput", params=[PRID, LOC], perm="catalog:write",
   desc="422 when the store does not offer the locale, for the default locale, or for variant or option ids of another product.")
op("delete", "/v1/admin/products/{id}/translations/{locale}", "deleteProductTranslation", TR, "Remove a product's translation", "admin", [ok("204", desc="Removed.")], params=[PRID, LOC], perm="catalog:write")
schemas["Store"] = obj({"object": {"const": "store", "description": "Always store."}, "default_locale": S("The locale products are written in."),
    "locales": {"type": "array", "items": {"type": "string"}, "description": "Locales storefronts can ask for (Accept-Language or ?locale=); the default is one of them."},
    "updated_at": TS("When it last changed.")}, desc="Store-wide settings.")
schemas["StoreUpdate"] = req({"default_locale": S("Language tag like en or de-CH; must be in locales.", pattern="^[a-z]{2}(-[A-Z]{2})?$"),
    "locales": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"}, "description": "Offered locales; replaces the list."}}, [], "Fields to change.")
op("get", "/v1/admin/store", "getStore", "Admin Store", "Store settings", "admin", [ok("200", "Store", headers=H_ETAG), NOTMOD], params=[P_INM], perm="settings:read")
op("patch", "/v1/admin/store", "updateStore", "Admin Store", "Change store settings", "admin", [ok("200", "Store", "The settings.")], body="StoreUpdate", params=[{**P_IFMATCH, "description": "ETag the change is based on; 412 when the settings changed since."}], perm="settings:write",
   desc="422 when default_locale is not one of locales.")

# storefront
store_price = {"oneOf": [{"type": "null"}, obj({"amount": INT("Minor units, for one unit at quantity 1."), "currency_code": S("Currency (lower-case)."), "compare_at_amount": INTN("Was-price: the base price when a sale applies, or the base price's own compare_at_amount."),
    "price_list_id": IDN("plist", "The list that set the price (null for the base price)."), "price_type": {"type": "string", "enum": ["base", "sale", "override"], "description": "Where the price comes from."},
    "min_quantity": INT("The tier's quantity.")})], "description": "The caller's price (channel, region, customer groups, time); null when the variant has no price in the currency."}
schemas["StoreVariant"] = obj({"id": ID("var"), "object": {"const": "variant", "description": "Always variant."}, "title": S("Title (localized)."), "sku": S("SKU."),
    "options": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Option title -> value (localized)."},
    "requires_shipping": B("Shipped."), "weight_g": INTN("Grams."), "allow_backorder": B("Sells when out of stock."),
    "availability": obj({"in_stock": B("Can be bought now."), "quantity": INTN("Units available to the channel's locations (null when stock is not tracked).")}, desc="Stock (expand=availability)."),
    "price": store_price}, required=["id", "object", "title", "sku", "options", "requires_shipping", "weight_g", "allow_backorder"], desc="A variant as a storefront sees it.")
schemas["StoreProduct"] = obj({"id": ID("prod"), "object": {"const": "product", "description": "Always product."}, "title": S("Title (localized)."), "handle": S("URL handle."),
    "subtitle": SN("Subtitle."), "description": SN("Description."), "type": SN("Type."), "brand": SN("Brand."), "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."},
    "seo": seo_out, "media": {"type": "array", "description": "Images.", "items": obj({"id": ID("med"), "url": S("URL."), "alt": SN("Alternative text.")})},
    "options": {"type": "array", "description": "Options (localized).", "items": obj({"id": ID("opt"), "title": S("Title."), "values": {"type": "array", "items": {"type": "string"}, "description": "Values."}})},
    "categories": {"type": "array", "description": "Visible categories (expand=categories): active, under active parents.", "items": obj({"id": ID("pcat"), "name": S("Name (localized)."), "handle": S("Handle.")})},
    "variants": {"type": "array", "items": {"$ref": "#/components/schemas/StoreVariant"}, "description": "Variants (expand=variants, prices or availability)."},
    "created_at": TS("When it was created."), "updated_at": TS("When it last changed.")}, required=["id"], desc="An active product of the caller's sales channel, localized. fields= limits the fields (id is always there).")
schemas["StoreProductList"] = list_of("StoreProduct", "products")
SQ = lambda name, d, **sch: {"name": name, "in": "query", "required": False, "description": d, "schema": {"type": "string", **sch}}
store_common = [SQ("expand", "Comma-separated: variants, prices, availability, categories. The list expands nothing by default; one product expands variants, prices and availability."),
                SQ("fields", "Comma-separated top-level fields to return (id always)."), SQ("region_id", "Price in this region's currency and with its region rules."),
                SQ("currency_code", "Price in this currency (default: the region's, then the channel's default region)."),
                SQ("locale", "Language tag; overrides Accept-Language. Unknown locales fall back to the default; Content-Language says which was used."),
                {"name": "Accept-Language", "in": "header", "required": False, "description": "Preferred locales (RFC 9110).", "schema": {"type": "string"}}]
H_CL = {"Content-Language": {"description": "The locale of the text.", "schema": {"type": "string"}},
        "Vary": {"description": "Accept-Language: the text depends on it, so shared caches key on it.", "schema": {"type": "string"}}}
op("get", "/v1/store/products", "storeListProducts", "Store Products", "Browse and search products", "store", [ok("200", "StoreProductList", headers={**H_ETAG, **H_CL}), NOTMOD],
   params=[P_LIMIT, P_CURSOR, SQ("q", "Full-text search in the locale's language (1 to 256 characters); sorts by relevance unless sort is given.", maxLength=256),
           SQ("category_id", "In this category (id or handle) or a visible one below it. A hidden category (inactive, or under an inactive one) or an unknown one has no products: an empty list, not a 404, like any filter that matches nothing.", minLength=1, maxLength=128), SQ("collection_id", "In this collection.", minLength=1, maxLength=128), SQ("tag", "With this tag.", minLength=1, maxLength=256),
           {"name": "price_min", "in": "query", "required": False, "description": "Lowest base price (minor units) in the currency.", "schema": {"type": "integer", "minimum": 0}},
           {"name": "price_max", "in": "query", "required": False, "description": "Highest base price (minor units); not below price_min (400).", "schema": {"type": "integer", "minimum": 0}},
           SQ("in_stock", "true: only products with a variant to sell now; false: only sold-out ones.", enum=["true", "false"]),
           SQ("options", "Variant option filter: Title:Value pairs separated by commas (at most 3), e.g. Size:M,Color:Blue."),
           SQ("sort", "newest (default; relevance with q), title, price_asc, price_desc (by the lowest base price in the currency; products without one come last), relevance (needs q). A cursor only works with the sort that made it.", enum=["newest", "title", "price_asc", "price_desc", "relevance"]),
           *store_common, P_INM],
   desc="Only active products of the publishable key's sales channel. With a customer token, customer-group prices apply. Keyset pagination: deep pages cost what the first costs.")
op("get", "/v1/store/products/{id}", "storeGetProduct", "Store Products", "One product by id or handle", "store", [ok("200", "StoreProduct", headers={**H_ETAG, **H_CL}), NOTMOD],
   params=[{"name": "id", "in": "path", "required": True, "description": "Product id or handle.", "schema": {"type": "string"}}, *store_common, P_INM],
   desc="Drafts, archived products and products of other channels are a 404.")
for t, d in [("Admin Products", "Products, variants, prices, media and translations."), ("Admin Store", "Store-wide settings (locales)."), ("Store Products", "The storefront catalog.")]:
    TAGS.append((t, d))

# ---- translations of categories and collections (migrations/0008) ------------------------------------------------
for base, tag, prefix, what, key in [("/v1/admin/categories", "Admin Categories", "pcat", "category", "name"), ("/v1/admin/collections", "Admin Collections", "pcol", "collection", "title")]:
    Name = what.capitalize()
    schemas[f"{Name}Translation"] = obj({"object": {"const": f"{what}_translation", "description": f"Always {what}_translation."}, f"{what}_id": ID(prefix), "locale": S("Language tag."),
        key: SN(f"{key.capitalize()} in the locale (null: not translated)."), "description": SN("Description in the locale.")}, desc=f"A {what}'s text in one locale; storefronts fall back to the default locale.")
    schemas[f"{Name}TranslationInput"] = req({key: S(f"{key.capitalize()}.", minLength=1, maxLength=256), "description": SN("Description.", maxLength=4096)}, [key], "The whole translation; it replaces the previous one.")
    pid = P_ID(prefix, what)
    cap = what.capitalize()
    op("get", f"{base}/{{id}}/translations/{{locale}}", f"get{cap}Translation", tag, f"A {what}'s translation", "admin", [ok("200", f"{Name}Translation", headers=H_ETAG), NOTMOD], params=[pid, LOC, P_INM], perm="catalog:read")
    op("put", f"{base}/{{id}}/translations/{{locale}}", f"put{cap}Translation", tag, f"Set a {what}'s translation", "admin", [ok("200", f"{Name}Translation", "The translation.")], body=f"{Name}TranslationInput", params=[pid, LOC], perm="catalog:write",
       desc="422 when the store does not offer the locale, or for the default locale.")
    op("delete", f"{base}/{{id}}/translations/{{locale}}", f"delete{cap}Translation", tag, f"Remove a {what}'s translation", "admin", [ok("204", desc="Removed.")], params=[pid, LOC], perm="catalog:write")

# ---- storefront navigation (core/browse*.c) -----------------------------------------------------------------------
cat_props = {"id": ID("pcat"), "object": {"const": "category", "description": "Always category."}, "name": S("Name (localized)."), "handle": S("URL handle."),
             "description": SN("Description (localized)."), "parent_id": IDN("pcat", "Parent; null at the top."), "rank": INT("Order among siblings."), "depth": INT("0 at the top.")}
crumb = obj({"id": ID("pcat"), "name": S("Name (localized)."), "handle": S("Handle.")}, desc="A category in a breadcrumb or a child list.")
schemas["StoreCategory"] = obj(cat_props, desc="An active category whose ancestors are all active.")
schemas["StoreCategoryDetail"] = obj({**cat_props, "ancestors": {"type": "array", "items": crumb, "description": "The breadcrumb, root first."},
                                      "children": {"type": "array", "items": crumb, "description": "Visible children, in order."}}, desc="A category with its breadcrumb and children.")
schemas["StoreCategoryList"] = obj({"object": {"const": "list", "description": "Always list."}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/StoreCategory"}, "description": "Categories in tree order: depth first, siblings by rank."},
                                    "has_more": {"const": False, "description": "Always false: the tree comes whole."}, "next_cursor": {"type": "null", "description": "Always null."}}, desc="The visible category tree, flattened.")
schemas["StoreCollection"] = obj({"id": ID("pcol"), "object": {"const": "collection", "description": "Always collection."}, "title": S("Title (localized)."), "handle": S("URL handle."),
                                  "description": SN("Description (localized).")}, desc="A collection; its products: GET /v1/store/products?collection_id=.")
schemas["StoreCollectionList"] = obj({"object": {"const": "list", "description": "Always list."}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/StoreCollection"}, "description": "Collections by title."},
                                      "has_more": {"const": False, "description": "Always false."}, "next_cursor": {"type": "null", "description": "Always null."}}, desc="All collections.")
P_LOC = [SQ("locale", "Language tag; overrides Accept-Language."), {"name": "Accept-Language", "in": "header", "required": False, "description": "Preferred locales.", "schema": {"type": "string"}}]
KEYP = lambda what: {"name": "id", "in": "path", "required": True, "description": f"{what} id or handle.", "schema": {"type": "string"}}
op("get", "/v1/store/categories", "storeListCategories", "Store Products", "The category tree", "store", [ok("200", "StoreCategoryList", headers={**H_ETAG, **H_CL}), NOTMOD],
   params=[SQ("parent_id", "Only the children of this category."), *P_LOC, P_INM], desc="Inactive categories and everything below them are hidden.")
op("get", "/v1/store/categories/{id}", "storeGetCategory", "Store Products", "One category with its breadcrumb and children", "store", [ok("200", "StoreCategoryDetail", headers={**H_ETAG, **H_CL}), NOTMOD],
   params=[KEYP("Category"), *P_LOC, P_INM], desc="Hidden categories are a 404.")
op("get", "/v1/store/collections", "storeListCollections", "Store Products", "Collections", "store", [ok("200", "StoreCollectionList", headers={**H_ETAG, **H_CL}), NOTMOD], params=[*P_LOC, P_INM])
op("get", "/v1/store/collections/{id}", "storeGetCollection", "Store Products", "One collection", "store", [ok("200", "StoreCollection", headers={**H_ETAG, **H_CL}), NOTMOD], params=[KEYP("Collection"), *P_LOC, P_INM])

# ---- inventory (core/inventory*.c, migrations/0007_inventory_api.sql) --------------------------------------------
QTYS = lambda d: {"type": "integer", "description": d}
schemas["InventoryLevel"] = obj({"location_id": ID("sloc"), "on_hand": QTYS("Units physically there."), "reserved": QTYS("Units held for carts and orders."),
    "available": QTYS("on_hand - reserved; never below zero."), "incoming": QTYS("Units expected (purchase orders)."), "updated_at": TS("Last change.")}, desc="Stock of an item at one location.")
schemas["InventoryItem"] = obj({"id": ID("iitem"), "object": {"const": "inventory_item", "description": "Always inventory_item."}, "sku": SN("SKU (the variant's when created with it)."),
    "title": SN("Title."), "requires_shipping": B("Physical."), "low_stock_threshold": INTN("inventory.low is written when total available falls to or below it."),
    "variant_ids": {"type": "array", "items": {"type": "string"}, "description": "Variants that sell from this item."},
    "levels": {"type": "array", "items": {"$ref": "#/components/schemas/InventoryLevel"}, "description": "Stock per location."},
    "on_hand": QTYS("Total on hand."), "reserved": QTYS("Total reserved."), "available": QTYS("Total available."), "incoming": QTYS("Total incoming."),
    "metadata": metadata_out, **ts_pair}, desc="A stock-keeping unit as the warehouse sees it; variants sell from one or more (bundles).")
schemas["InventoryItemList"] = list_of("InventoryItem", "inventory items")
schemas["InventoryItemUpdate"] = req({"title": SN("Title.", minLength=1, maxLength=256), "requires_shipping": B("Physical."),
    "low_stock_threshold": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000000, "description": "Threshold; null turns low-stock events off."}, "metadata": metadata_in}, [], "Fields to change.")
schemas["LedgerEntry"] = obj({"id": {"type": "integer", "description": "Sequence number (increasing)."}, "object": {"const": "inventory_ledger_entry", "description": "Always inventory_ledger_entry."},
    "inventory_item_id": ID("iitem"), "location_id": ID("sloc"), "delta_on_hand": QTYS("Change of on_hand."), "delta_reserved": QTYS("Change of reserved."),
    "reason": {"type": "string", "enum": ["adjustment", "receive", "sale", "return", "transfer_in", "transfer_out", "count", "reservation", "release", "expiry"], "description": "Why."},
    "reference": SN("What it belongs to: a cart, an order, a transfer (xfer_...), a delivery note."), "note": SN("Free text."), "actor": SN("Staff user or API key that made the change (null for the system)."),
    "created_at": TS("When.")}, desc="One change of a level. Summing an item's entries gives its on_hand and reserved.")
schemas["LedgerEntryList"] = list_of("LedgerEntry", "ledger entries")
QTYIN = lambda d, lo: {"type": "integer", "minimum": lo, "maximum": 1000000000, "description": d}
note_in = {"type": ["string", "null"], "maxLength": 1000, "description": "Free text for the ledger."}
schemas["StockAdjustment"] = req({"location_id": S("Stock location.", maxLength=40), "delta": {"type": "integer", "minimum": -1000000000, "maximum": 1000000000, "description": "Change of on_hand (409 if on_hand would fall below reserved)."},
    "incoming_delta": {"type": "integer", "minimum": -1000000000, "maximum": 1000000000, "description": "Change of incoming (expected) stock; never below zero."},
    "reason": {"type": "string", "enum": ["adjustment", "receive", "return"], "description": "adjustment (default), receive (also lowers incoming by what arrived; delta > 0), return."},
    "reference": {"type": ["string", "null"], "minLength": 1, "maxLength": 128, "description": "Your reference (delivery note, RMA); filterable in the ledger."}, "note": note_in},
    ["location_id"], "A change of stock at one location; delta or incoming_delta must be non-zero.")
schemas["StockCount"] = req({"location_id": S("Stock location.", maxLength=40), "quantity": QTYIN("Counted units: on_hand becomes this (409 below what is reserved).", 0), "note": note_in}, ["location_id", "quantity"], "A stock count.")
schemas["StockTransfer"] = req({"from_location_id": S("From.", maxLength=40), "to_location_id": S("To (another location).", maxLength=40), "quantity": QTYIN("Units moved (409 when the source has fewer available).", 1), "note": note_in},
    ["from_location_id", "to_location_id", "quantity"], "A move of stock; both ledger entries share a reference xfer_...")
crud("/v1/admin/inventory-items", "Admin Inventory", "InventoryItem", "iitem", "inventory item", "inventory:read", "inventory:write", delete=False,
     list_params=[Q("sku", "The item with this SKU."), Q("location_id", "Items stocked at this location.")])
del paths["/v1/admin/inventory-items"]["post"]
IID = P_ID("iitem", "inventory item")
for sub, opid, summary, body, desc in [("adjustments", "adjustInventory", "Adjust stock", "StockAdjustment", "Writes a ledger entry; crossing the low-stock threshold writes inventory.low in the same transaction."),
                                      ("counts", "countInventory", "Record a stock count", "StockCount", "Writes a ledger entry with the difference (reason count)."),
                                      ("transfers", "transferInventory", "Move stock between locations", "StockTransfer", "Two ledger entries (transfer_out, transfer_in), all or nothing.")]:
    op("post", f"/v1/admin/inventory-items/{{id}}/{sub}", opid, "Admin Inventory", summary, "admin", [ok("200", "InventoryItem", "The item after the change.")], body=body, params=[IID], perm="inventory:write", desc=desc)
op("get", "/v1/admin/inventory-ledger", "listInventoryLedger", "Admin Inventory", "Query the stock ledger", "admin", [ok("200", "LedgerEntryList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, Q("inventory_item_id", "Entries of this item."), Q("location_id", "Entries at this location."),
           Q("reason", "Entries with this reason.", enum=["adjustment", "receive", "sale", "return", "transfer_in", "transfer_out", "count", "reservation", "release", "expiry"]),
           Q("reference", "Entries with this reference (an order, a cart, a transfer)."), P_INM], perm="inventory:read", desc="Newest first.")
TAGS.append(("Admin Inventory", "Inventory items, stock levels, adjustments, counts, transfers and the ledger."))

# ---- imports and the export (core/import*.c, migrations/0009_imports.sql) -------------------------------------------
INTP = lambda d: {"type": "integer", "minimum": 0, "description": d}
schemas["ImportError"] = obj({"row": {"type": "integer", "minimum": 1, "description": "CSV: the record number in the file (the header is row 1, as a spreadsheet shows it; line breaks inside quoted fields do not start rows). NDJSON: the line number."},
    "column": S("CSV: the column the error is about (as named in the header), when it is about one."),
    "pointer": S("JSON pointer into the product (NDJSON lines; also for rules checked by the database)."),
    "code": S("Machine-readable reason: required, invalid_format, invalid_value, invalid_type, too_long, unknown_field, duplicate, conflict, taken, invalid_json, rejected, ..."),
    "message": S("Human-readable explanation.")}, required=["row", "code", "message"], desc="A row that failed; its whole product was skipped.")
schemas["Import"] = obj({"id": ID("imp"), "object": {"const": "import", "description": "Always import."},
    "format": {"type": "string", "enum": ["csv", "ndjson"], "description": "The file's format (from its Content-Type)."},
    "filename": SN("The file's name (souq import), or null."),
    "status": {"type": "string", "enum": ["queued", "running", "succeeded", "partially_succeeded", "failed"], "description": "queued, running; then succeeded (no row failed), partially_succeeded (some products failed, some were imported) or failed (no product was imported)."},
    "rows_total": INTP("Data rows in the file (CSV records after the header; non-blank NDJSON lines)."),
    "rows_done": INTP("Rows processed so far (imported or failed): progress is rows_done / rows_total."),
    "products_total": INTP("Products in the file (CSV: distinct handles)."),
    "products_created": INTP("New products."), "products_updated": INTP("Existing products (by handle) that changed."),
    "products_unchanged": INTP("Existing products the file describes exactly as they are (nothing was written)."),
    "products_failed": INTP("Products skipped because a row of theirs failed (nothing of them was written)."),
    "errors": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/ImportError"}, "description": "Per-row errors, the first 1000."},
    "errors_total": INTP("All errors, also those past the first 1000."),
    "created_by": SN("Staff user or API key that uploaded the file (cli for souq import)."),
    "created_at": TS("Uploaded."), "started_at": TSN("First batch processed."), "finished_at": TSN("Last batch processed.")},
    desc="A bulk import of products. It is processed in the background in batches, one transaction (savepoint) per product, so a product is either imported whole or skipped with its errors.")
schemas["ImportList"] = list_of("Import", "imports")
IMP_DESC = open(os.path.join(HERE, "imports.md")).read()
op("post", "/v1/admin/imports", "createImport", "Admin Imports", "Import products from a CSV or NDJSON file", "admin",
   [ok("202", "Import", "Accepted: the file was read and validated and is queued. Poll the Location (GET /v1/admin/imports/{id}) for progress and per-row errors.",
       headers={"Location": {"description": "/v1/admin/imports/{id} of the new import.", "schema": {"type": "string"}}})], perm="catalog:write", desc=IMP_DESC)
paths["/v1/admin/imports"]["post"]["requestBody"] = {"required": True, "description": "The file. 415 for any other Content-Type; 413 over max_import_bytes (8 MiB by default); 422 validation-failed when the file as a whole is unusable (not UTF-8, malformed CSV, unknown, duplicate or missing columns: pointer = the column name, no rows).",
    "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}, "application/ndjson": {"schema": {"type": "string"}}}}
op("get", "/v1/admin/imports", "listImports", "Admin Imports", "List imports", "admin", [ok("200", "ImportList", headers=H_ETAG), NOTMOD], params=[P_LIMIT, P_CURSOR, P_INM], perm="catalog:read")
op("get", "/v1/admin/imports/{id}", "getImport", "Admin Imports", "One import: status, progress and per-row errors", "admin", [ok("200", "Import", headers=H_ETAG), NOTMOD], params=[P_ID("imp", "import"), P_INM], perm="catalog:read")
op("get", "/v1/admin/exports/products.csv", "exportProducts", "Admin Imports", "Export the catalog as CSV", "admin",
   [ok("200", mt="text/csv", schema={"type": "string"}, desc="The products in the import CSV format (header first, CRLF line ends, UTF-8, Content-Disposition: attachment). Importing it again changes nothing.")],
   perm="catalog:read", desc="One row per variant, in creation order; columns price.<currency> and compare_at.<currency> for every currency with a base price, stock.<location id> (on hand) for every stock location. Volume tiers, price lists, media, channels, categories and translations are not exported.")
TAGS.append(("Admin Imports", "Bulk import (CSV, NDJSON) and export (CSV) of products, variants, prices and stock."))
# ---- carts (core/cart*.c, migrations/0012_carts.sql) ---------------------------------------------------------------
CART_ID = {"type": "string", "pattern": "^cart_[A-Za-z0-9_-]{43}$", "description": "Cart id: cart_ followed by 43 base64url characters (256 random bits). It is the guest's capability to the cart: keep it private."}
MONEY = lambda d: {"type": "integer", "description": d + " Minor units of the cart's currency."}
MONEYN = lambda d: {"type": ["integer", "null"], "description": d + " Minor units; null when the line has no price now."}
TAX_RULES = ("Which rates apply: for an item of tax class X (the variant's tax_class; shipping is class shipping), the rates of class X of the most specific place that has any:"
    " the shipping address's province (province_code, compared case-insensitively with the address's province), then its country, then the cart's region (the default when the address"
    " is unknown or has no rate); when no place has class X, class standard is used the same way (so a reduced or zero class needs rates of its own; 0 bp for zero-rated goods)."
    " Every applicable rate is charged on the same base (no compound rates). The base of a line is subtotal - discount_total, of shipping shipping_total - shipping_discount_total."
    " Rounding: per item and per rate, half away from zero on minor units: exclusive prices round(base x rate_bp / 10000); tax-inclusive prices (the region's tax_inclusive)"
    " round(base x rate_bp / (10000 + the sum of the item's rates)), the tax inside the price. The item's tax is the sum of its tax lines, the cart's the sum of its items' (nothing is rounded at the cart level).")
schemas["TaxLine"] = obj({"rate_id": S("The tax rate (txr_...) that applied."), "code": S("The rate's code (as on the invoice)."), "name": S("The rate's name."),
    "rate_bp": INT("The rate in basis points (1900 = 19%).", minimum=0, maximum=10000), "amount": {"type": "integer", "minimum": 0, "description": "Tax of this rate on the item, minor units."}},
    desc="One tax on a line or on shipping. " + TAX_RULES)
schemas["CartShippingMethod"] = obj({"object": {"const": "cart_shipping_method", "description": "Always cart_shipping_method."}, "shipping_option_id": ID("so"),
    "name": S("The option's name."), "provider": S("The shipping provider that rated it (flat_rate)."),
    "amount": {"type": "integer", "minimum": 0, "description": "Price of the shipping, rated now (flat_rate: the option's amount, 0 once the items after discounts reach free_over). Minor units."},
    "discount_total": {"type": "integer", "minimum": 0, "description": "Free-shipping promotions' share, minor units."},
    "tax_total": {"type": "integer", "minimum": 0, "description": "Tax of the shipping (inside amount when tax_inclusive), minor units."},
    "tax_lines": {"type": "array", "items": {"$ref": "#/components/schemas/TaxLine"}, "description": "The taxes of the shipping."}},
    desc="The cart's chosen shipping method.")
schemas["CartLineItem"] = obj({"id": ID("cali"), "object": {"const": "cart_line_item", "description": "Always cart_line_item."}, "variant_id": ID("var"), "product_id": ID("prod"),
    "title": S("Product title."), "variant_title": S("Variant title."), "sku": S("SKU."), "requires_shipping": B("Shipped goods."),
    "weight_g": {"type": ["integer", "null"], "minimum": 0, "description": "The variant's weight of one unit in grams (null: not set, counts 0); shipping providers get the cart's total weight."},
    "quantity": {"type": "integer", "minimum": 1, "maximum": 10000, "description": "Units (1 to 10000)."}, "metadata": metadata_out,
    "unit_price": MONEYN("Price of one unit for this quantity (volume tiers), resolved now for the cart's channel, region, currency and customer groups."),
    "compare_at_unit_price": MONEYN("Was-price of one unit (a sale's base price, or an explicit higher compare-at)."),
    "price_list_id": IDN("plist", "The price list whose price applied; null for the base price."),
    "price_type": {"type": ["string", "null"], "enum": ["base", "sale", "override", None], "description": "Which kind of price applied."},
    "sellable": B("False when the product is no longer active or in the channel, or the line has no price now: such lines are left out of the cart's totals and checkout refuses them."),
    "subtotal": MONEY("unit_price x quantity."), "discount_total": MONEY("Promotions' share of the line."), "tax_total": MONEY("Tax of the line (already inside the prices when the cart's tax_inclusive)."), "total": MONEY("subtotal - discount_total, plus tax_total unless tax_inclusive."),
    "adjustments": {"type": "array", "maxItems": 0, "items": {"type": "object"}, "description": "Promotion adjustments of the line (empty for now)."},
    "tax_lines": {"type": "array", "items": {"$ref": "#/components/schemas/TaxLine"}, "description": "The taxes of the line, one per applicable rate (empty for an unsellable line or when no rate applies)."}, **ts_pair}, desc="A line of a cart: one variant and its quantity, priced when answered.")
schemas["Cart"] = obj({"id": CART_ID, "object": {"const": "cart", "description": "Always cart."},
    "sales_channel_id": ID("sc"), "customer_id": IDN("cus", "The customer it belongs to (created with a customer token); null for a guest cart."),
    "email": SN("Email for the order confirmation."), "currency_code": S("Currency of every price (lower-case ISO 4217)."), "region_id": IDN("reg", "Region (decides the currency)."),
    "note": SN("Buyer's note."), "metadata": metadata_out,
    "shipping_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddress"}, {"type": "null"}], "description": "Where the order ships; its country is one of the region's countries when the cart has a region."},
    "billing_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddress"}, {"type": "null"}], "description": "Billing address (any country)."},
    "last_merge": {"oneOf": [obj({"merged_at": TS("When the customer's previous cart was merged into this one."), "lines_merged": INT("Lines of the previous cart that added units here."),
        "dropped": {"type": "array", "items": obj({"variant_id": ID("var"), "quantity": INT("Units of the previous cart that were not moved."),
            "reason": {"type": "string", "enum": ["not_sellable", "not_priced", "too_many_lines", "quantity_limit", "insufficient_stock"], "description": "not_sellable: the product is not active or not in the channel; not_priced: no price in this cart's currency; too_many_lines: the cart has 250 lines; quantity_limit: a line holds at most 10000 units; insufficient_stock: the channel has fewer units."}},
            desc="What of one line of the previous cart was not moved."), "description": "What was not moved, per line of the previous cart."}},
        desc="The report of attaching this cart to its customer (POST /carts/{id}/customer)."), {"type": "null"}], "description": "Set when attaching the cart to its customer merged the customer's previous cart into it; null otherwise."},
    "shipping_methods": {"type": "array", "maxItems": 1, "items": {"$ref": "#/components/schemas/CartShippingMethod"}, "description": "The chosen shipping method (POST .../shipping-methods), when it is valid for the cart now; empty otherwise. A change of the cart's region, currency or shipping address that makes it invalid removes it (choose again); an option staff deactivate or move is not shown or charged, and checkout refuses the cart until a valid one is chosen."},
    "promotion_codes": {"type": "array", "maxItems": 0, "items": {"type": "string"}, "description": "Applied promotion codes (empty for now)."},
    "items": {"type": "array", "maxItems": 250, "items": {"$ref": "#/components/schemas/CartLineItem"}, "description": "Lines, oldest first."},
    "item_count": INT("Units of the sellable lines."), "item_subtotal": MONEY("Sum of the sellable lines' subtotals."), "discount_total": MONEY("Sum of the lines' discounts."),
    "shipping_total": MONEY("Shipping of the chosen methods."), "shipping_discount_total": MONEY("Discounts on shipping (free-shipping promotions)."),
    "shipping_tax_total": MONEY("Tax of the shipping (part of tax_total)."),
    "tax_total": MONEY("Tax of the lines and of shipping."), "tax_inclusive": B("Prices include tax (the region's setting): tax_total is then part of the prices, not added."),
    "total": MONEY("item_subtotal - discount_total + shipping_total - shipping_discount_total, plus tax_total unless tax_inclusive."),
    "gift_card_total": MONEY("Part of the total paid by the gift cards applied to the cart."), "amount_due": MONEY("total - gift_card_total: what checkout charges the payment method."),
    "expires_at": TS("When the cart expires unless it changes again (cart_ttl after the last change)."), **ts_pair},
    desc="A cart. Prices and totals are computed by the server each time it is answered; nothing is reserved until checkout.")
cart_common = {"currency_code": S("ISO 4217 currency (any case). Default: the region's, else the channel's default region's, else the first region's.", minLength=3, maxLength=3),
    "email": {"type": ["string", "null"], "format": "email", "maxLength": 254, "description": "Email (stored lower-case); for a customer's cart the customer's email by default."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Buyer's note."}, "metadata": metadata_in}
cart_addr = {k: v for k, v in addr_in.items() if k not in ("is_default_shipping", "is_default_billing", "metadata")}
cart_addr["address_1"] = {"type": ["string", "null"], "maxLength": 200, "description": "First address line."}
cart_addr["city"] = {"type": ["string", "null"], "maxLength": 100, "description": "City."}
schemas["CartAddressInput"] = req(cart_addr, ["country_code"], "An address of a cart: the address book's fields and rules; only country_code is required (checkout will need more). It replaces the cart's address as a whole.")
schemas["CartAddress"] = obj({k: (v if k == "country_code" else {**v, "type": ["string", "null"]}) for k, v in cart_addr.items()}, desc="An address of a cart (every key present; unset ones null).")
addr_ref = lambda what: {"oneOf": [{"$ref": "#/components/schemas/CartAddressInput"}, {"type": "null"}], "description": f"The {what} address (replaces the stored one); null clears it."}
addr_id = lambda what: {"type": "string", "maxLength": 40, "pattern": "^addr_[0-9a-hjkmnp-tv-z]{26}$", "description": f"Copy the {what} address from this address of the customer's address book (only on the customer's own cart; 422 not_found otherwise). Not together with {what}_address."}
cart_common.update({"shipping_address": addr_ref("shipping"), "billing_address": addr_ref("billing"), "shipping_address_id": addr_id("shipping"), "billing_address_id": addr_id("billing")})
cart_item_in = req({"variant_id": S("A variant of an active product sold in the channel, with a price in the cart's currency.", maxLength=40),
    "quantity": {"type": "integer", "minimum": 1, "maximum": 10000, "description": "Units; adds to the line of the same variant."}}, ["variant_id", "quantity"], "A variant and a quantity. The price is never sent: the server resolves it.")
schemas["CartCreate"] = req({**cart_common, "region_id": S("Region; sets the currency (422 when currency_code disagrees).", maxLength=40),
    "items": {"type": "array", "maxItems": 250, "items": cart_item_in, "description": "Initial lines (the same variant twice adds up)."}}, [], "A new cart; every field is optional.")
schemas["CartUpdate"] = req({**cart_common, "region_id": {"type": ["string", "null"], "maxLength": 40, "description": "Region (sets the currency); null removes it."}}, [],
    "Fields to change. A new currency or region reprices every line; 422 (pointer /currency_code) when a line has no price in it.")
schemas["CartLineAdd"] = cart_item_in
schemas["CartAttach"] = req({}, [], "No fields: send no body or an empty object.")
schemas["CartLineUpdate"] = req({"quantity": {"type": "integer", "minimum": 0, "maximum": 10000, "description": "New quantity; 0 removes the line."}}, ["quantity"], "A line's new quantity.")
P_CART = {"name": "id", "in": "path", "required": True, "description": "Id of the cart.", "schema": {"type": "string"}}
P_LINE = {"name": "line_id", "in": "path", "required": True, "description": "Id of the line item.", "schema": {"type": "string", "pattern": "^cali_[0-9a-hjkmnp-tv-z]{26}$"}}
P_CART_IFMATCH = {**P_IFMATCH, "description": "ETag of the cart the change is based on (optional); 412 precondition-failed when the cart changed since."}
CART_RULES = (" 404 not-found for a missing or expired cart, another sales channel's cart, or another customer's cart (guest carts are reachable by their id)."
              " 422 with a pointer for a variant that is unknown, not active, not in the channel or without a price in the cart's currency; 409 insufficient-stock when the channel cannot supply the quantity (unless the variant allows backorders). Nothing is reserved.")
CART_OK = lambda code, d: ok(code, "Cart", d, headers=H_ETAG)
op("post", "/v1/store/carts", "storeCreateCart", "Store Carts", "Create a cart", "store", [CART_OK("201", "The new cart.")], body="CartCreate",
   desc="The publishable key's sales channel is the cart's; with a customer token the cart belongs to that customer." + CART_RULES)
op("get", "/v1/store/carts/{id}", "storeGetCart", "Store Carts", "A cart, priced now", "store", [CART_OK("200", "The cart."), NOTMOD], params=[P_CART, P_INM], desc=CART_RULES)
op("patch", "/v1/store/carts/{id}", "storeUpdateCart", "Store Carts", "Update a cart", "store", [CART_OK("200", "The cart.")], body="CartUpdate", params=[P_CART, P_CART_IFMATCH], desc=CART_RULES)
op("post", "/v1/store/carts/{id}/line-items", "storeAddCartLine", "Store Carts", "Add a variant", "store", [CART_OK("200", "The cart.")], body="CartLineAdd", params=[P_CART, P_CART_IFMATCH],
   desc="Adds to the line of the same variant, or makes a new line (at most 250)." + CART_RULES)
op("patch", "/v1/store/carts/{id}/line-items/{line_id}", "storeUpdateCartLine", "Store Carts", "Change a line's quantity", "store", [CART_OK("200", "The cart.")], body="CartLineUpdate", params=[P_CART, P_LINE, P_CART_IFMATCH],
   desc="Raising a quantity checks the stock again; 0 removes the line." + CART_RULES)
op("delete", "/v1/store/carts/{id}/line-items/{line_id}", "storeDeleteCartLine", "Store Carts", "Remove a line", "store", [CART_OK("200", "The cart.")], params=[P_CART, P_LINE, P_CART_IFMATCH], desc=CART_RULES)
op("post", "/v1/store/carts/{id}/customer", "storeAttachCart", "Store Carts", "Attach a guest cart to the logged-in customer", "customer", [CART_OK("200", "The cart, now the customer's.")], body="CartAttach", params=[P_CART, P_CART_IFMATCH],
   desc="The cart becomes the caller's (its email becomes the account's). When the customer has another active cart in this sales channel, the most recently changed one is merged into this one and is 404 afterwards:"
        " its lines are added (quantities of the same variant add up), capped by the 10000-unit line limit, the 250-line limit and the channel's stock (never below what this cart holds);"
        " lines that cannot be sold here are dropped; last_merge reports what was not moved. Only lines move: this cart keeps its currency, region, addresses, note and metadata."
        " A cart that already is the caller's is answered unchanged. 401 without a customer token; another customer's cart is 404 (not 409: the id alone must not reveal that the cart exists)." + CART_RULES)
paths["/v1/store/carts/{id}/customer"]["post"]["requestBody"]["required"] = False  # no body is fine
schemas["CartShippingOption"] = obj({"id": ID("so"), "object": {"const": "shipping_option", "description": "Always shipping_option."}, "name": S("Name."),
    "provider": S("The shipping provider (flat_rate)."), "amount": {"type": "integer", "minimum": 0, "description": "What it costs this cart now, minor units of currency_code."},
    "currency_code": S("The cart's currency."), "free_over": {"type": ["integer", "null"], "minimum": 0, "description": "Free once the items after discounts reach this amount; null: never."},
    "selected": B("It is the cart's chosen method.")}, desc="A shipping option a cart may choose, rated for the cart.")
schemas["CartShippingOptionList"] = obj({"object": {"const": "list", "description": "Always list."},
    "data": {"type": "array", "maxItems": 100, "items": {"$ref": "#/components/schemas/CartShippingOption"}, "description": "The options, in the order of their configured amount (then id); amount is what each costs this cart now."},
    "has_more": {"const": False, "description": "Always false (every option is on the one page)."}, "next_cursor": {"type": "null", "description": "Always null."}},
    desc="The shipping options of a cart.")
schemas["CartShippingMethodSelect"] = req({"option_id": S("A shipping option from GET .../shipping-options.", maxLength=40, pattern="^so_[0-9a-hjkmnp-tv-z]{26}$")}, ["option_id"], "The shipping option to ship the cart with.")
SHIP_RULES = (" The cart's region is its region_id, else the region of its shipping country, else its sales channel's default region (each only when it sells in the cart's currency)."
              " An option is available when it is active, of that region, and, when it has countries (a zone), the cart's shipping address is in one of them.")
op("get", "/v1/store/carts/{id}/shipping-options", "storeListCartShippingOptions", "Store Carts", "The shipping options of a cart, with their amounts", "store",
   [ok("200", "CartShippingOptionList", headers=H_ETAG), NOTMOD], params=[P_CART, P_INM], desc="Each option rated by its provider for the cart now." + SHIP_RULES + CART_RULES)
op("post", "/v1/store/carts/{id}/shipping-methods", "storeSetCartShippingMethod", "Store Carts", "Choose the cart's shipping method", "store", [CART_OK("200", "The cart.")],
   body="CartShippingMethodSelect", params=[P_CART, P_CART_IFMATCH],
   desc="Replaces the cart's method (a cart has one). 422 (pointer /option_id) with code not_found for an unknown option, not_available for one not available for this cart." + SHIP_RULES + CART_RULES)

# ---- tax rates and shipping options (core/tax*.c, core/shipping*.c, migrations/0020_tax_shipping.sql) ----------------
place = {"region_id": {"type": ["string", "null"], "maxLength": 40, "description": "The region whose default rate this is (not with country_code)."},
    "country_code": {**country, "type": ["string", "null"], "description": "The country of the rate, ISO 3166-1 alpha-2 (not with region_id)."},
    "province_code": {"type": ["string", "null"], "minLength": 1, "maxLength": 16, "pattern": "^[A-Za-z0-9-]+$", "description": "Narrows a country rate to a province or state: the ISO 3166-2 subdivision code without the country (ca for California), matched case-insensitively against the shipping address's province. Needs country_code."}}
tax_in = {**place, "tax_class": S("Tax class of the variants it taxes (default standard; shipping taxes shipping).", minLength=1, maxLength=32, pattern="^[a-z0-9_]+$"),
    "rate_bp": {"type": "integer", "minimum": 0, "maximum": 10000, "description": "The rate in basis points: 1900 = 19%, 0 for zero-rated goods."},
    "name": S("Name (shown in tax lines).", minLength=1, maxLength=256), "code": S("Code, unique per place and class (shown in tax lines, e.g. VAT).", minLength=1, maxLength=64), "metadata": metadata_in}
schemas["TaxRateCreate"] = req(tax_in, ["rate_bp", "name", "code"], "A new tax rate: give region_id (the region's default) or country_code (with an optional province_code).")
schemas["TaxRateUpdate"] = req(tax_in, [], "Fields to change; to move a rate between a region and a country send the other one as null. Send If-Match to refuse a stale change (412).")
schemas["TaxRate"] = obj({"id": ID("txr"), "object": {"const": "tax_rate", "description": "Always tax_rate."},
    "region_id": IDN("reg", "The region of a default rate; null for a country rate."), "country_code": SN("Country of the rate (lower-case); null for a region's default."),
    "province_code": SN("Province or state (lower-case) of the rate; null for the whole country."), "tax_class": S("Tax class."),
    "rate_bp": INT("Basis points (1900 = 19%).", minimum=0, maximum=10000), "name": S("Name."), "code": S("Code."), "metadata": metadata_out, **ts_pair},
    desc="A tax rate. " + TAX_RULES)
schemas["TaxRateList"] = list_of("TaxRate", "tax rates")
ship_in = {"name": S("Name shown to buyers.", minLength=1, maxLength=256), "region_id": S("The region (its currency is the amounts').", maxLength=40),
    "countries": {"type": "array", "maxItems": 250, "items": country, "description": "A zone: only these countries of the region (empty: all of them). Each must be a country of the region (422)."},
    "provider": {"type": "string", "enum": ["flat_rate"], "description": "The shipping provider that rates it (default flat_rate)."},
    "amount": {"type": "integer", "minimum": 0, "maximum": 1000000000000, "description": "flat_rate: the price, minor units of the region's currency."},
    "free_over": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000000000, "description": "Free once the cart's items after discounts reach this amount; null: never."},
    "is_active": B("Offered to carts (default true)."), "metadata": metadata_in}
schemas["ShippingOptionCreate"] = req(ship_in, ["name", "region_id", "amount"], "A new shipping option.")
schemas["ShippingOptionUpdate"] = req(ship_in, [], "Fields to change. Send If-Match to refuse a stale change (412).")
schemas["ShippingOption"] = obj({"id": ID("so"), "object": {"const": "shipping_option", "description": "Always shipping_option."}, "name": S("Name."), "region_id": ID("reg"),
    "countries": {"type": "array", "items": {"type": "string"}, "description": "The zone (lower-case; empty: the whole region)."}, "provider": S("Shipping provider."),
    "amount": INT("Price, minor units.", minimum=0), "free_over": {"type": ["integer", "null"], "description": "Free-shipping threshold; null: none."},
    "is_active": B("Offered to carts."), "metadata": metadata_out, **ts_pair}, desc="A shipping option of a region.")
schemas["ShippingOptionList"] = list_of("ShippingOption", "shipping options")
crud("/v1/admin/tax-rates", "Admin Tax Rates", "TaxRate", "txr", "tax rate", "settings:read", "settings:write",
     list_params=[Q("region_id", "Only default rates of this region."), Q("country_code", "Only rates of this country.")],
     extra_desc="422 when neither or both of region_id and country_code are given, for a province_code without country_code, a rate_bp outside 0..10000 or an unknown region; 409 already-exists (pointer /code) when the place and class have a rate with this code.")
crud("/v1/admin/shipping-options", "Admin Shipping Options", "ShippingOption", "so", "shipping option", "settings:read", "settings:write",
     list_params=[Q("region_id", "Only options of this region.")], extra_desc="422 for an unknown region (pointer /region_id) or a country outside the region (pointer /countries).")
TAGS.append(("Admin Tax Rates", "Tax rates per region, country and province, by tax class."))
TAGS.append(("Admin Shipping Options", "Shipping options per region and zone, rated by shipping providers."))
TAGS.append(("Store Carts", "Guest and customer carts with server-priced lines."))
exec(open(os.path.join(HERE, 'promotions.py')).read())  # promotions and gift cards
exec(open(os.path.join(HERE, 'dynprice.py')).read())  # dynamic pricing: the price ledger, schedules, rules

# ---- checkout and orders (core/checkout*, core/order*, migrations/0019_orders_checkout.sql) ---------------------------------
OM = lambda d: {"type": "integer", "description": d + " Minor units of the order's currency."}
ORDER_ID = ID("order")
schemas["OrderLineItem"] = obj({"id": ID("oli"), "object": {"const": "order_line_item", "description": "Always order_line_item."},
    "variant_id": IDN("var", "The variant bought (null once the variant is deleted; the line keeps its snapshot)."), "product_id": SN("The product bought."),
    "title": S("Product title at checkout."), "variant_title": SN("Variant title at checkout."), "sku": SN("SKU at checkout."), "requires_shipping": B("Shipped goods."),
    "quantity": INT("Units.", minimum=1, maximum=10000), "unit_price": OM("Price of one unit at checkout."), "compare_at_unit_price": {"type": ["integer", "null"], "description": "Was-price at checkout."},
    "subtotal": OM("unit_price x quantity."), "discount_total": OM("Discounts of the line."), "tax_total": OM("Tax of the line."), "total": OM("The line's total as the cart showed it."),
    "adjustments": {"type": "array", "items": {"type": "object"}, "description": "Promotion adjustments, as the cart showed them."},
    "tax_lines": {"type": "array", "items": {"$ref": "#/components/schemas/TaxLine"}, "description": "Tax lines, as the cart showed them."},
    "fulfilled_quantity": INT("Units fulfilled.", minimum=0), "returned_quantity": INT("Units returned.", minimum=0), "metadata": metadata_out},
    desc="A line of an order: an immutable snapshot of what the cart held at checkout.")
schemas["OrderPayment"] = obj({"id": ID("pay"), "object": {"const": "payment", "description": "Always payment."}, "provider": S("Payment provider (manual, test, or a plugin's)."),
    "status": {"type": "string", "enum": ["authorizing", "requires_action", "pending", "authorized", "captured", "declined", "voided", "canceled", "error"], "description": "Where the payment stands at its provider."},
    "amount": OM("Amount authorized."), "captured_amount": OM("Amount captured."), "refunded_amount": OM("Amount refunded."), "created_at": TS("When it was opened.")}, desc="A payment of an order.")
schemas["Refund"] = obj({"id": ID("ref"), "object": {"const": "refund", "description": "Always refund."}, "order_id": ORDER_ID, "payment_id": ID("pay"), "amount": OM("Amount refunded."),
    "reason": {"type": ["string", "null"], "enum": ["requested_by_customer", "duplicate", "fraudulent", "return", "other", None], "description": "Why."}, "note": SN("Staff note."),
    "status": {"type": "string", "enum": ["pending", "succeeded", "failed"], "description": "succeeded once the provider refunded it."}, "created_at": TS("When it was made.")}, required=["id", "object", "payment_id", "amount", "reason", "note", "status", "created_at"], desc="A refund of (part of) a captured payment.")
schemas["OrderEvent"] = obj({"type": S("What happened: order.placed, order.paid, order.canceled, refund.created, ..."), "data": {"type": "object", "description": "Details of the change."},
    "actor": SN("Who did it (a staff user, API key or customer id); null for the system."), "created_at": TS("When.")}, desc="An entry of an order's timeline.")
order_props = {"id": ORDER_ID, "object": {"const": "order", "description": "Always order."}, "number": INT("Human-friendly order number (from 1001, increasing)."), "display_number": S("The number as shown to people: #1001."),
    "cart_id": SN("The cart it was placed from."), "sales_channel_id": ID("sc"), "customer_id": IDN("cus", "The customer: the account that checked out, or a guest customer record of the email."),
    "email": SN("Email for the order."), "currency_code": S("Lower-case ISO 4217 currency of every amount."), "region_id": IDN("reg", "Region of the cart."),
    "status": {"type": "string", "enum": ["open", "completed", "canceled"], "description": "Lifecycle of the order."},
    "payment_status": {"type": "string", "enum": ["pending", "authorized", "paid", "partially_refunded", "refunded", "voided"], "description": "pending -> paid|voided; authorized -> paid|voided; paid -> partially_refunded|refunded; partially_refunded -> partially_refunded|refunded. Any other move is 409 invalid-state."},
    "fulfillment_status": {"type": "string", "enum": ["unfulfilled", "partially_fulfilled", "fulfilled", "shipped", "delivered"], "description": "Fulfilment progress."},
    "shipping_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddress"}, {"type": "null"}], "description": "Shipping address at checkout."},
    "billing_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddress"}, {"type": "null"}], "description": "Billing address at checkout."},
    "shipping_methods": {"type": "array", "items": {"$ref": "#/components/schemas/CartShippingMethod"}, "description": "Shipping methods at checkout (as the cart showed them)."}, "promotion_codes": {"type": "array", "items": {"type": "string"}, "description": "Promotion codes applied at checkout."},
    "note": SN("Buyer's note."), "metadata": metadata_out,
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLineItem"}, "description": "Lines, in the cart's order."},
    "payments": {"type": "array", "items": {"$ref": "#/components/schemas/OrderPayment"}, "description": "Payments."},
    "refunds": {"type": "array", "items": {"$ref": "#/components/schemas/Refund"}, "description": "Refunds."},
    "tax_inclusive": B("Prices include tax."), "item_subtotal": OM("Sum of the lines' subtotals."), "discount_total": OM("Discounts."), "shipping_total": OM("Shipping."),
    "shipping_discount_total": OM("Discounts on shipping."), "tax_total": OM("Tax."), "total": OM("What the buyer owes (the cart's total at checkout)."), "gift_card_total": OM("Paid by gift cards."),
    "paid_total": OM("Captured (and paid by gift cards)."), "refunded_total": OM("Refunded."),
    "placed_at": TS("When the order was placed."), "canceled_at": {"type": ["string", "null"], "format": "date-time", "description": "When it was canceled."}, **ts_pair}
schemas["Order"] = obj(order_props, desc="An order.")
schemas["AdminOrder"] = obj({**order_props, "timeline": {"type": "array", "items": {"$ref": "#/components/schemas/OrderEvent"}, "description": "Every change, oldest first."}}, desc="An order with its timeline (staff).")
schemas["OrderList"] = list_of("Order", "orders")
schemas["CheckoutRequest"] = req({"payment": req({"provider": S("The payment provider: manual (bank transfer, cash on delivery: the order waits for staff to capture) or test (a card-style test gateway).", minLength=1, maxLength=32),
    "data": {"type": "object", "description": "The provider's payment data. test: {\"token\": \"tok_visa\" | \"tok_declined\" | \"tok_insufficient_funds\" | \"tok_3ds\" | \"tok_error\"}; manual: none."}}, ["provider"], "How the buyer pays."),
    "expected_total": INT("The cart total (minor units) the buyer saw and confirmed. When given and the cart's total is now different (a price, promotion, tax rate or pricing plugin changed it), checkout does nothing and answers 409 conflict with the new total at /expected_total (code total_changed). Recommended.", minimum=0, maximum=1000000000000)}, [],
    "How to pay. payment may be left out only when nothing is due (amount_due 0).")
schemas["CheckoutAction"] = obj({"object": {"const": "checkout_action", "description": "Always checkout_action."}, "status": {"const": "requires_action", "description": "The buyer must act."}, "cart_id": CART_ID,
    "payment": obj({"id": ID("pay"), "provider": S("Provider."), "status": {"const": "requires_action", "description": "Waiting for the buyer."}, "amount": OM("Amount."), "currency_code": S("Currency."),
        "next_action": {"type": "object", "description": "What the buyer must do, e.g. {\"type\": \"redirect_to_url\", \"url\": ..., \"method\": \"POST\"}."}}, desc="The payment waiting for the buyer.")},
    desc="The payment needs the buyer (3-D Secure, a redirect). The stock stays reserved for checkout_reservation_ttl seconds; after acting, call complete again with a new Idempotency-Key.")
schemas["RefundCreate"] = req({"amount": INT("Amount to refund, minor units (1 or more; at most what is captured and not refunded: 422 at /amount).", minimum=1),
    "reason": {"type": "string", "enum": ["requested_by_customer", "duplicate", "fraudulent", "return", "other"], "description": "Why."}, "note": {"type": "string", "maxLength": 1000, "description": "Staff note."}}, ["amount"], "A refund.")
schemas["OrderCancel"] = req({"reason": {"type": "string", "enum": ["customer", "fraud", "inventory", "declined", "other"], "description": "Why."}}, [], "Why the order is canceled (optional).")
schemas["TestAuthenticate"] = req({"result": {"type": "string", "enum": ["succeed", "fail"], "description": "The buyer passed or failed authentication."}}, ["result"], "The outcome of the test gateway's 3-D Secure page.")
schemas["TestCharge"] = obj({"id": ID("ch"), "status": {"type": "string", "enum": ["authorized", "declined"], "description": "The charge's new status."}}, desc="A test gateway charge.")
P_ORDER = P_ID("order", "order")
qp = lambda n, d, sch: {"name": n, "in": "query", "required": False, "description": d, "schema": sch}
ORDER_FILTERS = [P_LIMIT, P_CURSOR, qp("status", "Only orders in this status.", {"type": "string", "enum": ["open", "completed", "canceled"]}),
    qp("payment_status", "Only this payment status.", {"type": "string", "enum": ["pending", "authorized", "paid", "partially_refunded", "refunded", "voided"]}),
    qp("fulfillment_status", "Only this fulfilment status.", {"type": "string", "enum": ["unfulfilled", "partially_fulfilled", "fulfilled", "shipped", "delivered"]}),
    qp("customer_id", "Only this customer's orders.", {"type": "string", "maxLength": 40}), qp("sales_channel_id", "Only this channel's orders.", {"type": "string", "maxLength": 40}),
    qp("currency_code", "Only orders in this currency.", {"type": "string", "minLength": 3, "maxLength": 3}),
    qp("placed_after", "Placed at or after (YYYY-MM-DD or RFC 3339).", {"type": "string", "maxLength": 35}), qp("placed_before", "Placed before (YYYY-MM-DD or RFC 3339).", {"type": "string", "maxLength": 35}),
    qp("total_min", "Total at least (minor units).", {"type": "integer"}), qp("total_max", "Total at most (minor units).", {"type": "integer"}),
    qp("q", "The order's email (case-insensitive, exact) or number (1001 or #1001).", {"type": "string", "minLength": 1, "maxLength": 254}), P_INM]
op("post", "/v1/store/carts/{id}/complete", "storeCompleteCart", "Store Checkout", "Check out: the cart becomes an order", "store",
   [ok("201", "Order", "The order placed."), ok("200", "Order", "The cart already is this order (a retry with another key)."), ok("202", "CheckoutAction", "The payment needs the buyer's action.")],
   body="CheckoutRequest", params=[P_CART],
   desc="Requires Idempotency-Key (400 invalid-parameter without it). Prices the cart, checks it (lines sellable, email, shipping address with address_1 and city when goods ship: 422 with a pointer), reserves its stock all or nothing (409 insufficient-stock), "
        "refuses a total other than expected_total when given (409 conflict at /expected_total, before anything is reserved or charged), "
        "authorizes the payment through its provider with no lock held (402 payment-declined with the decline code; 502 payment-provider-error; for a provider that is a Lua plugin: 502 plugin-failed, 504 plugin-timeout, 503 plugin-degraded while its circuit breaker is open), then creates the order with an immutable snapshot of prices, taxes, discounts and addresses, "
        "moves the reservations to it and writes order.placed to the outbox, in one transaction. A declined or failed payment gives the stock back. The gateway gets an idempotency key derived from the cart and the Idempotency-Key, so a retried request never charges twice."
        " 404 not-found for a cart that is missing, expired, another channel's or another customer's.")
paths["/v1/store/carts/{id}/complete"]["post"]["requestBody"]["required"] = False
op("get", "/v1/store/customers/me/orders", "storeListMyOrders", "Store Checkout", "The customer's orders", "customer", [ok("200", "OrderList", headers=H_ETAG), NOTMOD], params=[P_LIMIT, P_CURSOR, P_INM])
op("get", "/v1/store/customers/me/orders/{id}", "storeGetMyOrder", "Store Checkout", "One of the customer's orders", "customer", [ok("200", "Order", headers=H_ETAG), NOTMOD], params=[P_ORDER, P_INM], desc="Another customer's order is 404.")
op("get", "/v1/admin/orders", "adminListOrders", "Admin Orders", "Search orders", "admin", [ok("200", "OrderList", headers=H_ETAG), NOTMOD], params=ORDER_FILTERS, perm="orders:read",
   desc="Newest first. 400 invalid-parameter for a filter value of the wrong form.")
op("get", "/v1/admin/orders/{id}", "adminGetOrder", "Admin Orders", "An order with its timeline", "admin", [ok("200", "AdminOrder", headers=H_ETAG), NOTMOD], params=[P_ORDER, P_INM], perm="orders:read")
op("post", "/v1/admin/orders/{id}/capture", "adminCaptureOrder", "Admin Orders", "Capture the order's payment", "admin", [ok("200", "Order", "The order, paid.")], params=[P_ORDER], perm="orders:write",
   desc="Captures the authorized payment through its provider (for manual payments: records that the money arrived). 409 invalid-state unless the payment is pending or authorized; 502 when the provider fails. Writes order.paid.")
paths["/v1/admin/orders/{id}/capture"]["post"]["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CartAttach"}}}}
op("post", "/v1/admin/orders/{id}/cancel", "adminCancelOrder", "Admin Orders", "Cancel an order", "admin", [ok("200", "Order", "The order, canceled.")], body="OrderCancel", params=[P_ORDER], perm="orders:write",
   desc="Only an unfulfilled order whose payment is pending or authorized (a paid order is refunded first): voids the payment at its provider, releases the reserved stock, writes order.canceled. 409 invalid-state otherwise.")
paths["/v1/admin/orders/{id}/cancel"]["post"]["requestBody"]["required"] = False
op("post", "/v1/admin/orders/{id}/refunds", "adminRefundOrder", "Admin Orders", "Refund part or all of a captured payment", "admin", [ok("201", "Refund", "The refund.")], body="RefundCreate", params=[P_ORDER], perm="orders:write",
   desc="The amount is reserved on the payment before the provider is called, so concurrent refunds never add up to more than was captured (422 at /amount). 409 invalid-state unless the order is paid or partially refunded; 502 when the provider fails (the refund is recorded as failed). Writes refund.created.")
# ---- plugins (api/handlers/plugins.c, plugins/host) -----------------------------------------------------------
PLUGIN_FIELD = {"type": "object", "description": "One setting of the plugin's config schema (from its manifest).", "additionalProperties": False,
    "properties": {"type": {"type": "string", "enum": ["string", "integer", "boolean", "string[]", "object"], "description": "The value's type."},
                   "description": S("What the setting is for."), "required": B("The plugin stays disabled (status unconfigured) until it is set."),
                   "secret": B("Write-only: its value is never returned (its name is listed in secrets_set once it has one) nor logged."),
                   "default": {"description": "The value when none is set (never shown for secret settings)."},
                   "enum": {"type": "array", "items": {"type": "string"}, "description": "Allowed values."},
                   "min": INT("Smallest allowed integer."), "max": INT("Largest allowed integer."), "max_length": INT("Longest allowed string.")},
    "required": ["type", "description", "required", "secret"]}
schemas["Plugin"] = obj({"object": {"const": "plugin", "description": "Always plugin."},
    "name": S("The plugin's name (its manifest's), unique.", pattern="^[a-z][a-z0-9_-]{0,47}$"), "version": S("Semantic version of the loaded code."),
    "sdk": INT("The souq.* SDK major version the plugin targets."), "description": S("What it does."), "priority": INT("Among plugins providing the same kind:id, the highest priority serves."),
    "provides": {"type": "array", "items": S("kind:id, e.g. payment:manual."), "description": "The extension points it fills (payment:<id> is a payment provider id checkouts can name)."},
    "folder": S("The folder it was loaded from."),
    "enabled": B("The stored setting: false switches the plugin off (a built-in provider of the same id, if any, serves instead)."),
    "status": {"type": "string", "enum": ["active", "disabled", "unconfigured", "degraded"], "description": "active; disabled (enabled false); unconfigured (a required setting is missing); degraded (its circuit breaker is open after repeated failures: calls fail fast with 503 plugin-degraded)."},
    "config": {"type": "object", "description": "The effective values of the settings that are not secret (stored values over manifest defaults)."},
    "secrets_set": {"type": "array", "items": {"type": "string"}, "description": "Names of the secret settings that have a value. Their values are never returned."},
    "config_schema": {"type": "object", "additionalProperties": PLUGIN_FIELD, "description": "The settings the plugin takes, by name."},
    "limits": obj({"instructions": INT("Lua VM instructions per request-path call."), "background_instructions": INT("Instructions per background call."),
                   "wall_ms": INT("Wall-clock budget of a request-path call, ms."), "background_wall_ms": INT("Wall-clock budget of a background call, ms."),
                   "deadline_ms": INT("Overall bound of a request-path call including the time it waits for souq.http answers, ms."),
                   "background_deadline_ms": INT("Overall bound of a background call including I/O waits, ms."),
                   "memory_mb": INT("Memory cap of each of its Lua states, MiB."), "breaker_failures": INT("Failures that open the circuit breaker..."),
                   "breaker_window_s": INT("...within this many seconds."), "breaker_open_s": INT("How long the breaker stays open.")}, desc="Its budgets (manifest limits, else the defaults)."),
    "stats": obj({"calls": INT("Calls into the plugin since the process started."), "failures": INT("Failed calls (any reason; /metrics has them by reason).")}, desc="Counters of this process.")},
    desc="A Lua plugin as loaded by this node (plugins/<name>/: manifest.json, handler.lua, README.md).")
schemas["PluginList"] = obj({"object": {"const": "list", "description": "Always list."},
    "data": {"type": "array", "maxItems": 64, "items": {"$ref": "#/components/schemas/Plugin"}, "description": "Every loaded plugin, by folder order (one page)."},
    "has_more": {"const": False, "description": "Always false."}, "next_cursor": {"type": "null", "description": "Always null."}}, desc="The loaded plugins.")
schemas["PluginUpdate"] = req({"enabled": B("Switch the plugin on or off."),
    "config": {"type": "object", "description": "Settings to change, merged over the stored ones (JSON merge patch, one level): a setting left out keeps its stored value; a value replaces it; null removes the stored value, so the manifest's default applies again (or, without a default, the setting is unset; removing a required one is refused with 422 required at /config/<name> unless the same PATCH disables the plugin). null also removes a stored value of a setting the plugin's schema no longer has (a new version dropped it): such a value leaves the plugin unconfigured and makes every PATCH that keeps it a 422 unknown-field. The merged settings are validated against the plugin's config_schema (422 with /config/<name>; 422 unknown-field for a setting it does not have); nothing is stored when refused. Secret values are accepted here and never shown again; null removes a secret too."}},
    [], "A change of a plugin's settings. Enabling needs every required setting.")
schemas["PluginReload"] = obj({"object": {"const": "plugin_reload", "description": "Always plugin_reload."}, "generation": INT("The registry generation now serving."),
    "loaded": {"type": "array", "items": S("Name."), "description": "Plugins loaded from their folders."},
    "refused": {"type": "array", "description": "Plugins that failed to load, with why; when kept_version is set, the previous version of that folder stays active.",
        "items": obj({"folder": S("The plugin's folder."), "error": S("Why it was refused (manifest error, syntax error, missing hook function...)."), "kept_version": SN("The previous version of the folder, still serving; null when there was none.")}, ["folder", "error"], desc="A refused plugin.")}},
    desc="The outcome of a reload.")
P_PLUGIN = {"name": "name", "in": "path", "required": True, "description": "The plugin's name.", "schema": {"type": "string", "minLength": 1, "maxLength": 48}}
op("get", "/v1/admin/plugins", "adminListPlugins", "Admin Plugins", "The loaded plugins", "admin", [ok("200", "PluginList")], perm="plugins:read",
   desc="What this node loaded from plugin_dirs, with status, effective settings (secret values never) and counters.")
op("get", "/v1/admin/plugins/{name}", "adminGetPlugin", "Admin Plugins", "One plugin", "admin", [ok("200", "Plugin")], params=[P_PLUGIN], perm="plugins:read", desc="404 not-found for a name no loaded plugin has.")
op("patch", "/v1/admin/plugins/{name}", "adminUpdatePlugin", "Admin Plugins", "Enable, disable or configure a plugin", "admin", [ok("200", "Plugin", "The plugin with its new settings (applied on this node at once; other nodes at their next reload).")],
   body="PluginUpdate", params=[P_PLUGIN], perm="plugins:write",
   desc="Stores the settings in the database (plugin_settings) and applies them: calls already running finish with the old settings. config is merged over the stored settings: a setting left out keeps its value, null removes one (its default applies again). Secret values are write-only and never logged.")
op("post", "/v1/admin/plugins/reload", "adminReloadPlugins", "Admin Plugins", "Reload the plugin folders", "admin", [ok("200", "PluginReload")], perm="plugins:write",
   desc="Rereads every plugin folder and the stored settings, builds the new versions and swaps them in while requests keep flowing (SIGHUP does the same). A plugin that fails to load is reported and its previous version stays. Takes no body (an empty JSON object is accepted).")

op("post", "/v1/hooks/test/charges/{id}/authenticate", "hookTestAuthenticate", "Provider Callbacks", "The test gateway's 3-D Secure page", "none", [ok("200", "TestCharge")], body="TestAuthenticate",
   params=[P_ID("ch", "test gateway charge")], desc="Stands in for the bank's page in tests and demos: the charge waiting for authentication becomes authorized (succeed) or declined (fail); then complete the cart again. 404 when no charge of this id waits.")
schemas["ProviderEvent"] = {"type": "object", "description": "The provider's event exactly as it sends it (the plugin verifies the raw bytes, e.g. Stripe-Signature)."}
schemas["WebhookReceipt"] = obj({"object": {"const": "webhook_receipt", "description": "Always webhook_receipt."}, "plugin": S("The plugin that verified the callback."),
    "event_id": {"type": ["string", "null"], "description": "The provider's event id (null when the plugin ignored the callback)."},
    "status": {"type": "string", "enum": ["applied", "duplicate", "ignored"], "description": "applied: the first receipt of this event id (plugin.webhook_received was written to the outbox); duplicate: a replay, nothing changed; ignored: the plugin does not act on this kind of callback."}},
    desc="What became of an inbound provider callback.")
P_HOOK_PLUGIN = {"name": "plugin", "in": "path", "required": True, "description": "The plugin's name (payment-stripe).", "schema": {"type": "string", "minLength": 1, "maxLength": 48}}
P_HOOK_TOPIC = {"name": "topic", "in": "path", "required": True, "description": "A path segment the plugin may use (1-128 letters, digits, _ - .).", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$"}}
HOOK_DESC = ("The raw body and headers go to the plugin's handle_webhook, which verifies the provider's signature (payment-stripe: Stripe-Signature, HMAC-SHA256 with the "
             "webhook_secret setting, 5-minute tolerance). Each event id is applied once per plugin (plugin_webhook_events): the first receipt writes plugin.webhook_received "
             "to the outbox, replays answer duplicate. 400 bad-request when the plugin cannot verify the callback; 404 not-found when no enabled plugin has this name; "
             "502 plugin-failed when the plugin has no handle_webhook or fails; 503/504 as for any plugin call.")
op("post", "/v1/hooks/{plugin}", "hookPlugin", "Provider Callbacks", "An event from a plugin's provider", "none", [ok("200", "WebhookReceipt")], body="ProviderEvent", params=[P_HOOK_PLUGIN], desc=HOOK_DESC)
op("post", "/v1/hooks/{plugin}/{topic}", "hookPluginTopic", "Provider Callbacks", "An event from a plugin's provider, with a topic", "none", [ok("200", "WebhookReceipt")], body="ProviderEvent", params=[P_HOOK_PLUGIN, P_HOOK_TOPIC], desc=HOOK_DESC + " The topic is handed to the plugin.")
TAGS.append(("Store Checkout", "Checkout and the customer's orders."))
TAGS.append(("Admin Orders", "Order search, capture, cancel and refunds."))
TAGS.append(("Admin Plugins", "Lua plugins: status, settings (secrets write-only), reload."))
TAGS.append(("Provider Callbacks", "Calls from payment and shipping providers."))

# ---- fulfilments, shipments, returns, the orders export (core/fulfillment*, migrations/0022_fulfilment_returns.sql) ----------
FUL_ID, RET_ID = ID("ful"), ID("ret")
schemas["Shipment"] = obj({"id": ID("shp"), "object": {"const": "shipment", "description": "Always shipment."}, "carrier": S("Carrier."), "tracking_number": S("Tracking number."),
    "tracking_url": SN("Tracking page."), "created_at": TS("When it was recorded.")}, desc="A parcel of a fulfilment, with its tracking.")
schemas["Fulfillment"] = obj({"id": FUL_ID, "object": {"const": "fulfillment", "description": "Always fulfillment."}, "order_id": ORDER_ID, "location_id": ID("sloc"),
    "status": {"type": "string", "enum": ["fulfilled", "shipped", "delivered"], "description": "fulfilled (packed, stock taken) -> shipped (a shipment recorded) -> delivered. Any other move is 409 invalid-state."},
    "notify": B("Whether the customer is to be told (the fulfillment.created event carries it for notification plugins)."),
    "items": {"type": "array", "items": obj({"line_item_id": ID("oli"), "quantity": INT("Units of the line in this fulfilment.", minimum=1)}), "description": "Lines and units."},
    "shipments": {"type": "array", "items": {"$ref": "#/components/schemas/Shipment"}, "description": "Parcels, oldest first."},
    "shipped_at": TSN("When the first shipment was recorded."), "delivered_at": TSN("When the delivery was confirmed."), **ts_pair}, desc="A fulfilment: lines of an order packed from one stock location.")
schemas["Return"] = obj({"id": RET_ID, "object": {"const": "return", "description": "Always return."}, "order_id": ORDER_ID,
    "status": {"type": "string", "enum": ["requested", "approved", "rejected", "received"], "description": "requested -> approved | rejected; approved -> received. Any other move is 409 invalid-state. Returns made by staff start approved."},
    "reason": {"type": "string", "enum": ["damaged", "defective", "wrong_item", "not_as_described", "size_or_fit", "no_longer_needed", "other"], "description": "Why."},
    "note": SN("The requester's note."), "requested_by": {"type": "string", "enum": ["customer", "staff"], "description": "Who asked for it."}, "decision_note": SN("Staff note with the approval or rejection."),
    "items": {"type": "array", "items": obj({"line_item_id": ID("oli"), "quantity": INT("Units returned.", minimum=1), "restock": {"type": ["boolean", "null"], "description": "Put back on hand at receipt (null until received)."},
        "location_id": IDN("sloc", "Where the units were restocked.")}), "description": "Lines and units."},
    "refund_amount": OM("Refund of the received units: their share of their lines' totals, at most what the captured payment still holds (0 when nothing is to be refunded)."),
    "refund_id": IDN("ref", "The refund made at receipt."), "refund_status": {"type": ["string", "null"], "enum": ["succeeded", "failed", None], "description": "The refund's outcome; failed: the provider refused, refund by hand."},
    "approved_at": TSN("When approved."), "rejected_at": TSN("When rejected."), "received_at": TSN("When received."), **ts_pair}, desc="A return (RMA) of fulfilled units of an order.")
schemas["ReturnList"] = list_of("Return", "returns")
for _o in ("Order", "AdminOrder"):
    schemas[_o]["properties"]["fulfillments"] = {"type": "array", "items": {"$ref": "#/components/schemas/Fulfillment"}, "description": "Fulfilments, oldest first."}
    schemas[_o]["properties"]["returns"] = {"type": "array", "items": {"$ref": "#/components/schemas/Return"}, "description": "Returns, oldest first."}
    schemas[_o]["required"] += ["fulfillments", "returns"]
_lines_in = lambda what: {"type": "array", "minItems": 1, "maxItems": 250, "description": f"Lines and units {what}; each line once (422 repeated).",
    "items": req({"line_item_id": S("A line of the order (422 not_found otherwise).", pattern="^[a-z]+_[0-9a-hjkmnp-tv-z]{26}$"), "quantity": INT("Units, 1 to 10000.", minimum=1, maximum=10000)}, ["line_item_id", "quantity"], "A line and units.")}
schemas["FulfillmentCreate"] = req({"location_id": S("The stock location the units leave from (422 not_found when unknown).", pattern="^[a-z]+_[0-9a-hjkmnp-tv-z]{26}$"),
    "items": _lines_in("to fulfil: at most what is left to fulfil of each line (422 exceeds_unfulfilled at /items/i/quantity)"),
    "notify": B("Tell the customer (default false)."), "capture": B("Capture the order's pending or authorized payment first (default false); a failed capture fulfils nothing.")}, ["location_id", "items"], "A fulfilment.")
schemas["ShipmentCreate"] = req({"carrier": S("Carrier.", minLength=1, maxLength=64), "tracking_number": S("Tracking number.", minLength=1, maxLength=128),
    "tracking_url": {"type": ["string", "null"], "maxLength": 2048, "description": "Tracking page: an absolute http(s) URL."}}, ["carrier", "tracking_number"], "A parcel.")
schemas["ReturnCreate"] = req({"items": _lines_in("to return: at most what was fulfilled and is not in another return that was not rejected (422 exceeds_returnable at /items/i/quantity)"),
    "reason": {"type": "string", "enum": ["damaged", "defective", "wrong_item", "not_as_described", "size_or_fit", "no_longer_needed", "other"], "description": "Why."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Note."}}, ["items", "reason"], "A return request.")
schemas["ReturnDecision"] = req({"note": {"type": ["string", "null"], "maxLength": 1000, "description": "Note for the customer."}}, [], "An approval or rejection (the body is optional).")
schemas["ReturnReceive"] = req({"restock": B("Put the units back on hand (default true)."), "location_id": S("Where to restock (default: the location the line was last fulfilled from).", pattern="^[a-z]+_[0-9a-hjkmnp-tv-z]{26}$"),
    "items": {"type": "array", "maxItems": 250, "description": "Per-line restock decisions overriding restock.", "items": req({"line_item_id": S("A line of the return (422 not_found otherwise)."), "restock": B("Restock this line.")}, ["line_item_id", "restock"], "A line's decision.")},
    "refund": B("Refund the returned units' share through the order's captured payment (default true).")}, [], "The receipt of a return (the body is optional).")
P_FUL = {"name": "fulfillment_id", "in": "path", "required": True, "description": "Id of the fulfilment.", "schema": {"type": "string", "pattern": "^ful_[0-9a-hjkmnp-tv-z]{26}$"}}
P_RET = {"name": "return_id", "in": "path", "required": True, "description": "Id of the return.", "schema": {"type": "string", "pattern": "^ret_[0-9a-hjkmnp-tv-z]{26}$"}}
op("post", "/v1/admin/orders/{id}/fulfillments", "adminCreateFulfillment", "Admin Fulfilment", "Fulfil some or all lines from a location", "admin", [ok("201", "Fulfillment", "The fulfilment.")], body="FulfillmentCreate", params=[P_ORDER], perm="orders:write",
   desc="Takes the units from the location's stock: the order's reservations there are committed (on hand and reserved go down, ledger reason sale); reservations at other locations are released and the units sold from this location instead. "
        "409 insufficient-stock when the location lacks units (nothing changes); 409 invalid-state for a canceled order; 422 at /items/i/quantity beyond what is left to fulfil. "
        "Raises the lines' fulfilled_quantity and moves the order's fulfillment_status (unfulfilled -> partially_fulfilled -> fulfilled). Writes fulfillment.created, and order.fulfilled when every line is fulfilled. With capture: the payment is captured first (402/502 from the provider: nothing fulfilled).")
op("post", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/shipments", "adminCreateShipment", "Admin Fulfilment", "Record a shipment (carrier, tracking)", "admin", [ok("201", "Fulfillment", "The fulfilment, shipped.")], body="ShipmentCreate", params=[P_ORDER, P_FUL], perm="orders:write",
   desc="fulfilled -> shipped (further parcels may be added while shipped; 409 invalid-state once delivered). The order becomes shipped when it is fully fulfilled and every fulfilment shipped; then order.shipped is written with all tracking numbers. Writes shipment.created.")
op("post", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/deliver", "adminDeliverFulfillment", "Admin Fulfilment", "Confirm a delivery", "admin", [ok("200", "Fulfillment", "The fulfilment, delivered.")], params=[P_ORDER, P_FUL], perm="orders:write",
   desc="shipped -> delivered (409 invalid-state otherwise). The order becomes delivered when every fulfilment is; then order.delivered is written.")
paths["/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/deliver"]["post"]["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CartAttach"}}}}
# ---- carrier labels and tracking (core/label*, api/handlers/labels.c, migrations/0030_carrier_labels.sql) --------------------
TRACKING_STATUSES = ["unknown", "pre_transit", "in_transit", "out_for_delivery", "delivered", "available_for_pickup", "return_to_sender", "failure", "cancelled"]
schemas["Shipment"]["properties"].update({
    "provider": {"type": ["string", "null"], "description": "The shipping provider that sold the label (easypost); null for a shipment recorded by hand."},
    "label_url": SN("The label to print (the carrier's file), or null."),
    "label_cost": {"type": ["integer", "null"], "minimum": 0, "description": "What the carrier charged for the label, minor units of label_currency."},
    "label_currency": {"type": ["string", "null"], "pattern": "^[a-z]{3}$", "description": "Currency of label_cost (the carrier's, not necessarily the order's)."},
    "tracking_status": {"type": ["string", "null"], "enum": TRACKING_STATUSES + [None], "description": "The carrier's last word on the parcel (webhooks or a refresh); null for shipments recorded by hand that no carrier reported on."},
    "tracked_at": TSN("When the tracking status last changed.")})
schemas["Shipment"]["required"] += ["provider", "label_url", "label_cost", "label_currency", "tracking_status", "tracked_at"]
schemas["LabelCreate"] = req({"provider": S("The shipping provider that sells the label (default: the provider of the order's shipping method). 422 at /provider when it is not enabled or sells no labels (flat_rate).", minLength=1, maxLength=32, pattern="^[a-z0-9_]{1,32}$"),
    "service": S("The carrier service to buy (e.g. Priority, Express); default: the provider picks (shipping-easypost: the cheapest allowed rate).", minLength=1, maxLength=64)}, [], "A label purchase (the body is optional).")
P_SHP = {"name": "shipment_id", "in": "path", "required": True, "description": "Id of the shipment.", "schema": {"type": "string", "pattern": "^shp_[0-9a-hjkmnp-tv-z]{26}$"}}
op("post", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/labels", "adminBuyLabel", "Admin Fulfilment", "Buy a shipping label from the carrier", "admin", [ok("201", "Fulfillment", "The fulfilment, shipped, with the new shipment and its label.")], body="LabelCreate", params=[P_ORDER, P_FUL], perm="orders:write",
   desc="Asks the shipping provider (a plugin providing shipping:<id> with shipping_create_label, e.g. shipping-easypost) for a label from the fulfilment's stock location to the order's shipping address, for the weight of the fulfilled units; "
        "the label becomes a shipment (carrier, tracking number, tracking URL, label URL, cost) as POST .../shipments records one: fulfilled -> shipped, shipment.created, order.shipped when every fulfilment is. "
        "No lock is held while the carrier answers. The carrier down, slow or refusing is 502 plugin-failed / 504 plugin-timeout and nothing is written. 409 invalid-state for a delivered fulfilment; 422 at /provider or /shipping_address. "
        "An Idempotency-Key replays the first answer (a label is money).")
paths["/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/labels"]["post"]["requestBody"]["required"] = False
op("post", "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/shipments/{shipment_id}/track", "adminTrackShipment", "Admin Fulfilment", "Ask the carrier where a shipment is", "admin", [ok("200", "Fulfillment", "The fulfilment with the shipment's new tracking status.")], params=[P_ORDER, P_FUL, P_SHP], perm="orders:write",
   desc="Asks the shipment's provider (shipping_track; shipping-easypost: GET /v2/trackers/{id}) and applies the status: delivered delivers the fulfilment (fulfillment.delivered, and order.delivered when every fulfilment is), at most once. "
        "Carrier webhooks (POST /v1/hooks/{plugin}) do the same without being asked. 422 at /provider for a shipment recorded by hand; 502/504 when the carrier fails. Takes no body (an empty JSON object is accepted).")
paths["/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/shipments/{shipment_id}/track"]["post"]["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CartAttach"}}}}
op("post", "/v1/store/customers/me/orders/{id}/returns", "storeRequestReturn", "Store Checkout", "Ask to return units of an order", "customer", [ok("201", "Return", "The return, requested.")], body="ReturnCreate", params=[P_ORDER],
   desc="Only the customer's own order (404 otherwise). The return waits for staff approval. 409 invalid-state for a canceled order. Writes return.requested.")
op("post", "/v1/admin/orders/{id}/returns", "adminCreateReturn", "Admin Fulfilment", "Open a return for the customer", "admin", [ok("201", "Return", "The return, approved.")], body="ReturnCreate", params=[P_ORDER], perm="orders:write",
   desc="A return opened by staff is approved at once. Writes return.requested and return.approved.")
op("get", "/v1/admin/orders/{id}/returns", "adminListReturns", "Admin Fulfilment", "The returns of an order", "admin", [ok("200", "ReturnList", headers=H_ETAG), NOTMOD], params=[P_ORDER, P_LIMIT, P_CURSOR, P_INM], perm="orders:read", desc="Newest first; 404 for an unknown order.")
for _v, _d in (("approve", "Approve a requested return"), ("reject", "Reject a requested return")):
    op("post", f"/v1/admin/orders/{{id}}/returns/{{return_id}}/{_v}", f"admin{_v.title()}Return", "Admin Fulfilment", _d, "admin", [ok("200", "Return", "The return.")], body="ReturnDecision", params=[P_ORDER, P_RET], perm="orders:write",
       desc=f"requested -> {_v}d (409 invalid-state otherwise). Writes return.{_v}d.")
    paths[f"/v1/admin/orders/{{id}}/returns/{{return_id}}/{_v}"]["post"]["requestBody"]["required"] = False
op("post", "/v1/admin/orders/{id}/returns/{return_id}/receive", "adminReceiveReturn", "Admin Fulfilment", "Receive a return: restock and refund", "admin", [ok("200", "Return", "The return, received.")], body="ReturnReceive", params=[P_ORDER, P_RET], perm="orders:write",
   desc="approved -> received (409 invalid-state otherwise). Restocked units go back on hand (ledger reason return); the lines' returned_quantity rises. Unless refund is false, the returned units' share of their lines' totals is refunded through the refund flow (never more than captured); "
        "the receipt stands when the provider refuses: refund_status failed. Writes return.received (and refund.created).")
paths["/v1/admin/orders/{id}/returns/{return_id}/receive"]["post"]["requestBody"]["required"] = False
op("get", "/v1/admin/exports/orders.csv", "exportOrders", "Admin Orders", "Export orders as CSV", "admin",
   [ok("200", mt="text/csv", schema={"type": "string"}, desc="Every order the same filters select in GET /v1/admin/orders, newest first: header first, CRLF line ends, UTF-8, Content-Disposition: attachment. Amounts in minor units. Text cells that would start a spreadsheet formula (=, +, -, @, tab, CR) begin with an apostrophe.")],
   params=[p for p in ORDER_FILTERS if p.get("name") not in ("limit", "cursor", "If-None-Match")], perm="orders:read", desc="400 invalid-parameter for a filter value of the wrong form.")
TAGS.append(("Admin Fulfilment", "Fulfilments, shipments, deliveries and returns."))

# order edits and draft orders (core/order_edit*)
for _o in ("Order", "AdminOrder"):
    schemas[_o]["properties"]["outstanding_amount"] = OM("What the order still has to collect because edits raised its total (the payment status does not change); 0 normally.")
    schemas[_o]["required"] += ["outstanding_amount"]
_add_in = req({"variant_id": S("The variant (422 not_found).", pattern="^[a-z]+_[0-9a-hjkmnp-tv-z]{26}$"), "quantity": INT("Units, 1 to 10000.", minimum=1, maximum=10000),
    "unit_price": INT("Price of one unit, minor units (staff only); default: the variant's base price in the currency for this quantity's tier (422 not_priced at /.../variant_id when there is none).", minimum=0, maximum=999999999999)}, ["variant_id", "quantity"], "A line to add.")
schemas["OrderEdit"] = req({"add": {"type": "array", "maxItems": 250, "items": _add_in, "description": "Lines to add (always new lines, never merged)."},
    "remove": {"type": "array", "maxItems": 250, "items": {"type": "string"}, "description": "Ids of lines to remove (422 not_found at /remove/i)."},
    "change": {"type": "array", "maxItems": 250, "items": req({"line_id": S("A line of the order."), "quantity": INT("New quantity, 1 to 10000 (remove a line to drop it).", minimum=1, maximum=10000)}, ["line_id", "quantity"], "A quantity change."), "description": "Quantity changes: the line keeps its unit price; its discount and tax change in proportion."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Why (on the timeline)."}}, [], "An edit: at least one of add, remove, change (422 required at /add otherwise).")
op("post", "/v1/admin/orders/{id}/edits", "adminEditOrder", "Admin Orders", "Edit an unfulfilled order's lines", "admin", [ok("200", "AdminOrder", "The order after the edit, with its timeline.")], body="OrderEdit", params=[P_ORDER], perm="orders:write",
   desc="Only an open, unfulfilled order whose payment is not voided or refunded (409 invalid-state). One transaction: the lines change, the stock is reserved again for the new lines all or nothing (409 insufficient-stock: nothing changes), the totals move by the lines' difference, and every change is on the timeline (order.line_added, order.line_removed, order.line_quantity_changed, then order.edited, which also goes to the outbox). "
        "The difference is settled: a higher total adds to outstanding_amount (the payment status stays); a lower one first reduces outstanding_amount, then the open authorization's amount (the later capture takes less, as a partial capture), then is refunded from the captured payment through the refund flow (a refused refund leaves refund.failed on the timeline).")
DRAFT_ID = ID("draft")
_draft_line = obj({"variant_id": {"type": ["string", "null"], "description": "The variant."}, "product_id": SN("Its product."), "title": SN("Product title."), "variant_title": SN("Variant title."), "sku": SN("SKU (null once the variant is gone)."),
    "requires_shipping": B("Shipped goods."), "quantity": INT("Units.", minimum=1), "unit_price": {"type": ["integer", "null"], "description": "Price of one unit now: staff's price, else the base price of the tier (null: none; completing is then 422)."},
    "custom_price": B("unit_price was set by staff."), "subtotal": {"type": ["integer", "null"], "description": "unit_price x quantity."}}, desc="A line of a draft.")
schemas["DraftOrder"] = obj({"id": DRAFT_ID, "object": {"const": "draft_order", "description": "Always draft_order."}, "status": {"type": "string", "enum": ["open", "completed"], "description": "open until completed into an order."},
    "sales_channel_id": ID("sc"), "customer_id": IDN("cus", "The customer it is for."), "email": SN("Email for the order (default: the customer's)."), "currency_code": S("Currency (lower-case ISO 4217)."), "region_id": IDN("reg", "Region."),
    "items": {"type": "array", "items": _draft_line, "description": "Lines, priced now."}, "item_subtotal": OM("Sum of the priced lines."), "total": OM("What the order will cost (no shipping, tax or discounts on drafts)."),
    "shipping_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddress"}, {"type": "null"}], "description": "Shipping address."}, "billing_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddress"}, {"type": "null"}], "description": "Billing address."},
    "note": SN("Note (becomes the order's)."), "metadata": metadata_out, "order_id": IDN("order", "The order it became."), "created_by": SN("Who created it."), "completed_at": TSN("When it became an order."), **ts_pair}, desc="A draft order built by staff.")
schemas["DraftOrderList"] = list_of("DraftOrder", "draft orders")
_draft_common = {"customer_id": {"type": ["string", "null"], "description": "The customer (422 not_found)."}, "email": {**email_in, "type": ["string", "null"], "description": "Email for the order (default: the customer's)."},
    "region_id": {"type": ["string", "null"], "description": "Region (its currency must be the draft's)."}, "items": {"type": "array", "maxItems": 250, "items": _add_in, "description": "Lines (a PATCH replaces the whole list)."},
    "shipping_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddressInput"}, {"type": "null"}], "description": "Shipping address (required to complete when goods ship)."},
    "billing_address": {"oneOf": [{"$ref": "#/components/schemas/CartAddressInput"}, {"type": "null"}], "description": "Billing address."},
    "note": {"type": ["string", "null"], "maxLength": 1000, "description": "Note."}, "metadata": metadata_in}
schemas["DraftOrderCreate"] = req({"sales_channel_id": S("Sales channel (default: the default channel)."), "currency_code": cur_code, **_draft_common}, [], "A draft order. currency_code, else the region's, else the channel's default region's.")
schemas["DraftOrderUpdate"] = req(_draft_common, [], "Fields to change (open drafts only: 409 invalid-state once completed).")
schemas["DraftComplete"] = req({"paid": B("The customer has paid already (cash, bank transfer): the payment is recorded as captured and the order is paid. Default false: pending until captured.")}, [], "How the draft's order is paid (the body is optional).")
P_DRAFT = P_ID("draft", "draft order")
op("get", "/v1/admin/draft-orders", "adminListDraftOrders", "Admin Orders", "List draft orders", "admin", [ok("200", "DraftOrderList", headers=H_ETAG), NOTMOD],
   params=[P_LIMIT, P_CURSOR, qp("status", "Only drafts in this status.", {"type": "string", "enum": ["open", "completed"]}), qp("customer_id", "Only this customer's drafts.", {"type": "string", "maxLength": 40}), P_INM], perm="orders:read")
op("post", "/v1/admin/draft-orders", "adminCreateDraftOrder", "Admin Orders", "Create a draft order", "admin", [ok("201", "DraftOrder", "The draft.")], body="DraftOrderCreate", perm="orders:write",
   desc="Staff may set unit_price per line (custom prices); otherwise a line costs the variant's base price. 422 with pointers for unknown customers, regions, channels and variants.")
op("get", "/v1/admin/draft-orders/{id}", "adminGetDraftOrder", "Admin Orders", "One draft order", "admin", [ok("200", "DraftOrder", headers=H_ETAG), NOTMOD], params=[P_DRAFT, P_INM], perm="orders:read")
op("patch", "/v1/admin/draft-orders/{id}", "adminUpdateDraftOrder", "Admin Orders", "Update a draft order", "admin", [ok("200", "DraftOrder", "The draft.")], body="DraftOrderUpdate", params=[P_DRAFT, P_IFMATCH], perm="orders:write")
op("post", "/v1/admin/draft-orders/{id}/complete", "adminCompleteDraftOrder", "Admin Orders", "Turn a draft into an order", "admin", [ok("201", "Order", "The order.")], body="DraftComplete", params=[P_DRAFT], perm="orders:write",
   desc="Checks what an order needs (lines, all priced, an email, a shipping address when goods ship: 422 with pointers), reserves the stock all or nothing (409 insufficient-stock), creates the order with a manual payment (pending, or captured when paid) and writes order.placed (and order.paid), in one transaction. A completed draft is 409 invalid-state.")
paths["/v1/admin/draft-orders/{id}/complete"]["post"]["requestBody"]["required"] = False

exec(open(os.path.join(HERE, 'events.py')).read())  # webhooks, events, the event catalogue (x-events)
exec(open(os.path.join(HERE, 'plugin_sdk.py')).read())  # plugin actions, sales channels, custom events (after events.py)
exec(open(os.path.join(HERE, 'automation.py')).read())  # automation rules, runs, dry runs; tags on customers and orders
exec(open(os.path.join(HERE, 'purchasing.py')).read())  # suppliers, reorder rules, purchase orders; their events
exec(open(os.path.join(HERE, 'loyalty.py')).read())  # loyalty points and segments (after events.py: adds to the catalogue)
exec(open(os.path.join(HERE, 'pricing_plugins.py')).read())  # pricing plugins' adjustments on cart and order lines (after loyalty.py)
exec(open(os.path.join(HERE, 'gift_sale.py')).read())  # gift cards sold as a product, staff adjustments
exec(open(os.path.join(HERE, 'notifications.py')).read())  # order notifications, plugin subscriber deliveries

# ---- Idempotency-Key: on exactly the routes whose router entry honours it (`souq routes`, so run after `make`)
import subprocess
P_IDEM = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
          "description": "Makes a retry safe (Stripe's semantics): the first answer (2xx) is stored for 24 hours and replayed byte for byte, with Idempotent-Replayed: true, to a retry with the same key, method, route and caller; the same key with a different path or body is 422 idempotency-key-reused; a retry while the first is still running is 409 idempotency-key-in-use with Retry-After: 1. An error answer stores nothing (the request wrote nothing), so the key can be retried. 1-255 visible ASCII characters."}
H_REPLAYED = {"Idempotent-Replayed": {"description": "true on an answer replayed for an Idempotency-Key.", "schema": {"type": "string", "const": "true"}}}
_routes = json.loads(subprocess.run([os.path.join(HERE, '..', '..', 'bin', 'souq'), 'routes'], check=True, capture_output=True, text=True).stdout)
for r in _routes:
    if r.get("idempotent"):
        o = paths[r["path"]][r["method"].lower()]
        o["parameters"] = [*o.get("parameters", []), P_IDEM]
        for code, resp in list(o["responses"].items()):
            if code.startswith("2"):  # copies: response and header objects are shared between operations
                o["responses"][code] = {**resp, "headers": {**resp.get("headers", {}), **H_REPLAYED}}

doc = {
 "openapi": "3.1.0",
 "info": {"title": "Souq", "version": "0.1.0", "summary": "Headless commerce API.",
  "description": open(os.path.join(HERE, 'description.md')).read()},
 "servers": [{"url": "http://127.0.0.1:8080", "description": "make run"}],
 "tags": [{"name": t, "description": d} for t, d in TAGS],
 "paths": paths,
 "components": {
  "schemas": schemas,
  "responses": {"Problem": {"description": "An RFC 9457 problem document. 401 answers carry WWW-Authenticate; 405 carries Allow; 429 and 503 carry Retry-After. A body over the configured limit (1 MiB) can be refused by the HTTP layer itself with a plain-text 413.",
     "headers": {**H_RID, "Retry-After": {"description": "Seconds to wait (429, 503).", "schema": {"type": "integer"}}},
     "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
  "securitySchemes": {
   "publishableKey": {"type": "apiKey", "in": "header", "name": "x-publishable-api-key", "description": "A publishable key (pk_...): identifies the storefront and its sales channel. Required on every /v1/store call. A key of a disabled sales channel is refused with 403 forbidden (the key is valid, the storefront is closed); a missing, unknown or revoked key is 401."},
   "customerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A customer access token (audience souq:store) from /v1/store/auth/token."},
   "staffToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A staff access token (audience souq:admin) from /v1/admin/auth/token; the session is checked on every request."},
   "secretKey": {"type": "http", "scheme": "bearer", "description": "A secret API key (sk_...) with scopes; each scope is a permission name."}}}}
doc["x-events"] = X_EVENTS
json.dump(doc, open(os.path.join(HERE, '..', '..', 'openapi', 'openapi.json'), 'w'), indent=2, ensure_ascii=False)
open(os.path.join(HERE, '..', '..', 'openapi', 'openapi.json'), 'a').write('\n')
print(len(paths), sum(len(v) for v in paths.values()))
