package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/chain"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/nodes"
)

// Sources of miners, from the highest precedence to the lowest: an entry
// of a higher source replaces the same hotkey's entry of a lower one.
const (
	SourceStatic    = "static"
	SourceNodesFile = "nodes_file"
	SourceChain     = "chain"
)

// Sources are the values of the miners metric's source label.
func Sources() []string { return []string{SourceStatic, SourceNodesFile, SourceChain} }

// Miner is where one miner serves.
type Miner struct {
	// PublicKey is the miner's hotkey, and Hotkey its SS58 address with
	// Bittensor's prefix, as Fiber's client sends it in miner-hotkey.
	PublicKey [32]byte
	Hotkey    string
	// UID is the miner's uid, -1 when its source gives none.
	UID int
	// Addr is host:port to dial, and TLS whether to speak HTTPS there.
	// Addr is empty when the miner is not serving (no axon: 0.0.0.0, or
	// port 0).
	Addr string
	TLS  bool
	// Source is the source the entry came from.
	Source string
}

// Serving reports whether the miner has an address to dial.
func (m *Miner) Serving() bool { return m.Addr != "" }

// StaticMiner is a miner given by hotkey and base URL.
type StaticMiner struct {
	Hotkey  string
	Address string // http://host:port or https://host:port
	UID     int    // -1: none
}

// ChainSource reads a subnet's axons.
type ChainSource struct {
	// Fetcher reads the subnet; *chain.Client is one. Required.
	Fetcher interface {
		Fetch(ctx context.Context) (*chain.Snapshot, error)
	}
	// Refresh is how often it is read (default 5m); a failed read is
	// retried sooner, from 5s doubling. Timeout bounds one read (default
	// 30s).
	Refresh, Timeout time.Duration
}

// DirectoryOptions configure a Directory.
type DirectoryOptions struct {
	Static []StaticMiner
	// NodesFile is a Fiber nodes.json, read at start (an unreadable file
	// is an error then) and again whenever it changes; a bad version
	// keeps the last good one. Poll is how often it is checked (default
	// 5s).
	NodesFile string
	Poll      time.Duration
	// Chain, when set, is read at start and every Refresh.
	Chain *ChainSource
	// OnLoad, when set, hears of every load of a source: its size, or the
	// error that kept the last good list.
	OnLoad func(source string, count int, err error)
	Logger *slog.Logger
}

// Directory finds miners by hotkey or uid. It is safe for concurrent use;
// lookups read an immutable snapshot and take no lock.
type Directory struct {
	opts DirectoryOptions
	log  *slog.Logger
	snap atomic.Pointer[dirSnapshot]

	mu     sync.Mutex // guards the layers and publishing
	static []Miner
	file   []Miner
	chain  []Miner
	chainN atomic.Int64 // reads of the chain that succeeded, for ChainRead
	// fileStamp is the nodes file as last read (guarded by fileMu, which
	// orders the poll and a reload).
	fileMu    sync.Mutex
	fileStamp nodes.FileStamp
}

type dirSnapshot struct {
	byKey map[[32]byte]*Miner
	byUID map[int]*Miner
}

// NewDirectory checks the static list, reads the nodes file, and returns
// the Directory. The chain is first read by Run.
func NewDirectory(opts DirectoryOptions) (*Directory, error) {
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Directory{opts: opts, log: opts.Logger.With("component", "miners")}
	for i, s := range opts.Static {
		m, err := staticMiner(s)
		if err != nil {
			return nil, fmt.Errorf("static miner %d: %w", i, err)
		}
		d.static = append(d.static, m)
	}
	d.loaded(SourceStatic, len(d.static), nil)
	if opts.NodesFile != "" {
		d.fileStamp = nodes.StatFile(opts.NodesFile) // before the read: a change after it is seen
		ms, err := readNodes(opts.NodesFile)
		if err != nil {
			return nil, fmt.Errorf("miners.nodes_file %s: %w", opts.NodesFile, err)
		}
		d.file = ms
		d.loaded(SourceNodesFile, len(ms), nil)
	}
	d.publish()
	return d, nil
}

func (d *Directory) loaded(source string, n int, err error) {
	if d.opts.OnLoad != nil {
		d.opts.OnLoad(source, n, err)
	}
}

// publish builds the snapshot from the layers, lowest precedence first.
// d.mu must be held or the Directory not yet shared.
func (d *Directory) publish() {
	s := &dirSnapshot{
		byKey: make(map[[32]byte]*Miner, len(d.static)+len(d.file)+len(d.chain)),
		byUID: make(map[int]*Miner),
	}
	for _, layer := range [][]Miner{d.chain, d.file, d.static} {
		for i := range layer {
			m := &layer[i]
			if old, ok := s.byKey[m.PublicKey]; ok && old.UID >= 0 && s.byUID[old.UID] == old {
				delete(s.byUID, old.UID)
			}
			s.byKey[m.PublicKey] = m
			if m.UID >= 0 {
				s.byUID[m.UID] = m
			}
		}
	}
	d.snap.Store(s)
}

// ByKey returns the miner with public key pub.
func (d *Directory) ByKey(pub [32]byte) (*Miner, bool) {
	m, ok := d.snap.Load().byKey[pub]
	return m, ok
}

// ByUID returns the miner with uid.
func (d *Directory) ByUID(uid int) (*Miner, bool) {
	m, ok := d.snap.Load().byUID[uid]
	return m, ok
}

// Len returns the number of miners listed.
func (d *Directory) Len() int { return len(d.snap.Load().byKey) }

// Run watches the nodes file and reads the chain until ctx is done.
func (d *Directory) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if d.opts.NodesFile != "" {
		wg.Go(func() { d.watchFile(ctx) })
	}
	if d.opts.Chain != nil {
		wg.Go(func() { d.runChain(ctx) })
	}
	wg.Wait()
}

// RefreshChain reads the chain once and, on success, puts its miners in
// place. A failure keeps the last good list.
func (d *Directory) RefreshChain(ctx context.Context) error {
	c := d.opts.Chain
	if c == nil {
		return nil
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	snap, err := fetchSafely(fctx, c)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.loaded(SourceChain, 0, err)
			d.log.Warn("chain miner list not refreshed; keeping the last good one", "reason", chain.FailureReason(err), "error", err)
		}
		return err
	}
	ms := make([]Miner, 0, len(snap.Nodes))
	for _, n := range snap.Nodes {
		ms = append(ms, nodeMiner(n.PublicKey, n.NodeID, n.IP, n.IPType, n.Port, SourceChain))
	}
	d.mu.Lock()
	d.chain = ms
	d.publish()
	d.mu.Unlock()
	d.chainN.Add(1)
	d.loaded(SourceChain, len(ms), nil)
	d.log.Info("chain miner list refreshed", "block", snap.Block, "miners", len(ms))
	return nil
}

// fetchSafely reads the chain; a panic in decoding an answer (a bug) is a
// failed read, not the end of the process.
func fetchSafely(ctx context.Context, c *ChainSource) (snap *chain.Snapshot, err error) {
	defer func() {
		if v := recover(); v != nil {
			snap, err = nil, fmt.Errorf("%w: reading the chain panicked: %v", chain.ErrBadAnswer, v)
		}
	}()
	return c.Fetcher.Fetch(ctx)
}

// ChainRead reports whether the chain, when it is a source, has been read
// at least once.
func (d *Directory) ChainRead() bool { return d.opts.Chain == nil || d.chainN.Load() > 0 }

func (d *Directory) runChain(ctx context.Context) {
	refresh := d.opts.Chain.Refresh
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	failures := 0
	for {
		wait := refresh
		if err := d.RefreshChain(ctx); err != nil {
			failures++
			wait = min(5*time.Second<<min(failures-1, 6), 5*time.Minute, refresh)
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// watchFile re-reads the nodes file when it changes: its size, times,
// device or inode (a file replaced by one of the same size and
// modification time, as cp -p, rsync -t and tar leave it, is seen by its
// inode or change time).
func (d *Directory) watchFile(ctx context.Context) {
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.readFile(false)
	}
}

// readFile reads the nodes file again when it changed, or always with
// force. A failure keeps the last good list.
func (d *Directory) readFile(force bool) {
	path := d.opts.NodesFile
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	st := nodes.StatFile(path)
	if !force && st.Same(d.fileStamp) {
		return
	}
	d.fileStamp = st
	ms, err := readNodes(path)
	if err != nil {
		d.loaded(SourceNodesFile, 0, err)
		d.log.Warn("nodes file not reloaded; keeping the last good one", "path", path, "error", err)
		return
	}
	d.mu.Lock()
	d.file = ms
	d.publish()
	d.mu.Unlock()
	d.loaded(SourceNodesFile, len(ms), nil)
	d.log.Info("nodes file reloaded", "path", path, "miners", len(ms))
}

// Reload reads the nodes file and the chain now (a reload signal). The
// chain is read in the background, as a read may take up to its timeout.
func (d *Directory) Reload(ctx context.Context) {
	if d.opts.NodesFile != "" {
		d.readFile(true)
	}
	if d.opts.Chain != nil {
		go d.RefreshChain(ctx)
	}
}

func readNodes(path string) (ms []Miner, err error) {
	defer func() {
		if v := recover(); v != nil {
			ms, err = nil, fmt.Errorf("reading the nodes file panicked: %v", v)
		}
	}()
	data, err := nodes.ReadFile(path)
	if err != nil {
		return nil, err
	}
	nodes, err := nodes.Parse(data, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Miner, len(nodes))
	for i, n := range nodes {
		out[i] = nodeMiner(n.PublicKey, n.NodeID, n.IP, n.IPType, n.Port, SourceNodesFile)
	}
	return out, nil
}

// nodeMiner makes a miner from a node record: its axon's address, or none
// when it is not serving or the record's address is unusable.
func nodeMiner(pub [32]byte, uid int, ip string, ipType, port int, source string) Miner {
	m := Miner{PublicKey: pub, Hotkey: ss58.Encode(pub, ss58.Bittensor), UID: uid, Source: source}
	if uid < 0 || uid > 65535 {
		m.UID = -1
	}
	if a, ok := AxonAddr(ip, ipType, port); ok {
		m.Addr = a.String()
	}
	return m
}

// AxonAddr turns a node record's ip, ip_type and port into an address to
// dial. ip may be a dotted quad, IPv6 text, or the chain's u128 in decimal
// (as Fiber 2.5 writes it): an IPv4 address when ip_type is 4, or when it
// is 0 and the number is below 2^32; IPv6 otherwise. ok is false when the
// axon is not serving (0.0.0.0, ::, port 0) or ip is not an address.
func AxonAddr(ip string, ipType, port int) (netip.AddrPort, bool) {
	if port <= 0 || port > 65535 || ip == "" {
		return netip.AddrPort{}, false
	}
	var a netip.Addr
	if isDecimal(ip) {
		v, ok := new(big.Int).SetString(ip, 10)
		if !ok || v.BitLen() > 128 {
			return netip.AddrPort{}, false
		}
		switch {
		case ipType == 4 || (ipType != 6 && v.BitLen() <= 32):
			if v.BitLen() > 32 {
				return netip.AddrPort{}, false
			}
			var b [4]byte
			v.FillBytes(b[:])
			a = netip.AddrFrom4(b)
		default:
			var b [16]byte
			v.FillBytes(b[:])
			a = netip.AddrFrom16(b)
		}
	} else {
		var err error
		if a, err = netip.ParseAddr(ip); err != nil || a.Zone() != "" {
			return netip.AddrPort{}, false
		}
		a = a.Unmap()
	}
	if a.IsUnspecified() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(port)), true
}

func isDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// staticMiner checks a static entry.
func staticMiner(s StaticMiner) (Miner, error) {
	pub, _, err := ss58.Decode(s.Hotkey)
	if err != nil {
		return Miner{}, fmt.Errorf("hotkey %q: %w", s.Hotkey, err)
	}
	addr, tls, err := ParseAddress(s.Address)
	if err != nil {
		return Miner{}, err
	}
	return Miner{PublicKey: pub, Hotkey: ss58.Encode(pub, ss58.Bittensor), UID: s.UID, Addr: addr, TLS: tls, Source: SourceStatic}, nil
}

// errAddress is the error of every unusable address.
var errAddress = errors.New("want http://host:port or https://host:port")

// ParseAddress reads a miner's base URL: http:// or https://, a host and a
// port, no path, query or credentials. It returns host:port to dial. A
// bare host:port is taken as http.
func ParseAddress(s string) (addr string, tls bool, err error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false, fmt.Errorf("address %q: %w", s, errAddress)
	}
	port, perr := strconv.Atoi(u.Port())
	if perr != nil || port < 1 || port > 65535 {
		return "", false, fmt.Errorf("address %q: %w (with a port)", s, errAddress)
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && a.IsUnspecified() {
		return "", false, fmt.Errorf("address %q: not an address to dial", s)
	}
	return u.Host, u.Scheme == "https", nil
}
