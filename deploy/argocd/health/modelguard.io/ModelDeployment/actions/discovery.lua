-- Argo CD resource actions of a ModelDeployment: kill while its switch is off, release
-- while it is on (spec.killSwitch.enabled, what the operator enforces).
local actions = {}
local engaged = obj.spec ~= nil and obj.spec.killSwitch ~= nil and obj.spec.killSwitch.enabled == true
actions["kill"] = {["disabled"] = engaged}
actions["release"] = {["disabled"] = not engaged}
return actions
