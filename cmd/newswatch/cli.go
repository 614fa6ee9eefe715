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

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv is what a subcommand may touch: no globals, so tests run the CLI
// in-process.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"run", "[-config FILE] [-roles LIST]", "run the daemon: schedule, fetch, classify and deliver until SIGINT/SIGTERM", cmdRun},
		{"once", "[-config FILE] [-timeout D]", "one pass: fetch every source once, classify, deliver, print a summary", cmdOnce},
		{"check", "[-config FILE]", "validate the config and print every problem with its line", cmdCheck},
		{"sources", "[-config FILE] [-json]", "show every source's fetch state", cmdSources},
		{"explain", "[-config FILE] [-topic ID] [-json] FILE|URL|-", "show why an article (text, HTML page or feed) matches each topic, or not", cmdExplain},
		{"classify", "[-config FILE] [-in FILE]", "tag JSON Lines articles with topics, JSON Lines out", cmdClassify},
		{"backtest", "[-config FILE] -topic ID [-query Q]", "run a topic over the archived articles before it goes live", cmdBacktest},
		{"deadletters", "list|replay|drop [-config FILE] [-subscriber ID]", "inspect, re-send or drop deliveries that gave up", cmdDeadLetters},
		{"init", "[-config FILE]", "write a commented starter config (never overwrites; -config - prints it)", cmdInit},
		{"test-delivery", "[-config FILE] -subscriber ID [-topic ID]", "send a sample alert through a subscriber's real webhook or email path", cmdTestDelivery},
		{"version", "", "print the version", cmdVersion},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(stderr, "newswatch: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
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
	fmt.Fprint(w, "\nRun 'newswatch <command> -help' for a command's flags.\n")
}

// newFlags returns a flag set with the shared -config flag and a usage
// line for the command.
func newFlags(env *cliEnv, name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	cfgPath := fs.String("config", "config.yaml", "path of the config file")
	fs.Usage = func() {
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(fs.Output(), "Usage: newswatch %s %s\n\n%s\n\nFlags:\n", name, c.args, c.summary)
			}
		}
		fs.PrintDefaults()
	}
	return fs, cfgPath
}

// parseFlags parses args; it returns the exit code to return, if any.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	return 0, false
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
