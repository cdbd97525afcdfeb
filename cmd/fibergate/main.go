// Command fibergate is a reverse-proxy sidecar that terminates Fiber
// encryption in front of a Bittensor miner's app. main only wires: it reads
// flags and the config, builds the parts, runs them and handles signals.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// commands lists the subcommands in the order --help shows them.
var commands = []struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}{
	{"serve", "run the sidecar (the default when no command is given)", runServe},
	{"check-config", "load and validate a config, print the effective config", runCheckConfig},
	{"keygen", "write a new RSA private key for the handshake", runKeygen},
	{"client", "the validator side: handshake, encrypted post, streamed post", runClient},
	{"egress", "the validator's sidecar: plain HTTP in on loopback, Fiber out to any miner", runEgress},
	{"bench", "load generator: simulated validators, handshakes, encrypted requests, floods", runBench},
	{"version", "print version and build info", runVersion},
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" || (len(args) > 0 && name == "serve" && isHelp(args[0]) && len(os.Args) > 1 && isHelp(os.Args[1])) {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(args, stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(stderr, "fibergate %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "fibergate: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

func usage(w io.Writer) {
	fmt.Fprintln(w, "fibergate terminates Fiber encryption in front of a Bittensor miner's app.")
	fmt.Fprintln(w, "\nUsage: fibergate [command] [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'fibergate <command> --help' for a command's flags.")
}

// newFlags returns a flag set whose --help prints the command's summary.
func newFlags(name, summary string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("fibergate "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: fibergate %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, mapping a bad flag to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
