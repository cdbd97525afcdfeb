//go:build unix

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/keystore"
)

// TestFileDescriptorFlood runs fibergate allowed 64 open files (a shell
// lowers both limits and execs it) and floods it with 300 idle
// connections. It does not exit: it waits to accept more, keeps serving a
// connection it already holds (in use, so its connection to the app stays
// pooled), counts the failed accepts, serves new
// connections once the flood lets go, and shuts down cleanly with the
// snapshot and the replay guard written.
func TestFileDescriptorFlood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := e2etest.DemoApp(t)
	snap := filepath.Join(dir, "keys.snapshot")
	cfg := testConfig{upstreamURL: app, persistFile: snap, shutdownGrace: "2s"}.write(t, dir)
	env := e2etest.Env("FIBERGATE_STORAGE_KEY=" + keystore.GenerateStorageKey())
	p := startWrapped(t, dir, env, []string{"/bin/sh", "-c", `ulimit -n 64 && exec "$0" "$@"`}, "serve", "--config", cfg)
	addr, admin := p.WaitReady(t)
	if log := p.Stderr.String(); !strings.Contains(log, "more than this process may open (RLIMIT_NOFILE 64") {
		t.Errorf("no warning that 64 files are too few:\n%s", log)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A validator whose connection is open before the flood.
	held, err := client.New(client.Options{
		BaseURL: "http://" + addr, Keypair: e2etest.Alice.Keypair(t), MinerHotkey: e2etest.Bob.SS58,
		HTTP: &http.Client{Timeout: e2etest.IOTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := held.Post(ctx, "/echo", []byte(`{"prompt":"before the flood"}`)); err != nil {
		t.Fatal(err)
	}

	// The held connection keeps being used through the flood, every 200 ms,
	// so its pooled connection to the app stays open too (fibergate closes
	// one idle for a second): a request that needed a new connection to the
	// app could not be served while no descriptor is free.
	stopHeld := make(chan struct{})
	heldErrs := make(chan error, 1)
	go func() {
		defer close(heldErrs)
		for i := 0; ; i++ {
			select {
			case <-stopHeld:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := held.Post(ctx, "/echo", []byte(`{"prompt":"during the flood"}`)); err != nil {
				heldErrs <- fmt.Errorf("request %d on the held connection: %w", i, err)
				return
			}
		}
	}()
	var flood []net.Conn
	for range 300 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break // the backlog is full: flooded enough
		}
		flood = append(flood, c)
	}
	t.Logf("%d connections open", len(flood))
	time.Sleep(2 * time.Second) // accepts fail and back off meanwhile
	if p.Exited() {
		t.Fatalf("fibergate exited under the flood (code %d)", p.Cmd.ProcessState.ExitCode())
	}
	close(stopHeld)
	if err := <-heldErrs; err != nil {
		t.Errorf("during the flood: %v", err)
	}
	for _, c := range flood {
		c.Close()
	}

	fresh := e2etest.Alice.Client(t, addr) // a new connection per request
	e2etest.WaitFor(t, 30*time.Second, "a new validator to be served after the flood", func() bool {
		return fresh.Handshake(ctx) == nil
	})
	if _, err := fresh.Post(ctx, "/echo", []byte(`{"prompt":"after the flood"}`)); err != nil {
		t.Errorf("after the flood: %v", err)
	}
	var m string
	e2etest.WaitFor(t, 30*time.Second, "/metrics after the flood", func() bool {
		var st int
		st, m = e2etest.Get("http://" + admin + "/metrics")
		return st == http.StatusOK
	})
	if got := metricValue(t, m, `fibergate_listener_accept_errors_total{reason="fd_limit"}`); got < 1 {
		t.Errorf("fd_limit accept errors counted: %v, want at least 1", got)
	}
	if !strings.Contains(p.Stderr.String(), "too many open files") {
		t.Errorf("the log does not say accepts failed for want of files:\n%s", p.Stderr.String())
	}

	os.Remove(snap)
	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("exit after SIGTERM: %d, want 0", code)
	}
	if _, err := os.Stat(snap); err != nil {
		t.Errorf("no key snapshot after the shutdown: %v", err)
	}
	if _, err := os.Stat(snap + ".replay"); err != nil {
		t.Errorf("no replay guard state after the shutdown: %v", err)
	}
}

// TestSignals sends the running process every signal it handles: SIGHUP
// re-reads the nodes file at once (here one replaced by cp -p: same size,
// same time), SIGUSR1, SIGUSR2 and SIGPIPE change nothing, and SIGQUIT
// stops it gracefully, with the keys and the replay guard saved.
func TestSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := e2etest.DemoApp(t)
	nodes := filepath.Join(dir, "nodes.json")
	writeNodes(t, nodes, 5000)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(nodes, old, old); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "keys.snapshot")
	// The poll is an hour: only the signal can make it read the file.
	cfg := testConfig{upstreamURL: app, nodesFile: nodes, nodesPoll: "1h", persistFile: snap, minStake: "5000"}.write(t, dir)
	env := e2etest.Env("FIBERGATE_STORAGE_KEY=" + keystore.GenerateStorageKey())
	p := e2etest.StartFibergate(t, dir, env, "serve", "--config", cfg)
	addr, _ := p.WaitReady(t)
	c := e2etest.Alice.Handshaken(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	post := func(when string) error {
		_, err := c.Post(ctx, "/echo", []byte(`{"prompt":"`+when+`"}`))
		return err
	}

	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE} {
		p.Signal(t, sig)
		e2etest.WaitFor(t, 10*time.Second, "the log to say "+sig.String()+" was ignored", func() bool {
			return strings.Contains(p.Stderr.String(), `msg="signal ignored" signal="`+sig.String()+`"`)
		})
		if err := post("after " + sig.String()); err != nil || p.Exited() {
			t.Fatalf("after %v: %v (exited %v)", sig, err, p.Exited())
		}
	}

	// Alice's stake drops below min_stake in a file of the same size and
	// time, written in place as cp -p does.
	before, _ := os.ReadFile(nodes)
	writeNodes(t, nodes+".new", 4999)
	after, _ := os.ReadFile(nodes + ".new")
	if len(after) != len(before) {
		t.Fatalf("the new file has %d bytes, the old %d: the test wants the same size", len(after), len(before))
	}
	if err := os.WriteFile(nodes, after, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(nodes, old, old); err != nil {
		t.Fatal(err)
	}
	if err := post("before SIGHUP"); err != nil {
		t.Fatalf("before SIGHUP the old list still holds: %v", err)
	}
	p.Signal(t, syscall.SIGHUP)
	e2etest.WaitFor(t, 10*time.Second, "the new stake to apply after SIGHUP", func() bool {
		return strings.Contains(refusal(t, post("after SIGHUP")), "insufficient_stake")
	})
	if p.Exited() {
		t.Fatal("fibergate exited on SIGHUP")
	}
	writeNodes(t, nodes, 5000)
	p.Signal(t, syscall.SIGHUP)
	e2etest.WaitFor(t, 10*time.Second, "the stake restored after another SIGHUP", func() bool {
		return post("after the second SIGHUP") == nil
	})

	p.Signal(t, syscall.SIGQUIT)
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("exit after SIGQUIT: %d, want 0 (a graceful stop)", code)
	}
	log := p.Stderr.String()
	for _, want := range []string{"replay guard saved", "key snapshot saved", `signal=quit`} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q after SIGQUIT:\n%s", want, log)
		}
	}
}

// TestReadinessAndLeftovers: /readyz says not ready while fibergate would
// refuse every validator (no one at min_stake), and ready with a warning
// while the nodes file no longer loads (its last good list is served);
// temporary files an interrupted save left are removed at start.
func TestReadinessAndLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := e2etest.DemoApp(t)
	nodes := filepath.Join(dir, "nodes.json")
	writeNodes(t, nodes, 0)
	snap := filepath.Join(dir, "keys.snapshot")
	leftovers := []string{filepath.Join(dir, ".keys.snapshot.tmp-1234"), filepath.Join(dir, ".keys.snapshot.replay.tmp-5678")}
	for _, l := range leftovers {
		if err := os.WriteFile(l, []byte("half a save"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig{upstreamURL: app, nodesFile: nodes, nodesPoll: "100ms", persistFile: snap}.write(t, dir)
	env := e2etest.Env("FIBERGATE_STORAGE_KEY=" + keystore.GenerateStorageKey())
	p := e2etest.StartFibergate(t, dir, env, "serve", "--config", cfg)
	_, admin := p.WaitUp(t)
	for _, l := range leftovers {
		if _, err := os.Stat(l); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed at start", l, err)
		}
	}

	status, body := e2etest.Get("http://" + admin + "/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "no validator has validators.min_stake (1000)") {
		t.Errorf("/readyz with every stake 0: got %d %q, want 503 saying no one has min_stake", status, body)
	}
	writeNodes(t, nodes, 5000)
	e2etest.WaitFor(t, 10*time.Second, "/readyz once a validator has the stake", func() bool {
		st, _ := e2etest.Get("http://" + admin + "/readyz")
		return st == http.StatusOK
	})
	if err := os.Remove(nodes); err != nil {
		t.Fatal(err)
	}
	e2etest.WaitFor(t, 10*time.Second, "/readyz to warn of the nodes file", func() bool {
		st, body := e2etest.Get("http://" + admin + "/readyz")
		return st == http.StatusOK && strings.Contains(body, "the nodes file does not load")
	})
}
