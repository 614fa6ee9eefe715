package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"newswatch/news"
)

const schemaFile = "../docs/alert.schema.json"

func compileSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat() // date-time must really be one
	if err := c.AddResource("alert.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("alert.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s, doc.(map[string]any)
}

// undeclared returns the paths of keys in v that the schema does not
// declare: the schema allows unknown keys (receivers must be able to
// validate newer payloads), so this is what keeps it complete.
func undeclared(schema map[string]any, v any, path string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for k, child := range v {
			sub, ok := props[k].(map[string]any)
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, undeclared(sub, child, path+"."+k)...)
		}
	case []any:
		items, _ := schema["items"].(map[string]any)
		for _, child := range v {
			if items != nil {
				out = append(out, undeclared(items, child, path+"[]")...)
			}
		}
	}
	return out
}

// deliveredBody posts a through a real Webhook and returns the body the
// receiver got.
func deliveredBody(t *testing.T, a *news.Alert) []byte {
	t.Helper()
	srv, got := receiver(t, nil)
	w, err := NewWebhook(testWebhookSub(srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return (<-got).body
}

func TestPayloadMatchesSchema(t *testing.T) {
	schema, doc := compileSchema(t)

	minimal := &news.Alert{
		ID: "us-china:abc", Topic: "us-china", Score: 1,
		Article: news.Article{ID: "abc", Source: "s", URL: "https://example.org/x", Title: "", Fetched: time.Now()},
		Created: time.Now(),
	}
	hostile := sampleAlert()
	hostile.Article.Title = "\"quotes\" <b>tags</b>\u2028\x00 日本語"
	hostile.Article.SummaryHTML = "<script>alert(1)</script>"
	hostile.Article.Updated = time.Now()

	two := sampleAlert()
	two.Topics = []news.AlertTopic{
		{ID: "fentanyl", Name: "Fentanyl and synthetic opioids", Score: 4.5, Matches: two.Matches},
		{ID: "us-china", Score: 2, Matches: []news.Match{{Term: "china", Field: "title", Count: 1}}},
	}
	linked := sampleAlert()
	linked.Feedback = &news.FeedbackLinks{Relevant: "https://nw.example.org/feedback/?a=x&l=relevant", NotRelevant: "https://nw.example.org/feedback/?a=x&l=not_relevant"}
	for name, a := range map[string]*news.Alert{"full": sampleAlert(), "minimal": minimal, "hostile": hostile, "two topics": two, "feedback": linked} {
		t.Run(name, func(t *testing.T) {
			body := deliveredBody(t, a)
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Fatalf("payload does not match %s: %v\n%s", schemaFile, err, body)
			}
			if u := undeclared(doc, inst, ""); len(u) > 0 {
				t.Fatalf("payload keys not declared in %s: %v", schemaFile, u)
			}
		})
	}

	// The schema rejects what it should, or the checks above prove nothing.
	body := deliveredBody(t, sampleAlert())
	for name, mutate := range map[string]func(m map[string]any){
		"no id":            func(m map[string]any) { delete(m, "id") },
		"version 2":        func(m map[string]any) { m["v"] = 2 },
		"bad created":      func(m map[string]any) { m["created"] = "yesterday" },
		"article no title": func(m map[string]any) { delete(m["article"].(map[string]any), "title") },
		"match count 0":    func(m map[string]any) { m["matches"].([]any)[0].(map[string]any)["count"] = 0 },
		"other type":       func(m map[string]any) { m["type"] = "alert.deleted" },
		"topic without id": func(m map[string]any) { delete(m["topics"].([]any)[0].(map[string]any), "id") },
		"empty topics":     func(m map[string]any) { m["topics"] = []any{} },
	} {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, _ := json.Marshal(m)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := schema.Validate(inst); err == nil {
			t.Errorf("%s: schema accepted an invalid payload", name)
		}
	}
}
