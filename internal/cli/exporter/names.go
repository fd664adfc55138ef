package exporter

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// lookUpNames finds the names of the sources and managed clusters the integrations refer to, and
// which of those names several objects share (a reference by such a name would be ambiguous): one
// Sources lookup by id, one by those names, one list of the managed clusters (the API filters them by
// name only, and a tenant has a few).
func lookUpNames(ctx context.Context, client *identitynow.Client, items []identitynow.Integration) (*export.Names, error) {
	names := &export.Names{Sources: map[string]string{}, Clusters: map[string]string{},
		AmbiguousSources: map[string]bool{}, AmbiguousClusters: map[string]bool{}}
	var ids []string
	for _, it := range items {
		list, _ := it.Fields["sources"].([]any)
		for _, v := range list {
			if id, ok := v.(string); ok && id != "" {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) > 0 {
		if err := client.ListSourcesByID(ctx, ids, func(n identitynow.Named) { names.Sources[n.ID] = n.Name }); err != nil {
			return nil, fmt.Errorf("look up the sources' names: %w", err)
		}
		named := make([]string, 0, len(names.Sources))
		for _, n := range names.Sources {
			named = append(named, n)
		}
		holders := map[string]map[string]bool{} // name (lower case) → ids
		if err := client.ListSources(ctx, named, func(n identitynow.Named) {
			key := strings.ToLower(n.Name)
			if holders[key] == nil {
				holders[key] = map[string]bool{}
			}
			holders[key][n.ID] = true
		}); err != nil {
			return nil, fmt.Errorf("look up the sources by name: %w", err)
		}
		for key, held := range holders {
			names.AmbiguousSources[key] = len(held) > 1
		}
	}
	if !slices.ContainsFunc(items, func(it identitynow.Integration) bool { _, ok := it.Fields["cluster"].(string); return ok }) {
		return names, nil
	}
	clusters := map[string]int{}
	if err := client.ListAllManagedClusters(ctx, func(n identitynow.Named) {
		names.Clusters[n.ID] = n.Name
		clusters[strings.ToLower(n.Name)]++
	}); err != nil {
		return nil, fmt.Errorf("list the managed clusters: %w", err)
	}
	for key, n := range clusters {
		names.AmbiguousClusters[key] = n > 1
	}
	return names, nil
}
