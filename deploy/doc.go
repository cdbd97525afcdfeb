// Package deploy holds no code: its folders are the files that run and
// watch fibergate in production (a Grafana dashboard, Prometheus alert
// rules and scrape configuration, a Kubernetes sidecar example), and its
// tests check them against the code: every metric a query names exists,
// the example config loads, the probes hit the admin port.
package deploy
