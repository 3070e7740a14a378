package engine

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/bundle"
)

// TestPrewarmConcurrent: the warm-ups run beside the encodings and
// decodings they prepare (as a run's command line and monitor run them)
// and change nothing of what is written or read.
func TestPrewarmConcurrent(t *testing.T) {
	spec, err := bundle.Generate(ocispec.ImageConfig{Cmd: []string{"/bin/true"}}, "", bundle.Options{GOOS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &Container{ID: "c1", Name: "web", Command: []string{"/bin/true"}, State: State{Status: StatusCreated}}
	wantSpec, err := bundle.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	wantRec, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(3)
		go func() { defer wg.Done(); PrewarmCreate() }()
		go func() { defer wg.Done(); PrewarmMonitor() }()
		go func() {
			defer wg.Done()
			gotSpec, err := bundle.Marshal(spec)
			if err != nil || !bytes.Equal(gotSpec, wantSpec) {
				t.Errorf("spec written beside the warm-ups differs (%v)", err)
			}
			data, err := json.Marshal(&MonitorStart{Record: rec})
			if err != nil {
				t.Error(err)
				return
			}
			var start MonitorStart
			if err := json.Unmarshal(data, &start); err != nil || start.Record == nil {
				t.Errorf("start message read beside the warm-ups: %+v, %v", start, err)
				return
			}
			if got, _ := json.Marshal(start.Record); !bytes.Equal(got, wantRec) {
				t.Errorf("record read beside the warm-ups:\n%s\nwant\n%s", got, wantRec)
			}
		}()
	}
	wg.Wait()
}
