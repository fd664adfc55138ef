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

// TenantObject is a Tenant or a ClusterTenant: the same spec and status, two scopes.
// +kubebuilder:object:generate=false
type TenantObject interface {
	metav1.Object
	runtime.Object
	// GetTenantSpec returns the spec.
	GetTenantSpec() *TenantSpec
	// GetTenantStatus returns the status, for the reconciler to fill.
	GetTenantStatus() *TenantStatus
	// GetTenantKind says which of the two kinds this is.
	GetTenantKind() TenantKind
}

// GetTenantSpec implements TenantObject.
func (t *Tenant) GetTenantSpec() *TenantSpec { return &t.Spec }

// GetTenantStatus implements TenantObject.
func (t *Tenant) GetTenantStatus() *TenantStatus { return &t.Status }

// GetTenantKind implements TenantObject.
func (t *Tenant) GetTenantKind() TenantKind { return TenantKindTenant }

// GetTenantSpec implements TenantObject.
func (t *ClusterTenant) GetTenantSpec() *TenantSpec { return &t.Spec.TenantSpec }

// GetTenantStatus implements TenantObject.
func (t *ClusterTenant) GetTenantStatus() *TenantStatus { return &t.Status }

// GetTenantKind implements TenantObject.
func (t *ClusterTenant) GetTenantKind() TenantKind { return TenantKindClusterTenant }

// RemoteName is the remote integration's name: spec.name, else metadata.name.
func (s *SimIntegration) RemoteName() string {
	if s.Spec.Name != "" {
		return s.Spec.Name
	}
	return s.Name
}
