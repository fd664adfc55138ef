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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ClusterTenantSpec is a Tenant's spec plus the namespaces allowed to use the ClusterTenant.
type ClusterTenantSpec struct {
	TenantSpec `json:",inline"`

	// namespaces names the namespaces whose SimIntegrations may use this ClusterTenant. When neither
	// namespaces nor namespaceSelector is set, every namespace may use it; when either is set, only a
	// namespace named here or matching namespaceSelector may, and a SimIntegration elsewhere is
	// Stalled with reason TenantNotAllowed and makes no remote call.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespaces []string `json:"namespaces,omitempty"`

	// namespaceSelector selects, by their labels, namespaces whose SimIntegrations may use this
	// ClusterTenant, in addition to those named in namespaces. An empty selector ({}) selects every
	// namespace. Whoever may change a namespace's labels may bring it into the selection.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// ClusterTenant is an IdentityNow tenant usable by SimIntegrations in every namespace, or in those
// that spec.namespaces and spec.namespaceSelector allow. Its credentials Secret lives in the
// operator's cluster resource namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=identitynow
// +kubebuilder:printcolumn:name="Base-URL",type=string,JSONPath=`.spec.baseURL`
// +kubebuilder:printcolumn:name="Release",type=string,JSONPath=`.spec.apiRelease`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterTenant struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec says how to reach the tenant (the same fields as a Tenant's) and which namespaces may use it.
	// +required
	Spec ClusterTenantSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status TenantStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// ClusterTenantList contains a list of ClusterTenant.
type ClusterTenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []ClusterTenant `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &ClusterTenant{}, &ClusterTenantList{})
		return nil
	})
}
