package e2etest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// binPath is the fibergate binary the tests run: built by Main, or given
// to UseBinary.
var binPath string

// UseBinary makes Main run the tests against the fibergate binary at path
// (a release, an older commit) instead of building one from this tree.
// Call it from TestMain before Main.
func UseBinary(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	binPath = path
}

// Main is the body of a TestMain: it builds cmd/fibergate from this tree
// once, as the Dockerfile does (CGO_ENABLED=0, -trimpath), runs the tests
// and removes the build. Its result is the exit code for os.Exit.
func Main(m *testing.M) int {
	if binPath != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "fibergate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "making a temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fibergate")
	if err := build(bin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binPath = bin
	return m.Run()
}

// build builds cmd/fibergate into bin.
func build(bin string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", bin, "./cmd/fibergate")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building fibergate: %v\n%s", err, out)
	}
	return nil
}

// Bin returns the path of the fibergate binary Main built (or the one
// given to UseBinary). It panics when Main is not running: a test package
// that runs the binary must call Main from its TestMain.
func Bin() string {
	if binPath == "" {
		panic("e2etest: no fibergate binary: call e2etest.Main from the package's TestMain")
	}
	return binPath
}

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// Root returns the module root (the folder holding go.mod, config.yaml
// and egress.yaml), found from the working directory, which go test sets
// to the package's folder.
func Root() string {
	r, err := moduleRoot()
	if err != nil {
		panic("e2etest: " + err.Error())
	}
	return r
}

func moduleRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	return root, rootErr
}
