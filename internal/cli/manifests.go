package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// maxManifestBytes bounds one manifest file (kubectl reads any size; a SimIntegration is small).
const maxManifestBytes = 32 << 20

// manifest is one object read from a file.
type manifest struct {
	obj *unstructured.Unstructured
	// source names the file and the document's position, for messages.
	source string
}

// manifestExtensions are the files a directory contributes, as for kubectl apply -f DIR.
var manifestExtensions = []string{".yaml", ".yml", ".json"}

// readManifests reads every object of the files and directories in paths ("-" is stdin); a directory
// contributes its .yaml, .yml and .json files, and those of its subdirectories with recursive.
// List objects (kind: List, or any *List kind with items) contribute their items.
func readManifests(paths []string, recursive bool, stdin io.Reader) ([]manifest, error) {
	if len(paths) == 0 {
		return nil, errors.New("name the manifests with -f FILE|DIR (- for standard input)")
	}
	var out []manifest
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(io.LimitReader(stdin, maxManifestBytes+1))
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			ms, err := decodeManifests(data, "standard input")
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		files, err := manifestFiles(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := readBounded(f)
			if err != nil {
				return nil, err
			}
			ms, err := decodeManifests(data, f)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	return out, nil
}

func manifestFiles(path string, recursive bool) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(manifestExtensions, strings.ToLower(filepath.Ext(p))) {
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxManifestBytes>>20)
	}
	return data, nil
}

// decodeManifests splits a YAML or JSON stream into objects.
func decodeManifests(data []byte, source string) ([]manifest, error) {
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB", source, maxManifestBytes>>20)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []manifest
	for doc := 1; ; doc++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s, document %d: %w", source, doc, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		where := fmt.Sprintf("%s, document %d", source, doc)
		if u.IsList() {
			err := u.EachListItem(func(o runtime.Object) error {
				item, ok := o.(*unstructured.Unstructured)
				if !ok {
					return fmt.Errorf("%s: a list item is not an object", where)
				}
				out = append(out, manifest{obj: item, source: where})
				return nil
			})
			if err != nil {
				return nil, err
			}
			continue
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: an object needs apiVersion and kind", where)
		}
		out = append(out, manifest{obj: u, source: where})
	}
}
