package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/validators"
)

// readiness is /readyz: ready means a signed request from a listed
// validator would be served now. Not ready (503, the reason in the body)
// while fibergate would refuse every validator (the list empty, or no one
// at min_stake, or a stale chain list withheld), while it cannot record a
// nonce (the replay guard before its floor, Redis unreachable, refusing
// writes or evicting), or while the app cannot be reached. Ready answers
// may carry warnings: a stale chain list still served, a nodes file that
// no longer loads.
type readiness struct {
	vals     *validators.Registry
	h        *proxy.Handler
	minStake float64
	// backend says whether a nonce can be recorded now (the memory
	// replay guard past its floor; Redis reachable, taking writes and not
	// evicting).
	backend func(context.Context) error
}

func (rd readiness) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var warnings []string
	notReady, chainMsg := chainReadiness(rd.vals, now)
	if notReady {
		http.Error(w, chainMsg, http.StatusServiceUnavailable)
		return
	}
	if chainMsg != "" {
		warnings = append(warnings, chainMsg)
	}
	set := rd.vals.Current()
	switch {
	case set.Len() == 0:
		http.Error(w, "not ready: the validator list is empty", http.StatusServiceUnavailable)
		return
	case !validators.Eligible(set.MaxStake(), rd.minStake):
		http.Error(w, fmt.Sprintf("not ready: no validator has validators.min_stake (%g): %d listed, the highest stake %g",
			rd.minStake, set.Len(), set.MaxStake()), http.StatusServiceUnavailable)
		return
	}
	if err, since := rd.vals.NodesFileError(); err != nil {
		warnings = append(warnings, fmt.Sprintf("the nodes file does not load since %s (serving its last good list): %v",
			since.UTC().Format(time.RFC3339), err))
	}
	if err := rd.backend(r.Context()); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := rd.h.CheckUpstream(r.Context()); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if len(warnings) > 0 {
		io.WriteString(w, strings.Join(warnings, "\n")+"\n")
		return
	}
	io.WriteString(w, "ready\n")
}
