package image

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
)

func TestRegistryHost(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "127.0.0.1:5000", want: "127.0.0.1:5000"},
		{in: "registry.example.com", want: "registry.example.com"},
		{in: "https://registry.example.com/", want: "registry.example.com"},
		{in: "http://localhost:5000/v2/", want: "localhost:5000"},
		{in: "docker.io", want: "index.docker.io"},
		{in: "https://index.docker.io/v1/", want: "index.docker.io"},
		{in: "registry-1.docker.io", want: "index.docker.io"},
		{in: "", err: "not a host"},
		{in: "a/b", err: "not a host"},
		{in: "https://", err: "not a host"},
	}
	for _, tt := range tests {
		got, err := RegistryHost(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
				t.Errorf("RegistryHost(%q) = %v, %v; want an error naming it", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.RegistryStr() != tt.want {
			t.Errorf("RegistryHost(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// authDirs isolates the variables AuthFile reads.
func authDirs(t *testing.T) (home string) {
	home = t.TempDir()
	for _, v := range []string{"DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_AUTH_CONFIG"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", home)
	return home
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuthFile(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, home string) (want string)
	}{
		{"nothing: the docker config, to be made", func(t *testing.T, home string) string {
			return filepath.Join(home, ".docker/config.json")
		}},
		{"DOCKER_CONFIG", func(t *testing.T, home string) string {
			d := filepath.Join(home, "dc")
			t.Setenv("DOCKER_CONFIG", d)
			return filepath.Join(d, "config.json")
		}},
		{"REGISTRY_AUTH_FILE without a docker config", func(t *testing.T, home string) string {
			f := filepath.Join(home, "auth.json")
			t.Setenv("REGISTRY_AUTH_FILE", f)
			return f
		}},
		{"an existing docker config wins over REGISTRY_AUTH_FILE", func(t *testing.T, home string) string {
			touch(t, filepath.Join(home, ".docker/config.json"))
			t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(home, "auth.json"))
			return filepath.Join(home, ".docker/config.json")
		}},
		{"podman's auth.json under XDG_CONFIG_HOME", func(t *testing.T, home string) string {
			f := filepath.Join(home, ".config/containers/auth.json")
			touch(t, f)
			return f
		}},
		{"podman's auth.json under XDG_RUNTIME_DIR", func(t *testing.T, home string) string {
			run := filepath.Join(home, "run")
			t.Setenv("XDG_RUNTIME_DIR", run)
			f := filepath.Join(run, "containers/auth.json")
			touch(t, f)
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := authDirs(t)
			want := tt.setup(t, home)
			if got := AuthFile(); got != want {
				t.Errorf("AuthFile() = %s, want %s", got, want)
			}
		})
	}
}

// basicRegistry is an in-memory registry behind basic auth user:secret.
func basicRegistry(t *testing.T) name.Registry {
	t.Helper()
	reg := registry.New(registry.Logger(nilLogger()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	r, err := RegistryHost(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLoginWhereTheKeychainReads logs in under each auth file choice and
// checks that go-containerregistry's default keychain, which pulls use,
// then finds the credentials, and after logout does not.
func TestLoginWhereTheKeychainReads(t *testing.T) {
	for _, setup := range []func(t *testing.T, home string){
		func(t *testing.T, home string) {},
		func(t *testing.T, home string) { t.Setenv("DOCKER_CONFIG", filepath.Join(home, "dc")) },
		func(t *testing.T, home string) { t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(home, "auth.json")) },
	} {
		home := authDirs(t)
		setup(t, home)
		reg := basicRegistry(t)
		s := &Service{}
		ctx := context.Background()

		if _, err := s.Login(ctx, reg, "user", "wrong"); !errors.Is(err, ErrLoginFailed) {
			t.Fatalf("login with a wrong password: %v", err)
		}
		if _, err := os.Stat(AuthFile()); err == nil {
			t.Fatalf("a failed login wrote %s", AuthFile())
		}
		where, err := s.Login(ctx, reg, "user", "secret")
		if err != nil {
			t.Fatal(err)
		}
		if where != AuthFile() {
			t.Errorf("stored in %s, AuthFile is %s", where, AuthFile())
		}
		auth, err := authn.DefaultKeychain.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := auth.Authorization()
		if err != nil || cfg.Username != "user" || cfg.Password != "secret" {
			t.Fatalf("the keychain reads %+v, %v from %s", cfg, err, where)
		}
		if _, err := s.Logout(reg); err != nil {
			t.Fatal(err)
		}
		if auth, _ := authn.DefaultKeychain.Resolve(reg); auth != authn.Anonymous {
			t.Errorf("after logout the keychain still has credentials")
		}
		if _, err := s.Logout(reg); err == nil || !strings.Contains(err.Error(), "not logged in to "+reg.RegistryStr()) {
			t.Errorf("second logout: %v", err)
		}
	}
}

// TestLoginTokenRegistry logs in to a registry with Docker's token
// service, as Docker Hub has: the credentials are checked by the token
// server.
func TestLoginTokenRegistry(t *testing.T) {
	host, calls := tokenRegistry(t)
	authDirs(t)
	reg, err := RegistryHost(host)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{}
	if _, err := s.Login(context.Background(), reg, "user", "nope"); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := os.Stat(AuthFile()); err == nil {
		t.Fatal("a failed login wrote the auth file")
	}
	before := calls.Load()
	if _, err := s.Login(context.Background(), reg, "user", "secret"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() == before {
		t.Error("the token server was not asked")
	}
	data, err := os.ReadFile(AuthFile())
	if err != nil || !strings.Contains(string(data), host) {
		t.Fatalf("auth file: %v %s", err, data)
	}
}
