package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Actions of a diff item: those of controller.Plan, and error when no plan could be made.
const (
	actionCreate   = string(controller.PlanCreate)
	actionRecreate = string(controller.PlanRecreate)
	actionPatch    = string(controller.PlanPatch)
	actionPut      = string(controller.PlanPut)
	actionNone     = string(controller.PlanNone)
	actionStall    = string(controller.PlanStall)
	actionError    = "error"
)

// diffReport is the output of kubectl sim diff (-o json prints it as it is).
type diffReport struct {
	Items   []diffItem  `json:"items"`
	Summary diffSummary `json:"summary"`
	// Differences is what the exit status says: something would be sent, an object would stall, or a
	// suspended tenant holds a change back.
	Differences bool `json:"differences"`
}

// diffSummary counts the items by what would happen.
type diffSummary struct {
	Create    int `json:"create"`
	Update    int `json:"update"`
	NoChanges int `json:"noChanges"`
	// Held are the changes a suspended tenant (a change freeze) holds back.
	Held    int `json:"held"`
	Stalled int `json:"stalled"`
	Errors  int `json:"errors"`
}

// diffItem is the plan of one SimIntegration.
type diffItem struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	RemoteName string `json:"remoteName,omitempty"`
	// Tenant is the tenant referred to, as Kind/name.
	Tenant string `json:"tenant,omitempty"`
	// Action is create, recreate, patch, put, none, stall or error.
	Action string `json:"action"`
	// ID is the remote integration's id, when there is one.
	ID string `json:"id,omitempty"`
	// Paths are the top-level paths that differ.
	Paths []string `json:"paths,omitempty"`
	// Requests are the requests the operator would send, in order, with secret values replaced by
	// "(from Secret NAME key KEY)".
	Requests []planRequest `json:"requests,omitempty"`
	// Reason and Message explain a stall, or why nothing would be sent.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Error says why no plan could be made.
	Error string `json:"error,omitempty"`

	tenantSpec simv1alpha1.TenantSpec
}

// planRequest is one request the operator would send.
type planRequest struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
}

func (it *diffItem) fail(err error) {
	it.Action, it.Error = actionError, err.Error()
}

func (it *diffItem) stall(reason, message string) {
	it.Action, it.Reason, it.Message = actionStall, reason, message
}

// setPlan records a plan with the requests it stands for.
func (it *diffItem) setPlan(p controller.Plan) {
	it.Action, it.ID, it.Paths, it.Reason, it.Message = string(p.Action), p.ID, p.Paths, p.Reason, p.Message
	base := simBasePath(it.tenantSpec)
	add := func(method, path string, body any) {
		raw, err := json.Marshal(body)
		if err != nil {
			it.fail(fmt.Errorf("encode the %s body: %w", method, err))
			return
		}
		it.Requests = append(it.Requests, planRequest{Method: method, Path: path, Body: raw})
	}
	switch p.Action {
	case controller.PlanCreate, controller.PlanRecreate:
		add("POST", base, p.Create)
	case controller.PlanPut:
		add("PUT", base+"/"+p.ID, p.Put)
	case controller.PlanPatch:
		if len(p.Operations) > 0 {
			add("PATCH", base+"/"+p.ID, patchBody(p.Operations, it.tenantSpec.PatchFormat))
		}
		if len(p.RuleOperations) > 0 {
			add("PATCH", base+"/"+p.ID+"/beforeProvisioningRule", patchBody(p.RuleOperations, it.tenantSpec.PatchFormat))
		}
	}
}

// simBasePath is the path of the tenant's SIM routes, as the client builds it.
func simBasePath(spec simv1alpha1.TenantSpec) string {
	prefix := ""
	if u, err := url.Parse(spec.BaseURL); err == nil {
		prefix = strings.TrimRight(u.Path, "/")
	}
	switch r := identitynow.Release(spec.APIRelease); r {
	case identitynow.ReleaseV1:
		return prefix + "/sim-integrations/v1"
	case "":
		return prefix + "/" + string(identitynow.ReleaseV2024) + "/sim-integrations"
	default:
		return prefix + "/" + string(r) + "/sim-integrations"
	}
}

// patchBody is a PATCH request's body in the tenant's patch format.
func patchBody(ops []identitynow.Operation, format simv1alpha1.PatchFormat) any {
	if format == simv1alpha1.PatchFormatArray {
		return ops
	}
	return map[string]any{"operations": ops}
}

// differs says whether the item counts as a difference (exit status 1).
func (it diffItem) differs() bool {
	switch it.Action {
	case actionCreate, actionRecreate, actionPatch, actionPut, actionStall:
		return true
	case actionNone:
		return it.held() || it.Reason == simv1alpha1.ReasonRemoteNotFound
	}
	return false
}

// held says whether a suspended tenant holds a change of the item back.
func (it diffItem) held() bool {
	return it.Action == actionNone && it.Reason == simv1alpha1.ReasonTenantSuspended && (len(it.Paths) > 0 || it.ID == "")
}

func (r *diffReport) add(it diffItem) {
	r.Items = append(r.Items, it)
	s := &r.Summary
	switch {
	case it.Action == actionCreate || it.Action == actionRecreate:
		s.Create++
	case it.Action == actionPatch || it.Action == actionPut:
		s.Update++
	case it.Action == actionStall:
		s.Stalled++
	case it.Action == actionError:
		s.Errors++
	case it.held():
		s.Held++
	default:
		s.NoChanges++
	}
	r.Differences = r.Differences || it.differs()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// renderPlan writes the report for people, as kubectl diff and terraform plan do.
func renderPlan(w io.Writer, rep *diffReport, pal palette) error {
	var b bytes.Buffer
	for i, it := range rep.Items {
		if i > 0 {
			b.WriteString("\n")
		}
		renderItem(&b, it, pal)
	}
	s := rep.Summary
	parts := []string{fmt.Sprintf("%d to create", s.Create), fmt.Sprintf("%d to update", s.Update),
		fmt.Sprintf("%d without changes", s.NoChanges)}
	if s.Held > 0 {
		parts = append(parts, fmt.Sprintf("%d held by a suspended tenant", s.Held))
	}
	if s.Stalled > 0 {
		parts = append(parts, fmt.Sprintf("%d stalled", s.Stalled))
	}
	if s.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", s.Errors))
	}
	fmt.Fprintf(&b, "\n%s %s.\n", pal.bold("Plan:"), strings.Join(parts, ", "))
	_, err := w.Write(b.Bytes())
	return err
}

func renderItem(b *bytes.Buffer, it diffItem, pal palette) {
	obj := pal.bold(it.Kind + " " + it.Namespace + "/" + it.Name)
	remote := ""
	if it.ID != "" {
		remote = pal.dim(" (remote " + it.ID + ")")
	}
	in := ""
	if it.Tenant != "" {
		in = pal.dim(" in " + it.Tenant)
	}
	switch it.Action {
	case actionCreate:
		fmt.Fprintf(b, "%s %s will be created as %q%s\n", pal.green("+"), obj, it.RemoteName, in)
	case actionRecreate:
		fmt.Fprintf(b, "%s %s will be recreated as %q%s: remote %s was deleted outside Kubernetes\n",
			pal.green("+"), obj, it.RemoteName, in, it.ID)
	case actionPatch:
		fmt.Fprintf(b, "%s %s will be updated%s at %s\n", pal.yellow("~"), obj, remote, strings.Join(it.Paths, ", "))
	case actionPut:
		fmt.Fprintf(b, "%s %s will be replaced with a PUT%s, for %s\n", pal.yellow("~"), obj, remote, strings.Join(it.Paths, ", "))
	case actionStall:
		fmt.Fprintf(b, "%s %s would stall: %s\n", pal.red("!"), obj, pal.red(it.Reason))
		writeIndented(b, "    ", it.Message)
	case actionError:
		fmt.Fprintf(b, "%s %s: %s\n", pal.red("x"), obj, pal.red("cannot plan"))
		writeIndented(b, "    ", it.Error)
	case actionNone:
		renderNone(b, it, obj, remote, pal)
	}
	for _, r := range it.Requests {
		fmt.Fprintf(b, "    %s %s\n", pal.bold(r.Method), r.Path)
		if r.Method == "PATCH" {
			renderOperations(b, r.Body, pal)
			continue
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, r.Body, "    ", "  ") == nil {
			b.WriteString("    ")
			b.Write(pretty.Bytes())
			b.WriteString("\n")
		}
	}
}

func renderNone(b *bytes.Buffer, it diffItem, obj, remote string, pal palette) {
	switch {
	case it.Reason == "":
		fmt.Fprintf(b, "%s %s: no changes%s\n", pal.dim("="), obj, remote)
	case it.held():
		what := "once it is resumed, " + strings.Join(it.Paths, ", ") + " will be updated"
		if it.ID == "" {
			what = "once it is resumed, the remote integration will be created"
		}
		fmt.Fprintf(b, "%s %s: nothing is sent now: %s%s\n", pal.cyan("#"), obj, pal.cyan(it.Reason), remote)
		fmt.Fprintf(b, "    the tenant is suspended (a change freeze); %s\n", what)
	case len(it.Paths) > 0:
		fmt.Fprintf(b, "%s %s: nothing is sent (%s)%s; the remote differs at %s\n", pal.cyan("#"), obj, it.Reason, remote,
			strings.Join(it.Paths, ", "))
	default:
		fmt.Fprintf(b, "%s %s: nothing is sent (%s)%s\n", pal.cyan("#"), obj, it.Reason, remote)
		writeIndented(b, "    ", it.Message)
	}
}

// renderOperations lists JSON Patch operations one per line: op, path and value.
func renderOperations(b *bytes.Buffer, body json.RawMessage, pal palette) {
	var ops []identitynow.Operation
	var wrapped struct {
		Operations []identitynow.Operation `json:"operations"`
	}
	if json.Unmarshal(body, &wrapped) == nil && wrapped.Operations != nil {
		ops = wrapped.Operations
	} else if json.Unmarshal(body, &ops) != nil {
		return
	}
	for _, op := range ops {
		line := fmt.Sprintf("%-7s %s", op.Operation, op.Path)
		if op.Operation != "remove" {
			v, _ := json.Marshal(op.Value)
			line += " = " + string(v)
		}
		color := pal.yellow
		switch op.Operation {
		case "add":
			color = pal.green
		case "remove":
			color = pal.red
		}
		fmt.Fprintf(b, "      %s\n", color(line))
	}
}

func writeIndented(b *bytes.Buffer, prefix, text string) {
	for line := range strings.Lines(text) {
		b.WriteString(prefix + strings.TrimRight(line, "\n") + "\n")
	}
}
