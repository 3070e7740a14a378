package metadata

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/internal/flock"
)

type record struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestOpenCreatesSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", FileName)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.Schema(ctx)
	if err != nil || v != SchemaVersion {
		t.Fatalf("schema = %d, %v; want %d", v, err, SchemaVersion)
	}
	err = db.View(ctx, func(tx *bolt.Tx) error {
		for _, b := range []string{BucketMeta, BucketImages, BucketContainers, BucketNetworks, BucketLeases, BucketVolumes,
			BucketContainerNames, BucketLeasePorts, BucketContainerLeases, BucketLeaseMarks, BucketLeaseFree, BucketUserLookups} {
			if tx.Bucket([]byte(b)) == nil {
				return fmt.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Opening again is a no-op migration.
	if _, err := Open(ctx, path); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *bolt.Tx) error {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], SchemaVersion+5)
		return tx.Bucket([]byte(BucketMeta)).Put([]byte("schema"), b[:])
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, path)
	want := fmt.Sprintf("metadata store %s: schema version %d is newer than this stockade's %d", path, SchemaVersion+5, SchemaVersion)
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestJSONHelpers(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *bolt.Tx) error {
		for i, n := range []string{"a", "b", "c"} {
			if err := PutJSON(tx, BucketImages, n, record{Name: n, Count: i}); err != nil {
				return err
			}
		}
		return Delete(tx, BucketImages, "b")
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []record
	err = db.View(ctx, func(tx *bolt.Tx) error {
		var r record
		if err := GetJSON(tx, BucketImages, "c", &r); err != nil || r.Count != 2 {
			return fmt.Errorf("get c = %+v, %v", r, err)
		}
		if err := GetJSON(tx, BucketImages, "b", &r); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("get deleted b: %v", err)
		}
		if err := GetJSON(tx, "nobucket", "x", &r); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("get from missing bucket: %v", err)
		}
		return ForEachJSON(tx, BucketImages, func(k string, v *record) error {
			got = append(got, *v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Errorf("ForEachJSON = %+v", got)
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = db.Update(ctx, func(tx *bolt.Tx) error {
		if err := PutJSON(tx, BucketImages, "x", record{Name: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	err = db.View(ctx, func(tx *bolt.Tx) error {
		var r record
		return GetJSON(tx, BucketImages, "x", &r)
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("record survived a failed transaction: %v", err)
	}
}

func TestWaitsForLockAndHonoursContext(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// Hold the file the way another process would.
	held, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel()
	err = db.Update(cctx, func(*bolt.Tx) error { return nil })
	if err == nil {
		t.Fatal("update succeeded while the file was held")
	}
	// Released during the wait: the waiter gets through.
	done := make(chan error, 1)
	go func() { done <- db.Update(ctx, func(*bolt.Tx) error { return nil }) }()
	time.Sleep(300 * time.Millisecond)
	held.Close()
	if err := <-done; err != nil {
		t.Errorf("waiter failed after release: %v", err)
	}
}

// TestWaitEndsAtRelease checks that a transaction waiting for another
// process's is woken when that one ends: it must have run 20 ms after the
// other let go, where bbolt's own wait, polling every 50 ms, would still
// be asleep (a monitor opening its stores while the command line that
// started it committed used to lose 50 ms that way).
func TestWaitEndsAtRelease(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	for _, tc := range []struct {
		name string
		txn  func(context.Context, func(*bolt.Tx) error) error
	}{{"view", db.View}, {"update", db.Update}} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := flock.TryLock(holder, flock.Exclusive); !ok || err != nil {
				t.Fatalf("take the file: %v, %v", ok, err)
			}
			ran := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- tc.txn(ctx, func(*bolt.Tx) error {
					close(ran)
					return nil
				})
			}()
			time.Sleep(20 * time.Millisecond)
			select {
			case <-ran:
				t.Fatal("the transaction ran while another held the file")
			default:
			}
			if err := flock.Unlock(holder); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			select {
			case <-ran:
			default:
				t.Error("the waiting transaction had not run 20 ms after the other holder let go")
			}
			if err := <-done; err != nil {
				t.Fatalf("waiting %s: %v", tc.name, err)
			}
		})
	}
}

// TestConcurrentProcesses starts several processes that each increment a
// shared counter many times and also write records of their own; none may
// fail, and no increment may be lost. The first increments of processes 0
// and 1 are made to meet at the worst moment (see helperProcess), so that
// an increment whose read and write are not one transaction loses one
// every time.
func TestConcurrentProcesses(t *testing.T) {
	const procs, rounds = 6, 40
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	if _, err := Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	syncDir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "STOCKADE_META_HELPER="+path, "STOCKADE_META_ID="+strconv.Itoa(p), "STOCKADE_META_ROUNDS="+strconv.Itoa(rounds), "STOCKADE_META_SYNC="+syncDir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[p] = fmt.Errorf("process %d: %v: %s", p, err, out)
			}
		}(p)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var counter record
	n := 0
	err = db.View(ctx, func(tx *bolt.Tx) error {
		if err := GetJSON(tx, BucketContainers, "counter", &counter); err != nil {
			return err
		}
		return ForEachJSON(tx, BucketImages, func(string, *record) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if counter.Count != procs*rounds {
		t.Errorf("counter = %d, want %d: increments were lost", counter.Count, procs*rounds)
	}
	if n != procs*rounds {
		t.Errorf("%d records, want %d", n, procs*rounds)
	}
	if err := db.View(ctx, checkTx); err != nil {
		t.Errorf("consistency check: %v", err)
	}
}

func checkTx(tx *bolt.Tx) error {
	for err := range tx.Check() {
		return err
	}
	return nil
}

// TestMain runs the body of TestConcurrentProcesses' children when the
// test binary is started as one of them.
func TestMain(m *testing.M) {
	if path := os.Getenv("STOCKADE_META_HELPER"); path != "" {
		if err := helperProcess(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperProcess is one process of TestConcurrentProcesses. Process 0
// holds its first increment between the read and the write, while process
// 1 makes its first one: a rival that must wait for the holder to commit.
// The others start once the holder holds. The processes meet through
// files in STOCKADE_META_SYNC: "held" once process 0 holds, "rival" once
// process 1's first increment is done.
func helperProcess(path string) error {
	ctx := context.Background()
	id := os.Getenv("STOCKADE_META_ID")
	rounds, _ := strconv.Atoi(os.Getenv("STOCKADE_META_ROUNDS"))
	held := filepath.Join(os.Getenv("STOCKADE_META_SYNC"), "held")
	rival := filepath.Join(os.Getenv("STOCKADE_META_SYNC"), "rival")
	db, err := Open(ctx, path)
	if err != nil {
		return err
	}
	var hold func()
	var holdErr error
	if id == "0" {
		hold = func() {
			if err := os.WriteFile(held, nil, 0o644); err != nil {
				holdErr = err
				return
			}
			for deadline := time.Now().Add(raceWindow); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(rival); err == nil {
					holdErr = errors.New("process 1 made an increment while process 0 was between its read and its write")
					return
				}
			}
		}
	} else {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(held); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("process 0 never held its first increment")
			}
		}
	}
	for i := 0; i < rounds; i++ {
		if err := increment(ctx, db, fmt.Sprintf("%s-%d", id, i), hold); err != nil {
			return err
		}
		hold = nil
		if holdErr != nil {
			return holdErr
		}
		if id == "1" && i == 0 {
			if err := os.WriteFile(rival, nil, 0o644); err != nil {
				return err
			}
		}
		if err := db.View(ctx, func(tx *bolt.Tx) error {
			var c record
			return GetJSON(tx, BucketContainers, "counter", &c)
		}); err != nil {
			return err
		}
	}
	return nil
}

// A callback's own error (a record not found) reaches the caller as it
// was, without the store's file name in front of it.
func TestCallbackErrorUnchanged(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	mine := errors.New(`image "nope": image not found`)
	for _, run := range []func(context.Context, func(*bolt.Tx) error) error{db.View, db.Update} {
		err := run(context.Background(), func(*bolt.Tx) error { return mine })
		if err != mine {
			t.Errorf("got %v, want the callback's error unchanged", err)
		}
	}
}

// increment adds one to the shared counter and writes a record of its own
// under key, in one transaction. between, when set, is called after the
// read and before the write: the moment a rival updater does most harm.
func increment(ctx context.Context, db *DB, key string, between func()) error {
	return db.Update(ctx, func(tx *bolt.Tx) error {
		var c record
		if err := GetJSON(tx, BucketContainers, "counter", &c); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if between != nil {
			between()
		}
		c.Count++
		if err := PutJSON(tx, BucketContainers, "counter", c); err != nil {
			return err
		}
		return PutJSON(tx, BucketImages, key, record{Name: key})
	})
}

// raceWindow is how long an updater held between its read and its write
// waits for a rival that should be locked out. A rival that is not locked
// out gets through in milliseconds, so a lost update is caught every time;
// a store that serialises its writers only costs the test this wait.
const raceWindow = 2 * time.Second

// TestNoLostUpdate holds one updater between its read and its write and
// starts a second one then: the second must wait for the first to commit,
// so that neither increment is lost. It is deterministic: a store (or an
// increment) whose read and write are not one transaction lets the second
// updater read the old value and finish inside the window, every time.
func TestNoLostUpdate(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	read, rivalDone := make(chan struct{}), make(chan struct{})
	var heldErr, rivalErr error
	held := make(chan struct{})
	go func() {
		defer close(held)
		heldErr = increment(ctx, db, "held", func() {
			close(read)
			select {
			case <-rivalDone:
				t.Error("the rival updater finished while the held one was between its read and its write")
			case <-time.After(raceWindow):
			}
		})
	}()
	<-read
	go func() {
		defer close(rivalDone)
		rivalErr = increment(ctx, db, "rival", nil)
	}()
	<-held
	<-rivalDone
	if heldErr != nil || rivalErr != nil {
		t.Fatalf("held: %v, rival: %v", heldErr, rivalErr)
	}
	var c record
	if err := db.View(ctx, func(tx *bolt.Tx) error { return GetJSON(tx, BucketContainers, "counter", &c) }); err != nil {
		t.Fatal(err)
	}
	if c.Count != 2 {
		t.Errorf("counter = %d after two increments: an update was lost", c.Count)
	}
}
