package harness

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// WriteConfig writes cfg as dir/config.yaml and returns its path.
func WriteConfig(t testing.TB, dir string, cfg map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// RepoTopics are the topics of the repository's config.yaml (at path), as
// YAML values to put in a test's config: tests run the defaults operators
// get.
func RepoTopics(t testing.TB, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Topics []map[string]any `yaml:"topics"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Topics) == 0 {
		t.Fatalf("%s has no topics", path)
	}
	return doc.Topics
}
