package web

import (
	"net/http"
	"time"
)

// Fault is one problem that keeps newswatch from working or that it
// found: a failing store, data lost from it. Blocking faults fail /readyz.
type Fault struct {
	Key      string    `json:"key"`
	Kind     string    `json:"kind"` // store.error | data.lost | consumer.error | sources.failing | config.rejected
	Detail   string    `json:"detail"`
	Blocking bool      `json:"blocking"`
	Since    time.Time `json:"since"`
	Last     time.Time `json:"last"`
	Count    int64     `json:"count"`
}

// WithFaults shows the faults faults returns: /readyz fails (503) with
// the blocking ones and names the others after "ready"; the status page
// leads with them in a "problems" block; GET /api/problems lists them.
func WithFaults(faults func() []Fault) Option {
	return func(s *Server) {
		s.faults = faults
		s.handle("GET /api/problems", scrubbing(s.secretList, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"problems": nonNil(faults())})
		})))
	}
}

func nonNil(f []Fault) []Fault {
	if f == nil {
		return []Fault{}
	}
	return f
}

// readyFaults splits the faults for /readyz: the text of the blocking
// ones (empty: none) and a line per other fault.
func readyFaults(faults []Fault) (blocking string, notes []string) {
	for _, f := range faults {
		line := faultLine(f)
		if f.Blocking {
			if blocking != "" {
				blocking += "; "
			}
			blocking += line
			continue
		}
		notes = append(notes, "warning: "+line)
	}
	return blocking, notes
}

// faultLine is a fault on one line of /readyz.
func faultLine(f Fault) string {
	line := f.Key + ": " + f.Detail
	if !f.Since.IsZero() {
		line += " (since " + f.Since.UTC().Format(time.RFC3339) + ")"
	}
	return line
}
