package jail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExtraParams(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		want    []string // Param.String() of parameters that must be passed
		absent  []string // kernel names that must not be passed
		wantErr string
	}{
		{name: "none", absent: []string{"securelevel", "allow.nfsd", "allow.nonfsd", "allow.vmm", "allow.novmm"}},
		{name: "securelevel", ann: map[string]string{AnnotationParamPrefix + "securelevel": "2"}, want: []string{"securelevel=2"}},
		{name: "securelevel -1", ann: map[string]string{AnnotationParamPrefix + "securelevel": "-1"}, want: []string{"securelevel=-1"}},
		{name: "children.max", ann: map[string]string{AnnotationParamPrefix + "children.max": "8"}, want: []string{"children.max=8"}},
		{name: "hostid", ann: map[string]string{AnnotationParamPrefix + "host.hostid": "4294967295"}, want: []string{"host.hostid=4294967295"}},
		{name: "hostuuid", ann: map[string]string{AnnotationParamPrefix + "host.hostuuid": "00000000-0000-0000-0000-000000000001"}, want: []string{"host.hostuuid=00000000-0000-0000-0000-000000000001"}},
		{name: "saddrsel", ann: map[string]string{AnnotationParamPrefix + "ip6.saddrsel": "false"}, want: []string{"ip6.nosaddrsel"}},
		{name: "extra allow true", ann: map[string]string{AnnotationAllowPrefix + "nfsd": "true"}, want: []string{"allow.nfsd"}, absent: []string{"allow.vmm"}},
		{name: "extra allow false", ann: map[string]string{AnnotationAllowPrefix + "read_msgbuf": "false"}, want: []string{"allow.noread_msgbuf"}},
		{name: "unknown param", ann: map[string]string{AnnotationParamPrefix + "path": "/x"}, wantErr: "jail parameter path: not a parameter that can be set this way"},
		{name: "securelevel too high", ann: map[string]string{AnnotationParamPrefix + "securelevel": "4"}, wantErr: `"4" is not an integer from -1 to 3`},
		{name: "not a number", ann: map[string]string{AnnotationParamPrefix + "children.max": "many"}, wantErr: `"many" is not an integer`},
		{name: "osrelease too long", ann: map[string]string{AnnotationParamPrefix + "osrelease": strings.Repeat("x", 32)}, wantErr: "at most 31 bytes"},
		{name: "unknown allow", ann: map[string]string{AnnotationAllowPrefix + "everything": "true"}, wantErr: `unknown allow parameter "everything"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &specs.Spec{Annotations: tt.ann}
			cfg, err := JailParams(spec, "c1", "/r")
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, p := range cfg.Params {
				have[p.String()] = true
				have[p.KernelName()] = true
			}
			for _, w := range tt.want {
				if !have[w] {
					t.Errorf("%s not passed; params %v", w, cfg.Params)
				}
			}
			for _, a := range tt.absent {
				if have[a] {
					t.Errorf("%s passed; params %v", a, cfg.Params)
				}
			}
		})
	}
}

// TestEncodeULong: host.hostid is an unsigned long in kern_jail.c
// (vfs_copyopt with sizeof(unsigned long)), so it must be 8 bytes; a
// 4-byte value makes jail_set fail with EINVAL.
func TestEncodeULong(t *testing.T) {
	p, err := ParseExtraParam("host.hostid", "305419896")
	if err != nil {
		t.Fatal(err)
	}
	iov, err := EncodeParams([]Param{p})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 8)
	binary.NativeEndian.PutUint64(want, 305419896)
	if len(iov) != 2 || string(iov[0]) != "host.hostid\x00" || !bytes.Equal(iov[1], want) {
		t.Fatalf("iov = %q, want host.hostid and %x", iov, want)
	}
}
