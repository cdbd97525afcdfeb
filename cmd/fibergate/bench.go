package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/loadgen"
)

const benchSummary = `A load generator for Fiber servers (fibergate or Fiber's own).

  fibergate bench nodes  write a Fiber nodes.json listing the simulated validators, for the
                         target's validators.nodes_file
  fibergate bench run    simulated validators do real handshakes, then send signed, encrypted
                         requests: a closed loop (--concurrency workers) or a fixed --rate;
                         prints requests/s, handshakes/s, latency percentiles and errors;
                         with --plain, plain JSON POSTs and no Fiber at all, to measure the
                         app or a plain proxy with the same generator
  fibergate bench flood  send a mix of bad requests at a fixed --rate; every one must be
                         refused with a 4xx

Simulated validator i signs with the sr25519 seed sha256("<seed-prefix><i>"), i from 0, with
seed prefix "` + loadgen.DefaultSeedPrefix + `" unless --seed-prefix says otherwise. Anyone can
derive these keys: list them only on a benchmark target. Requests are signed ahead of the
measured phase (a long run signs them in rolling batches shortly before use), so signing
does not take CPU from the target while it is measured.

run exits 1 when any operation failed; flood exits 1 when any request was not refused
with a 4xx (a 5xx, no answer, or a bad request accepted).`

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintln(stderr, "Usage: fibergate bench nodes|run|flood [flags]\n\n"+benchSummary)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	action, args := args[0], args[1:]
	switch action {
	case "nodes":
		return runBenchNodes(args, stdout, stderr)
	case "run", "flood":
		return runBenchLoad(action, args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "fibergate bench: unknown action %q (want nodes, run or flood)\n", action)
	return errUsage
}

func runBenchNodes(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench nodes", "Write a Fiber nodes.json listing simulated validators 0 to N-1, for the target's validators.nodes_file.", stderr)
	n := fs.Int("validators", loadgen.DefaultValidators, "how many validators to list")
	out := fs.String("out", "", "where to write the file (required; - for standard output)")
	stake := fs.Float64("stake", 5000, "the stake of each validator (the target's validators.min_stake or more)")
	prefix := fs.String("seed-prefix", loadgen.DefaultSeedPrefix, "the prefix of the validators' seed strings")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "--out is required")
		fs.Usage()
		return errUsage
	}
	data, err := loadgen.NodesFile(*prefix, *n, *stake)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d validators with stake %v to %s\n", *n, *stake, *out)
	return nil
}

func runBenchLoad(action string, args []string, stdout, stderr io.Writer) error {
	flood := action == "flood"
	summary := "Drive a Fiber server with simulated validators: handshakes, then signed, encrypted requests."
	if flood {
		summary = "Send a mix of bad requests at a fixed rate; each kind's answers are counted, and any answer that is not a 4xx is a failure."
	}
	fs := newFlags("bench "+action, summary, stderr)
	var o loadgen.Options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the target's base URL")
	fs.StringVar(&o.Miner, "miner", "", "the target miner's SS58 hotkey (required)")
	fs.IntVar(&o.Validators, "validators", loadgen.DefaultValidators, "simulated validators (0 to N-1; list them with `fibergate bench nodes`)")
	fs.IntVar(&o.Concurrency, "concurrency", loadgen.DefaultConcurrency, "workers: the most operations in flight")
	duration := loadgen.DefaultDuration
	if flood {
		duration = time.Minute
	}
	fs.DurationVar(&o.Duration, "duration", duration, "length of the measured phase")
	fs.StringVar(&o.Path, "path", loadgen.DefaultPath, "the path of encrypted requests")
	fs.DurationVar(&o.Timeout, "timeout", loadgen.DefaultTimeout, "time limit of each HTTP exchange")
	fs.DurationVar(&o.NonceWindow, "nonce-window", loadgen.DefaultNonceWindow, "the target's nonce_window")
	fs.StringVar(&o.SeedPrefix, "seed-prefix", loadgen.DefaultSeedPrefix, "the prefix of the validators' seed strings")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var data string
	maxBody := config.Size(loadgen.DefaultMaxBody)
	if flood {
		o.Flood = true
		fs.Float64Var(&o.Rate, "rate", 200, "bad requests per second")
		fs.TextVar(&maxBody, "max-body", maxBody, "the target's limits.max_body (oversized requests announce one byte more)")
	} else {
		fs.Float64Var(&o.Rate, "rate", 0, "operations per second, on a fixed schedule; 0 runs a closed loop")
		fs.DurationVar(&o.Warmup, "warmup", loadgen.DefaultWarmup, "closed loop: warmup before the measured phase, which sizes the signing ahead (negative: none)")
		fs.StringVar(&data, "data", loadgen.DefaultPayload, "the JSON object each request carries; @file reads a file")
		fs.IntVar(&o.Size, "size", 0, "pad the JSON object with a \"pad\" field to at least this many bytes")
		fs.BoolVar(&o.EncryptedResponse, "encrypted-response", false, "ask for encrypted answers (X-Fiber-Response-Encryption: fernet) and decrypt each")
		fs.BoolVar(&o.CheckEcho, "check-echo", false, "require each answer to contain the request's inner nonce (an echo app's answer does)")
		fs.BoolVar(&o.HandshakesOnly, "handshakes-only", false, "measure handshakes: each operation is GET /public-encryption-key and POST /exchange-symmetric-key")
		fs.BoolVar(&o.Plain, "plain", false, "send plain POSTs of the same JSON (with a fresh \"nonce\" field, as an app behind fibergate gets it): no handshake, no Fiber headers, no crypto; --miner is then optional")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Miner == "" && !o.Plain {
		fmt.Fprintln(stderr, "--miner is required")
		fs.Usage()
		return errUsage
	}
	o.MaxBody = int(maxBody)
	if data != "" {
		o.Payload = []byte(data)
		if data[0] == '@' {
			b, err := os.ReadFile(data[1:])
			if err != nil {
				return err
			}
			o.Payload = b
		}
	}
	if o.Warmup == 0 {
		o.Warmup = -1 // --warmup 0 means none, as a negative one does
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, o)
	if res != nil {
		if perr := printResult(stdout, res, *asJSON); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	switch {
	case res.Flood != nil && res.Flood.Failures > 0:
		return fmt.Errorf("%d of %d bad requests were not refused with a 4xx", res.Flood.Failures, res.Ops)
	case res.Flood == nil && res.Errors > 0:
		return fmt.Errorf("%d of %d operations failed", res.Errors, res.Ops)
	case res.Interrupted:
		return fmt.Errorf("interrupted")
	}
	return nil
}

// printResult writes res as text or as indented JSON.
func printResult(w io.Writer, res *loadgen.Result, asJSON bool) error {
	if !asJSON {
		return res.WriteText(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
