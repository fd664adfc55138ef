// Package gitops checks how GitOps tools read sim-operator's resources: the Argo CD health check in
// config/argocd/health.lua, run with gopher-lua the way Argo CD runs it, and kstatus
// (sigs.k8s.io/cli-utils), which Flux, `kubectl wait`-style tooling and cli-utils appliers use.
//
// The functions here take objects as unstructured maps, so the e2e suite can run the same checks on
// live objects read from a cluster, and the unit tests on objects made by Builder.
package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/sim-operator/sim-operator/test/harness"
)

// Argo CD health status codes that the script may return.
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
	Missing     = "Missing"
	Unknown     = "Unknown"
)

// HealthScriptPath is the path of the Argo CD health script.
func HealthScriptPath() string {
	return filepath.Join(harness.RepoRoot(), "config", "argocd", "health.lua")
}

// ArgoCMPatchPath is the path of the argocd-cm patch that installs the health script.
func ArgoCMPatchPath() string {
	return filepath.Join(harness.RepoRoot(), "config", "argocd", "argocd-cm-patch.yaml")
}

// HealthKinds are the kinds the health script is installed for, in argocd-cm key order.
var HealthKinds = []string{KindSimIntegration, KindTenant, KindClusterTenant}

// ArgoCMKey is the argocd-cm key under which Argo CD looks for the health check of a kind of ours.
func ArgoCMKey(kind string) string {
	return "resource.customizations.health.sim.identitynow.io_" + kind
}

// ArgoHealth runs config/argocd/health.lua on obj and returns the Argo CD health status and message.
func ArgoHealth(obj map[string]any) (healthStatus, message string, err error) {
	script, err := os.ReadFile(HealthScriptPath())
	if err != nil {
		return "", "", err
	}
	return RunHealthScript(string(script), obj)
}

// RunHealthScript runs an Argo CD health script on obj as Argo CD does for a script configured in
// argocd-cm: only the package, base and table libraries are open (Argo CD also opens a reduced os
// library, which our script does not use), obj is a global table, the script returns a table with
// status and message, and it must finish within a second.
func RunHealthScript(script string, obj map[string]any) (healthStatus, message string, err error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		open := lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}
		if err := L.CallByParam(open, lua.LString(lib.name)); err != nil {
			return "", "", fmt.Errorf("open Lua library %q: %w", lib.name, err)
		}
	}
	value, err := ToLua(L, obj)
	if err != nil {
		return "", "", err
	}
	L.SetGlobal("obj", value)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	if err := L.DoString(script); err != nil {
		return "", "", fmt.Errorf("run health script: %w", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("health script returned %s, not a table", L.Get(-1).Type())
	}
	st, ok := ret.RawGetString("status").(lua.LString)
	if !ok {
		return "", "", fmt.Errorf("health script returned no status string")
	}
	switch s := string(st); s {
	case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
	default:
		return "", "", fmt.Errorf("health script returned status %q, which Argo CD does not know", s)
	}
	msg := ret.RawGetString("message")
	if msg != lua.LNil {
		m, ok := msg.(lua.LString)
		if !ok {
			return "", "", fmt.Errorf("health script returned a message of type %s", msg.Type())
		}
		message = string(m)
	}
	return string(st), message, nil
}

// ToLua converts a JSON-like Go value, as found in unstructured.Unstructured.Object, into a Lua value
// the way Argo CD does: maps become tables keyed by string, slices become 1-based array tables, numbers
// become Lua numbers, json.Number becomes a string. Unlike Argo CD, which silently turns an
// unsupported type into nil, it returns an error, so a test cannot pass on a half-converted object.
func ToLua(L *lua.LState, value any) (lua.LValue, error) {
	switch v := value.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(v), nil
	case string:
		return lua.LString(v), nil
	case json.Number:
		return lua.LString(v), nil
	case float64:
		return lua.LNumber(v), nil
	case float32:
		return lua.LNumber(v), nil
	case int:
		return lua.LNumber(v), nil
	case int32:
		return lua.LNumber(v), nil
	case int64:
		return lua.LNumber(v), nil
	case []any:
		arr := L.CreateTable(len(v), 0)
		for i, item := range v {
			lv, err := ToLua(L, item)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			arr.Append(lv)
		}
		return arr, nil
	case map[string]any:
		tbl := L.CreateTable(0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			lv, err := ToLua(L, v[k])
			if err != nil {
				return nil, fmt.Errorf(".%s%w", k, err)
			}
			tbl.RawSetH(lua.LString(k), lv)
		}
		return tbl, nil
	default:
		return nil, fmt.Errorf(": unsupported type %T", value)
	}
}

// KStatus computes the kstatus status of obj, as Flux and cli-utils appliers see it.
func KStatus(obj map[string]any) (status.Status, string, error) {
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		return "", "", err
	}
	return res.Status, res.Message, nil
}
