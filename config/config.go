package config

import "time"

// Defaults for every key that has one. They are applied in one place,
// defaults, before the file is read, so a key absent from the file keeps
// the value named here.
const (
	DefaultListen                   = "0.0.0.0:8080"
	DefaultUpstreamURL              = "http://127.0.0.1:9000"
	DefaultUpstreamTimeout          = 60 * time.Second
	DefaultUpstreamMaxConns         = 512
	DefaultUpstreamIdleTimeout      = time.Second
	DefaultAdminListen              = "127.0.0.1:9100"
	DefaultRSABits                  = 2048
	DefaultKeyTTL                   = 5 * time.Hour
	DefaultMaxKeysPerValidator      = 64
	DefaultNonceWindow              = 120 * time.Second
	DefaultReplayMaxMemory     Size = 64 << 20
	DefaultMinStake                 = 1000.0
	DefaultNodesFilePoll            = 5 * time.Second
	DefaultChainRefresh             = 5 * time.Minute
	DefaultChainStaleAfter          = 30 * time.Minute
	DefaultChainTimeout             = 30 * time.Second
	DefaultChainStale               = StaleRefuse
	DefaultChainStake               = StakeFiber21
	DefaultChainCacheName           = "chain-nodes.json"
	DefaultPersistInterval          = 30 * time.Second
	DefaultStorageKeyEnv            = "FIBERGATE_STORAGE_KEY"
	DefaultBackend                  = BackendMemory
	DefaultRedisAddr                = "127.0.0.1:6379"
	DefaultRedisPrefix              = "fibergate:"
	DefaultRedisDialTimeout         = time.Second
	DefaultRedisReadTimeout         = 500 * time.Millisecond
	DefaultRedisWriteTimeout        = 500 * time.Millisecond
	DefaultRedisPoolSize            = 64
	DefaultMode                     = ModeEncrypted
	DefaultResponse                 = ResponseAuto
	DefaultMaxBody             Size = 10 << 20
	DefaultMaxResponse         Size = 10 << 20
	DefaultMaxStreamLine       Size = 1 << 20
	DefaultMaxHeader           Size = 16 << 10
	DefaultReadTimeout              = 30 * time.Second
	DefaultWriteTimeout             = 10 * time.Minute
	DefaultIdleTimeout              = 120 * time.Second
	DefaultMaxConns                 = 10000
	DefaultMaxConnsPerIP            = 256
	DefaultShutdownGrace            = 30 * time.Second
	DefaultLogLevel                 = LogInfo
	DefaultLogFormat                = LogText
)

// Config is the whole, effective configuration: the file's values over the
// defaults, with environment overrides applied and paths expanded. A Config
// returned by Load or Parse has passed validation. It holds no secret, only
// paths and variable names that lead to secrets.
type Config struct {
	// Listen is the host:port validators connect to. Default "0.0.0.0:8080".
	Listen string `yaml:"listen"`
	// Upstream describes the app fibergate forwards verified requests to.
	Upstream Upstream `yaml:"upstream"`
	// AdminListen is the host:port of /metrics, /healthz and /readyz; empty
	// disables the admin listener. Default "127.0.0.1:9100".
	AdminListen string `yaml:"admin_listen"`
	// Miner names the hotkey of the miner fibergate stands in front of.
	Miner Miner `yaml:"miner"`
	// Handshake configures the RSA key exchange and the symmetric keys it
	// hands out.
	Handshake Handshake `yaml:"handshake"`
	// NonceWindow is how far a nonce's timestamp may be from the server's
	// clock, in either direction. Default 120s, as in Fiber.
	NonceWindow time.Duration `yaml:"nonce_window"`
	// Replay configures the in-memory replay guard (replay.Memory), which
	// remembers used nonces (keystore.backend memory; with redis, Redis
	// holds them, in replay.Redis).
	Replay Replay `yaml:"replay"`
	// Validators says who may talk to the miner and with what stake.
	Validators Validators `yaml:"validators"`
	// Keystore configures where symmetric keys and used nonces are kept:
	// in memory, optionally with an encrypted snapshot, or in Redis.
	Keystore Keystore `yaml:"keystore"`
	// Routes are checked in order against the request path; the first match
	// decides. A path no route matches gets Default. Default: none.
	Routes []Route `yaml:"routes"`
	// Default is the policy for paths that no route matches. Default mode
	// encrypted, response auto.
	Default Policy `yaml:"default"`
	// Limits bound sizes, timeouts and connections on the validator side.
	Limits Limits `yaml:"limits"`
	// RateLimits bound how fast requests are served; 429 above.
	RateLimits RateLimits `yaml:"rate_limits"`
	// TrustedProxies are the addresses (CIDRs or single IPs) of front
	// proxies whose X-Forwarded-For names the client. Empty: the
	// connection's peer is the client, and client-sent forwarding headers
	// are replaced. Default none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ShutdownGrace is how long in-flight requests may run after a stop
	// signal before connections are closed. 0 closes at once. Default 30s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Log configures the process log.
	Log Log `yaml:"log"`

	// origins records where each key's value came from (file line or
	// environment variable), for problem reports and Marshal's comments.
	origins map[string]origin
}

// Upstream describes the app behind fibergate.
type Upstream struct {
	// URL is the app's base URL: http:// or https://, a host and an optional
	// port, no path, query or credentials. Default "http://127.0.0.1:9000".
	URL string `yaml:"url"`
	// Timeout bounds one upstream request from connect to the end of the
	// response body, a streamed body included: raise it for streams that
	// run longer. Default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConns is the number of connections to the app, in use or kept
	// alive. Default 512.
	MaxConns int `yaml:"max_conns"`
	// IdleTimeout is how long a kept-alive connection to the app may sit
	// unused and still carry a request; keep it below the app server's
	// keep-alive timeout (gunicorn 2s, uvicorn and Node 5s), so fibergate
	// never sends a request on a connection the app is closing. Default 1s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AllowRemote permits a URL host that is not loopback or localhost.
	// Off by default, so decrypted traffic does not leave the machine by a
	// typo. Default false.
	AllowRemote bool `yaml:"allow_remote"`
}

// Miner names the miner's own hotkey. Exactly one of the two keys is given.
type Miner struct {
	// Hotkey is the miner's SS58 address. Default empty.
	Hotkey string `yaml:"hotkey"`
	// WalletHotkeyFile is the path of a Bittensor wallet hotkey file to read
	// the address from; a leading ~ is the home directory. Default empty.
	WalletHotkeyFile string `yaml:"wallet_hotkey_file"`
}

// Handshake configures the RSA key exchange.
type Handshake struct {
	// RSAKeyFile is a PEM RSA private key to serve; empty makes a fresh key
	// at every start, as Fiber does. A leading ~ is the home directory.
	// Default empty.
	RSAKeyFile string `yaml:"rsa_key_file"`
	// RSABits is the size of the fresh key when RSAKeyFile is empty: 2048,
	// 3072 or 4096. Default 2048.
	RSABits int `yaml:"rsa_bits"`
	// KeyTTL is how long an exchanged symmetric key stays usable. Default 5h,
	// as in Fiber.
	KeyTTL time.Duration `yaml:"key_ttl"`
	// MaxKeysPerValidator caps the symmetric keys one validator may hold at
	// once; the oldest is dropped beyond it. Default 64.
	MaxKeysPerValidator int `yaml:"max_keys_per_validator"`
}

// Replay configures the in-memory replay guard, replay.Memory.
type Replay struct {
	// MaxMemory is the most memory the guard may hold. Every encrypted
	// request records two nonces (header and body), each for about
	// nonce_window; a request the guard has no room for is refused with
	// 429 nonce_capacity, never let through. The default covers about
	// 19,500 requests a second with the default 120 s window, and the rate
	// scales with the budget and inversely with the window; `fibergate
	// check-config` prints the rate a config covers. At least 1MiB (more
	// for windows over about 10 minutes). Default 64MiB.
	MaxMemory Size `yaml:"max_memory"`
}

// Validators configures the validator sources and the stake floor.
type Validators struct {
	// MinStake is the least stake a validator needs; a stake equal to it is
	// enough. Must be finite and >= 0. Default 1000.
	MinStake float64 `yaml:"min_stake"`
	// AllowEd25519 accepts ed25519 signatures besides sr25519. Fiber only
	// verifies sr25519. Default false.
	AllowEd25519 bool `yaml:"allow_ed25519"`
	// Static lists validators by hotkey and stake. An entry here wins over
	// the same hotkey in NodesFile. Default none.
	Static []StaticValidator `yaml:"static"`
	// NodesFile is the path of a Fiber nodes.json, re-read when it changes.
	// A leading ~ is the home directory. Default empty.
	NodesFile string `yaml:"nodes_file"`
	// NodesFilePoll is how often NodesFile is checked for changes.
	// Default 5s.
	NodesFilePoll time.Duration `yaml:"nodes_file_poll"`
	// Chain reads the validators from a subtensor node. It ranks below
	// NodesFile and Static: an entry there wins over the same hotkey here.
	Chain Chain `yaml:"chain"`
}

// Chain configures reading the subnet's metagraph from a subtensor node
// over JSON-RPC. It is off while URL is empty.
type Chain struct {
	// URL is the node's JSON-RPC endpoint: ws://, wss://, http:// or
	// https://. Empty turns the chain source off. Default empty.
	URL string `yaml:"url"`
	// NetUID is the subnet, 0 to 65535. Required with URL.
	NetUID int `yaml:"netuid"`
	// Stake says which number is a validator's stake: fiber_2_1 (the sum
	// of get_neurons_lite's stake entries: under dTAO, the hotkey's own
	// alpha) or fiber_2_5 (get_metagraph's total_stake: alpha plus
	// TAO-weighted stake, after delegation). min_stake is compared with
	// it. Default fiber_2_1.
	Stake StakeRule `yaml:"stake"`
	// Refresh is how often the metagraph is read; a failed read is retried
	// sooner, with backoff. Default 5m, as in Fiber.
	Refresh time.Duration `yaml:"refresh"`
	// StaleAfter is how old the last good list may grow, while reads fail,
	// before Stale applies. Longer than Refresh. Default 30m.
	StaleAfter time.Duration `yaml:"stale_after"`
	// Stale is what happens then: refuse (validators known only from the
	// chain are refused, /readyz answers 503) or serve (the last good list
	// stays in use). Default refuse.
	Stale StalePolicy `yaml:"stale"`
	// Timeout bounds one read of the chain, every call included.
	// Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// CacheFile is where the last good list is kept, as Fiber's
	// nodes.json, and read at start. Default: chain-nodes.json beside
	// keystore.persist_file when that is set, else none. A leading ~ is
	// the home directory.
	CacheFile string `yaml:"cache_file"`
	// AllowNewerRuntime reads a runtime newer than the newest one whose
	// layout fibergate knows with that layout, instead of refusing it.
	// Default false.
	AllowNewerRuntime bool `yaml:"allow_newer_runtime"`
}

// StaticValidator is one validator listed in the config file. Both keys are
// required.
type StaticValidator struct {
	// Hotkey is the validator's SS58 address.
	Hotkey string `yaml:"hotkey"`
	// Stake is the stake to credit the validator with; finite and >= 0.
	Stake float64 `yaml:"stake"`
}

// Keystore configures where exchanged symmetric keys and used nonces are
// kept, and the storage key that seals keys at rest.
type Keystore struct {
	// Backend is memory (this process only) or redis (shared by every
	// replica through Redis, see Redis). Default memory.
	Backend Backend `yaml:"backend"`
	// PersistFile is the path of the snapshot of the memory backend; empty
	// keeps keys in memory only, so they are lost at restart. Not used with
	// the redis backend. A leading ~ is the home directory. Default empty.
	PersistFile string `yaml:"persist_file"`
	// PersistInterval is how often the snapshot is written. Default 30s.
	PersistInterval time.Duration `yaml:"persist_interval"`
	// StorageKeyEnv names the environment variable holding the storage key
	// that seals the snapshot, or with the redis backend every key in
	// Redis (every replica needs the same one). Only the name is
	// configuration; the value is read at start and never printed. Cleared
	// when StorageKeyFile is given.
	// Default "FIBERGATE_STORAGE_KEY".
	StorageKeyEnv string `yaml:"storage_key_env"`
	// StorageKeyFile is the path of a file holding the storage key, used
	// instead of StorageKeyEnv. A leading ~ is the home directory.
	// Default empty.
	StorageKeyFile string `yaml:"storage_key_file"`
	// Redis configures the redis backend; ignored with memory.
	Redis Redis `yaml:"redis"`
}

// Redis configures the connection of the redis backend. The password is
// never in the file: it comes from an environment variable or a file.
type Redis struct {
	// Addr is the Redis server's host:port. Default "127.0.0.1:6379".
	Addr string `yaml:"addr"`
	// Username is the ACL user; empty uses the default user. Default empty.
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password.
	// Default empty (no password).
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile is the path of a file holding the password, instead of
	// PasswordEnv. A leading ~ is the home directory. Default empty.
	PasswordFile string `yaml:"password_file"`
	// TLS connects with TLS, verifying the server against the system's
	// roots or TLSCAFile. Default false.
	TLS bool `yaml:"tls"`
	// TLSServerName is the name the server's certificate must carry;
	// empty means the host of Addr. Needs TLS. Default empty.
	TLSServerName string `yaml:"tls_server_name"`
	// TLSCAFile is a PEM file of the CA certificates to trust instead of
	// the system's. Needs TLS. A leading ~ is the home directory.
	// Default empty.
	TLSCAFile string `yaml:"tls_ca_file"`
	// Prefix starts every Redis key and channel fibergate uses, so several
	// deployments can share one Redis. Default "fibergate:".
	Prefix string `yaml:"prefix"`
	// DialTimeout bounds opening a connection. Default 1s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds waiting for each reply; a request that needs Redis
	// fails with 503 after it. It also bounds the wait for a free pooled
	// connection. Default 500ms.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds sending each command. Default 500ms.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the number of pooled connections. Default 64.
	PoolSize int `yaml:"pool_size"`
}

// Route applies a policy to the request paths that match Path.
//
// Path is either an exact path ("/healthcheck"), a prefix pattern ending in
// "/*" that matches every path starting with the part before the "*"
// ("/stream/*" matches "/stream/" and "/stream/a/b", not "/stream"), or a
// lone "*" that matches every path. Paths are compared without the query
// string.
type Route struct {
	// Path is the pattern, as above. Required.
	Path string `yaml:"path"`
	// Mode is how requests on this route are checked. Required.
	Mode Mode `yaml:"mode"`
	// Response is how responses on this route are sent. Default auto.
	Response ResponseMode `yaml:"response"`
}

// Policy is the mode and response mode for paths no route matches.
type Policy struct {
	// Mode is how requests are checked. Default encrypted.
	Mode Mode `yaml:"mode"`
	// Response is how responses are sent. Default auto.
	Response ResponseMode `yaml:"response"`
}

// Limits bounds what validators may send and how long they may hold a
// connection.
type Limits struct {
	// MaxBody is the largest request body accepted; larger is refused with
	// 413. Default 10MiB.
	MaxBody Size `yaml:"max_body"`
	// MaxResponse is the largest fixed-length answer from the app that
	// fibergate buffers; a larger one is refused with 502
	// upstream_too_large before it is read. Streams are not bounded by it.
	// Default 10MiB.
	MaxResponse Size `yaml:"max_response"`
	// MaxStreamLine is the longest line of a stream fibergate encrypts; a
	// longer line ends the stream as cut off. Default 1MiB.
	MaxStreamLine Size `yaml:"max_stream_line"`
	// MaxHeader is the largest request header block accepted, at least
	// 1KiB. Default 16KiB.
	MaxHeader Size `yaml:"max_header"`
	// ReadTimeout bounds reading one whole request. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one whole response; streams can be long.
	// Default 10m.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConns caps concurrent validator connections. Default 10000.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerIP caps concurrent connections from one client address;
	// 0 means no cap. Default 256.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
}

// RateLimits bound how fast fibergate serves. Each limit is a sustained
// rate per second and a burst; a per_second of 0 turns that limit off.
// Refused requests get 429 rate_limited with Retry-After.
type RateLimits struct {
	// Global limits all requests together. Default off.
	Global Rate `yaml:"global"`
	// PerIP limits each client address before any signature is checked,
	// so one source cannot burn CPU on forged signatures. Turn it off when
	// every request arrives through one load balancer. Default 500/s,
	// burst 1000.
	PerIP Rate `yaml:"per_ip"`
	// PerValidator limits each verified validator's proxied requests.
	// Default 200/s, burst 400.
	PerValidator Rate `yaml:"per_validator"`
	// HandshakesPerValidator limits each verified validator's key
	// exchanges (each costs an RSA decryption). Default 1/s, burst 10.
	HandshakesPerValidator Rate `yaml:"handshakes_per_validator"`
}

// Rate is a sustained rate with a burst allowance.
type Rate struct {
	// PerSecond is the sustained rate; 0 means unlimited.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many may come at once; at least 1 when PerSecond > 0.
	Burst int `yaml:"burst"`
}

// Log configures the process log.
type Log struct {
	// Level is the least severe level written: debug, info, warn or error.
	// Default info.
	Level LogLevel `yaml:"level"`
	// Format is text or json. Default text.
	Format LogFormat `yaml:"format"`
}

// defaults returns a Config holding every default. It is the one place
// defaults are applied.
func defaults() Config {
	return Config{
		Listen: DefaultListen,
		Upstream: Upstream{
			URL:         DefaultUpstreamURL,
			Timeout:     DefaultUpstreamTimeout,
			MaxConns:    DefaultUpstreamMaxConns,
			IdleTimeout: DefaultUpstreamIdleTimeout,
		},
		AdminListen: DefaultAdminListen,
		Handshake: Handshake{
			RSABits:             DefaultRSABits,
			KeyTTL:              DefaultKeyTTL,
			MaxKeysPerValidator: DefaultMaxKeysPerValidator,
		},
		NonceWindow: DefaultNonceWindow,
		Replay:      Replay{MaxMemory: DefaultReplayMaxMemory},
		Validators: Validators{
			MinStake:      DefaultMinStake,
			NodesFilePoll: DefaultNodesFilePoll,
			Chain: Chain{
				Stake:      DefaultChainStake,
				Refresh:    DefaultChainRefresh,
				StaleAfter: DefaultChainStaleAfter,
				Stale:      DefaultChainStale,
				Timeout:    DefaultChainTimeout,
			},
		},
		Keystore: Keystore{
			Backend:         DefaultBackend,
			PersistInterval: DefaultPersistInterval,
			StorageKeyEnv:   DefaultStorageKeyEnv,
			Redis: Redis{
				Addr:         DefaultRedisAddr,
				Prefix:       DefaultRedisPrefix,
				DialTimeout:  DefaultRedisDialTimeout,
				ReadTimeout:  DefaultRedisReadTimeout,
				WriteTimeout: DefaultRedisWriteTimeout,
				PoolSize:     DefaultRedisPoolSize,
			},
		},
		Default: Policy{Mode: DefaultMode, Response: DefaultResponse},
		Limits: Limits{
			MaxBody:       DefaultMaxBody,
			MaxResponse:   DefaultMaxResponse,
			MaxStreamLine: DefaultMaxStreamLine,
			MaxHeader:     DefaultMaxHeader,
			ReadTimeout:   DefaultReadTimeout,
			WriteTimeout:  DefaultWriteTimeout,
			IdleTimeout:   DefaultIdleTimeout,
			MaxConns:      DefaultMaxConns,
			MaxConnsPerIP: DefaultMaxConnsPerIP,
		},
		RateLimits: RateLimits{
			PerIP:                  Rate{PerSecond: 500, Burst: 1000},
			PerValidator:           Rate{PerSecond: 200, Burst: 400},
			HandshakesPerValidator: Rate{PerSecond: 1, Burst: 10},
		},
		ShutdownGrace: DefaultShutdownGrace,
		Log:           Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}
