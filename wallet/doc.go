// Package wallet reads a Bittensor wallet hotkey file: the JSON keypair
// file that bittensor keeps, unencrypted, under
// ~/.bittensor/wallets/<wallet>/hotkeys/<name>. It returns the hotkey's
// address and public key, and its seed when the file holds one, after
// checking that every form of the key in the file names the same key.
// Encrypted files are refused with a clear error; the seed never appears in
// an error, a log record or formatted output.
package wallet
