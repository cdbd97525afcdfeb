package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// buildInfo returns the version, VCS revision and Go version of this binary.
func buildInfo() (ver, revision, goVersion string) {
	revision = "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return version, revision, runtime.Version()
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "Print version and build info.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v, rev, gov := buildInfo()
	fmt.Fprintf(stdout, "fibergate %s (revision %s, %s %s/%s)\n", v, rev, gov, runtime.GOOS, runtime.GOARCH)
	return nil
}
