package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/demoapp"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/ratelimit"
	"github.com/fibergate/fibergate/validators"
	"github.com/fibergate/fibergate/wallet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "Run the sidecar: Fiber endpoints and the proxy on listen, metrics and health on admin_listen.", stderr)
	path := fs.String("config", "config.yaml", "the config file")
	demo := fs.Bool("demo-upstream", false, "also run the built-in demo app on upstream.url (a loopback address), for trying fibergate out")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, *demo, log, stdout)
}

// newLogger builds the slog logger the config asks for.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: c.Level}
	if c.Format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// stakes adapts the validator registry to what the proxy asks of it.
type stakes struct{ r *validators.Registry }

func (s stakes) Stake(pub [32]byte) (float64, bool) {
	v, ok := s.r.Current().Lookup(pub)
	return v.Stake, ok
}

// serve builds every part from cfg and runs until ctx is done, then shuts
// down gracefully: in-flight requests and streams get cfg.ShutdownGrace to
// finish, and the key snapshot is written last.
func serve(ctx context.Context, cfg *config.Config, demo bool, log *slog.Logger, stdout io.Writer) error {
	miner, minerSS58, err := minerHotkey(cfg.Miner)
	if err != nil {
		return err
	}
	rsaKey, err := loadRSAKey(cfg.Handshake, log)
	if err != nil {
		return err
	}

	// The key store and replay guard are built after the metrics, whose
	// backend error counter they feed; the gauges read them at scrape time.
	var keys keystore.Store
	var nonces proxy.ReplayGuard
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ver, rev, gov := buildInfo()
	gauges := metrics.Gauges{
		SymmetricKeys: func() int { return keys.Len() },
		NonceEntries:  func() int { return nonces.Len() },
	}
	var guard *nonce.Guard // keystore.backend memory
	if cfg.Keystore.Backend != config.BackendRedis {
		guard = nonce.NewGuard(nonce.Options{Window: cfg.NonceWindow, MaxMemory: int64(cfg.Replay.MaxMemory)})
		gauges.NonceBytes, gauges.NonceBudgetBytes = guard.MemoryBytes, guard.MaxMemory()
		log.Info("replay guard", "max_memory", cfg.Replay.MaxMemory.String(),
			"covers_requests_per_second", int(nonce.RateCovered(guard.MaxMemory(), cfg.NonceWindow)/2))
	}
	m := metrics.New(reg, metrics.Build{Version: ver, Revision: rev, GoVersion: gov}, gauges)

	var store *keystore.Memory // keystore.backend memory
	var shared *redisBackend   // keystore.backend redis
	var persister *keystore.Persister
	if cfg.Keystore.Backend == config.BackendRedis {
		if shared, err = newRedisBackend(cfg, m, log); err != nil {
			return err
		}
		defer shared.client.Close()
		keys, nonces = shared.store, shared.guard
	} else {
		store = keystore.NewMemory(keystore.Options{TTL: cfg.Handshake.KeyTTL, MaxPerValidator: cfg.Handshake.MaxKeysPerValidator})
		keys, nonces = store, guard
		if cfg.Keystore.PersistFile != "" {
			if persister, err = restoreKeys(cfg.Keystore, store, m, log); err != nil {
				return err
			}
		}
	}

	static := make([]validators.StaticEntry, 0, len(cfg.Validators.Static))
	for _, s := range cfg.Validators.Static {
		static = append(static, validators.StaticEntry{Hotkey: s.Hotkey, Stake: s.Stake})
	}
	chainOpts, err := chainOptions(cfg.Validators.Chain, m, log.With("component", "validators"))
	if err != nil {
		return err
	}
	vals, err := validators.New(validators.Options{
		Static:    static,
		NodesFile: cfg.Validators.NodesFile,
		Poll:      cfg.Validators.NodesFilePoll,
		Chain:     chainOpts,
		Logger:    log.With("component", "validators"),
		OnReload: func(source string, count int, err error) {
			m.ValidatorsLoaded(source, count, time.Now(), err)
		},
	})
	if err != nil {
		return err
	}

	var trusted []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		pr, err := config.ParseTrustedProxy(p)
		if err != nil {
			return fmt.Errorf("trusted_proxies: %q: %w", p, err)
		}
		trusted = append(trusted, pr)
	}
	routes := make([]proxy.Route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		routes = append(routes, proxy.Route{Path: r.Path, Mode: proxyMode(r.Mode), Response: proxyResponse(r.Response)})
	}
	h, err := proxy.New(proxy.Options{
		MinerHotkey:     miner,
		RSAKey:          rsaKey,
		Keys:            keys,
		Nonces:          nonces,
		Validators:      stakes{vals},
		MinStake:        cfg.Validators.MinStake,
		AllowEd25519:    cfg.Validators.AllowEd25519,
		NonceWindow:     cfg.NonceWindow,
		KeyTTL:          cfg.Handshake.KeyTTL,
		Routes:          routes,
		Default:         proxy.Route{Path: "*", Mode: proxyMode(cfg.Default.Mode), Response: proxyResponse(cfg.Default.Response)},
		UpstreamURL:     cfg.Upstream.URL,
		UpstreamTimeout: cfg.Upstream.Timeout,
		UpstreamConns:   cfg.Upstream.MaxConns,
		UpstreamIdle:    cfg.Upstream.IdleTimeout,
		MaxBody:         int(cfg.Limits.MaxBody),
		MaxResponse:     int(cfg.Limits.MaxResponse),
		MaxStreamLine:   int(cfg.Limits.MaxStreamLine),
		TrustedProxies:  trusted,
		Metrics:         m,
		Logger:          log,
		Limits: proxy.RateLimits{
			Global:                 rate(cfg.RateLimits.Global),
			PerIP:                  rate(cfg.RateLimits.PerIP),
			PerValidator:           rate(cfg.RateLimits.PerValidator),
			HandshakesPerValidator: rate(cfg.RateLimits.HandshakesPerValidator),
		},
	})
	if err != nil {
		return err
	}
	defer h.Close()
	h.InitMetrics()
	srv := h.NewServer(proxy.ServerOptions{
		MaxHeader:     int(cfg.Limits.MaxHeader),
		ReadTimeout:   cfg.Limits.ReadTimeout,
		WriteTimeout:  cfg.Limits.WriteTimeout,
		IdleTimeout:   cfg.Limits.IdleTimeout,
		MaxConns:      cfg.Limits.MaxConns,
		MaxConnsPerIP: cfg.Limits.MaxConnsPerIP,
	})

	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	if shared != nil {
		go shared.store.Run(bg, time.Minute)
	} else {
		go store.Run(bg, time.Minute)
		go guard.Run(bg, 5*time.Second)
	}
	go vals.Run(bg)
	if persister != nil {
		go persister.Run(bg)
	}

	if demo {
		addr, err := startDemo(bg, cfg.Upstream.URL)
		if err != nil {
			return err
		}
		log.Info("demo upstream running", "addr", addr)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	var admin *http.Server
	adminAddr := ""
	if cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on %s (admin_listen): %w", cfg.AdminListen, err)
		}
		var backend func(context.Context) error
		if shared != nil {
			backend = shared.check
		}
		admin = &http.Server{Handler: adminMux(reg, vals, h, backend), ReadHeaderTimeout: 10 * time.Second}
		go admin.Serve(aln)
		adminAddr = aln.Addr().String()
		log.Info("admin listening", "addr", adminAddr)
	}
	log.Info("fibergate listening", "addr", ln.Addr().String(), "miner", minerSS58,
		"upstream", cfg.Upstream.URL, "validators", vals.Current().Len(), "version", ver)
	if demo {
		printDemoHint(stdout, ln.Addr().String(), adminAddr, minerSS58)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	// A second signal cuts the grace short: connections close at once, and
	// the key snapshot is still written.
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(again)
	go func() {
		select {
		case <-again:
			log.Warn("second signal: closing connections now")
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := srv.ShutdownWithContext(sctx); err != nil {
		log.Warn("shutdown grace ran out; open connections were closed", "err", err)
	}
	if admin != nil {
		admin.Shutdown(sctx)
	}
	cancelBG()
	if persister != nil {
		if err := persister.Save(); err != nil {
			log.Error("saving the key snapshot", "err", err)
			return fmt.Errorf("saving the key snapshot: %w", err)
		}
		log.Info("key snapshot saved", "keys", store.Len())
	}
	log.Info("stopped")
	return nil
}

// minerHotkey resolves this miner's public key from the config.
func minerHotkey(c config.Miner) ([32]byte, string, error) {
	addr := c.Hotkey
	if c.WalletHotkeyFile != "" {
		hk, err := wallet.LoadHotkeyFile(c.WalletHotkeyFile)
		if err != nil {
			return [32]byte{}, "", fmt.Errorf("miner.wallet_hotkey_file: %w", err)
		}
		addr = hk.SS58
	}
	pub, _, err := ss58.Decode(addr)
	if err != nil {
		return [32]byte{}, "", fmt.Errorf("miner hotkey %q: %w", addr, err)
	}
	return pub, ss58.Encode(pub, ss58.Bittensor), nil
}

// loadRSAKey loads the handshake key, or makes a fresh one as Fiber does.
func loadRSAKey(c config.Handshake, log *slog.Logger) (*rsa.PrivateKey, error) {
	if c.RSAKeyFile != "" {
		k, err := rsakey.LoadFile(c.RSAKeyFile)
		if err != nil {
			return nil, fmt.Errorf("handshake.rsa_key_file: %w", err)
		}
		return k, nil
	}
	log.Info("no handshake.rsa_key_file: using a fresh RSA key", "bits", c.RSABits)
	return rsakey.Generate(c.RSABits, rand.Reader)
}

// restoreKeys loads the key snapshot into store and returns the persister
// that keeps it up to date. A snapshot that exists but cannot be read is an
// error: starting empty would silently drop every validator's key.
func restoreKeys(c config.Keystore, store *keystore.Memory, m *metrics.Metrics, log *slog.Logger) (*keystore.Persister, error) {
	key, err := storageKey(c)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	entries, err := keystore.LoadSnapshot(c.PersistFile, key, now)
	if err != nil {
		return nil, fmt.Errorf("keystore.persist_file: %w", err)
	}
	n, err := store.Restore(entries, now)
	if err != nil {
		return nil, fmt.Errorf("keystore.persist_file: %w", err)
	}
	log.Info("key snapshot loaded", "path", c.PersistFile, "keys", n)
	plog := log.With("component", "keystore")
	p, err := keystore.NewPersister(store, keystore.PersistOptions{
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
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return p, nil
}

func rate(r config.Rate) ratelimit.Rate {
	return ratelimit.Rate{PerSecond: r.PerSecond, Burst: r.Burst}
}

func proxyMode(m config.Mode) proxy.Mode {
	switch m {
	case config.ModeSigned:
		return proxy.ModeSigned
	case config.ModePublic:
		return proxy.ModePublic
	case config.ModeDeny:
		return proxy.ModeDeny
	}
	return proxy.ModeEncrypted
}

func proxyResponse(r config.ResponseMode) proxy.Response {
	switch r {
	case config.ResponseEncrypted:
		return proxy.ResponseEncrypted
	case config.ResponsePlain:
		return proxy.ResponsePlain
	}
	return proxy.ResponseAuto
}

// adminMux serves /metrics, /healthz and /readyz. backend, when not nil,
// checks the shared key and nonce backend for /readyz.
func adminMux(reg *prometheus.Registry, vals *validators.Registry, h *proxy.Handler, backend func(context.Context) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		notReady, chainMsg := chainReadiness(vals, time.Now())
		if notReady {
			http.Error(w, chainMsg, http.StatusServiceUnavailable)
			return
		}
		if vals.Current().Len() == 0 {
			http.Error(w, "not ready: the validator list is empty", http.StatusServiceUnavailable)
			return
		}
		if backend != nil {
			if err := backend(r.Context()); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if err := h.CheckUpstream(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if chainMsg != "" {
			io.WriteString(w, chainMsg+"\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
	return mux
}

// startDemo runs the demo app on the upstream URL's address, which must be
// on this machine.
func startDemo(ctx context.Context, upstream string) (string, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return "", err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", errors.New("--demo-upstream needs upstream.url on a loopback address")
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		return "", fmt.Errorf("demo upstream: %w", err)
	}
	srv := &http.Server{Handler: demoapp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	return ln.Addr().String(), nil
}

// demoValidatorSeed is the seed of the dev key //Alice, the validator the
// bundled config.yaml lists; public knowledge, for trying fibergate only.
const demoValidatorSeed = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"

func printDemoHint(w io.Writer, addr, adminAddr, miner string) {
	fmt.Fprintf(w, `
fibergate is up on %[1]s with the demo app behind it. In another terminal, talk to it as the demo validator:

  go run ./cmd/fibergate client post --url http://%[1]s --miner %[2]s --seed %[3]s --path /echo --data '{"prompt":"hello"}'
  go run ./cmd/fibergate client stream --url http://%[1]s --miner %[2]s --seed %[3]s --path /stream/tokens --data '{"lines":5}'

`, addr, miner, demoValidatorSeed)
	// An empty admin_listen disables /metrics; point nowhere then.
	if adminAddr != "" {
		fmt.Fprintf(w, "Metrics: curl -s http://%s/metrics | grep ^fibergate_\n\n", adminAddr)
	}
}
