package main

import (
	"fmt"
	"io"
	"os"

	"github.com/fibergate/fibergate/config"
)

func runCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", "Load and validate a config; print the effective config (defaults and FIBERGATE_* overrides applied) or every problem found.", stderr)
	path := fs.String("config", "config.yaml", "the config file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	out, err := cfg.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %s is valid; effective config:\n", *path)
	_, err = stdout.Write(out)
	return err
}
