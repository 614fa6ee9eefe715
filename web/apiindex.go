package web

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// apiDescriptions say in a line what each API route does. The index at
// GET /api lists the routes actually registered; one missing here is
// listed without words, and TestAPIIndex fails on it.
var apiDescriptions = map[string]string{
	"GET /api":                        "this index of the API's endpoints",
	"GET /api/sources":                "every source with its fetch state; ?status=, ?q=, ?page=, ?per_page= (at most 500)",
	"GET /api/topics":                 "every topic with its alerts of the last 24 hours, subscribers, feedback and learned stage",
	"GET /api/subscribers":            "every subscriber with its backlog, last delivery and state",
	"GET /api/alerts":                 "the latest alerts, newest first; ?topic=, ?limit= (at most 200), ?before=<seq>",
	"GET /api/deadletters":            "the deliveries that gave up, newest first; ?subscriber=, ?limit=, ?before=<seq>, ?full=1",
	"GET /api/feedback":               "every stored relevant / not relevant label, oldest first; ?topic=",
	"GET /api/problems":               "the faults in force: store errors, data lost, consumers missing",
	"GET /api/topics/{id}/series":     "a topic's articles and sources per hour, with its spikes; ?days=",
	"POST /api/preview":               "try a topic's query on the archived articles: matches, gained and lost, per day",
	"POST /-/reload":                  "re-read the config file, like SIGHUP; 422 with the problems when it is rejected, 500 when it is in force but a subscriber did not start",
	"POST /-/subscribers/{id}/enable": "enable a subscriber that a 410 Gone disabled",
	"POST /-/deadletters/replay":      "deliver dead letters again",
}

// endpoint is one entry of the API index.
type endpoint struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Description string `json:"description"`
}

// inAPI reports whether a route's path belongs in the index: the JSON
// API and the operator actions under /-/.
func inAPI(path string) bool {
	return path == "/api" || strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/-/")
}

// apiIndex lists the API routes registered on the server, by path.
func (s *Server) apiIndex() []endpoint {
	s.patternsMu.Lock()
	patterns := slices.Clone(s.patterns)
	s.patternsMu.Unlock()
	var out []endpoint
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "ANY", p
		}
		path = strings.TrimSuffix(path, "{$}")
		if path == "/api/" || !inAPI(path) {
			continue // "/api/" is the index under its other name
		}
		out = append(out, endpoint{Method: method, Path: path, Description: apiDescriptions[p]})
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	return slices.CompactFunc(out, func(a, b endpoint) bool { return a.Method == b.Method && a.Path == b.Path })
}

// serveAPIIndex answers GET /api and GET /api/.
func (s *Server) serveAPIIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": s.apiIndex()})
}
