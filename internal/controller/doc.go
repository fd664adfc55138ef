// Package controller holds sim-operator's reconcilers: SimIntegration (one remote SIM integration per
// object), Tenant and ClusterTenant (credentials proven by a token), and the small relay that
// re-enqueues SimIntegrations when their namespace's labels change.
//
// A SimIntegration reconcile is a short list of ordered steps (Reconcile reads them top to bottom):
// read the cached object and make sure it holds this process's last write (consistencyStore); resolve
// the management policy once (policy); connect through the tenant (internal/tenant); resolve the
// references by name (spec.sourceRefs, spec.clusterRef) through the tenant's shared references cache
// (references.go); build the desired document from spec, Secrets and resolved ids (desired.go); observe the tenant's shared snapshot; locate the remote
// object; then create, claim, update, report drift or delete it (simintegration_sync.go). Steps return
// an outcome and an error; Reconcile alone turns them into conditions (status.go), the requeue
// (resultFor, classify) and one status write.
//
// Rules every change keeps: Secret values are never cached by the informers and never appear in a
// log, event, status or error; spec is never written; status is written once per reconcile, and not at
// all when nothing changed; every remote create is preceded by a persisted marker (crash safety).
package controller
