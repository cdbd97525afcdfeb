package proxy_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/testvectors"
)

type transcript struct {
	Validator struct{ SS58, Seed string }
	Miner     struct{ SS58, Seed string }
	Metagraph struct {
		MinStakeThreshold float64 `json:"min_stake_threshold"`
		Nodes             map[string]struct {
			Hotkey string
			Stake  float64
		}
	}
	RSAPrivateKeyPEM string `json:"rsa_private_key_pem"`
	Exchanges        []struct {
		Name     string
		TRequest int64 `json:"t_request_ns"`
		Request  struct {
			Method, Path string
			Headers      [][2]string
			BodyText     string `json:"body_text"`
		}
		Response struct {
			Status   int
			Headers  [][2]string
			BodyText string `json:"body_text"`
		}
		UpstreamSaw *struct {
			Method, Path string
			Body         string
		} `json:"upstream_saw"`
	}
}

// TestTranscriptReplay plays back, byte for byte, what a real Fiber 2.1
// validator sent to Fiber's own server, with the clock at each recorded
// moment, and expects fibergate to answer as that server did and the app to
// receive exactly what it received.
func TestTranscriptReplay(t *testing.T) {
	var tr transcript
	testvectors.Load(t, "transcript-fiber-2.1.json", &tr)
	key, err := rsakey.ParsePrivatePEM([]byte(tr.RSAPrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	stakes := stakeTable{}
	for addr, n := range tr.Metagraph.Nodes {
		pub, _, err := ss58.Decode(addr)
		if err != nil {
			t.Fatal(err)
		}
		stakes[pub] = n.Stake
	}
	up := startUpstream(t)
	g := startGate(t, gateOptions{
		rsa: key, miner: tr.Miner.SS58, validators: stakes,
		minStake: tr.Metagraph.MinStakeThreshold, upstream: up.URL,
		now: time.Unix(0, tr.Exchanges[0].TRequest),
	})
	for _, ex := range tr.Exchanges {
		t.Run(ex.Name, func(t *testing.T) {
			g.Clock.Set(time.Unix(0, ex.TRequest))
			before := len(up.requests())
			h := http.Header{}
			for _, kv := range ex.Request.Headers {
				switch strings.ToLower(kv[0]) {
				case "host", "content-length":
					continue
				}
				h[kv[0]] = append(h[kv[0]], kv[1])
			}
			status, _, body := rawRequest(t, ex.Request.Method, g.URL+ex.Request.Path, h, []byte(ex.Request.BodyText))
			if status != ex.Response.Status {
				t.Fatalf("status: got %d (%s), want %d", status, body, ex.Response.Status)
			}
			if ex.Name == "public_key" {
				var got, want struct {
					PublicKey string `json:"public_key"`
				}
				json.Unmarshal(body, &got)
				json.Unmarshal([]byte(ex.Response.BodyText), &want)
				if got.PublicKey != want.PublicKey {
					t.Fatalf("public key: got %q, want %q", got.PublicKey, want.PublicKey)
				}
				return
			}
			if string(body) != ex.Response.BodyText {
				t.Errorf("body: got %q, want %q", body, ex.Response.BodyText)
			}
			reqs := up.requests()[before:]
			if ex.UpstreamSaw == nil {
				if len(reqs) != 0 {
					t.Errorf("upstream got %d requests, want none", len(reqs))
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.Method != ex.UpstreamSaw.Method || got.Path != ex.UpstreamSaw.Path {
				t.Errorf("upstream saw %s %s, want %s %s", got.Method, got.Path, ex.UpstreamSaw.Method, ex.UpstreamSaw.Path)
			}
			if string(got.Body) != ex.UpstreamSaw.Body {
				t.Errorf("upstream body: got %q, want %q", got.Body, ex.UpstreamSaw.Body)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("upstream Content-Type: got %q, want application/json", ct)
			}
			if v := got.Header.Get("X-Fiber-Validator-Hotkey"); v != tr.Validator.SS58 {
				t.Errorf("X-Fiber-Validator-Hotkey: got %q, want %q", v, tr.Validator.SS58)
			}
			if v := got.Header.Get("Signature"); v != "" {
				t.Errorf("the signature reached the upstream: %q", v)
			}
		})
	}
}
