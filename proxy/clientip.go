package proxy

import (
	"bytes"
	"net/netip"

	"github.com/valyala/fasthttp"
)

var hXForwardedFor = []byte("X-Forwarded-For")

// clientAddr is fibergate's view of the client: the connection's peer, or,
// when the peer is a trusted front proxy, the nearest address in its
// X-Forwarded-For that is not itself trusted (walking right to left, as
// nginx's real_ip_recursive does). An entry that is not an address ends the
// walk at the last address accepted. Rate limits and the forwarded
// headers use this one view.
func (h *Handler) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	if len(h.opts.TrustedProxies) == 0 || !h.trusted(peer) {
		return peer
	}
	addr := peer
	values := ctx.Request.Header.PeekAll(string(hXForwardedFor))
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for len(v) > 0 {
			var entry []byte
			if j := bytes.LastIndexByte(v, ','); j >= 0 {
				entry, v = v[j+1:], v[:j]
			} else {
				entry, v = v, nil
			}
			entry = bytes.TrimSpace(entry)
			if len(entry) == 0 {
				continue
			}
			a, err := netip.ParseAddr(string(entry))
			if err != nil {
				return addr
			}
			addr = a.Unmap()
			if !h.trusted(addr) {
				return addr
			}
		}
	}
	return addr
}

func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// appendForwarded appends the value of a Forwarded header (RFC 7239) naming
// a as the client: IPv6 addresses are bracketed and quoted.
func appendForwarded(dst []byte, a netip.Addr) []byte {
	dst = append(dst, "for="...)
	if a.Is6() {
		dst = append(dst, `"[`...)
		dst = a.AppendTo(dst)
		return append(dst, `]"`...)
	}
	return a.AppendTo(dst)
}
