package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"newswatch/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exit codes
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand; args are its positional arguments (the
// flags are listed from its flag set).
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, env *cliEnv, args []string) int
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// cliEnv is what a subcommand may touch: no globals, so tests run the CLI
// in-process.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"run", "", "run the daemon: schedule, fetch, classify and deliver until SIGINT/SIGTERM", cmdRun},
		{"once", "", "one pass: fetch every source once, classify, deliver, print a summary", cmdOnce},
		{"check", "", "validate the config and print every problem with its line", cmdCheck},
		{"sources", "", "show every source's fetch state", cmdSources},
		{"explain", "FILE|URL|-", "show why an article (text, HTML page or feed) matches each topic, or not", cmdExplain},
		{"classify", "", "tag JSON Lines articles with topics, JSON Lines out", cmdClassify},
		{"backtest", "", "run a topic over the archived articles before it goes live", cmdBacktest},
		{"feedback", "list|export|model", "list or export subscribers' relevant / not relevant labels on alerts, or show the learned stage they train", cmdFeedback},
		{"deadletters", "list|replay|drop", "inspect, re-send or drop deliveries that gave up", cmdDeadLetters},
		{"init", "", "write a commented starter config (never overwrites; -config - prints it)", cmdInit},
		{"test-delivery", "", "send a sample alert through a subscriber's real webhook or email path", cmdTestDelivery},
		{"subscribers", "enable ID", "enable a subscriber disabled by 410 Gone; its queued alerts are delivered", cmdSubscribers},
		{"version", "", "print the version", cmdVersion},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, "newswatch: missing command\n\n")
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "-version", "--version":
		return cmdVersion(ctx, env, args[1:])
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		if c, ok := lookup(args[1]); ok {
			return c.run(ctx, env, []string{"-help"})
		}
		fmt.Fprintf(stderr, "newswatch help: unknown command %q (have %s)\n", args[1], strings.Join(names(), ", "))
		return exitUsage
	}
	if c, ok := lookup(args[0]); ok {
		return c.run(ctx, env, args[1:])
	}
	fmt.Fprintf(stderr, "newswatch: unknown command %q%s (have %s)\n\n", args[0], commandHint(args[0]), strings.Join(names(), ", "))
	usage(stderr)
	return exitUsage
}

// commandAlias returns the command people mean by a name newswatch does
// not use ("status", "start"), if any.
func commandAlias(name string) (string, bool) {
	switch name {
	case "status":
		return "sources, or the status page at http.listen", true
	case "state":
		return "sources", true
	case "start", "serve", "daemon":
		return "run", true
	case "validate", "lint":
		return "check", true
	case "test":
		return "test-delivery, or explain", true
	case "replay":
		return "deadletters replay", true
	case "enable":
		return "subscribers enable", true
	}
	return "", false
}

// commandHint says which command was meant by name, if any.
func commandHint(name string) string {
	if a, ok := commandAlias(strings.ToLower(name)); ok {
		return fmt.Sprintf(": did you mean %s?", a)
	}
	if best := config.Nearest(name, names()); best != "" {
		return fmt.Sprintf(": did you mean %s?", best)
	}
	return ""
}

// unexpectedArg says that arg is not wanted by command name, with the
// flag it was probably meant for: a config file for -config, and what
// flagFor (if any) makes of it.
func unexpectedArg(w io.Writer, name, arg string, flagFor func(string) string) {
	hint := ""
	switch {
	case strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml"):
		hint = "-config " + arg
	case flagFor != nil:
		hint = flagFor(arg)
	}
	if hint != "" {
		hint = fmt.Sprintf(": did you mean newswatch %s %s?", name, hint)
	}
	fmt.Fprintf(w, "newswatch %s: unexpected argument %q%s (see newswatch help %s)\n", name, arg, hint, strings.Fields(name)[0])
}

func names() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name)
	}
	return out
}

func usage(w io.Writer) {
	fmt.Fprint(w, "newswatch watches news sources and alerts subscribers when an article matches a topic.\n\nUsage:\n  newswatch <command> [flags]\n\nCommands:\n")
	cmds := commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'newswatch help <command>' (or 'newswatch <command> -help') for a command's flags;\n'newswatch -version' prints the version.\n")
	fmt.Fprint(w, "Every command but version reads -config FILE (default config.yaml).\n\nFirst time: newswatch init && newswatch check && newswatch run, then open\nhttp://127.0.0.1:8080/ (docs/first-hour.md walks through it).\n")
}

// helpWriter sends a flag set's output to stdout when help was asked
// for (so that it can be paged), to stderr otherwise (errors).
type helpWriter struct {
	stdout, stderr io.Writer
	help           bool
}

func (h *helpWriter) Write(p []byte) (int, error) {
	if h.help {
		return h.stdout.Write(p)
	}
	return h.stderr.Write(p)
}

// newFlags returns a flag set with the shared -config flag and a usage
// text for the command: its summary, a usage line naming every flag, and
// each flag's description.
func newFlags(env *cliEnv, name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(&helpWriter{stdout: env.stdout, stderr: env.stderr})
	cfgPath := fs.String("config", "config.yaml", "path of the config `FILE`")
	fs.Usage = func() {
		c, _ := lookup(name)
		fmt.Fprintf(fs.Output(), "Usage: newswatch %s\n\n%s\n\nFlags:\n", strings.TrimSpace(name+" "+flagList(fs)+" "+c.args), c.summary)
		fs.PrintDefaults()
		if c.name == "classify" {
			fmt.Fprint(fs.Output(), classifyHelp)
		}
	}
	return fs, cfgPath
}

// flagList is every flag of fs as a usage line shows it: [-json] [-in FILE].
func flagList(fs *flag.FlagSet) string {
	var parts []string
	fs.VisitAll(func(f *flag.Flag) {
		arg, _ := flag.UnquoteUsage(f)
		switch arg {
		case "":
			parts = append(parts, "[-"+f.Name+"]")
		case "duration":
			parts = append(parts, "[-"+f.Name+" D]")
		case "int", "uint":
			parts = append(parts, "[-"+f.Name+" N]")
		case "string", "value":
			parts = append(parts, "[-"+f.Name+" VALUE]")
		default:
			parts = append(parts, "[-"+f.Name+" "+arg+"]")
		}
	})
	return strings.Join(parts, " ")
}

// wantsHelp reports whether args ask for help among the flags.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch {
		case a == "-h" || a == "-help" || a == "--h" || a == "--help":
			return true
		case a == "--" || !strings.HasPrefix(a, "-"):
			return false
		}
	}
	return false
}

// parseFlags parses args; it returns the exit code to return, if any. A
// command without positional arguments refuses any, saying so.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if hw, ok := fs.Output().(*helpWriter); ok {
		hw.help = wantsHelp(args)
	}
	// Duration flags say how to write one, not "parse error"; the usage
	// printed on an error shows them as the flag package does.
	usage := fs.Usage
	unwrap := func() {
		fs.VisitAll(func(f *flag.Flag) {
			if d, ok := f.Value.(durationArg); ok {
				f.Value = d.Value
			}
		})
	}
	fs.VisitAll(func(f *flag.Flag) {
		if g, ok := f.Value.(flag.Getter); ok {
			if _, ok := g.Get().(time.Duration); ok {
				f.Value = durationArg{f.Value}
			}
		}
	})
	fs.Usage = func() { unwrap(); usage() }
	defer func() { unwrap(); fs.Usage = usage }()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if c, ok := lookup(fs.Name()); ok && c.args == "" && fs.NArg() > 0 {
		hint := ""
		if a := fs.Arg(0); strings.HasSuffix(a, ".yaml") || strings.HasSuffix(a, ".yml") {
			hint = fmt.Sprintf(": did you mean newswatch %s -config %s?", fs.Name(), a)
		}
		fmt.Fprintf(fs.Output(), "newswatch %s: unexpected argument %q%s (it takes flags only, and they go before any argument; see newswatch help %s)\n", fs.Name(), fs.Arg(0), hint, fs.Name())
		return exitUsage, true
	}
	return 0, false
}

// durationArg is a duration flag whose error says how to write one.
type durationArg struct{ flag.Value }

func (d durationArg) Set(s string) error {
	if err := d.Value.Set(s); err != nil {
		return errors.New("not a duration: write a number with a unit, e.g. 30s, 2m or 1h")
	}
	return nil
}

// loadConfig loads the config or prints its problems.
func loadConfig(env *cliEnv, path string) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err != nil {
		printProblems(env.stderr, path, err)
		return nil, false
	}
	return cfg, true
}

func printProblems(w io.Writer, path string, err error) {
	var ps config.Problems
	if !errors.As(err, &ps) {
		fmt.Fprintf(w, "newswatch: %v\n", err)
		return
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	for _, p := range ps {
		loc := path
		if p.Line > 0 {
			loc = fmt.Sprintf("%s:%d", path, p.Line)
		}
		msg := p.Msg
		if p.Column > 0 {
			msg = fmt.Sprintf("column %d: %s", p.Column, msg)
		}
		if p.Path != "" {
			msg = p.Path + ": " + msg
		}
		fmt.Fprintf(w, "%s: %s\n", loc, msg)
		if p.Excerpt != "" {
			fmt.Fprintln(w, p.Excerpt)
		}
	}
	fmt.Fprintf(w, "%d problem%s in %s\n", len(ps), plural(len(ps)), path)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdVersion(_ context.Context, env *cliEnv, args []string) int {
	fmt.Fprintf(env.stdout, "newswatch %s\n", version)
	return exitOK
}
