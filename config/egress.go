package config

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"time"
)

// Defaults of the egress config. As for serve's, they are applied in one
// place, egressDefaults, before the file is read.
const (
	DefaultEgressListen             = "127.0.0.1:8090"
	DefaultEgressAdminListen        = "127.0.0.1:9190"
	DefaultEgressMode               = ModeEncrypted
	DefaultEncryptedResponses       = true
	DefaultMinersNodesFilePoll      = 5 * time.Second
	DefaultMinersChainRefresh       = 5 * time.Minute
	DefaultMinersChainTimeout       = 30 * time.Second
	DefaultTimeoutHandshake         = 10 * time.Second
	DefaultTimeoutConnect           = 3 * time.Second
	DefaultTimeoutFirstByte         = 60 * time.Second
	DefaultTimeoutIdle              = 60 * time.Second
	DefaultTimeoutTotal             = 10 * time.Minute
	DefaultEgressKeyTTL             = 5 * time.Hour
	DefaultEgressRenewBefore        = 30 * time.Minute
	DefaultEgressStorageKeyEnv      = "FIBERGATE_EGRESS_STORAGE_KEY"
	DefaultMaxInFlight              = 4096
	DefaultMaxInFlightPerMiner      = 512
	DefaultEgressMaxBody       Size = 10 << 20
	DefaultEgressMaxResponse   Size = 10 << 20
	DefaultEgressMaxStreamLine Size = 1 << 20
	DefaultBackoffAfter             = 3
	DefaultBackoffInitial           = time.Second
	DefaultBackoffMax               = time.Minute
)

// EgressEnvPrefix starts the name of every environment variable that
// overrides an egress config key: FIBERGATE_EGRESS_LISTEN sets listen.
// It differs from serve's prefix, so one environment can hold both.
const EgressEnvPrefix = "FIBERGATE_EGRESS_"

// Egress is the whole, effective configuration of `fibergate egress`, the
// validator's sidecar: the file's values over the defaults, overrides
// applied, paths expanded. An Egress returned by LoadEgress or ParseEgress
// has passed validation. It holds no secret, only where secrets are.
type Egress struct {
	// Listen is the host:port the validator's own code sends plain HTTP
	// to. Whoever reaches it signs as the validator's hotkey, so it must be
	// a loopback address unless AllowClients names who may connect.
	// Default "127.0.0.1:8090".
	Listen string `yaml:"listen"`
	// AdminListen is the host:port of /metrics, /healthz and /readyz;
	// empty disables it. Default "127.0.0.1:9190".
	AdminListen string `yaml:"admin_listen"`
	// AllowClients are the addresses (CIDRs or single IPs) that may send
	// requests; any other is refused with 403. Required when Listen is not
	// a loopback address. Default none: loopback callers only.
	AllowClients []string `yaml:"allow_clients"`
	// Validator names the hotkey egress signs with.
	Validator EgressValidator `yaml:"validator"`
	// Miners are where egress finds each miner's address.
	Miners Miners `yaml:"miners"`
	// Mode is how requests on paths no route matches are sent: encrypted
	// (Fiber's key exchange and a Fernet body) or signed (Fiber's light
	// flavour: the body as it is, signed). Default encrypted.
	Mode Mode `yaml:"mode"`
	// EncryptedResponses asks miners to encrypt their answers too
	// (X-Fiber-Response-Encryption: fernet, which fibergate's serve honours
	// and Fiber's own server ignores); egress decrypts them. Only in
	// encrypted mode. Default true.
	EncryptedResponses bool `yaml:"encrypted_responses"`
	// Routes choose the mode by the miner-side path (what follows
	// /miner/<ss58> or /uid/<n>); the first match wins. Default none.
	Routes []EgressRoute `yaml:"routes"`
	// Timeouts bound each phase of talking to a miner.
	Timeouts Timeouts `yaml:"timeouts"`
	// Keys configures the symmetric keys exchanged with miners.
	Keys EgressKeys `yaml:"keys"`
	// Limits bound what callers may send and how much runs at once.
	Limits EgressLimits `yaml:"limits"`
	// Backoff says when a failing miner is left alone for a while.
	Backoff Backoff `yaml:"backoff"`
	// ShutdownGrace is how long in-flight requests may run after a stop
	// signal. Default 30s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Log configures the process log.
	Log Log `yaml:"log"`

	origins map[string]origin
}

// EgressValidator names the validator's hotkey; exactly one key is given.
// The secret seed itself is never in the file.
type EgressValidator struct {
	// WalletHotkeyFile is a Bittensor wallet hotkey file holding the
	// secretSeed; a leading ~ is the home directory. Default empty.
	WalletHotkeyFile string `yaml:"wallet_hotkey_file"`
	// SeedEnv names an environment variable holding the hotkey's seed as
	// 0x and 64 hex digits. Default empty.
	SeedEnv string `yaml:"seed_env"`
}

// Miners lists where miners' addresses come from. Sources combine by
// public key: static over nodes_file over chain.
type Miners struct {
	// Static lists miners by hotkey and address. Default none.
	Static []StaticMiner `yaml:"static"`
	// NodesFile is a Fiber nodes.json (hotkey, node_id, ip, port,
	// ip_type), re-read when it changes. A leading ~ is the home
	// directory. Default empty.
	NodesFile string `yaml:"nodes_file"`
	// NodesFilePoll is how often NodesFile is checked. Default 5s.
	NodesFilePoll time.Duration `yaml:"nodes_file_poll"`
	// Chain reads the subnet's axons from a subtensor node.
	Chain MinersChain `yaml:"chain"`
	// AllowExplicitAddress lets a request name the miner's address itself
	// (header X-Fibergate-Address) instead of taking it from a source. Off,
	// egress dials only addresses its sources name. Default false.
	AllowExplicitAddress bool `yaml:"allow_explicit_address"`
}

// StaticMiner is one miner listed in the file.
type StaticMiner struct {
	// Hotkey is the miner's SS58 address. Required.
	Hotkey string `yaml:"hotkey"`
	// Address is the miner's base URL: http:// or https://, a host and a
	// port, no path. Required.
	Address string `yaml:"address"`
	// UID is the miner's uid, so /uid/<n> can name it; -1 or absent: none.
	UID int `yaml:"uid"`
}

// MinersChain reads the subnet's metagraph (get_neurons_lite) for each
// neuron's axon. It is off while URL is empty.
type MinersChain struct {
	// URL is the node's JSON-RPC endpoint: ws://, wss://, http:// or
	// https://. Default empty.
	URL string `yaml:"url"`
	// NetUID is the subnet. Required with URL.
	NetUID int `yaml:"netuid"`
	// Refresh is how often the axons are read. Default 5m.
	Refresh time.Duration `yaml:"refresh"`
	// Timeout bounds one read. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// AllowNewerRuntime reads a runtime newer than the newest known one
	// with the newest known layout. Default false.
	AllowNewerRuntime bool `yaml:"allow_newer_runtime"`
}

// EgressRoute applies a mode to the miner-side paths that match Path
// (patterns as serve's routes: exact, a prefix ending in "/*", or "*").
type EgressRoute struct {
	// Path is the pattern. Required.
	Path string `yaml:"path"`
	// Mode is encrypted or signed. Required.
	Mode Mode `yaml:"mode"`
}

// Timeouts bound the phases of a request to a miner.
type Timeouts struct {
	// Handshake bounds a whole key exchange (the public key and the
	// exchange). Fiber's client fixes 3s. Default 10s.
	Handshake time.Duration `yaml:"handshake"`
	// Connect bounds opening a connection. Default 3s.
	Connect time.Duration `yaml:"connect"`
	// FirstByte bounds the wait for the miner's answer headers once the
	// request is sent. Default 60s.
	FirstByte time.Duration `yaml:"first_byte"`
	// Idle bounds the wait for each further piece of an answer, such as
	// the next line of a stream. Default 60s.
	Idle time.Duration `yaml:"idle"`
	// Total bounds a whole request, key exchange and stream included.
	// Default 10m.
	Total time.Duration `yaml:"total"`
}

// EgressKeys configures the symmetric keys.
type EgressKeys struct {
	// TTL is how long a miner keeps a key (Fiber: 5h). Default 5h.
	TTL time.Duration `yaml:"ttl"`
	// RenewBefore is how long before TTL runs out a key in use is
	// exchanged anew. Default 30m.
	RenewBefore time.Duration `yaml:"renew_before"`
	// PersistFile is an encrypted snapshot of the keys, so they survive a
	// restart; empty keeps them in memory. Default empty.
	PersistFile string `yaml:"persist_file"`
	// PersistInterval is how often a changed snapshot is written (and
	// always at shutdown). Default 30s.
	PersistInterval time.Duration `yaml:"persist_interval"`
	// StorageKeyEnv names the environment variable holding the storage
	// key (url-safe base64 of 32 bytes) that seals the snapshot. Cleared
	// when StorageKeyFile is given. Default "FIBERGATE_EGRESS_STORAGE_KEY".
	StorageKeyEnv string `yaml:"storage_key_env"`
	// StorageKeyFile is a file holding the storage key instead. Default
	// empty.
	StorageKeyFile string `yaml:"storage_key_file"`
}

// EgressLimits bound sizes and concurrency.
type EgressLimits struct {
	// MaxInFlight bounds requests being served at once; more are refused
	// with 503 overloaded. Default 4096.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxInFlightPerMiner bounds requests to one miner at once (each
	// holds a connection to it). Default 512.
	MaxInFlightPerMiner int `yaml:"max_in_flight_per_miner"`
	// MaxBody is the largest request body accepted (413 above). Default
	// 10MiB.
	MaxBody Size `yaml:"max_body"`
	// MaxResponse is the largest whole answer from a miner egress reads
	// (502 miner_bad_answer above); streams are not bounded by it.
	// Default 10MiB.
	MaxResponse Size `yaml:"max_response"`
	// MaxStreamLine is the longest line of an encrypted stream; a longer
	// one cuts the stream. Default 1MiB.
	MaxStreamLine Size `yaml:"max_stream_line"`
	// MaxHeader is the largest request header block accepted, at least
	// 1KiB. Default 16KiB.
	MaxHeader Size `yaml:"max_header"`
	// ReadTimeout bounds reading one request from a caller. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one answer to a caller, streams
	// included. Default 10m.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a caller's keep-alive connection may wait
	// for its next request. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// Backoff leaves a miner alone after consecutive failures to reach it
// (refused or timed-out connections, exchanges without a usable answer):
// requests to it get 503 miner_backoff with Retry-After until the wait is
// over. An answer of any kind from the miner ends the run of failures.
type Backoff struct {
	// AfterFailures is how many failures in a row start it. Default 3.
	AfterFailures int `yaml:"after_failures"`
	// Initial is the first wait; each further failure doubles it.
	// Default 1s.
	Initial time.Duration `yaml:"initial"`
	// Max caps the wait. Default 1m.
	Max time.Duration `yaml:"max"`
}

func egressDefaults() Egress {
	return Egress{
		Listen:             DefaultEgressListen,
		AdminListen:        DefaultEgressAdminListen,
		Mode:               DefaultEgressMode,
		EncryptedResponses: DefaultEncryptedResponses,
		Miners: Miners{
			NodesFilePoll: DefaultMinersNodesFilePoll,
			Chain:         MinersChain{Refresh: DefaultMinersChainRefresh, Timeout: DefaultMinersChainTimeout},
		},
		Timeouts: Timeouts{
			Handshake: DefaultTimeoutHandshake,
			Connect:   DefaultTimeoutConnect,
			FirstByte: DefaultTimeoutFirstByte,
			Idle:      DefaultTimeoutIdle,
			Total:     DefaultTimeoutTotal,
		},
		Keys: EgressKeys{
			TTL:             DefaultEgressKeyTTL,
			RenewBefore:     DefaultEgressRenewBefore,
			PersistInterval: DefaultPersistInterval,
			StorageKeyEnv:   DefaultEgressStorageKeyEnv,
		},
		Limits: EgressLimits{
			MaxInFlight:         DefaultMaxInFlight,
			MaxInFlightPerMiner: DefaultMaxInFlightPerMiner,
			MaxBody:             DefaultEgressMaxBody,
			MaxResponse:         DefaultEgressMaxResponse,
			MaxStreamLine:       DefaultEgressMaxStreamLine,
			MaxHeader:           DefaultMaxHeader,
			ReadTimeout:         DefaultReadTimeout,
			WriteTimeout:        DefaultWriteTimeout,
			IdleTimeout:         DefaultIdleTimeout,
		},
		Backoff:       Backoff{AfterFailures: DefaultBackoffAfter, Initial: DefaultBackoffInitial, Max: DefaultBackoffMax},
		ShutdownGrace: DefaultShutdownGrace,
		Log:           Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}

// egressSchema is the decoder's view of Egress.
var egressSchema = schema{
	known: knownPathsOf(reflect.TypeFor[Egress]()),
	env:   envKeysOf(reflect.TypeFor[Egress](), EgressEnvPrefix),
}

// EgressEnvName returns the environment variable that overrides the egress
// key path, such as FIBERGATE_EGRESS_TIMEOUTS_TOTAL for timeouts.total.
func EgressEnvName(path string) string { return envName(EgressEnvPrefix, path) }

// LoadEgress reads the YAML file at path and parses it as ParseEgress does.
func LoadEgress(path string, env []string) (*Egress, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseEgress(data, path, env)
}

// readFile reads a config file of at most maxFileSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading config %q: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("reading config %q: larger than %s", path, Size(maxFileSize))
	}
	return data, nil
}

// ParseEgress decodes an egress configuration over the defaults, applies
// the FIBERGATE_EGRESS_<PATH> overrides in env, expands a leading ~ in
// paths, and validates the result, returning every problem together in an
// *Error, as Parse does for serve's config.
func ParseEgress(data []byte, source string, env []string) (*Egress, error) {
	c := egressDefaults()
	c.origins = make(map[string]origin)
	shadow := egressDefaults()
	var ps problems
	vars, d := decodeInto(data, &c, &shadow, c.origins, egressSchema, env, &ps)
	if d == nil {
		return nil, ps.err(source)
	}
	k := &egressChecker{checker: checker{origins: c.origins, ps: &ps, bad: d.bad, env: egressSchema.env}, e: &c}
	k.normalize(vars)
	k.validate()
	if err := ps.err(source); err != nil {
		return nil, err
	}
	return &c, nil
}

// Marshal returns the effective egress configuration as YAML, as
// Config.Marshal does for serve's.
func (c *Egress) Marshal() ([]byte, error) {
	return marshal(reflect.ValueOf(c).Elem(), c.origins)
}
