package trends

import (
	"math"
	"slices"
	"time"

	"newswatch/config"
	"newswatch/news"
)

const (
	// BaselineDays is how many previous days the baseline looks at.
	BaselineDays = 14
	// MinBaselineDays is how many previous days must be known before
	// anything can be a spike: a series that started yesterday has no
	// baseline, and every first wave would look like one.
	MinBaselineDays = 3
	// Growth is how much a spike's window count must grow since its last
	// report for a follow-up.
	Growth = 2.0
	// madScale makes the median absolute deviation estimate a standard
	// deviation for normally distributed counts.
	madScale = 1.4826
)

// Params are a topic's spike settings in the units Detect uses.
type Params struct {
	Window      int // hours
	MinArticles int
	MinSources  int
	Threshold   float64
}

// ParamsOf converts a topic's spikes config; unset values take the
// config's defaults (a topic made up on the command line has none).
func ParamsOf(s config.Spikes) Params {
	p := Params{Window: int(s.Window / time.Hour), MinArticles: s.MinArticles, MinSources: s.MinSources, Threshold: s.Threshold}
	if p.Window <= 0 {
		p.Window = 6
	}
	if p.MinArticles == 0 {
		p.MinArticles = 5
	}
	if p.MinSources == 0 {
		p.MinSources = 3
	}
	if p.Threshold == 0 {
		p.Threshold = 5
	}
	return p
}

// Event is one report of a spike: the first (FollowUp 0) or a growth.
type Event struct {
	Bucket   int // index of the hour the spike was first detected
	At       int // index of the hour of this report
	FollowUp int
	Articles int // in the window ending with hour At
	Sources  int
	Baseline news.Baseline
}

// window is the count of the Window hours ending at an index.
type window struct {
	articles, sources int
}

// windows computes, for every index, the articles and distinct sources of
// the window of k hours ending there (hours before index 0 count as
// nothing: the caller starts the series where it is known).
func windows(hours []Hour, k int) []window {
	out := make([]window, len(hours))
	inWin := map[string]int{} // source → hours of the window it wrote in
	articles := 0
	for t, h := range hours {
		articles += h.Articles
		for s := range h.Sources {
			inWin[s]++
		}
		if old := t - k; old >= 0 {
			articles -= hours[old].Articles
			for s := range hours[old].Sources {
				if inWin[s]--; inWin[s] == 0 {
					delete(inWin, s)
				}
			}
		}
		out[t] = window{articles, len(inWin)}
	}
	return out
}

// medianMAD returns the median of xs and the median absolute deviation
// from it; xs is reordered.
func medianMAD(xs []float64) (med, mad float64) {
	med = median(xs)
	var buf [BaselineDays]float64
	dev := buf[:0]
	if len(xs) > len(buf) {
		dev = make([]float64, 0, len(xs))
	}
	for _, x := range xs {
		dev = append(dev, math.Abs(x-med))
	}
	return med, median(dev)
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// scale is the spread a count must exceed the median by, in units of
// which Threshold is counted: the robust standard deviation, but never
// less than the Poisson spread sqrt(median) nor less than 1, since a
// perfectly regular baseline has a MAD of zero.
func scale(med, mad float64) float64 {
	return max(madScale*mad, math.Sqrt(med), 1)
}

// eval says whether the window ending at t is a spike. Below the floors
// nothing is a spike, so the baseline is computed only above them.
func eval(ws []window, t int, p Params) (bool, news.Baseline) {
	w := ws[t]
	if w.articles < p.MinArticles || w.sources < p.MinSources {
		return false, news.Baseline{}
	}
	var as, ss [BaselineDays]float64
	n := 0
	for d := 1; d <= BaselineDays; d++ {
		i := t - 24*d
		if i-p.Window+1 < 0 {
			break
		}
		as[n], ss[n] = float64(ws[i].articles), float64(ws[i].sources)
		n++
	}
	b := news.Baseline{Days: n}
	if n < MinBaselineDays {
		return false, b
	}
	// The median is at least the smallest value and the scale at least
	// 1: a window that does not clear those is no spike, and most hours
	// are decided here without sorting.
	if float64(w.articles) <= slices.Min(as[:n])+p.Threshold || float64(w.sources) <= slices.Min(ss[:n])+p.Threshold {
		return false, b
	}
	b.Articles, b.ArticlesMAD = medianMAD(as[:n])
	b.Sources, b.SourcesMAD = medianMAD(ss[:n])
	spike := float64(w.articles) > b.Articles+p.Threshold*scale(b.Articles, b.ArticlesMAD) &&
		float64(w.sources) > b.Sources+p.Threshold*scale(b.Sources, b.SourcesMAD)
	return spike, b
}

// Detect replays a series (index 0 is the first hour known) and returns
// every report a spike alert would make:
//
//   - the window of the last p.Window hours is a spike when its articles
//     and its distinct sources both reach their minimum and both exceed
//     the median of the same window on up to BaselineDays previous days
//     by Threshold robust deviations (see scale);
//   - the first spiking hour opens an episode and is reported; while it
//     lasts, a window that reaches Growth times the last report's
//     articles is reported again as a follow-up;
//   - the episode ends once a whole window's worth of hours has passed
//     without a spike.
func Detect(hours []Hour, p Params) []Event {
	p.Window = max(p.Window, 1)
	ws := windows(hours, p.Window)
	var out []Event
	active := false
	var bucket, followUp, level, quiet int
	for t := range hours {
		spike, base := eval(ws, t, p)
		if !active {
			if spike {
				active, bucket, followUp, level, quiet = true, t, 0, ws[t].articles, 0
				out = append(out, Event{Bucket: t, At: t, Articles: ws[t].articles, Sources: ws[t].sources, Baseline: base})
			}
			continue
		}
		if !spike {
			if quiet++; quiet >= p.Window {
				active = false
			}
			continue
		}
		quiet = 0
		if float64(ws[t].articles) >= Growth*float64(level) {
			followUp++
			level = ws[t].articles
			out = append(out, Event{Bucket: bucket, At: t, FollowUp: followUp, Articles: ws[t].articles, Sources: ws[t].sources, Baseline: base})
		}
	}
	return out
}
