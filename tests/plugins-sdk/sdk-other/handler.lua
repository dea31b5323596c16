-- tests/plugins-sdk/sdk-other/handler.lua: a second plugin with its own keys.
local souq = souq
local plugin = {}
function plugin.action_get(conf, input) return { value = souq.kv.get(input.key) } end
function plugin.action_set(conf, input) return { ok = souq.kv.set(input.key, input.value) } end
return plugin
