package cli

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// schemaDefaulter fills in a CRD's schema defaults the way the API server does (the same structural
// defaulting code), from the CRD read through the kubeconfig. diff uses it when the API server
// refuses it a dry run: reading CRDs is all it needs, though validation then does not run.
type schemaDefaulter struct {
	schemas map[string]*structuralschema.Structural
}

// apply fills in the defaults of u's kind and version.
func (s *schemaDefaulter) apply(ctx context.Context, d *differ, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	key := gvk.String()
	st, ok := s.schemas[key]
	if !ok {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		name := strings.ToLower(gvk.Kind) + "s." + gvk.Group
		if err := d.c.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
			return fmt.Errorf("read the CustomResourceDefinition %s: %w", name, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != gvk.Version || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return fmt.Errorf("the schema of %s %s: %w", name, v.Name, err)
			}
			var err error
			if st, err = structuralschema.NewStructural(internal); err != nil {
				return fmt.Errorf("the schema of %s %s: %w", name, v.Name, err)
			}
		}
		if st == nil {
			return fmt.Errorf("the CustomResourceDefinition %s has no schema for %s", name, gvk.Version)
		}
		if s.schemas == nil {
			s.schemas = map[string]*structuralschema.Structural{}
		}
		s.schemas[key] = st
	}
	structuraldefaulting.Default(u.Object, st)
	return nil
}
