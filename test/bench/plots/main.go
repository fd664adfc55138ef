// Command plots draws the charts of docs/benchmarks.md from the results file that `make bench`
// (test/bench) writes: the manager's RSS over time, the SIM calls per limit period during the bulk
// create against the limit, the calls per tenant per poll interval against N, the list cost against
// N and the spread of the first lists after a fleet restart. It is a module of its own so that the
// plotting library stays out of the operator's go.mod; the bench runs it with `go run`.
//
//	go run . -in ../../../bench-results.json -out ../../../docs/images/bench
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

type rssPoint struct {
	T          float64 `json:"t"`
	RSS        float64 `json:"rssMiB"`
	Reconciles float64 `json:"reconciles"`
}

type callsPoint struct {
	N       int     `json:"n"`
	Tenants int     `json:"tenants"`
	Mean    float64 `json:"mean"`
	Max     float64 `json:"max"`
}

type listCostPoint struct {
	N           int     `json:"n"`
	Bytes       int     `json:"bytes"`
	Millis      float64 `json:"millis"`
	AllocMiB    float64 `json:"allocMiB"`
	RetainedKiB float64 `json:"retainedKiBPerObject"`
}

type results struct {
	Settings struct {
		Poll         time.Duration `json:"pollInterval"`
		FleetTenants int           `json:"fleetTenants"`
		FleetSims    int           `json:"fleetSims"`
	} `json:"settings"`
	Series struct {
		ColdPassRSS      []rssPoint      `json:"coldPassRSS"`
		FleetRestartRSS  []rssPoint      `json:"fleetRestartRSS"`
		BulkCreate       []int           `json:"bulkCreate"`
		Limit            int             `json:"limit"`
		PeriodSeconds    float64         `json:"periodSeconds"`
		CallsPerInterval []callsPoint    `json:"callsPerInterval"`
		FirstLists       []int           `json:"fleetFirstListsPerSecond"`
		ListCost         []listCostPoint `json:"listCost"`
	} `json:"series"`
}

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	red    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
)

func main() {
	in := flag.String("in", "bench-results.json", "the bench's results file (or several, comma-separated, merged)")
	out := flag.String("out", ".", "directory for the PNG files")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "plots:", err)
		os.Exit(1)
	}
}

// read merges results files (a run of some phases each): a later file's series replace an earlier
// one's, and the calls per interval add up.
func read(files []string) (results, error) {
	var r results
	for _, in := range files {
		raw, err := os.ReadFile(in)
		if err != nil {
			return r, err
		}
		var one results
		if err := json.Unmarshal(raw, &one); err != nil {
			return r, fmt.Errorf("%s: %w", in, err)
		}
		calls := append(r.Series.CallsPerInterval, one.Series.CallsPerInterval...)
		prev := r
		r.Settings, r.Series = one.Settings, one.Series
		r.Series.CallsPerInterval = calls
		for _, keep := range []struct {
			dst *[]rssPoint
			src []rssPoint
		}{{&r.Series.ColdPassRSS, prev.Series.ColdPassRSS}, {&r.Series.FleetRestartRSS, prev.Series.FleetRestartRSS}} {
			if len(*keep.dst) == 0 {
				*keep.dst = keep.src
			}
		}
		if len(r.Series.BulkCreate) == 0 {
			r.Series.BulkCreate, r.Series.Limit, r.Series.PeriodSeconds = prev.Series.BulkCreate, prev.Series.Limit, prev.Series.PeriodSeconds
		}
		if len(r.Series.ListCost) == 0 {
			r.Series.ListCost = prev.Series.ListCost
		}
		if len(r.Series.FirstLists) == 0 {
			r.Series.FirstLists = prev.Series.FirstLists
			r.Settings.FleetTenants, r.Settings.FleetSims = prev.Settings.FleetTenants, prev.Settings.FleetSims
		}
	}
	return r, nil
}

func run(in, out string) error {
	r, err := read(strings.Split(in, ","))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	s := r.Series
	charts := []struct {
		name string
		draw func() (*plot.Plot, error)
		ok   bool
	}{
		{"rss-cold-pass.png", func() (*plot.Plot, error) {
			return rssChart("Manager RSS, cold pass over every object (every 200 ms once /metrics answers)", s.ColdPassRSS)
		}, len(s.ColdPassRSS) > 0},
		{"rss-fleet-restart.png", func() (*plot.Plot, error) {
			return rssChart(fmt.Sprintf("Manager RSS after a restart, %d tenants × %d (every 200 ms once /metrics answers)", r.Settings.FleetTenants, r.Settings.FleetSims), s.FleetRestartRSS)
		}, len(s.FleetRestartRSS) > 0},
		{"bulk-create-requests.png", func() (*plot.Plot, error) { return bulkChart(s.BulkCreate, s.Limit, s.PeriodSeconds) }, len(s.BulkCreate) > 0},
		{"calls-per-interval.png", func() (*plot.Plot, error) { return callsChart(s.CallsPerInterval) }, len(s.CallsPerInterval) > 0},
		{"list-cost.png", func() (*plot.Plot, error) { return listCostChart(s.ListCost) }, len(s.ListCost) > 0},
		{"fleet-first-lists.png", func() (*plot.Plot, error) {
			return firstListsChart(s.FirstLists, r.Settings.FleetTenants, r.Settings.Poll)
		}, len(s.FirstLists) > 0},
	}
	for _, c := range charts {
		if !c.ok {
			continue
		}
		p, err := c.draw()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if err := p.Save(20*vg.Centimeter, 11*vg.Centimeter, filepath.Join(out, c.name)); err != nil {
			return err
		}
		fmt.Println(filepath.Join(out, c.name))
	}
	return nil
}

func rssChart(title string, pts []rssPoint) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since the process started"
	p.Y.Label.Text = "MiB"
	rss := make(plotter.XYs, len(pts))
	for i, pt := range pts {
		rss[i] = plotter.XY{X: pt.T, Y: pt.RSS}
	}
	l, err := plotter.NewLine(rss)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width = blue, vg.Points(1.5)
	goal, err := hline(0, pts[len(pts)-1].T, 150)
	if err != nil {
		return nil, err
	}
	p.Add(l, goal, plotter.NewGrid())
	p.Legend.Add("VmRSS", l)
	p.Legend.Add("goal 150 MiB", goal)
	p.Legend.Top = false
	p.Y.Min = 0
	p.Y.Max = max(p.Y.Max, 160)
	return p, nil
}

func bulkChart(buckets []int, limit int, period float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Bulk create: accepted SIM calls per %.0f s window", period)
	p.X.Label.Text = "seconds since the first create"
	p.Y.Label.Text = "requests per window"
	xy := make(plotter.XYs, len(buckets))
	for i, v := range buckets {
		xy[i] = plotter.XY{X: float64(i) * period, Y: float64(v)}
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width = blue, vg.Points(1.5)
	sc, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	sc.Color = blue
	lim, err := hline(0, float64(len(buckets))*period, float64(limit))
	if err != nil {
		return nil, err
	}
	p.Add(l, sc, lim, plotter.NewGrid())
	p.Legend.Add("accepted calls", l)
	p.Legend.Add(fmt.Sprintf("limit L = %d", limit), lim)
	p.Legend.Top, p.Legend.Left = false, true
	p.Y.Min, p.Y.Max = 0, float64(limit)*1.15
	return p, nil
}

func callsChart(pts []callsPoint) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Steady state: SIM calls per tenant per poll interval"
	p.X.Label.Text = "SimIntegrations per tenant (N, log scale)"
	p.Y.Label.Text = "calls per interval"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	mean := make(plotter.XYs, 0, len(pts))
	most := make(plotter.XYs, 0, len(pts))
	for _, pt := range pts {
		mean = append(mean, plotter.XY{X: float64(pt.N), Y: pt.Mean})
		most = append(most, plotter.XY{X: float64(pt.N), Y: pt.Max})
	}
	ms, err := plotter.NewScatter(mean)
	if err != nil {
		return nil, err
	}
	ms.Color, ms.Radius, ms.Shape = blue, vg.Points(4), draw.CircleGlyph{}
	mx, err := plotter.NewScatter(most)
	if err != nil {
		return nil, err
	}
	mx.Color, mx.Radius, mx.Shape = orange, vg.Points(3), draw.CircleGlyph{}
	lo, hi := float64(pts[0].N), float64(pts[0].N)
	for _, pt := range pts {
		lo, hi = min(lo, float64(pt.N)), max(hi, float64(pt.N))
	}
	goal, err := hline(lo/2, hi*2, 1)
	if err != nil {
		return nil, err
	}
	p.Add(goal, ms, mx, plotter.NewGrid())
	p.Legend.Add("mean over tenants", ms)
	p.Legend.Add("busiest tenant", mx)
	p.Legend.Add("goal: 1 list", goal)
	p.X.Min, p.X.Max = lo/2, hi*2
	p.Y.Min, p.Y.Max = 0, 2
	return p, nil
}

func listCostChart(pts []listCostPoint) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "One list of a tenant: response size and refresh time"
	p.X.Label.Text = "SimIntegrations in the tenant (N, log scale)"
	p.Y.Label.Text = "ms (refresh) / MiB (response), log scale"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	ms := make(plotter.XYs, len(pts))
	mb := make(plotter.XYs, len(pts))
	for i, pt := range pts {
		ms[i] = plotter.XY{X: float64(pt.N), Y: max(pt.Millis, 0.001)}
		mb[i] = plotter.XY{X: float64(pt.N), Y: float64(pt.Bytes) / (1 << 20)}
	}
	l1, s1, err := plotter.NewLinePoints(ms)
	if err != nil {
		return nil, err
	}
	l1.Color, s1.Color = blue, blue
	l2, s2, err := plotter.NewLinePoints(mb)
	if err != nil {
		return nil, err
	}
	l2.Color, s2.Color = orange, orange
	p.Add(l1, s1, l2, s2, plotter.NewGrid())
	p.Legend.Add("refresh time, ms (median)", l1, s1)
	p.Legend.Add("response, MiB", l2, s2)
	p.Legend.Top, p.Legend.Left = false, false
	return p, nil
}

func firstListsChart(hist []int, tenants int, poll time.Duration) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Fleet restart: first list of each of %d tenants, per second (poll %s)", tenants, poll)
	p.X.Label.Text = "second after the process started"
	p.Y.Label.Text = "tenants listing for the first time"
	vals := make(plotter.Values, len(hist))
	for i, v := range hist {
		vals[i] = float64(v)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(6))
	if err != nil {
		return nil, err
	}
	bars.Color, bars.LineStyle.Width = blue, 0
	p.Add(bars, plotter.NewGrid())
	p.Y.Min = 0
	return p, nil
}

// hline is a dashed horizontal line at y from x0 to x1.
func hline(x0, x1, y float64) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y}, {X: x1, Y: y}})
	if err != nil {
		return nil, err
	}
	l.Color = red
	l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	return l, nil
}
