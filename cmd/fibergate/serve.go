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
	"net/url"
	"os"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/demoapp"
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
	sigs := notifySignals()
	defer sigs.Stop()
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
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()
	return serve(sigs.stopped(bg, log), cfg, *demo, log, stdout, sigs)
}

// newLogger builds the slog logger the config asks for.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: c.Level}
	if c.Format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// stakes adapts the validator registry to what the proxy asks of it: a
// listed validator's stake, and whether it reaches min_stake.
type stakes struct {
	r   *validators.Registry
	min float64
}

func (s stakes) Stake(pub [32]byte) (float64, bool, bool) {
	v, ok := s.r.Current().Lookup(pub)
	return v.Stake, ok, ok && validators.Eligible(v.Stake, s.min)
}

// serve builds every part from cfg and runs until ctx is done, then shuts
// down gracefully: in-flight requests and streams get cfg.ShutdownGrace to
// finish (a second stop signal on sigs cuts it short), and the replay
// guard and the key snapshot are written last. The server failing ends it
// the same way. A reload signal on sigs re-reads the validator list.
func serve(ctx context.Context, cfg *config.Config, demo bool, log *slog.Logger, stdout io.Writer, sigs *signals) error {
	miner, minerSS58, err := minerHotkey(cfg.Miner)
	if err != nil {
		return err
	}
	rsaKey, err := loadRSAKey(cfg.Handshake, log)
	if err != nil {
		return err
	}

	// The keys and nonces live in the backend; its gauges read it at
	// scrape time, and it is started once the metrics exist, whose backend
	// error counter it feeds.
	b, err := openBackend(cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ver, rev, gov := buildInfo()
	gauges := metrics.Gauges{
		SymmetricKeys: func() int { return b.keys().Len() },
		NonceEntries:  func() int { return b.nonces().Len() },
	}
	b.gauges(&gauges)
	m := metrics.New(reg, metrics.Build{Version: ver, Revision: rev, GoVersion: gov}, gauges)
	if err := b.start(m); err != nil {
		return err
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

	trusted, err := config.ParsePrefixes("trusted_proxies", cfg.TrustedProxies)
	if err != nil {
		return err
	}
	routes := make([]proxy.Route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		routes = append(routes, proxy.Route{Path: r.Path, Mode: proxyMode(r.Mode), Response: proxyResponse(r.Response)})
	}
	h, err := proxy.New(proxy.Options{
		MinerHotkey:     miner,
		RSAKey:          rsaKey,
		Keys:            b.keys(),
		Nonces:          b.nonces(),
		Stakes:          stakes{vals, cfg.Validators.MinStake},
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
	b.run(bg)
	go vals.Run(bg)

	if demo {
		addr, err := startDemo(bg, cfg.Upstream.URL)
		if err != nil {
			return err
		}
		log.Info("demo upstream running", "addr", addr)
	}

	warnFileLimit(log, cfg)
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
		ready := readiness{vals: vals, h: h, minStake: cfg.Validators.MinStake, backend: b.ready}
		admin = &http.Server{Handler: adminMux(reg, ready), ReadHeaderTimeout: 10 * time.Second}
		go admin.Serve(aln)
		adminAddr = aln.Addr().String()
		log.Info("admin listening", "addr", adminAddr)
	}
	log.Info("fibergate listening", "addr", ln.Addr().String(), "miner", minerSS58,
		"upstream", cfg.Upstream.URL, "validators", vals.Current().Len(), "version", ver)
	if demo {
		printDemoHint(stdout, ln.Addr().String(), adminAddr, minerSS58)
	}

	failed := runServer(ctx, serving{
		srv: srv, ln: ln, admin: admin, grace: cfg.ShutdownGrace, sigs: sigs, log: log,
		acceptError: m.AcceptError,
		reload:      func() { reload(bg, vals, log) },
	})
	cancelBG()
	errs := b.save()
	if failed != nil {
		return errors.Join(append([]error{failed}, errs...)...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	log.Info("stopped")
	return nil
}

// reload re-reads the validator list on a reload signal: the nodes file
// at once, the chain in the background (a read may take up to its
// timeout). Failures keep the last good lists, as a poll's would.
func reload(ctx context.Context, vals *validators.Registry, log *slog.Logger) {
	log.Info("reload signal: re-reading the validator list")
	if err := vals.Refresh(); err != nil {
		log.Warn("reload: the nodes file was not reloaded", "err", err)
	}
	go func() {
		if err := vals.RefreshChain(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reload: the chain was not read", "err", err)
		}
	}()
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

func proxyResponse(r config.ResponseMode) proxy.ResponseMode {
	switch r {
	case config.ResponseEncrypted:
		return proxy.ResponseEncrypted
	case config.ResponsePlain:
		return proxy.ResponsePlain
	}
	return proxy.ResponseAuto
}

// adminMux serves /metrics, /healthz and /readyz.
func adminMux(reg *prometheus.Registry, ready readiness) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", ready.serveHTTP)
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
