package jail

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/stockade/stockade/ociruntime"
)

// DefaultExecIODrain is Runtime.ExecIODrain's default: as long as runc's
// containerd shim waits for a process's output after it exits.
const DefaultExecIODrain = 2 * time.Second

// stdioRelay gives a process pipes in place of the streams of an
// ociruntime.IO that are not files, and copies between them in the
// runtime, so that the runtime, not the process's descendants, decides
// when copying ends. Files are passed on as they are.
type stdioRelay struct {
	// child is what the process gets.
	child ociruntime.IO
	// childEnds are the pipe ends the process inherits; the runtime closes
	// its copies once the process started.
	childEnds []*os.File
	// outputs are the runtime's read ends of stdout and stderr, with the
	// writers they are copied to.
	outputs []output
	// stdin is the runtime's write end of the stdin pipe, or nil.
	stdin *os.File
	// copies ends when every output copy has ended.
	copies sync.WaitGroup
}

// output is one output pipe's read end and where it is copied to.
type output struct {
	rd *os.File
	w  io.Writer
}

// sameWriter tells whether a and b are the same writer, as exec.Cmd does
// for Stdout and Stderr (values of uncomparable types are never equal).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a != nil && a == b
}

// newStdioRelay makes the pipes for the streams of sio that are not
// files. Nothing is copied until start.
func newStdioRelay(sio ociruntime.IO) (*stdioRelay, error) {
	r := &stdioRelay{child: sio}
	fail := func(err error) (*stdioRelay, error) {
		r.abort()
		return nil, err
	}
	if sio.Stdin != nil {
		if _, ok := sio.Stdin.(*os.File); !ok {
			rd, wr, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			r.child.Stdin, r.stdin = rd, wr
			r.childEnds = append(r.childEnds, rd)
		}
	}
	pipe := func(w io.Writer) (*os.File, error) {
		rd, wr, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		r.childEnds = append(r.childEnds, wr)
		r.outputs = append(r.outputs, output{rd, w})
		return wr, nil
	}
	var outW *os.File
	if sio.Stdout != nil {
		if _, ok := sio.Stdout.(*os.File); !ok {
			w, err := pipe(sio.Stdout)
			if err != nil {
				return fail(err)
			}
			r.child.Stdout, outW = w, w
		}
	}
	if sio.Stderr != nil {
		if _, ok := sio.Stderr.(*os.File); !ok {
			if outW != nil && sameWriter(sio.Stdout, sio.Stderr) {
				r.child.Stderr = outW
			} else {
				w, err := pipe(sio.Stderr)
				if err != nil {
					return fail(err)
				}
				r.child.Stderr = w
			}
		}
	}
	return r, nil
}

// start closes the runtime's copies of the process's ends and begins
// copying.
func (r *stdioRelay) start(stdin io.Reader) {
	for _, f := range r.childEnds {
		f.Close()
	}
	r.childEnds = nil
	if r.stdin != nil {
		go func() {
			// This goroutine may stay blocked reading sio.Stdin after the
			// process ended; finish does not wait for it.
			io.Copy(r.stdin, stdin)
			r.stdin.Close()
		}()
	}
	for _, o := range r.outputs {
		r.copies.Add(1)
		go func() {
			defer r.copies.Done()
			io.Copy(o.w, o.rd)
		}()
	}
}

// finish is called once the process ended. It stops feeding its stdin and
// waits up to drain for its output to reach end of file; output still
// open then (held by a descendant that outlived the process) is closed
// and no longer copied. It reports whether all output was copied.
func (r *stdioRelay) finish(drain time.Duration) bool {
	if r.stdin != nil {
		r.stdin.Close()
	}
	done := make(chan struct{})
	go func() {
		r.copies.Wait()
		close(done)
	}()
	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case <-done:
		r.closeOutputs()
		return true
	case <-timer.C:
	}
	r.closeOutputs()
	// The copies end at once now, unless blocked writing to the caller's
	// writers; give them a moment so that what they copied is there.
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	return false
}

func (r *stdioRelay) closeOutputs() {
	for _, o := range r.outputs {
		o.rd.Close()
	}
}

// abort releases everything, when the process did not start.
func (r *stdioRelay) abort() {
	for _, f := range r.childEnds {
		f.Close()
	}
	r.childEnds = nil
	if r.stdin != nil {
		r.stdin.Close()
	}
	r.closeOutputs()
}
