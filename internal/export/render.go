package export

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Header returns the comment lines that open an export: where it came from and, when placeholder
// Secrets are included, what must happen before the manifests are applied.
func (r Result) Header(source string) []string {
	lines := []string{
		"Exported by sim-operator-export from " + source + ".",
		"Each SimIntegration carries the sim.identitynow.io/external-id annotation: the operator adopts",
		"that existing remote integration instead of creating a new one.",
	}
	if r.ByName {
		lines = []string{
			"Exported by sim-operator-export from " + source + ", by name.",
			"Sources and managed clusters are named (spec.sourceRefs, spec.clusterRef), and each SimIntegration",
			"adopts the remote integration of its name (adoptionPolicy: AdoptByName), so these manifests serve",
			"any tenant with objects of those names: apply them to another tenant to create the integrations there.",
		}
	}
	if r.Secrets() > 0 {
		lines = append(lines,
			"",
			"Credential attributes were NOT exported. Each <name>"+SecretSuffix+" Secret below holds the",
			"placeholder "+Placeholder+" for every such attribute. Before applying with managementPolicy: Manage,",
			"put the real values in (or replace the Secret with your secret manager's equivalent, and keep",
			"plain Secrets out of Git): the operator sends secret attribute values to IdentityNow.",
			"Applying a placeholder Secret over an existing Secret of the same name overwrites its values.",
		)
	}
	if len(r.Manifests) == 0 {
		lines = append(lines, "", "The tenant has no SIM integration to export.")
	}
	return lines
}

// Secrets counts the placeholder Secrets.
func (r Result) Secrets() int {
	n := 0
	for _, m := range r.Manifests {
		if m.Secret != nil {
			n++
		}
	}
	return n
}

// YAML renders a multi-document YAML stream: the header as comments, then for each manifest (in
// order) its placeholder Secret, if any, followed by the SimIntegration, so that applying the stream
// in order never leaves a SimIntegration waiting for its Secret.
func (r Result) YAML(header []string) ([]byte, error) {
	var b bytes.Buffer
	for _, l := range header {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	for _, m := range r.Manifests {
		var objs []any
		if m.Secret != nil {
			objs = append(objs, m.Secret)
		}
		objs = append(objs, &m.Integration)
		for _, o := range objs {
			doc, err := yaml.Marshal(o)
			if err != nil {
				return nil, fmt.Errorf("render %s: %w", m.Integration.Name, err)
			}
			b.WriteString("---\n")
			b.Write(doc)
		}
	}
	return b.Bytes(), nil
}
