package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/replay"
)

// minMaxHeader is the least header limit that still fits a Fiber request's
// own headers (addresses, nonce, uuid and a 130-character signature).
const minMaxHeader Size = 1 << 10

// checker validates a decoded Config, reporting each problem at the origin
// of the key at fault.
type checker struct {
	c       *Config
	origins map[string]origin
	ps      *problems
	bad     map[string]bool // keys that failed to decode: no second report
	env     map[string]scalarKey
}

// add reports a problem with key unless key, or a key above it, already
// failed to decode (its value is then the default, not what was written).
func (k *checker) add(key, value, msg string) {
	for p := key; p != ""; p = parentPath(p) {
		if k.bad[p] {
			return
		}
	}
	k.ps.add(Problem{Key: key, Line: k.line(key), Env: k.origins[key].env, Value: value, Msg: msg})
}

// line returns the file line of key, or of the nearest key above it that
// came from the file, so a missing key is reported where its parent is.
func (k *checker) line(key string) int {
	for p := key; p != ""; p = parentPath(p) {
		if o, ok := k.origins[p]; ok {
			return o.line
		}
	}
	return 0
}

// parentPath returns the path one level up: "routes[1]" for
// "routes[1].path", "routes" for "routes[1]", "" at the top.
func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

func (k *checker) set(key string) bool {
	_, ok := k.origins[key]
	return ok
}

// normalize expands ~ in path keys and settles the storage key source.
func (k *checker) normalize(vars map[string]string) {
	c := k.c
	for _, p := range []struct {
		key string
		v   *string
	}{
		{"miner.wallet_hotkey_file", &c.Miner.WalletHotkeyFile},
		{"handshake.rsa_key_file", &c.Handshake.RSAKeyFile},
		{"validators.nodes_file", &c.Validators.NodesFile},
		{"validators.chain.cache_file", &c.Validators.Chain.CacheFile},
		{"keystore.persist_file", &c.Keystore.PersistFile},
		{"keystore.storage_key_file", &c.Keystore.StorageKeyFile},
		{"keystore.redis.password_file", &c.Keystore.Redis.PasswordFile},
		{"keystore.redis.tls_ca_file", &c.Keystore.Redis.TLSCAFile},
	} {
		expanded, err := expandHome(*p.v, vars["HOME"])
		if err != nil {
			k.add(p.key, *p.v, err.Error())
			continue
		}
		*p.v = expanded
	}

	// The chain list is kept beside the key snapshot unless told otherwise.
	ch := &c.Validators.Chain
	if ch.URL != "" && ch.CacheFile == "" && c.Keystore.PersistFile != "" {
		ch.CacheFile = filepath.Join(filepath.Dir(c.Keystore.PersistFile), DefaultChainCacheName)
	}

	// storage_key_file, when given, is the key source; the default variable
	// name then steps aside. Naming both explicitly is ambiguous.
	ks := &c.Keystore
	if ks.StorageKeyFile != "" && ks.StorageKeyEnv != "" {
		if k.set("keystore.storage_key_env") {
			k.add("keystore.storage_key_env", ks.StorageKeyEnv,
				"give either storage_key_env or storage_key_file, not both")
		} else {
			ks.StorageKeyEnv = ""
		}
	}
}

// expandHome replaces a leading "~" or "~/" with home.
func expandHome(p, home string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		if strings.HasPrefix(p, "~") {
			return "", fmt.Errorf("only ~ and ~/ are expanded; write the full path")
		}
		return p, nil
	}
	if home == "" {
		return "", fmt.Errorf("~ needs HOME to be set; write the full path")
	}
	return strings.TrimSuffix(home, "/") + p[1:], nil
}

func (k *checker) validate() {
	c := k.c
	k.addr("listen", c.Listen)
	if c.AdminListen != "" {
		k.addr("admin_listen", c.AdminListen)
		// Port 0 picks a free port for each listener, so it never clashes.
		if _, port, _ := net.SplitHostPort(c.Listen); c.AdminListen == c.Listen && port != "0" {
			k.add("admin_listen", c.AdminListen, "must differ from listen; use an empty value to disable the admin listener")
		}
	}

	k.upstream()
	k.miner()

	h := c.Handshake
	if h.RSABits != 2048 && h.RSABits != 3072 && h.RSABits != 4096 {
		k.add("handshake.rsa_bits", strconv.Itoa(h.RSABits), "want 2048, 3072 or 4096")
	}
	k.positiveDuration("handshake.key_ttl", h.KeyTTL)
	k.atLeastOne("handshake.max_keys_per_validator", h.MaxKeysPerValidator)
	k.positiveDuration("nonce_window", c.NonceWindow)
	if c.NonceWindow > 0 {
		if least := Size(replay.MinMemory(c.NonceWindow)); c.Replay.MaxMemory < least {
			k.add("replay.max_memory", c.Replay.MaxMemory.String(),
				"must be at least "+least.String()+" with nonce_window "+formatDuration(c.NonceWindow)+
					" (the replay guard's fixed part and one small table a second); the default is "+DefaultReplayMaxMemory.String())
		}
	}

	k.validators()
	k.keystore()
	k.routes()

	l := c.Limits
	if l.MaxBody <= 0 {
		k.add("limits.max_body", l.MaxBody.String(), "must be more than 0")
	}
	if l.MaxResponse <= 0 {
		k.add("limits.max_response", l.MaxResponse.String(), "must be more than 0")
	}
	if l.MaxStreamLine <= 0 {
		k.add("limits.max_stream_line", l.MaxStreamLine.String(), "must be more than 0")
	}
	for i, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			k.add("trusted_proxies["+strconv.Itoa(i)+"]", p, err.Error())
		}
	}
	if l.MaxHeader < minMaxHeader {
		k.add("limits.max_header", l.MaxHeader.String(), "must be at least 1KiB, room for Fiber's own headers")
	}
	k.positiveDuration("limits.read_timeout", l.ReadTimeout)
	k.positiveDuration("limits.write_timeout", l.WriteTimeout)
	k.positiveDuration("limits.idle_timeout", l.IdleTimeout)
	k.atLeastOne("limits.max_conns", l.MaxConns)
	if l.MaxConnsPerIP < 0 {
		k.add("limits.max_conns_per_ip", strconv.Itoa(l.MaxConnsPerIP), "must be 0 (no cap) or more")
	}
	for _, r := range []struct {
		key string
		r   Rate
	}{
		{"rate_limits.global", c.RateLimits.Global},
		{"rate_limits.per_ip", c.RateLimits.PerIP},
		{"rate_limits.per_validator", c.RateLimits.PerValidator},
		{"rate_limits.handshakes_per_validator", c.RateLimits.HandshakesPerValidator},
	} {
		if !(r.r.PerSecond >= 0) || math.IsInf(r.r.PerSecond, 0) {
			k.add(r.key+".per_second", strconv.FormatFloat(r.r.PerSecond, 'g', -1, 64), "must be 0 (off) or a positive number")
		}
		if r.r.PerSecond > 0 && r.r.Burst < 1 {
			k.add(r.key+".burst", strconv.Itoa(r.r.Burst), "must be at least 1 when per_second is set")
		}
	}

	if c.ShutdownGrace < 0 {
		k.add("shutdown_grace", formatDuration(c.ShutdownGrace), "must not be negative; 0s closes connections at once")
	}
}

func (k *checker) positiveDuration(key string, d time.Duration) {
	if d <= 0 {
		k.add(key, formatDuration(d), "must be more than 0, such as 30s")
	}
}

func (k *checker) atLeastOne(key string, n int) {
	if n < 1 {
		k.add(key, strconv.Itoa(n), "must be at least 1")
	}
}

func (k *checker) stake(key string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		k.add(key, strconv.FormatFloat(f, 'f', -1, 64), "must be a finite number, 0 or more")
	}
}

// addr checks a host:port listen address; the host may be empty (every
// interface) and the port 0 (any free port).
func (k *checker) addr(key, a string) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		k.add(key, a, "want host:port, such as 127.0.0.1:8080 or :8080")
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		k.add(key, a, "the port must be a number from 0 to 65535")
		return
	}
	if strings.ContainsAny(host, " /") {
		k.add(key, a, "the host must be an IP address or a name")
	}
}

func (k *checker) upstream() {
	u := k.c.Upstream
	const key = "upstream.url"
	p, err := url.Parse(u.URL)
	switch {
	case err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Opaque != "":
		k.add(key, u.URL, "want http://host:port or https://host:port, such as http://127.0.0.1:9000")
	case p.User != nil:
		k.add(key, u.URL, "must not hold credentials; the app sees fibergate as a local client")
	case (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Fragment != "" || p.ForceQuery:
		k.add(key, u.URL, "must not have a path or query; requests keep their own path")
	case p.Port() != "" && !validPort(p.Port()):
		k.add(key, u.URL, "the port must be a number from 1 to 65535")
	case !u.AllowRemote && !isLoopback(p.Hostname()):
		k.add(key, u.URL, "the host is not this machine (localhost or a loopback address); "+
			"decrypted requests would cross the network. Set upstream.allow_remote: true if that is intended")
	}
	k.positiveDuration("upstream.timeout", u.Timeout)
	k.atLeastOne("upstream.max_conns", u.MaxConns)
	k.positiveDuration("upstream.idle_timeout", u.IdleTimeout)
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hotkey checks an SS58 address and returns its public key.
func (k *checker) hotkey(key, addr string) ([32]byte, bool) {
	pub, _, err := ss58.Decode(addr)
	if err != nil {
		k.add(key, addr, "want an SS58 address such as 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY ("+
			strings.TrimPrefix(err.Error(), "decoding ss58 address: ")+")")
		return pub, false
	}
	if pub == ([32]byte{}) {
		k.add(key, addr, "the all-zero key is never a valid hotkey")
		return pub, false
	}
	return pub, true
}

func (k *checker) miner() {
	m := k.c.Miner
	switch {
	case m.Hotkey == "" && m.WalletHotkeyFile == "":
		k.add("miner", "", "give miner.hotkey (an SS58 address) or miner.wallet_hotkey_file")
	case m.Hotkey != "" && m.WalletHotkeyFile != "":
		k.add("miner", "", "give miner.hotkey or miner.wallet_hotkey_file, not both")
	case m.Hotkey != "":
		k.hotkey("miner.hotkey", m.Hotkey)
	}
}

func (k *checker) validators() {
	v := k.c.Validators
	k.stake("validators.min_stake", v.MinStake)
	k.positiveDuration("validators.nodes_file_poll", v.NodesFilePoll)
	if len(v.Static) == 0 && v.NodesFile == "" && v.Chain.URL == "" {
		k.add("validators", "", "no validator source: list validators.static, set validators.nodes_file "+
			"or validators.chain.url, or every signed request is refused")
	}
	k.chain()
	first := make(map[[32]byte]string)
	for i, s := range v.Static {
		p := "validators.static[" + strconv.Itoa(i) + "]"
		if s.Hotkey == "" {
			k.add(p+".hotkey", "", "required: the validator's SS58 address")
		} else if pub, ok := k.hotkey(p+".hotkey", s.Hotkey); ok {
			if prev, dup := first[pub]; dup {
				k.add(p+".hotkey", s.Hotkey, "the same key as "+prev)
			} else {
				first[pub] = p
			}
		}
		if !k.set(p + ".stake") {
			k.add(p+".stake", "", "required: the stake to credit this validator with")
		} else {
			k.stake(p+".stake", s.Stake)
		}
	}
}

func (k *checker) chain() {
	c := k.c.Validators.Chain
	const p = "validators.chain."
	k.positiveDuration(p+"refresh", c.Refresh)
	k.positiveDuration(p+"timeout", c.Timeout)
	if c.StaleAfter <= c.Refresh && c.Refresh > 0 {
		k.add(p+"stale_after", formatDuration(c.StaleAfter),
			"must be longer than validators.chain.refresh ("+formatDuration(c.Refresh)+"), or the list goes stale between reads")
	}
	if c.URL == "" {
		return
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		k.add(p+"url", c.URL, "want the JSON-RPC endpoint of a subtensor node: ws://, wss://, http:// or https:// and a host, "+
			"such as wss://entrypoint-finney.opentensor.ai:443")
	case u.Port() != "" && !validPort(u.Port()):
		k.add(p+"url", c.URL, "the port must be a number from 1 to 65535")
	}
	if !k.set(p + "netuid") {
		k.add(p+"netuid", "", "required with validators.chain.url: the subnet's netuid")
	} else if c.NetUID < 0 || c.NetUID > 65535 {
		k.add(p+"netuid", strconv.Itoa(c.NetUID), "want a netuid from 0 to 65535")
	}
	if c.CacheFile != "" && c.CacheFile == k.c.Validators.NodesFile {
		k.add(p+"cache_file", c.CacheFile, "must differ from validators.nodes_file; fibergate writes this file")
	}
}

func (k *checker) keystore() {
	ks := k.c.Keystore
	k.positiveDuration("keystore.persist_interval", ks.PersistInterval)
	if ks.StorageKeyEnv != "" {
		k.envName("keystore.storage_key_env", ks.StorageKeyEnv)
	}
	if ks.PersistFile != "" && ks.StorageKeyEnv == "" && ks.StorageKeyFile == "" {
		k.add("keystore.persist_file", ks.PersistFile, "needs a key source: set keystore.storage_key_env or keystore.storage_key_file")
	}
	if ks.Backend == BackendRedis {
		k.redis()
	}
}

// envName checks a key whose value names an environment variable that
// holds a secret.
func (k *checker) envName(key, name string) {
	switch {
	case !validEnvName(name):
		k.add(key, name, "want an environment variable name: letters, digits and _, not starting with a digit")
	case k.overrides(name) != "":
		k.add(key, name, "names a variable that overrides "+k.overrides(name)+"; choose another name")
	}
}

// redis checks the redis backend's keys; they are not checked, nor used,
// with the memory backend.
func (k *checker) redis() {
	ks := k.c.Keystore
	r := ks.Redis
	const p = "keystore.redis."
	if ks.StorageKeyEnv == "" && ks.StorageKeyFile == "" {
		k.add("keystore.backend", "redis", "needs a storage key to seal the keys kept in Redis: set keystore.storage_key_env or keystore.storage_key_file")
	}
	if ks.PersistFile != "" {
		k.add("keystore.persist_file", ks.PersistFile, "not used with keystore.backend redis, where the keys live in Redis; remove it")
	}
	host, port, err := net.SplitHostPort(r.Addr)
	switch {
	case err != nil || host == "" || strings.ContainsAny(host, " /"):
		k.add(p+"addr", r.Addr, "want the Redis server's host:port, such as 127.0.0.1:6379 or redis.internal:6379")
	case !validPort(port):
		k.add(p+"addr", r.Addr, "the port must be a number from 1 to 65535")
	}
	switch {
	case r.PasswordEnv != "" && r.PasswordFile != "":
		k.add(p+"password_env", r.PasswordEnv, "give either password_env or password_file, not both")
	case r.PasswordEnv != "":
		k.envName(p+"password_env", r.PasswordEnv)
	}
	if !r.TLS {
		if r.TLSServerName != "" {
			k.add(p+"tls_server_name", r.TLSServerName, "needs keystore.redis.tls: true")
		}
		if r.TLSCAFile != "" {
			k.add(p+"tls_ca_file", r.TLSCAFile, "needs keystore.redis.tls: true")
		}
	}
	if r.Prefix == "" || strings.IndexFunc(r.Prefix, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0 {
		k.add(p+"prefix", r.Prefix, "want a non-empty prefix without spaces or control characters, such as fibergate:")
	}
	k.positiveDuration(p+"dial_timeout", r.DialTimeout)
	k.positiveDuration(p+"read_timeout", r.ReadTimeout)
	k.positiveDuration(p+"write_timeout", r.WriteTimeout)
	k.atLeastOne(p+"pool_size", r.PoolSize)
}

// overrides returns the key path the environment variable name overrides
// in the config being checked, or "".
func (k *checker) overrides(name string) string {
	env := k.env
	if env == nil {
		env = envKeys
	}
	return env[name].path
}

func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

func (k *checker) routes() {
	c := k.c
	k.policy("default", c.Default.Mode, c.Default.Response)
	type seen struct {
		key, path string
		line      int
	}
	var earlier []seen
	for i, r := range c.Routes {
		p := "routes[" + strconv.Itoa(i) + "]"
		if r.Path == "" {
			k.add(p+".path", "", "required: an exact path such as /healthcheck, a prefix such as /stream/*, or *")
		} else if msg := checkPattern(r.Path); msg != "" {
			k.add(p+".path", r.Path, msg)
		} else {
			for _, e := range earlier {
				if routeKey(e.path) == routeKey(r.Path) {
					k.add(p+".path", r.Path, "duplicate of "+e.key+lineSuffix(e.line)+"; the first match wins, so this route is never used")
					break
				}
				if shadows(e.path, r.Path) {
					k.add(p+".path", r.Path, "never used: "+e.key+" ("+strconv.Quote(e.path)+lineSuffix(e.line)+") matches every path it does and comes first")
					break
				}
			}
			earlier = append(earlier, seen{key: p, path: r.Path, line: c.origins[p].line})
		}
		if r.Mode == modeUnset {
			k.add(p+".mode", "", "required: encrypted, signed, public or deny")
		} else {
			k.policy(p, r.Mode, r.Response)
		}
	}
}

func lineSuffix(line int) string {
	if line == 0 {
		return ""
	}
	return " on line " + strconv.Itoa(line)
}

// policy checks that the response mode is possible under the mode: only
// the encrypted mode has a symmetric key to encrypt a response with.
func (k *checker) policy(key string, m Mode, r ResponseMode) {
	if r == ResponseEncrypted && m != ModeEncrypted {
		k.add(key+".response", r.String(), "needs mode encrypted (mode "+m.String()+" has no key to encrypt with); use auto or plain")
	}
}

// checkPattern returns why a route path is invalid, or "" when it is fine.
func checkPattern(p string) string {
	if p == "*" {
		return ""
	}
	if !strings.HasPrefix(p, "/") {
		return `must start with "/" (or be "*" to match every path)`
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && (i != len(p)-1 || !strings.HasSuffix(p, "/*")) {
		return `"*" may only end a path as "/*" (or be the whole path)`
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' {
			return "must not hold spaces, control characters, ? or #; routes match the path without the query"
		}
	}
	return ""
}

// shadows reports whether the earlier pattern a matches every path that the
// later pattern b matches, under the proxy's rule: ASCII case and one
// trailing "/" do not matter, and "/p/*" also matches "/p".
func shadows(a, b string) bool {
	if a == "*" {
		return true
	}
	base, ok := strings.CutSuffix(a, "/*")
	if !ok {
		return false
	}
	base = routeKey(base)
	if b == "*" {
		return base == ""
	}
	b = routeKey(strings.TrimSuffix(b, "/*"))
	return b == base || strings.HasPrefix(b, base+"/")
}

// routeKey is a route pattern as the proxy compares it: ASCII letters in
// lower case and one trailing "/" dropped (the proxy's routes.go rule).
func routeKey(p string) string {
	p = strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, p)
	if len(p) > 1 && !strings.HasSuffix(p, "/*") {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// ParsePrefix reads one entry of an address list (serve's trusted_proxies,
// egress's allow_clients): a CIDR such as "10.0.0.0/8", or a single
// address, which is taken as its own /32 or /128.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("want a CIDR such as 10.0.0.0/8 or an IP address")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("want a CIDR such as 10.0.0.0/8 or an IP address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParsePrefixes reads a whole address list; key names it in the error.
func ParsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", key, s, err)
		}
		out = append(out, p)
	}
	return out, nil
}
