package tenant

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

func TestNamespaceAllowed(t *testing.T) {
	team := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "blue"}}
	notRed := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"red"}}}}
	invalid := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "team", Operator: "Near", Values: []string{"blue"}}}}
	blue, red := map[string]string{"team": "blue"}, map[string]string{"team": "red"}
	for _, tc := range []struct {
		name       string
		namespaces []string
		selector   *metav1.LabelSelector
		ns         string
		labels     map[string]string
		want       bool
		wantErr    bool
	}{
		{name: "unscoped serves every namespace", ns: "b", want: true},
		{name: "named namespace", namespaces: []string{"a", "c"}, ns: "a", want: true},
		{name: "unnamed namespace", namespaces: []string{"a"}, ns: "b", labels: blue, want: false},
		{name: "name is not a prefix", namespaces: []string{"a"}, ns: "ab", want: false},
		{name: "selector matches labels", selector: team, ns: "b", labels: blue, want: true},
		{name: "selector does not match", selector: team, ns: "b", labels: red, want: false},
		{name: "selector and no labels", selector: team, ns: "b", want: false},
		{name: "either list or selector", namespaces: []string{"a"}, selector: team, ns: "b", labels: blue, want: true},
		{name: "named even when the selector refuses", namespaces: []string{"a"}, selector: team, ns: "a", labels: red, want: true},
		{name: "empty selector selects everything", selector: &metav1.LabelSelector{}, ns: "b", want: true},
		{name: "NotIn expression", selector: notRed, ns: "b", labels: blue, want: true},
		{name: "NotIn expression refuses", selector: notRed, ns: "b", labels: red, want: false},
		{name: "invalid selector allows nothing", selector: invalid, ns: "b", labels: blue, want: false, wantErr: true},
		{name: "invalid selector keeps the list", namespaces: []string{"a"}, selector: invalid, ns: "a", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &simv1alpha1.ClusterTenantSpec{Namespaces: tc.namespaces, NamespaceSelector: tc.selector}
			got, err := namespaceAllowed(spec, tc.ns, tc.labels)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("namespaceAllowed(%v, %v, %q, %v) = %v, %v; want %v (error: %v)",
					tc.namespaces, tc.selector, tc.ns, tc.labels, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
