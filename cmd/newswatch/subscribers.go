package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/notifier"
)

const subscribersHelp = `Usage: newswatch subscribers enable [-config FILE] ID

A webhook receiver that answers 410 Gone disables its subscriber: its
alerts, the one that got the 410 included, stay queued and nothing is sent
to it, by this or any other process, until it is enabled again. That
happens when the subscriber's config changes (e.g. a new url) and the
config is reloaded or the daemon restarted, or with this command:

  enable   enable subscriber ID; a running daemon resumes its deliveries
           within seconds, starting with the alert that got the 410

`

// cmdSubscribers acts on subscribers' delivery state.
func cmdSubscribers(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) > 0 && wantsHelp(args[:1]) {
		args = append([]string{"enable"}, args...)
	}
	if len(args) == 0 || args[0] != "enable" {
		switch {
		case len(args) == 0:
			fmt.Fprint(env.stderr, "newswatch subscribers: missing action: enable\n\n")
		case args[0] == "list" || args[0] == "status" || args[0] == "show":
			// The one action is enable; where subscribers are listed is
			// what was asked.
			fmt.Fprintf(env.stderr, "newswatch subscribers: unknown action %q: each subscriber's backlog, last delivery and state are on the status page and in /api/subscribers at http.listen\n\n", args[0])
		default:
			fmt.Fprintf(env.stderr, "newswatch subscribers: unknown action %q (the one action is enable)\n\n", args[0])
		}
		fmt.Fprint(env.stderr, subscribersHelp)
		return exitUsage
	}
	fs, cfgPath := newFlags(env, "subscribers enable")
	fs.Usage = func() { fmt.Fprint(fs.Output(), subscribersHelp+"Flags:\n"); fs.PrintDefaults() }
	if code, done := parseFlags(fs, args[1:]); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "newswatch subscribers enable: give one subscriber id")
		return exitUsage
	}
	id := fs.Arg(0)
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	if !slices.ContainsFunc(cfg.Subscribers, func(s config.Subscriber) bool { return s.ID == id }) {
		fmt.Fprintf(env.stderr, "newswatch subscribers enable: no subscriber %q in %s\n", id, *cfgPath)
		return exitFailure
	}
	b, api, ok := openInspect(ctx, env, cfg, "subscribers enable")
	if !ok {
		return exitFailure
	}
	var res enableResult
	var err error
	if api != nil {
		// The daemon holds data_dir: it enables the subscriber itself.
		err = api.post(ctx, "/-/subscribers/"+url.PathEscape(id)+"/enable", &res)
	} else {
		defer b.Close()
		res, err = enableSubscriber(ctx, b, id)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch subscribers enable: %v\n", err)
		return exitFailure
	}
	if !res.WasDisabled {
		fmt.Fprintf(env.stdout, "subscriber %s is not disabled\n", id)
		return exitOK
	}
	dis := res.Disabled
	fmt.Fprintf(env.stdout, "enabled subscriber %s (disabled since %s: %s); its queued alerts will be delivered\n",
		id, dis.At.Format("2006-01-02 15:04:05 MST"), dis.Reason)
	return exitOK
}

// enableResult is what enabling a subscriber found and did; the daemon's
// POST /-/subscribers/{id}/enable answers it as JSON.
type enableResult struct {
	WasDisabled bool                   `json:"was_disabled"`
	Disabled    notifier.DisabledState `json:"disabled"`
}

func enableSubscriber(ctx context.Context, b *bus.Bus, id string) (enableResult, error) {
	dis, err := notifier.Disabled(ctx, b, id)
	if err != nil || dis == nil {
		return enableResult{}, err
	}
	if _, err := notifier.Enable(ctx, b, id); err != nil {
		return enableResult{}, err
	}
	return enableResult{WasDisabled: true, Disabled: *dis}, nil
}

// enableRoutes serves POST /-/subscribers/{id}/enable, so that
// `newswatch subscribers enable` reaches a daemon that holds data_dir.
func enableRoutes(b *bus.Bus, subscribers func() []config.Subscriber) map[string]http.Handler {
	return map[string]http.Handler{
		"POST /-/subscribers/{id}/enable": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			w.Header().Set("Content-Type", "application/json")
			if !slices.ContainsFunc(subscribers(), func(s config.Subscriber) bool { return s.ID == id }) {
				w.WriteHeader(http.StatusNotFound)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("no subscriber %q in the config", id)})
				return
			}
			res, err := enableSubscriber(r.Context(), b, id)
			if err != nil {
				w.WriteHeader(http.StatusInternalServerError)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
				return
			}
			_ = json.NewEncoder(w).Encode(res)
		}),
	}
}
