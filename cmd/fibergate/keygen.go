package main

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/fibergate/fibergate/crypto/rsakey"
)

func runKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keygen", "Write a new RSA private key (PKCS#8 PEM, mode 0600) for handshake.rsa_key_file.", stderr)
	out := fs.String("out", "", "where to write the key (required; an existing file is not overwritten)")
	bits := fs.Int("bits", 2048, "key size: 2048, 3072 or 4096")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "--out is required")
		fs.Usage()
		return errUsage
	}
	k, err := rsakey.Generate(*bits, rand.Reader)
	if err != nil {
		return err
	}
	if err := rsakey.WriteFile(*out, k, rsakey.WriteOptions{}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a %d-bit RSA key to %s\n", *bits, *out)
	return nil
}
