-- Argo CD health check for sim.identitynow.io resources (SimIntegration, Tenant, ClusterTenant).
--
-- Install it in argocd-cm under resource.customizations.health.sim.identitynow.io_<Kind>
-- (see argocd-cm-patch.yaml next to this file). The operator follows the kstatus conventions:
-- conditions Ready, Reconciling and Stalled, each carrying observedGeneration.
--
-- Rules, first match wins:
--   spec.suspend == true                                   -> Suspended
--   no status/conditions, or status.observedGeneration
--   older than metadata.generation                         -> Progressing
--   Reconciling reason TenantSuspended (a change freeze)   -> Suspended   (its message)
--   Stalled=True                                           -> Degraded    (Stalled message)
--   Ready=True                                             -> Healthy     (Ready message)
--   Reconciling=True                                       -> Progressing (Reconciling message)
--   Ready=False, reason RemoteNotFound                     -> Degraded
--   anything else                                          -> Progressing
-- A condition whose observedGeneration is older than metadata.generation is ignored: it describes
-- an earlier spec. A condition without observedGeneration counts as current.
--
-- Argo CD runs custom health checks with only the base, table and package libraries (no string,
-- math or os), so this script uses none of the others.

local hs = {}

local function num(v)
  if type(v) == "number" then
    return v
  end
  if type(v) == "string" then
    return tonumber(v)
  end
  return nil
end

local function text(cond, fallback)
  if cond.message ~= nil and cond.message ~= "" then
    return cond.message
  end
  if cond.reason ~= nil and cond.reason ~= "" then
    return cond.reason
  end
  return fallback
end

local generation = nil
if obj.metadata ~= nil then
  generation = num(obj.metadata.generation)
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: no remote calls until spec.suspend is false"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

if generation ~= nil then
  local observed = num(status.observedGeneration) or 0
  if observed < generation then
    hs.status = "Progressing"
    hs.message = "Waiting for generation " .. tostring(generation) ..
      " to be reconciled (observed " .. tostring(observed) .. ")"
    return hs
  end
end

-- Current conditions by type.
local conds = {}
for _, c in ipairs(status.conditions) do
  if c.type ~= nil then
    local cg = num(c.observedGeneration)
    if generation == nil or cg == nil or cg >= generation then
      conds[c.type] = c
    end
  end
end

-- The tenant is suspended (a change freeze): nothing is written, whatever Ready still says.
local freeze = conds["Reconciling"]
if freeze ~= nil and freeze.reason == "TenantSuspended" then
  hs.status = "Suspended"
  hs.message = text(freeze, "TenantSuspended")
  return hs
end

-- The first condition that is True decides, in this order.
for _, rule in ipairs({{"Stalled", "Degraded"}, {"Ready", "Healthy"}, {"Reconciling", "Progressing"}}) do
  local c = conds[rule[1]]
  if c ~= nil and c.status == "True" then
    hs.status = rule[2]
    hs.message = text(c, rule[1])
    return hs
  end
end

local ready = conds["Ready"]

if ready ~= nil and ready.status == "False" then
  if ready.reason == "RemoteNotFound" then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = text(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the operator to report the current generation"
return hs
