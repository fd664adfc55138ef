// Package export turns a tenant's existing SIM integrations, as the IdentityNow client lists them,
// into SimIntegration manifests that adopt them (annotation sim.identitynow.io/external-id), so that
// teams bring existing integrations under GitOps without recreating them.
//
// Convert is pure: no I/O, no clock, deterministic output for the same input. Credential attributes
// never reach the output: each becomes a secretAttributes reference to a placeholder Secret whose
// value is Placeholder.
package export

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Placeholder is the value of every key of an emitted credentials Secret.
const Placeholder = "REPLACE_ME"

// SecretSuffix is appended to a SimIntegration's metadata.name to name its placeholder Secret.
const SecretSuffix = "-credentials"

// DefaultSecretKeys are the attribute keys treated as credentials by default (compared without case).
var DefaultSecretKeys = []string{"password", "secret", "clientSecret", "token", "apiKey", "privateKey"}

// secretKeyPattern catches credential-looking keys beyond the explicit list.
var secretKeyPattern = regexp.MustCompile(`(?i)(password|secret|token|key)$`)

// secretDataKey is what Kubernetes accepts as a Secret data key (and SecretKeySelector.key).
var secretDataKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// Limits of the SimIntegration CRD schema (api/v1alpha1) that a remote object can exceed.
const (
	maxNameLen        = 63 // metadata.name, a DNS-1123 label
	maxRemoteName     = 128
	maxDescription    = 2048
	maxType           = 128
	maxCluster        = 128
	maxSources        = 500
	maxSourceLen      = 128
	maxMapProperties  = 64
	maxAttributes     = 128
	maxSecretAttrs    = 32
	maxSecretAttrName = 256
	maxRuleID         = 128
	maxRuleName       = 256
	maxRuleType       = 64
	maxRefName        = 128
	maxSecretKeyLen   = 253
	fallbackName      = "sim-integration"
)

// Options say where the manifests go and which attributes are credentials.
type Options struct {
	// Namespace of the emitted objects; empty leaves metadata.namespace unset.
	Namespace string
	// TenantRef is copied into every SimIntegration.
	TenantRef simv1alpha1.TenantReference
	// SecretKeys are attribute keys that hold credentials (compared without case). Nil means
	// DefaultSecretKeys. Keys matching (?i)(password|secret|token|key)$ and keys whose value is
	// masked (only '*' characters, e.g. "********") are credentials too, whatever this list says.
	SecretKeys []string
	// ObserveOnly sets spec.managementPolicy: ObserveOnly, a safe first import that never writes.
	ObserveOnly bool
	// ByName, when set, writes spec.sourceRefs and spec.clusterRef by name instead of spec.sources and
	// spec.cluster by id, and adopts by name (spec.adoptionPolicy: AdoptByName) instead of by id (the
	// external-id annotation), so that the manifests serve any tenant whose objects have those names:
	// the exported tenant's integrations are adopted, another tenant's are created (or adopted by name).
	ByName *Names
}

// Names are the exported tenant's names for the ids its integrations refer to. An id missing here,
// or whose name is not unique in the tenant (compared without case), stays an id, with a warning.
type Names struct {
	// Sources and Clusters map ids to names.
	Sources, Clusters map[string]string
	// AmbiguousSources and AmbiguousClusters hold the names (lower case) that several objects have.
	AmbiguousSources, AmbiguousClusters map[string]bool
}

// source returns the unique name of a source id.
func (n *Names) source(id string) (string, bool) {
	return soleName(n.Sources, n.AmbiguousSources, id)
}

// cluster returns the unique name of a managed cluster id.
func (n *Names) cluster(id string) (string, bool) {
	return soleName(n.Clusters, n.AmbiguousClusters, id)
}

func soleName(names map[string]string, ambiguous map[string]bool, id string) (string, bool) {
	name, ok := names[id]
	if !ok || name == "" || runes(name) > maxRefName || ambiguous[strings.ToLower(name)] {
		return "", false
	}
	return name, true
}

// Manifest is one exported integration: the SimIntegration and, when it has credential attributes,
// its placeholder Secret.
type Manifest struct {
	Integration simv1alpha1.SimIntegration
	// Secret is nil when the integration has no credential attributes.
	Secret *corev1.Secret
}

// Result is the outcome of Convert.
type Result struct {
	// Manifests, sorted by SimIntegration metadata.name.
	Manifests []Manifest
	// Warnings name integrations that were skipped or changed, and why. They hold remote names, ids
	// and attribute keys, never attribute values.
	Warnings []string
	// ByName says the manifests refer to sources and clusters by name and adopt by name (Options.ByName).
	ByName bool
}

// Convert builds one Manifest per remote integration. An integration that the SimIntegration schema
// cannot represent (for example a name longer than 128 characters) is skipped with a warning.
func Convert(items []identitynow.Integration, opts Options) Result {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b identitynow.Integration) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	keys := opts.SecretKeys
	if keys == nil {
		keys = DefaultSecretKeys
	}
	res := Result{ByName: opts.ByName != nil}
	used := map[string]bool{}
	for _, it := range sorted {
		m, warns, err := convertOne(it, opts, keys, used)
		res.Warnings = append(res.Warnings, warns...)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("skipped %s: %v", describe(it), err))
			continue
		}
		res.Manifests = append(res.Manifests, m)
	}
	slices.SortFunc(res.Manifests, func(a, b Manifest) int {
		return strings.Compare(a.Integration.Name, b.Integration.Name)
	})
	return res
}

func describe(it identitynow.Integration) string {
	return fmt.Sprintf("integration %q (id %s)", it.Name, it.ID)
}

// convertOne converts one integration; it reserves the metadata.name in used only on success.
func convertOne(it identitynow.Integration, opts Options, secretKeys []string,
	used map[string]bool) (Manifest, []string, error) {
	var warns []string
	warn := func(format string, a ...any) {
		warns = append(warns, describe(it)+": "+fmt.Sprintf(format, a...))
	}
	if it.ID == "" {
		return Manifest{}, warns, fmt.Errorf("the remote object has no id")
	}
	if it.Name == "" || runes(it.Name) > maxRemoteName {
		return Manifest{}, warns, fmt.Errorf("the remote name must have 1 to %d characters", maxRemoteName)
	}
	spec := simv1alpha1.SimIntegrationSpec{TenantRef: opts.TenantRef, Name: it.Name}
	if opts.ObserveOnly {
		spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly
	}
	f := it.Fields

	if s, ok := stringField(f, "description", warn); ok {
		if runes(s) > maxDescription {
			return Manifest{}, warns, fmt.Errorf("description is longer than %d characters", maxDescription)
		}
		spec.Description = &s
	}
	if s, ok := stringField(f, "type", warn); ok {
		switch {
		case s == "":
			warn("type is empty; left unset, so the CRD default %q applies", simv1alpha1.DefaultIntegrationType)
		case runes(s) > maxType:
			return Manifest{}, warns, fmt.Errorf("type is longer than %d characters", maxType)
		default:
			spec.Type = s
		}
	}
	if s, ok := stringField(f, "cluster", warn); ok {
		if runes(s) > maxCluster {
			return Manifest{}, warns, fmt.Errorf("cluster is longer than %d characters", maxCluster)
		}
		spec.Cluster = &s
	}
	sources, err := sourcesField(f, warn)
	if err != nil {
		return Manifest{}, warns, err
	}
	spec.Sources = sources
	if opts.ByName != nil {
		byName(&spec, opts.ByName, warn)
	}
	if spec.StatusMap, err = stringMapField(f, "statusMap", warn); err != nil {
		return Manifest{}, warns, err
	}
	if spec.Request, err = stringMapField(f, "request", warn); err != nil {
		return Manifest{}, warns, err
	}
	if spec.BeforeProvisioningRule, err = ruleField(f, warn); err != nil {
		return Manifest{}, warns, err
	}

	plain, secret, err := splitAttributes(f, secretKeys, warn)
	if err != nil {
		return Manifest{}, warns, err
	}
	if plain != nil {
		raw, err := json.Marshal(plain)
		if err != nil {
			return Manifest{}, warns, fmt.Errorf("attributes cannot be encoded as JSON")
		}
		spec.Attributes = &apiextensionsv1.JSON{Raw: raw}
	}

	name := uniqueName(DNSName(it.Name), used)
	obj := simv1alpha1.SimIntegration{
		TypeMeta: metav1.TypeMeta{APIVersion: simv1alpha1.GroupVersion.String(), Kind: "SimIntegration"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: opts.Namespace,
			Annotations: map[string]string{simv1alpha1.AnnotationExternalID: it.ID},
		},
		Spec: spec,
	}
	if opts.ByName != nil {
		// The id is the exported tenant's: another tenant adopts (or creates) by name instead.
		obj.Annotations = nil
		obj.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName
	}
	var sec *corev1.Secret
	if len(secret) > 0 {
		sec = placeholderSecret(name+SecretSuffix, opts.Namespace)
		usedKeys := map[string]bool{}
		for _, attr := range secret {
			key := secretKey(attr, usedKeys)
			sec.StringData[key] = Placeholder
			obj.Spec.SecretAttributes = append(obj.Spec.SecretAttributes, simv1alpha1.SecretAttribute{
				Name: attr, SecretKeyRef: simv1alpha1.SecretKeySelector{Name: sec.Name, Key: key},
			})
		}
	}
	used[name] = true
	return Manifest{Integration: obj, Secret: sec}, warns, nil
}

func placeholderSecret(name, namespace string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{},
	}
}

// stringField returns a string field that is present; a value of another JSON type is reported.
func stringField(f map[string]any, key string, warn func(string, ...any)) (string, bool) {
	v, ok := f[key]
	if !ok {
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		warn("%s is not a string; left unset", key)
		return "", false
	}
	return s, true
}

// sourcesField returns the sources as a sorted set.
func sourcesField(f map[string]any, warn func(string, ...any)) ([]string, error) {
	v, ok := f["sources"]
	if !ok {
		return nil, nil
	}
	list, isList := v.([]any)
	if !isList {
		warn("sources is not a list; left unset")
		return nil, nil
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, isStr := x.(string)
		if !isStr || s == "" || runes(s) > maxSourceLen {
			warn("sources holds an entry that is not a source id; left unset")
			return nil, nil
		}
		out = append(out, s)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxSources {
		return nil, fmt.Errorf("more than %d sources", maxSources)
	}
	return out, nil
}

// byName replaces spec.sources and spec.cluster by references by name, each field only when every id
// in it has a unique name in the tenant.
func byName(spec *simv1alpha1.SimIntegrationSpec, names *Names, warn func(string, ...any)) {
	if spec.Sources != nil {
		refs := make([]simv1alpha1.SourceReference, 0, len(spec.Sources))
		seen := map[string]bool{}
		for _, id := range spec.Sources {
			name, ok := names.source(id)
			if !ok {
				warn("source %s has no name of its own in the tenant (missing, or shared with another source); sources left by id", id)
				refs = nil
				break
			}
			if !seen[name] {
				seen[name] = true
				refs = append(refs, simv1alpha1.SourceReference{Name: name})
			}
		}
		if refs != nil {
			slices.SortFunc(refs, func(a, b simv1alpha1.SourceReference) int { return strings.Compare(a.Name, b.Name) })
			spec.Sources, spec.SourceRefs = nil, refs
		}
	}
	if spec.Cluster != nil {
		if name, ok := names.cluster(*spec.Cluster); ok {
			spec.Cluster, spec.ClusterRef = nil, &simv1alpha1.ClusterReference{Name: name}
		} else {
			warn("managed cluster %s has no name of its own in the tenant (missing, or shared with another cluster); cluster left by id", *spec.Cluster)
		}
	}
}

// stringMapField returns statusMap or request; non-string values are converted to their JSON text.
func stringMapField(f map[string]any, key string, warn func(string, ...any)) (map[string]string, error) {
	v, ok := f[key]
	if !ok {
		return nil, nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		warn("%s is not an object; left unset", key)
		return nil, nil
	}
	if len(m) > maxMapProperties {
		return nil, fmt.Errorf("%s has more than %d keys", key, maxMapProperties)
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		if s, isStr := x.(string); isStr {
			out[k] = s
			continue
		}
		raw, _ := json.Marshal(x)
		out[k] = string(raw)
		warn("%s.%s is not a string; exported as its JSON text", key, k)
	}
	return out, nil
}

func ruleField(f map[string]any, warn func(string, ...any)) (*simv1alpha1.RuleReference, error) {
	v, ok := f["beforeProvisioningRule"]
	if !ok {
		return nil, nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		warn("beforeProvisioningRule is not an object; left unset")
		return nil, nil
	}
	id, _ := m["id"].(string)
	if id == "" {
		warn("beforeProvisioningRule has no id; left unset")
		return nil, nil
	}
	r := &simv1alpha1.RuleReference{ID: id}
	r.Type, _ = m["type"].(string)
	r.Name, _ = m["name"].(string)
	if runes(r.ID) > maxRuleID || runes(r.Name) > maxRuleName || runes(r.Type) > maxRuleType {
		return nil, fmt.Errorf("beforeProvisioningRule exceeds the schema's lengths")
	}
	return r, nil
}

// splitAttributes separates plain attributes from credential ones (returned as sorted keys). plain is
// nil when the remote has no attributes field, or when every attribute is a credential.
func splitAttributes(f map[string]any, secretKeys []string,
	warn func(string, ...any)) (map[string]any, []string, error) {
	v, ok := f["attributes"]
	if !ok {
		return nil, nil, nil
	}
	attrs, isMap := v.(map[string]any)
	if !isMap {
		warn("attributes is not an object; left unset")
		return nil, nil, nil
	}
	if len(attrs) > maxAttributes {
		return nil, nil, fmt.Errorf("attributes has more than %d keys", maxAttributes)
	}
	plain := map[string]any{}
	var secret []string
	for k, x := range attrs {
		if !IsSecretAttribute(k, x, secretKeys) {
			plain[k] = x
			continue
		}
		if k == "" || runes(k) > maxSecretAttrName {
			return nil, nil, fmt.Errorf("a credential attribute key must have 1 to %d characters", maxSecretAttrName)
		}
		if _, isStr := x.(string); !isStr {
			warn("credential attribute %q holds a JSON %s, but a Secret value is sent as a string", k, jsonType(x))
		}
		secret = append(secret, k)
	}
	slices.Sort(secret)
	if len(secret) > maxSecretAttrs {
		return nil, nil, fmt.Errorf("more than %d credential attributes", maxSecretAttrs)
	}
	if len(plain) == 0 && len(secret) > 0 {
		plain = nil
	}
	return plain, secret, nil
}

// IsSecretAttribute reports whether the attribute key with value v holds a credential: its key is in
// secretKeys (without case) or ends in password, secret, token or key (without case), or its value,
// or anything nested in it, is masked or sits under such a key.
func IsSecretAttribute(key string, v any, secretKeys []string) bool {
	return isSecretKey(key, secretKeys) || holdsSecret(v, secretKeys)
}

func isSecretKey(key string, secretKeys []string) bool {
	if secretKeyPattern.MatchString(key) {
		return true
	}
	return slices.ContainsFunc(secretKeys, func(s string) bool { return strings.EqualFold(s, key) })
}

// holdsSecret reports whether v is masked, or holds a masked value or a credential-looking key.
func holdsSecret(v any, secretKeys []string) bool {
	switch x := v.(type) {
	case string:
		return identitynow.IsMasked(x)
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return holdsSecret(e, secretKeys) })
	case map[string]any:
		for k, e := range x {
			if isSecretKey(k, secretKeys) || holdsSecret(e, secretKeys) {
				return true
			}
		}
	}
	return false
}

// runes counts characters as the CRD schema's maxLength does (Unicode code points).
func runes(s string) int { return utf8.RuneCountInString(s) }

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case nil:
		return "null"
	}
	return "value"
}

// DNSName derives a DNS-1123 label from a remote name: lower case, every run of characters other than
// a-z and 0-9 becomes one '-', no leading or trailing '-', at most 63 characters. A name with no
// usable character becomes "sim-integration".
func DNSName(remote string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(remote) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return cmp.Or(truncate(b.String(), maxNameLen), fallbackName)
}

func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-")
}

// uniqueName returns base, or base with the first free suffix -2, -3, ... (within 63 characters).
func uniqueName(base string, used map[string]bool) string {
	if !used[base] {
		return base
	}
	for i := 2; ; i++ {
		suffix := "-" + strconv.Itoa(i)
		if n := truncate(base, maxNameLen-len(suffix)) + suffix; !used[n] {
			return n
		}
	}
}

// secretKey returns a valid, unused Secret data key for an attribute: the attribute name itself when
// Kubernetes accepts it, else the name with every other character replaced by '_'.
func secretKey(attr string, used map[string]bool) string {
	key := attr
	if !secretDataKey.MatchString(key) || len(key) > maxSecretKeyLen || key == "." || strings.HasPrefix(key, "..") {
		var b strings.Builder
		for _, r := range attr {
			if r < 128 && secretDataKey.MatchString(string(r)) {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		key = b.String()
		if key == "." || strings.HasPrefix(key, "..") {
			key = "key" + key
		}
		if len(key) > maxSecretKeyLen {
			key = key[:maxSecretKeyLen]
		}
	}
	base := key
	for i := 2; used[key]; i++ {
		suffix := "_" + strconv.Itoa(i)
		key = base[:min(len(base), maxSecretKeyLen-len(suffix))] + suffix
	}
	used[key] = true
	return key
}
