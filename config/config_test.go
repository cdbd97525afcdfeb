package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fibergate/fibergate/crypto/ss58"
)

const (
	alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY" // //Alice
	bob   = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty" // //Bob
)

// base is the smallest valid file: lines 1 and 2. Cases append from line 3.
var base = []string{
	`miner: {hotkey: "` + bob + `"}`,
	`validators: {static: [{hotkey: "` + alice + `", stake: 5000}]}`,
}

func doc(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func withBase(lines ...string) []byte {
	return doc(append(append([]string(nil), base...), lines...)...)
}

var ignoreOrigins = cmpopts.IgnoreUnexported(Config{})

func mustParse(t *testing.T, data []byte, env []string) *Config {
	t.Helper()
	c, err := Parse(data, "config.yaml", env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v (%T), want *Error", err, err)
	}
	return ce.Problems
}

func TestShippedConfig(t *testing.T) {
	c, err := Load("../config.yaml", []string{"HOME=/home/miner"})
	if err != nil {
		t.Fatalf("the shipped config.yaml does not load:\n%v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"upstream.url", c.Upstream.URL, "http://127.0.0.1:9000"},
		{"admin_listen", c.AdminListen, "127.0.0.1:9100"},
		{"miner.hotkey", c.Miner.Hotkey, bob},
		{"validators.min_stake", c.Validators.MinStake, 1000.0},
		{"validators.static", c.Validators.Static, []StaticValidator{{Hotkey: alice, Stake: 5000}}},
		{"routes", c.Routes, []Route{
			{Path: "/healthcheck", Mode: ModePublic, Response: ResponseAuto},
			{Path: "/stream/*", Mode: ModeEncrypted, Response: ResponseEncrypted},
		}},
		{"default", c.Default, Policy{Mode: ModeEncrypted, Response: ResponseAuto}},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", ch.name, diff)
		}
	}
}

func TestDefaults(t *testing.T) {
	got := mustParse(t, withBase(), nil)
	want := &Config{
		Listen: "0.0.0.0:8080",
		Upstream: Upstream{
			URL: "http://127.0.0.1:9000", Timeout: 60 * time.Second, MaxConns: 512, IdleTimeout: time.Second,
		},
		AdminListen: "127.0.0.1:9100",
		Miner:       Miner{Hotkey: bob},
		Handshake:   Handshake{RSABits: 2048, KeyTTL: 5 * time.Hour, MaxKeysPerValidator: 64},
		NonceWindow: 120 * time.Second,
		Replay:      Replay{MaxMemory: 64 << 20},
		Validators: Validators{
			MinStake:      1000,
			Static:        []StaticValidator{{Hotkey: alice, Stake: 5000}},
			NodesFilePoll: 5 * time.Second,
			Chain:         Chain{Stake: StakeFiber21, Refresh: 5 * time.Minute, StaleAfter: 30 * time.Minute, Stale: StaleRefuse, Timeout: 30 * time.Second},
		},
		Keystore: Keystore{Backend: BackendMemory, PersistInterval: 30 * time.Second, StorageKeyEnv: "FIBERGATE_STORAGE_KEY",
			Redis: Redis{Addr: "127.0.0.1:6379", Prefix: "fibergate:", DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond,
				WriteTimeout: 500 * time.Millisecond, PoolSize: 64}},
		Default: Policy{Mode: ModeEncrypted, Response: ResponseAuto},
		Limits:  Limits{MaxBody: 10 << 20, MaxResponse: 10 << 20, MaxStreamLine: 1 << 20, MaxHeader: 16 << 10, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Minute, IdleTimeout: 120 * time.Second, MaxConns: 10000, MaxConnsPerIP: 256},
		RateLimits: RateLimits{
			PerIP:                  Rate{PerSecond: 500, Burst: 1000},
			PerValidator:           Rate{PerSecond: 200, Burst: 400},
			HandshakesPerValidator: Rate{PerSecond: 1, Burst: 10},
		},
		ShutdownGrace: 30 * time.Second,
		Log:           Log{Level: LogInfo, Format: LogText},
	}
	if diff := cmp.Diff(want, got, ignoreOrigins); diff != "" {
		t.Errorf("defaults (-want +got)\n%s", diff)
	}
	if got.Log.Level.Level().String() != "INFO" {
		t.Errorf("log level as slog: got %v, want INFO", got.Log.Level.Level())
	}
}

// A key given with an empty value keeps its default.
func TestEmptyValueKeepsDefault(t *testing.T) {
	c := mustParse(t, withBase("upstream:", "  timeout:", "listen: ~"), nil)
	if c.Upstream.Timeout != DefaultUpstreamTimeout || c.Listen != DefaultListen {
		t.Errorf("got timeout %v listen %q, want the defaults", c.Upstream.Timeout, c.Listen)
	}
}

type wantProblem struct {
	Key   string
	Line  int
	Env   string
	Value string
	Msg   string // a substring of the message
}

func checkProblems(t *testing.T, err error, want []wantProblem) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d problem(s): %+v", len(want), want)
	}
	got := problemsOf(t, err)
	if len(got) != len(want) {
		t.Fatalf("got %d problem(s), want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		g := got[i]
		if g.Key != w.Key || g.Line != w.Line || g.Env != w.Env || g.Value != w.Value || !strings.Contains(g.Msg, w.Msg) {
			t.Errorf("problem %d: got {Key:%q Line:%d Env:%q Value:%q Msg:%q}, want {Key:%q Line:%d Env:%q Value:%q Msg contains %q}",
				i, g.Key, g.Line, g.Env, g.Value, g.Msg, w.Key, w.Line, w.Env, w.Value, w.Msg)
		}
	}
}

func TestBadValues(t *testing.T) {
	alicePub, _, err := ss58.Decode(alice)
	if err != nil {
		t.Fatal(err)
	}
	zeroKey := ss58.Encode([32]byte{}, 42)
	alicePolkadot := ss58.Encode(alicePub, 0) // the same key, another spelling

	cases := []struct {
		name string
		data []byte
		env  []string
		want []wantProblem
	}{
		// Durations.
		{"duration words", withBase("upstream: {timeout: 5 minutes}"),
			nil, []wantProblem{{"upstream.timeout", 3, "", "5 minutes", "duration with a unit"}}},
		{"duration without unit", withBase("nonce_window: 120"),
			nil, []wantProblem{{"nonce_window", 3, "", "120", "duration with a unit"}}},
		{"duration negative", withBase("nonce_window: -5s"),
			nil, []wantProblem{{"nonce_window", 3, "", "-5s", "more than 0"}}},
		{"duration zero", withBase("handshake:", "  key_ttl: 0s"),
			nil, []wantProblem{{"handshake.key_ttl", 4, "", "0s", "more than 0"}}},
		{"shutdown grace negative", withBase("shutdown_grace: -1s"),
			nil, []wantProblem{{"shutdown_grace", 3, "", "-1s", "must not be negative"}}},
		{"duration as list", withBase("limits: {read_timeout: [1s]}"),
			nil, []wantProblem{{"limits.read_timeout", 3, "", "", "single value, not a list"}}},

		// Sizes.
		{"size bad unit", withBase("limits: {max_body: 10MiBs}"),
			nil, []wantProblem{{"limits.max_body", 3, "", "10MiBs", "KiB, MiB"}}},
		{"size negative", withBase("limits: {max_body: -1}"),
			nil, []wantProblem{{"limits.max_body", 3, "", "-1", "whole number of bytes"}}},
		{"size fraction", withBase("limits: {max_body: 1.5MiB}"),
			nil, []wantProblem{{"limits.max_body", 3, "", "1.5MiB", "whole number of bytes"}}},
		{"size overflow", withBase("limits: {max_body: 9000000TiB}"),
			nil, []wantProblem{{"limits.max_body", 3, "", "9000000TiB", "too large"}}},
		{"size zero", withBase("limits: {max_body: 0}"),
			nil, []wantProblem{{"limits.max_body", 3, "", "0", "more than 0"}}},
		{"response limit zero", withBase("limits: {max_response: 0}"),
			nil, []wantProblem{{"limits.max_response", 3, "", "0", "more than 0"}}},
		{"stream line limit zero", withBase("limits: {max_stream_line: 0}"),
			nil, []wantProblem{{"limits.max_stream_line", 3, "", "0", "more than 0"}}},
		{"replay memory too small", withBase("replay: {max_memory: 512KiB}"),
			nil, []wantProblem{{"replay.max_memory", 3, "", "512KiB", "must be at least 1MiB with nonce_window 2m (the replay guard's fixed part and one small table a second); the default is 64MiB"}}},
		{"replay memory too small for a long window", withBase("nonce_window: 1h", "replay: {max_memory: 16MiB}"),
			nil, []wantProblem{{"replay.max_memory", 4, "", "16MiB", "must be at least 18MiB with nonce_window 1h"}}},
		{"replay memory zero", withBase("replay: {max_memory: 0}"),
			nil, []wantProblem{{"replay.max_memory", 3, "", "0", "must be at least 1MiB"}}},
		{"trusted proxy not an address", withBase("trusted_proxies: [10.0.0.0/8, \"proxy.local\", 10.0.0.0/33]"),
			nil, []wantProblem{
				{"trusted_proxies[1]", 3, "", "proxy.local", "CIDR"},
				{"trusted_proxies[2]", 3, "", "10.0.0.0/33", "CIDR"},
			}},
		{"header limit too small", withBase("limits: {max_header: 512}"),
			nil, []wantProblem{{"limits.max_header", 3, "", "512", "at least 1KiB"}}},

		// Enums.
		{"bad mode", withBase("default: {mode: secret}"),
			nil, []wantProblem{{"default.mode", 3, "", "secret", "encrypted, signed, public or deny"}}},
		{"bad response", withBase("default: {response: sometimes}"),
			nil, []wantProblem{{"default.response", 3, "", "sometimes", "auto, encrypted or plain"}}},
		{"encrypted response without key", withBase("default: {mode: signed, response: encrypted}"),
			nil, []wantProblem{{"default.response", 3, "", "encrypted", "needs mode encrypted"}}},
		{"bad log level", withBase("log:", "  level: verbose"),
			nil, []wantProblem{{"log.level", 4, "", "verbose", "debug, info, warn or error"}}},
		{"bad log format", withBase("log:", "  format: xml"),
			nil, []wantProblem{{"log.format", 4, "", "xml", "text or json"}}},

		// Wrong YAML types.
		{"quoted number", withBase("upstream: {max_conns: \"512\"}"),
			nil, []wantProblem{{"upstream.max_conns", 3, "", "512", "whole number"}}},
		{"float for int", withBase("upstream: {max_conns: 1.5}"),
			nil, []wantProblem{{"upstream.max_conns", 3, "", "1.5", "whole number"}}},
		{"int overflow", withBase("limits: {max_conns: 99999999999999999999}"),
			nil, []wantProblem{{"limits.max_conns", 3, "", "99999999999999999999", "whole number"}}},
		{"bool word", withBase("upstream: {allow_remote: maybe}"),
			nil, []wantProblem{{"upstream.allow_remote", 3, "", "maybe", "true or false"}}},
		{"mapping for scalar", withBase("listen: {host: x}"),
			nil, []wantProblem{{"listen", 3, "", "", "single value, not a mapping"}}},
		{"list for mapping", withBase("upstream: [1, 2]"),
			nil, []wantProblem{{"upstream", 3, "", "", "mapping of keys, not a list"}}},
		{"mapping for list", withBase("routes: {path: /x}"),
			nil, []wantProblem{{"routes", 3, "", "", "must be a list"}}},
		{"duplicate key", withBase("listen: :1", "listen: :2"),
			nil, []wantProblem{{"listen", 4, "", "", "duplicate key; first given on line 3"}}},
		{"merge key", withBase("x: &x {timeout: 5s}", "upstream: {<<: *x}"),
			nil, []wantProblem{{"x", 3, "", "", "unknown key"}, {"upstream.<<", 4, "", "", "merge keys"}}},

		// Numbers.
		{"upstream max conns negative", withBase("upstream: {max_conns: -1}"),
			nil, []wantProblem{{"upstream.max_conns", 3, "", "-1", "at least 1"}}},
		{"limits max conns zero", withBase("limits: {max_conns: 0}"),
			nil, []wantProblem{{"limits.max_conns", 3, "", "0", "at least 1"}}},
		{"max keys zero", withBase("handshake: {max_keys_per_validator: 0}"),
			nil, []wantProblem{{"handshake.max_keys_per_validator", 3, "", "0", "at least 1"}}},
		{"rsa bits", withBase("handshake: {rsa_bits: 1024}"),
			nil, []wantProblem{{"handshake.rsa_bits", 3, "", "1024", "2048, 3072 or 4096"}}},
		{"min stake negative", doc(base[0], "validators:", "  min_stake: -1", "  static: [{hotkey: "+alice+", stake: 1}]"),
			nil, []wantProblem{{"validators.min_stake", 3, "", "-1", "finite number"}}},
		{"min stake nan", doc(base[0], "validators:", "  min_stake: .nan", "  static: [{hotkey: "+alice+", stake: 1}]"),
			nil, []wantProblem{{"validators.min_stake", 3, "", "NaN", "finite number"}}},

		// Hotkeys.
		{"miner bad checksum", doc(`miner: {hotkey: "`+bob[:len(bob)-1]+`z"}`, base[1]),
			nil, []wantProblem{{"miner.hotkey", 1, "", bob[:len(bob)-1] + "z", "SS58 address"}}},
		{"miner hex", doc(`miner: {hotkey: "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"}`, base[1]),
			nil, []wantProblem{{"miner.hotkey", 1, "", "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", "SS58 address"}}},
		{"miner zero key", doc(`miner: {hotkey: "`+zeroKey+`"}`, base[1]),
			nil, []wantProblem{{"miner.hotkey", 1, "", zeroKey, "all-zero key"}}},
		{"miner both", doc(`miner: {hotkey: "`+bob+`", wallet_hotkey_file: /w}`, base[1]),
			nil, []wantProblem{{"miner", 1, "", "", "not both"}}},
		{"miner neither", doc(base[1]),
			nil, []wantProblem{{"miner", 0, "", "", "give miner.hotkey"}}},
		{"static bad ss58", doc(base[0], "validators:", "  static:", "    - {hotkey: notanaddress, stake: 1}"),
			nil, []wantProblem{{"validators.static[0].hotkey", 4, "", "notanaddress", "SS58 address"}}},
		{"static same key twice", doc(base[0], "validators:", "  static:", "    - {hotkey: "+alice+", stake: 1}", "    - {hotkey: "+alicePolkadot+", stake: 2}"),
			nil, []wantProblem{{"validators.static[1].hotkey", 5, "", alicePolkadot, "same key as validators.static[0]"}}},
		{"static missing stake", doc(base[0], "validators:", "  static:", "    - {hotkey: "+alice+"}"),
			nil, []wantProblem{{"validators.static[0].stake", 4, "", "", "required"}}},
		{"static missing hotkey", doc(base[0], "validators:", "  static:", "    - stake: 3"),
			nil, []wantProblem{{"validators.static[0].hotkey", 4, "", "", "required"}}},
		{"static negative stake", doc(base[0], "validators:", "  static:", "    - {hotkey: "+alice+", stake: -3}"),
			nil, []wantProblem{{"validators.static[0].stake", 4, "", "-3", "finite number"}}},
		{"no validator source", doc(base[0]),
			nil, []wantProblem{{"validators", 0, "", "", "no validator source"}}},

		// Upstream URL.
		{"url scheme", withBase("upstream: {url: \"ftp://127.0.0.1:9000\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "ftp://127.0.0.1:9000", "http://host:port"}}},
		{"url no host", withBase("upstream: {url: \"http://\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "http://", "http://host:port"}}},
		{"url not a url", withBase("upstream: {url: \"127.0.0.1:9000\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "127.0.0.1:9000", "http://host:port"}}},
		{"url path", withBase("upstream: {url: \"http://127.0.0.1:9000/api\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "http://127.0.0.1:9000/api", "path or query"}}},
		{"url credentials", withBase("upstream: {url: \"http://u:p@127.0.0.1:9000\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "http://u:p@127.0.0.1:9000", "credentials"}}},
		{"url bad port", withBase("upstream: {url: \"http://127.0.0.1:99999\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "http://127.0.0.1:99999", "port"}}},
		{"url remote", withBase("upstream: {url: \"http://10.0.0.5:9000\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "http://10.0.0.5:9000", "allow_remote"}}},
		{"url remote name", withBase("upstream: {url: \"https://app.internal\"}"),
			nil, []wantProblem{{"upstream.url", 3, "", "https://app.internal", "allow_remote"}}},

		// Listen addresses.
		{"listen no port", withBase("listen: 127.0.0.1"),
			nil, []wantProblem{{"listen", 3, "", "127.0.0.1", "host:port"}}},
		{"listen bad port", withBase("listen: \":http\""),
			nil, []wantProblem{{"listen", 3, "", ":http", "0 to 65535"}}},
		{"admin same as listen", withBase("listen: 127.0.0.1:8080", "admin_listen: 127.0.0.1:8080"),
			nil, []wantProblem{{"admin_listen", 4, "", "127.0.0.1:8080", "must differ from listen"}}},

		// Routes.
		{"route no slash", withBase("routes:", "  - {path: healthcheck, mode: public}"),
			nil, []wantProblem{{"routes[0].path", 4, "", "healthcheck", `start with "/"`}}},
		{"route star inside", withBase("routes:", "  - {path: /a/*/b, mode: public}"),
			nil, []wantProblem{{"routes[0].path", 4, "", "/a/*/b", `may only end a path as "/*"`}}},
		{"route star without slash", withBase("routes:", "  - {path: /a*, mode: public}"),
			nil, []wantProblem{{"routes[0].path", 4, "", "/a*", `may only end a path as "/*"`}}},
		{"route query", withBase("routes:", "  - {path: \"/a?b=1\", mode: public}"),
			nil, []wantProblem{{"routes[0].path", 4, "", "/a?b=1", "without the query"}}},
		{"route duplicate", withBase("routes:", "  - {path: /a, mode: public}", "  - {path: /a, mode: deny}"),
			nil, []wantProblem{{"routes[1].path", 5, "", "/a", "duplicate of routes[0] on line 4"}}},
		{"route shadowed", withBase("routes:", "  - {path: /a/*, mode: public}", "  - {path: /a/b, mode: deny}"),
			nil, []wantProblem{{"routes[1].path", 5, "", "/a/b", "never used"}}},
		{"route duplicate by case", withBase("routes:", "  - {path: /Admin, mode: deny}", "  - {path: /admin/, mode: public}"),
			nil, []wantProblem{{"routes[1].path", 5, "", "/admin/", "duplicate of routes[0] on line 4"}}},
		{"route prefix covers its base", withBase("routes:", "  - {path: /internal/*, mode: deny}", "  - {path: /INTERNAL, mode: public}"),
			nil, []wantProblem{{"routes[1].path", 5, "", "/INTERNAL", "never used"}}},
		{"route after catch-all", withBase("routes:", "  - {path: '*', mode: deny}", "  - {path: /b, mode: public}"),
			nil, []wantProblem{{"routes[1].path", 5, "", "/b", "never used"}}},
		{"route missing path and mode", withBase("routes:", "  - {response: plain}"),
			nil, []wantProblem{{"routes[0].path", 4, "", "", "required"}, {"routes[0].mode", 4, "", "", "required"}}},
		{"route null entry", withBase("routes:", "  - ~"),
			nil, []wantProblem{{"routes[0].path", 4, "", "", "required"}, {"routes[0].mode", 4, "", "", "required"}}},
		{"route bad mode only reported once", withBase("routes:", "  - {path: /a, mode: nope}"),
			nil, []wantProblem{{"routes[0].mode", 4, "", "nope", "encrypted, signed, public or deny"}}},
		{"route encrypted response on public", withBase("routes:", "  - {path: /a, mode: public, response: encrypted}"),
			nil, []wantProblem{{"routes[0].response", 4, "", "encrypted", "needs mode encrypted"}}},

		// Keystore.
		{"persist without key source", withBase("keystore:", "  persist_file: /var/lib/fg/keys", "  storage_key_env: \"\""),
			nil, []wantProblem{{"keystore.persist_file", 4, "", "/var/lib/fg/keys", "needs a key source"}}},
		{"both key sources", withBase("keystore: {storage_key_env: MY_KEY, storage_key_file: /run/k}"),
			nil, []wantProblem{{"keystore.storage_key_env", 3, "", "MY_KEY", "not both"}}},
		{"key env bad name", withBase("keystore: {storage_key_env: \"MY KEY\"}"),
			nil, []wantProblem{{"keystore.storage_key_env", 3, "", "MY KEY", "environment variable name"}}},
		{"key env is an override", withBase("keystore: {storage_key_env: FIBERGATE_LISTEN}"),
			nil, []wantProblem{{"keystore.storage_key_env", 3, "", "FIBERGATE_LISTEN", "overrides listen"}}},

		// The redis backend.
		{"bad backend", withBase("keystore: {backend: etcd}"),
			nil, []wantProblem{{"keystore.backend", 3, "", "etcd", "want memory"}}},
		{"redis without a storage key", withBase("keystore:", "  backend: redis", "  storage_key_env: \"\""),
			nil, []wantProblem{{"keystore.backend", 4, "", "redis", "needs a storage key"}}},
		{"redis with a snapshot", withBase("keystore:", "  backend: redis", "  persist_file: /var/lib/fg/keys"),
			nil, []wantProblem{{"keystore.persist_file", 5, "", "/var/lib/fg/keys", "not used with keystore.backend redis"}}},
		{"redis addr without port", redisDoc("addr: redis.internal"),
			nil, []wantProblem{{"keystore.redis.addr", 6, "", "redis.internal", "host:port"}}},
		{"redis addr without host", redisDoc(`addr: ":6379"`),
			nil, []wantProblem{{"keystore.redis.addr", 6, "", ":6379", "host:port"}}},
		{"redis addr port 0", redisDoc(`addr: "127.0.0.1:0"`),
			nil, []wantProblem{{"keystore.redis.addr", 6, "", "127.0.0.1:0", "1 to 65535"}}},
		{"redis both password sources", redisDoc("password_env: REDIS_PW", "password_file: /run/pw"),
			nil, []wantProblem{{"keystore.redis.password_env", 6, "", "REDIS_PW", "not both"}}},
		{"redis password env bad name", redisDoc(`password_env: "REDIS PW"`),
			nil, []wantProblem{{"keystore.redis.password_env", 6, "", "REDIS PW", "environment variable name"}}},
		{"redis password env is an override", redisDoc("password_env: FIBERGATE_KEYSTORE_REDIS_ADDR"),
			nil, []wantProblem{{"keystore.redis.password_env", 6, "", "FIBERGATE_KEYSTORE_REDIS_ADDR", "overrides keystore.redis.addr"}}},
		{"redis tls names without tls", redisDoc("tls_server_name: redis.internal", "tls_ca_file: /etc/ca.pem"),
			nil, []wantProblem{{"keystore.redis.tls_server_name", 6, "", "redis.internal", "needs keystore.redis.tls: true"},
				{"keystore.redis.tls_ca_file", 7, "", "/etc/ca.pem", "needs keystore.redis.tls: true"}}},
		{"redis empty prefix", redisDoc(`prefix: ""`),
			nil, []wantProblem{{"keystore.redis.prefix", 6, "", "", "non-empty prefix"}}},
		{"redis prefix with a space", redisDoc(`prefix: "fg "`),
			nil, []wantProblem{{"keystore.redis.prefix", 6, "", "fg ", "without spaces"}}},
		{"redis timeouts and pool", redisDoc("dial_timeout: 0s", "read_timeout: -1s", "write_timeout: 0s", "pool_size: 0"),
			nil, []wantProblem{{"keystore.redis.dial_timeout", 6, "", "0s", "more than 0"}, {"keystore.redis.read_timeout", 7, "", "-1s", "more than 0"},
				{"keystore.redis.write_timeout", 8, "", "0s", "more than 0"}, {"keystore.redis.pool_size", 9, "", "0", "at least 1"}}},
		{"redis password file tilde user", redisDoc("password_file: ~root/pw"),
			[]string{"HOME=/home/m"}, []wantProblem{{"keystore.redis.password_file", 6, "", "~root/pw", "only ~ and ~/"}}},
		{"redis bad duration from env", withBase("keystore: {backend: redis}"),
			[]string{"FIBERGATE_KEYSTORE_REDIS_READ_TIMEOUT=500"}, []wantProblem{{"keystore.redis.read_timeout", 0, "FIBERGATE_KEYSTORE_REDIS_READ_TIMEOUT", "500", "duration with a unit"}}},

		// Paths.
		{"tilde user", doc(base[0], "validators:", "  nodes_file: ~root/nodes.json"),
			[]string{"HOME=/home/m"}, []wantProblem{{"validators.nodes_file", 3, "", "~root/nodes.json", "only ~ and ~/"}}},
		// The chain source.
		{"chain url scheme", chainDoc(`{url: "tcp://node:9944", netuid: 1}`),
			nil, []wantProblem{{"validators.chain.url", 4, "", "tcp://node:9944", "ws://, wss://, http:// or https://"}}},
		{"chain url without host", chainDoc(`{url: "ws://", netuid: 1}`),
			nil, []wantProblem{{"validators.chain.url", 4, "", "ws://", "JSON-RPC endpoint of a subtensor node"}}},
		{"chain url bad port", chainDoc(`{url: "ws://node:99999", netuid: 1}`),
			nil, []wantProblem{{"validators.chain.url", 4, "", "ws://node:99999", "1 to 65535"}}},
		{"chain netuid missing", chainDoc(`{url: "ws://node:9944"}`),
			nil, []wantProblem{{"validators.chain.netuid", 4, "", "", "required with validators.chain.url"}}},
		{"chain netuid too large", chainDoc(`{url: "ws://node:9944", netuid: 65536}`),
			nil, []wantProblem{{"validators.chain.netuid", 4, "", "65536", "0 to 65535"}}},
		{"chain netuid negative", chainDoc(`{url: "ws://node:9944", netuid: -1}`),
			nil, []wantProblem{{"validators.chain.netuid", 4, "", "-1", "0 to 65535"}}},
		{"chain stale policy", chainDoc(`{url: "ws://node:9944", netuid: 1, stale: sometimes}`),
			nil, []wantProblem{{"validators.chain.stale", 4, "", "sometimes", "refuse or serve"}}},
		{"chain stake rule", chainDoc(`{url: "ws://node:9944", netuid: 1, stake: alpha}`),
			nil, []wantProblem{{"validators.chain.stake", 4, "", "alpha", "fiber_2_1"}}},
		{"chain stale_after not after refresh", chainDoc(`{url: "ws://node:9944", netuid: 1, refresh: 10m, stale_after: 10m}`),
			nil, []wantProblem{{"validators.chain.stale_after", 4, "", "10m", "longer than validators.chain.refresh (10m)"}}},
		{"chain refresh zero", chainDoc(`{url: "ws://node:9944", netuid: 1, refresh: 0s}`),
			nil, []wantProblem{{"validators.chain.refresh", 4, "", "0s", "more than 0"}}},
		{"chain timeout negative", chainDoc(`{url: "ws://node:9944", netuid: 1, timeout: -1s}`),
			nil, []wantProblem{{"validators.chain.timeout", 4, "", "-1s", "more than 0"}}},
		{"chain cache is the nodes file", doc(base[0], "validators:", "  nodes_file: /n.json", `  chain: {url: "ws://node:9944", netuid: 1, cache_file: /n.json}`),
			nil, []wantProblem{{"validators.chain.cache_file", 4, "", "/n.json", "must differ from validators.nodes_file"}}},
		{"chain cache tilde user", chainDoc(`{url: "ws://node:9944", netuid: 1, cache_file: ~root/c.json}`),
			[]string{"HOME=/home/m"}, []wantProblem{{"validators.chain.cache_file", 4, "", "~root/c.json", "only ~ and ~/"}}},

		{"tilde without HOME", withBase("handshake: {rsa_key_file: ~/k.pem}"),
			nil, []wantProblem{{"handshake.rsa_key_file", 3, "", "~/k.pem", "HOME"}}},

		// File as a whole.
		{"unclosed list", withBase("upstream:", "  url: [unclosed"),
			nil, []wantProblem{{"", 4, "", "", "invalid YAML: did not find expected ',' or ']'"}}},
		{"unclosed list on line 1", doc("listen: [x", base[0], base[1]),
			nil, []wantProblem{{"", 2, "", "", "invalid YAML: did not find expected ',' or ']'"}}}, // where the parser gave up
		{"unclosed quote", withBase("listen: \"127.0.0.1:1"),
			nil, []wantProblem{{"", 3, "", "", "invalid YAML"}}},
		{"bad indentation", withBase("upstream:", "  url: http://127.0.0.1:1", " timeout: 5s"),
			nil, []wantProblem{{"", 5, "", "", "invalid YAML"}}},
		{"undefined alias", withBase("listen: *nowhere"),
			nil, []wantProblem{{"", 0, "", "", "invalid YAML: unknown anchor 'nowhere'"}}}, // yaml gives no line
		{"tab indentation", withBase("upstream:", "\turl: x"),
			nil, []wantProblem{{"", 4, "", "", "invalid YAML"}}},
		{"two documents", withBase("---", "listen: :1"),
			nil, []wantProblem{{"", 3, "", "", "second YAML document"}}},
		{"top level list", doc("- a", "- b"),
			nil, []wantProblem{{"", 1, "", "", "top level must be a mapping"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.data, "config.yaml", tc.env)
			if c != nil {
				t.Errorf("got a Config with an error")
			}
			checkProblems(t, err, tc.want)
		})
	}
}

// Values that look unusual but are allowed.
func TestGoodValues(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		env   []string
		check func(c *Config) error
	}{
		{"remote upstream allowed", []string{"upstream: {url: \"https://app.internal:8443\", allow_remote: true}"}, nil, nil},
		{"loopback v6 upstream", []string{"upstream: {url: \"http://[::1]:9000\"}"}, nil, nil},
		{"localhost upstream", []string{"upstream: {url: \"http://LOCALHOST:9000/\"}"}, nil, nil},
		{"admin disabled", []string{"admin_listen: \"\""}, nil, func(c *Config) error {
			return wantEq(c.AdminListen, "")
		}},
		{"port zero", []string{"listen: \"127.0.0.1:0\""}, nil, nil},
		{"catch-all route last", []string{"routes:", "  - {path: /healthcheck, mode: public}", "  - {path: '*', mode: deny}"}, nil, nil},
		{"stake of zero", []string{"validators: {min_stake: 0, static: [{hotkey: " + alice + ", stake: 0}]}"}, nil, func(c *Config) error {
			return wantEq(c.Validators.MinStake, 0.0)
		}},
		{"yaml bool spellings", []string{"upstream: {allow_remote: True}", "validators: {allow_ed25519: FALSE, nodes_file: /n.json}"}, nil, nil},
		{"size units", []string{"limits: {max_body: 1 GiB, max_header: 8KB}"}, nil, func(c *Config) error {
			return wantEq([]Size{c.Limits.MaxBody, c.Limits.MaxHeader}, []Size{1 << 30, 8000})
		}},
		{"chain as the only source", []string{`validators: {chain: {url: "wss://entrypoint-finney.opentensor.ai:443", netuid: 1}}`}, nil, func(c *Config) error {
			return wantEq(c.Validators.Chain, Chain{URL: "wss://entrypoint-finney.opentensor.ai:443", NetUID: 1, Stake: StakeFiber21,
				Refresh: 5 * time.Minute, StaleAfter: 30 * time.Minute, Stale: StaleRefuse, Timeout: 30 * time.Second})
		}},
		{"chain netuid 0, an HTTP URL with a path and a key", []string{`validators: {chain: {url: "https://node.example/rpc?apikey=k", netuid: 0, stake: fiber_2_5, stale: serve}}`}, nil, func(c *Config) error {
			ch := c.Validators.Chain
			return wantEq([]any{ch.NetUID, ch.Stake, ch.Stale}, []any{0, StakeFiber25, StaleServe})
		}},
		{"chain cache beside the key snapshot", []string{`validators: {chain: {url: "ws://127.0.0.1:9944", netuid: 7}}`, "keystore: {persist_file: /var/lib/fg/keys.snap}"}, nil, func(c *Config) error {
			return wantEq(c.Validators.Chain.CacheFile, "/var/lib/fg/chain-nodes.json")
		}},
		{"chain cache given", []string{`validators: {chain: {url: "ws://127.0.0.1:9944", netuid: 7, cache_file: ~/c.json}}`, "keystore: {persist_file: /var/lib/fg/keys.snap}"},
			[]string{"HOME=/home/m"}, func(c *Config) error {
				return wantEq(c.Validators.Chain.CacheFile, "/home/m/c.json")
			}},
		{"chain off: no cache beside the snapshot", []string{"keystore: {persist_file: /var/lib/fg/keys.snap}"}, nil, func(c *Config) error {
			return wantEq(c.Validators.Chain.CacheFile, "")
		}},
		{"redis backend with defaults", []string{"keystore: {backend: redis}"}, nil, func(c *Config) error {
			return wantEq(c.Keystore.Redis, Redis{Addr: "127.0.0.1:6379", Prefix: "fibergate:", DialTimeout: time.Second,
				ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, PoolSize: 64})
		}},
		{"redis backend in full", []string{"keystore:", "  backend: redis", "  storage_key_file: /run/sk",
			"  redis: {addr: \"[::1]:6380\", username: fg, password_file: ~/pw, tls: true, tls_server_name: redis.internal, tls_ca_file: ~/ca.pem,",
			"          prefix: \"miner-7:\", dial_timeout: 2s, read_timeout: 100ms, write_timeout: 200ms, pool_size: 8}"},
			[]string{"HOME=/home/m"}, func(c *Config) error {
				return wantEq(c.Keystore, Keystore{Backend: BackendRedis, PersistInterval: 30 * time.Second, StorageKeyFile: "/run/sk",
					Redis: Redis{Addr: "[::1]:6380", Username: "fg", PasswordFile: "/home/m/pw", TLS: true, TLSServerName: "redis.internal",
						TLSCAFile: "/home/m/ca.pem", Prefix: "miner-7:", DialTimeout: 2 * time.Second, ReadTimeout: 100 * time.Millisecond,
						WriteTimeout: 200 * time.Millisecond, PoolSize: 8}})
			}},
		{"redis keys unchecked with memory", []string{"keystore: {redis: {addr: nowhere, pool_size: 0}}"}, nil, func(c *Config) error {
			return wantEq(c.Keystore.Backend, BackendMemory)
		}},
		{"redis from the environment", nil, []string{"FIBERGATE_KEYSTORE_BACKEND=redis", "FIBERGATE_KEYSTORE_REDIS_ADDR=redis:6379",
			"FIBERGATE_KEYSTORE_REDIS_PASSWORD_ENV=REDIS_PASSWORD", "FIBERGATE_KEYSTORE_REDIS_TLS=true"}, func(c *Config) error {
			r := c.Keystore.Redis
			return wantEq([]any{c.Keystore.Backend, r.Addr, r.PasswordEnv, r.TLS}, []any{BackendRedis, "redis:6379", "REDIS_PASSWORD", true})
		}},
		{"tilde paths", []string{"miner: {hotkey: \"\", wallet_hotkey_file: ~/.bittensor/wallets/default/hotkeys/default}", "keystore: {persist_file: \"~\", storage_key_file: ~/sk}"},
			[]string{"HOME=/home/m/"}, func(c *Config) error {
				return wantEq([]string{c.Miner.WalletHotkeyFile, c.Keystore.PersistFile, c.Keystore.StorageKeyFile, c.Keystore.StorageKeyEnv},
					[]string{"/home/m/.bittensor/wallets/default/hotkeys/default", "/home/m", "/home/m/sk", ""})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, overBase(tc.lines...), tc.env)
			if tc.check != nil {
				if err := tc.check(c); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// redisDoc is a file with the redis backend (lines 3 and 4) and the given
// keys of keystore.redis from line 6 on.
func redisDoc(keys ...string) []byte {
	lines := []string{"keystore:", "  backend: redis", "  redis:"}
	for _, k := range keys {
		lines = append(lines, "    "+k)
	}
	return withBase(lines...)
}

// chainDoc is a file whose validators hold a static entry (line 3) and the
// chain mapping given (line 4).
func chainDoc(chain string) []byte {
	return doc(base[0], "validators:", "  static: [{hotkey: "+alice+", stake: 1}]", "  chain: "+chain)
}

// overBase is withBase, except that a case line for a top-level key that
// base also sets replaces base's line.
func overBase(lines ...string) []byte {
	var out []string
	for _, b := range base {
		key, _, _ := strings.Cut(b, ":")
		replaced := false
		for _, l := range lines {
			if strings.HasPrefix(l, key+":") {
				replaced = true
			}
		}
		if !replaced {
			out = append(out, b)
		}
	}
	return doc(append(out, lines...)...)
}

func wantEq(got, want any) error {
	if diff := cmp.Diff(want, got); diff != "" {
		return errors.New("(-want +got)\n" + diff)
	}
	return nil
}

func TestAliases(t *testing.T) {
	c := mustParse(t, doc(
		base[0],
		"validators:",
		"  static:",
		"    - &v {hotkey: "+alice+", stake: 5000}",
		"routes:",
		"  - &r {path: /a, mode: public}",
		"  - {path: /b, mode: public}",
		"default: {mode: signed}",
	), nil)
	if len(c.Routes) != 2 || c.Routes[0].Path != "/a" {
		t.Errorf("got routes %+v", c.Routes)
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want []wantProblem
		text string // the first line of Error()
	}{
		{"typo at the top", doc(base[0], base[1], "upstrem:", "  url: http://127.0.0.1:1"),
			[]wantProblem{{"upstrem", 3, "", "", `unknown key (did you mean "upstream"?)`}},
			`config.yaml:3: upstrem: unknown key (did you mean "upstream"?)`},
		{"typo nested", withBase("upstream:", "  url: http://127.0.0.1:1", "  timout: 5s"),
			[]wantProblem{{"upstream.timout", 5, "", "", `did you mean "upstream.timeout"`}},
			`config.yaml:5: upstream.timout: unknown key (did you mean "upstream.timeout"?)`},
		{"camel case", withBase("limits: {maxBody: 1MiB}"),
			[]wantProblem{{"limits.maxBody", 3, "", "", `did you mean "limits.max_body"`}}, ""},
		{"dashes", withBase("handshake: {key-ttl: 1h}"),
			[]wantProblem{{"handshake.key-ttl", 3, "", "", `did you mean "handshake.key_ttl"`}}, ""},
		{"wrong level", withBase("key_ttl: 5h"),
			[]wantProblem{{"key_ttl", 3, "", "", `did you mean "handshake.key_ttl"?`}}, ""},
		{"wrong level, a name used twice", withBase("timeout: 5s"),
			[]wantProblem{{"timeout", 3, "", "", `did you mean "upstream.timeout" or "validators.chain.timeout"?`}}, ""},
		{"wrong level two places", withBase("max_conns: 5"),
			[]wantProblem{{"max_conns", 3, "", "", `did you mean "upstream.max_conns" or "limits.max_conns"?`}}, ""},
		{"in a list entry", withBase("routes:", "  - {path: /a, mode: public, respones: plain}"),
			[]wantProblem{{"routes[0].respones", 4, "", "", `did you mean "routes[0].response"?`}}, ""},
		{"no close key", withBase("frobnicate: true"),
			[]wantProblem{{"frobnicate", 3, "", "", "unknown key"}},
			`config.yaml:3: frobnicate: unknown key`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data, "config.yaml", nil)
			checkProblems(t, err, tc.want)
			if tc.text != "" {
				if got := strings.Split(err.Error(), "\n")[0]; got != tc.text {
					t.Errorf("Error(): got %q, want %q", got, tc.text)
				}
			}
		})
	}
}

func TestSeveralProblems(t *testing.T) {
	data := doc(
		"listen: nowhere",             // 1
		"upstream:",                   // 2
		"  url: http://10.1.2.3",      // 3
		"  timeout: soon",             // 4
		"miner: {hotkey: bad}",        // 5
		"handshake: {rsa_bits: 1000}", // 6
		"validators:",                 // 7
		"  static: [{hotkey: "+alice+", stake: 5}]", // 8
		"routes:",                             // 9
		"  - {path: stream, mode: sometimes}", // 10
		"log: {levle: debug}",                 // 11
	)
	_, err := Parse(data, "cfg.yaml", []string{"FIBERGATE_NONCE_WINDOW=forever"})
	checkProblems(t, err, []wantProblem{
		{"listen", 1, "", "nowhere", "host:port"},
		{"upstream.url", 3, "", "http://10.1.2.3", "allow_remote"},
		{"upstream.timeout", 4, "", "soon", "duration"},
		{"miner.hotkey", 5, "", "bad", "SS58"},
		{"handshake.rsa_bits", 6, "", "1000", "2048"},
		{"routes[0].mode", 10, "", "sometimes", "encrypted, signed"},
		{"routes[0].path", 10, "", "stream", `start with "/"`},
		{"log.levle", 11, "", "", `did you mean "log.level"`},
		{"nonce_window", 0, "FIBERGATE_NONCE_WINDOW", "forever", "duration"},
	})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 9 {
		t.Fatalf("Error() has %d lines, want 9:\n%s", len(lines), err)
	}
	for i, want := range []string{
		`cfg.yaml:1: listen: "nowhere": want host:port`,
		`environment variable FIBERGATE_NONCE_WINDOW: nonce_window: "forever": want a duration`,
	} {
		line := lines[0]
		if i == 1 {
			line = lines[8]
		}
		if !strings.HasPrefix(line, want) {
			t.Errorf("Error() line: got %q, want prefix %q", line, want)
		}
	}
}

func TestTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("a: &a {")
	for i := range 50 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(": 1")
	}
	b.WriteString("}\nroutes: [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("*a")
	}
	b.WriteString("]\n")
	_, err := Parse([]byte(b.String()), "config.yaml", nil)
	ps := problemsOf(t, err)
	if len(ps) != maxProblems+1 {
		t.Fatalf("got %d problems, want %d plus a note", len(ps), maxProblems)
	}
	if last := ps[len(ps)-1]; !strings.Contains(last.Msg, "too many problems") {
		t.Errorf("last problem: got %q, want a too-many note", last.Msg)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"HOME=/home/m",
		"FIBERGATE_LISTEN=:7000",
		"FIBERGATE_UPSTREAM_URL=http://localhost:9001",
		"FIBERGATE_HANDSHAKE_KEY_TTL=1h",
		"FIBERGATE_VALIDATORS_MIN_STAKE=2.5",
		"FIBERGATE_UPSTREAM_ALLOW_REMOTE=true",
		"FIBERGATE_LIMITS_MAX_BODY=1MiB",
		"FIBERGATE_DEFAULT_MODE=signed",
		"FIBERGATE_LOG_LEVEL=debug",
		"FIBERGATE_KEYSTORE_STORAGE_KEY_ENV=FG_KEY",
		"FIBERGATE_VALIDATORS_NODES_FILE=~/nodes.json",
		"FIBERGATE_HANDSHAKE_RSA_BITS=4096",
		"FIBERGATE_ADMIN_LISTEN=",
		"FIBERGATE_STORAGE_KEY=c2VjcmV0LXN0b3JhZ2Uta2V5LXZhbHVlLTMyYnl0ZXM=",
		"FIBERGATE_NOT_A_KEY=whatever",
		"FIBERGATE_ROUTES=/x",
		"FIBERGATE_LISTEN=:7001", // a later entry wins
	}
	c := mustParse(t, withBase("listen: :6000", "handshake: {key_ttl: 3h}"), env)
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, ":7001"},
		{"upstream.url", c.Upstream.URL, "http://localhost:9001"},
		{"handshake.key_ttl", c.Handshake.KeyTTL, time.Hour},
		{"validators.min_stake", c.Validators.MinStake, 2.5},
		{"upstream.allow_remote", c.Upstream.AllowRemote, true},
		{"limits.max_body", c.Limits.MaxBody, Size(1 << 20)},
		{"default.mode", c.Default.Mode, ModeSigned},
		{"log.level", c.Log.Level, LogDebug},
		{"keystore.storage_key_env", c.Keystore.StorageKeyEnv, "FG_KEY"},
		{"validators.nodes_file", c.Validators.NodesFile, "/home/m/nodes.json"},
		{"handshake.rsa_bits", c.Handshake.RSABits, 4096},
		{"admin_listen", c.AdminListen, ""},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", ch.name, diff)
		}
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "c2VjcmV0") {
		t.Errorf("Marshal printed the storage key:\n%s", out)
	}
	if !strings.Contains(string(out), "key_ttl: 1h # from FIBERGATE_HANDSHAKE_KEY_TTL") {
		t.Errorf("Marshal does not say key_ttl came from the environment:\n%s", out)
	}

	t.Run("env sets the chain source", func(t *testing.T) {
		c := mustParse(t, doc(base[0]), []string{
			"FIBERGATE_VALIDATORS_CHAIN_URL=ws://127.0.0.1:9944",
			"FIBERGATE_VALIDATORS_CHAIN_NETUID=23",
			"FIBERGATE_VALIDATORS_CHAIN_STAKE=fiber_2_5",
			"FIBERGATE_VALIDATORS_CHAIN_STALE=serve",
			"FIBERGATE_VALIDATORS_CHAIN_STALE_AFTER=1h",
			"FIBERGATE_VALIDATORS_CHAIN_ALLOW_NEWER_RUNTIME=true",
		})
		want := Chain{URL: "ws://127.0.0.1:9944", NetUID: 23, Stake: StakeFiber25, Refresh: 5 * time.Minute,
			StaleAfter: time.Hour, Stale: StaleServe, Timeout: 30 * time.Second, AllowNewerRuntime: true}
		if diff := cmp.Diff(want, c.Validators.Chain); diff != "" {
			t.Errorf("chain from the environment (-want +got)\n%s", diff)
		}
	})
	t.Run("env supplies a required key", func(t *testing.T) {
		c := mustParse(t, doc(base[1]), []string{"FIBERGATE_MINER_HOTKEY=" + bob})
		if c.Miner.Hotkey != bob {
			t.Errorf("got miner.hotkey %q, want %q", c.Miner.Hotkey, bob)
		}
	})
	t.Run("bad values name the variable", func(t *testing.T) {
		_, err := Parse(withBase(), "config.yaml", []string{
			"FIBERGATE_UPSTREAM_MAX_CONNS=many",
			"FIBERGATE_UPSTREAM_ALLOW_REMOTE=perhaps",
			"FIBERGATE_UPSTREAM_URL=gopher://x",
			"FIBERGATE_LIMITS_MAX_HEADER=1X",
		})
		checkProblems(t, err, []wantProblem{
			{"limits.max_header", 0, "FIBERGATE_LIMITS_MAX_HEADER", "1X", "whole number of bytes"},
			{"upstream.allow_remote", 0, "FIBERGATE_UPSTREAM_ALLOW_REMOTE", "perhaps", "true or false"},
			{"upstream.max_conns", 0, "FIBERGATE_UPSTREAM_MAX_CONNS", "many", "whole number"},
			{"upstream.url", 0, "FIBERGATE_UPSTREAM_URL", "gopher://x", "http://host:port"},
		})
	})
}

// Every scalar key has exactly one override variable, including keys whose
// names hold underscores.
func TestEnvNames(t *testing.T) {
	var scalars int
	for _, p := range knownPaths {
		if strings.Contains(p, "[]") {
			continue
		}
		switch p {
		case "upstream", "miner", "handshake", "replay", "validators", "keystore", "keystore.redis", "routes", "default", "limits", "log", "validators.static", "validators.chain",
			"rate_limits", "rate_limits.global", "rate_limits.per_ip", "rate_limits.per_validator", "rate_limits.handshakes_per_validator", "trusted_proxies":
			continue
		}
		scalars++
		key, ok := envKeys[EnvName(p)]
		if !ok || key.path != p {
			t.Errorf("%s: variable %s maps to %q, want %q", p, EnvName(p), key.path, p)
		}
	}
	if len(envKeys) != scalars {
		t.Errorf("got %d override variables, want %d (one per scalar key)", len(envKeys), scalars)
	}
	for name, want := range map[string]string{
		"FIBERGATE_UPSTREAM_URL":                     "upstream.url",
		"FIBERGATE_HANDSHAKE_MAX_KEYS_PER_VALIDATOR": "handshake.max_keys_per_validator",
		"FIBERGATE_KEYSTORE_STORAGE_KEY_ENV":         "keystore.storage_key_env",
		"FIBERGATE_MINER_WALLET_HOTKEY_FILE":         "miner.wallet_hotkey_file",
		"FIBERGATE_VALIDATORS_NODES_FILE_POLL":       "validators.nodes_file_poll",
		"FIBERGATE_SHUTDOWN_GRACE":                   "shutdown_grace",
		"FIBERGATE_KEYSTORE_BACKEND":                 "keystore.backend",
		"FIBERGATE_KEYSTORE_REDIS_ADDR":              "keystore.redis.addr",
		"FIBERGATE_KEYSTORE_REDIS_PASSWORD_ENV":      "keystore.redis.password_env",
		"FIBERGATE_KEYSTORE_REDIS_TLS_SERVER_NAME":   "keystore.redis.tls_server_name",
		"FIBERGATE_KEYSTORE_REDIS_POOL_SIZE":         "keystore.redis.pool_size",
	} {
		if got := envKeys[name].path; got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if _, ok := envKeys[DefaultStorageKeyEnv]; ok {
		t.Errorf("the default storage key variable %s is also an override", DefaultStorageKeyEnv)
	}
}

func TestSizes(t *testing.T) {
	cases := []struct {
		in      string
		want    Size
		str     string
		wantErr bool
	}{
		{"0", 0, "0", false},
		{"1000", 1000, "1KB", false},
		{"1024", 1024, "1KiB", false},
		{"1500", 1500, "1500", false},
		{"512KiB", 512 << 10, "512KiB", false},
		{"10MiB", 10 << 20, "10MiB", false},
		{"10 MiB", 10 << 20, "10MiB", false},
		{"1GiB", 1 << 30, "1GiB", false},
		{"2TiB", 2 << 40, "2TiB", false},
		{"10MB", 10_000_000, "10MB", false},
		{"3kB", 3000, "3KB", false},
		{"3KB", 3000, "3KB", false},
		{"7GB", 7e9, "7GB", false},
		{"1TB", 1e12, "1TB", false},
		{"12B", 12, "12", false},
		{"2048KiB", 2 << 20, "2MiB", false},
		{"", 0, "", true},
		{"MiB", 0, "", true},
		{"-1", 0, "", true},
		{"+1", 0, "", true},
		{"1.5MiB", 0, "", true},
		{"10mib", 0, "", true},
		{"10 ", 0, "", true},
		{"10  MiB", 0, "", true},
		{"1e6", 0, "", true},
		{"0x10", 0, "", true},
		{"8EiB", 0, "", true},
		{"9223372036854775807", math.MaxInt64, "9223372036854775807", false},
		{"9223372036854775808", 0, "", true},
		{"8388608TiB", 0, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseSize(%q): got error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got != tc.want {
				t.Errorf("ParseSize(%q): got %d, want %d", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String(): got %q, want %q", s, tc.str)
			}
			if back, err := ParseSize(got.String()); err != nil || back != got {
				t.Errorf("ParseSize(String()): got %d, %v, want %d", back, err, got)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	cases := []struct {
		in      string
		want    time.Duration
		str     string
		wantErr bool
	}{
		{"120s", 2 * time.Minute, "2m", false},
		{"5h", 5 * time.Hour, "5h", false},
		{"1h30m", 90 * time.Minute, "1h30m", false},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s", false},
		{"500ms", 500 * time.Millisecond, "500ms", false},
		{"1.5s", 1500 * time.Millisecond, "1.5s", false},
		{"0s", 0, "0s", false},
		{"90m", 90 * time.Minute, "1h30m", false},
		{"10m", 10 * time.Minute, "10m", false},
		{"1m30s", 90 * time.Second, "1m30s", false},
		{"120", 0, "", true},
		{"5 minutes", 0, "", true},
		{"1d", 0, "", true},
		{"", 0, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			c, err := Parse(withBase(`shutdown_grace: "`+tc.in+`"`), "config.yaml", nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("shutdown_grace %q: got error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if c.ShutdownGrace != tc.want {
				t.Errorf("got %v, want %v", c.ShutdownGrace, tc.want)
			}
			if s := formatDuration(c.ShutdownGrace); s != tc.str {
				t.Errorf("formatDuration: got %q, want %q", s, tc.str)
			}
			if back, err := time.ParseDuration(formatDuration(c.ShutdownGrace)); err != nil || back != c.ShutdownGrace {
				t.Errorf("ParseDuration(formatDuration): got %v, %v, want %v", back, err, c.ShutdownGrace)
			}
		})
	}
}

func TestEnums(t *testing.T) {
	for _, m := range []Mode{ModeEncrypted, ModeSigned, ModePublic, ModeDeny} {
		var back Mode
		if err := back.UnmarshalText([]byte(m.String())); err != nil || back != m {
			t.Errorf("Mode %v: round trip got %v, %v", m, back, err)
		}
	}
	if _, err := modeUnset.MarshalText(); err == nil {
		t.Errorf("unset Mode: got no MarshalText error, want one")
	}
	for _, r := range []ResponseMode{ResponseAuto, ResponseEncrypted, ResponsePlain} {
		var back ResponseMode
		if err := back.UnmarshalText([]byte(r.String())); err != nil || back != r {
			t.Errorf("ResponseMode %v: round trip got %v, %v", r, back, err)
		}
	}
	for _, l := range []LogLevel{LogDebug, LogInfo, LogWarn, LogError} {
		var back LogLevel
		if err := back.UnmarshalText([]byte(l.String())); err != nil || back != l {
			t.Errorf("LogLevel %v: round trip got %v, %v", l, back, err)
		}
	}
	for _, bad := range []string{"Encrypted", "ENCRYPTED", " encrypted", "unset", ""} {
		var m Mode
		if err := m.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("Mode %q: got %v, want an error", bad, m)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	shipped, err := Load("../config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	custom := mustParse(t, doc(
		"listen: \":8443\"",
		"upstream: {url: \"https://app.example:443\", allow_remote: true, timeout: 1500ms, max_conns: 7}",
		"admin_listen: \"\"",
		"miner: {wallet_hotkey_file: \"/w/hot key\"}",
		"handshake: {rsa_key_file: /k.pem, rsa_bits: 3072, key_ttl: 90m, max_keys_per_validator: 2}",
		"nonce_window: 30s",
		"replay: {max_memory: 3MiB}",
		"validators:",
		"  min_stake: 0.125",
		"  allow_ed25519: true",
		"  static: [{hotkey: "+alice+", stake: 1e3}, {hotkey: "+bob+", stake: 0}]",
		"  nodes_file: /n.json",
		"  nodes_file_poll: 1m",
		"  chain: {url: \"wss://node.example:443/ws\", netuid: 3, stake: fiber_2_5, refresh: 1m, stale_after: 10m, stale: serve, timeout: 5s, cache_file: /c.json, allow_newer_runtime: true}",
		"keystore: {persist_file: /p, persist_interval: 1s, storage_key_file: \"123\"}",
		"routes:",
		"  - {path: '*', mode: deny}",
		"default: {mode: public, response: plain}",
		"limits: {max_body: 1500, max_header: 2KB, read_timeout: 1s, write_timeout: 2s, idle_timeout: 3s, max_conns: 1}",
		"shutdown_grace: 0s",
		"log: {level: error, format: json}",
	), []string{"FIBERGATE_LOG_LEVEL=warn"})
	redisCfg := mustParse(t, withBase(
		"keystore:",
		"  backend: redis",
		"  storage_key_env: FG_SK",
		"  redis: {addr: \"redis.internal:6380\", username: fg, password_env: REDIS_PW, tls: true, tls_server_name: r.internal, tls_ca_file: /ca.pem, prefix: \"m7:\", dial_timeout: 2s, read_timeout: 150ms, write_timeout: 250ms, pool_size: 9}",
	), nil)
	for _, c := range []*Config{shipped, custom, redisCfg} {
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out, "marshaled", nil)
		if err != nil {
			t.Fatalf("Parse(Marshal()): %v\n%s", err, out)
		}
		if diff := cmp.Diff(c, back, ignoreOrigins); diff != "" {
			t.Errorf("round trip (-want +got)\n%s\n%s", diff, out)
		}
	}
}

func TestRateLimits(t *testing.T) {
	c := mustParse(t, withBase(
		"rate_limits:",
		"  global: {per_second: 5000, burst: 10000}",
		"  per_ip: {per_second: 0}",
	), []string{"FIBERGATE_RATE_LIMITS_PER_VALIDATOR_BURST=50"})
	if c.RateLimits.Global != (Rate{PerSecond: 5000, Burst: 10000}) || c.RateLimits.PerIP.PerSecond != 0 || c.RateLimits.PerValidator.Burst != 50 {
		t.Errorf("got %+v", c.RateLimits)
	}
	n := len(base)
	_, err := Parse(withBase(
		"rate_limits:",
		"  per_validator: {per_second: -1, burst: 5}",
		"  handshakes_per_validator: {per_second: 2, burst: 0}",
		"limits:",
		"  max_conns_per_ip: -3",
	), "config.yaml", nil)
	checkProblems(t, err, []wantProblem{
		{"rate_limits.per_validator.per_second", n + 2, "", "-1", "0 (off) or a positive number"},
		{"rate_limits.handshakes_per_validator.burst", n + 3, "", "0", "at least 1"},
		{"limits.max_conns_per_ip", n + 5, "", "-3", "0 (no cap) or more"},
	})
}

func TestPortZeroListenersMayMatch(t *testing.T) {
	c := mustParse(t, withBase(`listen: "127.0.0.1:0"`, `admin_listen: "127.0.0.1:0"`), nil)
	if c.Listen != c.AdminListen {
		t.Fatalf("got listen %q, admin_listen %q", c.Listen, c.AdminListen)
	}
	if _, err := Parse(withBase(`listen: "127.0.0.1:8080"`, `admin_listen: "127.0.0.1:8080"`), "config.yaml", nil); err == nil {
		t.Error("the same fixed address for both listeners was accepted")
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":       "10.0.0.0/8",
		"10.1.2.3/8":       "10.0.0.0/8",
		"192.168.1.7":      "192.168.1.7/32",
		"::1":              "::1/128",
		"::ffff:127.0.0.1": "127.0.0.1/32",
		"fd00::/8":         "fd00::/8",
	} {
		got, err := ParsePrefix(in)
		if err != nil || got.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "proxy.local", "10.0.0.0/33", "10.0.0.0/x", "1.2.3"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) accepted", bad)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes("allow_clients", []string{"127.0.0.1", "10.1.2.3/8"})
	if err != nil || len(got) != 2 || got[0].String() != "127.0.0.1/32" || got[1].String() != "10.0.0.0/8" {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = ParsePrefixes("trusted_proxies", []string{"10.0.0.0/8", "proxy.local"})
	if err == nil || !strings.Contains(err.Error(), `trusted_proxies: "proxy.local"`) {
		t.Fatalf("a bad entry gave %v, want the key and the entry named", err)
	}
}
