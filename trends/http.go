package trends

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"newswatch/config"
	"newswatch/news"
)

//go:embed templates/topic.html
var templateFS embed.FS

var topicPage = template.Must(template.New("topic.html").Funcs(template.FuncMap{
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).ParseFS(templateFS, "templates/topic.html"))

// Point is one bucket of the series as the API serves it.
type Point struct {
	Start    time.Time `json:"start"`
	Articles int       `json:"articles"`
	Sources  int       `json:"sources"`
}

// SpikeMark is a spike the detection finds in the series served: the
// hour it was first detected, and each report.
type SpikeMark struct {
	Bucket   time.Time     `json:"bucket"`
	At       time.Time     `json:"at"`
	FollowUp int           `json:"followup"`
	Articles int           `json:"articles"`
	Sources  int           `json:"sources"`
	Baseline news.Baseline `json:"baseline"`
}

// SeriesDoc is the body of GET /api/topics/{id}/series.
type SeriesDoc struct {
	V      int         `json:"v"`
	Topic  string      `json:"topic"`
	Name   string      `json:"name"`
	Bucket string      `json:"bucket"` // "1h"
	From   time.Time   `json:"from"`
	To     time.Time   `json:"to"` // start of the last bucket
	Points []Point     `json:"points"`
	Spikes []SpikeMark `json:"spikes"`
}

func (s *Service) topic(id string) (config.Topic, bool) {
	for _, t := range s.cfg.Load().Topics {
		if t.ID == id {
			return t, true
		}
	}
	return config.Topic{}, false
}

// Series returns the last days of a topic's series, with the spikes the
// topic's settings (or the defaults, when spike alerts are off) find in
// it; ok is false for an unknown topic.
func (s *Service) Series(ctx context.Context, id string, days int) (SeriesDoc, bool) {
	t, ok := s.topic(id)
	if !ok {
		return SeriesDoc{}, false
	}
	step := int64(Bucket / time.Second)
	to := HourOf(s.now())
	from := to - int64(days*24-1)*step
	doc := SeriesDoc{V: news.Version, Topic: t.ID, Name: t.Name, Bucket: "1h",
		From: time.Unix(from, 0).UTC(), To: time.Unix(to, 0).UTC(), Points: make([]Point, 0, days*24), Spikes: []SpikeMark{}}
	// Detection needs the baseline before the range too, but nothing
	// from before the series is known: hours there are not zeros.
	p := ParamsOf(t.Spikes)
	det := from - lookback(p)*step
	if since, ok := s.Since(ctx, t.ID); ok {
		det = max(det, HourOf(since))
	}
	start := min(det, from)
	hours := s.mem.Hours(t.ID, start, to)
	for i, h := range hours[(from-start)/step:] {
		doc.Points = append(doc.Points, Point{Start: time.Unix(from+int64(i)*step, 0).UTC(), Articles: h.Articles, Sources: len(h.Sources)})
	}
	if det > to {
		return doc, true
	}
	for _, ev := range Detect(hours[(det-start)/step:], p) {
		at := det + int64(ev.At)*step
		if at < from {
			continue
		}
		doc.Spikes = append(doc.Spikes, SpikeMark{
			Bucket: time.Unix(det+int64(ev.Bucket)*step, 0).UTC(), At: time.Unix(at, 0).UTC(), FollowUp: ev.FollowUp,
			Articles: ev.Articles, Sources: ev.Sources, Baseline: ev.Baseline,
		})
	}
	return doc, true
}

// Routes are the HTTP routes of the series: the JSON API and a page
// with charts per topic.
func (s *Service) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /api/topics/{id}/series": http.HandlerFunc(s.apiSeries),
		"GET /topics/{id}":            http.HandlerFunc(s.page),
	}
}

func (s *Service) days(r *http.Request) (int, error) {
	maxDays := max(int(s.retention()/(24*time.Hour)), 1)
	v := r.URL.Query().Get("days")
	if v == "" {
		return min(30, maxDays), nil
	}
	d, err := strconv.Atoi(v)
	if err != nil || d < 1 || d > maxDays {
		return 0, fmt.Errorf("days must be a whole number from 1 to %d (the retention)", maxDays)
	}
	return d, nil
}

func (s *Service) apiSeries(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	days, err := s.days(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	doc, ok := s.Series(r.Context(), r.PathValue("id"), days)
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "unknown topic"})
		return
	}
	_ = json.NewEncoder(w).Encode(doc)
}

// pageData feeds templates/topic.html.
type pageData struct {
	Topic    config.Topic
	Week     template.HTML // SVG, built from numbers and escaped text only
	Month    template.HTML
	Bucket   time.Time // the hour whose articles are listed, if any
	Articles []news.SpikeArticle
	Sources  []news.SpikeSource
	Spikes   []SpikeMark
	Now      time.Time
}

func (s *Service) page(w http.ResponseWriter, r *http.Request) {
	t, ok := s.topic(r.PathValue("id"))
	if !ok {
		http.Error(w, "unknown topic", http.StatusNotFound)
		return
	}
	days := min(30, max(int(s.retention()/(24*time.Hour)), 1))
	month, _ := s.Series(r.Context(), t.ID, days)
	week := month
	if n := len(month.Points); n > 7*24 {
		week.Points = month.Points[n-7*24:]
		week.From = week.Points[0].Start
		week.Spikes = nil
		for _, sp := range month.Spikes {
			if !sp.At.Before(week.From) {
				week.Spikes = append(week.Spikes, sp)
			}
		}
	}
	d := pageData{Topic: t, Spikes: month.Spikes, Now: s.now().UTC(),
		Week:  hourlyChart(week, "Articles per hour, last 7 days"),
		Month: dailyChart(month, "Articles per day, last 30 days")}
	if v, err := strconv.ParseInt(r.URL.Query().Get("bucket"), 10, 64); err == nil {
		hour := HourOf(time.Unix(v, 0))
		h := s.mem.Get(t.ID, hour)
		d.Bucket = time.Unix(hour, 0).UTC()
		d.Articles = h.Top
		for src, n := range h.Sources {
			d.Sources = append(d.Sources, news.SpikeSource{Source: src, Articles: n})
		}
		slices.SortFunc(d.Sources, func(a, b news.SpikeSource) int {
			return cmp.Or(cmp.Compare(b.Articles, a.Articles), strings.Compare(a.Source, b.Source))
		})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := topicPage.Execute(w, d); err != nil {
		s.log.Warn("topic page", "topic", t.ID, "err", err)
	}
}
