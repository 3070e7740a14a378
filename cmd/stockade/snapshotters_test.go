package main

import (
	"testing"

	"github.com/stockade/stockade/config"
)

func TestChooseSnapshotter(t *testing.T) {
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	tests := []struct {
		name       string
		configured string
		dataset    string
		goos       string
		exists     func(string) bool
		union      bool
		want       string
	}{
		{"linux default", "", "", "linux", no, false, "overlay"},
		{"configured wins", "copy", "zroot/st", "freebsd", yes, true, "copy"},
		{"freebsd with dataset", "", "zroot/st", "freebsd", yes, true, "zfs"},
		{"freebsd dataset missing", "", "zroot/st", "freebsd", no, true, "unionfs"},
		{"freebsd no dataset configured", "", "", "freebsd", yes, true, "unionfs"},
		{"freebsd nothing", "", "", "freebsd", no, false, "copy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Defaults(tt.goos)
			cfg.Snapshotter, cfg.ZFS.Dataset = tt.configured, tt.dataset
			union := tt.union
			got := chooseSnapshotter(cfg, tt.goos, probes{datasetExists: tt.exists, unionfsUsable: func() bool { return union }})
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
