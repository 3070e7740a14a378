package engine

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/metadata"
)

// userLookups holds what user specs resolved to in one image's root
// (metadata.BucketUserLookups), by spec. An image's layers never change,
// so neither does what /etc/passwd and /etc/group in them say: create
// reads them once per image and user, through a mount of the new root,
// and later creates of that image need not mount the root first.
type userLookups map[string]bundle.UserInfo

// readUserLookups reads the lookups kept for the root whose top layer is
// chainID. One that does not decode is left out (looked up again).
func readUserLookups(tx *bolt.Tx, chainID string) userLookups {
	var out userLookups
	for spec, v := range metadata.UserLookups(tx, chainID) {
		var u bundle.UserInfo
		if json.Unmarshal(v, &u) != nil {
			continue
		}
		if out == nil {
			out = userLookups{}
		}
		out[spec] = u
	}
	return out
}

// get returns what spec resolved to, or nil when it was not looked up.
func (l userLookups) get(spec string) *bundle.UserInfo {
	u, ok := l[spec]
	if !ok {
		return nil
	}
	return &u
}

// putUserLookup keeps what spec resolved to in the root whose top layer
// is chainID.
func putUserLookup(tx *bolt.Tx, chainID, spec string, u bundle.UserInfo) error {
	return metadata.PutJSON(tx, metadata.BucketUserLookups, string(metadata.UserLookupKey(chainID, spec)), u)
}
