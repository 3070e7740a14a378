package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// BucketCache is the metadata bucket of the build cache: one record per
// step key, naming the intermediate image the step made.
const BucketCache = "buildcache"

// cacheRecord is the value of one cache key.
type cacheRecord struct {
	Image   digest.Digest `json:"image"`
	Created time.Time     `json:"created"`
}

// cacheKey is what decides whether a step can be reused: the parent
// image, the instruction as expanded, the build arguments in scope and,
// for COPY and ADD, the digest of the files taken.
type cacheKey struct {
	Parent  digest.Digest     `json:"parent"`
	Code    string            `json:"code"`
	Command json.RawMessage   `json:"command"`
	Args    map[string]string `json:"args,omitempty"`
	Files   string            `json:"files,omitempty"`
	Extra   string            `json:"extra,omitempty"`
}

// String is the key's hex digest.
func (k cacheKey) String() string {
	// encoding/json sorts map keys, so equal keys digest equally.
	b, _ := json.Marshal(k)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cache is the build cache over the metadata store. Every read and write
// is one bbolt transaction, so builds running at once see each other's
// steps whole or not at all.
type cache struct {
	db *metadata.DB
}

// get returns the image a step of key made, if recorded.
func (c *cache) get(ctx context.Context, key string) (digest.Digest, bool, error) {
	var rec cacheRecord
	found := false
	err := c.db.View(ctx, func(tx *bolt.Tx) error {
		err := metadata.GetJSON(tx, BucketCache, key, &rec)
		if errors.Is(err, metadata.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("build cache: %w", err)
	}
	return rec.Image, found && rec.Image != "", nil
}

// put records the image a step made.
func (c *cache) put(ctx context.Context, key string, img digest.Digest) error {
	err := c.db.Update(ctx, func(tx *bolt.Tx) error {
		return metadata.PutJSON(tx, BucketCache, key, cacheRecord{Image: img, Created: time.Now().UTC()})
	})
	if err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return nil
}

// forget drops keys whose image is gone.
func (c *cache) forget(ctx context.Context, key string) {
	c.db.Update(ctx, func(tx *bolt.Tx) error {
		return metadata.Delete(tx, BucketCache, key)
	})
}

// sortedEnv lists a map as sorted KEY=VALUE strings.
func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
