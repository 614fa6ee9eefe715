package trends

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// The charts are plain SVG with a viewBox, so they scale to the width of
// a phone; every number is computed here and the only text (labels) is
// escaped, so the result is safe to put in a page as is.

const (
	chartW, chartH = 480.0, 200.0
	padL, padR     = 36.0, 8.0
	padT, padB     = 22.0, 28.0
)

type bar struct {
	start    time.Time
	articles int
	spike    *SpikeMark // marked bar, if any
}

func hourlyChart(doc SeriesDoc, title string) template.HTML {
	bars := make([]bar, len(doc.Points))
	for i, p := range doc.Points {
		bars[i] = bar{start: p.Start, articles: p.Articles}
	}
	markSpikes(bars, doc.Spikes, time.Hour)
	return chart(bars, title, time.Hour)
}

func dailyChart(doc SeriesDoc, title string) template.HTML {
	var bars []bar
	for _, p := range doc.Points {
		day := p.Start.Truncate(24 * time.Hour)
		if len(bars) == 0 || !bars[len(bars)-1].start.Equal(day) {
			bars = append(bars, bar{start: day})
		}
		bars[len(bars)-1].articles += p.Articles
	}
	markSpikes(bars, doc.Spikes, 24*time.Hour)
	return chart(bars, title, 24*time.Hour)
}

func markSpikes(bars []bar, spikes []SpikeMark, width time.Duration) {
	for i := range spikes {
		sp := &spikes[i]
		for j := range bars {
			if !sp.At.Before(bars[j].start) && sp.At.Before(bars[j].start.Add(width)) && bars[j].spike == nil {
				bars[j].spike = sp
			}
		}
	}
}

func chart(bars []bar, title string, width time.Duration) template.HTML {
	peak := 1
	for _, b := range bars {
		peak = max(peak, b.articles)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(&sb, `<title>%s</title>`, html.EscapeString(title))
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	base := padT + plotH
	// Axis: zero, the peak, and a line under the bars.
	fmt.Fprintf(&sb, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="axis"/>`, padL, base, chartW-padR, base)
	fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" class="tick" text-anchor="end">%d</text>`, padL-4, padT+10, peak)
	fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" class="tick" text-anchor="end">0</text>`, padL-4, base)
	n := max(len(bars), 1)
	bw := plotW / float64(n)
	gap := min(bw*0.15, 2)
	for i, b := range bars {
		x := padL + float64(i)*bw
		h := plotH * float64(b.articles) / float64(peak)
		label := b.start.UTC().Format("Mon 2 Jan 15:04")
		if width >= 24*time.Hour {
			label = b.start.UTC().Format("Mon 2 Jan")
		}
		cls := "bar"
		if b.spike != nil {
			cls = "bar spike"
		}
		fmt.Fprintf(&sb, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" class="%s"><title>%s: %d</title></rect>`,
			x+gap/2, base-h, max(bw-gap, 0.5), h, cls, html.EscapeString(label), b.articles)
		// A day label under each day (hourly chart: at midnight).
		if (width >= 24*time.Hour && (n <= 10 || i%5 == 0)) || (width < 24*time.Hour && b.start.UTC().Hour() == 0) {
			lx, anchor := x, "start"
			if lx > chartW-padR-48 {
				lx, anchor = chartW-padR, "end" // keep the last label inside
			}
			fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" class="tick" text-anchor="%s">%s</text>`, lx, chartH-8, anchor, html.EscapeString(b.start.UTC().Format("2 Jan")))
		}
		if sp := b.spike; sp != nil {
			cx := x + bw/2
			top := base - h - 4
			fmt.Fprintf(&sb, `<a href="?bucket=%d#articles" class="spike-link"><path d="M%.1f %.1f l-7 -12 h14 z" class="spike-mark"><title>spike: %d articles from %d sources in the window (usually %s); show the articles</title></path></a>`,
				sp.At.Unix(), cx, top, sp.Articles, sp.Sources, formatCount(sp.Baseline.Articles))
		}
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) // #nosec: built from numbers and escaped text above
}
