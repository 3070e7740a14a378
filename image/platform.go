package image

import (
	"fmt"
	"runtime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform parses "os/arch[/variant]" (e.g. "freebsd/arm64",
// "linux/arm/v7"). An empty string means the host's platform.
// Architecture aliases (x86_64, aarch64) are normalised.
func ParsePlatform(s string) (ocispec.Platform, error) {
	if strings.TrimSpace(s) == "" {
		return HostPlatform(), nil
	}
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		if parts[2] == "" {
			return ocispec.Platform{}, fmt.Errorf("invalid platform %q: empty variant", s)
		}
		p.Variant = parts[2]
	}
	return NormalizePlatform(p), nil
}

// HostPlatform is the platform stockade runs on.
func HostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = "v7"
	}
	return NormalizePlatform(p)
}

// NormalizePlatform lower-cases the platform and maps architecture aliases
// to Go's names. The arm64 variant "v8" is the default and is dropped.
func NormalizePlatform(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	p.Architecture = strings.ToLower(p.Architecture)
	p.Variant = strings.ToLower(p.Variant)
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	case "i386", "i686":
		p.Architecture = "386"
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	}
	if p.Architecture == "arm64" && p.Variant == "v8" {
		p.Variant = ""
	}
	if p.OS == "macos" {
		p.OS = "darwin"
	}
	return p
}

// FormatPlatform renders a platform as os/arch[/variant].
func FormatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// platformRank says how well an image's platform serves want: 0 means not
// at all; higher is better. An exact variant beats a compatible older one
// (an arm/v7 host also runs v6 and v5 images); when want has no variant,
// any variant matches, the plain one best.
func platformRank(want, have ocispec.Platform) int {
	want, have = NormalizePlatform(want), NormalizePlatform(have)
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return 0
	}
	if want.Variant == have.Variant {
		return 100
	}
	if want.Variant == "" {
		if have.Variant == "" {
			return 100
		}
		return 50
	}
	if want.Architecture == "arm" {
		order := []string{"v8", "v7", "v6", "v5"}
		wi, hi := indexOf(order, want.Variant), indexOf(order, have.Variant)
		if have.Variant == "" {
			return 10
		}
		if wi >= 0 && hi > wi {
			return 90 - (hi - wi)
		}
		return 0
	}
	if have.Variant == "" {
		// e.g. want amd64/v3: a plain amd64 image runs everywhere.
		return 80
	}
	return 0
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// selectManifest picks the entry of an index that best serves want. Entries
// without a platform (attestations and the like) and with os "unknown" are
// skipped.
func selectManifest(idx ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	best, bestRank := -1, 0
	var seen []string
	for i, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" {
			continue
		}
		seen = append(seen, FormatPlatform(NormalizePlatform(*m.Platform)))
		if r := platformRank(want, *m.Platform); r > bestRank {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return ocispec.Descriptor{}, fmt.Errorf("no image for platform %s (the index has: %s)", FormatPlatform(want), strings.Join(seen, ", "))
	}
	return idx.Manifests[best], nil
}
