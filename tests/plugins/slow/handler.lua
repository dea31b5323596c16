-- tests/plugins/slow/handler.lua: authorize never ends; the wall-clock budget stops it.
local plugin = {}
function plugin.payment_authorize() local n = 0 while true do n = n + 1 end end
function plugin.payment_capture() return { status = "captured" } end
function plugin.payment_cancel() return { status = "voided" } end
function plugin.payment_refund() return { status = "refunded" } end
return plugin
