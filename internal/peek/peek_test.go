package peek

import (
	"net"
	"testing"
	"time"
)

// A socket with nothing waiting is not pending; one with stray bytes is,
// without losing them; one the peer closed is.
func TestPending(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s := Of(c)
	if s.Pending() {
		t.Fatal("pending with nothing sent")
	}
	peer.Write([]byte("x"))
	waitPending(t, s, true)
	buf := make([]byte, 1)
	if n, _ := c.Read(buf); n != 1 || buf[0] != 'x' {
		t.Fatalf("the byte looked at was taken: read %d %q", n, buf[:n])
	}
	if s.Pending() {
		t.Fatal("pending after the byte was read")
	}
	peer.Close()
	waitPending(t, s, true)
	if allocs := testing.AllocsPerRun(100, func() { s.Pending() }); allocs != 0 {
		t.Errorf("a look allocates %v times", allocs)
	}
	var none *Socket
	if none.Pending() {
		t.Error("a nil socket is pending")
	}
}

func waitPending(t *testing.T, s *Socket, want bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Pending() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Pending never became %v", want)
		}
		time.Sleep(time.Millisecond)
	}
}
