package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/wallet"
)

const clientSummary = `The validator side of Fiber, against any Fiber server (fibergate or Fiber's own).

  fibergate client handshake  exchange a key and print its uuid
  fibergate client post       handshake, then send --data encrypted to --path and print the answer
  fibergate client stream     handshake, then send --data encrypted to --path and print each line as it arrives
  fibergate client signed     send --data in Fiber 2.x signed mode (no handshake) to --path

The validator's hotkey comes from --wallet-hotkey (a Bittensor wallet hotkey file) or --seed (hex).`

func runClient(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintln(stderr, "Usage: fibergate client handshake|post|stream|signed [flags]\n\n"+clientSummary)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	action, args := args[0], args[1:]
	switch action {
	case "handshake", "post", "stream", "signed":
	default:
		fmt.Fprintf(stderr, "fibergate client: unknown action %q (want handshake, post, stream or signed)\n", action)
		return errUsage
	}
	fs := newFlags("client "+action, clientSummary, stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the miner's base URL")
	miner := fs.String("miner", "", "the miner's SS58 hotkey (required)")
	seed := fs.String("seed", "", "the validator's sr25519 seed, 0x-hex (or use --wallet-hotkey)")
	walletFile := fs.String("wallet-hotkey", "", "a Bittensor wallet hotkey file holding secretSeed")
	path := fs.String("path", "/echo", "the request path (post, stream, signed)")
	data := fs.String("data", "{}", "the JSON object to send (post, stream, signed); @file reads a file")
	timeout := fs.Duration("timeout", 60*time.Second, "overall time limit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *miner == "" {
		fmt.Fprintln(stderr, "--miner is required")
		return errUsage
	}
	kp, err := validatorKey(*seed, *walletFile)
	if err != nil {
		return err
	}
	payload := []byte(*data)
	if len(*data) > 0 && (*data)[0] == '@' {
		if payload, err = os.ReadFile((*data)[1:]); err != nil {
			return err
		}
	}
	c, err := client.New(client.Options{BaseURL: *base, Keypair: kp, MinerHotkey: *miner})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if action == "signed" {
		resp, err := c.SignedPost(ctx, *path, payload)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", resp.Body)
		return nil
	}
	if err := c.Handshake(ctx); err != nil {
		return err
	}
	_, uuid := c.Key()
	switch action {
	case "handshake":
		fmt.Fprintf(stdout, "key exchanged: validator %s, symmetric-key-uuid %s\n", c.Validator(), uuid)
	case "post":
		resp, err := c.Post(ctx, *path, payload)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", resp.Body)
	case "stream":
		_, err := c.Stream(ctx, *path, payload, func(line []byte) error {
			_, err := fmt.Fprintf(stdout, "%s\n", line)
			return err
		})
		return err
	}
	return nil
}

// validatorKey builds the validator's keypair from a seed or wallet file.
func validatorKey(seedHex, walletFile string) (*sr25519.Keypair, error) {
	var seed [32]byte
	switch {
	case walletFile != "" && seedHex != "":
		return nil, errors.New("give --seed or --wallet-hotkey, not both")
	case walletFile != "":
		hk, err := wallet.LoadHotkeyFile(walletFile)
		if err != nil {
			return nil, err
		}
		if hk.Seed == nil {
			return nil, fmt.Errorf("%s holds no secretSeed", walletFile)
		}
		seed = *hk.Seed
	case seedHex != "":
		s, err := wallet.ParseSeedHex(seedHex)
		if err != nil {
			return nil, fmt.Errorf("--seed: %w", err)
		}
		seed = s
	default:
		return nil, errors.New("the validator's key is needed: --seed or --wallet-hotkey")
	}
	return sr25519.KeypairFromSeed(seed)
}
