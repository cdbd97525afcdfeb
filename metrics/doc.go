// Package metrics defines every Prometheus metric fibergate exports. New
// registers them on a registry it is given (there are no package-level
// collectors), and the returned Metrics struct holds the handles the proxy,
// the key store and the validator sources update. Label values are bounded
// enums: results and refusal reasons, route names from the config, sources
// and outcomes; never a hotkey, a request path or an error text.
package metrics
