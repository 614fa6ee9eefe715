// Package feedback records what subscribers say about their alerts:
// "relevant" or "not relevant". Every delivered alert carries two signed
// links; the signature binds the alert id, the subscriber and the label,
// so a link cannot be altered to judge another alert, for another
// subscriber, or the other way. Links work without login: a GET shows a
// confirmation page (mail scanners fetch every link) and only its POST
// records the label. Labels are kept in a JetStream KV bucket, one entry
// per (alert, subscriber); a repeated POST changes nothing.
package feedback

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"newswatch/bus"
	"newswatch/news"
)

// Labels.
const (
	Relevant    = "relevant"
	NotRelevant = "not_relevant"
)

// Path is where the links point, under http.public_url; it is served
// without http.auth (each request carries its own signature).
const Path = "/feedback/"

// keyName is the store entry holding the generated signing key.
const keyName = "feedback-key"

// ValidLabel reports whether l is a label.
func ValidLabel(l string) bool { return l == Relevant || l == NotRelevant }

// Signer makes and checks feedback links. A Signer without a base URL
// checks signatures but makes no links.
type Signer struct {
	key  []byte
	base string // public URL without a trailing slash; "" makes no links
}

// NewSigner returns a signer with key, making links under publicURL.
func NewSigner(key []byte, publicURL string) *Signer {
	return &Signer{key: append([]byte(nil), key...), base: strings.TrimRight(publicURL, "/")}
}

// WithBase is a signer with the same key making links under publicURL.
func (s *Signer) WithBase(publicURL string) *Signer { return NewSigner(s.key, publicURL) }

// LoadKey returns the signing key: secret when set, else the random key
// kept in store, made by the first process to ask (Create is atomic, so
// replicas starting together agree on one).
func LoadKey(ctx context.Context, store bus.KV, secret string) ([]byte, error) {
	if secret != "" {
		return []byte(secret), nil
	}
	if store == nil {
		return nil, errors.New("feedback key: no store bucket")
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("feedback key: %w", err)
	}
	if _, err := store.Create(ctx, keyName, fresh); err != nil && !errors.Is(err, bus.ErrKeyExists) {
		return nil, fmt.Errorf("feedback key: %w", err)
	}
	e, err := store.Get(ctx, keyName)
	if err != nil {
		return nil, fmt.Errorf("feedback key: %w", err)
	}
	return e.Value, nil
}

// Sign is the signature of (alert, subscriber, label): base64url of an
// HMAC-SHA256 over the three, each length-prefixed so that no two
// triples share an input.
func (s *Signer) Sign(alertID, sub, label string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("newswatch-feedback-v1"))
	for _, f := range []string{alertID, sub, label} {
		m.Write([]byte(strconv.Itoa(len(f)) + ":"))
		m.Write([]byte(f))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is the signature of (alert, subscriber,
// label), in constant time.
func (s *Signer) Verify(alertID, sub, label, sig string) bool {
	want := s.Sign(alertID, sub, label)
	return hmac.Equal([]byte(want), []byte(sig))
}

// Enabled reports whether the signer makes links (http.public_url set).
func (s *Signer) Enabled() bool { return s != nil && s.base != "" }

// URL is the link that records label for the alert and subscriber. The
// alert's creation time rides along unsigned as a hint to find the alert
// in the stream; the handler checks that what it finds has the signed id.
func (s *Signer) URL(alertID, sub, label string, created time.Time) string {
	return s.url(s.base, alertID, sub, label, created)
}

func (s *Signer) url(base, alertID, sub, label string, created time.Time) string {
	v := url.Values{}
	v.Set("a", alertID)
	v.Set("s", sub)
	v.Set("l", label)
	if !created.IsZero() {
		v.Set("t", strconv.FormatInt(created.Unix(), 10))
	}
	v.Set("sig", s.Sign(alertID, sub, label))
	return base + Path + "?" + v.Encode()
}

// Links are the two links of alert a for subscriber sub; nil when the
// signer makes no links.
func (s *Signer) Links(a *news.Alert, sub string) *news.FeedbackLinks {
	if !s.Enabled() {
		return nil
	}
	return s.linksAt(s.base, a.ID, sub, a.Created)
}

// PageLinks are the links as paths on this server ("/feedback/?…"), for
// the status page's buttons: they need no public URL.
func (s *Signer) PageLinks(alertID, sub string, created time.Time) *news.FeedbackLinks {
	if s == nil {
		return nil
	}
	return s.linksAt("", alertID, sub, created)
}

func (s *Signer) linksAt(base, alertID, sub string, created time.Time) *news.FeedbackLinks {
	return &news.FeedbackLinks{
		Relevant:    s.url(base, alertID, sub, Relevant, created),
		NotRelevant: s.url(base, alertID, sub, NotRelevant, created),
	}
}

// Article is the part of an article feedback keeps: the fields of
// `newswatch classify` input.
type Article struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Summary    string   `json:"summary,omitempty"`
	Content    string   `json:"content,omitempty"`
	Categories []string `json:"categories,omitempty"`
	URL        string   `json:"url,omitempty"`
	Source     string   `json:"source,omitempty"`
}

// ArticleOf keeps the classify fields of a.
func ArticleOf(a *news.Article) *Article {
	return &Article{ID: a.ID, Title: a.Title, Summary: a.Summary, Content: a.Content,
		Categories: a.Categories, URL: a.URL, Source: a.Source}
}

// News is the article as the classifier reads it.
func (a *Article) News() news.Article {
	return news.Article{V: news.Version, ID: a.ID, Title: a.Title, Summary: a.Summary, Content: a.Content,
		Categories: a.Categories, URL: a.URL, Source: a.Source}
}

// Record is one subscriber's label on one alert.
type Record struct {
	V          int       `json:"v"`
	AlertID    string    `json:"alert_id"`
	Topic      string    `json:"topic"`
	ArticleID  string    `json:"article_id"`
	Subscriber string    `json:"subscriber"`
	Label      string    `json:"label"`
	At         time.Time `json:"at"`
	// Article is nil when the alert had left the stream before the
	// label came.
	Article *Article `json:"article,omitempty"`
}

// SplitAlertID cuts an alert id "<topic>:<article id>".
func SplitAlertID(id string) (topic, article string, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 || i == len(id)-1 {
		return "", "", false
	}
	return id[:i], id[i+1:], true
}

// Store keeps records in a KV bucket.
type Store struct {
	kv bus.KV
}

// NewStore uses bucket kv.
func NewStore(kv bus.KV) *Store { return &Store{kv: kv} }

// Key is the bucket key of (alert, subscriber): a digest, since alert
// and subscriber ids may hold characters KV keys do not allow.
func Key(alertID, sub string) string {
	h := sha256.Sum256([]byte(alertID + "\x00" + sub))
	return hex.EncodeToString(h[:16])
}

// Put stores r. It is idempotent: when the entry already holds the same
// label nothing is written and changed is false; another label replaces
// the first (a subscriber may change their mind).
func (s *Store) Put(ctx context.Context, r Record) (changed bool, err error) {
	if !ValidLabel(r.Label) {
		return false, fmt.Errorf("feedback: unknown label %q", r.Label)
	}
	k := Key(r.AlertID, r.Subscriber)
	if e, err := s.kv.Get(ctx, k); err == nil {
		var old Record
		if json.Unmarshal(e.Value, &old) == nil && old.Label == r.Label {
			return false, nil
		}
		if r.Article == nil {
			r.Article = old.Article
		}
	} else if !errors.Is(err, bus.ErrKeyNotFound) {
		return false, fmt.Errorf("feedback: read %s: %w", r.AlertID, err)
	}
	r.V = news.Version
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if _, err := s.kv.Put(ctx, k, b); err != nil {
		return false, fmt.Errorf("feedback: store %s: %w", r.AlertID, err)
	}
	return true, nil
}

// Get returns the record of (alert, subscriber).
func (s *Store) Get(ctx context.Context, alertID, sub string) (Record, bool, error) {
	e, err := s.kv.Get(ctx, Key(alertID, sub))
	if errors.Is(err, bus.ErrKeyNotFound) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	var r Record
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return Record{}, false, fmt.Errorf("feedback: record %s: %w", e.Key, err)
	}
	return r, true, nil
}

// List returns every record, oldest first; records that do not decode
// are skipped and counted in bad. One watcher streams the whole bucket,
// rather than one request per key.
func (s *Store) List(ctx context.Context) (out []Record, bad int, err error) {
	es, err := s.kv.Values(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("feedback: list: %w", err)
	}
	for _, e := range es {
		var r Record
		if json.Unmarshal(e.Value, &r) != nil || !ValidLabel(r.Label) {
			bad++
			continue
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].AlertID+out[i].Subscriber < out[j].AlertID+out[j].Subscriber
	})
	return out, bad, nil
}

// Counts are a topic's labels.
type Counts struct {
	Relevant    int `json:"relevant"`
	NotRelevant int `json:"not_relevant"`
}

// CountByTopic counts records per topic.
func CountByTopic(rs []Record) map[string]Counts {
	out := map[string]Counts{}
	for _, r := range rs {
		c := out[r.Topic]
		if r.Label == Relevant {
			c.Relevant++
		} else {
			c.NotRelevant++
		}
		out[r.Topic] = c
	}
	return out
}

// ExportLine is one line of `newswatch feedback export`: the input shape
// of `newswatch classify` plus the topic and the label.
type ExportLine struct {
	Article
	Topic string `json:"topic"`
	Label string `json:"label"`
}

// Export is the export line of r.
func Export(r Record) ExportLine {
	l := ExportLine{Topic: r.Topic, Label: r.Label}
	if r.Article != nil {
		l.Article = *r.Article
	}
	l.ID = r.ArticleID
	return l
}

// Labels folds records into one label per (topic, article): the latest
// wins when subscribers disagree, so each article counts once.
func Labels(rs []Record, topic string) []Record {
	latest := map[string]Record{}
	var order []string
	for _, r := range rs {
		if topic != "" && r.Topic != topic {
			continue
		}
		k := r.Topic + "\x00" + r.ArticleID
		old, ok := latest[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || !r.At.Before(old.At) {
			if r.Article == nil && ok {
				r.Article = old.Article
			}
			latest[k] = r
		}
	}
	out := make([]Record, 0, len(order))
	for _, k := range order {
		out = append(out, latest[k])
	}
	return out
}
