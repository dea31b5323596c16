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

---@class souq.Plugin
---@field payment_authorize? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field payment_capture? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field payment_cancel? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field payment_refund? fun(conf: table, req: souq.PaymentRequest): souq.PaymentAnswer
---@field handle_webhook? fun(conf: table, req: souq.WebhookRequest): souq.WebhookAnswer
