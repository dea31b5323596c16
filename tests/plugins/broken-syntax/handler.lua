local plugin = {
function plugin.payment_authorize( return end
return plugin
