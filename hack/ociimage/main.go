// Command ociimage writes a single-layer container image archive without a registry, a daemon or a
// base image: the layer holds the given files, a CA bundle and the passwd and group entries of the
// numeric user, on an empty root (FROM scratch). `make e2e-cluster` builds the manager and pause
// images with it and imports them with `ctr -n k8s.io images import`.
//
//	go run ./hack/ociimage --name sim-operator:e2e --out manager.tar \
//	    --dockerfile Dockerfile --built /workspace/manager=bin/manager-linux-amd64
//	go run ./hack/ociimage --name sim-operator-pause:e2e --out pause.tar \
//	    --file bin/pause=/pause --entrypoint /pause --user 65535:65535
//
// With --dockerfile, the image follows the final stage of that Dockerfile: each `COPY --from=STAGE SRC
// DST` takes the file that --built maps SRC to, and USER, WORKDIR, ENTRYPOINT, CMD and ENV are read
// from it, so the Dockerfile stays the one recipe of the image. Its FROM image (distroless
// static:nonroot) is replaced by what that image gives a static binary: the CA bundle, the nonroot
// user and a world-writable /tmp.
//
// The archive holds blobs/sha256/... (an OCI image config, manifest and gzip layer), an OCI
// index.json and the manifest.json of `docker save`. The oci-layout marker is left out on purpose:
// without it containerd 1.6 reads manifest.json and expands its RepoTags (sim-operator:e2e) to the
// fully qualified name that kubelet looks up; with it, containerd would take index.json's short ref
// name as it is. Nothing depends on the time or the machine: the same inputs give the same bytes.
// Only the standard library is used.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Media types of the OCI image spec.
const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	refNameAnnotation = "org.opencontainers.image.ref.name"
	defaultPath       = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// epoch is the modification time of every entry and the image's creation time.
var epoch = time.Unix(0, 0).UTC()

// Image is what goes into the archive.
type Image struct {
	Name       string
	Files      []File
	User       string
	WorkingDir string
	Entrypoint []string
	Cmd        []string
	Env        []string
	// CABundle is copied to /etc/ssl/certs/ca-certificates.crt; empty leaves it out.
	CABundle string
}

// File is one regular file of the layer.
type File struct {
	Src, Dst string
	Mode     int64
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	var files, built, env listFlag
	name := fs.String("name", "", "image name, e.g. sim-operator:e2e (required)")
	out := fs.String("out", "", "archive to write (required)")
	dockerfile := fs.String("dockerfile", "",
		"take COPY --from, USER, WORKDIR, ENTRYPOINT, CMD and ENV from the final stage of this Dockerfile")
	fs.Var(&built, "built", "with --dockerfile: SRC=HOSTPATH, the host file for a COPY --from source (repeatable)")
	fs.Var(&files, "file", "HOSTPATH=DST[:MODE]: a file of the layer, mode octal (default 0755) (repeatable)")
	fs.Var(&env, "env", "KEY=VALUE for the image config (repeatable)")
	user := fs.String("user", "65532:65532", "numeric user:group the image runs as")
	workdir := fs.String("workdir", "/", "working directory")
	entrypoint := fs.String("entrypoint", "", "entrypoint, a path (no arguments)")
	ca := fs.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *out == "" {
		return errors.New("--name and --out are required")
	}
	img := Image{Name: *name, User: *user, WorkingDir: *workdir, CABundle: *ca, Env: env}
	if *entrypoint != "" {
		img.Entrypoint = []string{*entrypoint}
	}
	for _, f := range files {
		file, err := parseFile(f)
		if err != nil {
			return err
		}
		img.Files = append(img.Files, file)
	}
	if *dockerfile != "" {
		sources := map[string]string{}
		for _, b := range built {
			src, host, ok := strings.Cut(b, "=")
			if !ok {
				return fmt.Errorf("--built %q: want SRC=HOSTPATH", b)
			}
			sources[src] = host
		}
		b, err := os.ReadFile(*dockerfile)
		if err != nil {
			return err
		}
		if err := applyDockerfile(&img, string(b), sources); err != nil {
			return fmt.Errorf("%s: %w", *dockerfile, err)
		}
	}
	if len(img.Entrypoint) == 0 && len(img.Cmd) == 0 {
		return errors.New("the image has neither an entrypoint nor a command")
	}
	if _, _, err := numericUser(img.User); err != nil {
		return err
	}
	tmp := *out + ".tmp"
	summary, err := writeArchive(tmp, img)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	fmt.Println(summary)
	return os.Rename(tmp, *out)
}

func parseFile(v string) (File, error) {
	src, rest, ok := strings.Cut(v, "=")
	if !ok || src == "" || rest == "" {
		return File{}, fmt.Errorf("--file %q: want HOSTPATH=DST[:MODE]", v)
	}
	dst, mode, hasMode := strings.Cut(rest, ":")
	f := File{Src: src, Dst: dst, Mode: 0o755}
	if hasMode {
		m, err := strconv.ParseInt(mode, 8, 32)
		if err != nil {
			return File{}, fmt.Errorf("--file %q: mode %q is not octal", v, mode)
		}
		f.Mode = m
	}
	if !path.IsAbs(f.Dst) {
		return File{}, fmt.Errorf("--file %q: the destination must be absolute", v)
	}
	return f, nil
}

// applyDockerfile reads the final stage of a Dockerfile into img. Only the instructions a FROM
// scratch-like image needs are understood; any other in the final stage is an error, so the
// Dockerfile cannot gain a step this path would silently skip.
func applyDockerfile(img *Image, dockerfile string, sources map[string]string) error {
	var stage [][2]string // instruction, arguments
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	var cont strings.Builder
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cont.WriteString(rest + " ")
			continue
		}
		cont.WriteString(line)
		full := cont.String()
		cont.Reset()
		instr, arg, _ := strings.Cut(full, " ")
		instr = strings.ToUpper(instr)
		if instr == "FROM" {
			stage = nil
			continue
		}
		stage = append(stage, [2]string{instr, strings.TrimSpace(arg)})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, in := range stage {
		instr, arg := in[0], in[1]
		switch instr {
		case "ARG", "LABEL":
		case "WORKDIR":
			img.WorkingDir = arg
		case "USER":
			img.User = arg
		case "ENV":
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				return fmt.Errorf("ENV %q: only KEY=VALUE is understood", arg)
			}
			img.Env = append(img.Env, k+"="+strings.Trim(v, `"`))
		case "ENTRYPOINT", "CMD":
			var list []string
			if err := json.Unmarshal([]byte(arg), &list); err != nil {
				return fmt.Errorf("%s %s: only the JSON (exec) form is understood", instr, arg)
			}
			if instr == "ENTRYPOINT" {
				img.Entrypoint = list
			} else {
				img.Cmd = list
			}
		case "COPY":
			f := strings.Fields(arg)
			if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") {
				return fmt.Errorf("COPY %s: only COPY --from=STAGE SRC DST is understood", arg)
			}
			host, ok := sources[f[1]]
			if !ok {
				return fmt.Errorf("COPY %s: no --built %s=HOSTPATH given", arg, f[1])
			}
			img.Files = append(img.Files, File{Src: host, Dst: f[2], Mode: 0o755})
		default:
			return fmt.Errorf("the final stage has %s, which this image builder does not run", instr)
		}
	}
	if len(stage) == 0 {
		return errors.New("no FROM found")
	}
	return nil
}

func numericUser(u string) (uid, gid int, err error) {
	us, gs, ok := strings.Cut(u, ":")
	if !ok {
		gs = us
	}
	uid, err1 := strconv.Atoi(us)
	gid, err2 := strconv.Atoi(gs)
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("user %q: want a numeric uid[:gid] (kubelet checks runAsNonRoot on the number)", u)
	}
	return uid, gid, nil
}

// entry is one tar entry of the layer.
type entry struct {
	name     string
	mode     int64
	dir      bool
	uid, gid int
	data     []byte
}

func layerEntries(img Image) ([]entry, error) {
	uid, gid, err := numericUser(img.User)
	if err != nil {
		return nil, err
	}
	name := "nonroot"
	if uid == 0 {
		name = "root"
	}
	home := "/home/" + name
	if uid == 0 {
		home = "/root"
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n"
	group := "root:x:0:\n"
	if uid != 0 {
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:%s:/sbin/nologin\n", name, uid, gid, name, home)
		group += fmt.Sprintf("%s:x:%d:\n", name, gid)
	}
	files := map[string]entry{
		"etc/passwd": {name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		"etc/group":  {name: "etc/group", mode: 0o644, data: []byte(group)},
	}
	dirs := map[string]int64{"tmp": 0o1777, "etc": 0o755}
	if uid != 0 {
		dirs[strings.TrimPrefix(home, "/")] = 0o700
	}
	if img.CABundle != "" {
		b, err := os.ReadFile(img.CABundle)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		files["etc/ssl/certs/ca-certificates.crt"] = entry{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: b}
	}
	for _, f := range img.Files {
		b, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, err
		}
		n := strings.TrimPrefix(path.Clean(f.Dst), "/")
		files[n] = entry{name: n, mode: f.Mode, data: b}
	}
	// Every parent directory gets an entry, so no runtime has to invent its mode.
	for n := range files {
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	var out []entry
	for d, m := range dirs {
		out = append(out, entry{name: d + "/", mode: m, dir: true})
	}
	for _, f := range files {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	// The home directory belongs to the user; everything else to root.
	for i := range out {
		if uid != 0 && out[i].dir && "/"+strings.TrimSuffix(out[i].name, "/") == home {
			out[i].uid, out[i].gid = uid, gid
		}
	}
	return out, nil
}

// writeLayer returns the uncompressed and the gzip-compressed layer.
func writeLayer(entries []entry) (raw, gz []byte, err error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: epoch, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, nil, err
		}
		if !e.dir {
			if _, err := tw.Write(e.data); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	var gb bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gb, gzip.BestSpeed)
	if err != nil {
		return nil, nil, err
	}
	// The gzip header has no name and a zero time, so the compressed bytes are reproducible.
	if _, err := zw.Write(tb.Bytes()); err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	return tb.Bytes(), gb.Bytes(), nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }

// writeArchive writes the archive and returns a line naming the image, its manifest and its layer.
func writeArchive(out string, img Image) (string, error) {
	entries, err := layerEntries(img)
	if err != nil {
		return "", err
	}
	raw, gz, err := writeLayer(entries)
	if err != nil {
		return "", err
	}
	env := img.Env
	has := func(key string) bool {
		return slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
	}
	if !has("PATH") {
		env = append([]string{defaultPath}, env...)
	}
	if img.CABundle != "" && !has("SSL_CERT_FILE") {
		env = append(env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
	}
	config := map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": "amd64",
		"os":           "linux",
		"config": map[string]any{
			"User": img.User, "WorkingDir": img.WorkingDir, "Env": env,
			"Entrypoint": img.Entrypoint, "Cmd": img.Cmd,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(raw)}},
		"history": []map[string]any{{
			"created": epoch.Format(time.RFC3339), "created_by": "hack/ociimage",
		}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	configDesc := descriptor{MediaType: mediaTypeConfig, Digest: digest(configJSON), Size: int64(len(configJSON))}
	layerDesc := descriptor{MediaType: mediaTypeLayer, Digest: digest(gz), Size: int64(len(gz))}
	manifestJSON, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeManifest,
		"config": configDesc, "layers": []descriptor{layerDesc},
	})
	if err != nil {
		return "", err
	}
	manifestDesc := descriptor{
		MediaType: mediaTypeManifest, Digest: digest(manifestJSON), Size: int64(len(manifestJSON)),
		Annotations: map[string]string{refNameAnnotation: img.Name},
		Platform:    &platform{Architecture: "amd64", OS: "linux"},
	}
	indexJSON, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeIndex, "manifests": []descriptor{manifestDesc},
	})
	if err != nil {
		return "", err
	}
	dockerManifest, err := json.Marshal([]map[string]any{{
		"Config": blobPath(configDesc.Digest), "RepoTags": []string{img.Name},
		"Layers": []string{blobPath(layerDesc.Digest)},
	}})
	if err != nil {
		return "", err
	}

	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(f)
	add := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir,
		Format: tar.FormatPAX}); err != nil {
		return "", err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, ModTime: epoch,
		Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
		return "", err
	}
	for _, b := range []struct {
		d    string
		data []byte
	}{{configDesc.Digest, configJSON}, {layerDesc.Digest, gz}, {manifestDesc.Digest, manifestJSON}} {
		if err := add(blobPath(b.d), 0o644, b.data); err != nil {
			return "", err
		}
	}
	if err := add("index.json", 0o644, indexJSON); err != nil {
		return "", err
	}
	if err := add("manifest.json", 0o644, dockerManifest); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s (layer %s, %d bytes compressed)", img.Name, manifestDesc.Digest, layerDesc.Digest,
		len(gz)), nil
}
