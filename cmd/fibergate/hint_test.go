package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintDemoHint(t *testing.T) {
	tests := []struct {
		name, admin string
		wantMetrics string // "" means no metrics line at all
	}{
		{"admin on", "127.0.0.1:9100", "curl -s http://127.0.0.1:9100/metrics"},
		{"admin off", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printDemoHint(&b, "127.0.0.1:8080", tc.admin, "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty")
			out := b.String()
			if n := strings.Count(out, "--url http://127.0.0.1:8080 "); n != 2 {
				t.Errorf("client commands naming the listen address: got %d, want 2:\n%s", n, out)
			}
			switch {
			case tc.wantMetrics != "" && !strings.Contains(out, tc.wantMetrics):
				t.Errorf("hint lacks %q:\n%s", tc.wantMetrics, out)
			case tc.wantMetrics == "" && strings.Contains(out, "/metrics"):
				t.Errorf("hint points at /metrics with the admin listener off:\n%s", out)
			}
		})
	}
}
