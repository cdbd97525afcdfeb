package egress

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/chain"
	"github.com/fibergate/fibergate/chain/chaintest"
	"github.com/fibergate/fibergate/internal/testvectors"
)

func TestAxonAddr(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::7")
	v6int := new(big.Int).SetBytes(v6.AsSlice()).String()
	cases := []struct {
		ip           string
		ipType, port int
		want         string // "" when not serving
	}{
		{"192.222.59.109", 4, 6028, "192.222.59.109:6028"},
		{"3235789677", 4, 6028, "192.222.59.109:6028"}, // Fiber 2.5 writes the u128 in decimal
		{"3235789677", 0, 6028, "192.222.59.109:6028"},
		{"2001:db8::7", 6, 8091, "[2001:db8::7]:8091"},
		{v6int, 6, 8091, "[2001:db8::7]:8091"},
		{v6int, 0, 8091, "[2001:db8::7]:8091"},
		{"3235789677", 6, 1, "[::c0de:3b6d]:1"}, // ip_type 6 says IPv6 whatever the size
		{"::ffff:1.2.3.4", 6, 80, "1.2.3.4:80"},
		{"0.0.0.0", 4, 8091, ""}, // never served
		{"0", 0, 0, ""},
		{"0", 4, 8091, ""},
		{"::", 6, 8091, ""},
		{"1.2.3.4", 4, 0, ""},
		{"1.2.3.4", 4, 70000, ""},
		{v6int, 4, 80, ""},                                     // ip_type 4 with more than 32 bits
		{"340282366920938463463374607431768211456", 6, 80, ""}, // 2^128
		{"example.com", 4, 80, ""},
		{"fe80::1%eth0", 6, 80, ""},
		{"", 4, 80, ""},
	}
	for _, tc := range cases {
		a, ok := AxonAddr(tc.ip, tc.ipType, tc.port)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("AxonAddr(%q, %d, %d) = %q, want %q", tc.ip, tc.ipType, tc.port, got, tc.want)
		}
	}
}

// A nodes file as Fiber 2.1 (dotted) and 2.5 (decimal) write it; static
// entries win over it; a changed file is read again, a broken one keeps the
// last good list.
func TestNodesFileSource(t *testing.T) {
	a, b, c := keypair(t, "a"), keypair(t, "b"), keypair(t, "c")
	path := filepath.Join(t.TempDir(), "nodes.json")
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(hk, ip string, uid, port int) string {
		b, _ := json.Marshal(map[string]any{"hotkey": hk, "node_id": uid, "ip": ip, "ip_type": 4, "port": port, "stake": 1.0, "netuid": 1})
		return `"` + hk + `": ` + string(b)
	}
	write("{" + strings.Join([]string{
		entry(ss58Of(a), "10.0.0.1", 1, 8091),
		entry(ss58Of(b), "167772162", 2, 8092),
		entry(ss58Of(c), "0.0.0.0", 3, 0),
	}, ",") + "}")
	var loads []string
	d, err := NewDirectory(DirectoryOptions{
		NodesFile: path, Poll: 20 * time.Millisecond, Logger: quiet(),
		Static: []StaticMiner{{Hotkey: ss58Of(b), Address: "http://127.0.0.1:9999", UID: -1}},
		OnLoad: func(s string, n int, err error) { loads = append(loads, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(uid int, wantAddr string, serving bool) {
		t.Helper()
		m, ok := d.ByUID(uid)
		if !ok || m.Addr != wantAddr || m.Serving() != serving {
			t.Errorf("uid %d: %+v, %v; want %q", uid, m, ok, wantAddr)
		}
	}
	check(1, "10.0.0.1:8091", true)
	if m, _ := d.ByKey(b.Public()); m.Addr != "127.0.0.1:9999" || m.Source != SourceStatic {
		t.Errorf("static over nodes_file: %+v", m)
	}
	if _, ok := d.ByUID(2); ok {
		t.Error("uid 2 still points at the nodes file's entry the static one replaced")
	}
	check(3, "", false)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	write("{" + entry(ss58Of(a), "10.0.0.9", 1, 9000) + "}")
	eventually(t, "the changed file", func() bool { m, ok := d.ByUID(1); return ok && m.Addr == "10.0.0.9:9000" })
	write("{broken")
	time.Sleep(100 * time.Millisecond)
	check(1, "10.0.0.9:9000", true)
}

// The chain's axons from a recorded session (get_neurons_lite, spec 343,
// netuid 1, served by chaintest): each uid's address as recorded, the 197
// axons at 0.0.0.0 or port 0 not serving, and an IPv6 axon (the first
// neuron's, rewritten in the recording) as IPv6. The same block's
// metagraph, as Fiber 2.5 turns it into nodes (the ip in decimal), gives
// the same addresses.
func TestChainSource(t *testing.T) {
	file := filepath.Join(testvectors.Dir(), "chain", "neurons_lite_netuid1_spec343_block6852690.json")
	ss, err := chaintest.LoadSession(file)
	if err != nil {
		t.Fatal(err)
	}
	// The first neuron starts at byte 2; its axon's ip (u128, little
	// endian) at 81, its ip_type at 99.
	res, err := hex.DecodeString(strings.TrimPrefix(ss.Result, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	v6 := netip.MustParseAddr("2001:db8::7").As16()
	for i := range 16 {
		res[81+i] = v6[15-i]
	}
	res[99] = 6
	ss.Result = "0x" + hex.EncodeToString(res)
	node, err := chaintest.NewServer(ss)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	fetcher, err := chain.New(chain.Options{URL: node.WSURL(), NetUID: 1, Rule: chain.StakeFiber21})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectory(DirectoryOptions{Chain: &ChainSource{Fetcher: fetcher, Timeout: 20 * time.Second}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if d.ChainRead() {
		t.Error("ChainRead before any read")
	}
	if err := d.RefreshChain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !d.ChainRead() || d.Len() != 1024 {
		t.Fatalf("%d miners", d.Len())
	}
	var fx struct {
		Decoded struct {
			Neurons []struct {
				UID    int    `json:"uid"`
				Hotkey string `json:"hotkey"`
				Axon   struct {
					IP     string `json:"ip"`
					Port   int    `json:"port"`
					IPType int    `json:"ip_type"`
				} `json:"axon"`
			} `json:"neurons"`
		} `json:"decoded"`
	}
	raw, _ := os.ReadFile(file)
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	notServing := 0
	for _, n := range fx.Decoded.Neurons {
		m, ok := d.ByUID(n.UID)
		if !ok || m.Hotkey != n.Hotkey {
			t.Fatalf("uid %d: %+v", n.UID, m)
		}
		if n.UID == 0 {
			if m.Addr != "[2001:db8::7]:"+itoa(n.Axon.Port) {
				t.Errorf("the IPv6 axon: %q", m.Addr)
			}
			continue
		}
		want := ""
		if n.Axon.IP != "0.0.0.0" && n.Axon.Port != 0 {
			want = n.Axon.IP + ":" + itoa(n.Axon.Port)
		} else {
			notServing++
		}
		if m.Addr != want {
			t.Errorf("uid %d: %q, want %q", n.UID, m.Addr, want)
		}
	}
	if notServing != 197 {
		t.Errorf("%d not serving, want 197", notServing)
	}

	// Fiber 2.5's view of the same block: ips in decimal.
	var sel struct {
		ResultHex string `json:"result_hex"`
	}
	raw, _ = os.ReadFile(filepath.Join(testvectors.Dir(), "chain", "selective_mechagraph_netuid1_spec343_block6852690.json"))
	if err := json.Unmarshal(raw, &sel); err != nil {
		t.Fatal(err)
	}
	b, _ := hex.DecodeString(strings.TrimPrefix(sel.ResultHex, "0x"))
	mg, err := chain.DecodeSelectiveMetagraph(b)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := chain.NodesFromMetagraph(mg, 1)
	if err != nil {
		t.Fatal(err)
	}
	decimal := 0
	for _, n := range nodes[1:] {
		if isDecimal(n.IP) && n.IP != "0" {
			decimal++
		}
		m := nodeMiner(n.PublicKey, n.NodeID, n.IP, n.IPType, n.Port, SourceNodesFile)
		lite, _ := d.ByUID(n.NodeID)
		if m.Addr != lite.Addr {
			t.Errorf("uid %d: from the decimal %q: %q, from neurons_lite %q", n.NodeID, n.IP, m.Addr, lite.Addr)
		}
	}
	if decimal < 800 {
		t.Errorf("only %d decimal ips: the metagraph's nodes are not what Fiber 2.5 writes", decimal)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// A miner its source lists at 0.0.0.0 or port 0 is not serving: 502
// miner_not_serving, by hotkey and by uid, and nothing is dialed.
func TestMinerNotServing(t *testing.T) {
	idle := keypair(t, "idle")
	path := filepath.Join(t.TempDir(), "nodes.json")
	b, _ := json.Marshal(map[string]any{ss58Of(idle): map[string]any{"hotkey": ss58Of(idle), "node_id": 4, "ip": "0.0.0.0", "ip_type": 4, "port": 0, "stake": 0}})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dir, err := NewDirectory(DirectoryOptions{NodesFile: path, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Keypair: keypair(t, "validator"), Directory: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, url: serveHandler(t, h), hc: http.DefaultClient}
	for _, p := range []string{"/miner/" + ss58Of(idle) + "/echo", "/uid/4/echo"} {
		if a := r.post(p, `{}`); a.status != 502 || a.code() != "miner_not_serving" {
			t.Errorf("%s: %d %q", p, a.status, a.code())
		}
	}
}
