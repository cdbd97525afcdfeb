// Package e2etest is the kit of fibergate's end-to-end tests: the tests
// that run the real binary as a process (cmd/fibergate's, conformance/)
// and the in-process ones that need the same pieces.
//
// It builds cmd/fibergate once per test binary (Main, from TestMain), runs
// processes with their output kept and logged when the test fails and
// killed when it ends (Start, StartFibergate), waits for what a started
// process promises (a log line, a listening port, /readyz), and holds the
// pieces every suite set up again before: free loopback addresses, an
// environment without FIBERGATE_ variables, the Substrate dev identities
// the configs name (//Alice validates, //Bob mines, //Dave is a second
// validator), a validator client for one of them, and the demo app as a
// real upstream on loopback.
//
// Every wait is bounded (StartTimeout, ExitTimeout, IOTimeout), with
// margins for -race on a small, busy machine. Everything listens on
// 127.0.0.1 only. The package imports nothing of this repository above
// client, demoapp, wallet and crypto/, so any test package may use it.
package e2etest
