package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var egressBase = []string{
	`validator: {seed_env: VALIDATOR_SEED}`,
	`miners:`,
	`  static: [{hotkey: "` + bob + `", address: "http://127.0.0.1:8080"}]`,
}

func egressDoc(lines ...string) []byte {
	return doc(append(append([]string(nil), egressBase...), lines...)...)
}

var ignoreEgressOrigins = cmpopts.IgnoreUnexported(Egress{})

func TestShippedEgressConfig(t *testing.T) {
	c, err := LoadEgress("../egress.yaml", []string{"HOME=/home/validator"})
	if err != nil {
		t.Fatalf("the shipped egress.yaml does not load:\n%v", err)
	}
	want := egressDefaults()
	want.Validator.SeedEnv = "VALIDATOR_SEED"
	want.Miners.Static = []StaticMiner{{Hotkey: bob, Address: "http://127.0.0.1:8080", UID: 0}}
	want.Log = Log{Level: LogInfo, Format: LogText}
	if diff := cmp.Diff(want, *c, ignoreEgressOrigins); diff != "" {
		t.Errorf("egress.yaml: (-want +got)\n%s", diff)
	}
	if k, err := DetectKind(mustRead(t, "../egress.yaml")); err != nil || k != KindEgress {
		t.Errorf("DetectKind(egress.yaml) = %v, %v; want egress", k, err)
	}
	if k, err := DetectKind(mustRead(t, "../config.yaml")); err != nil || k != KindServe {
		t.Errorf("DetectKind(config.yaml) = %v, %v; want serve", k, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEgressDefaults(t *testing.T) {
	c, err := ParseEgress(egressDoc(), "egress.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8090" || c.AdminListen != "127.0.0.1:9190" || c.Mode != ModeEncrypted || !c.EncryptedResponses {
		t.Errorf("got %+v", c)
	}
	if c.Miners.Static[0].UID != -1 {
		t.Errorf("a static miner without uid: got uid %d, want -1", c.Miners.Static[0].UID)
	}
	// The default bounds admit at least 256 requests at once to one miner.
	if c.Limits.MaxInFlightPerMiner < 256 || c.Limits.MaxInFlight < c.Limits.MaxInFlightPerMiner {
		t.Errorf("in-flight bounds %d per miner, %d in all: want at least 256 to one miner", c.Limits.MaxInFlightPerMiner, c.Limits.MaxInFlight)
	}
	if c.Timeouts != (Timeouts{Handshake: 10 * time.Second, Connect: 3 * time.Second, FirstByte: time.Minute, Idle: time.Minute, Total: 10 * time.Minute}) {
		t.Errorf("timeouts %+v", c.Timeouts)
	}
}

// Every problem of an egress file is reported at once, each with its key
// and line, as for serve's.
func TestEgressProblems(t *testing.T) {
	data := doc(
		`listen: "0.0.0.0:8090"`, // 1
		`validator: {}`,          // 2
		`miners:`,                // 3
		`  static:`,              // 4
		`    - {hotkey: "5Fnope", address: "ftp://x"}`,                                         // 5
		`    - {hotkey: "`+bob+`", address: "http://10.0.0.1:8091/api", uid: 70000}`,           // 6
		`    - {hotkey: "`+bob+`", address: "http://10.0.0.2"}`,                                // 7
		`  chain: {url: "wss://node:443"}`,                                                     // 8
		`mode: public`,                                                                         // 9
		`routes: [{path: "/a/*", mode: signed}, {path: "/a/b", mode: encrypted}, {path: "x"}]`, // 10
		`timeouts: {idle: 0s, total: 5}`,                                                       // 11
		`keys: {ttl: 1h, renew_before: 2h, persist_file: /var/keys, storage_key_env: ""}`,      // 12
		`limits: {max_in_flight: 10, max_in_flight_per_miner: 20}`,                             // 13
		`backoff: {initial: 2s, max: 1s}`,                                                      // 14
		`frobnicate: 1`,                                                                        // 15
		`timeout: 3s`,                                                                          // 16
	)
	_, err := ParseEgress(data, "egress.yaml", nil)
	if err == nil {
		t.Fatal("no error")
	}
	got := err.Error()
	for _, want := range []string{
		`egress.yaml:1: listen: "0.0.0.0:8090": not a loopback address`,
		`egress.yaml:2: validator: give validator.wallet_hotkey_file`,
		`egress.yaml:5: miners.static[0].hotkey: "5Fnope": want an SS58 address`,
		`egress.yaml:5: miners.static[0].address: "ftp://x": want http://host:port`,
		`egress.yaml:6: miners.static[1].address: "http://10.0.0.1:8091/api": must not have a path`,
		`egress.yaml:6: miners.static[1].uid: "70000": want a uid from 0 to 65535`,
		`egress.yaml:7: miners.static[2].hotkey: "` + bob + `": the same key as miners.static[1]`,
		`egress.yaml:7: miners.static[2].address: "http://10.0.0.2": needs a port`,
		`egress.yaml:8: miners.chain.netuid: required with miners.chain.url`,
		`egress.yaml:9: mode: "public": want encrypted or signed`,
		`egress.yaml:10: routes[1].path: "/a/b": never used: routes[0]`,
		`egress.yaml:10: routes[2].path: "x": must start with "/"`,
		`egress.yaml:10: routes[2].mode: required: encrypted or signed`,
		`egress.yaml:11: timeouts.idle: "0s": must be more than 0`,
		`egress.yaml:11: timeouts.total: "5": want a duration with a unit`,
		`egress.yaml:12: keys.renew_before: "2h": must be shorter than keys.ttl (1h)`,
		`egress.yaml:12: keys.persist_file: "/var/keys": needs a key source`,
		`egress.yaml:13: limits.max_in_flight_per_miner: "20": must be at most limits.max_in_flight (10)`,
		`egress.yaml:14: backoff.max: "1s": must be at least backoff.initial (2s)`,
		`egress.yaml:15: frobnicate: unknown key`,
		`egress.yaml:16: timeout: unknown key (did you mean "timeouts"?)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q", want)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", got)
	}
}

func TestEgressGoodValues(t *testing.T) {
	c, err := ParseEgress(doc(
		`listen: "0.0.0.0:8090"`,
		`allow_clients: ["10.1.0.0/16", "192.0.2.7"]`,
		`validator: {wallet_hotkey_file: ~/.bittensor/wallets/v/hotkeys/h}`,
		`miners:`,
		`  static: [{hotkey: "`+alice+`", address: "https://[2001:db8::1]:8443", uid: 3}]`,
		`  nodes_file: ~/nodes.json`,
		`  chain: {url: "ws://127.0.0.1:9944", netuid: 0}`,
		`mode: signed`,
		`routes: [{path: "/enc/*", mode: encrypted}]`,
		`keys: {persist_file: /var/lib/egress/keys, storage_key_file: /run/secrets/k}`,
	), "egress.yaml", []string{"HOME=/home/v", "FIBERGATE_EGRESS_TIMEOUTS_TOTAL=30s", "FIBERGATE_TIMEOUTS_TOTAL=1s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Validator.WalletHotkeyFile != "/home/v/.bittensor/wallets/v/hotkeys/h" || c.Miners.NodesFile != "/home/v/nodes.json" {
		t.Errorf("paths not expanded: %+v %+v", c.Validator, c.Miners)
	}
	if c.Keys.StorageKeyEnv != "" || c.Keys.StorageKeyFile != "/run/secrets/k" {
		t.Errorf("storage key source: %+v", c.Keys)
	}
	if c.Timeouts.Total != 30*time.Second {
		t.Errorf("FIBERGATE_EGRESS_TIMEOUTS_TOTAL: got %v", c.Timeouts.Total)
	}
	if c.Miners.Static[0].UID != 3 || c.Mode != ModeSigned || c.Routes[0].Mode != ModeEncrypted {
		t.Errorf("got %+v", c)
	}
}

func TestEgressMarshalRoundTrip(t *testing.T) {
	c, err := ParseEgress(egressDoc(`routes: [{path: "/t/*", mode: signed}]`, `keys: {persist_file: /k}`), "egress.yaml",
		[]string{"FIBERGATE_EGRESS_LOG_LEVEL=debug"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "# from FIBERGATE_EGRESS_LOG_LEVEL") {
		t.Errorf("no origin comment:\n%s", out)
	}
	again, err := ParseEgress(out, "marshaled", nil)
	if err != nil {
		t.Fatalf("Marshal's output does not parse: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c, again, ignoreEgressOrigins); diff != "" {
		t.Errorf("round trip: (-first +second)\n%s", diff)
	}
}

func TestDetectKind(t *testing.T) {
	cases := []struct {
		data string
		want Kind
		err  bool
	}{
		{"listen: x\nupstream: {url: y}\n", KindServe, false},
		{"miners: {}\n", KindEgress, false},
		{"listen: x\nroutes: []\n", KindServe, false},
		{"", KindServe, false},
		{"{", KindServe, false},
		{"upstream: {}\nminers: {}\n", KindServe, true},
	}
	for _, tc := range cases {
		k, err := DetectKind([]byte(tc.data))
		if k != tc.want || (err != nil) != tc.err {
			t.Errorf("DetectKind(%q) = %v, %v; want %v, error %v", tc.data, k, err, tc.want, tc.err)
		}
	}
}

// Every egress key that holds a value has its own override variable, named
// as EgressEnvName says, and there is no other.
func TestEgressEnvNames(t *testing.T) {
	scalars := 0
	for name, key := range egressSchema.env {
		if got := EgressEnvName(key.path); got != name {
			t.Errorf("%s: EgressEnvName gives %s, the decoder reads %s", key.path, got, name)
		}
		scalars++
	}
	if scalars < 20 {
		t.Fatalf("only %d egress override variables", scalars)
	}
	for _, p := range []string{"timeouts.total", "keys.renew_before", "log.level", "listen"} {
		if _, ok := egressSchema.env[EgressEnvName(p)]; !ok {
			t.Errorf("%s has no override variable %s", p, EgressEnvName(p))
		}
	}
	if got := EgressEnvName("timeouts.total"); got != "FIBERGATE_EGRESS_TIMEOUTS_TOTAL" {
		t.Errorf("EgressEnvName(timeouts.total) = %s", got)
	}
}
