package validators

import (
	"errors"
	"fmt"
	"math"

	"github.com/fibergate/fibergate/nodes"
)

// parseNodes parses a Fiber nodes.json into validators: every entry needs
// a stake (see nodes.Parse); checks, if any, may refuse an entry too.
func parseNodes(data []byte, source string, checks ...func(*nodes.Node) error) ([]Validator, error) {
	checks = append([]func(*nodes.Node) error{func(n *nodes.Node) error {
		if n.StakeRaw == nil {
			return errors.New("no stake")
		}
		if n.Stake == nil {
			return fmt.Errorf("stake %s: want a number", clip(n.StakeRaw))
		}
		return checkStake(*n.Stake)
	}}, checks...)
	var out []Validator
	err := nodes.Walk(data, func(n *nodes.Node) error {
		for _, c := range checks {
			if err := c(n); err != nil {
				return err
			}
		}
		return nil
	}, nodes.To{
		Start: func(n int) { out = make([]Validator, 0, n) },
		Each: func(n *nodes.Node) {
			out = append(out, Validator{Hotkey: n.Hotkey, PublicKey: n.PublicKey, Stake: *n.Stake, Source: source})
		},
		Hotkey: func(j int) string { return out[j].Hotkey },
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// clip shortens a value quoted in an error.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

func checkStake(s float64) error {
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return fmt.Errorf("stake %v: want a finite number, 0 or more", s)
	}
	return nil
}
