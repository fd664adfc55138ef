/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

// Condition types, following the kstatus conventions read by Flux, Argo CD and `kubectl wait`.
const (
	// ConditionReady is True when the remote object exists and matches the spec of metadata.generation
	// (for a Tenant: when its credentials were found and a token was obtained).
	ConditionReady = "Ready"
	// ConditionReconciling is True while work is in progress: creating, updating, waiting on a rate
	// limit or on a retry.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when progress needs a human: fix the spec, the credentials or the remote.
	ConditionStalled = "Stalled"
)

// Reasons for Stalled=True (and Ready=False while stalled).
const (
	// ReasonInvalidSpec: the remote answered 400, or the operator's own checks refused the spec.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonForbidden: the remote answered 403; the API client lacks a scope or user level.
	ReasonForbidden = "Forbidden"
	// ReasonUnauthorized: the token endpoint or the API refused the credentials.
	ReasonUnauthorized = "Unauthorized"
	// ReasonTenantNotFound: the referenced Tenant or ClusterTenant does not exist.
	ReasonTenantNotFound = "TenantNotFound"
	// ReasonTenantNotReady: the referenced tenant exists but is not Ready: Stalled when the tenant is
	// Stalled, Reconciling while it has not yet proven its credentials.
	ReasonTenantNotReady = "TenantNotReady"
	// ReasonTenantNotAllowed: the referenced ClusterTenant does not allow the SimIntegration's
	// namespace (spec.namespaces, spec.namespaceSelector); no remote call is made on its behalf.
	ReasonTenantNotAllowed = "TenantNotAllowed"
	// ReasonSecretNotFound: a referenced Secret or one of its keys is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonHostNotAllowed: the tenant's baseURL or tokenURL names a host outside
	// --tenant-host-allowlist, or uses http:// without --allow-insecure-http.
	ReasonHostNotAllowed = "HostNotAllowed"
	// ReasonNameConflict: a remote object with this name exists that this resource did not create and
	// was not told to adopt.
	ReasonNameConflict = "NameConflict"
	// ReasonAlreadyManaged: another SimIntegration in the cluster already manages this remote object.
	ReasonAlreadyManaged = "AlreadyManaged"
	// ReasonReferenceNotFound: a name in spec.sourceRefs or spec.clusterRef matches no object of the
	// tenant; nothing is created or updated until it does.
	ReasonReferenceNotFound = "ReferenceNotFound"
	// ReasonReferenceAmbiguous: a name in spec.sourceRefs or spec.clusterRef matches several objects of
	// the tenant (names are not unique, and compare without case); the message lists their ids.
	ReasonReferenceAmbiguous = "ReferenceAmbiguous"
)

// Reasons for the other conditions.
const (
	// ReasonSynced: Ready=True, the remote object matches the spec.
	ReasonSynced = "Synced"
	// ReasonObserved: Ready=True for ObserveOnly, the remote object exists (status.drift lists differences).
	ReasonObserved = "Observed"
	// ReasonSuspended: spec.suspend is true; nothing is sent until it is false again.
	ReasonSuspended = "Suspended"
	// ReasonTenantSuspended: the tenant's spec.suspend is true (a change freeze): the remote object is
	// read and its differences reported in status.drift, but nothing is written until it is false.
	ReasonTenantSuspended = "TenantSuspended"
	// ReasonCreating: Reconciling=True while a create is in flight (status.pendingCreate is set).
	ReasonCreating = "Creating"
	// ReasonProgressing: Reconciling=True while the new generation is being handled.
	ReasonProgressing = "Progressing"
	// ReasonRateLimited: Reconciling=True while waiting for the tenant's rate budget (Retry-After).
	ReasonRateLimited = "RateLimited"
	// ReasonRetrying: Reconciling=True after a transient failure (5xx, network), retried with back-off.
	ReasonRetrying = "Retrying"
	// ReasonRemoteNotFound: ObserveOnly and the remote object does not exist.
	ReasonRemoteNotFound = "RemoteNotFound"
	// ReasonTokenObtained: a Tenant is Ready.
	ReasonTokenObtained = "TokenObtained"
)

// Annotations and the finalizer that the operator reads or sets.
const (
	// AnnotationExternalID names an existing remote object (its id) for this SimIntegration to adopt.
	AnnotationExternalID = "sim.identitynow.io/external-id"
	// AnnotationRequestedAt: any new value forces an immediate reconcile, with a fresh read of the remote.
	AnnotationRequestedAt = "sim.identitynow.io/requested-at"
	// Finalizer holds a SimIntegration until its remote object is deleted (or orphaned).
	Finalizer = "sim.identitynow.io/finalizer"
	// TenantFinalizer holds a Tenant or ClusterTenant while SimIntegrations still use it, so that
	// deleting a namespace cannot remove the tenant before the remote objects it reaches are deleted.
	TenantFinalizer = "sim.identitynow.io/tenant-in-use"
)

// SecretKeySelector selects one key of a Secret in the referencing object's namespace.
type SecretKeySelector struct {
	// name of the Secret, in the same namespace as the SimIntegration.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key within the Secret's data whose value is used.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}
