package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

// helperEnv makes the test binary act as a stockade process that pulls
// STOCKADE_TEST_REF into STOCKADE_TEST_ROOT (see TestMain).
const helperEnv = "STOCKADE_IMAGE_HELPER"

func helperMain() int {
	ctx := context.Background()
	s, err := openTestService(os.Getenv("STOCKADE_TEST_ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Snapshotter.Close()
	switch os.Getenv(helperEnv) {
	case "pull":
		rec, err := s.Pull(ctx, os.Getenv("STOCKADE_TEST_REF"), PullOptions{Platform: "linux/amd64"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(rec.ID)
		return 0
	case "rss":
		return rssMain(ctx, s)
	}
	return 2
}

// TestConcurrentPulls pulls one image from several goroutines and several
// processes into the same data root at once: all succeed, each blob is
// stored once, and every layer is committed once.
func TestConcurrentPulls(t *testing.T) {
	host := startGGCRRegistry(t)
	img := newImage(t, linuxAmd64,
		randomLayer(t, Gzip, 1, 4, 256<<10),
		randomLayer(t, Zstd, 2, 4, 256<<10),
		randomLayer(t, Gzip, 3, 4, 256<<10),
	)
	img.push(t, host, "race", "1")
	ref := host + "/race:1"
	root := t.TempDir()
	s, sn := newServiceAt(t, root)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Pull(context.Background(), ref, PullOptions{Platform: "linux/amd64"})
			errs <- err
		}()
	}
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=pull", "STOCKADE_TEST_ROOT="+root, "STOCKADE_TEST_REF="+ref)
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("helper process: %v: %s", err, out)
			} else if got := strings.TrimSpace(string(out)); got != img.configDesc.Digest.String() {
				err = fmt.Errorf("helper process pulled %q", got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	recs, err := s.List(context.Background())
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %v %v", recs, err)
	}
	blobs, _ := os.ReadDir(filepath.Join(s.ContentRoot(), "blobs", "sha256"))
	if want := len(img.layers) + 2; len(blobs) != want {
		t.Errorf("%d blobs stored, want %d", len(blobs), want)
	}
	snaps := sn.snapshots()
	if len(snaps) != len(img.layers) {
		t.Errorf("snapshots %v, want %d committed", snaps, len(img.layers))
	}
	for n, k := range snaps {
		if k != snapshot.KindCommitted {
			t.Errorf("snapshot %s is %s", n, k)
		}
	}
	assertNoTemp(t, s)
}
