package feedback

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"newswatch/news"
)

// Finder looks an alert up by id; created is a hint (zero: unknown).
type Finder func(ctx context.Context, id string, created time.Time) (*news.Alert, error)

// Handler serves Path: GET shows a confirmation page with a button, POST
// records the label. Neither needs a login: the signature is the
// credential, and it only ever allows the one label on the one alert for
// the one subscriber it was made for.
type Handler struct {
	Signer func() *Signer // the signer in force (a reload may change it)
	Store  *Store
	Find   Finder // may be nil: labels are then kept without the article
	Log    *slog.Logger
	Now    func() time.Time
}

// maxForm caps a POST body: the form holds five short fields.
const maxForm = 8 << 10

var pageTmpl = template.Must(template.New("feedback").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>newswatch feedback</title></head>
<body style="font-family: sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4;">
<h1 style="font-size: 1.3rem;">newswatch feedback</h1>
{{if .Error}}<p id="error" style="color: #a00;">{{.Error}}</p>
{{else if .Done}}<p id="done">Recorded: this alert is <strong>{{.LabelText}}</strong> for topic <strong>{{.Topic}}</strong>. Thank you.</p>
{{else}}<p>Mark alert <code>{{.AlertID}}</code> (topic <strong>{{.Topic}}</strong>) as <strong>{{.LabelText}}</strong>?</p>
{{with .Current}}<p>Already recorded: {{.}}.</p>{{end}}
<form method="post" action="./"><input type="hidden" name="a" value="{{.AlertID}}"><input type="hidden" name="s" value="{{.Sub}}"><input type="hidden" name="l" value="{{.Label}}"><input type="hidden" name="t" value="{{.T}}"><input type="hidden" name="sig" value="{{.Sig}}">
<button type="submit" id="confirm" style="font-size: 1.1rem; padding: .4rem 1rem;">Yes, {{.LabelText}}</button></form>
{{end}}</body></html>
`))

type pageData struct {
	AlertID, Topic, Sub, Label, LabelText, T, Sig string
	Current, Error                                string
	Done                                          bool
}

func labelText(l string) string {
	if l == NotRelevant {
		return "not relevant"
	}
	return l
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Robots-Tag", "noindex")
	var v map[string][]string
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		v = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			h.render(w, http.StatusBadRequest, pageData{Error: "The form could not be read."})
			return
		}
		// Body fields first, then the query: the status page's buttons
		// post to the signed link itself.
		v = r.Form
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	get := func(k string) string {
		if len(v[k]) == 0 {
			return ""
		}
		return v[k][0]
	}
	d := pageData{AlertID: get("a"), Sub: get("s"), Label: get("l"), T: get("t"), Sig: get("sig")}
	d.LabelText = labelText(d.Label)
	topic, article, ok := SplitAlertID(d.AlertID)
	d.Topic = topic
	s := h.Signer()
	if !ok || d.Sub == "" || !ValidLabel(d.Label) || s == nil || !s.Verify(d.AlertID, d.Sub, d.Label, d.Sig) {
		h.render(w, http.StatusForbidden, pageData{Error: "This feedback link is not valid (it may have been cut or altered)."})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if r.Method != http.MethodPost {
		// Only shows: mail scanners and link previews fetch every URL.
		if rec, found, err := h.Store.Get(ctx, d.AlertID, d.Sub); err == nil && found {
			d.Current = labelText(rec.Label)
		}
		h.render(w, http.StatusOK, d)
		return
	}
	var created time.Time
	if n, err := strconv.ParseInt(d.T, 10, 64); err == nil && n > 0 {
		created = time.Unix(n, 0)
	}
	rec := Record{AlertID: d.AlertID, Topic: topic, ArticleID: article, Subscriber: d.Sub, Label: d.Label, At: h.now()}
	if old, found, err := h.Store.Get(ctx, d.AlertID, d.Sub); err == nil && found && old.Label == d.Label {
		// Idempotent: the same click again changes nothing.
		d.Done = true
		h.render(w, http.StatusOK, d)
		return
	} else if err == nil && found && old.Article != nil {
		rec.Article = old.Article
	}
	if rec.Article == nil && h.Find != nil {
		fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
		a, err := h.Find(fctx, d.AlertID, created)
		fcancel()
		switch {
		case err == nil:
			rec.Article = ArticleOf(&a.Article)
		case errors.Is(err, ErrNotFound):
			h.log().Info("feedback: alert no longer in the stream; label kept without the article", "alert", d.AlertID)
		default:
			h.log().Warn("feedback: look up alert; label kept without the article", "alert", d.AlertID, "err", err)
		}
	}
	if _, err := h.Store.Put(ctx, rec); err != nil {
		h.log().Error("feedback: store label", "alert", d.AlertID, "err", err)
		h.render(w, http.StatusServiceUnavailable, pageData{Error: "The label could not be stored; please try again later."})
		return
	}
	h.log().Info("feedback recorded", "alert", d.AlertID, "subscriber", d.Sub, "label", d.Label)
	d.Done = true
	h.render(w, http.StatusOK, d)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) render(w http.ResponseWriter, code int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = pageTmpl.Execute(w, d)
}
