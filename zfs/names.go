package zfs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/snapshot"
)

// User properties that hold a snapshot's record. ZFS user properties are
// named "module:property"; stockade owns the "stockade:" module.
const (
	// PropKey is the snapshot's key (or committed name).
	PropKey = "stockade:key"
	// PropKind is its kind: "active", "view" or "committed".
	PropKind = "stockade:kind"
	// PropParent is the key of its committed parent, unset for none.
	PropParent = "stockade:parent"
	// PropLabels holds its labels as a JSON object, unset for none.
	PropLabels = "stockade:labels"
	// PropCreated and PropUpdated are RFC 3339 times with nanoseconds.
	PropCreated = "stockade:created"
	PropUpdated = "stockade:updated"
	// PropContainer names the container whose root this is, copied from
	// the LabelContainer label.
	PropContainer = "stockade:container"
)

// Labels that mean something to the zfs snapshotter.
const (
	// LabelSize on Prepare sets the ZFS quota of the new dataset, for
	// example "10G" (see ParseSize). The quota limits the space the
	// snapshot itself uses (what it writes, plus its snapshots); the data
	// it shares with its parent layers is not counted.
	LabelSize = snapshot.LabelSize
	// LabelContainer marks an active snapshot or view as the root file
	// system of the named container. Check never treats such a snapshot as
	// abandoned, and its value is copied to the PropContainer property.
	LabelContainer = "stockade.io/container"
)

// The datasets under the parent dataset, one per kind of snapshot.
const (
	groupLayers = "layers"
	groupActive = "active"
	groupViews  = "views"
)

// layerSnap is the name of the ZFS snapshot that makes a layer
// committed: <parent>/layers/<name>@layer. Its user properties are the
// committed snapshot's record.
const layerSnap = "layer"

// maxNameLen is the longest dataset or snapshot name ZFS accepts
// (ZFS_MAX_DATASET_NAME_LEN, 256, less its NUL).
const maxNameLen = 255

// userProps are the user properties read for every lookup.
var userProps = []string{PropKey, PropKind, PropParent, PropLabels, PropCreated, PropUpdated, PropContainer}

// nativeProps are the ZFS properties read with them.
var nativeProps = []string{"type", "origin", "clones", "mounted", "mountpoint", "canmount", "creation", "logicalused"}

// maxComponent returns the longest dataset name component a key may use
// under the parent dataset: "<parent>/layers/<component>@layer" must fit
// in maxNameLen.
func maxComponent(parent string) int {
	return maxNameLen - len(parent) - len("/"+groupLayers+"/") - len("@"+layerSnap)
}

// component returns the dataset name component of key. Keys are valid
// ZFS name components as they are (snapshot.ValidKey allows only
// [A-Za-z0-9._:-]), so a key that fits is used unchanged, which keeps
// `zfs list` readable. A longer key is cut and given a hash of the whole
// key: "<prefix>--<16 hex digits>". The key itself is always in the
// PropKey property, and lookups compare it, so a short key that happens to
// spell another key's hashed form is seen as a name clash, never as the
// other snapshot.
func component(key string, max int) string {
	if len(key) <= max {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:8])
	return key[:max-len(h)-2] + "--" + h
}

// record is a snapshot as the user properties describe it.
type record struct {
	snapshot.Info
	// container is the PropContainer value.
	container string
}

// dsState is what `zfs get` reported for one dataset or snapshot: the
// user properties set on it locally (inherited values do not count) and
// the native properties.
type dsState struct {
	name   string
	user   map[string]string
	native map[string]string
}

// prop returns a native property, "" when unset or "-".
func (s *dsState) prop(name string) string {
	if s == nil {
		return ""
	}
	v := s.native[name]
	if v == "-" {
		return ""
	}
	return v
}

// hasStockadeProps reports whether any stockade user property is set
// locally.
func (s *dsState) hasStockadeProps() bool {
	for k := range s.user {
		if strings.HasPrefix(k, "stockade:") {
			return true
		}
	}
	return false
}

// parseGet parses the output of `zfs get -Hp -o name,property,value,source`.
// User properties count only when set locally or received: snapshots and
// children inherit user properties, and an inherited stockade:key must not
// make a dataset look like a snapshot of its own. Values may contain tabs;
// names, property names and sources do not.
func parseGet(out string) (map[string]*dsState, error) {
	states := make(map[string]*dsState)
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		first := strings.IndexByte(line, '\t')
		last := strings.LastIndexByte(line, '\t')
		if first < 0 || last <= first {
			return nil, fmt.Errorf("zfs get: cannot parse line %q", line)
		}
		second := strings.IndexByte(line[first+1:], '\t')
		if second < 0 || first+1+second >= last {
			return nil, fmt.Errorf("zfs get: cannot parse line %q", line)
		}
		second += first + 1
		name, prop, value, source := line[:first], line[first+1:second], line[second+1:last], line[last+1:]
		st := states[name]
		if st == nil {
			st = &dsState{name: name, user: map[string]string{}, native: map[string]string{}}
			states[name] = st
		}
		if strings.Contains(prop, ":") {
			if source == "local" || source == "received" {
				st.user[prop] = value
			}
			continue
		}
		st.native[prop] = value
	}
	return states, nil
}

// parseRecord reads the record in a dataset's or snapshot's user
// properties.
func parseRecord(st *dsState) (*record, error) {
	key := st.user[PropKey]
	if key == "" {
		return nil, fmt.Errorf("%s: no %s property", st.name, PropKey)
	}
	if err := snapshot.ValidKey(key); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", st.name, PropKey, err)
	}
	kind, err := snapshot.ParseKind(st.user[PropKind])
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", st.name, PropKind, err)
	}
	r := &record{Info: snapshot.Info{Name: key, Kind: kind, Parent: st.user[PropParent]}, container: st.user[PropContainer]}
	if r.Parent != "" {
		if err := snapshot.ValidKey(r.Parent); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", st.name, PropParent, err)
		}
	}
	if l := st.user[PropLabels]; l != "" {
		if err := json.Unmarshal([]byte(l), &r.Labels); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", st.name, PropLabels, err)
		}
	}
	creation := time.Time{}
	if sec, err := strconv.ParseInt(st.prop("creation"), 10, 64); err == nil {
		creation = time.Unix(sec, 0).UTC()
	}
	r.Created = parseTime(st.user[PropCreated], creation)
	r.Updated = parseTime(st.user[PropUpdated], r.Created)
	return r, nil
}

func parseTime(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	return fallback
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// recordProps returns the user properties that store r, in a fixed order.
// Unset values (no parent, no labels, no container) are left out.
func recordProps(r *record) ([][2]string, error) {
	props := [][2]string{{PropKey, r.Name}, {PropKind, r.Kind.String()}}
	if r.Parent != "" {
		props = append(props, [2]string{PropParent, r.Parent})
	}
	if len(r.Labels) > 0 {
		b, err := json.Marshal(r.Labels)
		if err != nil {
			return nil, fmt.Errorf("snapshot %q: encode labels: %w", r.Name, err)
		}
		// ZFS_MAXPROPLEN is 8192 bytes, NUL included.
		if len(b) >= 8192 {
			return nil, fmt.Errorf("snapshot %q: labels take %d bytes, over the 8191 bytes of a ZFS user property", r.Name, len(b))
		}
		props = append(props, [2]string{PropLabels, string(b)})
	}
	props = append(props, [2]string{PropCreated, formatTime(r.Created)}, [2]string{PropUpdated, formatTime(r.Updated)})
	if r.container != "" {
		props = append(props, [2]string{PropContainer, r.container})
	}
	return props, nil
}

// propArgs renders properties as "-o name=value" arguments.
func propArgs(props [][2]string) []string {
	args := make([]string, 0, 2*len(props))
	for _, p := range props {
		args = append(args, "-o", p[0]+"="+p[1])
	}
	return args
}

// applyOpts returns a copy of info with opts applied, labels copied first
// so that the caller's map is never changed.
func applyOpts(info snapshot.Info, opts []snapshot.Opt) snapshot.Info {
	if info.Labels != nil {
		info.Labels = maps.Clone(info.Labels)
	}
	for _, o := range opts {
		o(&info)
	}
	return info
}
