-- tests/plugins/flaky/handler.lua: authorize always raises; after 5 failures the host fails fast (plugin-degraded).
local plugin = {}
function plugin.payment_authorize() error("gateway down") end
function plugin.payment_capture() return { status = "captured" } end
function plugin.payment_cancel() return { status = "voided" } end
function plugin.payment_refund() return { status = "refunded" } end
return plugin
