package image

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// flakyProxy forwards to a registry but fails the first `fails` requests
// whose path contains `match`, in the way `mode` says.
type flakyProxy struct {
	mu       sync.Mutex
	next     http.Handler
	match    string
	mode     string
	fails    int
	seen     int      // matching requests
	ranges   []string // Range headers of matching requests
	stallFor time.Duration
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	matching := strings.Contains(r.URL.Path, p.match) && r.Method == http.MethodGet
	fail := false
	if matching {
		p.seen++
		p.ranges = append(p.ranges, r.Header.Get("Range"))
		fail = p.seen <= p.fails
	}
	p.mu.Unlock()
	if !fail {
		p.next.ServeHTTP(w, r)
		return
	}
	switch p.mode {
	case "503", "500", "502", "429":
		code := map[string]int{"503": 503, "500": 500, "502": 502, "429": 429}[p.mode]
		http.Error(w, "try later", code)
	case "401":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}`))
	case "403":
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":[{"code":"DENIED","message":"go away"}]}`))
	case "404":
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}`))
	case "reset":
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
				tc.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		}
	case "timeout":
		time.Sleep(p.stallFor)
		p.next.ServeHTTP(w, r)
	case "midbody":
		// Send the headers and half the body, then drop the connection.
		rec := httptest.NewRecorder()
		p.next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		mode    string
		match   string // "blobs" or "manifests"
		fails   int
		ok      bool
		retried bool // whether more than one matching request is expected
	}{
		{"503", "blobs", 3, true, true},
		{"500", "manifests", 2, true, true},
		{"502", "blobs", 1, true, true},
		{"429", "manifests", 1, true, true},
		{"503", "blobs", 100, false, true},
		{"reset", "blobs", 2, true, true},
		{"reset", "manifests", 2, true, true},
		{"timeout", "manifests", 1, true, true},
		{"midbody", "blobs", 2, true, true},
		{"401", "manifests", 100, false, false},
		{"403", "blobs", 100, false, false},
		{"404", "manifests", 100, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.mode+"-"+tc.match, func(t *testing.T) {
			u, _ := url.Parse("http://" + startGGCRRegistry(t))
			l := randomLayer(t, Gzip, 5, 2, 64<<10)
			match := tc.match
			if match == "blobs" {
				match = l.desc.Digest.String()
			}
			p := &flakyProxy{next: httputil.NewSingleHostReverseProxy(u), match: match, mode: tc.mode, fails: tc.fails, stallFor: 500 * time.Millisecond}
			srv := httptest.NewServer(p)
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "http://")
			newImage(t, linuxAmd64, l).push(t, u.Host, "flaky", "1")

			s, sn := newTestService(t)
			pol := fastRetry
			pol.ResponseTimeout = 200 * time.Millisecond
			s.retry = &pol
			_, err := s.Pull(context.Background(), host+"/flaky:1", PullOptions{Platform: "linux/amd64"})
			if tc.ok && err != nil {
				t.Fatalf("pull failed: %v", err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatal("pull succeeded")
				}
				t.Log(err)
				if tc.match == "blobs" && !strings.Contains(err.Error(), l.desc.Digest.String()) {
					t.Errorf("error %q does not name the layer", err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q has more than one line", err)
				}
				assertNoLeftovers(t, s, sn, host+"/flaky:1", nil, false)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			switch {
			case !tc.retried && p.seen != 1:
				t.Errorf("%d requests, want exactly 1 (no retry)", p.seen)
			case tc.retried && tc.ok && p.seen != tc.fails+1:
				t.Errorf("%d requests, want %d", p.seen, tc.fails+1)
			case tc.retried && !tc.ok && p.seen != pol.Attempts:
				t.Errorf("%d requests, want %d attempts", p.seen, pol.Attempts)
			}
			if tc.mode == "midbody" {
				if p.ranges[0] != "" || !strings.HasPrefix(p.ranges[1], "bytes=") || strings.HasPrefix(p.ranges[1], "bytes=0-") {
					t.Errorf("resumed with ranges %q, want a Range from the middle", p.ranges)
				}
			}
		})
	}
}

// TestResumePartial simulates a pull killed mid-download: the ingest file
// holds the first half of the layer, and the next pull asks only for the
// rest.
func TestResumePartial(t *testing.T) {
	u, _ := url.Parse("http://" + startGGCRRegistry(t))
	l := randomLayer(t, Zstd, 9, 4, 64<<10)
	p := &flakyProxy{next: httputil.NewSingleHostReverseProxy(u), match: l.desc.Digest.String()}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img := newImage(t, linuxAmd64, l)
	img.push(t, u.Host, "resume", "1")

	s, sn := newTestService(t)
	store, err := s.Content(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	half := len(l.blob) / 2
	partial := filepath.Join(store.Root(), "ingest", l.desc.Digest.String()+".partial")
	if err := os.WriteFile(partial, l.blob[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Pull(context.Background(), host+"/resume:1", PullOptions{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	want := "bytes=" + strconv.Itoa(half) + "-" + strconv.Itoa(len(l.blob)-1)
	found := false
	for _, r := range p.ranges {
		found = found || r == want
	}
	if !found {
		t.Errorf("requests had ranges %q, want %q", p.ranges, want)
	}
	if _, ok := readSnapshotFile(t, sn, rec.TopChainID(), "data9/f0003"); !ok {
		t.Error("layer content missing")
	}
	assertNoTemp(t, s)

	// A corrupt partial (same length, wrong bytes) fails the digest
	// check and is removed, and the pull after that succeeds.
	if err := s.Remove(context.Background(), rec.Name); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), l.blob[:half]...)
	bad[0] ^= 0xff
	os.WriteFile(partial, bad, 0o644)
	if _, err := s.Pull(context.Background(), host+"/resume:1", PullOptions{Platform: "linux/amd64"}); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("pull with a corrupt partial: %v", err)
	}
	assertNoLeftovers(t, s, sn, host+"/resume:1", nil, false)
	if _, err := s.Pull(context.Background(), host+"/resume:1", PullOptions{Platform: "linux/amd64"}); err != nil {
		t.Fatal(err)
	}
}
