package main

// Charts drawn with gonum.org/v1/plot: labelled axes, legends and real fonts, where
// the hand-drawn bitmap font this replaced could draw none of them.

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	colFaster = color.RGBA{46, 139, 87, 255}  // atgt at least as fast as tgt
	colSlower = color.RGBA{220, 110, 40, 255} // atgt slower
	colOne    = color.RGBA{200, 30, 30, 255}
)

// writeChart draws a horizontal bar per case: atgt/tgt, with a red line at 1.0.
func writeChart(path string, ss []summary, subtitle string) error {
	var names []string
	var faster, slower plotter.Values
	maxR := 2.0
	for _, s := range ss {
		if s.Ref || math.IsNaN(s.Ratio) || math.IsInf(s.Ratio, 0) {
			continue
		}
		names = append(names, s.Case)
		maxR = math.Max(maxR, s.Ratio)
		f, sl := s.Ratio, 0.0
		if s.Ratio < 1 {
			f, sl = 0, s.Ratio
		}
		faster, slower = append(faster, f), append(slower, sl)
	}
	if len(names) == 0 {
		names, faster, slower = []string{"(no ratio)"}, plotter.Values{0}, plotter.Values{0}
	}
	p := plot.New()
	p.Title.Text = "atgt / tgt throughput ratio (higher is better for atgt)\n" + subtitle
	p.X.Label.Text = "ratio atgt / tgt"
	p.X.Min, p.X.Max = 0, maxR*1.35 // room for the legend
	w := vg.Points(10)
	for _, b := range []struct {
		v     plotter.Values
		c     color.Color
		label string
	}{{faster, colFaster, "atgt faster"}, {slower, colSlower, "atgt slower"}} {
		bc, err := plotter.NewBarChart(b.v, w)
		if err != nil {
			return err
		}
		bc.Horizontal, bc.Color, bc.LineStyle.Width = true, b.c, 0
		p.Add(bc)
		p.Legend.Add(b.label, bc)
	}
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(len(names)) - 0.5}})
	if err != nil {
		return err
	}
	one.Color, one.Width = colOne, vg.Points(1)
	p.Add(one)
	p.Legend.Add("equal", one)
	p.Legend.Top = true
	p.NominalY(names...)
	p.Add(plotter.NewGrid())
	return p.Save(9*vg.Inch, vg.Length(1.2+0.22*float64(len(names)))*vg.Inch, path)
}

// series is one line of a figure: a target's median per x, and the span of its runs.
type series struct {
	Name         string
	Y, Low, High []float64 // per x; NaN where there is no figure
	Dashed       bool
	// Style picks the colour and marker, so that a target looks the same in every
	// figure, whichever others the figure shows.
	Style int
}

// errPoints is a series' points with their error bars, for gonum's YErrorBars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// writeFigure draws one of the paper's figures: throughput per x category (IO
// size, file count) for each series on a log axis (the slowest design runs at a
// few percent of the others), with error bars from the lowest to the highest run.
func writeFigure(path, title, xLabel, yLabel string, xs []string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel + " (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	for k, s := range ss {
		var pts errPoints
		shift := (float64(k) - float64(len(ss)-1)/2) * 0.05 // keep error bars apart
		for i := range xs {
			y := s.Y[i]
			if math.IsNaN(y) || y <= 0 {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(i) + shift, Y: y})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{y - s.Low[i], s.High[i] - y})
			lo, hi = math.Min(lo, s.Low[i]), math.Max(hi, s.High[i])
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return err
		}
		c := plotColor(s.Style)
		line.Color, points.Color = c, c
		points.Shape = plotShape(s.Style)
		if s.Dashed {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return err
		}
		bars.Color = c
		p.Add(line, points, bars)
		p.Legend.Add(s.Name, line, points)
	}
	if !math.IsInf(lo, 0) {
		p.Y.Min, p.Y.Max = math.Max(lo/2, 1e-3), hi*8 // room for the legend
	}
	p.NominalX(xs...)
	p.X.Min, p.X.Max = -0.4, float64(len(xs))-0.6
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// plotColor and plotShape tell the series apart in colour and, printed in grey, by
// marker.
func plotColor(i int) color.Color {
	cs := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {214, 39, 40, 255}, {44, 160, 44, 255},
		{90, 90, 90, 255}, {148, 103, 189, 255}}
	return cs[i%len(cs)]
}

func plotShape(i int) draw.GlyphDrawer {
	gs := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PlusGlyph{},
		draw.CrossGlyph{}, draw.RingGlyph{}}
	return gs[i%len(gs)]
}
