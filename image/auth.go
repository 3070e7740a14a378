//go:build !lean

package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrLoginFailed is wrapped by Login's error when the registry refuses the
// credentials.
var ErrLoginFailed = errors.New("incorrect username or password")

// RegistryHost normalizes what the user typed to name a registry for
// login and logout: a host[:port], optionally with an http:// or https://
// prefix and a path (docker accepts https://index.docker.io/v1/). Docker
// Hub's names ("docker.io", "index.docker.io", "registry-1.docker.io")
// become "index.docker.io".
func RegistryHost(s string) (name.Registry, error) {
	in := s
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return name.Registry{}, fmt.Errorf("registry %q: not a host[:port]", in)
		}
		s = u.Host
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" || strings.ContainsAny(s, "/ \t\n") {
		return name.Registry{}, fmt.Errorf("registry %q: not a host[:port]", in)
	}
	if strings.EqualFold(s, "docker.io") || strings.EqualFold(s, "registry-1.docker.io") {
		s = name.DefaultRegistry
	}
	reg, err := name.NewRegistry(s, name.StrictValidation)
	if err != nil {
		return name.Registry{}, fmt.Errorf("registry %q: %w", in, err)
	}
	return reg, nil
}

// authKey is the key of reg's credentials in an auth file: the host, or
// docker's "https://index.docker.io/v1/" for Docker Hub, as
// go-containerregistry's default keychain looks them up.
func authKey(reg name.Registry) string {
	if reg.RegistryStr() == name.DefaultRegistry {
		return authn.DefaultAuthKey
	}
	return reg.RegistryStr()
}

// AuthFile returns the file registry credentials are read from and
// written to, chosen as go-containerregistry's default keychain (which
// pulls and pushes use) chooses the file it reads:
//
//  1. the docker config, $DOCKER_CONFIG/config.json or else
//     ~/.docker/config.json, when it exists (the keychain also takes
//     ~/.docker/config.json existing as a sign to read $DOCKER_CONFIG's);
//  2. otherwise $REGISTRY_AUTH_FILE, when set (podman's);
//  3. otherwise podman's auth.json ($XDG_RUNTIME_DIR/containers/auth.json,
//     or $XDG_CONFIG_HOME/containers/auth.json) when it exists;
//  4. otherwise the docker config, made on first login.
func AuthFile() string {
	home, _ := os.UserHomeDir()
	exists := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && !st.IsDir()
	}
	dockerDir := os.Getenv("DOCKER_CONFIG")
	if dockerDir == "" {
		dockerDir = filepath.Join(home, ".docker")
	}
	dockerFile := filepath.Join(dockerDir, config.ConfigFileName)
	if (home != "" && exists(filepath.Join(home, ".docker", config.ConfigFileName))) || (os.Getenv("DOCKER_CONFIG") != "" && exists(dockerFile)) {
		return dockerFile
	}
	if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		return filepath.Clean(f)
	}
	configDir := os.Getenv("XDG_CONFIG_HOME")
	if configDir == "" && home != "" {
		configDir = filepath.Join(home, ".config")
	}
	podman := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "containers", "auth.json")
	if (os.Getenv("XDG_RUNTIME_DIR") == "" || !exists(podman)) && configDir != "" {
		podman = filepath.Join(configDir, "containers", "auth.json")
	}
	if exists(podman) {
		return podman
	}
	return dockerFile
}

// loadAuthFile reads file (docker's config.json format; podman's
// auth.json is a subset) or returns an empty one that saves there.
func loadAuthFile(file string) (*configfile.ConfigFile, error) {
	cf := configfile.New(file)
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	if err := cf.LoadFromReader(f); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", file, err)
	}
	return cf, nil
}

// Login checks user and password against the registry (a GET of /v2/
// with them, through the registry's token service when it has one) and,
// when the registry accepts them, stores them for reg in AuthFile's file,
// or with the credential helper it names for reg (credHelpers, else
// credsStore): a helper gets them on its standard input, never in its
// arguments. It returns the file or helper written to. Wrong credentials
// are an error wrapping ErrLoginFailed, and nothing is written.
func (s *Service) Login(ctx context.Context, reg name.Registry, user, password string) (string, error) {
	if user == "" || password == "" {
		return "", errors.New("login: a username and a password are required")
	}
	if err := s.verifyLogin(ctx, reg, user, password); err != nil {
		return "", err
	}
	file := AuthFile()
	cf, err := loadAuthFile(file)
	if err != nil {
		return "", err
	}
	key := authKey(reg)
	store := cf.GetCredentialsStore(key)
	if err := store.Store(types.AuthConfig{Username: user, Password: password, ServerAddress: key}); err != nil {
		return "", fmt.Errorf("store the credentials of %s: %w", reg.RegistryStr(), err)
	}
	return credentialsPlace(cf, key, file), nil
}

// Logout removes reg's credentials from AuthFile's file or from its
// credential helper. It returns where they were, and an error naming reg
// when there were none.
func (s *Service) Logout(reg name.Registry) (string, error) {
	file := AuthFile()
	cf, err := loadAuthFile(file)
	if err != nil {
		return "", err
	}
	key := authKey(reg)
	store := cf.GetCredentialsStore(key)
	got, err := store.Get(key)
	if err != nil {
		return "", fmt.Errorf("credentials of %s: %w", reg.RegistryStr(), err)
	}
	if got.Username == "" && got.Password == "" && got.Auth == "" && got.IdentityToken == "" && got.RegistryToken == "" {
		return "", fmt.Errorf("not logged in to %s", reg.RegistryStr())
	}
	if err := store.Erase(key); err != nil {
		return "", fmt.Errorf("remove the credentials of %s: %w", reg.RegistryStr(), err)
	}
	return credentialsPlace(cf, key, file), nil
}

// credentialsPlace names where key's credentials live: a helper's program,
// or the file.
func credentialsPlace(cf *configfile.ConfigFile, key, file string) string {
	if h, ok := cf.CredentialHelpers[key]; ok && h != "" {
		return "docker-credential-" + h
	}
	if cf.CredentialsStore != "" {
		return "docker-credential-" + cf.CredentialsStore
	}
	return file
}

// verifyLogin GETs /v2/ of reg with the credentials: 200 means they are
// good. Plain HTTP is used for loopback and insecure registries only, as
// pulls do.
func (s *Service) verifyLogin(ctx context.Context, reg name.Registry, user, password string) error {
	host := reg.RegistryStr()
	plain := plainHTTPAllowed(host, s.InsecureRegistries)
	if plain {
		r, err := name.NewRegistry(host, name.Insecure)
		if err != nil {
			return fmt.Errorf("registry %s: %w", host, err)
		}
		reg = r
	}
	base := s.newHTTPTransport(plain, func(hp string) bool { return plainHTTPAllowed(hp, s.InsecureRegistries) })
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, base, nil)
	if err != nil {
		return loginError(host, err)
	}
	u := url.URL{Scheme: reg.Scheme(), Host: host, Path: "/v2/"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(host, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return loginError(host, err)
	}
	return nil
}

// loginError words a failed login: a 401 or 403 is ErrLoginFailed.
func loginError(host string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("login to %s: %w", host, ErrLoginFailed)
	}
	return fmt.Errorf("login to %s: %w", host, registryError(err))
}
