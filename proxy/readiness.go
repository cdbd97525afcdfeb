package proxy

import (
	"context"
	"fmt"
	"net"
	"time"
)

// upstreamFresh is how recent an answer from the app must be for the app
// to count as up without a probe.
const upstreamFresh = 10 * time.Second

// CheckUpstream reports whether the app is reachable: it answered a request
// in the last few seconds, or a TCP connection to it opens now. It is cheap
// to call often (readiness probes) and safe for concurrent use.
func (h *Handler) CheckUpstream(ctx context.Context) error {
	if time.Since(time.Unix(0, h.up.lastOK.Load())) < upstreamFresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", h.upAddr)
	if err != nil {
		return fmt.Errorf("upstream %s unreachable: %w", h.upAddr, err)
	}
	conn.Close()
	h.up.lastOK.Store(time.Now().UnixNano())
	return nil
}
