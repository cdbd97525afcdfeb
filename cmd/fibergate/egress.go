package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fibergate/fibergate/chain"
	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/egress"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func runEgress(args []string, stdout, stderr io.Writer) error {
	sigs := notifySignals()
	defer sigs.Stop()
	fs := newFlags("egress", "Run the validator's sidecar: plain HTTP from the validator's own code on listen, Fiber to miners; metrics and health on admin_listen.", stderr)
	path := fs.String("config", "egress.yaml", "the egress config file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadEgress(*path, os.Environ())
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()
	return egressMain(sigs.stopped(bg, log), cfg, log, sigs)
}

// egressKeypair reads the validator's hotkey as the config names it.
func egressKeypair(v config.EgressValidator) (*sr25519.Keypair, error) {
	if v.SeedEnv != "" {
		seed, ok := os.LookupEnv(v.SeedEnv)
		if !ok || strings.TrimSpace(seed) == "" {
			return nil, fmt.Errorf("validator.seed_env: $%s is not set or empty", v.SeedEnv)
		}
		kp, err := validatorKey(strings.TrimSpace(seed), "")
		if err != nil {
			// The value is a secret: the error names the variable only.
			return nil, fmt.Errorf("validator.seed_env: $%s does not hold a 0x-hex seed of 32 bytes", v.SeedEnv)
		}
		return kp, nil
	}
	kp, err := validatorKey("", v.WalletHotkeyFile)
	if err != nil {
		return nil, fmt.Errorf("validator.wallet_hotkey_file: %w", err)
	}
	return kp, nil
}

// egressMain builds egress from cfg and runs it until ctx is done, then
// shuts down: in-flight requests and streams get cfg.ShutdownGrace, and
// the key snapshot is written last.
func egressMain(ctx context.Context, cfg *config.Egress, log *slog.Logger, sigs *signals) error {
	kp, err := egressKeypair(cfg.Validator)
	if err != nil {
		return err
	}
	var h *egress.Handler
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ver, rev, gov := buildInfo()
	m := metrics.NewEgress(reg, metrics.Build{Version: ver, Revision: rev, GoVersion: gov}, metrics.EgressGauges{
		Keys:     func() int { return h.Keys() },
		InFlight: func() int { return h.InFlight() },
	})

	static := make([]egress.StaticMiner, 0, len(cfg.Miners.Static))
	for _, s := range cfg.Miners.Static {
		static = append(static, egress.StaticMiner{Hotkey: s.Hotkey, Address: s.Address, UID: s.UID})
	}
	dirOpts := egress.DirectoryOptions{
		Static:    static,
		NodesFile: cfg.Miners.NodesFile,
		Poll:      cfg.Miners.NodesFilePoll,
		OnLoad:    m.SourceLoaded,
		Logger:    log,
	}
	if c := cfg.Miners.Chain; c.URL != "" {
		fetcher, err := chain.New(chain.Options{URL: c.URL, NetUID: uint16(c.NetUID), Rule: chain.StakeFiber21, AllowNewerRuntime: c.AllowNewerRuntime})
		if err != nil {
			return fmt.Errorf("miners.chain: %w", err)
		}
		dirOpts.Chain = &egress.ChainSource{Fetcher: fetcher, Refresh: c.Refresh, Timeout: c.Timeout}
	}
	dir, err := egress.NewDirectory(dirOpts)
	if err != nil {
		return err
	}

	keys := keystore.NewMemory(keystore.MemoryOptions{TTL: cfg.Keys.TTL, MaxPerValidator: 1})
	var persister *keystore.Persister
	if cfg.Keys.PersistFile != "" {
		if persister, err = restoreEgressKeys(cfg.Keys, keys, m, log); err != nil {
			return err
		}
	}

	allow, err := config.ParsePrefixes("allow_clients", cfg.AllowClients)
	if err != nil {
		return err
	}
	routes := make([]egress.Route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		routes = append(routes, egress.Route{Path: r.Path, Mode: egressMode(r.Mode)})
	}
	h, err = egress.New(egress.Options{
		Keypair:              kp,
		Directory:            dir,
		Mode:                 egressMode(cfg.Mode),
		Routes:               routes,
		EncryptedResponses:   cfg.EncryptedResponses,
		AllowExplicitAddress: cfg.Miners.AllowExplicitAddress,
		AllowClients:         allow,
		Timeouts: egress.Timeouts{
			Handshake: cfg.Timeouts.Handshake, Connect: cfg.Timeouts.Connect,
			FirstByte: cfg.Timeouts.FirstByte, Idle: cfg.Timeouts.Idle, Total: cfg.Timeouts.Total,
		},
		Limits: egress.Limits{
			MaxInFlight: cfg.Limits.MaxInFlight, MaxInFlightPerMiner: cfg.Limits.MaxInFlightPerMiner,
			MaxBody: int(cfg.Limits.MaxBody), MaxResponse: int(cfg.Limits.MaxResponse), MaxStreamLine: int(cfg.Limits.MaxStreamLine),
		},
		Backoff:     egress.Backoff{AfterFailures: cfg.Backoff.AfterFailures, Initial: cfg.Backoff.Initial, Max: cfg.Backoff.Max},
		KeyTTL:      cfg.Keys.TTL,
		RenewBefore: cfg.Keys.RenewBefore,
		Keys:        keys,
		Metrics:     m,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	defer h.Close()
	srv := h.NewServer(egress.ServerOptions{
		MaxHeader:    int(cfg.Limits.MaxHeader),
		ReadTimeout:  cfg.Limits.ReadTimeout,
		WriteTimeout: cfg.Limits.WriteTimeout,
		IdleTimeout:  cfg.Limits.IdleTimeout,
	})

	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	go dir.Run(bg)
	go keys.Run(bg, time.Minute)
	if persister != nil {
		go persister.Run(bg)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	var admin *http.Server
	if cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on %s (admin_listen): %w", cfg.AdminListen, err)
		}
		admin = &http.Server{Handler: egressAdmin(reg, dir, cfg.Miners.AllowExplicitAddress), ReadHeaderTimeout: 10 * time.Second}
		go admin.Serve(aln)
		log.Info("admin listening", "addr", aln.Addr().String())
	}
	log.Info("egress listening", "addr", ln.Addr().String(), "validator", h.Validator(), "miners", dir.Len(),
		"mode", egressMode(cfg.Mode).String(), "version", ver)

	failed := runServer(ctx, serving{
		srv: srv, ln: ln, admin: admin, grace: cfg.ShutdownGrace, sigs: sigs, log: log,
		acceptError: m.AcceptError,
		reload: func() {
			log.Info("reload signal: re-reading the miner sources")
			dir.Reload(bg)
		},
	})
	cancelBG()
	if persister != nil {
		if err := persister.Save(); err != nil {
			log.Error("saving the key snapshot", "err", err)
			return errors.Join(failed, fmt.Errorf("saving the key snapshot: %w", err))
		}
		log.Info("key snapshot saved", "keys", keys.Len())
	}
	if failed != nil {
		return failed
	}
	log.Info("stopped")
	return nil
}

func egressMode(m config.Mode) egress.Mode {
	if m == config.ModeSigned {
		return egress.ModeSigned
	}
	return egress.ModeEncrypted
}

// restoreEgressKeys loads the key snapshot into keys and returns the
// persister that keeps it up to date. A snapshot that exists but cannot
// be read is an error, as for serve's.
func restoreEgressKeys(c config.EgressKeys, keys *keystore.Memory, m *metrics.Egress, log *slog.Logger) (*keystore.Persister, error) {
	var key *fernet.Key
	var err error
	if c.StorageKeyFile != "" {
		key, err = keystore.StorageKeyFromFile(c.StorageKeyFile)
	} else {
		key, err = keystore.StorageKeyFromEnv(c.StorageKeyEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("keys storage key: %w", err)
	}
	now := time.Now()
	entries, err := keystore.LoadSnapshot(c.PersistFile, key, now)
	if err != nil {
		return nil, fmt.Errorf("keys.persist_file: %w", err)
	}
	n, err := keys.Restore(entries, now)
	if err != nil {
		return nil, fmt.Errorf("keys.persist_file: %w", err)
	}
	log.Info("key snapshot loaded", "path", c.PersistFile, "keys", n)
	plog := log.With("component", "keystore")
	p, err := keystore.NewPersister(keys, keystore.PersistOptions{
		Path:     c.PersistFile,
		Key:      key,
		Interval: c.PersistInterval,
		OnError: func(err error) {
			m.SnapshotSaved(time.Now(), err)
			plog.Error("saving the key snapshot", "err", err)
		},
		OnSaved: func(int) { m.SnapshotSaved(time.Now(), nil) },
	})
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return p, nil
}

// egressAdmin serves /metrics, /healthz and /readyz: ready once some source
// lists a miner (or requests may name addresses themselves).
func egressAdmin(reg *prometheus.Registry, dir *egress.Directory, explicit bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case dir.Len() > 0:
			if !dir.ChainRead() {
				io.WriteString(w, "ready, but the chain has not been read yet\n")
				return
			}
			io.WriteString(w, "ready\n")
		case explicit:
			io.WriteString(w, "ready: no miner listed, requests name their addresses\n")
		case !dir.ChainRead():
			http.Error(w, "not ready: no miner listed yet; the chain has not been read", http.StatusServiceUnavailable)
		default:
			http.Error(w, "not ready: no source lists a miner", http.StatusServiceUnavailable)
		}
	})
	return mux
}
