package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
)

// WriteChart draws sr as an SVG: one panel per server latency, throughput
// (events/s, log scale) against max_in_flight (log scale) for the bridge,
// the wire ceiling and the Little bound. It is plain SVG 1.1, written by
// hand: one chart type does not justify a plotting library and its tree.
func WriteChart(w io.Writer, sr *SweepResult) error {
	if len(sr.Points) == 0 {
		return fmt.Errorf("bench: nothing to chart")
	}
	type series struct{ bridge, wire, little [][2]float64 }
	var lats []float64
	panels := map[float64]*series{}
	var concs []int
	ymin, ymax := math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if v > 0 {
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	for _, p := range sr.Points {
		s := panels[p.LatencyMs]
		if s == nil {
			s = &series{}
			panels[p.LatencyMs] = s
			lats = append(lats, p.LatencyMs)
		}
		x := float64(p.MaxInFlight)
		s.bridge = append(s.bridge, [2]float64{x, p.ThroughputEPS})
		s.wire = append(s.wire, [2]float64{x, p.WireCeilingEPS})
		see(p.ThroughputEPS)
		see(p.WireCeilingEPS)
		if p.LittleBoundEPS > 0 {
			s.little = append(s.little, [2]float64{x, p.LittleBoundEPS})
		}
		if !slices.Contains(concs, p.MaxInFlight) {
			concs = append(concs, p.MaxInFlight)
		}
	}
	slices.Sort(concs)
	if math.IsInf(ymin, 1) {
		return fmt.Errorf("bench: no positive throughput to chart")
	}
	// The y range: decades around the measured values; the Little bound
	// is clipped to it (it grows without limit as latency falls).
	ylo := math.Pow(10, math.Floor(math.Log10(ymin)))
	yhi := math.Pow(10, math.Ceil(math.Log10(ymax*1.5)))
	xlo, xhi := float64(concs[0]), float64(concs[len(concs)-1])
	if xhi == xlo {
		xlo, xhi = xlo/2, xhi*2
	}

	const (
		pw, ph         = 300.0, 300.0 // panel plot area
		left, top, gap = 70.0, 100.0, 40.0
		bottom         = 70.0
	)
	width := max(780, left+float64(len(lats))*(pw+gap)) // room for the legend
	height := top + ph + bottom
	bw := bufio.NewWriter(w)
	f := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	f(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	m := sr.Machine
	f(`<text x="%.0f" y="22" font-size="15" font-weight="bold">Bridge throughput vs wire ceiling and Little bound</text>`+"\n", left)
	f(`<text x="%.0f" y="40" fill="#555">%s</text>`+"\n", left, html.EscapeString(fmt.Sprintf("%d CPUs (%s), %s, Kafka %s", m.CPUs, orDash(m.CPUModel), m.Go, m.Kafka)))
	// Legend.
	legend := []struct{ name, style string }{
		{"bridge", `stroke="#d95f02" stroke-width="2.5"`},
		{"wire ceiling (bare net/http)", `stroke="#1b6fb5" stroke-width="2" stroke-dasharray="6 4"`},
		{"Little bound (in flight ÷ latency)", `stroke="#777" stroke-width="1.5" stroke-dasharray="2 3"`},
	}
	lx := left
	for _, l := range legend {
		f(`<line x1="%.0f" y1="60" x2="%.0f" y2="60" %s/><text x="%.0f" y="64">%s</text>`+"\n", lx, lx+28, l.style, lx+34, html.EscapeString(l.name))
		lx += 60 + 7*float64(len([]rune(l.name)))
	}

	for i, lat := range lats {
		x0 := left + float64(i)*(pw+gap)
		sx := func(v float64) float64 { return x0 + pw*(math.Log(v)-math.Log(xlo))/(math.Log(xhi)-math.Log(xlo)) }
		sy := func(v float64) float64 {
			v = math.Min(math.Max(v, ylo), yhi)
			return top + ph - ph*(math.Log(v)-math.Log(ylo))/(math.Log(yhi)-math.Log(ylo))
		}
		f(`<rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" fill="none" stroke="#bbb"/>`+"\n", x0, top, pw, ph)
		f(`<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">server latency %s</text>`+"\n", x0+pw/2, top-10, fmtMs(lat))
		for d := ylo; d <= yhi*1.0001; d *= 10 {
			for _, k := range []float64{1, 2, 5} {
				v := d * k
				if v > yhi*1.0001 {
					break
				}
				y := sy(v)
				f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x0, y, x0+pw, y)
				if i == 0 {
					f(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", x0-6, y+4, shortNum(v))
				}
			}
		}
		for _, c := range concs {
			x := sx(float64(c))
			f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x, top, x, top+ph)
			f(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%d</text>`+"\n", x, top+ph+16, c)
		}
		f(`<text x="%.1f" y="%.1f" text-anchor="middle">max_in_flight</text>`+"\n", x0+pw/2, top+ph+36)
		s := panels[lat]
		poly := func(pts [][2]float64, style string, marker bool) {
			if len(pts) == 0 {
				return
			}
			slices.SortFunc(pts, func(a, b [2]float64) int { return int(a[0] - b[0]) })
			f(`<polyline fill="none" %s points="`, style)
			for _, p := range pts {
				f("%.1f,%.1f ", sx(p[0]), sy(p[1]))
			}
			f(`"/>` + "\n")
			if marker {
				for _, p := range pts {
					f(`<circle cx="%.1f" cy="%.1f" r="3" fill="#d95f02"><title>%s ev/s at %s</title></circle>`+"\n",
						sx(p[0]), sy(p[1]), strconv.FormatFloat(p[1], 'f', 0, 64), strconv.FormatFloat(p[0], 'f', 0, 64))
				}
			}
		}
		poly(s.little, legend[2].style, false)
		poly(s.wire, legend[1].style, false)
		poly(s.bridge, legend[0].style, true)
	}
	f(`<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">events per second (log)</text>`+"\n", top+ph/2, top+ph/2)
	f("</svg>\n")
	return bw.Flush()
}

func shortNum(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}
