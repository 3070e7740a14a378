package zfs

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// fakePool builds the states a recursive `zfs get` would report.
type fakePool map[string]*dsState

func (f fakePool) add(name string, user map[string]string, native map[string]string) fakePool {
	if user == nil {
		user = map[string]string{}
	}
	if native == nil {
		native = map[string]string{}
	}
	f[name] = &dsState{name: name, user: user, native: native}
	return f
}

const (
	testP   = "tank/st"
	longAgo = "2020-01-01T00:00:00Z"
)

var checkNow = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func rec(key, kind, parent string, extra ...string) map[string]string {
	m := map[string]string{PropKey: key, PropKind: kind, PropCreated: formatTime(checkNow), PropUpdated: formatTime(checkNow)}
	if parent != "" {
		m[PropParent] = parent
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// healthy returns a pool with a committed base, a committed l2 on it and
// a container root on l2.
func healthy() fakePool {
	f := fakePool{}
	f.add(testP+"/layers", nil, nil).add(testP+"/active", nil, nil).add(testP+"/views", nil, nil)
	f.add(testP+"/layers/base", rec("base", "committed", ""), map[string]string{"canmount": "noauto"})
	f.add(testP+"/layers/base@layer", rec("base", "committed", ""), map[string]string{"clones": testP + "/layers/l2"})
	f.add(testP+"/layers/l2", rec("l2", "committed", "base"), map[string]string{"canmount": "noauto", "origin": testP + "/layers/base@layer"})
	f.add(testP+"/layers/l2@layer", rec("l2", "committed", "base"), map[string]string{"clones": testP + "/active/ctr"})
	f.add(testP+"/active/ctr", rec("ctr", "active", "l2", PropUpdated, longAgo, PropContainer, "web"),
		map[string]string{"canmount": "on", "origin": testP + "/layers/l2@layer"})
	f.add(testP+"/active/ctr@before-upgrade", nil, nil)
	return f
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		build func(f fakePool)
		// want lists "kind dataset => repair" lines, in order.
		want []string
	}{
		{"healthy pool", func(f fakePool) {}, nil},
		{"abandoned unpack", func(f fakePool) {
			f.add(testP+"/active/extract-1", rec("extract-1", "active", "l2", PropUpdated, longAgo),
				map[string]string{"origin": testP + "/layers/l2@layer"})
		}, []string{"abandoned tank/st/active/extract-1 => zfs destroy -r tank/st/active/extract-1"}},
		{"recent unpack is left alone", func(f fakePool) {
			f.add(testP+"/active/extract-1", rec("extract-1", "active", "l2"), map[string]string{"origin": testP + "/layers/l2@layer"})
		}, nil},
		{"container label protects", func(f fakePool) {
			f.add(testP+"/active/c2", rec("c2", "active", "", PropUpdated, longAgo, PropLabels, `{"stockade.io/container":"db"}`), nil)
		}, nil},
		{"abandoned view", func(f fakePool) {
			f.add(testP+"/views/v", rec("v", "view", "base", PropUpdated, longAgo), map[string]string{"origin": testP + "/layers/base@layer"})
		}, []string{"abandoned tank/st/views/v => zfs destroy -r tank/st/views/v"}},
		{"interrupted commit", func(f fakePool) {
			f.add(testP+"/active/half", rec("half", "active", "l2"), map[string]string{"origin": testP + "/layers/l2@layer", "canmount": "noauto"})
			f.add(testP+"/active/half@layer", rec("l3", "committed", "l2"), nil)
		}, []string{"interrupted-commit tank/st/active/half@layer => zfs destroy tank/st/active/half@layer; zfs set canmount=on tank/st/active/half"}},
		{"unfinished commit", func(f fakePool) {
			f[testP+"/layers/l2"].user = rec("l2-active", "active", "base", PropContainer, "x")
			f[testP+"/layers/l2"].native["canmount"] = "on"
		}, []string{"unfinished-commit tank/st/layers/l2 => zfs set stockade:key=l2 stockade:kind=committed stockade:parent=base " +
			"stockade:created=" + formatTime(checkNow) + " stockade:updated=" + formatTime(checkNow) + " tank/st/layers/l2; " +
			"zfs inherit stockade:container tank/st/layers/l2; zfs set canmount=noauto tank/st/layers/l2"}},
		{"layer without snapshot", func(f fakePool) {
			f.add(testP+"/layers/junk", rec("junk", "committed", ""), nil)
		}, []string{"layer-without-record tank/st/layers/junk => zfs destroy -r tank/st/layers/junk"}},
		{"layer whose snapshot lost its record but has clones", func(f fakePool) {
			f[testP+"/layers/base@layer"].user = map[string]string{}
		}, []string{
			"layer-without-record tank/st/layers/base => ",
			"orphan-clone tank/st/layers/l2 => ",
		}},
		{"parent record gone: relinked to the origin", func(f fakePool) {
			f[testP+"/active/ctr"].user[PropParent] = "ghost"
		}, []string{"orphan-clone tank/st/active/ctr => zfs set stockade:parent=l2 tank/st/active/ctr"}},
		{"committed layer with a wrong parent: both records fixed", func(f fakePool) {
			f[testP+"/layers/l2@layer"].user[PropParent] = "ghost"
			f[testP+"/layers/l2"].user[PropParent] = "ghost"
		}, []string{"orphan-clone tank/st/layers/l2 => zfs set stockade:parent=base tank/st/layers/l2@layer; zfs set stockade:parent=base tank/st/layers/l2"}},
		{"parent recorded but not a clone", func(f fakePool) {
			f.add(testP+"/active/solo", rec("solo", "active", "base"), nil)
		}, []string{"orphan-clone tank/st/active/solo => zfs inherit stockade:parent tank/st/active/solo"}},
		{"clone of something else: view destroyed, active left", func(f fakePool) {
			f.add(testP+"/views/v", rec("v", "view", "base"), map[string]string{"origin": "tank/other@x"})
			f.add(testP+"/active/a", rec("a", "active", "base"), map[string]string{"origin": "tank/other@x"})
		}, []string{
			"orphan-clone tank/st/active/a => ",
			"orphan-clone tank/st/views/v => zfs destroy -r tank/st/views/v",
		}},
		{"misnamed", func(f fakePool) {
			f.add(testP+"/active/renamed", rec("orig", "active", ""), nil)
		}, []string{"misnamed tank/st/active/renamed => zfs rename tank/st/active/renamed tank/st/active/orig"}},
		{"misnamed onto a taken name", func(f fakePool) {
			f.add(testP+"/active/renamed", rec("ctr", "active", ""), nil)
		}, []string{
			"duplicate-key tank/st/active/ctr => ",
			"duplicate-key tank/st/active/renamed => ",
		}},
		{"bad records", func(f fakePool) {
			f.add(testP+"/active/bad", map[string]string{PropKey: "bad", PropKind: "nonsense"}, nil)
			f.add(testP+"/views/badview", map[string]string{PropKey: "badview", PropKind: "active"}, nil)
		}, []string{
			"bad-record tank/st/active/bad => ",
			"bad-record tank/st/views/badview => zfs destroy -r tank/st/views/badview",
		}},
		{"foreign datasets are never touched", func(f fakePool) {
			f.add(testP+"/active/admin-made", nil, nil)
			f.add(testP+"/layers/other", nil, nil)
			f.add(testP+"/active/ctr/nested", map[string]string{PropKey: "n"}, nil)
		}, []string{
			"foreign tank/st/active/admin-made => ",
			"foreign tank/st/active/ctr/nested => ",
			"foreign tank/st/layers/other => ",
		}},
	}
	l := newLayout(testP)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := healthy()
			tc.build(f)
			problems := l.classify(f, checkNow, time.Hour)
			var got []string
			for _, p := range problems {
				got = append(got, string(p.Kind)+" "+p.Dataset+" => "+p.Repair)
				if p.Detail == "" {
					t.Errorf("%s %s has no detail", p.Kind, p.Dataset)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("classify:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
		})
	}
}

func TestClassifyRepairOrder(t *testing.T) {
	f := healthy()
	f.add(testP+"/layers/junk", rec("junk", "committed", ""), nil)
	f.add(testP+"/active/old", rec("old", "active", "ghost", PropUpdated, longAgo), map[string]string{"origin": testP + "/layers/l2@layer"})
	f.add(testP+"/active/relink", rec("relink", "active", "ghost"), map[string]string{"origin": testP + "/layers/l2@layer"})
	problems := newLayout(testP).classify(f, checkNow, time.Hour)
	var kinds []string
	for _, p := range problems {
		kinds = append(kinds, string(p.Kind)+" "+p.Dataset)
	}
	want := []string{
		"orphan-clone tank/st/active/old",
		"orphan-clone tank/st/active/relink",
		"abandoned tank/st/active/old",
		"layer-without-record tank/st/layers/junk",
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("order:\n got %q\nwant %q", kinds, want)
	}
	s := Problem{Kind: ProblemForeign, Dataset: "d", Detail: "x"}.String()
	if !strings.Contains(s, "administrator") {
		t.Errorf("String() = %q", s)
	}
}
