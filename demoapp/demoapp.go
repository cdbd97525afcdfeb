package demoapp

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxLines and maxDelay bound what a stream request can ask for.
const (
	maxLines = 1000
	maxDelay = 5 * time.Second
)

// Handler returns the demo app:
//   - GET /healthcheck answers {"status":"ok"};
//   - POST /stream/... answers NDJSON: "lines" lines (default 3) of
//     {"i":N,"of":M,"validator":...}, "delay_ms" apart (default 100);
//   - anything else echoes the request body with the verified validator
//     hotkey fibergate added in X-Fiber-Validator-Hotkey.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthcheck", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("/stream/", stream)
	mux.HandleFunc("/", echo)
	return mux
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Demo-Validator", r.Header.Get("X-Fiber-Validator-Hotkey"))
	if len(body) == 0 {
		fmt.Fprintf(w, `{"method":%q,"path":%q}`, r.Method, r.URL.Path)
		return
	}
	w.Write(body)
}

func stream(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Lines   int `json:"lines"`
		DelayMS int `json:"delay_ms"`
	}
	req.Lines, req.DelayMS = 3, 100
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil && err != io.EOF {
		http.Error(w, "body must be JSON", http.StatusBadRequest)
		return
	}
	req.Lines = min(max(req.Lines, 1), maxLines)
	delay := min(max(time.Duration(req.DelayMS)*time.Millisecond, 0), maxDelay)
	w.Header().Set("Content-Type", "application/x-ndjson")
	fl, _ := w.(http.Flusher)
	validator := strings.ReplaceAll(r.Header.Get("X-Fiber-Validator-Hotkey"), `"`, "")
	for i := range req.Lines {
		if i > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, `{"i":%d,"of":%d,"validator":%q}`+"\n", i, req.Lines, validator)
		if fl != nil {
			fl.Flush()
		}
	}
}
