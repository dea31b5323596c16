-- tests/plugins/needs-config/handler.lua: authorizes with a provider_ref derived from the secret setting, so tests can
-- see that the plugin received it without the API ever showing it.
local souq = souq
local plugin = {}
function plugin.payment_authorize(conf, req)
  return { status = "authorized", provider_ref = conf.mode .. "_" .. souq.crypto.sha256(conf.api_key):sub(1, 16) }
end
function plugin.payment_capture(conf, req) return { status = "captured", provider_ref = req.provider_ref } end
function plugin.payment_cancel(conf, req) return { status = "voided", provider_ref = req.provider_ref } end
function plugin.payment_refund(conf, req) return { status = "refunded", provider_ref = req.provider_ref } end
return plugin
