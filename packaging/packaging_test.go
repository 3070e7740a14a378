// Package packaging tests what `make install` lays down against the
// FreeBSD port's pkg-plist, and the Linux layout, from DESTDIR trees.
package packaging

import (
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/internal/testenv"
)

// makeInstall runs make TARGET with DESTDIR=dest and vars in the source
// tree's root.
func makeInstall(t *testing.T, target, dest string, vars ...string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed")
	}
	args := append([]string{"--no-print-directory", "-C", "..", target, "DESTDIR=" + dest, "PREFIX=/usr/local"}, vars...)
	if out, err := exec.Command("make", args...).CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// tree lists the files under root, relative to it.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// plist reads pkg-plist's files: @sample's file as staged, man pages
// without the .gz the ports framework adds when it compresses them.
func plist(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("freebsd/sysutils/stockade/pkg-plist")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "@dir"):
			continue
		case strings.HasPrefix(l, "@sample "):
			l = strings.TrimPrefix(l, "@sample ")
		case strings.HasPrefix(l, "@"):
			t.Fatalf("pkg-plist: a keyword this test does not know: %s", l)
		}
		if strings.HasPrefix(l, "share/man/") {
			l = strings.TrimSuffix(l, ".gz")
		}
		files = append(files, l)
	}
	sort.Strings(files)
	return files
}

// TestFreeBSDInstallMatchesPlist: make install for FreeBSD lays down
// exactly the files of pkg-plist, under PREFIX, with an rc.d script that
// names the installed binary.
func TestFreeBSDInstallMatchesPlist(t *testing.T) {
	dest := t.TempDir()
	makeInstall(t, "install", dest, "INSTALL_OS=freebsd", "INSTALL_ARCH=amd64")
	if _, err := os.Stat(filepath.Join(dest, "etc")); err == nil {
		t.Errorf("make install for FreeBSD wrote outside PREFIX: %v", tree(t, filepath.Join(dest, "etc")))
	}
	got, want := tree(t, filepath.Join(dest, "usr/local")), plist(t)
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("pkg-plist lists %s; make install did not install it", f)
		}
	}
	for _, f := range got {
		if !slices.Contains(want, f) {
			t.Errorf("make install installed %s; pkg-plist does not list it", f)
		}
	}
	rc := filepath.Join(dest, "usr/local/etc/rc.d/stockade")
	data, err := os.ReadFile(rc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "%%") || !strings.Contains(string(data), `stockade_command:=/usr/local/bin/stockade}`) {
		t.Errorf("the installed rc.d script does not name /usr/local/bin/stockade")
	}
	if st, err := os.Stat(rc); err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("rc.d/stockade mode: %v %v", st.Mode(), err)
	}
	for _, bin := range []string{"stockade", "stockade-full", "stockade-runtime", "stockade-monitor", "stockade-supervisor"} {
		f, err := elf.Open(filepath.Join(dest, "usr/local/bin", bin))
		if err != nil {
			t.Fatal(err)
		}
		if f.OSABI != elf.ELFOSABI_FREEBSD || f.Machine != elf.EM_X86_64 {
			t.Errorf("bin/%s is %s %s, want a FreeBSD amd64 binary", bin, f.OSABI, f.Machine)
		}
		f.Close()
	}
	checkCompletions(t, filepath.Join(dest, "usr/local/share"))
}

// TestLinuxInstall: the Linux layout — systemd unit naming the installed
// binary, tmpfiles.d entry, the sample configuration under /etc.
func TestLinuxInstall(t *testing.T) {
	dest := t.TempDir()
	makeInstall(t, "install-data", dest, "INSTALL_OS=linux")
	want := []string{
		"etc/stockade/stockade.toml.sample",
		"usr/local/lib/systemd/system/stockade.service",
		"usr/local/lib/tmpfiles.d/stockade.conf",
		"usr/local/share/bash-completion/completions/stockade",
		"usr/local/share/fish/vendor_completions.d/stockade.fish",
		"usr/local/share/man/man5/stockade.toml.5",
		"usr/local/share/man/man8/stockade-runtime.8",
		"usr/local/share/man/man8/stockade.8",
		"usr/local/share/zsh/site-functions/_stockade",
	}
	if got := tree(t, dest); !slices.Equal(got, want) {
		t.Errorf("installed %v, want %v", got, want)
	}
	unit, err := os.ReadFile(filepath.Join(dest, "usr/local/lib/systemd/system/stockade.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ExecStart=/usr/local/bin/stockade boot --parallel", "ExecStop=/usr/local/bin/stockade shutdown --parallel", "WantedBy=multi-user.target"} {
		if !strings.Contains(string(unit), w) {
			t.Errorf("stockade.service lacks %q", w)
		}
	}
	if strings.Contains(string(unit), "@") {
		t.Errorf("stockade.service has an unsubstituted placeholder")
	}
	checkCompletions(t, filepath.Join(dest, "usr/local/share"))
}

// checkCompletions sources the installed bash script the way
// bash-completion loads it, from inside a function, and asks bash for
// stockade's completion; the zsh and fish scripts must at least be
// whole.
func checkCompletions(t *testing.T, share string) {
	t.Helper()
	bash := filepath.Join(share, "bash-completion/completions/stockade")
	out, err := exec.Command("bash", "-c", `load() { . "$1"; }; load "$0" && complete -p stockade && echo "${_stockade_subs[stockade]}"`, bash).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "complete -F _stockade stockade") || !strings.Contains(string(out), "boot") {
		t.Errorf("bash completion: %v %s", err, out)
	}
	for _, f := range []string{"zsh/site-functions/_stockade", "fish/vendor_completions.d/stockade.fish"} {
		data, err := os.ReadFile(filepath.Join(share, f))
		if err != nil || !strings.Contains(string(data), "__complete") {
			t.Errorf("%s: %v", f, err)
		}
	}
	if out, err := exec.Command("bash", "-n", bash).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v %s", err, out)
	}
}

// TestCompletionSyntax: zsh and fish read their scripts without a syntax
// error, and fish completes a subcommand from the command tree.
func TestCompletionSyntax(t *testing.T) {
	dest := t.TempDir()
	makeInstall(t, "install-data", dest, "INSTALL_OS=linux")
	share := filepath.Join(dest, "usr/local/share")
	zsh := testenv.RequireCommand(t, "zsh")
	if out, err := exec.Command(zsh, "-n", filepath.Join(share, "zsh/site-functions/_stockade")).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v %s", err, out)
	}
	fish := testenv.RequireCommand(t, "fish")
	script := filepath.Join(share, "fish/vendor_completions.d/stockade.fish")
	if out, err := exec.Command(fish, "-n", script).CombinedOutput(); err != nil {
		t.Errorf("fish -n: %v %s", err, out)
	}
	out, err := exec.Command(fish, "-c", "source $argv[1]; complete -C 'stockade network '", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "prune") {
		t.Errorf("fish: stockade network <TAB>: %v %q", err, out)
	}
}

// TestSampleConfig: the sample configuration is a valid stockade.toml.
func TestSampleConfig(t *testing.T) {
	for _, goos := range []string{"freebsd", "linux"} {
		if _, err := config.Load(goos, "stockade.toml.sample", true, nil); err != nil {
			t.Errorf("%s: %v", goos, err)
		}
	}
}
