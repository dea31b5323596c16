---@meta souq
-- LuaLS type stubs of the Souq plugin SDK, major 1: completion and checks in editors. Add this folder to the
-- language server's `workspace.library` (sdk/lua/guide.md, "Editor set-up"). Nothing here runs: the functions
-- are implemented by the host (plugins/host/). tests/unit/plugin_host.c checks that every function the host
-- installs has its stub here.

---@class souq
---@field sdk_version string "1.0"
---@field plugin {name: string, version: string} this plugin's manifest name and version (read-only)
---@field config table the plugin's settings, defaults filled in, secrets included (read-only); also the first argument of every hook
souq = {}

-- ---- souq.json ----------------------------------------------------------------------------------------------------

souq.json = {}

---Encodes a value: tables with keys 1..n become arrays, other tables objects (string keys only). Errors on
---functions, cycles, NaN/infinity, nesting over 32 and output over 256 KiB.
---@param value any
---@return string
function souq.json.encode(value) end

---Decodes JSON text (up to 1 MiB); JSON null becomes nil.
---@param text string
---@return any value nil and a message when the text is not JSON
---@return string? message
function souq.json.decode(text) end

-- ---- souq.crypto --------------------------------------------------------------------------------------------------

souq.crypto = {}

---@param data string
---@param raw? boolean 32 raw bytes instead of 64 hex characters
---@return string
function souq.crypto.sha256(data, raw) end

---HMAC-SHA256 (Stripe's v1 signature is hmac_sha256(secret, timestamp .. "." .. body)).
---@param key string
---@param data string
---@param raw? boolean
---@return string
function souq.crypto.hmac_sha256(key, data, raw) end

---Compares in constant time for strings of the same length: use it for signatures.
---@param a string
---@param b string
---@return boolean
function souq.crypto.equals(a, b) end

---@param n integer 1..1024
---@return string bytes from the CSPRNG
function souq.crypto.random_bytes(n) end

---@param data string
---@return string
function souq.crypto.hex_encode(data) end

---@param hex string
---@return string? bytes nil on bad input
function souq.crypto.hex_decode(hex) end

---Standard alphabet with padding (RFC 4648 section 4).
---@param data string
---@return string
function souq.crypto.base64_encode(data) end

---@param text string
---@return string? bytes nil on bad input
function souq.crypto.base64_decode(text) end

---URL alphabet without padding (JWT, webhooks).
---@param data string
---@return string
function souq.crypto.base64url_encode(data) end

---@param text string
---@return string? bytes nil on bad input
function souq.crypto.base64url_decode(text) end

-- ---- souq.log -----------------------------------------------------------------------------------------------------

souq.log = {}

---One log line, component plugin/<name>, truncated to 1 KiB. Never log secrets or card data.
---@param message string
function souq.log.debug(message) end
---@param message string
function souq.log.info(message) end
---@param message string
function souq.log.warn(message) end
---@param message string
function souq.log.error(message) end

-- ---- souq.money: integer minor units; floats are refused; errors on overflow --------------------------------------

souq.money = {}

---@param a integer
---@param b integer
---@return integer
function souq.money.add(a, b) end

---@param a integer
---@param b integer
---@return integer
function souq.money.sub(a, b) end

---@param a integer
---@param n integer
---@return integer
function souq.money.mul(a, n) end

---amount * basis_points / 10000, rounded half away from zero (1900 bp = 19%).
---@param amount integer
---@param basis_points integer
---@return integer
function souq.money.percent(amount, basis_points) end

---n parts (1..1000) that add up to amount, the remainder spread over the first ones: split(100, 3) = {34, 33, 33}.
---@param amount integer
---@param n integer
---@return integer[]
function souq.money.split(amount, n) end

-- ---- souq.time ----------------------------------------------------------------------------------------------------

souq.time = {}

---@return integer seconds since the epoch (UTC)
function souq.time.now() end

---@return integer milliseconds since the epoch (UTC)
function souq.time.now_ms() end

---@param seconds? integer now when omitted
---@return string "2026-01-31T12:00:00Z"
function souq.time.iso8601(seconds) end

-- ---- souq.http ----------------------------------------------------------------------------------------------------

souq.http = {}

---@class souq.HttpRequest
---@field method? "GET"|"POST"|"PUT"|"PATCH"|"DELETE"|"HEAD" GET when omitted
---@field url string absolute http:// or https://
---@field headers? table<string, string> at most 32; Host, Content-Length and connection headers are the host's
---@field body? string at most 1 MiB
---@field timeout_ms? integer 1..30000 (default 10000), rounded down to 500, 1000, 2000, 5000, 10000 or 30000

---@class souq.HttpResponse
---@field status integer any HTTP status is an answer
---@field headers table<string, string> lower-case names; repeated headers joined with ", "
---@field body string at most 1 MiB

---@class souq.HttpError
---@field code "invalid_url"|"scheme"|"dns"|"ssrf_blocked"|"refused"|"timeout"|"too_large"|"tls"|"protocol"|"unavailable"|"too_many_requests"
---@field message string

---Sends a request and waits for the answer: the host suspends the hook's coroutine meanwhile (the wait counts only
---against the call's deadline). No answer raises a souq.HttpError (pcall it to handle network failures).
---@param request souq.HttpRequest
---@return souq.HttpResponse
function souq.http.request(request) end

-- ---- souq.kv: the plugin's own key-value store (PostgreSQL, shared by every node) ---------------------------------

souq.kv = {}

---The string stored at key, or nil (never set, deleted, or expired). Suspends the hook while the database answers.
---@param key string 1-256 bytes of UTF-8 without control characters
---@return string|nil
function souq.kv.get(key) end

---Stores value (a string of at most 64 KiB) at key, replacing value and ttl. A new key beyond 10,000 live keys of the
---plugin is an error.
---@param key string
---@param value string bytes; encode tables with souq.json.encode
---@param ttl? integer seconds (1 to 366 days) until the key is gone; none: kept until deleted
---@return true
function souq.kv.set(key, value, ttl) end

---Deletes key; true when a live key was deleted.
---@param key string
---@return boolean
function souq.kv.delete(key) end

---Adds by (default 1) to the integer at key, atomically across nodes. A missing or expired key starts from 0 and gets
---ttl; a live key keeps its expiry (a fixed window). A value that is not an integer, or an overflow, is an error.
---@param key string
---@param by? integer
---@param ttl? integer seconds
---@return integer
function souq.kv.incr(key, by, ttl) end

-- ---- souq.events: custom events through the outbox -----------------------------------------------------------------

souq.events = {}

---Writes the event plugin.<this plugin>.<type> with payload to the outbox (at once, in its own transaction); webhooks
---subscribed to it get it at least once. Returns the event's id.
---@param type string 1-64 of a-z 0-9 _ . starting with a letter
---@param payload table encodes as a JSON object of at most 64 KiB
---@return string id "evt_..."
function souq.events.emit(type, payload) end

-- ---- the hooks a plugin's handler.lua may return (sdk/lua/reference.md, "Hooks") ----------------------------------

---@class souq.PaymentRequest
---@field provider string
---@field payment_id string
---@field idempotency_key string pass it to the gateway as its idempotency key
---@field currency string lower-case ISO 4217
---@field amount integer minor units
---@field data? table authorize: the buyer's payment.data, validated against the manifest's payment_data
---@field provider_ref? string the gateway's id from authorize
---@field email? string

---@class souq.PaymentAnswer
---@field status "authorized"|"captured"|"pending"|"requires_action"|"declined"|"voided"|"refunded"
---@field provider_ref? string
---@field next_action? table with requires_action, e.g. {type = "redirect_to_url", url = "https://..."}
---@field decline_code? string

---@class souq.WebhookRequest
---@field method "POST"
---@field topic? string
---@field headers table<string, string> lower-case names
---@field body string the raw body, exactly as sent

---@class souq.WebhookAnswer
---@field status "accepted"|"rejected"|"ignored"
---@field event_id? string with accepted
---@field event_type? string
---@field data? table
---@field payment? souq.PaymentMove with accepted: a payment move core applies once per event id

---@class souq.PaymentMove
---@field action "captured"|"failed"|"refunded"
---@field provider_ref string the gateway's id of the payment
---@field amount? integer captured: the amount taken; refunded (required): the total refunded at the provider so far
---@field currency? string lower-case ISO 4217
---@field decline_code? string failed: the gateway's reason

---@class souq.PricingItem
---@field item integer 1-based index: what an adjustment's item names
---@field id string the cart line ("cli_...")
---@field variant_id string
---@field product_id string
---@field sku? string
---@field title string
---@field variant_title? string
---@field quantity integer
---@field unit_price integer minor units
---@field subtotal integer unit_price x quantity
---@field discount_total integer taken off the line so far (promotions, loyalty points, plugins of higher priority)

---@class souq.PricingCart
---@field cart_id string
---@field currency string lower-case ISO 4217
---@field region_id? string
---@field sales_channel_id string
---@field customer_id? string nil for a guest cart
---@field customer_group_ids string[] the customer's groups (empty for guests)
---@field items souq.PricingItem[] the sellable lines that do not sell a gift card
---@field item_subtotal integer the cart's item subtotal
---@field discount_total integer the cart's discounts so far

---@class souq.PricingAdjustment
---@field item integer an item's index
---@field amount integer minor units off that line, 1 to its subtotal (cut to what is left of the line)
---@field code string 1-64 bytes, shown on the line and the order
---@field description? string 1-256 bytes (default: code)

---@class souq.PricingAnswer
---@field adjustments souq.PricingAdjustment[]

---@class souq.Plugin
---@field payment_authorize? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field payment_capture? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field payment_cancel? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field payment_refund? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field handle_webhook? fun(conf: table, req: souq.WebhookRequest): souq.WebhookAnswer
---@field pricing_adjust? fun(conf: table, cart: souq.PricingCart): souq.PricingAnswer|nil pricing:<id> (optional hook: failures are skipped)
---@field [string] fun(conf: table, input: table): any named actions: action_<name> for each of the manifest's actions
