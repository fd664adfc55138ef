package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The repository's Dockerfile is the recipe of the image `make e2e-cluster` builds: its final stage
// must stay within what applyDockerfile understands, and give the manager's user and entrypoint.
func TestRepositoryDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	img := Image{}
	if err := applyDockerfile(&img, string(b), map[string]string{"/workspace/manager": "bin/manager"}); err != nil {
		t.Fatal(err)
	}
	if img.User != "65532:65532" || !slices.Equal(img.Entrypoint, []string{"/manager"}) || img.WorkingDir != "/" {
		t.Errorf("final stage: user %q, entrypoint %q, workdir %q", img.User, img.Entrypoint, img.WorkingDir)
	}
	if len(img.Files) != 1 || img.Files[0] != (File{Src: "bin/manager", Dst: "/manager", Mode: 0o755}) {
		t.Errorf("files %+v", img.Files)
	}
}

func TestApplyDockerfileRefusesWhatItCannotRun(t *testing.T) {
	for _, df := range []string{
		"FROM a AS b\nRUN make\nFROM c\nRUN apk add x\n",
		"FROM c\nCOPY . /src\n",
		"FROM c\nENTRYPOINT /manager --flag\n",
		"FROM c\nCOPY --from=b /x /y\n", // no --built for /x
	} {
		if err := applyDockerfile(&Image{}, df, map[string]string{}); err == nil {
			t.Errorf("accepted %q", df)
		}
	}
}

func TestArchive(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "manager")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := Image{Name: "sim-operator:test", User: "65532:65532", WorkingDir: "/", Entrypoint: []string{"/manager"},
		Files: []File{{Src: bin, Dst: "/manager", Mode: 0o755}}, CABundle: ca}
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	for _, out := range []string{a, b} {
		if _, err := writeArchive(out, img); err != nil {
			t.Fatal(err)
		}
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Error("the same inputs gave different archives")
	}

	files := untar(t, bytes.NewReader(ab))
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"].data, &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"].data)
	}
	if !slices.Equal(manifest[0].RepoTags, []string{"sim-operator:test"}) || len(manifest[0].Layers) != 1 {
		t.Errorf("manifest.json %+v", manifest[0])
	}
	if _, ok := files["oci-layout"]; ok {
		t.Error("oci-layout present: containerd would then take the name from index.json unexpanded")
	}
	var config struct {
		Config struct {
			User       string
			Entrypoint []string
		} `json:"config"`
	}
	if err := json.Unmarshal(files[manifest[0].Config].data, &config); err != nil {
		t.Fatal(err)
	}
	if config.Config.User != "65532:65532" || !slices.Equal(config.Config.Entrypoint, []string{"/manager"}) {
		t.Errorf("config %+v", config.Config)
	}
	zr, err := gzip.NewReader(bytes.NewReader(files[manifest[0].Layers[0]].data))
	if err != nil {
		t.Fatal(err)
	}
	layer := untar(t, zr)
	for name, want := range map[string]int64{"manager": 0o755, "tmp/": 0o1777, "etc/passwd": 0o644,
		"etc/ssl/certs/ca-certificates.crt": 0o644, "home/nonroot/": 0o700} {
		f, ok := layer[name]
		if !ok {
			t.Errorf("layer has no %s", name)
			continue
		}
		if f.hdr.Mode != want {
			t.Errorf("%s: mode %o, want %o", name, f.hdr.Mode, want)
		}
	}
	if !strings.Contains(string(layer["etc/passwd"].data), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd: %s", layer["etc/passwd"].data)
	}
	if h := layer["home/nonroot/"].hdr; h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("home/nonroot owned by %d:%d", h.Uid, h.Gid)
	}
}

type tarFile struct {
	hdr  *tar.Header
	data []byte
}

func untar(t *testing.T, r io.Reader) map[string]tarFile {
	t.Helper()
	out := map[string]tarFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = tarFile{hdr: h, data: b}
	}
}
