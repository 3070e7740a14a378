package engine

import (
	"reflect"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

func TestRootMounts(t *testing.T) {
	overlay := snapshot.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/l", "upperdir=/s/fs", "workdir=/s/work"}}
	bind := snapshot.Mount{Type: "bind", Source: "/s/fs", Options: []string{"rbind"}}
	with := func(m snapshot.Mount, opt string) snapshot.Mount {
		m.Options = append(append([]string{}, m.Options...), opt)
		return m
	}
	tests := []struct {
		name string
		in   []snapshot.Mount
		mode rootMode
		want []snapshot.Mount
	}{
		{"writable overlay unchanged", []snapshot.Mount{overlay}, rootWritable, []snapshot.Mount{overlay}},
		{"look: overlay read-only", []snapshot.Mount{overlay}, rootLook, []snapshot.Mount{with(overlay, "ro")}},
		{"scratch: overlay volatile", []snapshot.Mount{overlay}, rootScratch, []snapshot.Mount{with(overlay, "volatile")}},
		{"bind unchanged", []snapshot.Mount{bind}, rootLook, []snapshot.Mount{bind}},
		{"no second ro", []snapshot.Mount{with(overlay, "ro")}, rootLook, []snapshot.Mount{with(overlay, "ro")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]string{}, tc.in[0].Options...)
			got := rootMounts(tc.in, tc.mode)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rootMounts = %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.in[0].Options, before) {
				t.Errorf("the snapshotter's mounts were changed: %v", tc.in[0].Options)
			}
		})
	}
	if got, want := volatileMarks([]snapshot.Mount{bind, overlay}), []string{"/s/work/work/incompat"}; !reflect.DeepEqual(got, want) {
		t.Errorf("volatileMarks = %v, want %v", got, want)
	}
}
