//go:build unix

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/internal/redistest"
	"github.com/fibergate/fibergate/keystore"
)

func TestRedisPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("FG_TEST_REDIS_PW", " from-env\n")
	t.Setenv("FG_TEST_REDIS_EMPTY", "  ")
	cases := []struct {
		name    string
		c       config.Redis
		want    string
		wantErr string // a substring; "" for no error
	}{
		{"none", config.Redis{}, "", ""},
		{"env", config.Redis{PasswordEnv: "FG_TEST_REDIS_PW"}, "from-env", ""},
		{"env unset", config.Redis{PasswordEnv: "FG_TEST_REDIS_UNSET"}, "", "FG_TEST_REDIS_UNSET is not set or empty"},
		{"env blank", config.Redis{PasswordEnv: "FG_TEST_REDIS_EMPTY"}, "", "not set or empty"},
		{"file", config.Redis{PasswordFile: write("pw", "from-file\n")}, "from-file", ""},
		{"file empty", config.Redis{PasswordFile: write("empty", "\n")}, "", "is empty"},
		{"file too big", config.Redis{PasswordFile: write("big", strings.Repeat("x", maxSecretFile+1))}, "", "not a password"},
		{"file missing", config.Redis{PasswordFile: filepath.Join(dir, "missing")}, "", "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := redisPassword(tc.c)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "from-") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}

// writeCerts writes a CA and a server certificate for 127.0.0.1 and
// "redis.test" signed by it, and returns the file paths.
func writeCerts(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fibergate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"redis.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// keystore.redis.tls against a redis-server that speaks only TLS: the
// server is verified against tls_ca_file and tls_server_name (or the host
// of addr), and a wrong name or an unknown CA is refused.
func TestRedisTLS(t *testing.T) {
	caFile, certFile, keyFile := writeCerts(t)
	srv := redistest.Start(t, redistest.Options{TLSCertFile: certFile, TLSKeyFile: keyFile})
	_, port, _ := net.SplitHostPort(srv.Addr)
	cases := []struct {
		name string
		c    config.Redis
		ok   bool
	}{
		{"the CA, the address's IP", config.Redis{Addr: srv.Addr, TLS: true, TLSCAFile: caFile}, true},
		{"the CA, a server name", config.Redis{Addr: srv.Addr, TLS: true, TLSCAFile: caFile, TLSServerName: "redis.test"}, true},
		{"the CA, a wrong name", config.Redis{Addr: srv.Addr, TLS: true, TLSCAFile: caFile, TLSServerName: "other.test"}, false},
		{"the system roots", config.Redis{Addr: srv.Addr, TLS: true}, false},
		{"plain TCP", config.Redis{Addr: "127.0.0.1:" + port}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := keystore.RedisClientOptions{Addr: tc.c.Addr, ReadTimeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond}
			if tc.c.TLS {
				conf, err := redisTLS(tc.c)
				if err != nil {
					t.Fatal(err)
				}
				opts.TLS = conf
			}
			c := keystore.NewRedisClient(opts)
			defer c.Close()
			err := keystore.PingRedis(context.Background(), c, time.Second)
			if (err == nil) != tc.ok {
				t.Errorf("PING: got %v, want success %v", err, tc.ok)
			}
		})
	}
	if _, err := redisTLS(config.Redis{Addr: srv.Addr, TLS: true, TLSCAFile: keyFile}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without a certificate: got %v, want an error", err)
	}
	if _, err := redisTLS(config.Redis{Addr: srv.Addr, TLS: true, TLSCAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("a missing CA file: got no error")
	}
}

func TestThrottledWarn(t *testing.T) {
	var b e2etest.Output
	w := newThrottledWarn(newLogger(config.Log{Level: config.LogInfo}, &b), time.Hour)
	for range 5 {
		w.warn("redis call failed", "op", "nonce")
	}
	if n := strings.Count(b.String(), "redis call failed"); n != 1 {
		t.Errorf("5 warnings within the interval wrote %d lines, want 1:\n%s", n, b.String())
	}
	w.last.Store(0) // the interval has passed
	w.warn("redis call failed", "op", "nonce")
	if !strings.Contains(b.String(), "more_since_last_warning=4") {
		t.Errorf("the next warning does not count the 4 left out:\n%s", b.String())
	}
}
