-- Engage the kill switch, as `modelguard kill` does: the operator scales the model to
-- zero (or switches its Service to the fallback, if spec.killSwitch.mode says so; the
-- mode is left as it is). A reason is required by the CRD; Argo CD passes none, so it
-- says where the kill came from. The operator credits the change to Argo CD's field
-- manager ("unknown (field manager ...)"): Argo CD does not tell who clicked.
if obj.spec.killSwitch == nil then
  obj.spec.killSwitch = {}
end
obj.spec.killSwitch.enabled = true
obj.spec.killSwitch.reason = "engaged with the Argo CD kill action"
return obj
