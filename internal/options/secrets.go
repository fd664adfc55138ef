package options

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// SecretAttributeLabel opts a Secret in to being sent to a tenant when --require-secret-label is set.
const SecretAttributeLabel = "sim.identitynow.io/secret-attribute"

// refusedSecretTypes hold credentials of the cluster itself, never meant for a tenant: a service
// account token, or a Helm release (which carries every value of the release).
var refusedSecretTypes = map[corev1.SecretType]bool{
	corev1.SecretTypeServiceAccountToken: true,
	"helm.sh/release.v1":                 true,
}

// SecretAttributeAllowed says why a Secret of this type and these labels may not supply a secret
// attribute, or returns nil.
func (o *Options) SecretAttributeAllowed(t corev1.SecretType, labels map[string]string) error {
	if refusedSecretTypes[t] {
		return fmt.Errorf("is of type %s, which the operator never sends to a tenant", t)
	}
	if o.RequireSecretLabel && labels[SecretAttributeLabel] != "true" {
		return fmt.Errorf("lacks the label %s: \"true\", which the operator requires (--require-secret-label)", SecretAttributeLabel)
	}
	return nil
}
