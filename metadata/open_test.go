package metadata

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestOpenCurrentSchemaWritesNothing: opening a store whose schema is
// current only reads it (no write transaction, no fdatasync): the file's
// bytes stay the same. A store one migration behind is still migrated.
func TestOpenCurrentSchemaWritesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	ran := 0
	migs := []func(*bolt.Tx) error{func(tx *bolt.Tx) error { ran++; _, err := tx.CreateBucketIfNotExists([]byte("a")); return err }}
	if _, err := OpenFile(ctx, path, "test store", migs); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(ctx, path, "test store", migs); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("opening a current store changed its file")
	}
	if ran != 1 {
		t.Errorf("migration ran %d times, want 1", ran)
	}

	migs = append(migs, func(tx *bolt.Tx) error { ran++; _, err := tx.CreateBucketIfNotExists([]byte("b")); return err })
	db, err := OpenFile(ctx, path, "test store", migs)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.Schema(ctx); err != nil || v != 2 || ran != 2 {
		t.Errorf("after a new migration: schema %d (%v), migrations run %d; want 2 and 2", v, err, ran)
	}
}

// TestNamesIndexMigration: a store of schema 3 with container records
// gets the names index filled from them when a newer stockade opens it.
func TestNamesIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	old, err := OpenFile(ctx, path, "metadata store", migrations[:3])
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{"id1": `{"id":"id1","name":"web"}`, "id2": `{"id":"id2","name":"db"}`, "id3": `{"id":"id3"}`}
	putAll(t, old, BucketContainers, recs)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := db.View(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketContainerNames)).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["web"] != "id1" || got["db"] != "id2" {
		t.Errorf("names index %v, want web=id1 db=id2", got)
	}
}

// TestLeaseIndexMigration: a store of schema 4 with leases gets the
// lease indexes filled from them when a newer stockade opens it: each
// container's lease keys and the holders of each published host port. A
// lease that does not decode is left out; there are no marks yet.
func TestLeaseIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	old, err := OpenFile(ctx, path, "metadata store", migrations[:4])
	if err != nil {
		t.Fatal(err)
	}
	leases := map[string]string{
		"n1/0a": `{"networkID":"n1","addr":"10.0.0.2","containerID":"c1","containerName":"web","ports":[` +
			`{"hostIP":"127.0.0.1","hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":53,"containerPort":53,"protocol":"udp"}]}`,
		"n1/0b": `{"networkID":"n1","addr":"fd00::2","containerID":"c1","containerName":"web"}`,
		"n2/0a": `{"networkID":"n2","addr":"10.0.1.2","containerID":"c2","containerName":"api","ports":[` +
			`{"hostIP":"127.0.0.2","hostPort":8080,"containerPort":80,"protocol":"tcp"}]}`,
		"n2/0b": `{not json`,
	}
	putAll(t, old, BucketLeases, leases)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	if err := db.View(ctx, func(tx *bolt.Tx) error {
		for _, name := range []string{BucketLeasePorts, BucketContainerLeases, BucketLeaseMarks, BucketLeaseFree} {
			b := tx.Bucket([]byte(name))
			if b == nil {
				return fmt.Errorf("no bucket %s", name)
			}
			got[name] = map[string]string{}
			if err := b.ForEach(func(k, v []byte) error {
				got[name][string(k)] = string(v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		BucketLeasePorts: {
			"tcp/08080": `[{"hostIP":"127.0.0.1","containerID":"c1","containerName":"web","lease":"n1/0a"},` +
				`{"hostIP":"127.0.0.2","containerID":"c2","containerName":"api","lease":"n2/0a"}]`,
			"udp/00053": `[{"containerID":"c1","containerName":"web","lease":"n1/0a"}]`,
		},
		BucketContainerLeases: {"c1/n1/0a": "", "c1/n1/0b": "", "c2/n2/0a": ""},
		BucketLeaseMarks:      {},
		BucketLeaseFree:       {},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("indexes after the migration:\n%v\nwant\n%v", got, want)
	}
}

// putAll writes values as they are (records of an older schema) into
// bucket, in one transaction.
func putAll(t *testing.T, db *DB, bucket string, values map[string]string) {
	t.Helper()
	if err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		for k, v := range values {
			if err := tx.Bucket([]byte(bucket)).Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestUserLookupMigration: a store of schema 5 gets the empty user-lookup
// bucket and keeps its records; a chain id's lookups are read and deleted
// without those of another chain id its name is the start of.
func TestUserLookupMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	old, err := OpenFile(ctx, path, "metadata store", migrations[:5])
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, old, BucketContainers, map[string]string{"c1": `{"id":"c1"}`})
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.Schema(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("schema %d, %v; want %d", v, err, SchemaVersion)
	}
	if err := db.View(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(BucketUserLookups))
		if b == nil {
			return fmt.Errorf("no bucket %s", BucketUserLookups)
		}
		if k, _ := b.Cursor().First(); k != nil {
			return fmt.Errorf("bucket %s not empty: %q", BucketUserLookups, k)
		}
		if v := tx.Bucket([]byte(BucketContainers)).Get([]byte("c1")); string(v) != `{"id":"c1"}` {
			return fmt.Errorf("record c1 = %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A chain id's keys are read and deleted alone, not those of a chain
	// id it is the start of.
	a, b := "sha256:aa", "sha256:aab"
	if err := db.Update(ctx, func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(BucketUserLookups))
		for _, k := range [][]byte{UserLookupKey(a, "tester"), UserLookupKey(a, ""), UserLookupKey(b, "tester")} {
			if err := bk.Put(k, []byte(`{"k":"`+string(bytes.ReplaceAll(k, []byte{0}, []byte("|")))+`"}`)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lookups := func(chain string) map[string]string {
		out := map[string]string{}
		db.View(ctx, func(tx *bolt.Tx) error {
			for spec, v := range UserLookups(tx, chain) {
				out[spec] = string(v)
			}
			return nil
		})
		return out
	}
	if got := lookups(a); len(got) != 2 || got["tester"] != `{"k":"sha256:aa|tester"}` || got[""] != `{"k":"sha256:aa|"}` {
		t.Errorf("UserLookups(%s) = %v", a, got)
	}
	if got := lookups(b); len(got) != 1 || got["tester"] != `{"k":"sha256:aab|tester"}` {
		t.Errorf("UserLookups(%s) = %v", b, got)
	}
	if err := db.Update(ctx, func(tx *bolt.Tx) error { return DeleteUserLookups(tx, a) }); err != nil {
		t.Fatal(err)
	}
	if got := lookups(a); len(got) != 0 {
		t.Errorf("after DeleteUserLookups(%s): %v", a, got)
	}
	if got := lookups(b); len(got) != 1 {
		t.Errorf("DeleteUserLookups(%s) took %s's keys: %v left", a, b, got)
	}
}
