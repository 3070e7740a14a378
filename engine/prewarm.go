package engine

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// PrewarmCreate builds what encoding/json keeps per type for what a create
// writes: the container record and the runtime spec (config.json). The
// first encoding of each in a process builds its encoders, 1-1.5 ms for
// the spec's types alone against 0.2-0.3 ms for the encoding itself,
// which a run's command line would pay on its way to the runtime's start.
// It is meant to run on a goroutine of its own while the command line is
// busy with other things (its monitor's start, the store's syncs), and
// writes nothing.
func PrewarmCreate() {
	json.Marshal(&Container{})
	json.Marshal(&specs.Spec{})
}

// PrewarmMonitor builds what encoding/json keeps per type for a monitor's
// first reads and writes: the start message with the container's record
// (MonitorStart), and the record's encoding when the container runs. A
// pending monitor runs it on a goroutine of its own while it waits for
// the command line's message.
func PrewarmMonitor() {
	data, err := json.Marshal(&MonitorStart{Record: &Container{}})
	if err == nil {
		var start MonitorStart
		json.Unmarshal(data, &start)
	}
}
