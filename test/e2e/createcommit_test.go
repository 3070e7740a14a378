package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// TestCreateCommits: a create commits the metadata store once when nothing
// is added to the record after the name's reservation (the image's user
// was looked up before, no hook changed an extension): the command, stop
// signal, stop timeout and health check go with the reservation. A create
// that looks a user up, or whose hooks add to the record (a volume), commits
// twice; every create records the same either way.
func TestCreateCommits(t *testing.T) {
	e, ref := ctrEnv(t)
	db := filepath.Join(e.root, metadata.FileName)
	create := func(flags []string, cmd ...string) (string, uint64) {
		t.Helper()
		before := storeTxID(t, db)
		args := append(append(append([]string{"create", "--network", "none"}, flags...), ref), cmd...)
		id := strings.TrimSpace(e.must(args...).stdout)
		return id, storeTxID(t, db) - before
	}
	// The first create of the image as root looks root up and keeps it.
	if _, n := create([]string{"--name", "first"}); n != 2 {
		t.Errorf("first create: %d commits of the metadata store, want 2 (the reservation, the kept user)", n)
	}
	flags := []string{"--name", "second", "--stop-signal", "SIGINT", "--stop-timeout", "7",
		"--health-cmd", "true", "--health-interval", "30s", "--entrypoint", "/bin/ctrprog"}
	id, n := create(flags, "echo", "one")
	if n != 1 {
		t.Errorf("create of a known user, no hook's request: %d commits, want 1", n)
	}
	var rec struct {
		Command     []string `json:"command"`
		StopSignal  string   `json:"stopSignal"`
		StopTimeout *int     `json:"stopTimeout"`
		Healthcheck *struct {
			Test []string `json:"test"`
		} `json:"healthcheck"`
	}
	storeRecord(t, db, id, &rec)
	if !slices.Equal(rec.Command, []string{"/bin/ctrprog", "echo", "one"}) || rec.StopSignal != "SIGINT" || rec.StopTimeout == nil || *rec.StopTimeout != 7 ||
		rec.Healthcheck == nil || !slices.Equal(rec.Healthcheck.Test, []string{"CMD-SHELL", "true"}) {
		t.Errorf("record of the single-commit create: %+v", rec)
	}
	if r := e.must("start", "-a", "second"); r.stdout != "one\n" {
		t.Errorf("start -a second: %s", r)
	}
	// A volume's hook adds its mount to the record: a second commit.
	id, n = create([]string{"--name", "third", "-v", "commitvol:/data"})
	if n < 2 {
		t.Errorf("create with a volume: %d commits, want the reservation and the record", n)
	}
	var withVol struct {
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	storeRecord(t, db, id, &withVol)
	if !strings.Contains(string(withVol.Extensions["volume"]), "commitvol") {
		t.Errorf("the volume's extension was not recorded: %s", withVol.Extensions["volume"])
	}
	// A command that cannot be reserves nothing.
	before := storeTxID(t, db)
	if r := e.run("create", "--network", "none", "--name", "none", "--entrypoint", "", ref); r.code == 0 || !strings.Contains(r.stderr, "no command") {
		t.Errorf("create with no command: %s", r)
	}
	if n := storeTxID(t, db) - before; n != 0 {
		t.Errorf("a create with no command committed %d times", n)
	}
	if r := e.run("inspect", "none"); r.code == 0 {
		t.Errorf("a create with no command left a container: %s", r)
	}
}

// viewStore runs fn in a read transaction of the bbolt file at db (the
// metadata store of an env), failing the test on an error.
func viewStore(t *testing.T, db string, fn func(*bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(db, 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.View(fn); err != nil {
		t.Fatalf("%s: %v", db, err)
	}
}

// storeTxID returns the id of the last transaction committed to the bbolt
// file at db.
func storeTxID(t *testing.T, db string) uint64 {
	t.Helper()
	var id uint64
	viewStore(t, db, func(tx *bolt.Tx) error { id = uint64(tx.ID()); return nil })
	return id
}

// storeRecord decodes the container record id from the metadata store at db.
func storeRecord(t *testing.T, db, id string, v any) {
	t.Helper()
	viewStore(t, db, func(tx *bolt.Tx) error { return metadata.GetJSON(tx, metadata.BucketContainers, id, v) })
}
