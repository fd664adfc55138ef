package harness

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Replica is one extra manager process started by StartReplica (e.g. one of two leader-electing
// replicas), with its own log file and probe address.
type Replica struct {
	*Process
	ProbeAddr string
}

// StartReplica starts another manager process (in addition to, or instead of, e.Manager) with the
// harness flags plus args, writing to logPath; extraEnv is added to the environment. It waits for the health probe
// (/healthz: a replica waiting for the leader lease answers it), not for readiness of controllers.
func (e *Env) StartReplica(ctx context.Context, logPath string, extraEnv []string, args ...string) (*Replica, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	all := append(ManagerFlags(addr), e.ManagerArgs...)
	all = append(all, args...)
	env := append(os.Environ(), "KUBECONFIG="+e.Cluster.ManagerKubeconfig, "POD_NAMESPACE=")
	env = append(env, extraEnv...)
	p, err := StartProcess("manager replica", logPath, env, e.ManagerBin, all...)
	if err != nil {
		return nil, err
	}
	if err := waitHTTPOK(ctx, p, "http://"+addr+"/healthz", 60*time.Second); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("manager replica: %w\n%s", err, TailFile(logPath, 20))
	}
	return &Replica{Process: p, ProbeAddr: addr}, nil
}
