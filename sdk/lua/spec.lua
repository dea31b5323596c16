---@meta spec
-- LuaLS type stubs of the spec harness of `souq plugin test` (plugins/host/spec.c): the global `spec` that a
-- plugin's spec/NAME.lua files see, besides everything plugin code sees. sdk/lua/guide.md, "Testing", shows it in use.

---@class spec
spec = {}

---Registers a test. Tests run in file order; each starts with no fakes, no recorded requests and fresh plugin
---states. A failed assertion, an error or a budget stop fails that test only.
---@param name string
---@param fn fun()
function spec.test(name, fn) end

---Calls a hook the way the host does (a coroutine on a state built with config, the request-path budgets unless
---opts.background, JSON in and out) and returns its answer. A failed call raises {code =, message =}, code one of
---timeout, memory, error, sandbox_violation, output_too_large. A config the manifest refuses raises a plain error.
---@param fn string the hook, e.g. "payment_authorize"
---@param input? table
---@param config? table the plugin's settings (defaults are filled in, required ones must be given)
---@param opts? {background?: boolean}
---@return any
function spec.call(fn, input, config, opts) end

---Like spec.call, but expects the call to fail and returns its error {code =, message =}.
---@param fn string
---@param input? table
---@param config? table
---@param opts? {background?: boolean}
---@return {code: string, message: string}
function spec.fails(fn, input, config, opts) end

---Deep equality (tables compared key by key); msg prefixes the failure.
---@param actual any
---@param expected any
---@param msg? string
function spec.eq(actual, expected, msg) end

---@param value any
---@param msg? string
function spec.truthy(value, msg) end

---A plain (not pattern) substring check.
---@param s string
---@param part string
---@param msg? string
function spec.contains(s, part, msg) end

spec.http = {}

---Answers the plugin's souq.http.request calls to method and url (exact, or a prefix ending in "*"; the latest
---matching fake answers). response is {status =, headers =, body =} or {error = code} to fail like the network.
---A request nothing fakes fails with code refused.
---@param method string
---@param url string
---@param response {status?: integer, headers?: table<string, string>, body?: string, error?: string}
function spec.http.respond(method, url, response) end

---What the plugin sent in this test, in order.
---@return {method: string, url: string, headers: table<string, string>, body: string}[]
function spec.http.requests() end

spec.kv = {}

---What the plugin's souq.kv holds at key in this test (the harness's in-memory store), or nil.
---@param key string
---@return string|nil
function spec.kv.get(key) end

---Seeds the plugin's souq.kv for this test (no expiry).
---@param key string
---@param value string
function spec.kv.set(key, value) end

---What the plugin's souq.events.emit wrote in this test.
---@return {type: string, payload: table}[]
function spec.events() end
