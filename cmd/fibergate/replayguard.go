package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/replay"
)

// memoryGuard is the in-process replay guard (keystore.backend memory) and,
// with keystore.persist_file, its state beside the key snapshot.
//
// The rule it keeps: a nonce is accepted only if the guard can show it
// unused. A guard that starts from the state a clean shutdown saved knows
// every nonce the last run accepted. Any other start (after a crash, with
// no state or an unusable one, without persistence) cannot know them, so
// its floor refuses every nonce stamped at or before the latest moment the
// last run could have accepted one: the horizon it recorded (at most a few
// seconds past the crash for validators whose clocks are right), and never
// less than this start.
type memoryGuard struct {
	*replay.Memory
	path   string // the state file; "" without persistence
	key    *fernet.Key
	log    *slog.Logger
	m      *metrics.Metrics // set once the metrics exist
	warn   *throttledWarn
	reason string // why the floor is where it is, for the log
	lost   bool   // the last run's nonces are lost: it did not stop cleanly
	saved  bool   // save ran
}

// openMemoryGuard builds the guard from cfg, restoring the saved state
// under key (nil without persistence). A clean state is removed once
// restored, so that a crash of this run cannot bring it back; failing to
// remove it is an error.
func openMemoryGuard(cfg *config.Config, key *fernet.Key, log *slog.Logger) (*memoryGuard, error) {
	log = log.With("component", "replay_guard")
	start := time.Now().UnixNano()
	opts := replay.MemoryOptions{Window: cfg.NonceWindow, MaxMemory: int64(cfg.Replay.MaxMemory), Floor: start}
	mg := &memoryGuard{log: log, key: key, warn: newThrottledWarn(log, backendLogEvery)}
	if cfg.Keystore.PersistFile == "" {
		mg.Memory = replay.NewMemory(opts)
		mg.reason = "started without keystore.persist_file"
		return mg, nil
	}
	mg.path = keystore.GuardStatePath(cfg.Keystore.PersistFile)
	opts.Horizon = mg.record

	var st *replay.State
	data, err := keystore.LoadGuardState(mg.path, key)
	if err == nil && data != nil {
		st, err = replay.ParseState(data)
	}
	switch {
	case err != nil:
		// Nothing tells how far the last run went: refuse one window
		// beyond this start, the furthest a nonce can be stamped ahead.
		opts.Floor = start + int64(cfg.NonceWindow)
		mg.reason, mg.lost = "its saved state is unreadable ("+err.Error()+")", true
	case st == nil:
		mg.reason = "no saved state (a first start, or " + mg.path + " was removed)"
	case !st.Full:
		opts.Floor = max(start, st.Horizon, st.Floor)
		mg.reason, mg.lost = "the last run did not stop cleanly", true
	default:
		opts.Floor = 0 // the state restores the floor
	}
	mg.Memory = replay.NewMemory(opts)
	if st != nil && st.Full {
		if err := mg.Restore(st, start); err != nil {
			opts.Floor = max(start, st.Horizon, st.Floor)
			mg.Memory = replay.NewMemory(opts)
			mg.reason, mg.lost = "its saved state does not fit ("+err.Error()+")", true
		} else {
			log.Info("replay guard restored", "path", mg.path, "nonces", mg.Len())
		}
		if err := os.Remove(mg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("replay guard: removing the restored state %q, so a crash cannot bring it back: %w", mg.path, err)
		}
	}
	return mg, nil
}

// start reports the floor and records the first horizon, once the metrics
// exist and before anything is served.
func (mg *memoryGuard) start(m *metrics.Metrics) {
	mg.m = m
	switch floor := time.Unix(0, mg.Floor()); {
	case mg.lost:
		m.NonceGuardLost()
		mg.log.Warn("replay guard starts without the last run's nonces: nonces stamped before its floor are refused (503 nonce_unverifiable) and fibergate is not ready until then",
			"why", mg.reason, "floor", floor.UTC().Format(time.RFC3339Nano), "for", max(time.Until(floor), 0).Round(time.Millisecond).String())
	case mg.reason != "":
		mg.log.Info("replay guard starts empty: nonces stamped before this start are refused (503 nonce_unverifiable)",
			"why", mg.reason, "floor", floor.UTC().Format(time.RFC3339Nano))
	}
	mg.KeepHorizon(time.Now().UnixNano())
}

// record is the guard's Options.Horizon: a horizon record written over the
// state file, durably, before the guard relies on it.
func (mg *memoryGuard) record(h int64) {
	err := keystore.SaveGuardState(mg.path, mg.key, replay.HorizonState(h, mg.floorNow()))
	if mg.m != nil {
		mg.m.NonceGuardSaved(err)
	}
	if err != nil {
		mg.warn.warn("recording the replay guard's horizon failed; after a crash now, nonces stamped ahead of the clock could be accepted again", "path", mg.path, "err", err)
	}
}

// floorNow is the guard's floor, or 0 while the guard is being built.
func (mg *memoryGuard) floorNow() int64 {
	if mg.Memory == nil {
		return 0
	}
	return mg.Floor()
}

// save stops the guard and writes its full state, at shutdown, once the
// server accepts no more requests. Without persistence it only stops it.
func (mg *memoryGuard) save() error {
	mg.saved = true
	mg.Stop()
	if mg.path == "" {
		return nil
	}
	state, err := mg.Snapshot(time.Now().UnixNano())
	if err == nil {
		err = keystore.SaveGuardState(mg.path, mg.key, state)
	}
	mg.m.NonceGuardSaved(err)
	if err != nil {
		return err
	}
	mg.log.Info("replay guard saved", "path", mg.path, "nonces", mg.Len())
	return nil
}
