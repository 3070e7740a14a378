package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// tokenRegistry wraps a registry with Docker token auth: /v2/ answers 401
// with a Bearer challenge, /token hands out a token for user:secret.
func tokenRegistry(t *testing.T) (host string, tokenCalls *atomic.Int32) {
	reg := registry.New(registry.Logger(nilLogger()))
	tokenCalls = &atomic.Int32{}
	var srvURL string
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		u, p, ok := r.BasicAuth()
		if !ok || u != "user" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"token": "good-token"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good-token" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+srvURL+`/token",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		reg.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	// Push the test image straight into the inner registry.
	inner := httptest.NewServer(reg)
	t.Cleanup(inner.Close)
	newImage(t, linuxAmd64, newLayer(t, Gzip, file("auth", "ok"))).push(t, strings.TrimPrefix(inner.URL, "http://"), "private", "1")
	return strings.TrimPrefix(srv.URL, "http://"), tokenCalls
}

func TestTokenAuthFromDockerConfig(t *testing.T) {
	host, calls := tokenRegistry(t)
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(t.TempDir(), "none.json"))

	// Without credentials: one clear error, and no retry storm.
	s, sn := newTestService(t)
	_, err := s.Pull(context.Background(), host+"/private:1", PullOptions{Platform: "linux/amd64"})
	if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("pull without credentials: %v", err)
	}
	if n := calls.Load(); n > 2 {
		t.Errorf("%d token requests without credentials, want at most 2", n)
	}
	assertNoLeftovers(t, s, sn, host+"/private:1", nil, false)

	auth := base64.StdEncoding.EncodeToString([]byte("user:secret"))
	cfg := `{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Pull(context.Background(), host+"/private:1", PullOptions{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readSnapshotFile(t, sn, rec.TopChainID(), "auth"); got != "ok" {
		t.Errorf("file auth = %q", got)
	}
}
