//go:build !race

package fernet

const raceEnabled = false
