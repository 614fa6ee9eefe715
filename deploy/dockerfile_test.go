package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comments inside a continued instruction are dropped
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		full := cur.String()
		cur.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	return out
}

// checkDockerfile checks a multi-stage build of a static binary that runs
// as a non-root user on a small, tag-pinned base.
func checkDockerfile(text string) problems {
	var ps problems
	type stage struct {
		image, name string
		ins         []instruction
	}
	var stages []*stage
	for _, in := range parseDockerfile(text) {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			var s stage
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					s.name = f[i+1]
					i++
				default:
					s.image = f[i]
				}
			}
			stages = append(stages, &s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				ps.addf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	if len(stages) < 2 {
		ps.addf("want a multi-stage build (at least 2 FROM), got %d", len(stages))
		if len(stages) == 0 {
			return ps
		}
	}
	names := map[string]bool{}
	for _, s := range stages {
		if s.name != "" {
			names[s.name] = true
		}
	}
	for _, s := range stages {
		if names[s.image] || s.image == "scratch" {
			continue
		}
		tag := imageTag(s.image)
		if !strings.Contains(s.image, "@sha256:") && (tag == "" || tag == "latest") {
			ps.addf("base image %q is not pinned by tag or digest", s.image)
		}
	}

	build := stages[0]
	if imageRepo(build.image) != "golang" || !strings.HasPrefix(imageTag(build.image), "1.26") {
		ps.addf("build stage uses %q, want golang:1.26", build.image)
	}
	cgoOff, built := false, false
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.ins {
			if (in.cmd == "ENV" || in.cmd == "RUN") && strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				built = true
				for _, want := range []string{"./cmd/newswatch", "-trimpath", "-o /newswatch"} {
					if !strings.Contains(in.args, want) {
						ps.addf("line %d: go build lacks %q", in.line, want)
					}
				}
			}
		}
	}
	if !cgoOff {
		ps.addf("no CGO_ENABLED=0 in a build stage: the binary would not be static")
	}
	if !built {
		ps.addf("no RUN go build in a build stage")
	}

	final := stages[len(stages)-1]
	if names[final.image] {
		ps.addf("final stage builds FROM the build stage %q", final.image)
	}
	if strings.HasPrefix(imageRepo(final.image), "golang") {
		ps.addf("final stage %q is the Go toolchain image, not a small base", final.image)
	}
	user, copied, entry, exposed := "", false, "", false
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "COPY":
			if strings.Contains(in.args, "--from=") && strings.Contains(in.args, "/newswatch /newswatch") {
				copied = true
			}
		case "ENTRYPOINT":
			entry = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				if strings.TrimSuffix(p, "/tcp") == "8080" {
					exposed = true
				}
			}
		case "RUN":
			ps.addf("line %d: RUN in the final stage (the base has no shell)", in.line)
		}
	}
	u, _, _ := strings.Cut(user, ":")
	switch u {
	case "":
		ps.addf("final stage has no USER: it would run as root")
	case "root", "0":
		ps.addf("final stage runs as USER %q", user)
	}
	if !copied {
		ps.addf("final stage does not COPY --from the build stage's /newswatch")
	}
	if !strings.Contains(entry, `"/newswatch"`) {
		ps.addf("ENTRYPOINT %q does not run /newswatch", entry)
	}
	if !exposed {
		ps.addf("final stage does not EXPOSE 8080")
	}
	return ps
}

// checkDockerignore checks the ignore file keeps the repository's history
// and build output out of the context but keeps what the build needs.
func checkDockerignore(text string) problems {
	var ps problems
	pats := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			pats[strings.TrimPrefix(l, "/")] = true
		}
	}
	if !pats[".git"] {
		ps.addf("dockerignore does not exclude .git")
	}
	for p := range pats {
		for _, need := range []string{"go.mod", "go.sum", "cmd", "cmd/newswatch", "*", "**", "*.go", "**/*.go"} {
			if p == need {
				ps.addf("dockerignore excludes %q, which the build needs", p)
			}
		}
	}
	return ps
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDockerfile(t *testing.T) {
	text := readFile(t, "docker/Dockerfile")
	expectClean(t, checkDockerfile(text))
	expectClean(t, checkDockerignore(readFile(t, "docker/Dockerfile.dockerignore")))

	// The build context is the repository root: what the Dockerfile
	// copies from it must be there.
	for _, f := range []string{"../go.mod", "../go.sum"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("build context lacks %s", filepath.Base(f))
		}
	}
}

func TestDockerfileChecksCanFail(t *testing.T) {
	text := readFile(t, "docker/Dockerfile")
	cases := []struct{ name, old, new, want string }{
		{"root user", "USER 65532:65532", "USER root", `runs as USER "root"`},
		{"no user", "USER 65532:65532", "", "has no USER"},
		{"cgo", "CGO_ENABLED=0", "CGO_ENABLED=1", "CGO_ENABLED=0"},
		{"single stage", "FROM gcr.io/distroless/static-debian12:nonroot", "", "multi-stage"},
		{"unpinned base", "gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12", "not pinned"},
		{"old go", "golang:1.26", "golang:1.22", "want golang:1.26"},
		{"no port", "EXPOSE 8080", "EXPOSE 9090", "EXPOSE 8080"},
		{"wrong package", "./cmd/newswatch", "./cmd/other", `lacks "./cmd/newswatch"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.old) {
				t.Fatalf("Dockerfile does not contain %q", c.old)
			}
			expectProblem(t, checkDockerfile(strings.ReplaceAll(text, c.old, c.new)), c.want)
		})
	}
	expectProblem(t, checkDockerignore("go.mod\n"), ".git")
	expectProblem(t, checkDockerignore(".git\n/go.sum\n"), "go.sum")
}
