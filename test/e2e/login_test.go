package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// startAuthRegistry is startRegistry with htpasswd (bcrypt) basic auth for
// user:password.
func startAuthRegistry(t *testing.T, user, password string) *registry {
	t.Helper()
	need(t, "docker-registry")
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return serveRegistry(t, dir, fmt.Sprintf("auth:\n  htpasswd:\n    realm: stockade-e2e\n    path: %s\n", htpasswd))
}

// authEnv isolates the credential files: HOME and DOCKER_CONFIG in the
// test's directories, no REGISTRY_AUTH_FILE or XDG directories.
func authEnv(t *testing.T) (dockerConfig string) {
	t.Helper()
	home := t.TempDir()
	dockerConfig = filepath.Join(home, ".docker")
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", dockerConfig)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("DOCKER_AUTH_CONFIG", "")
	return dockerConfig
}

func TestLogin(t *testing.T) {
	securityNeedsRoot(t)
	const user, password = "alice", "s3cret-pass"
	reg := startAuthRegistry(t, user, password)
	need(t, "skopeo")
	ref := reg.addr + "/private/busybox:1"
	bbRef := busyboxImage(t, startRegistry(t))
	sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", "--dest-creds", user+":"+password, "docker://"+bbRef, "docker://"+ref)

	dockerConfig := authEnv(t)
	e := newEnv(t)
	configFile := filepath.Join(dockerConfig, "config.json")

	if r := e.run("pull", "-q", ref); r.code == 0 || !strings.Contains(r.stderr, "authentication required") {
		t.Fatalf("pull before login: %s", r)
	}

	// Wrong password: refused, nothing written.
	r := e.runStdin(strings.NewReader("wrong\n"), "login", "-u", user, "--password-stdin", reg.addr)
	if r.code == 0 || !strings.Contains(r.stderr, "incorrect username or password") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("login with a wrong password: %s", r)
	}
	if _, err := os.Stat(configFile); err == nil {
		t.Fatal("a failed login wrote the config file")
	}

	r = e.runStdin(strings.NewReader(password+"\n"), "login", "-u", user, "--password-stdin", reg.addr)
	if r.code != 0 || r.stdout != "Login Succeeded\n" {
		t.Fatalf("login: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, password) {
		t.Error("login printed the password")
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	data, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Auths[reg.addr].Auth; got != base64.StdEncoding.EncodeToString([]byte(user+":"+password)) {
		t.Errorf("config.json auths[%s] = %q: %s", reg.addr, got, data)
	}
	if st, _ := os.Stat(configFile); st.Mode().Perm()&0o077 != 0 {
		t.Errorf("config.json mode %v: readable by others", st.Mode())
	}

	e.must("pull", "-q", ref)

	r = e.must("logout", reg.addr)
	if !strings.Contains(r.stdout, "Removing login credentials for "+reg.addr) {
		t.Errorf("logout: %s", r)
	}
	e.must("rmi", ref)
	if r := e.run("pull", "-q", ref); r.code == 0 {
		t.Fatalf("pull after logout: %s", r)
	}
	if r := e.run("logout", reg.addr); r.code == 0 || !strings.Contains(r.stderr, "not logged in to "+reg.addr) {
		t.Errorf("second logout: %s", r)
	}

	t.Run("-p warns", func(t *testing.T) {
		r := e.runStdin(strings.NewReader(""), "login", "-u", user, "-p", password, reg.addr)
		if r.code != 0 || !strings.Contains(r.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.") {
			t.Errorf("login -p: %s", r)
		}
		mustT(t, e, "logout", reg.addr)
	})

	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"login", "--password-stdin", reg.addr},
			{"login", "-u", user, "-p", "x", "--password-stdin", reg.addr},
			{"login", "-u", user, "--password-stdin", "https://exa mple/"},
		} {
			r := e.runStdin(strings.NewReader("x\n"), args...)
			if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%v: %s", args, r)
			}
		}
	})

	t.Run("REGISTRY_AUTH_FILE", func(t *testing.T) {
		os.RemoveAll(dockerConfig)
		authFile := filepath.Join(t.TempDir(), "auth.json")
		t.Setenv("REGISTRY_AUTH_FILE", authFile)
		e.runStdin(strings.NewReader(password), "login", "-u", user, "--password-stdin", reg.addr)
		data, err := os.ReadFile(authFile)
		if err != nil || !strings.Contains(string(data), reg.addr) {
			t.Fatalf("REGISTRY_AUTH_FILE %s: %v %s", authFile, err, data)
		}
		mustT(t, e, "pull", "-q", ref)
		mustT(t, e, "rmi", ref)
		mustT(t, e, "logout", reg.addr)
	})

	t.Run("credential helper", func(t *testing.T) {
		// A helper that keeps credentials in a file and records its
		// arguments: the password must reach it on stdin only.
		bin := t.TempDir()
		store := filepath.Join(bin, "store.json")
		argv := filepath.Join(bin, "argv")
		helper := `#!/bin/sh
echo "$@" >> ` + argv + `
case "$1" in
store) cat > ` + store + ` ;;
get) if [ -s ` + store + ` ]; then cat ` + store + `; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) rm -f ` + store + ` ;;
list) echo '{}' ;;
esac
`
		if err := os.WriteFile(filepath.Join(bin, "docker-credential-e2e"), []byte(helper), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		os.MkdirAll(dockerConfig, 0o700)
		if err := os.WriteFile(configFile, []byte(`{"credsStore":"e2e"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		r := e.runStdin(strings.NewReader(password), "login", "-u", user, "--password-stdin", reg.addr)
		if r.code != 0 {
			t.Fatalf("login: %s", r)
		}
		stored, _ := os.ReadFile(store)
		if !strings.Contains(string(stored), password) || !strings.Contains(string(stored), reg.addr) {
			t.Errorf("the helper stored %q", stored)
		}
		data, _ := os.ReadFile(configFile)
		if strings.Contains(string(data), base64.StdEncoding.EncodeToString([]byte(user+":"+password))) {
			t.Errorf("credentials in config.json despite credsStore: %s", data)
		}
		mustT(t, e, "pull", "-q", ref)
		mustT(t, e, "logout", reg.addr)
		if _, err := os.Stat(store); err == nil {
			t.Error("logout left the helper's credentials")
		}
		args, _ := os.ReadFile(argv)
		if strings.Contains(string(args), password) {
			t.Errorf("the password was in a helper's arguments: %s", args)
		}
	})
}

// mustT is env.must failing t, for subtests.
func mustT(t *testing.T, e *env, args ...string) result {
	t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		t.Fatalf("stockade %s: %s", strings.Join(args, " "), r)
	}
	return r
}
