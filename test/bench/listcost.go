package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

const costClient = "cost"

// listCostPoint is what one list of a tenant with N integrations costs the manager.
type listCostPoint struct {
	N int `json:"n"`
	// Bytes of the response body (the fake's documented DTO shape).
	Bytes int `json:"bytes"`
	// Millis is the median time of a snapshot refresh: the request, the streamed decode and the
	// compact copy kept per object, against a loopback server that writes prebuilt bytes.
	Millis float64 `json:"millis"`
	// AllocMiB is what one refresh allocates; RetainedKiB what the snapshot keeps per object.
	AllocMiB    float64 `json:"allocMiB"`
	RetainedKiB float64 `json:"retainedKiBPerObject"`
}

// listCost measures one list against N, in the bench process: the manager's own code (identitynow
// client and tenant snapshot), served prebuilt bytes so that the fake's rendering is not counted.
func (b *bench) listCost(sizes []int, repeats int) error {
	fmt.Printf("phase list cost: N = %v, %d refreshes each\n", sizes, repeats)
	for _, n := range sizes {
		body, err := renderedList(n)
		if err != nil {
			return err
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/token" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token":"t","token_type":"bearer","expires_in":749}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}))
		c, err := identitynow.New(identitynow.Config{
			BaseURL: srv.URL, ClientID: costClient, ClientSecret: clientSecret, AllowInsecureHTTP: true,
			Budget: identitynow.NewBudgets(nil).Get(identitynow.BudgetKey{ClientID: costClient}, 0, 0),
		})
		if err != nil {
			srv.Close()
			return err
		}
		snap := tenant.NewSnapshot(tenant.SnapshotOptions{List: c.ListEach, Interval: time.Hour})
		var ms runtime.MemStats
		var took []float64
		var alloc uint64
		for r := range repeats + 1 {
			runtime.ReadMemStats(&ms)
			a0 := ms.TotalAlloc
			t0 := time.Now()
			v, err := snap.Get(context.Background(), time.Now())
			if err != nil {
				srv.Close()
				return fmt.Errorf("list cost, N=%d: %w", n, err)
			}
			d := time.Since(t0)
			runtime.ReadMemStats(&ms)
			if v.Len() != n {
				srv.Close()
				return fmt.Errorf("list cost: listed %d of %d", v.Len(), n)
			}
			if r > 0 { // the first refresh fills an empty snapshot; the others find nothing changed
				took = append(took, d.Seconds()*1000)
				alloc += ms.TotalAlloc - a0
			}
		}
		// What the snapshot keeps: the heap with it, less the heap once it is dropped.
		runtime.GC()
		runtime.ReadMemStats(&ms)
		with := ms.HeapAlloc
		runtime.KeepAlive(snap)
		snap = nil
		runtime.GC()
		runtime.ReadMemStats(&ms)
		retained := float64(int64(with)-int64(ms.HeapAlloc)) / 1024 / float64(n)
		c.Close()
		srv.Close()
		slices.Sort(took)
		p := listCostPoint{N: n, Bytes: len(body), Millis: took[len(took)/2], AllocMiB: float64(alloc) / float64(repeats) / (1 << 20), RetainedKiB: retained}
		kept := "too small to measure from the heap"
		if n >= 1000 {
			kept = fmt.Sprintf("%.2f KiB per object", p.RetainedKiB)
		} else {
			p.RetainedKiB = 0
		}
		b.series.ListCost = append(b.series.ListCost, p)
		b.add(result{Measure: "list cost: one refresh of a tenant's snapshot (median)", N: n, Value: p.Millis, Unit: "ms", Goal: info, Met: true,
			Detail: fmt.Sprintf("%d response bytes (%.0f per object), %.2f MiB allocated per refresh, snapshot keeps %s; median of %d refreshes after the first, in the bench process",
				p.Bytes, float64(p.Bytes)/float64(n), p.AllocMiB, kept, repeats)})
	}
	return nil
}

// renderedList is the body of a list of n integrations as the fake serves it (DTO shape), with the
// bench's object.
func renderedList(n int) ([]byte, error) {
	fs := fake.NewServer(fake.Options{Clients: map[string]string{costClient: clientSecret}})
	base := fs.Start()
	defer fs.Close()
	for i := range n {
		fs.Insert(map[string]any{
			"name": fmt.Sprintf("tenant-sim-%05d", i), "description": fmt.Sprintf("Tickets for sim-%05d", i),
			"type": "ServiceNow Service Desk", "cluster": "xyzzy999", "sources": []any{"2c9180835d191a86015d28455b4a2329"},
			"statusMap":  map[string]any{"closed_complete": "Committed", "closed_cancelled": "Failed", "requested": "Queued"},
			"attributes": map[string]any{"uid": "svc-sailpoint", "url": "https://acme.service-now.com"},
		})
	}
	resp, err := http.PostForm(base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {costClient}, "client_secret": {clientSecret}})
	if err != nil {
		return nil, err
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	tok := between(string(raw), `"access_token":"`, `"`)
	req, err := http.NewRequest(http.MethodGet, base+"/v2024/sim-integrations", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-SailPoint-Experimental", "true")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list from the fake: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

// budgetShare is the share of the documented budget (100 requests per 10 s) that one list per poll
// interval uses, and the share of a core its refresh takes, for each candidate interval.
func (b *bench) budgetShare() {
	for _, p := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute} {
		perInterval := 100 * p.Seconds() / 10
		var cpu []string
		for _, lc := range b.series.ListCost {
			cpu = append(cpu, fmt.Sprintf("N=%d %.3f %%", lc.N, 100*lc.Millis/1000/p.Seconds()))
		}
		b.add(result{Measure: "poll interval: share of the documented budget (1 list per interval)", N: 0, Value: 100 / perInterval, Unit: "%",
			Goal: "≤ 1 %", Met: 100/perInterval <= 1,
			Detail: fmt.Sprintf("poll %s: 1 request of %.0f per interval (the SIM list is not paged, whatever N); a core's time per tenant: %s", p, perInterval, strings.Join(cpu, ", "))})
	}
}
