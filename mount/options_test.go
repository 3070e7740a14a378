package mount

import (
	"testing"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		want Options
	}{
		{"none", nil, Options{}},
		{"ro", []string{"ro"}, Options{Flags: msRdonly}},
		{"rw clears ro in order", []string{"ro", "rw"}, Options{}},
		{"ro after rw", []string{"rw", "ro"}, Options{Flags: msRdonly}},
		{"defaults is nothing", []string{"defaults"}, Options{}},
		{"security flags", []string{"nosuid", "nodev", "noexec"}, Options{Flags: msNosuid | msNodev | msNoexec}},
		{"suid clears nosuid", []string{"nosuid", "nodev", "suid"}, Options{Flags: msNodev}},
		{"bind", []string{"bind"}, Options{Flags: msBind}},
		{"rbind", []string{"rbind", "ro"}, Options{Flags: msBind | msRec | msRdonly}},
		{"atime family", []string{"noatime", "nodiratime", "relatime", "strictatime", "norelatime"},
			Options{Flags: msNoatime | msNodiratime | msStrictatime}},
		{"sync then async", []string{"sync", "dirsync", "async"}, Options{Flags: msDirsync}},
		{"remount", []string{"remount", "ro"}, Options{Flags: msRemount | msRdonly}},
		{"mand", []string{"mand"}, Options{Flags: msMandlock}},
		{"propagation", []string{"rprivate"}, Options{Propagation: msPrivate | msRec}},
		{"propagation with flags", []string{"ro", "shared"}, Options{Flags: msRdonly, Propagation: msShared}},
		{"slave and unbindable", []string{"rslave", "unbindable"}, Options{Propagation: msSlave | msRec | msUnbindable}},
		{"overlay data", []string{"workdir=/w", "upperdir=/u", "lowerdir=/a:/b"},
			Options{Data: "workdir=/w,upperdir=/u,lowerdir=/a:/b"}},
		{"overlay view", []string{"ro", "index=off", "lowerdir=/a:/b"},
			Options{Flags: msRdonly, Data: "index=off,lowerdir=/a:/b"}},
		{"tmpfs", []string{"nosuid", "size=64m", "mode=1777", "nodev"},
			Options{Flags: msNosuid | msNodev, Data: "size=64m,mode=1777"}},
		{"empty words dropped", []string{"", "ro", "", "size=1m"}, Options{Flags: msRdonly, Data: "size=1m"}},
		{"unknown words are data", []string{"uid=0", "gid=5", "x-foo"}, Options{Data: "uid=0,gid=5,x-foo"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseOptions(tc.opts); got != tc.want {
				t.Errorf("ParseOptions(%q) = %+v, want %+v", tc.opts, got, tc.want)
			}
		})
	}
}

func TestMakePlan(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		source string
		opts   []string
		want   plan
	}{
		{"bind rw", "bind", "/src", []string{"rw"},
			plan{source: "/src", flags: msBind}},
		{"bind ro remounts", "bind", "/src", []string{"ro"},
			plan{source: "/src", flags: msBind | msRdonly, remount: msRemount | msBind | msRdonly}},
		{"rbind type", "rbind", "/src", []string{"ro", "nosuid"},
			plan{source: "/src", flags: msBind | msRec | msRdonly | msNosuid, remount: msRemount | msBind | msRdonly | msNosuid}},
		{"bind option on other type", "none", "/src", []string{"bind", "nodev"},
			plan{source: "/src", flags: msBind | msNodev, remount: msRemount | msBind | msNodev}},
		{"explicit remount is not doubled", "bind", "", []string{"remount", "ro"},
			plan{flags: msBind | msRemount | msRdonly}},
		{"bind with propagation", "bind", "/src", []string{"rprivate"},
			plan{source: "/src", flags: msBind, propagation: msPrivate | msRec}},
		{"overlay", "overlay", "overlay", []string{"lowerdir=/a:/b", "upperdir=/u", "workdir=/w"},
			plan{source: "overlay", fstype: "overlay", data: "lowerdir=/a:/b,upperdir=/u,workdir=/w"}},
		{"overlay ro", "overlay", "overlay", []string{"ro", "lowerdir=/a:/b"},
			plan{source: "overlay", fstype: "overlay", flags: msRdonly, data: "lowerdir=/a:/b"}},
		{"tmpfs", "tmpfs", "tmpfs", []string{"nosuid", "size=1m"},
			plan{source: "tmpfs", fstype: "tmpfs", flags: msNosuid, data: "size=1m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := makePlan(tc.typ, tc.source, tc.opts); got != tc.want {
				t.Errorf("makePlan(%q, %q, %q)\n got %+v\nwant %+v", tc.typ, tc.source, tc.opts, got, tc.want)
			}
		})
	}
}
