package gitops

import (
	"maps"

	"k8s.io/apimachinery/pkg/runtime"
)

// Group and version of the sim-operator API.
const (
	Group      = "sim.identitynow.io"
	APIVersion = Group + "/v1alpha1"
)

// Kinds of the sim-operator API.
const (
	KindSimIntegration = "SimIntegration"
	KindTenant         = "Tenant"
	KindClusterTenant  = "ClusterTenant"
)

// keyName is the field "name" of metadata and of references.
const keyName = "name"

// Fixed timestamps, so built objects are deterministic.
const (
	CreatedAt = "2026-11-28T09:59:58Z"
	SyncedAt  = "2026-11-28T10:00:03Z"
)

// Builder makes SimIntegration, Tenant and ClusterTenant objects shaped as the API server returns them
// (unstructured, integers as int64, conditions with observedGeneration and lastTransitionTime), in
// whatever state a test needs. Methods change the builder and return it; Object returns a fresh copy.
type Builder struct {
	kind, namespace, name string
	generation            int64
	observedGeneration    *int64
	noStatus              bool
	annotations           map[string]any
	spec                  map[string]any
	status                map[string]any
	conditions            []condition
	deletionTimestamp     string
}

type condition struct {
	typ, status, reason, message string
	// observedGeneration of the condition; nil means the object's metadata.generation.
	observedGeneration *int64
	// omitGeneration leaves observedGeneration out, as an older writer might.
	omitGeneration bool
}

// NewSimIntegration returns a SimIntegration at generation 1 with the spec of the contract's example
// (defaults applied as the CRD schema applies them) and an empty status.
func NewSimIntegration(namespace, name string) *Builder {
	return &Builder{
		kind: KindSimIntegration, namespace: namespace, name: name, generation: 1,
		spec: map[string]any{
			"tenantRef":   map[string]any{"kind": KindTenant, keyName: "acme"},
			keyName:       "ServiceNow SIM",
			"description": "Tickets for access requests",
			"type":        "ServiceNow Service Desk",
			"cluster":     "xyzzy999",
			"sources":     []any{"2c9180835d191a86015d28455b4a2329"},
			"statusMap": map[string]any{
				"closed_complete": "Committed", "closed_cancelled": "Failed", "in_process": "Queued", "requested": "Queued",
			},
			"request": map[string]any{
				"short_description": "SailPoint Access Request $!plan.arguments.identityRequestId",
			},
			"attributes": map[string]any{"uid": "svc-sailpoint", "url": "https://acme.service-now.com"},
			"secretAttributes": []any{map[string]any{
				keyName:        "password",
				"secretKeyRef": map[string]any{keyName: "servicenow-credentials", "key": "password"},
			}},
			"deletionPolicy":   "Delete",
			"managementPolicy": "Manage",
			"adoptionPolicy":   "None",
			"suspend":          false,
		},
		status: map[string]any{},
	}
}

// NewTenant returns a Tenant at generation 1 with schema defaults applied and an empty status.
func NewTenant(namespace, name string) *Builder {
	return &Builder{
		kind: KindTenant, namespace: namespace, name: name, generation: 1, spec: tenantSpec(), status: map[string]any{},
	}
}

// NewClusterTenant returns a ClusterTenant at generation 1 with schema defaults applied and an empty status.
func NewClusterTenant(name string) *Builder {
	return &Builder{kind: KindClusterTenant, name: name, generation: 1, spec: tenantSpec(), status: map[string]any{}}
}

func tenantSpec() map[string]any {
	return map[string]any{
		"baseURL":    "https://acme.api.identitynow.com",
		"apiRelease": "v2024",
		"credentialsRef": map[string]any{
			keyName: "acme-api-client", "clientIDKey": "clientId", "clientSecretKey": "clientSecret",
		},
		"pollInterval":   "10m",
		"rateLimit":      map[string]any{"requests": int64(100), "period": "10s"},
		"updateStrategy": "Patch",
		"patchFormat":    "Operations",
	}
}

// Generation sets metadata.generation (the spec's version).
func (b *Builder) Generation(g int64) *Builder { b.generation = g; return b }

// ObservedGeneration sets status.observedGeneration; by default it equals metadata.generation.
func (b *Builder) ObservedGeneration(g int64) *Builder { b.observedGeneration = &g; return b }

// NoStatus leaves status out, as for an object the operator has not seen yet.
func (b *Builder) NoStatus() *Builder { b.noStatus = true; return b }

// Suspend sets spec.suspend.
func (b *Builder) Suspend(s bool) *Builder { b.spec["suspend"] = s; return b }

// Spec sets a spec field.
func (b *Builder) Spec(field string, value any) *Builder { b.spec[field] = value; return b }

// Status sets a status field other than observedGeneration and conditions.
func (b *Builder) Status(field string, value any) *Builder { b.status[field] = value; return b }

// Annotation sets an annotation.
func (b *Builder) Annotation(key, value string) *Builder {
	if b.annotations == nil {
		b.annotations = map[string]any{}
	}
	b.annotations[key] = value
	return b
}

// Deleting sets metadata.deletionTimestamp.
func (b *Builder) Deleting() *Builder { b.deletionTimestamp = SyncedAt; return b }

// Condition sets a condition (replacing one of the same type) for the current metadata.generation.
func (b *Builder) Condition(typ, status, reason, message string) *Builder {
	return b.setCondition(condition{typ: typ, status: status, reason: reason, message: message})
}

// ConditionAt sets a condition observed at generation g, which may be older than metadata.generation.
func (b *Builder) ConditionAt(g int64, typ, status, reason, message string) *Builder {
	return b.setCondition(condition{typ: typ, status: status, reason: reason, message: message, observedGeneration: &g})
}

// ConditionWithoutGeneration sets a condition that carries no observedGeneration.
func (b *Builder) ConditionWithoutGeneration(typ, status, reason, message string) *Builder {
	return b.setCondition(condition{typ: typ, status: status, reason: reason, message: message, omitGeneration: true})
}

func (b *Builder) setCondition(c condition) *Builder {
	for i := range b.conditions {
		if b.conditions[i].typ == c.typ {
			b.conditions[i] = c
			return b
		}
	}
	b.conditions = append(b.conditions, c)
	return b
}

// Synced puts a SimIntegration in the state the operator leaves it in after the remote object was
// confirmed equal to the spec: status.id and lastSyncTime set, Ready=True, Reconciling and Stalled False.
func (b *Builder) Synced(remoteID string) *Builder {
	b.status["id"] = remoteID
	b.status["lastSyncTime"] = SyncedAt
	b.status["remoteCreated"] = CreatedAt
	b.status["remoteModified"] = SyncedAt
	return b.Condition("Ready", "True", "Synced", "Remote object "+remoteID+" matches the spec").
		Condition("Reconciling", "False", "Synced", "").
		Condition("Stalled", "False", "Synced", "")
}

// Object returns the object as an unstructured map; each call returns a new deep copy.
func (b *Builder) Object() map[string]any {
	meta := map[string]any{
		keyName:             b.name,
		"uid":               "6f1c1f0e-5a4e-4f8a-9a53-0d1c2b3a4f5e",
		"resourceVersion":   "4242",
		"generation":        b.generation,
		"creationTimestamp": CreatedAt,
	}
	if b.namespace != "" {
		meta["namespace"] = b.namespace
	}
	if b.kind == KindSimIntegration {
		meta["finalizers"] = []any{"sim.identitynow.io/finalizer"}
	}
	if len(b.annotations) > 0 {
		meta["annotations"] = maps.Clone(b.annotations)
	}
	if b.deletionTimestamp != "" {
		meta["deletionTimestamp"] = b.deletionTimestamp
	}
	obj := map[string]any{
		"apiVersion": APIVersion,
		"kind":       b.kind,
		"metadata":   meta,
		"spec":       b.spec,
	}
	if !b.noStatus && (len(b.status) > 0 || len(b.conditions) > 0 || b.observedGeneration != nil) {
		st := maps.Clone(b.status)
		if b.observedGeneration != nil {
			st["observedGeneration"] = *b.observedGeneration
		} else if len(b.conditions) > 0 {
			st["observedGeneration"] = b.generation
		}
		if len(b.conditions) > 0 {
			conds := make([]any, 0, len(b.conditions))
			for _, c := range b.conditions {
				m := map[string]any{
					"type":               c.typ,
					"status":             c.status,
					"reason":             c.reason,
					"message":            c.message,
					"lastTransitionTime": SyncedAt,
				}
				switch {
				case c.omitGeneration:
				case c.observedGeneration != nil:
					m["observedGeneration"] = *c.observedGeneration
				default:
					m["observedGeneration"] = b.generation
				}
				conds = append(conds, m)
			}
			st["conditions"] = conds
		}
		obj["status"] = st
	}
	return runtime.DeepCopyJSON(obj)
}
