package observability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

// RunFile is the scrape series of a real run of the manager binary (recorded by cmd/picture -record):
// the picture in docs/ is drawn from it, and its metric names are the ones the manager exports.
var RunFile = filepath.Join(RepoRoot(), "test", "observability", "testdata", "run.txt")

// The run file is text: a line "# names: a b c" with every metric family name of the last scrape,
// then per scrape a line "# scrape <unix ms>" followed by that scrape's samples of the kept families
// in the Prometheus text format (without HELP and TYPE).
const (
	namesPrefix  = "# names: "
	scrapePrefix = "# scrape "
)

// keptFamily says whether a family's samples are kept in the run file: the ones the dashboard and
// the alerts read.
func keptFamily(name string) bool {
	return strings.HasPrefix(name, "sim_operator_") ||
		name == "controller_runtime_reconcile_total" || name == "workqueue_depth"
}

// Scrape is one scrape of /metrics.
type Scrape struct {
	At       time.Time
	Families map[string]*dto.MetricFamily
}

// Run is a loaded run file.
type Run struct {
	// Names are every metric family name the manager exported at the end of the run.
	Names   []string
	Scrapes []Scrape
}

// ParseScrape parses a /metrics response in the text format.
func ParseScrape(at time.Time, body io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(body)
	return Scrape{At: at, Families: fams}, err
}

// WriteRun writes scrapes as a run file.
func WriteRun(w io.Writer, scrapes []Scrape) error {
	if len(scrapes) == 0 {
		return errors.New("no scrape")
	}
	last := scrapes[len(scrapes)-1]
	names := make([]string, 0, len(last.Families))
	for n := range last.Families {
		names = append(names, n)
	}
	slices.Sort(names)
	bw := bufio.NewWriter(w) // its first error sticks, and Flush returns it
	_, _ = fmt.Fprintf(bw, "%s%s\n", namesPrefix, strings.Join(names, " "))
	for _, s := range scrapes {
		_, _ = fmt.Fprintf(bw, "%s%d\n", scrapePrefix, s.At.UnixMilli())
		kept := make([]string, 0, len(s.Families))
		for n := range s.Families {
			if keptFamily(n) {
				kept = append(kept, n)
			}
		}
		slices.Sort(kept)
		for _, n := range kept {
			var buf bytes.Buffer
			if _, err := expfmt.MetricFamilyToText(&buf, s.Families[n]); err != nil {
				return err
			}
			for l := range strings.SplitSeq(buf.String(), "\n") {
				if l != "" && !strings.HasPrefix(l, "#") {
					_, _ = fmt.Fprintln(bw, l)
				}
			}
		}
	}
	return bw.Flush()
}

// LoadRun reads a run file.
func LoadRun(path string) (*Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &Run{}
	var chunk strings.Builder
	var at time.Time
	flush := func() error {
		if at.IsZero() {
			return nil
		}
		s, err := ParseScrape(at, strings.NewReader(chunk.String()))
		if err != nil {
			return fmt.Errorf("%s: scrape at %s: %w", path, at, err)
		}
		r.Scrapes = append(r.Scrapes, s)
		chunk.Reset()
		return nil
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, namesPrefix):
			r.Names = strings.Fields(strings.TrimPrefix(l, namesPrefix))
		case strings.HasPrefix(l, scrapePrefix):
			if err := flush(); err != nil {
				return nil, err
			}
			ms, err := strconv.ParseInt(strings.TrimPrefix(l, scrapePrefix), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %w", path, l, err)
			}
			at = time.UnixMilli(ms)
		default:
			chunk.WriteString(l + "\n")
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(r.Names) == 0 || len(r.Scrapes) == 0 {
		return nil, fmt.Errorf("%s: no names or no scrapes", path)
	}
	return r, nil
}

// Series is one result series of a range query.
type Series struct {
	Labels labels.Labels
	// Points are (seconds since the run's start, value).
	Points [][2]float64
}

// Evaluator runs PromQL range queries over a run, with Prometheus' own engine and TSDB.
type Evaluator struct {
	db         *tsdb.DB
	dir        string
	engine     *promql.Engine
	start, end time.Time
	step       time.Duration
}

// NewEvaluator loads the run's samples into a temporary TSDB.
func NewEvaluator(r *Run) (*Evaluator, error) {
	dir, err := os.MkdirTemp("", "sim-operator-run-")
	if err != nil {
		return nil, err
	}
	opts := tsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = math.MaxInt64 / 2
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	app := db.Appender(context.Background())
	// As Prometheus' scraper does, a series missing from a scrape gets a staleness marker, so that
	// it ends there instead of lingering for the lookback delta.
	var previous map[uint64]labels.Labels
	for _, s := range r.Scrapes {
		ts := s.At.UnixMilli()
		current := map[uint64]labels.Labels{}
		for name, f := range s.Families {
			for _, m := range f.GetMetric() {
				b := labels.NewScratchBuilder(len(m.GetLabel()) + 1)
				b.Add(model.MetricNameLabel, name)
				for _, l := range m.GetLabel() {
					b.Add(l.GetName(), l.GetValue())
				}
				b.Sort()
				ls := b.Labels()
				current[ls.Hash()] = ls
				if _, err := app.Append(0, ls, ts, sampleOf(m)); err != nil {
					_ = db.Close()
					_ = os.RemoveAll(dir)
					return nil, err
				}
			}
		}
		for h, ls := range previous {
			if _, ok := current[h]; !ok {
				if _, err := app.Append(0, ls, ts, math.Float64frombits(value.StaleNaN)); err != nil {
					_ = db.Close()
					_ = os.RemoveAll(dir)
					return nil, err
				}
			}
		}
		previous = current
	}
	if err := app.Commit(); err != nil {
		return nil, err
	}
	step := 5 * time.Second
	if len(r.Scrapes) > 1 {
		step = r.Scrapes[1].At.Sub(r.Scrapes[0].At).Round(time.Second)
	}
	return &Evaluator{
		db: db, dir: dir, step: step,
		engine: promql.NewEngine(promql.EngineOpts{
			MaxSamples: 10_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
		}),
		start: r.Scrapes[0].At, end: r.Scrapes[len(r.Scrapes)-1].At,
	}, nil
}

func sampleOf(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// Close removes the temporary TSDB.
func (e *Evaluator) Close() error {
	return errors.Join(e.db.Close(), os.RemoveAll(e.dir))
}

// RateInterval is what $__rate_interval stands for over a run: four scrape intervals, as Grafana
// computes it.
func (e *Evaluator) RateInterval() time.Duration { return 4 * e.step }

// Range evaluates expr (with the dashboard's variables expanded) over the whole run.
func (e *Evaluator) Range(expr string) ([]Series, error) {
	q, err := e.engine.NewRangeQuery(context.Background(), e.db, nil,
		ExpandGrafanaVariables(expr, e.RateInterval()), e.start, e.end, e.step)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		return nil, res.Err
	}
	m, err := res.Matrix()
	if err != nil {
		return nil, err
	}
	out := make([]Series, 0, len(m))
	for _, s := range m {
		ser := Series{Labels: s.Metric}
		for _, p := range s.Floats {
			ser.Points = append(ser.Points, [2]float64{float64(p.T-e.start.UnixMilli()) / 1000, p.F})
		}
		out = append(out, ser)
	}
	return out, nil
}
