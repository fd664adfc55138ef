package observability

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PictureFile is the picture of the dashboard's main panels in docs/.
var PictureFile = RepoRoot() + "/docs/images/dashboard.png"

var legendRE = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legend fills a Grafana legend template ("{{tenant}} ...") from a series' labels.
func legend(tmpl string, s Series) string {
	if tmpl == "" {
		return s.Labels.String()
	}
	return legendRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		return s.Labels.Get(legendRE.FindStringSubmatch(m)[1])
	})
}

// palette is Grafana's classic palette, so the picture looks like the dashboard.
var palette = []color.RGBA{
	{0x73, 0xbf, 0x69, 0xff}, {0xf2, 0xcc, 0x0c, 0xff}, {0x8a, 0xb8, 0xff, 0xff}, {0xff, 0x78, 0x0a, 0xff},
	{0xf2, 0x49, 0x5c, 0xff}, {0x57, 0x94, 0xf2, 0xff}, {0xb8, 0x77, 0xd9, 0xff}, {0x70, 0x5d, 0xa0, 0xff},
	{0x37, 0x87, 0x2d, 0xff}, {0xfa, 0xde, 0x2a, 0xff},
}

// MainPanels are the panels drawn in the picture, in dashboard order.
func MainPanels() []Panel {
	var out []Panel
	for _, r := range Rows {
		for _, p := range r.Panels {
			if p.Main {
				out = append(out, p)
			}
		}
	}
	return out
}

// panelPlot evaluates a panel's queries over the run and plots them as Grafana would: one line per
// result series, named by its legend (stacked panels are drawn unstacked, which reads better
// without fills).
func panelPlot(e *Evaluator, p Panel) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = "seconds into the run"
	pl.Y.Label.Text = unitLabel(p.Unit)
	pl.Y.Min = 0
	pl.X.Min, pl.X.Max = 0, e.end.Sub(e.start).Seconds()
	pl.Legend.Top = true
	pl.Legend.Left = true
	pl.Legend.TextStyle.Font.Size = vg.Points(7)
	pl.Add(plotter.NewGrid())
	var all []Series
	var names []string
	for _, q := range p.Queries {
		ss, err := e.Range(q.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", p.Title, q.Expr, err)
		}
		slices.SortFunc(ss, func(a, b Series) int { return strings.Compare(legend(q.Legend, a), legend(q.Legend, b)) })
		for _, s := range ss {
			all = append(all, s)
			names = append(names, legend(q.Legend, s))
		}
	}
	maxY := 1.0
	for i, s := range all {
		xys := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			y := pt[1]
			if math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			if p.Unit == "percentunit" {
				y *= 100
			}
			maxY = max(maxY, y)
			xys = append(xys, plotter.XY{X: pt[0], Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		pl.Add(l)
		pl.Legend.Add(names[i], l)
	}
	pl.Y.Max = maxY * 1.35 // room for the legend
	return pl, nil
}

func unitLabel(unit string) string {
	switch unit {
	case "s":
		return "seconds"
	case "percentunit":
		return "% of the limit"
	case "reqps":
		return "requests/s"
	}
	return "SimIntegrations / events"
}

// RenderPicture draws the main panels of the dashboard over a run, two per row, as a PNG.
func RenderPicture(w io.Writer, r *Run) error {
	e, err := NewEvaluator(r)
	if err != nil {
		return err
	}
	defer func() { _ = e.Close() }()
	panels := MainPanels()
	const cols = 2
	rows := (len(panels) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, p := range panels {
		pl, err := panelPlot(e, p)
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = pl
	}
	width, height := vg.Points(1100), vg.Points(float64(330*rows))
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(12), PadY: vg.Points(12),
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
