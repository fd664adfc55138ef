package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the manager (./cmd) and the fake IdentityNow API (./cmd/fake-identitynow) into dir
// as "manager" and "fake-identitynow", in one `go build` so that they link in parallel. It returns
// their paths.
func Build(ctx context.Context, dir string, race bool) (manager, fake string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", "", err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	args := []string{"build", "-o", tmp + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd", "./cmd/fake-identitynow")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = RepoRoot()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go %v: %w\n%s", args, err, out.String())
	}
	// `go build -o DIR/` names each binary after the last element of its package path.
	manager, fake = filepath.Join(dir, "manager"), filepath.Join(dir, "fake-identitynow")
	if err := os.Rename(filepath.Join(tmp, "cmd"), manager); err != nil {
		return "", "", err
	}
	if err := os.Rename(filepath.Join(tmp, "fake-identitynow"), fake); err != nil {
		return "", "", err
	}
	return manager, fake, nil
}
