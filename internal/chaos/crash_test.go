package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"newswatch/internal/harness"
	"newswatch/internal/smtptest"
)

// buildBinary builds cmd/newswatch into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	bin := filepath.Join(dir, "newswatch")
	cmd := exec.Command(goBin, "build", "-o", bin, "newswatch/cmd/newswatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build newswatch: %v\n%s", err, out)
	}
	return bin
}

// proc is one newswatch process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done closes
}

func startProc(t *testing.T, bin, logPath string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== %s %v\n", time.Now().Format(time.StampMilli), args)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start newswatch: %v", err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL (if the process still runs) and waits for it; it
// reports whether the process was still running.
func (p *proc) kill() bool {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		<-p.done
		return false
	}
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false
}

// TestCrashRecovery kills newswatch with SIGKILL at random points while a
// feed publishes, restarts it, and checks that every expected alert
// reached the webhook and the mail server, and that every repeat carries
// the id of its first delivery. Five seeds run side by side, each with
// its own data dir, feeds and receivers: three on the embedded server,
// two against a NATS server that survives the kills.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary; skipped with -short")
	}
	t.Parallel()
	bin := buildBinary(t, t.TempDir())
	topics := harness.RepoTopics(t, "../../config.yaml")

	var mu sync.Mutex
	var totalLost, totalDup, totalKills int
	t.Cleanup(func() {
		t.Logf("crash test, all seeds: %d kills; lost %d; duplicates %d", totalKills, totalLost, totalDup)
	})
	// Seeds 1-3 run on the embedded server, which dies with the process.
	// Seeds 4-5 run against a NATS server that outlives it (as on a
	// cluster): there every acknowledgement newswatch made before the
	// kill is remembered, so acknowledging too early would lose alerts.
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		external := seed > 3
		name := fmt.Sprintf("embedded/seed=%d", seed)
		if external {
			name = fmt.Sprintf("external/seed=%d", seed)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kills, lost, dup := crashRun(t, bin, topics, seed, external)
			mu.Lock()
			totalKills += kills
			totalLost += lost
			totalDup += dup
			mu.Unlock()
		})
	}
}

func crashRun(t *testing.T, bin string, topics []map[string]any, seed uint64, external bool) (kills, lost, dup int) {
	rng := rand.New(rand.NewPCG(seed, 0x6e657773))
	feeds, err := harness.StartFeedServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = feeds.Close() })
	hook, err := harness.StartWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hook.Close)
	mail := smtptest.Start(t)

	dir := t.TempDir()
	natsCfg := map[string]any{}
	if external {
		ns := harness.StartNATS(t, &server.Options{StoreDir: filepath.Join(dir, "nats")})
		natsCfg["url"] = ns.ClientURL()
	}
	subs := map[string][]string{"desk": nil, "analyst": {"fentanyl"}}
	retry := map[string]any{"attempts": 50, "initial": "100ms", "max": "500ms"}
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"nats":     natsCfg,
		"http":     map[string]any{"listen": ""},
		"log":      map[string]any{"level": "warn"},
		"fetch":    map[string]any{"interval": "1s", "timeout": "2s", "host_interval": "-1s"},
		"sources": []any{
			map[string]any{"id": "wire-a", "type": "feed", "url": feeds.URL("a"), "interval": "1s"},
			map[string]any{"id": "wire-b", "type": "feed", "url": feeds.URL("b"), "interval": "1s"},
		},
		"topics": topics,
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": hook.URL(), "secret": secret, "timeout": "2s", "retry": retry},
			map[string]any{"id": "analyst", "type": "email", "to": []string{"analyst@example.org"}, "topics": subs["analyst"], "timeout": "2s", "retry": retry},
		},
		"smtp": map[string]any{"host": mail.Host, "port": mail.Port, "tls": "none", "from": "newswatch <alerts@example.org>", "timeout": "2s"},
	})
	logPath := filepath.Join(dir, "newswatch.log")
	defer func() {
		if t.Failed() {
			t.Logf("newswatch log (tail):\n%s", tail(logPath, 8000))
		}
	}()

	// The feeds publish 30 items at random gaps (about 6s in all), while
	// the process is killed and restarted underneath.
	const items = 30
	want := expectation{}
	published := make(chan struct{})
	go func() {
		defer close(published)
		prng := rand.New(rand.NewPCG(seed, 1))
		for n := range items {
			it, topic := genItem(prng, fmt.Sprintf("s%d", seed), n)
			feeds.Add([]string{"a", "b"}[prng.IntN(2)], it)
			want.expect(it, topic, subs)
			time.Sleep(time.Duration(100+prng.IntN(300)) * time.Millisecond)
		}
	}()

	// Random kill points rarely land inside a delivery, the window that
	// matters most, so the receiver also kills the process at an exact
	// moment: with odd seeds after taking a webhook (newswatch dies
	// before its ack: the alert must come again, with the same
	// webhook-id), with even seeds before taking it (the delivery is lost
	// in flight: it must come again). One such kill per seed: the alert
	// left unacknowledged holds the subscriber's queue until its ack wait
	// ends.
	var (
		curMu         sync.Mutex
		cur           *proc
		armed         = true
		interceptID   string
		keep          = seed%2 == 1
		interceptCall = 2 + rng.IntN(4)
		receiverKills int
	)
	hook.SetIntercept(func(n int, d harness.Delivery) bool {
		curMu.Lock()
		defer curMu.Unlock()
		if !armed || cur == nil || n != interceptCall {
			return true
		}
		if cur.kill() {
			receiverKills++
			interceptID = d.AlertID
		}
		return keep
	})

	// Each round starts run (or, one time in four, once) and kills it
	// after a random time: during start-up, a fetch, a classification,
	// a delivery, or while idle.
	const rounds = 6
	var modes []string
	for range rounds {
		mode := "run"
		args := []string{"run", "-config", path, "-shutdown-timeout", "10s"}
		life := time.Duration(150+rng.IntN(1350)) * time.Millisecond
		if rng.IntN(4) == 0 {
			mode = "once"
			args = []string{"once", "-config", path, "-timeout", "20s"}
			life = time.Duration(50+rng.IntN(450)) * time.Millisecond
		}
		curMu.Lock()
		p := startProc(t, bin, logPath, args...)
		cur = p
		curMu.Unlock()
		time.Sleep(life)
		if p.kill() {
			kills++
			modes = append(modes, mode+":killed")
		} else {
			modes = append(modes, mode+":exited")
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
	}
	<-published
	curMu.Lock()
	armed = false
	kills += receiverKills
	curMu.Unlock()

	// The last process runs undisturbed until every alert is in. Work a
	// killed process held (a delivery or fetch job not yet acknowledged)
	// comes back when its ack wait expires (20-30s); the 100s bound
	// leaves room for a slow, loaded machine.
	final := startProc(t, bin, logPath, "run", "-config", path, "-shutdown-timeout", "10s")
	start := time.Now()
	complete := func() bool {
		return len(harness.Count(want["desk"], harness.FromWebhook(hook.Deliveries())).Lost) == 0 &&
			len(harness.Count(want["analyst"], emailDelivered(t, "analyst", want["analyst"], mail.Messages())).Lost) == 0
	}
	converged := waitFor(100*time.Second, complete)
	took := time.Since(start)
	// Give a straggling repeat the chance to show up before counting.
	time.Sleep(1500 * time.Millisecond)
	if err := final.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-final.done:
		if final.err != nil {
			t.Errorf("newswatch run after SIGTERM: %v (want exit 0)", final.err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("newswatch run did not stop within 30s of SIGTERM")
	}

	hooks := webhookDelivered(t, "desk", hook.Deliveries())
	wt := harness.Count(want["desk"], hooks)
	et := harness.Count(want["analyst"], emailDelivered(t, "analyst", want["analyst"], mail.Messages()))
	t.Logf("seed %d: rounds %v; converged in %s after the last restart", seed, modes, took.Round(10*time.Millisecond))
	t.Logf("seed %d: webhook: %s", seed, wt)
	t.Logf("seed %d: email: %s", seed, et)
	if !converged {
		t.Errorf("not every alert arrived within 100s of the last restart")
	}
	if receiverKills == 0 {
		t.Logf("seed %d: the receiver got fewer than %d calls while armed: no kill mid-delivery", seed, interceptCall)
	} else {
		n := 0
		for _, d := range hook.Deliveries() {
			if d.AlertID == interceptID {
				n++
			}
		}
		t.Logf("seed %d: killed mid-delivery of %s (receiver kept it: %v); delivered %d times in all", seed, interceptID, keep, n)
		switch {
		case keep && n < 2:
			t.Errorf("alert %s was taken by the receiver but newswatch died before its ack: delivered %d times, want a repeat", interceptID, n)
		case !keep && n < 1:
			t.Errorf("alert %s was in flight when newswatch died: never delivered", interceptID)
		}
	}
	if len(want["desk"]) == 0 || len(want["analyst"]) == 0 {
		t.Fatalf("seed %d generated no matching item: the test proves nothing", seed)
	}
	for name, tl := range map[string]harness.Tally{"webhook": wt, "email": et} {
		if !tl.OK() {
			t.Errorf("%s: %s", name, tl)
		}
	}
	return kills, len(wt.Lost) + len(et.Lost), wt.Duplicates + et.Duplicates
}
