package rsakey

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxFileSize bounds what LoadFile reads: a 16384-bit PKCS#8 PEM is under
// 13 KiB.
const maxFileSize = 1 << 20

// LoadFile reads an RSA private key PEM file (see ParsePrivatePEM).
func LoadFile(path string) (*rsa.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file %q: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading key file %q: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("reading key file %q: larger than %d bytes", path, maxFileSize)
	}
	k, err := ParsePrivatePEM(b)
	if err != nil {
		return nil, fmt.Errorf("reading key file %q: %w", path, err)
	}
	return k, nil
}

// WriteOptions controls WriteFile.
type WriteOptions struct {
	// Overwrite allows WriteFile to replace an existing file. Default
	// false: an existing file is an error wrapping ErrExists.
	Overwrite bool
}

// WriteFile saves k to path as a PKCS#8 PEM file with mode 0600. It writes
// a temporary file in the same directory, syncs it and then moves it into
// place, so path never holds a partial key. Unless opts.Overwrite is set it
// refuses, with an error wrapping ErrExists, to replace an existing file,
// and that check and the move are one atomic step where the file system
// supports hard links.
func WriteFile(path string, k *rsa.PrivateKey, opts WriteOptions) error {
	if err := writeFile(path, k, opts); err != nil {
		return fmt.Errorf("writing key file %q: %w", path, err)
	}
	return nil
}

func writeFile(path string, k *rsa.PrivateKey, opts WriteOptions) (err error) {
	b, err := MarshalPrivatePEM(k)
	if err != nil {
		return err
	}
	if !opts.Overwrite {
		// Fail early, before making a temporary file; the link below is
		// what makes the refusal race-free.
		if _, err := os.Lstat(path); err == nil {
			return ErrExists
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		os.Remove(tmpName) // after a link or a failure; harmless after a rename
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return err
	}
	if opts.Overwrite {
		err = os.Rename(tmpName, path)
	} else {
		err = placeNew(tmpName, path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// placeNew moves tmp to path unless path exists. A hard link fails if path
// exists, atomically; file systems without hard links get a check followed
// by a rename.
func placeNew(tmp, path string) error {
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return ErrExists
	}
	if _, err := os.Lstat(path); err == nil {
		return ErrExists
	}
	return os.Rename(tmp, path)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
