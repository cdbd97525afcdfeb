package chain

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fibergate/fibergate/chain/rpc"
	"github.com/fibergate/fibergate/chain/scale"
)

// ErrBadAnswer means the node answered, but not with what a subtensor node
// answers: another chain, a malformed hash, block number or hex, neurons
// of another subnet, no neurons at all.
var ErrBadAnswer = errors.New("unexpected answer from the node")

// Options configures a Client.
type Options struct {
	// URL is the node's JSON-RPC endpoint: ws://, wss://, http:// or
	// https://.
	URL string
	// NetUID is the subnet whose neurons are read.
	NetUID uint16
	// Rule decides which call is made and what stake means.
	Rule StakeRule
	// AllowNewerRuntime reads a runtime spec newer than NewestKnown with
	// the newest known layout instead of refusing it. Decoding stays
	// strict, so most layout changes still fail to decode.
	AllowNewerRuntime bool
	// RPC configures the JSON-RPC connection.
	RPC rpc.Options
}

// Client reads a subnet's nodes from a subtensor node. It is safe for
// concurrent use; each Fetch uses its own connection.
type Client struct {
	opts Options
}

// New checks opts and returns a Client. It does not connect.
func New(opts Options) (*Client, error) {
	switch {
	case strings.HasPrefix(opts.URL, "ws://"), strings.HasPrefix(opts.URL, "wss://"),
		strings.HasPrefix(opts.URL, "http://"), strings.HasPrefix(opts.URL, "https://"):
	default:
		return nil, fmt.Errorf("chain client: %w", rpc.ErrScheme)
	}
	if opts.Rule != StakeFiber21 && opts.Rule != StakeFiber25 {
		return nil, fmt.Errorf("chain client: unknown stake rule %d", int(opts.Rule))
	}
	return &Client{opts: opts}, nil
}

// Snapshot is a subnet's nodes at one block.
type Snapshot struct {
	// Block and BlockHash name the finalized block that was read.
	Block     uint64
	BlockHash string
	// SpecVersion is the runtime spec at that block.
	SpecVersion uint32
	// NetUID and Rule are the Client's.
	NetUID uint16
	Rule   StakeRule
	// Nodes are in the order the node listed them.
	Nodes []Node
}

// Fetch reads the subnet's nodes at the node's latest finalized block: its
// hash, header and runtime version, then get_neurons_lite (StakeFiber21)
// or get_metagraph (StakeFiber25) at that block. ctx bounds the whole
// exchange; cancel it to stop a node that does not answer.
func (c *Client) Fetch(ctx context.Context) (*Snapshot, error) {
	conn, err := rpc.Dial(ctx, c.opts.URL, c.opts.RPC)
	if err != nil {
		return nil, fmt.Errorf("fetching the metagraph: %w", err)
	}
	defer conn.Close()
	snap, err := c.fetch(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("fetching the metagraph of netuid %d: %w", c.opts.NetUID, err)
	}
	return snap, nil
}

// caller is what fetch needs of a connection.
type caller interface {
	Call(ctx context.Context, method string, result any, params ...any) error
}

func (c *Client) fetch(ctx context.Context, conn caller) (*Snapshot, error) {
	snap := &Snapshot{NetUID: c.opts.NetUID, Rule: c.opts.Rule}
	if err := conn.Call(ctx, "chain_getFinalizedHead", &snap.BlockHash); err != nil {
		return nil, err
	}
	if !isHash(snap.BlockHash) {
		return nil, fmt.Errorf("%w: block hash %q", ErrBadAnswer, clip(snap.BlockHash))
	}
	var header struct {
		Number string `json:"number"`
	}
	if err := conn.Call(ctx, "chain_getHeader", &header, snap.BlockHash); err != nil {
		return nil, err
	}
	num, ok := strings.CutPrefix(header.Number, "0x")
	n, err := strconv.ParseUint(num, 16, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("%w: block number %q", ErrBadAnswer, clip(header.Number))
	}
	snap.Block = n
	var version struct {
		SpecName    string `json:"specName"`
		SpecVersion uint32 `json:"specVersion"`
	}
	if err := conn.Call(ctx, "state_getRuntimeVersion", &version, snap.BlockHash); err != nil {
		return nil, err
	}
	if version.SpecName != "node-subtensor" {
		return nil, fmt.Errorf("%w: runtime %q is not subtensor's", ErrBadAnswer, clip(version.SpecName))
	}
	snap.SpecVersion = version.SpecVersion

	var arg [2]byte
	binary.LittleEndian.PutUint16(arg[:], c.opts.NetUID)
	args := "0x" + hex.EncodeToString(arg[:])
	switch c.opts.Rule {
	case StakeFiber21:
		wrapped, err := liteWrapped(snap.SpecVersion, c.opts.AllowNewerRuntime)
		if err != nil {
			return nil, err
		}
		b, err := stateCall(ctx, conn, liteCall, args, snap.BlockHash)
		if err != nil {
			return nil, err
		}
		ns, err := DecodeNeuronsLite(b, wrapped)
		if err != nil {
			return nil, err
		}
		for i := range ns {
			if ns[i].NetUID != c.opts.NetUID {
				return nil, fmt.Errorf("%w: neuron %d is of netuid %d", ErrBadAnswer, ns[i].UID, ns[i].NetUID)
			}
		}
		snap.Nodes = NodesFromNeurons(ns)
	default:
		if err := metagraphKnown(snap.SpecVersion, c.opts.AllowNewerRuntime); err != nil {
			return nil, err
		}
		b, err := stateCall(ctx, conn, metagraphCall, args, snap.BlockHash)
		if err != nil {
			return nil, err
		}
		m, err := DecodeMetagraph(b)
		if err != nil {
			return nil, err
		}
		if m.NetUID != c.opts.NetUID {
			return nil, fmt.Errorf("%w: the metagraph is of netuid %d", ErrBadAnswer, m.NetUID)
		}
		if snap.Nodes, err = NodesFromMetagraph(m, c.opts.NetUID); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadAnswer, err)
		}
	}
	// A subnet that exists has at least its owner's neuron; an empty list
	// is a node that lost its state, or a netuid that does not exist.
	if len(snap.Nodes) == 0 {
		return nil, fmt.Errorf("%w: no neurons (does netuid %d exist?)", ErrNoSubnet, c.opts.NetUID)
	}
	return snap, nil
}

// stateCall calls a runtime API method at block hash and returns the bytes
// of its answer.
func stateCall(ctx context.Context, conn caller, method, args, hash string) ([]byte, error) {
	var res rpc.HexBytes // decoded where it lies in the answer: no copy
	if err := conn.Call(ctx, "state_call", &res, method, args, hash); err != nil {
		if errors.Is(err, rpc.ErrNotHex) {
			return nil, fmt.Errorf("%w: %s answer is not 0x-prefixed hex", ErrBadAnswer, method)
		}
		return nil, err
	}
	return res, nil
}

// isHash reports whether s is a 0x-prefixed 32-byte hex hash.
func isHash(s string) bool {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Failure reasons, the bounded label values FailureReason returns.
const (
	ReasonTimeout     = "timeout"             // the node did not answer in time
	ReasonUnreachable = "unreachable"         // no connection, or it broke
	ReasonNodeError   = "node_error"          // the node answered with a JSON-RPC error
	ReasonBadResponse = "bad_response"        // not JSON-RPC, too large, undecodable
	ReasonRuntime     = "unsupported_runtime" // a runtime spec without a known layout
	ReasonNoSubnet    = "no_subnet"           // the subnet does not exist or is empty
)

// FailureReason classifies an error of Fetch into one of the Reason
// values, for metrics.
func FailureReason(err error) string {
	var re *rpc.Error
	var se *scale.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, ErrUnsupportedRuntime):
		return ReasonRuntime
	case errors.Is(err, ErrNoSubnet):
		return ReasonNoSubnet
	case errors.As(err, &re):
		return ReasonNodeError
	case errors.As(err, &se), errors.Is(err, ErrBadAnswer), errors.Is(err, rpc.ErrBadResponse),
		errors.Is(err, rpc.ErrTooLarge), errors.Is(err, rpc.ErrNull):
		return ReasonBadResponse
	}
	return ReasonUnreachable
}
