package e2e

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// TestUserLookupKept: the first create of an image and user reads the
// image's /etc/passwd and keeps what it found (metadata.BucketUserLookups);
// later creates of that image and user use what was kept, so they need
// not mount the root first: an edited entry shows in the container. The
// image's removal drops its entries.
func TestUserLookupKept(t *testing.T) {
	e, ref := ctrEnv(t)
	if r := e.must("run", "--rm", "-u", "tester", ref, "whoami"); !strings.HasPrefix(r.stdout, "uid=1234 gid=2345 ") {
		t.Fatalf("first run -u tester: %s", r)
	}
	db := filepath.Join(e.root, metadata.FileName)
	key, kept := userLookup(t, db, "tester")
	if key == nil {
		t.Fatal("no lookup of tester kept after the first run")
	}
	if kept.User.UID != 1234 || kept.User.GID != 2345 || kept.Home != "/home/tester" {
		t.Errorf("kept lookup %+v", kept)
	}
	// Later runs, create and start, and run -d read what was kept.
	kept.User.UID, kept.Home = 4321, "/kept"
	editUserLookup(t, db, key, kept)
	if r := e.must("run", "--rm", "-u", "tester", ref, "whoami"); !strings.HasPrefix(r.stdout, "uid=4321 gid=2345 ") {
		t.Errorf("run --rm with the kept lookup edited: %s", r)
	}
	if r := e.must("run", "--rm", "-u", "tester", ref, "env", "HOME"); r.stdout != "HOME=/kept\n" {
		t.Errorf("HOME with the kept lookup edited: %s", r)
	}
	id := strings.TrimSpace(e.must("create", "-u", "tester", ref, "whoami").stdout)
	if r := e.must("start", "-a", id); !strings.HasPrefix(r.stdout, "uid=4321 ") {
		t.Errorf("create, start -a with the kept lookup edited: %s", r)
	}
	e.must("rm", id)
	// Another user of the same image is looked up on its own.
	if r := e.must("run", "--rm", "-u", "nobody", ref, "whoami"); !strings.HasPrefix(r.stdout, "uid=65534 gid=65534 ") {
		t.Errorf("run -u nobody: %s", r)
	}
	if k, _ := userLookup(t, db, "nobody"); k == nil {
		t.Error("no lookup of nobody kept")
	}
	// A user the image does not have is an error every time, and kept
	// nowhere.
	for range 2 {
		if r := e.run("run", "--rm", "-u", "ghost", ref, "whoami"); r.code != 125 || !strings.Contains(r.stderr, `"ghost"`) {
			t.Errorf("run -u ghost: %s", r)
		}
	}
	if k, _ := userLookup(t, db, "ghost"); k != nil {
		t.Error("a failed lookup was kept")
	}
	e.must("rmi", ref)
	e.must("system", "prune", "-f")
	for _, u := range []string{"tester", "nobody"} {
		if k, _ := userLookup(t, db, u); k != nil {
			t.Errorf("the lookup of %s outlived the image's layers", u)
		}
	}
}

// userLookupEntry is bundle.UserInfo as the store holds it.
type userLookupEntry struct {
	User struct {
		UID            uint32   `json:"uid"`
		GID            uint32   `json:"gid"`
		AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	} `json:"user"`
	Home string `json:"home,omitempty"`
}

// userLookup returns the key and entry of the lookup of spec kept in the
// metadata store at db (any image), or a nil key.
func userLookup(t *testing.T, db, spec string) ([]byte, userLookupEntry) {
	t.Helper()
	var key []byte
	var entry userLookupEntry
	viewStore(t, db, func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(metadata.BucketUserLookups))
		if bk == nil {
			t.Fatalf("no bucket %s", metadata.BucketUserLookups)
		}
		return bk.ForEach(func(k, v []byte) error {
			if bytes.HasSuffix(k, append([]byte{0}, spec...)) {
				key = bytes.Clone(k)
				return json.Unmarshal(v, &entry)
			}
			return nil
		})
	})
	return key, entry
}

// editUserLookup replaces the entry at key in the metadata store at db.
func editUserLookup(t *testing.T, db string, key []byte, entry userLookupEntry) {
	t.Helper()
	b, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(metadata.BucketUserLookups)).Put(key, data)
	}); err != nil {
		t.Fatal(err)
	}
}
