package config

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// egressChecker validates an Egress, reporting as checker does.
type egressChecker struct {
	checker
	e *Egress
}

func (k *egressChecker) normalize(vars map[string]string) {
	c := k.e
	for _, p := range []struct {
		key string
		v   *string
	}{
		{"validator.wallet_hotkey_file", &c.Validator.WalletHotkeyFile},
		{"miners.nodes_file", &c.Miners.NodesFile},
		{"keys.persist_file", &c.Keys.PersistFile},
		{"keys.storage_key_file", &c.Keys.StorageKeyFile},
	} {
		expanded, err := expandHome(*p.v, vars["HOME"])
		if err != nil {
			k.add(p.key, *p.v, err.Error())
			continue
		}
		*p.v = expanded
	}
	// A static miner without a uid has none.
	for i := range c.Miners.Static {
		if !k.set("miners.static[" + strconv.Itoa(i) + "].uid") {
			c.Miners.Static[i].UID = -1
		}
	}
	ks := &c.Keys
	if ks.StorageKeyFile != "" && ks.StorageKeyEnv != "" {
		if k.set("keys.storage_key_env") {
			k.add("keys.storage_key_env", ks.StorageKeyEnv, "give either storage_key_env or storage_key_file, not both")
		} else {
			ks.StorageKeyEnv = ""
		}
	}
}

func (k *egressChecker) validate() {
	c := k.e
	k.addr("listen", c.Listen)
	if c.AdminListen != "" {
		k.addr("admin_listen", c.AdminListen)
		if _, port, _ := net.SplitHostPort(c.Listen); c.AdminListen == c.Listen && port != "0" {
			k.add("admin_listen", c.AdminListen, "must differ from listen; use an empty value to disable the admin listener")
		}
	}
	for i, p := range c.AllowClients {
		if _, err := ParsePrefix(p); err != nil {
			k.add("allow_clients["+strconv.Itoa(i)+"]", p, err.Error())
		}
	}
	if host, _, err := net.SplitHostPort(c.Listen); err == nil && !isLoopback(host) && len(c.AllowClients) == 0 {
		k.add("listen", c.Listen, "not a loopback address: whoever reaches egress signs as your hotkey. "+
			"Listen on 127.0.0.1, or name the callers in allow_clients (CIDRs or IPs)")
	}

	v := c.Validator
	switch {
	case v.WalletHotkeyFile == "" && v.SeedEnv == "":
		k.add("validator", "", "give validator.wallet_hotkey_file (a wallet hotkey file with its secretSeed) or validator.seed_env (a variable holding the 0x-hex seed)")
	case v.WalletHotkeyFile != "" && v.SeedEnv != "":
		k.add("validator", "", "give validator.wallet_hotkey_file or validator.seed_env, not both")
	case v.SeedEnv != "":
		k.envName("validator.seed_env", v.SeedEnv)
	}

	k.miners()

	k.egressMode("mode", c.Mode)
	k.egressRoutes()

	t := c.Timeouts
	k.positiveDuration("timeouts.handshake", t.Handshake)
	k.positiveDuration("timeouts.connect", t.Connect)
	k.positiveDuration("timeouts.first_byte", t.FirstByte)
	k.positiveDuration("timeouts.idle", t.Idle)
	k.positiveDuration("timeouts.total", t.Total)

	ks := c.Keys
	k.positiveDuration("keys.ttl", ks.TTL)
	k.positiveDuration("keys.renew_before", ks.RenewBefore)
	if ks.TTL > 0 && ks.RenewBefore >= ks.TTL {
		k.add("keys.renew_before", formatDuration(ks.RenewBefore), "must be shorter than keys.ttl ("+formatDuration(ks.TTL)+"), or every key is renewed at once")
	}
	k.positiveDuration("keys.persist_interval", ks.PersistInterval)
	if ks.StorageKeyEnv != "" {
		k.envName("keys.storage_key_env", ks.StorageKeyEnv)
	}
	if ks.PersistFile != "" && ks.StorageKeyEnv == "" && ks.StorageKeyFile == "" {
		k.add("keys.persist_file", ks.PersistFile, "needs a key source: set keys.storage_key_env or keys.storage_key_file")
	}
	if ks.PersistFile != "" && ks.PersistFile == c.Miners.NodesFile {
		k.add("keys.persist_file", ks.PersistFile, "must differ from miners.nodes_file")
	}

	l := c.Limits
	k.atLeastOne("limits.max_in_flight", l.MaxInFlight)
	k.atLeastOne("limits.max_in_flight_per_miner", l.MaxInFlightPerMiner)
	if l.MaxInFlightPerMiner > l.MaxInFlight && l.MaxInFlight > 0 {
		k.add("limits.max_in_flight_per_miner", strconv.Itoa(l.MaxInFlightPerMiner), "must be at most limits.max_in_flight ("+strconv.Itoa(l.MaxInFlight)+")")
	}
	for _, s := range []struct {
		key string
		v   Size
	}{{"limits.max_body", l.MaxBody}, {"limits.max_response", l.MaxResponse}, {"limits.max_stream_line", l.MaxStreamLine}} {
		if s.v <= 0 {
			k.add(s.key, s.v.String(), "must be more than 0")
		}
	}
	if l.MaxHeader < minMaxHeader {
		k.add("limits.max_header", l.MaxHeader.String(), "must be at least 1KiB")
	}
	k.positiveDuration("limits.read_timeout", l.ReadTimeout)
	k.positiveDuration("limits.write_timeout", l.WriteTimeout)
	k.positiveDuration("limits.idle_timeout", l.IdleTimeout)

	b := c.Backoff
	k.atLeastOne("backoff.after_failures", b.AfterFailures)
	k.positiveDuration("backoff.initial", b.Initial)
	if b.Max < b.Initial {
		k.add("backoff.max", formatDuration(b.Max), "must be at least backoff.initial ("+formatDuration(b.Initial)+")")
	}
	if c.ShutdownGrace < 0 {
		k.add("shutdown_grace", formatDuration(c.ShutdownGrace), "must not be negative; 0s closes connections at once")
	}
}

// egressMode checks that m is a mode egress sends in.
func (k *egressChecker) egressMode(key string, m Mode) {
	switch m {
	case ModeEncrypted, ModeSigned:
	case modeUnset:
		k.add(key, "", "required: encrypted or signed")
	default:
		k.add(key, m.String(), "want encrypted or signed: egress always signs what it sends")
	}
}

func (k *egressChecker) miners() {
	m := k.e.Miners
	k.positiveDuration("miners.nodes_file_poll", m.NodesFilePoll)
	if len(m.Static) == 0 && m.NodesFile == "" && m.Chain.URL == "" && !m.AllowExplicitAddress {
		k.add("miners", "", "no miner source: list miners.static, set miners.nodes_file or miners.chain.url")
	}
	hotkeys := make(map[[32]byte]string)
	uids := make(map[int]string)
	for i, s := range m.Static {
		p := "miners.static[" + strconv.Itoa(i) + "]"
		if s.Hotkey == "" {
			k.add(p+".hotkey", "", "required: the miner's SS58 address")
		} else if pub, ok := k.hotkey(p+".hotkey", s.Hotkey); ok {
			if prev, dup := hotkeys[pub]; dup {
				k.add(p+".hotkey", s.Hotkey, "the same key as "+prev)
			} else {
				hotkeys[pub] = p
			}
		}
		if s.Address == "" {
			k.add(p+".address", "", "required: the miner's base URL, such as http://203.0.113.7:8091")
		} else if msg := CheckMinerAddress(s.Address); msg != "" {
			k.add(p+".address", s.Address, msg)
		}
		switch {
		case s.UID < -1 || s.UID > 65535:
			k.add(p+".uid", strconv.Itoa(s.UID), "want a uid from 0 to 65535")
		case s.UID >= 0:
			if prev, dup := uids[s.UID]; dup {
				k.add(p+".uid", strconv.Itoa(s.UID), "the same uid as "+prev)
			} else {
				uids[s.UID] = p
			}
		}
	}
	ch := m.Chain
	const p = "miners.chain."
	k.positiveDuration(p+"refresh", ch.Refresh)
	k.positiveDuration(p+"timeout", ch.Timeout)
	if ch.URL == "" {
		return
	}
	u, err := url.Parse(ch.URL)
	switch {
	case err != nil || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		k.add(p+"url", ch.URL, "want the JSON-RPC endpoint of a subtensor node: ws://, wss://, http:// or https:// and a host")
	case u.Port() != "" && !validPort(u.Port()):
		k.add(p+"url", ch.URL, "the port must be a number from 1 to 65535")
	}
	if !k.set(p + "netuid") {
		k.add(p+"netuid", "", "required with miners.chain.url: the subnet's netuid")
	} else if ch.NetUID < 0 || ch.NetUID > 65535 {
		k.add(p+"netuid", strconv.Itoa(ch.NetUID), "want a netuid from 0 to 65535")
	}
}

// CheckMinerAddress returns why s is not a usable miner base URL
// (http:// or https://, a host and a port, nothing else), or "".
func CheckMinerAddress(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return "want http://host:port or https://host:port, such as http://203.0.113.7:8091"
	case u.User != nil:
		return "must not hold credentials"
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "must not have a path or query: the request names the path"
	case u.Port() == "":
		return "needs a port, such as :8091"
	case !validPort(u.Port()):
		return "the port must be a number from 1 to 65535"
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && a.IsUnspecified() {
		return "0.0.0.0 and :: are not addresses a miner can be reached at"
	}
	return ""
}

func (k *egressChecker) egressRoutes() {
	type seen struct {
		key, path string
		line      int
	}
	var earlier []seen
	for i, r := range k.e.Routes {
		p := "routes[" + strconv.Itoa(i) + "]"
		if r.Path == "" {
			k.add(p+".path", "", "required: an exact path such as /health, a prefix such as /task_offer/*, or *")
		} else if msg := checkPattern(r.Path); msg != "" {
			k.add(p+".path", r.Path, msg)
		} else {
			for _, e := range earlier {
				if e.path == r.Path || shadows(e.path, r.Path) {
					k.add(p+".path", r.Path, "never used: "+e.key+" ("+strconv.Quote(e.path)+lineSuffix(e.line)+") matches every path it does and comes first")
					break
				}
			}
			earlier = append(earlier, seen{key: p, path: r.Path, line: k.origins[p].line})
		}
		k.egressMode(p+".mode", r.Mode)
	}
}
