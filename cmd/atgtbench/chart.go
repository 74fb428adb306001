package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
)

var (
	colWhite  = color.RGBA{255, 255, 255, 255}
	colBlack  = color.RGBA{20, 20, 20, 255}
	colGrid   = color.RGBA{225, 225, 225, 255}
	colFaster = color.RGBA{46, 139, 87, 255}  // atgt at least as fast as tgt
	colSlower = color.RGBA{220, 110, 40, 255} // atgt slower
	colOne    = color.RGBA{200, 30, 30, 255}
	colMuted  = color.RGBA{110, 110, 110, 255}
)

func fillRect(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{c}, image.Point{}, draw.Src)
}

// writeChart draws a horizontal bar per case: atgt/tgt, with a red line at 1.0.
func writeChart(path string, ss []summary, subtitle string) error {
	var bars []summary
	for _, s := range ss {
		if !s.Ref && !math.IsNaN(s.Ratio) && !math.IsInf(s.Ratio, 0) {
			bars = append(bars, s)
		}
	}
	const (
		scale   = 2
		rowH    = 30
		barH    = 20
		top     = 90
		left    = 20
		labelW  = 27 * glyphW * scale // the longest case names
		plotW   = 560
		rightW  = 110
		bottomH = 70
	)
	width := left + labelW + plotW + rightW
	height := top + rowH*max(1, len(bars)) + bottomH
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fillRect(img, 0, 0, width, height, colWhite)

	drawText(img, left, 14, "atgt / tgt throughput ratio (higher is better for atgt)", scale, colBlack)
	sub := subtitle
	if n := (width - 2*left) / (glyphW * scale); len(sub) > n {
		sub = sub[:n]
	}
	drawText(img, left, 46, sub, scale, colMuted)

	maxR := 2.0
	for _, b := range bars {
		maxR = math.Max(maxR, b.Ratio)
	}
	maxR = math.Ceil(maxR*2) / 2 // to a multiple of 0.5
	x0 := left + labelW
	xOf := func(r float64) int { return x0 + int(r/maxR*float64(plotW)) }
	plotTop, plotBottom := top-6, top+rowH*len(bars)

	// Grid every 0.5, labels under the plot.
	for r := 0.0; r <= maxR+1e-9; r += 0.5 {
		x := xOf(r)
		fillRect(img, x, plotTop, 1, plotBottom-plotTop, colGrid)
		l := fmt.Sprintf("%.1f", r)
		drawText(img, x-textWidth(l, scale)/2, plotBottom+10, l, scale, colMuted)
	}
	fillRect(img, x0, plotTop, 1, plotBottom-plotTop, colBlack)

	// The 1.0 line (atgt as fast as tgt) goes over the bars, the value labels over it.
	x1 := xOf(1)
	for i, b := range bars {
		y := top + i*rowH
		drawText(img, left, y+(barH-7*scale)/2, b.Case, scale, colBlack)
		c := colFaster
		if b.Ratio < 1 {
			c = colSlower
		}
		fillRect(img, x0+1, y, xOf(math.Min(b.Ratio, maxR))-x0, barH, c)
	}
	fillRect(img, x1-1, plotTop, 3, plotBottom-plotTop+6, colOne)
	for i, b := range bars {
		y := top + i*rowH
		l := fmt.Sprintf("%.2fx", b.Ratio)
		lx := xOf(math.Min(b.Ratio, maxR)) + 6
		fillRect(img, lx-2, y, textWidth(l, scale)+2, barH, colWhite)
		drawText(img, lx, y+(barH-7*scale)/2, l, scale, colBlack)
	}
	legend := "red line: 1.0 = as fast as tgt"
	drawText(img, width-textWidth(legend, scale)-left, plotBottom+36, legend, scale, colOne)

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
