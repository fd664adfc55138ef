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

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TenantKind is the kind of tenant a SimIntegration refers to.
// +kubebuilder:validation:Enum=Tenant;ClusterTenant
type TenantKind string

const (
	// TenantKindTenant refers to a Tenant in the SimIntegration's namespace.
	TenantKindTenant TenantKind = "Tenant"
	// TenantKindClusterTenant refers to a cluster-scoped ClusterTenant.
	TenantKindClusterTenant TenantKind = "ClusterTenant"
)

// DeletionPolicy says what happens to the remote object when the SimIntegration is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the remote object before the SimIntegration goes away.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the remote object in place.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ManagementPolicy says whether the operator writes to the remote object.
// +kubebuilder:validation:Enum=Manage;ObserveOnly
type ManagementPolicy string

const (
	// ManagementPolicyManage creates, updates and deletes the remote object.
	ManagementPolicyManage ManagementPolicy = "Manage"
	// ManagementPolicyObserveOnly never writes; it reports differences in status.drift.
	ManagementPolicyObserveOnly ManagementPolicy = "ObserveOnly"
)

// AdoptionPolicy says whether an existing remote object with the same name is taken over.
// +kubebuilder:validation:Enum=None;AdoptByName
type AdoptionPolicy string

const (
	// AdoptionPolicyNone refuses to take over a remote object this resource did not create (NameConflict).
	AdoptionPolicyNone AdoptionPolicy = "None"
	// AdoptionPolicyAdoptByName takes over the remote object with the same name.
	AdoptionPolicyAdoptByName AdoptionPolicy = "AdoptByName"
)

// DefaultIntegrationType is the remote `type` used when spec.type is not set.
const DefaultIntegrationType = "ServiceNow Service Desk"

// TenantReference points at the Tenant or ClusterTenant whose API client and rate budget are used.
type TenantReference struct {
	// kind of the tenant: Tenant (in this namespace) or ClusterTenant.
	// +optional
	// +kubebuilder:default=Tenant
	Kind TenantKind `json:"kind,omitempty"`

	// name of the Tenant or ClusterTenant.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretAttribute sets one remote attribute from a Secret, so that credentials stay out of the manifest.
type SecretAttribute struct {
	// name of the attribute in the remote object's attributes map (for example "password").
	// It must not also be a key of spec.attributes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// secretKeyRef selects the Secret key, in this namespace, that holds the attribute's value.
	// +required
	SecretKeyRef SecretKeySelector `json:"secretKeyRef"`
}

// RuleReference refers to an IdentityNow rule run before provisioning.
type RuleReference struct {
	// type of the referenced object; RULE for a rule.
	// +optional
	// +kubebuilder:default=RULE
	// +kubebuilder:validation:MaxLength=64
	Type string `json:"type,omitempty"`

	// id of the rule in IdentityNow.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ID string `json:"id"`

	// name of the rule, for people reading the object.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name,omitempty"`
}

// SourceReference names an IdentityNow source as it is named in the tenant. The operator resolves it
// to the source's id in each tenant (Sources API, scope idn:sources:read), so one manifest serves a
// sandbox and a production tenant whose ids differ.
type SourceReference struct {
	// name of the source in the tenant. Compared without regard to case; it must match exactly one
	// source (else the object stalls with ReferenceNotFound or ReferenceAmbiguous).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
}

// ClusterReference names an IdentityNow managed (virtual appliance) cluster as it is named in the
// tenant. The operator resolves it to the cluster's id in each tenant (Managed Clusters API, scope
// idn:remote-client:read).
type ClusterReference struct {
	// name of the managed cluster in the tenant. Compared without regard to case; it must match exactly
	// one cluster (else the object stalls with ReferenceNotFound or ReferenceAmbiguous).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
}

// ResolvedReference records what a reference by name resolved to in the tenant.
type ResolvedReference struct {
	// name as written in the spec.
	Name string `json:"name"`
	// id of the object it resolved to, the one sent to the remote integration.
	ID string `json:"id"`
}

// SimIntegrationSpec is the desired state of a ServiceNow Service Integration Module (SIM) integration in
// SailPoint Identity Security Cloud. Only fields set here are managed: an unset field is left as the
// remote object has it.
// +kubebuilder:validation:XValidation:rule="!(has(self.sources) && has(self.sourceRefs))",message="set spec.sources (ids) or spec.sourceRefs (names), not both"
// +kubebuilder:validation:XValidation:rule="!(has(self.cluster) && has(self.clusterRef))",message="set spec.cluster (an id) or spec.clusterRef (a name), not both"
type SimIntegrationSpec struct {
	// tenantRef names the Tenant or ClusterTenant to use. Immutable: to move an integration to
	// another tenant, create a new SimIntegration.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantRef is immutable; create a new SimIntegration to use another tenant"
	TenantRef TenantReference `json:"tenantRef"`

	// name of the remote integration, unique per tenant. Defaults to metadata.name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`

	// description of the integration.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Description *string `json:"description,omitempty"`

	// type of the integration.
	// +optional
	// +kubebuilder:default="ServiceNow Service Desk"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Type string `json:"type,omitempty"`

	// cluster is the id of the virtual appliance cluster that runs the integration. Ids differ from
	// tenant to tenant: clusterRef names the cluster instead. Not together with clusterRef.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Cluster *string `json:"cluster,omitempty"`

	// clusterRef names the managed cluster that runs the integration; the operator resolves the name to
	// the cluster's id in the tenant (status.resolvedCluster) and sends that id. Not together with
	// cluster.
	// +optional
	ClusterRef *ClusterReference `json:"clusterRef,omitempty"`

	// sources are the ids of the IdentityNow sources whose provisioning becomes tickets. A set: order
	// does not matter, and an id removed here is removed remotely.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=500
	// +kubebuilder:validation:items:MaxLength=128
	Sources []string `json:"sources,omitempty"`

	// sourceRefs names the sources instead of giving their ids, which differ from tenant to tenant; the
	// operator resolves each name to the source's id in the tenant (status.resolvedSources) and sends
	// those ids, managed as a set like sources. Nothing is created or updated until every name
	// resolves. Not together with sources.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=500
	SourceRefs []SourceReference `json:"sourceRefs,omitempty"`

	// statusMap maps ServiceNow ticket states to IdentityNow provisioning states
	// (for example closed_complete: Committed). Managed as a whole.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	StatusMap map[string]string `json:"statusMap,omitempty"`

	// request holds the ticket fields sent to ServiceNow (for example short_description). Managed as a whole.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Request map[string]string `json:"request,omitempty"`

	// attributes is the free-form attributes map of the integration (connection settings such as
	// url and uid). Put credentials in secretAttributes instead. Managed as a whole.
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:MaxProperties=128
	Attributes *apiextensionsv1.JSON `json:"attributes,omitempty"`

	// secretAttributes sets attribute values from Secrets in this namespace. The values never
	// appear in status, events, logs or metrics.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	SecretAttributes []SecretAttribute `json:"secretAttributes,omitempty"`

	// beforeProvisioningRule refers to the rule run before provisioning.
	// +optional
	BeforeProvisioningRule *RuleReference `json:"beforeProvisioningRule,omitempty"`

	// deletionPolicy: Delete removes the remote object when this resource is deleted; Orphan keeps it.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// managementPolicy: Manage writes to the remote object; ObserveOnly never writes and reports
	// differences in status.drift.
	// +optional
	// +kubebuilder:default=Manage
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// adoptionPolicy: None refuses to take over a remote object of the same name that this resource
	// did not create (NameConflict); AdoptByName takes it over.
	// +optional
	// +kubebuilder:default=None
	AdoptionPolicy AdoptionPolicy `json:"adoptionPolicy,omitempty"`

	// suspend stops all remote calls for this object until it is false again.
	// +optional
	// +kubebuilder:default=false
	Suspend bool `json:"suspend,omitempty"`
}

// SecretVersion records which version of a Secret key was last sent for a secret attribute.
type SecretVersion struct {
	// attribute is the name of the secret attribute.
	Attribute string `json:"attribute"`
	// secret is the name of the Secret the value came from.
	Secret string `json:"secret"`
	// key is the key within the Secret.
	Key string `json:"key"`
	// resourceVersion of the Secret when its value was sent.
	ResourceVersion string `json:"resourceVersion"`
}

// LastApplied records what the operator last sent for fields that the remote does not return, or
// returns masked, so they are sent again when the spec or a Secret changes and never on every poll.
type LastApplied struct {
	// fieldDigests maps a top-level field name to a SHA-256 digest of the plain (non-secret) value
	// last sent.
	// +optional
	FieldDigests map[string]string `json:"fieldDigests,omitempty"`

	// secretVersions lists the Secret resourceVersions whose values were last sent. Values are never
	// recorded, nor hashes of them.
	// +optional
	// +listType=map
	// +listMapKey=attribute
	SecretVersions []SecretVersion `json:"secretVersions,omitempty"`
}

// PendingCreate marks a create that was started; it is written before the remote POST so that, after a
// crash, the operator finds its own object by name instead of creating a second one.
type PendingCreate struct {
	// name is the remote name that was being created.
	Name string `json:"name"`
	// startedAt is when the create was started.
	StartedAt metav1.Time `json:"startedAt"`
}

// SimIntegrationStatus is the observed state of a SimIntegration.
type SimIntegrationStatus struct {
	// id of the remote integration; the only place the operator stores it.
	// +optional
	ID string `json:"id,omitempty"`

	// observedGeneration is the metadata.generation last handled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastSyncTime is the last time the remote object was confirmed equal to the spec.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// lastHandledRequestedAt is the value of the sim.identitynow.io/requested-at annotation last handled.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`

	// remoteCreated is when the remote object was created, as the remote reports it.
	// +optional
	RemoteCreated *metav1.Time `json:"remoteCreated,omitempty"`

	// remoteModified is when the remote object was last modified, as the remote reports it.
	// +optional
	RemoteModified *metav1.Time `json:"remoteModified,omitempty"`

	// drift lists, for ObserveOnly, the top-level JSON Pointers where the remote object differs from the spec.
	// +optional
	// +listType=atomic
	Drift []string `json:"drift,omitempty"`

	// resolvedSources records the id each of spec.sourceRefs resolved to, in spec order, at the last
	// resolution (references are resolved again at every poll interval).
	// +optional
	// +listType=map
	// +listMapKey=name
	ResolvedSources []ResolvedReference `json:"resolvedSources,omitempty"`

	// resolvedCluster records the id spec.clusterRef resolved to at the last resolution.
	// +optional
	ResolvedCluster *ResolvedReference `json:"resolvedCluster,omitempty"`

	// pendingCreate is set while a create is in flight (see PendingCreate).
	// +optional
	PendingCreate *PendingCreate `json:"pendingCreate,omitempty"`

	// lastApplied is bookkeeping for fields the remote does not return (see LastApplied).
	// +optional
	LastApplied *LastApplied `json:"lastApplied,omitempty"`

	// conditions: Ready, Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SimIntegration is a ServiceNow Service Integration Module (SIM) integration in SailPoint Identity
// Security Cloud (IdentityNow), managed from Kubernetes.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sim,categories=identitynow
// +kubebuilder:printcolumn:name="Remote-ID",type=string,JSONPath=`.status.id`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Last-Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SimIntegration struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired state of the remote integration.
	// +required
	Spec SimIntegrationSpec `json:"spec"`

	// status is what the operator observed and did.
	// +optional
	Status SimIntegrationStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// SimIntegrationList contains a list of SimIntegration.
type SimIntegrationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []SimIntegration `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &SimIntegration{}, &SimIntegrationList{})
		return nil
	})
}
