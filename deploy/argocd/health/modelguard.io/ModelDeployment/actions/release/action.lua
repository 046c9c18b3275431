-- Release the kill switch, as `modelguard release` does: the operator restores exactly
-- what it saved (replicas, Service selector); the spec goes back to its clean state and
-- status.killSwitchHistory keeps the record of the engagement.
if obj.spec.killSwitch == nil then
  obj.spec.killSwitch = {}
end
obj.spec.killSwitch.enabled = false
obj.spec.killSwitch.reason = ""
return obj
