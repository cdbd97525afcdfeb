package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/replay"
)

func runCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", "Load and validate a config, serve's or egress's; print the effective config (defaults and FIBERGATE_* or FIBERGATE_EGRESS_* overrides applied) and, for serve's, the request rate its replay guard covers, what survives a restart, what Redis must be, and whether this process's file limit fits the connection limits; or every problem found.", stderr)
	path := fs.String("config", "config.yaml", "the config file")
	kindFlag := fs.String("kind", "auto", "serve, egress, or auto: tell by the file's top-level keys (miners, validator, timeouts ... are egress's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	kind, auto, err := config.ParseKind(*kindFlag)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if auto {
		if data, rerr := os.ReadFile(*path); rerr == nil {
			if kind, err = config.DetectKind(data); err != nil {
				return fmt.Errorf("%s: %w", *path, err)
			}
		}
	}
	if kind == config.KindEgress {
		return checkEgressConfig(*path, stdout)
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	out, err := cfg.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %s is valid; effective config:\n", *path)
	fmt.Fprintf(stdout, "# %s\n", replayCoverage(cfg))
	fmt.Fprintf(stdout, "# %s\n", restartRule(cfg))
	fmt.Fprintf(stdout, "# %s\n", fileLimitCheck(cfg))
	_, err = stdout.Write(out)
	return err
}

// checkEgressConfig validates an egress config and prints it.
func checkEgressConfig(path string, stdout io.Writer) error {
	cfg, err := config.LoadEgress(path, os.Environ())
	if err != nil {
		return err
	}
	out, err := cfg.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %s is a valid egress config; effective config:\n", path)
	_, err = stdout.Write(out)
	return err
}

// replayCoverage says what request rate the config's replay guard serves:
// the memory guard's budget, or with Redis, what Redis must hold.
func replayCoverage(cfg *config.Config) string {
	window := cfg.NonceWindow
	if cfg.Keystore.Backend == config.BackendRedis {
		return fmt.Sprintf("keystore.backend redis: Redis holds the nonces (replay.max_memory is not used), about %d MB at 10,000 requests a second with nonce_window %gs, %d MB at 50,000",
			replay.RedisMemory(10_000, window)/1_000_000, window.Seconds(), replay.RedisMemory(50_000, window)/1_000_000)
	}
	rate := replay.RateCovered(int64(cfg.Replay.MaxMemory), window) / 2
	return fmt.Sprintf("replay.max_memory %s covers about %s requests a second (two nonces each, kept for nonce_window %gs); more are refused with 429 nonce_capacity",
		cfg.Replay.MaxMemory, thousands(int64(rate)), window.Seconds())
}

// restartRule says what survives a restart, and what the replay guard
// refuses after one.
func restartRule(cfg *config.Config) string {
	switch {
	case cfg.Keystore.Backend == config.BackendRedis:
		return fmt.Sprintf("restarts: keys and nonces live in Redis, which must not evict (maxmemory-policy noeviction: checked at start and every %s, signed requests are refused while it may evict); if Redis loses its data (FLUSHALL, a restart without persistence) nonces stamped before the loss are refused (503 nonce_unverifiable) and keys must be exchanged again",
			evictionCheckEvery)
	case cfg.Keystore.PersistFile != "":
		return fmt.Sprintf("restarts: keys are saved to %s (every %s when changed, and at shutdown) and the replay guard to %s at shutdown, so a clean restart refuses no honest request; after a crash, nonces stamped before the last recorded horizon (about %s past the crash) are refused (503 nonce_unverifiable)",
			cfg.Keystore.PersistFile, cfg.Keystore.PersistInterval, keystore.GuardStatePath(cfg.Keystore.PersistFile), replay.DefaultHorizonLead)
	}
	return "restarts: no keystore.persist_file, so keys are lost at every restart (validators exchange new ones) and nonces stamped before each start are refused (503 nonce_unverifiable); a nonce an earlier run accepted stamped after that start (a validator clock running ahead by more than the restart took) cannot be refused: set keystore.persist_file"
}

// fileLimitCheck compares what the config can open with what this process
// may (serve raises its soft limit to the hard one the same way).
func fileLimitCheck(cfg *config.Config) string {
	need := fdNeeded(cfg)
	soft, hard, err := raiseFileLimit()
	switch {
	case err != nil:
		return fmt.Sprintf("file descriptors: the config can use %d; the limit could not be read here (%v)", need, err)
	case uint64(need) > soft:
		return "warning: " + fileLimitAdvice(need, soft, hard) + " (as measured in this shell; serve checks its own at start)"
	}
	return fmt.Sprintf("file descriptors: the config can use up to %d (limits.max_conns + upstream.max_conns + pools + %d); this shell allows %d", need, fdReserve, soft)
}

// thousands writes n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
