//go:build race

package fernet

// raceEnabled is true under -race, where sync.Pool drops items at random,
// so allocation counts are not meaningful.
const raceEnabled = true
