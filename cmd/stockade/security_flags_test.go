package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade/stockade/bundle"
)

func TestSecurityOpt(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		check   func(s bundle.Security) bool
		wantErr string
	}{
		{in: "seccomp=unconfined", check: func(s bundle.Security) bool { return s.Seccomp == bundle.SeccompUnconfined && s.SeccompProfile == nil }},
		{in: "seccomp:unconfined", check: func(s bundle.Security) bool { return s.Seccomp == bundle.SeccompUnconfined }},
		{in: "seccomp=" + profile, check: func(s bundle.Security) bool {
			return s.Seccomp == profile && string(s.SeccompProfile) == `{"defaultAction":"SCMP_ACT_ALLOW"}`
		}},
		{in: "no-new-privileges", check: func(s bundle.Security) bool { return s.NoNewPrivileges != nil && *s.NoNewPrivileges }},
		{in: "no-new-privileges=false", check: func(s bundle.Security) bool { return s.NoNewPrivileges != nil && !*s.NoNewPrivileges }},
		{in: "no-new-privileges:true", check: func(s bundle.Security) bool { return s.NoNewPrivileges != nil && *s.NoNewPrivileges }},
		{in: "apparmor=unconfined", check: func(s bundle.Security) bool { return s.Seccomp == "" }},
		{in: "label=disable", check: func(s bundle.Security) bool { return s.Seccomp == "" }},
		{in: "no-new-privileges=maybe", wantErr: "want true or false"},
		{in: "seccomp=", wantErr: "want seccomp=unconfined or seccomp=FILE"},
		{in: "seccomp=/nonexistent/p.json", wantErr: "no such file"},
		{in: "apparmor=docker-default", wantErr: "only apparmor=unconfined"},
		{in: "label=disable:x", wantErr: "only label=disable"},
		{in: "systempaths=unconfined", wantErr: `unknown option "systempaths"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var s bundle.Security
			err := securityOpt(&s, tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), `--security-opt "`+tt.in+`": `) {
					t.Fatalf("err = %v, want %q naming the value", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Errorf("got %+v", s)
			}
		})
	}
}
