package conformance

// The api_v2024 adapter: every SIM operation through the SDK's request builders, with the SDK's
// own models in and out. The adapters of the later releases are this file with its year replaced
// (TestAdaptersInSync checks them; go test -run TestAdaptersInSync -update rewrites them).

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sailpoint-oss/golang-sdk/v2/api_v2024"
)

var releaseV2024 = release{name: "v2024", connect: connectV2024}

// sdkV2024 is the SDK's SIM service of api_v2024.
type sdkV2024 struct {
	api *api_v2024.SIMIntegrationsAPIService
	// header, when set, is passed to XSailPointExperimental; otherwise the SDK's default applies.
	header *string
}

func connectV2024(c connection) simAPI {
	cfg := api_v2024.NewConfiguration(c.clientID, c.secret, c.baseURL+"/v2024", c.baseURL+"/oauth/token",
		c.token, "", c.experimental)
	cfg.HTTPClient = c.http
	return &sdkV2024{api: api_v2024.NewAPIClient(cfg).SIMIntegrationsAPI, header: c.header}
}

func (a *sdkV2024) List(ctx context.Context) ([]observed, *http.Response, error) {
	r := a.api.GetSIMIntegrations(ctx)
	if a.header != nil {
		r = r.XSailPointExperimental(*a.header)
	}
	dtos, res, err := r.Execute()
	out := make([]observed, len(dtos))
	for i := range dtos {
		out[i] = observedV2024(&dtos[i])
	}
	return out, res, err
}

func (a *sdkV2024) Create(ctx context.Context, in integration) (observed, *http.Response, error) {
	r := a.api.CreateSIMIntegration(ctx).SimIntegrationDetails(detailsV2024(in))
	if a.header != nil {
		r = r.XSailPointExperimental(*a.header)
	}
	return observedV2024Result(r.Execute())
}

func (a *sdkV2024) Get(ctx context.Context, id string) (observed, *http.Response, error) {
	r := a.api.GetSIMIntegration(ctx, id)
	if a.header != nil {
		r = r.XSailPointExperimental(*a.header)
	}
	return observedV2024Result(r.Execute())
}

func (a *sdkV2024) Put(ctx context.Context, id string, in integration) (observed, *http.Response, error) {
	r := a.api.PutSIMIntegration(ctx, id).SimIntegrationDetails(detailsV2024(in))
	if a.header != nil {
		r = r.XSailPointExperimental(*a.header)
	}
	return observedV2024Result(r.Execute())
}

func (a *sdkV2024) Patch(ctx context.Context, id string, ops []patchOp) (observed, *http.Response, error) {
	r := a.api.PatchSIMAttributes(ctx, id).JsonPatch(patchV2024(ops))
	if a.header != nil {
		r = r.XSailPointExperimental(*a.header)
	}
	return observedV2024Result(r.Execute())
}

func (a *sdkV2024) PatchRule(ctx context.Context, id string, ops []patchOp) (observed, *http.Response, error) {
	r := a.api.PatchBeforeProvisioningRule(ctx, id).JsonPatch(patchV2024(ops))
	if a.header != nil {
		r = r.XSailPointExperimental(*a.header)
	}
	return observedV2024Result(r.Execute())
}

func (a *sdkV2024) Delete(ctx context.Context, id string) (*http.Response, error) {
	r := a.api.DeleteSIMIntegration(ctx, id)
	if a.header != nil {
		r = r.XSailPointExperimental(*a.header)
	}
	return r.Execute()
}

// ErrorDTO reads the ErrorResponseDto the SDK decoded into its error, if it decoded one.
func (a *sdkV2024) ErrorDTO(err error) (errorDTO, bool) {
	var oe *api_v2024.GenericOpenAPIError
	if !errors.As(err, &oe) {
		return errorDTO{}, false
	}
	m, ok := oe.Model().(api_v2024.ErrorResponseDto)
	if !ok {
		return errorDTO{}, false
	}
	out := errorDTO{DetailCode: m.GetDetailCode(), TrackingID: m.GetTrackingId(), Extra: m.AdditionalProperties}
	for _, msg := range m.GetMessages() {
		out.Messages = append(out.Messages, message{Locale: msg.GetLocale(),
			LocaleOrigin: string(msg.GetLocaleOrigin()), Text: msg.GetText()})
	}
	return out, true
}

func detailsV2024(in integration) api_v2024.SimIntegrationDetails {
	d := api_v2024.NewSimIntegrationDetails(*api_v2024.NewNullableString(&in.Name))
	if in.Description != "" {
		d.SetDescription(in.Description)
	}
	if in.Type != "" {
		d.SetType(in.Type)
	}
	if in.Attributes != nil {
		d.SetAttributes(in.Attributes)
	}
	if in.Sources != nil {
		d.SetSources(in.Sources)
	}
	if in.Cluster != "" {
		d.SetCluster(in.Cluster)
	}
	if in.StatusMap != nil {
		d.SetStatusMap(in.StatusMap)
	}
	if in.Request != nil {
		d.SetRequest(in.Request)
	}
	if in.Rule != nil {
		rule := api_v2024.NewSimIntegrationDetailsAllOfBeforeProvisioningRule()
		rule.SetType(api_v2024.DtoType(in.Rule.Type))
		rule.SetId(in.Rule.ID)
		rule.SetName(in.Rule.Name)
		d.SetBeforeProvisioningRule(*rule)
	}
	return *d
}

func patchV2024(ops []patchOp) api_v2024.JsonPatch {
	p := api_v2024.NewJsonPatch()
	for _, o := range ops {
		op := api_v2024.NewJsonPatchOperation(o.Op, o.Path)
		var v api_v2024.UpdateMultiHostSourcesRequestInnerValue
		switch x := o.Value.(type) {
		case nil:
		case string:
			v = api_v2024.StringAsUpdateMultiHostSourcesRequestInnerValue(&x)
		case bool:
			v = api_v2024.BoolAsUpdateMultiHostSourcesRequestInnerValue(&x)
		case int32:
			v = api_v2024.Int32AsUpdateMultiHostSourcesRequestInnerValue(&x)
		case map[string]any:
			v = api_v2024.MapmapOfStringAnyAsUpdateMultiHostSourcesRequestInnerValue(&x)
		default:
			panic(fmt.Sprintf("no JSON Patch value variant for %T", o.Value))
		}
		if o.Value != nil {
			op.SetValue(v)
		}
		p.Operations = append(p.Operations, *op)
	}
	return *p
}

func observedV2024Result(d *api_v2024.ServiceDeskIntegrationDto, res *http.Response, err error) (observed, *http.Response, error) {
	if d == nil {
		return observed{}, res, err
	}
	return observedV2024(d), res, err
}

func observedV2024(d *api_v2024.ServiceDeskIntegrationDto) observed {
	o := observed{ID: d.GetId(), Name: d.GetName(), Description: d.GetDescription(), Type: d.GetType(),
		Attributes: d.GetAttributes(), ManagedSources: d.GetManagedSources(), Extra: d.AdditionalProperties}
	if c, ok := d.GetCreatedOk(); ok {
		o.Created = c.Time
	}
	if m, ok := d.GetModifiedOk(); ok {
		o.Modified = m.Time
	}
	o.ClusterSet = d.HasCluster()
	if c, ok := d.GetClusterOk(); ok && c != nil {
		o.Cluster = *c
	}
	if r, ok := d.GetClusterRefOk(); ok {
		o.ClusterRef = &ref{Type: r.GetType(), ID: r.GetId(), Name: r.GetName()}
	}
	if pc, ok := d.GetProvisioningConfigOk(); ok {
		for _, s := range pc.GetManagedResourceRefs() {
			o.ResourceRefs = append(o.ResourceRefs, ref{Type: s.GetType(), ID: s.GetId(), Name: s.GetName()})
		}
	}
	if r, ok := d.GetBeforeProvisioningRuleOk(); ok {
		o.Rule = &ref{Type: r.GetType(), ID: r.GetId(), Name: r.GetName()}
	}
	return o
}
