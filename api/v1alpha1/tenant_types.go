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

// APIRelease is the IdentityNow API release the operator calls.
// +kubebuilder:validation:Enum=v2024;v2025;v2026;v1
type APIRelease string

const (
	// APIReleaseV2024 calls {baseURL}/v2024/sim-integrations.
	APIReleaseV2024 APIRelease = "v2024"
	// APIReleaseV2025 calls {baseURL}/v2025/sim-integrations.
	APIReleaseV2025 APIRelease = "v2025"
	// APIReleaseV2026 calls {baseURL}/v2026/sim-integrations.
	APIReleaseV2026 APIRelease = "v2026"
	// APIReleaseV1 calls SailPoint's per-service layout, {baseURL}/sim-integrations/v1.
	APIReleaseV1 APIRelease = "v1"
)

// UpdateStrategy is how changes are sent to the remote object.
// +kubebuilder:validation:Enum=Patch;Put
type UpdateStrategy string

const (
	// UpdateStrategyPatch sends only the differences as JSON Patch operations.
	UpdateStrategyPatch UpdateStrategy = "Patch"
	// UpdateStrategyPut sends the full object with PUT.
	UpdateStrategyPut UpdateStrategy = "Put"
)

// PatchFormat is the body form of a JSON Patch request.
// +kubebuilder:validation:Enum=Operations;Array
type PatchFormat string

const (
	// PatchFormatOperations sends {"operations":[...]}, as SailPoint's SDK does.
	PatchFormatOperations PatchFormat = "Operations"
	// PatchFormatArray sends a bare RFC 6902 array.
	PatchFormatArray PatchFormat = "Array"
)

// CredentialsReference selects the Secret that holds an API client's id and secret (a personal access
// token of an ORG_ADMIN user, with the scope idn:service-desk-integration:manage or sp:scopes:all).
type CredentialsReference struct {
	// name of the Secret. A Tenant reads it from its own namespace; a ClusterTenant from the operator's
	// cluster resource namespace (flag --cluster-resource-namespace).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// clientIDKey is the Secret key that holds the client id.
	// +optional
	// +kubebuilder:default=clientId
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClientIDKey string `json:"clientIDKey,omitempty"`

	// clientSecretKey is the Secret key that holds the client secret.
	// +optional
	// +kubebuilder:default=clientSecret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClientSecretKey string `json:"clientSecretKey,omitempty"`
}

// RateLimit is a request budget: at most requests SIM requests in any window of length period.
type RateLimit struct {
	// requests allowed per period, at least 1.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Requests int32 `json:"requests,omitempty"`

	// period of the window, as a Go duration between 1s and 1h (for example 10s).
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="rateLimit.period must be between 1s and 1h"
	Period metav1.Duration `json:"period,omitzero"`
}

// TenantSpec is how to reach one IdentityNow tenant's API.
// +kubebuilder:validation:XValidation:rule="self.baseURL.startsWith('https://') || self.baseURL.startsWith('http://')",message="baseURL must start with https:// (or http:// where the operator allows insecure HTTP)"
// +kubebuilder:validation:XValidation:rule="!has(self.tokenURL) || self.tokenURL.startsWith('https://') || self.tokenURL.startsWith('http://')",message="tokenURL must start with https:// (or http:// where the operator allows insecure HTTP)"
// +kubebuilder:validation:XValidation:rule="!self.baseURL.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')",message="baseURL must not carry user info; put credentials in the Secret named by credentialsRef"
// +kubebuilder:validation:XValidation:rule="!has(self.tokenURL) || !self.tokenURL.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')",message="tokenURL must not carry user info; put credentials in the Secret named by credentialsRef"
type TenantSpec struct {
	// baseURL of the tenant's API, for example https://acme.api.identitynow.com, without user info.
	// Its host must match the operator's --tenant-host-allowlist.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="baseURL must be an absolute URL"
	BaseURL string `json:"baseURL"`

	// apiRelease is the API release to call: v2024, v2025, v2026, or v1 (SailPoint's per-service
	// layout, /sim-integrations/v1, which outlives the yearly releases).
	// +optional
	// +kubebuilder:default=v2024
	APIRelease APIRelease `json:"apiRelease,omitempty"`

	// tokenURL is the OAuth2 token endpoint. Defaults to baseURL + /oauth/token.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="tokenURL must be an absolute URL"
	TokenURL string `json:"tokenURL,omitempty"`

	// credentialsRef selects the Secret with the API client's id and secret.
	// +required
	CredentialsRef CredentialsReference `json:"credentialsRef"`

	// pollInterval is how often the remote objects are read to detect drift, as a Go duration of at
	// least 1s. One list call per interval serves every SimIntegration of the tenant; it is jittered.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="pollInterval must be at least 1s"
	PollInterval metav1.Duration `json:"pollInterval,omitzero"`

	// rateLimit is the request budget shared by everything that uses the same token URL, client id
	// and API release. The default is the documented IdentityNow limit, 100 requests per 10s.
	// +optional
	// +kubebuilder:default={requests: 100, period: "10s"}
	RateLimit RateLimit `json:"rateLimit,omitzero"`

	// updateStrategy: Patch sends JSON Patch differences; Put sends the full object.
	// +optional
	// +kubebuilder:default=Patch
	UpdateStrategy UpdateStrategy `json:"updateStrategy,omitempty"`

	// patchFormat is the JSON Patch body form: Operations ({"operations":[...]}) or Array (a bare
	// RFC 6902 array).
	// +optional
	// +kubebuilder:default=Operations
	PatchFormat PatchFormat `json:"patchFormat,omitempty"`

	// caBundle holds extra PEM certificates to trust, on top of the system roots (base64 in YAML).
	// +optional
	// +kubebuilder:validation:MaxLength=262144
	CABundle []byte `json:"caBundle,omitempty"`

	// suspend is a change freeze for every SimIntegration of this tenant: while true, no remote
	// create, update or delete is sent for them; their remote objects are still read, and how they
	// differ from the spec is reported in status.drift, with the reason TenantSuspended. A spec change
	// made during the freeze is applied after it; a SimIntegration deleted during the freeze keeps its
	// finalizer until then, unless its deletionPolicy is Orphan.
	// +optional
	// +kubebuilder:default=false
	Suspend bool `json:"suspend,omitempty"`
}

// TenantStatus is the observed state of a Tenant or ClusterTenant.
type TenantStatus struct {
	// observedGeneration is the metadata.generation last handled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Tenant is an IdentityNow tenant's API endpoint and credentials, for SimIntegrations in its namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=identitynow
// +kubebuilder:printcolumn:name="Base-URL",type=string,JSONPath=`.spec.baseURL`
// +kubebuilder:printcolumn:name="Release",type=string,JSONPath=`.spec.apiRelease`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Tenant struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec says how to reach the tenant.
	// +required
	Spec TenantSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status TenantStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// TenantList contains a list of Tenant.
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Tenant `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &Tenant{}, &TenantList{})
		return nil
	})
}
