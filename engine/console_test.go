package engine

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConsoleSocketReceivesFD sends a file descriptor the way runc does
// and checks that the received one refers to the same file.
func TestConsoleSocketReceivesFD(t *testing.T) {
	dir := t.TempDir()
	sock, err := NewConsoleSocket(filepath.Join(dir, "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	f, err := os.Create(filepath.Join(dir, "payload"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock.Path(), Net: "unix"})
		if err != nil {
			return
		}
		defer conn.Close()
		conn.WriteMsgUnix([]byte("/dev/pts/9"), unix.UnixRights(int(f.Fd())), nil)
	}()
	got, err := sock.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if _, err := got.WriteString("through the received fd"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "payload"))
	if string(data) != "through the received fd" {
		t.Errorf("payload = %q", data)
	}
}
