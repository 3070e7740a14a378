package bundle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dirNames lists a directory.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readSpec(t *testing.T, file string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s is not valid JSON: %v", file, err)
	}
	return &s
}

func TestWrite(t *testing.T) {
	writes := []struct {
		name  string
		write func(string, *specs.Spec) error
	}{{"synced", Write}, {"unsynced", WriteUnsynced}}
	for _, w := range writes {
		for _, goos := range targets {
			t.Run(w.name+"/"+goos, func(t *testing.T) { testWrite(t, goos, w.write) })
		}
	}
}

func testWrite(t *testing.T, goos string, write func(string, *specs.Spec) error) {
	spec, err := Generate(testImage("/bin/sh", "-c", "echo hi"), "", Options{
		GOOS: goos, Env: []string{"SECRET=x"}, Memory: "64m", Volumes: []string{"/a:/b:ro"},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := write(dir, spec); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != ConfigName {
		t.Fatalf("bundle holds %v, want only %s", names, ConfigName)
	}
	file := filepath.Join(dir, ConfigName)
	if got := readSpec(t, file); !reflect.DeepEqual(got, spec) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, spec)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}

	// Overwrite.
	spec.Hostname = "second"
	if err := write(dir, spec); err != nil {
		t.Fatal(err)
	}
	if got := readSpec(t, file); got.Hostname != "second" {
		t.Errorf("hostname %q after the second write", got.Hostname)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("bundle holds %v after the second write", names)
	}
}

func TestWriteErrors(t *testing.T) {
	spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "linux"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("nil spec", func(t *testing.T) {
		dir := t.TempDir()
		checkErr(t, Write(dir, nil), "nil spec")
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("left %v", names)
		}
	})
	t.Run("missing bundle directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "missing")
		checkErr(t, Write(dir, spec), "write config.json: ")
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the bundle directory was created: %v", err)
		}
	})
	t.Run("rename fails: no temporary file left", func(t *testing.T) {
		dir := t.TempDir()
		// config.json is a non-empty directory: the rename fails.
		if err := os.MkdirAll(filepath.Join(dir, ConfigName, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		checkErr(t, Write(dir, spec), "write config.json: ")
		if names := dirNames(t, dir); len(names) != 1 || names[0] != ConfigName {
			t.Errorf("bundle holds %v, want only the %s directory", names, ConfigName)
		}
	})
}

// Readers never see a partial file: each read while others write is a
// whole spec.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	var specsWritten []*specs.Spec
	for i, goos := range []string{"linux", "freebsd", "linux", "freebsd"} {
		args := []string{"/bin/sh", "-c", string(rune('a' + i))}
		s, err := Generate(testImage(args...), "", Options{GOOS: goos, Hostname: "h" + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		specsWritten = append(specsWritten, s)
	}
	if err := Write(dir, specsWritten[0]); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, ConfigName)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(file)
			if err == nil {
				var s specs.Spec
				err = json.Unmarshal(data, &s)
			}
			if err != nil {
				select {
				case readErr <- err:
				default:
				}
				return
			}
		}
	}()
	var writers sync.WaitGroup
	for _, s := range specsWritten {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range 50 {
				if err := Write(dir, s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	select {
	case err := <-readErr:
		t.Fatalf("a reader saw a partial config.json: %v", err)
	default:
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != ConfigName {
		t.Errorf("bundle holds %v, want only %s", names, ConfigName)
	}
	got := readSpec(t, file)
	found := false
	for _, s := range specsWritten {
		if reflect.DeepEqual(got, s) {
			found = true
		}
	}
	if !found {
		t.Error("config.json is none of the specs written")
	}
}

func TestMarshalNil(t *testing.T) {
	if _, err := Marshal(nil); err == nil {
		t.Error("no error")
	}
}
