package options

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSecretAttributeAllowed(t *testing.T) {
	labelled := map[string]string{SecretAttributeLabel: "true"}
	for _, tc := range []struct {
		name        string
		requireFlag bool
		secretType  corev1.SecretType
		labels      map[string]string
		refusal     string // "" when allowed
	}{
		{"opaque", false, corev1.SecretTypeOpaque, nil, ""},
		{"service account token", false, corev1.SecretTypeServiceAccountToken, labelled, "kubernetes.io/service-account-token"},
		{"helm release", false, "helm.sh/release.v1", nil, "helm.sh/release.v1"},
		{"tls is allowed", false, corev1.SecretTypeTLS, nil, ""},
		{"label required, missing", true, corev1.SecretTypeOpaque, nil, "lacks the label"},
		{"label required, false", true, corev1.SecretTypeOpaque, map[string]string{SecretAttributeLabel: "false"}, "lacks the label"},
		{"label required, present", true, corev1.SecretTypeOpaque, labelled, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Options{RequireSecretLabel: tc.requireFlag}).SecretAttributeAllowed(tc.secretType, tc.labels)
			switch {
			case tc.refusal == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
				t.Fatalf("got %v, want a refusal naming %q", err, tc.refusal)
			}
		})
	}
}
