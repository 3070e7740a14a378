package zfs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/snapshot"
)

func TestComponent(t *testing.T) {
	long := strings.Repeat("k", 200)
	tests := []struct {
		name, key string
		max       int
		want      string
	}{
		{"fits", "sha256:abc", 100, "sha256:abc"},
		{"exactly max", "abcde", 5, "abcde"},
		{"cut and hashed", long, 100, strings.Repeat("k", 82) + "--"},
		{"chain id kept", "sha256:" + strings.Repeat("0", 64), maxComponent("zroot/stockade"), "sha256:" + strings.Repeat("0", 64)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := component(tc.key, tc.max)
			if len(got) > tc.max {
				t.Errorf("component is %d bytes, over %d", len(got), tc.max)
			}
			if !strings.HasPrefix(got, tc.want) || (len(tc.key) <= tc.max && got != tc.want) {
				t.Errorf("component(%q) = %q, want %q...", tc.key, got, tc.want)
			}
			if err := snapshot.ValidKey(got); err != nil {
				t.Errorf("component %q is not a valid name: %v", got, err)
			}
		})
	}
	a, b := component(long+"a", 100), component(long+"b", 100)
	if a == b {
		t.Errorf("two long keys share the component %q", a)
	}
	if component(long, 100) != component(long, 100) {
		t.Error("component is not deterministic")
	}
}

func TestMaxComponent(t *testing.T) {
	// "zroot/stockade/layers/<c>@layer" must fit in 255 bytes.
	p := "zroot/stockade"
	if got, want := len(p)+len("/layers/")+maxComponent(p)+len("@layer"), maxNameLen; got != want {
		t.Errorf("longest layer snapshot name is %d bytes, want %d", got, want)
	}
	if maxComponent(strings.Repeat("p", maxParentLen)) < 90 {
		t.Errorf("the longest parent leaves %d bytes for keys", maxComponent(strings.Repeat("p", maxParentLen)))
	}
}

func TestSplitName(t *testing.T) {
	l := newLayout("tank/st")
	tests := []struct {
		name                  string
		group, comp, snapName string
		ok                    bool
	}{
		{"tank/st/layers/sha256:ab", "layers", "sha256:ab", "", true},
		{"tank/st/layers/sha256:ab@layer", "layers", "sha256:ab", "layer", true},
		{"tank/st/active/ctr-1@s1", "active", "ctr-1", "s1", true},
		{"tank/st/views/v", "views", "v", "", true},
		{"tank/st/active", "", "", "", false},
		{"tank/st", "", "", "", false},
		{"tank/st/other/x", "", "", "", false},
		{"tank/st/active/a/b", "", "", "", false},
		{"tank/stx/active/a", "", "", "", false},
		{"tank/st/active/", "", "", "", false},
	}
	for _, tc := range tests {
		g, c, s, ok := l.splitName(tc.name)
		if g != tc.group || c != tc.comp || s != tc.snapName || ok != tc.ok {
			t.Errorf("splitName(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", tc.name, g, c, s, ok, tc.group, tc.comp, tc.snapName, tc.ok)
		}
	}
}

func TestValidDataset(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"zroot/stockade", true},
		{"tank", true},
		{"pool/a.b/c_d/e-f/g:h", true},
		{"", false},
		{"/zroot", false},
		{"zroot/", false},
		{"zroot//x", false},
		{"zroot/x@snap", false},
		{"zroot/x y", false},
		{"zroot/" + strings.Repeat("x", maxParentLen), false},
	} {
		if err := validDataset(tc.name); (err == nil) != tc.ok {
			t.Errorf("validDataset(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestParseGet(t *testing.T) {
	out := strings.Join([]string{
		"p/layers/a@layer\tstockade:key\ta\tlocal",
		"p/layers/a@layer\tstockade:labels\t{\"x\":\"has\ttab\"}\tlocal",
		"p/layers/a@layer\tclones\tp/active/c\t-",
		"p/layers/a\tstockade:key\told\tlocal",
		"p/active/c\tstockade:key\tc\treceived",
		"p/active/c@s1\tstockade:key\tc\tinherited from p/active/c",
		"p/active/c\tstockade:parent\t-\t-",
		"p/active/c\tmounted\tyes\t-",
		"p/active/c\torigin\tp/layers/a@layer\t-",
		"",
	}, "\n")
	st, err := parseGet(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, prop, want string
		user             bool
	}{
		{"p/layers/a@layer", PropKey, "a", true},
		{"p/layers/a@layer", PropLabels, "{\"x\":\"has\ttab\"}", true},
		{"p/layers/a@layer", "clones", "p/active/c", false},
		{"p/layers/a", PropKey, "old", true},
		{"p/active/c", PropKey, "c", true},
		{"p/active/c", PropParent, "", true},
		{"p/active/c@s1", PropKey, "", true},
		{"p/active/c", "mounted", "yes", false},
		{"p/active/c", "origin", "p/layers/a@layer", false},
	} {
		s := st[tc.name]
		if s == nil {
			t.Errorf("%s missing", tc.name)
			continue
		}
		got := s.prop(tc.prop)
		if tc.user {
			got = s.user[tc.prop]
		}
		if got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.name, tc.prop, got, tc.want)
		}
	}
	if st["p/active/c@s1"].hasStockadeProps() {
		t.Error("an inherited stockade:key counts as the snapshot's own")
	}
	for _, bad := range []string{"no tabs", "a\tb", "a\t\tb"} {
		if _, err := parseGet(bad); err == nil {
			t.Errorf("parseGet(%q) succeeded", bad)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	created := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	tests := []*record{
		{Info: snapshot.Info{Name: "base", Kind: snapshot.KindCommitted, Created: created, Updated: created.Add(time.Second)}},
		{Info: snapshot.Info{Name: "ctr", Parent: "sha256:ab", Kind: snapshot.KindActive,
			Labels: map[string]string{"a": "1", "stockade.io/container": "web", "tab": "x\ty\n"}, Created: created, Updated: created}, container: "web"},
		{Info: snapshot.Info{Name: "v", Parent: "base", Kind: snapshot.KindView, Created: created, Updated: created}},
	}
	for _, r := range tests {
		props, err := recordProps(r)
		if err != nil {
			t.Fatal(err)
		}
		st := &dsState{name: "x", user: map[string]string{}, native: map[string]string{}}
		for _, p := range props {
			if strings.ContainsAny(p[1], "\t\n") {
				t.Errorf("%s=%q holds a tab or newline, which zfs get -H cannot carry", p[0], p[1])
			}
			st.user[p[0]] = p[1]
		}
		got, err := parseRecord(st)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != r.Name || got.Parent != r.Parent || got.Kind != r.Kind || got.container != r.container ||
			!got.Created.Equal(r.Created) || !got.Updated.Equal(r.Updated) || len(got.Labels) != len(r.Labels) {
			t.Errorf("round trip of %+v gave %+v", r, got)
		}
		for k, v := range r.Labels {
			if got.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
			}
		}
		args := propArgs(props)
		if len(args) != 2*len(props) || args[0] != "-o" || args[1] != PropKey+"="+r.Name {
			t.Errorf("propArgs = %q", args)
		}
	}
	big := &record{Info: snapshot.Info{Name: "big", Kind: snapshot.KindActive, Labels: map[string]string{"x": strings.Repeat("y", 9000)}}}
	if _, err := recordProps(big); err == nil {
		t.Error("labels over 8 KiB accepted")
	}
}

func TestParseRecordErrors(t *testing.T) {
	tests := []struct {
		name string
		user map[string]string
		want string
	}{
		{"no key", map[string]string{PropKind: "active"}, "no stockade:key"},
		{"bad key", map[string]string{PropKey: "a/b", PropKind: "active"}, "invalid snapshot key"},
		{"bad kind", map[string]string{PropKey: "a", PropKind: "frozen"}, "unknown snapshot kind"},
		{"bad parent", map[string]string{PropKey: "a", PropKind: "active", PropParent: "../x"}, "invalid snapshot key"},
		{"bad labels", map[string]string{PropKey: "a", PropKind: "active", PropLabels: "{"}, "stockade:labels"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRecord(&dsState{name: "ds", user: tc.user})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseRecord: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Without stockade:created, the dataset's creation time is used.
	r, err := parseRecord(&dsState{name: "ds", user: map[string]string{PropKey: "a", PropKind: "view"}, native: map[string]string{"creation": "1700000000"}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Created.Equal(time.Unix(1700000000, 0)) || !r.Updated.Equal(r.Created) {
		t.Errorf("times from creation: %v, %v", r.Created, r.Updated)
	}
	if errors.Is(err, snapshot.ErrNotFound) {
		t.Error("unexpected")
	}
}

func TestApplyOptsCopiesLabels(t *testing.T) {
	orig := snapshot.Info{Labels: map[string]string{"a": "1"}}
	got := applyOpts(orig, []snapshot.Opt{snapshot.WithLabels(map[string]string{"b": "2"})})
	if len(orig.Labels) != 1 || got.Labels["a"] != "1" || got.Labels["b"] != "2" {
		t.Errorf("applyOpts: orig %v, got %v", orig.Labels, got.Labels)
	}
}

func TestParseSnapshotList(t *testing.T) {
	out := "p/active/c@s1\t1700000000\t1024\t4096\np/active/c@layer\t1700000001\t0\t4096\np/active/c@s2\t1700000002\t0\t8192\n"
	got, err := parseSnapshotList(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "s1" || got[0].Used != 1024 || got[0].Referenced != 4096 ||
		got[1].Name != "s2" || got[1].Dataset != "p/active/c@s2" || !got[1].Created.Equal(time.Unix(1700000002, 0)) {
		t.Errorf("parseSnapshotList = %+v", got)
	}
	for _, bad := range []string{"p/a@s\t1\t2\n", "p/a\t1\t2\t3\n", "p/a@s\tx\t2\t3\n"} {
		if _, err := parseSnapshotList(bad); err == nil {
			t.Errorf("parseSnapshotList(%q) succeeded", bad)
		}
	}
	if got, err := parseSnapshotList(""); err != nil || got == nil || len(got) != 0 {
		t.Errorf("empty list: %v, %v", got, err)
	}
}

func TestSumObjused(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want int64
		ok   bool
	}{
		{"7\n3\n", 10, true},
		{"", 0, true},
		{"5\n-\n", 0, false},
		{"x\n", 0, false},
	} {
		n, ok := sumObjused(tc.out)
		if n != tc.want || ok != tc.ok {
			t.Errorf("sumObjused(%q) = %d, %v; want %d, %v", tc.out, n, ok, tc.want, tc.ok)
		}
	}
}

func TestMirrorSteps(t *testing.T) {
	steps := mirrorSteps("p/layers/n", [][2]string{{PropKey, "n"}, {PropKind, "committed"}},
		map[string]string{PropKey: "k", PropContainer: "web", PropLabels: "{}", "other:prop": "x"})
	var got []string
	for _, s := range steps {
		got = append(got, s.String())
	}
	want := []string{
		"zfs set stockade:key=n stockade:kind=committed p/layers/n",
		"zfs inherit stockade:container p/layers/n",
		"zfs inherit stockade:labels p/layers/n",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mirrorSteps:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
