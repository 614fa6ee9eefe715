package notifier

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeVerifier is run by node: it verifies each case with the official
// Standard Webhooks JavaScript library and prints one result per case.
const nodeVerifier = `
const { Webhook } = require("standardwebhooks");
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map(c => {
  try {
    new Webhook(c.secret, c.raw ? { format: "raw" } : undefined)
      .verify(Buffer.from(c.body, "base64"), c.headers);
    return "ok";
  } catch (e) {
    return "fail: " + e.message;
  }
});
console.log(JSON.stringify(out));
`

// TestSignatureVerifiesWithNodeLibrary checks real deliveries with the
// official JavaScript implementation (npm standardwebhooks). It needs node
// and the package: set STANDARDWEBHOOKS_NODE_MODULES to a node_modules
// directory holding it (npm install standardwebhooks). It skips without
// them, except under CI (.ci/run installs both), where it fails.
func TestSignatureVerifiesWithNodeLibrary(t *testing.T) {
	missing := t.Skipf
	if os.Getenv("CI") != "" {
		missing = t.Fatalf
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("SKIPPED: node not installed; the signature is not checked against the official library")
	}
	mods := os.Getenv("STANDARDWEBHOOKS_NODE_MODULES")
	if mods == "" {
		missing("SKIPPED: STANDARDWEBHOOKS_NODE_MODULES not set; the signature is not checked against the official library")
	}
	if _, err := os.Stat(filepath.Join(mods, "standardwebhooks")); err != nil {
		missing("SKIPPED: standardwebhooks not in %s", mods)
	}

	srv, got := receiver(t, nil)
	sub := testWebhookSub(srv.URL)
	w, err := NewWebhook(sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	c := <-got
	headers := map[string]string{}
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		headers[k] = c.header.Get(k)
	}
	type tc struct {
		Secret  string            `json:"secret"`
		Raw     bool              `json:"raw"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	b64 := base64.StdEncoding.EncodeToString
	cases := []tc{
		{sub.Secret, false, headers, b64(c.body)},                                        // whsec_ secret
		{sub.Secrets[0], true, headers, b64(c.body)},                                     // raw rotation secret
		{sub.Secret, false, headers, b64(append(bytes.Clone(c.body), ' '))},              // tampered body
		{"whsec_" + b64([]byte("another secret entirely")), false, headers, b64(c.body)}, // wrong secret
	}
	want := []string{"ok", "ok", "fail", "fail"}
	in, _ := json.Marshal(cases)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", nodeVerifier)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var res []string
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(want) {
		t.Fatalf("node output %q: %v", out, err)
	}
	for i := range want {
		if !strings.HasPrefix(res[i], want[i]) {
			t.Errorf("case %d: standardwebhooks says %q, want %s", i, res[i], want[i])
		}
	}
}
