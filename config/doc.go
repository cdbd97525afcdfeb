// Package config loads fibergate's YAML configuration: it fills in a default
// for every key, applies FIBERGATE_<PATH> environment overrides to scalar
// keys, and validates the result, reporting every problem at once with the
// key path, the line and the value at fault. Decoding is strict: an unknown
// key is an error, with a did-you-mean hint where one is close. Only the
// command wires this package in; the other packages take their own Options.
package config
