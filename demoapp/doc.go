// Package demoapp is a tiny upstream app for the quick start: it echoes
// JSON bodies back, streams numbered lines, and answers a health check, so
// a newcomer can watch fibergate work with nothing else running.
package demoapp
