package bundle

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVolume(t *testing.T) {
	tests := []struct {
		in      string
		want    Volume
		wantErr string
	}{
		{in: "/src:/dst", want: Volume{Source: "/src", Destination: "/dst"}},
		{in: "/src:/dst:ro", want: Volume{Source: "/src", Destination: "/dst", ReadOnly: true}},
		{in: "/src:/dst:rw", want: Volume{Source: "/src", Destination: "/dst"}},
		{in: "/src:/dst:ro,ro", want: Volume{Source: "/src", Destination: "/dst", ReadOnly: true}},
		{in: "/a/../src//x/:/dst/./sub/:ro", want: Volume{Source: "/src/x", Destination: "/dst/sub", ReadOnly: true}},
		{in: "/:/host", want: Volume{Source: "/", Destination: "/host"}},
		{in: "", wantErr: `-v "": empty value (want SRC:DST[:ro|rw])`},
		{in: "/data", wantErr: `-v "/data": want SRC:DST[:ro|rw] (anonymous volumes are not supported)`},
		{in: "a:b:c:d", wantErr: `-v "a:b:c:d": too many fields (want SRC:DST[:ro|rw])`},
		{in: ":/dst", wantErr: `-v ":/dst": empty source`},
		{in: "data:/dst", wantErr: `-v "data:/dst": source "data" must be an absolute path (a host directory) or a volume name`},
		{in: "./rel:/dst", wantErr: `source "./rel" must be an absolute path`},
		{in: "/src:", wantErr: `-v "/src:": destination: empty path`},
		{in: "/src:rel", wantErr: `-v "/src:rel": destination: "rel" must be an absolute path`},
		{in: "/src:/", wantErr: `-v "/src:/": destination: cannot mount over "/"`},
		{in: "/src:/x/..", wantErr: `cannot mount over "/"`},
		{in: "/src:/dst:", wantErr: `-v "/src:/dst:": empty mode (want ro or rw)`},
		{in: "/src:/dst:z", wantErr: `-v "/src:/dst:z": unknown mode "z" (want ro or rw)`},
		{in: "/src:/dst:ro,rw", wantErr: `-v "/src:/dst:ro,rw": modes ro and rw conflict`},
		{in: "/src:/dst:ro,", wantErr: `empty mode`},
		{in: "/s\x00rc:/dst", wantErr: `contains a NUL byte`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVolume(tt.in)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				var oe *OptionError
				if !errors.As(err, &oe) || oe.Option != "-v" || oe.Value != tt.in {
					t.Errorf("error %v is not an *OptionError for -v %q", err, tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVolume(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseVolume(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTmpfs(t *testing.T) {
	tests := []struct {
		in      string
		dst     string
		opts    []string
		wantErr string
	}{
		{in: "/run", dst: "/run"},
		{in: "/run/", dst: "/run"},
		{in: "/run:size=64m", dst: "/run", opts: []string{"size=64m"}},
		{in: "/run:rw,exec,size=1g,mode=0700", dst: "/run", opts: []string{"rw", "exec", "size=1g", "mode=0700"}},
		{in: "", wantErr: `--tmpfs "": destination: empty path`},
		{in: "run", wantErr: `--tmpfs "run": destination: "run" must be an absolute path`},
		{in: "/", wantErr: `--tmpfs "/": destination: cannot mount over "/"`},
		{in: "/run:", wantErr: `--tmpfs "/run:": empty mount option`},
		{in: "/run:size=1m,,exec", wantErr: `empty mount option`},
		{in: "/run:size=1m exec", wantErr: `contains white space`},
		{in: "/r\x00un", wantErr: `contains a NUL byte`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTmpfs(tt.in)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("ParseTmpfs(%q): %v", tt.in, err)
			}
			if got.Destination != tt.dst || strings.Join(got.Options, ",") != strings.Join(tt.opts, ",") {
				t.Errorf("ParseTmpfs(%q) = %+v, want %s %v", tt.in, got, tt.dst, tt.opts)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "512m", want: 512 << 20},
		{in: "512M", want: 512 << 20},
		{in: "512mb", want: 512 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "1g", want: 1 << 30},
		{in: "1.5g", want: 3 << 29},
		{in: "0.5k", want: 512},
		{in: ".5k", want: 512},
		{in: "1048576", want: 1 << 20},
		{in: "100b", want: 100},
		{in: "2t", want: 2 << 40},
		{in: "1p", want: 1 << 50},
		{in: "1.0000001k", want: 1024}, // whole bytes, truncated
		{in: "", wantErr: `--memory "": empty value`},
		{in: "12q", wantErr: `--memory "12q": unknown unit "q" (want b, k, m, g, t or p)`},
		{in: "m", wantErr: `--memory "m": not a size`},
		{in: "-1m", wantErr: `not a size`},
		{in: "1.m", wantErr: `not a size`},
		{in: "1.2.3m", wantErr: `not a size`},
		{in: "1e6", wantErr: `unknown unit "e6"`},
		{in: " 1m", wantErr: `not a size`},
		{in: "1 m", wantErr: `unknown unit " m"`},
		{in: "0", wantErr: `--memory "0": must be positive`},
		{in: "0.1b", wantErr: `must be positive`},
		{in: "8192p", wantErr: `--memory "8192p": too large`},
		{in: "99999999999999999999", wantErr: `too large`},
		{in: strings.Repeat("9", 100), wantErr: `not a size`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("ParseMemory(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseMemory(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "1", want: 1e9},
		{in: "1.5", want: 15e8},
		{in: "0.25", want: 25e7},
		{in: ".5", want: 5e8},
		{in: "0.01", want: 1e7},
		{in: "64", want: 64e9},
		{in: "1.000000001", want: 1e9 + 1},
		{in: "", wantErr: `--cpus "": not a number of CPUs (want e.g. 1.5)`},
		{in: "abc", wantErr: `--cpus "abc": not a number of CPUs`},
		{in: "-1", wantErr: `not a number of CPUs`},
		{in: "1/2", wantErr: `not a number of CPUs`},
		{in: "1e3", wantErr: `not a number of CPUs`},
		{in: "NaN", wantErr: `not a number of CPUs`},
		{in: "1.", wantErr: `not a number of CPUs`},
		{in: "0", wantErr: `--cpus "0": must be at least 0.01`},
		{in: "0.009", wantErr: `must be at least 0.01`},
		{in: "1.0000000001", wantErr: `--cpus "1.0000000001": too precise (at most 9 decimal places)`},
		{in: "99999999999", wantErr: `--cpus "99999999999": too large`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPUs(tt.in)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("ParseCPUs(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseCPUs(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestOptionError(t *testing.T) {
	reason := errors.New("must be absolute")
	err := error(&OptionError{Option: "-w", Value: "rel", Err: reason})
	if got, want := err.Error(), `-w "rel": must be absolute`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, reason) {
		t.Error("errors.Is does not see the reason")
	}
}

// checkErr fails unless err's message is want or contains it. Messages
// must be one line.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error %q is not one line", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q, want %q", msg, want)
	}
}
