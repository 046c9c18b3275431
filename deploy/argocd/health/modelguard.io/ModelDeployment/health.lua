-- Argo CD health of a modelguard.io ModelDeployment, from the status the operator records
-- (phases: core/api/status.py Phase; which one holds: core/decision/summary.py phase_of).
-- Lua 5.1 and Argo CD's default libraries only (base, table: no string library).
--   Killed                        -> Suspended (deliberately stopped, not broken)
--   RolledBack, Degraded, Invalid -> Degraded, naming the known-good version
--   Pending, Progressing          -> Progressing
--   status older than the spec    -> Progressing (the operator has not judged it yet)
--   Healthy                       -> Healthy
local hs = {}

local function condition(status, type)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function said(status, type)
  local c = condition(status, type)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return nil
end

local function version(v)
  if v ~= nil and v.name ~= nil then
    return v.name
  end
  return nil
end

local function known_good(status)
  local stable = version(status.stableVersion)
  if stable ~= nil then
    return "; known-good version " .. stable
  end
  return "; no known-good version yet"
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for modelguard to reconcile it"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for modelguard to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
local running = version(status.currentVersion)

if phase == "Healthy" then
  hs.status = "Healthy"
  if running ~= nil then
    hs.message = "Healthy: running " .. running
  else
    hs.message = "Healthy"
  end
elseif phase == "Killed" then
  hs.status = "Suspended"
  hs.message = "Kill switch engaged: " .. (said(status, "KillSwitchEngaged") or "the model is stopped")
elseif phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = "Rolled back: " .. (said(status, "RolledBack") or "the desired version is quarantined")
    .. known_good(status)
elseif phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = "Degraded: version " .. (running or "?") .. ": "
    .. (said(status, "Degraded") or "checks failing") .. known_good(status)
elseif phase == "Invalid" then
  hs.status = "Degraded"
  hs.message = "Invalid: " .. (said(status, "InvalidSpec") or said(status, "Ready") or "invalid spec")
    .. known_good(status)
else
  -- Pending, Progressing, and any phase a newer operator adds.
  hs.status = "Progressing"
  hs.message = phase .. ": " .. (said(status, "Ready") or "analysing")
end
return hs
