package main

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// featureSet is what `features` reports. It grows as the runtime does.
func featureSet() features.Features {
	return features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  []string{"ro", "rw", "nosuid", "noexec", "bind", "rbind"},
	}
}

// features prints featureSet as JSON.
func (r *rt) features() error {
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "    ")
	return enc.Encode(featureSet())
}
