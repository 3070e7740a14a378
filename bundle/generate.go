package bundle

import (
	"fmt"
	"maps"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LinuxSpecVersion is the ociVersion of a Linux container's spec: the
// oldest runtime-spec version that has every field stockade writes there.
// crun before 1.9 (Debian 12 ships 1.8.1) checks the version by prefix and
// refuses 1.2 and later ("unknown version specified"); runc takes any. A
// FreeBSD spec says specs.Version, since its freebsd section is new in 1.3.
const LinuxSpecVersion = "1.1.0"

// Default PATH values, for images that do not set one.
const (
	// DefaultLinuxPath is docker's and runc's default PATH.
	DefaultLinuxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// DefaultFreeBSDPath is FreeBSD's login.conf default PATH.
	DefaultFreeBSDPath = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"
)

// plan holds the options once checked and parsed.
type plan struct {
	goos, imageOS string
	network       string
	args          []string
	cwd           string
	env           []string // -e values, checked
	mounts        []userMount
	memory        int64 // bytes; 0: no limit
	nanoCPUs      int64 // 0: no limit
	pids          int64 // 0: not set; -1: unlimited
	annotations   map[string]string
	security      *securityPlan
}

// userMount is a -v or --tmpfs mount before it is given its OS's shape.
type userMount struct {
	volume *Volume
	tmpfs  *Tmpfs
	raw    string // as typed, for errors
}

func (m userMount) destination() string {
	if m.volume != nil {
		return m.volume.Destination
	}
	return m.tmpfs.Destination
}

// Generate returns the runtime-spec configuration of a container of the
// image whose config is img, run with opts. rootfsDir is the host path of
// the container's root file system, read (safely) only for the user's
// /etc/passwd and /etc/group; "" means there are no such files, and then
// only numeric users resolve. See the package documentation for the
// defaults of each OS. Errors about an option are *OptionError values;
// an empty command is ErrNoCommand.
func Generate(img ocispec.ImageConfig, rootfsDir string, opts Options) (*specs.Spec, error) {
	spec, _, err := GenerateUser(img, rootfsDir, opts)
	return spec, err
}

// UserSpec is the user spec Generate resolves for img run with opts: -u,
// or the image's USER.
func UserSpec(img ocispec.ImageConfig, opts Options) string {
	if opts.User != "" {
		return opts.User
	}
	return img.User
}

// Command returns the process arguments Generate gives a container of
// img run with opts (spec.Process.Args): docker's Entrypoint and Cmd
// rules, behind --init's binary when opts.Init is set. It reads no file,
// so a caller can record the command before the root exists. An empty
// command is ErrNoCommand.
func Command(img ocispec.ImageConfig, opts Options) ([]string, error) {
	args, err := processArgs(img, opts)
	if err != nil || opts.Init == "" {
		return args, err
	}
	return append([]string{InitPath, "--"}, args...), nil
}

// GenerateUser is Generate, and also returns what the user spec
// (UserSpec) resolved to: opts.ResolvedUser when that is set, else what
// the root's /etc/passwd and /etc/group said. The same image root gives
// the same answer for the same spec, so a caller may keep it and pass it
// back as opts.ResolvedUser.
func GenerateUser(img ocispec.ImageConfig, rootfsDir string, opts Options) (*specs.Spec, UserInfo, error) {
	p, err := check(img, opts)
	if err != nil {
		return nil, UserInfo{}, err
	}

	var u resolvedUser
	if opts.ResolvedUser != nil {
		u = resolvedUser{user: opts.ResolvedUser.User, home: opts.ResolvedUser.Home}
		u.user.AdditionalGids = slices.Clone(u.user.AdditionalGids)
	} else {
		rfs, err := openRootFS(rootfsDir)
		if err != nil {
			return nil, UserInfo{}, err
		}
		u, err = resolveUser(rfs, UserSpec(img, opts))
		rfs.Close()
		if err != nil {
			return nil, UserInfo{}, err
		}
	}
	info := UserInfo{User: u.user, Home: u.home}
	info.User.AdditionalGids = slices.Clone(u.user.AdditionalGids)

	env, err := buildEnv(p, img.Env, opts, u.home)
	if err != nil {
		return nil, UserInfo{}, err
	}

	rootPath := opts.Rootfs
	if rootPath == "" {
		rootPath = rootfsDir
	}
	if rootPath == "" {
		rootPath = "rootfs"
	}

	version := specs.Version
	if p.goos == "linux" {
		version = LinuxSpecVersion
	}
	spec := &specs.Spec{
		Version: version,
		Root:    &specs.Root{Path: rootPath, Readonly: opts.ReadOnly},
		Process: &specs.Process{
			Terminal: opts.Terminal,
			User:     u.user,
			Args:     p.args,
			Env:      env,
			Cwd:      p.cwd,
		},
		Hostname: opts.Hostname,
	}
	if len(p.annotations) > 0 {
		spec.Annotations = p.annotations
	}

	var defaults []specs.Mount
	switch p.goos {
	case "linux":
		defaults = linuxMounts()
		linuxSpec(spec, p)
	case "freebsd":
		defaults = freebsdMounts(p.imageOS)
		freebsdSpec(spec, p)
	}
	spec.Mounts = mergeMounts(defaults, p.mounts, p.goos)
	applyInit(spec, opts.Init, p.goos)
	if err := applySecurity(spec, p); err != nil {
		return nil, UserInfo{}, err
	}
	return spec, info, nil
}

// check validates and parses every option that needs no file access.
func check(img ocispec.ImageConfig, opts Options) (*plan, error) {
	p := &plan{goos: opts.GOOS, imageOS: opts.ImageOS}
	if p.goos == "" {
		p.goos = runtime.GOOS
	}
	if p.goos != "linux" && p.goos != "freebsd" {
		return nil, fmt.Errorf("target os %q is not supported (want linux or freebsd)", p.goos)
	}
	if p.imageOS == "" {
		p.imageOS = p.goos
	}
	switch {
	case p.imageOS != "linux" && p.imageOS != "freebsd":
		return nil, fmt.Errorf("image os %q is not supported (want linux or freebsd)", p.imageOS)
	case p.imageOS == "freebsd" && p.goos != "freebsd":
		return nil, fmt.Errorf("image os %q cannot run on %s", p.imageOS, p.goos)
	}

	var err error
	if p.args, err = processArgs(img, opts); err != nil {
		return nil, err
	}
	if p.cwd, err = workdir(img, opts); err != nil {
		return nil, err
	}
	if err := checkHostname(opts.Hostname); err != nil {
		return nil, err
	}
	for _, e := range opts.Env {
		if err := checkEnv(e); err != nil {
			return nil, err
		}
	}
	p.env = opts.Env

	switch opts.Network {
	case "":
		p.network = NetworkDefault
	case NetworkHost, NetworkNone:
		p.network = opts.Network
	default:
		return nil, optErr("--network", opts.Network, "not supported (want %s or %s)", NetworkHost, NetworkNone)
	}

	seen := map[string]string{}
	add := func(m userMount, option string) error {
		d := m.destination()
		if prev, dup := seen[d]; dup {
			return optErr(option, m.raw, "duplicate mount point %q (also in %s)", d, prev)
		}
		seen[d] = fmt.Sprintf("%s %q", option, m.raw)
		p.mounts = append(p.mounts, m)
		return nil
	}
	for _, s := range opts.Volumes {
		v, err := ParseVolume(s)
		if err != nil {
			return nil, err
		}
		if err := add(userMount{volume: &v, raw: s}, "-v"); err != nil {
			return nil, err
		}
	}
	for _, s := range opts.Tmpfs {
		t, err := ParseTmpfs(s)
		if err != nil {
			return nil, err
		}
		if err := add(userMount{tmpfs: &t, raw: s}, "--tmpfs"); err != nil {
			return nil, err
		}
	}

	if opts.Memory != "" {
		if p.memory, err = ParseMemory(opts.Memory); err != nil {
			return nil, err
		}
		if p.memory < MinMemory {
			return nil, optErr("--memory", opts.Memory, "below the minimum of 6MiB")
		}
	}
	if opts.CPUs != "" {
		if p.nanoCPUs, err = ParseCPUs(opts.CPUs); err != nil {
			return nil, err
		}
	}
	if opts.PidsLimit < -1 {
		return nil, optErr("--pids-limit", strconv.FormatInt(opts.PidsLimit, 10), "must be positive, or -1 for no limit")
	}
	p.pids = opts.PidsLimit

	if p.security, err = checkSecurity(p.goos, opts.Security); err != nil {
		return nil, err
	}
	if p.annotations, err = annotations(p, opts); err != nil {
		return nil, err
	}
	return p, nil
}

// processArgs applies docker's Entrypoint/Cmd rules.
func processArgs(img ocispec.ImageConfig, opts Options) ([]string, error) {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	if opts.EntrypointSet {
		entrypoint, cmd = opts.Entrypoint, nil
	}
	if len(opts.Args) > 0 {
		cmd = opts.Args
	}
	args := make([]string, 0, len(entrypoint)+len(cmd))
	args = append(append(args, entrypoint...), cmd...)
	if len(args) == 0 || args[0] == "" {
		return nil, ErrNoCommand
	}
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, optErr("command", a, "argument contains a NUL byte")
		}
	}
	return args, nil
}

// workdir returns the process's cwd: -w, the image's WorkingDir, or "/".
func workdir(img ocispec.ImageConfig, opts Options) (string, error) {
	option, dir := "-w", opts.Workdir
	if dir == "" {
		option, dir = "image working directory", img.WorkingDir
	}
	if dir == "" {
		return "/", nil
	}
	if strings.IndexByte(dir, 0) >= 0 {
		return "", optErr(option, dir, "contains a NUL byte")
	}
	if !path.IsAbs(dir) {
		return "", optErr(option, dir, "must be absolute")
	}
	return path.Clean(dir), nil
}

// checkHostname accepts RFC 1123 host names of at most 64 bytes (Linux's
// limit; FreeBSD's is larger).
func checkHostname(h string) error {
	if h == "" {
		return nil
	}
	fail := func(why string) error { return optErr("--hostname", h, "%s", why) }
	if len(h) > 64 {
		return fail("longer than 64 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return fail("empty label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fail("a label starts or ends with '-'")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return fail("only letters, digits, '-' and '.' are allowed")
			}
		}
	}
	return nil
}

// checkEnv checks one -e value.
func checkEnv(e string) error {
	key, _, ok := strings.Cut(e, "=")
	switch {
	case strings.IndexByte(e, 0) >= 0:
		return optErr("-e", e, "contains a NUL byte")
	case !ok:
		return optErr("-e", e, "want KEY=VALUE (a bare KEY must be resolved by the caller)")
	case key == "":
		return optErr("-e", e, "empty variable name")
	case strings.ContainsAny(key, " \t\n"):
		return optErr("-e", e, "variable name contains white space")
	}
	return nil
}

// envList is an environment that replaces entries by key in place.
type envList struct {
	entries []string
	index   map[string]int
}

func envKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

// set replaces the entry of e's key, or appends e. An entry with no "="
// unsets its key, as in docker.
func (l *envList) set(e string) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	k := envKey(e)
	i, exists := l.index[k]
	if !strings.Contains(e, "=") {
		if exists {
			l.entries = slices.Delete(l.entries, i, i+1)
			l.reindex()
		}
		return
	}
	if exists {
		l.entries[i] = e
		return
	}
	l.index[k] = len(l.entries)
	l.entries = append(l.entries, e)
}

func (l *envList) reindex() {
	clear(l.index)
	for i, e := range l.entries {
		l.index[envKey(e)] = i
	}
}

func (l *envList) has(k string) bool { _, ok := l.index[k]; return ok }

// buildEnv assembles the process environment, in docker's order.
func buildEnv(p *plan, imageEnv []string, opts Options, home string) ([]string, error) {
	var l envList
	if p.imageOS == "freebsd" {
		l.set("PATH=" + DefaultFreeBSDPath)
	} else {
		l.set("PATH=" + DefaultLinuxPath)
	}
	if opts.Hostname != "" {
		l.set("HOSTNAME=" + opts.Hostname)
	}
	if opts.Terminal {
		l.set("TERM=xterm")
	}
	for _, e := range imageEnv {
		if strings.IndexByte(e, 0) >= 0 {
			return nil, optErr("image env", e, "contains a NUL byte")
		}
		if envKey(e) == "" {
			continue // "=x" can only confuse the program; docker keeps it, we do not
		}
		l.set(e)
	}
	for _, e := range p.env {
		l.set(e)
	}
	if !l.has("HOME") {
		l.set("HOME=" + home)
	}
	return l.entries, nil
}

// annotations copies the caller's annotations and, on FreeBSD, adds the
// rctl ones.
func annotations(p *plan, opts Options) (map[string]string, error) {
	out := make(map[string]string, len(opts.Annotations)+3)
	for _, k := range slices.Sorted(maps.Keys(opts.Annotations)) { // the same error every time
		v := opts.Annotations[k]
		if k == "" {
			return nil, optErr("--annotation", "="+v, "empty key")
		}
		if p.goos == "freebsd" && strings.HasPrefix(k, AnnotationRctlPrefix) {
			if err := checkRctl(k, v); err != nil {
				return nil, err
			}
		}
		out[k] = v
	}
	if p.goos != "freebsd" {
		return out, nil
	}
	set := func(key, option, value string, amount int64) error {
		if _, ok := out[key]; ok {
			return optErr(option, value, "conflicts with the annotation %s", key)
		}
		out[key] = "deny=" + strconv.FormatInt(amount, 10)
		return nil
	}
	if p.memory > 0 {
		if err := set(AnnotationRctlMemoryUse, "--memory", opts.Memory, p.memory); err != nil {
			return nil, err
		}
	}
	if p.nanoCPUs > 0 {
		per := NanoCPUsPerCPU / 100 // nano-CPUs per percent
		pcpu := (p.nanoCPUs + per - 1) / per
		if err := set(AnnotationRctlPcpu, "--cpus", opts.CPUs, pcpu); err != nil {
			return nil, err
		}
	}
	if p.pids > 0 {
		if err := set(AnnotationRctlMaxProc, "--pids-limit", strconv.FormatInt(p.pids, 10), p.pids); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkRctl checks an org.freebsd.rctl.RESOURCE annotation: RESOURCE is a
// lower-case word and the value ACTION=AMOUNT, as rctl(8) rules end.
func checkRctl(key, value string) error {
	word := func(s string) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !(s[i] >= 'a' && s[i] <= 'z') {
				return false
			}
		}
		return true
	}
	resource := strings.TrimPrefix(key, AnnotationRctlPrefix)
	if !word(resource) {
		return optErr("--annotation", key+"="+value, "%s must be followed by an rctl resource name", AnnotationRctlPrefix)
	}
	action, amount, ok := strings.Cut(value, "=")
	if !ok || !word(action) || amount == "" {
		return optErr("--annotation", key+"="+value, "want ACTION=AMOUNT, e.g. deny=512m")
	}
	for i := 0; i < len(amount); i++ {
		c := amount[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/') {
			return optErr("--annotation", key+"="+value, "bad amount %q", amount)
		}
	}
	return nil
}

// mergeMounts returns the default mounts, less those a user mount
// replaces, followed by the user mounts, parents before children.
func mergeMounts(defaults []specs.Mount, users []userMount, goos string) []specs.Mount {
	replaced := map[string]bool{}
	for _, m := range users {
		replaced[m.destination()] = true
	}
	out := make([]specs.Mount, 0, len(defaults)+len(users))
	for _, d := range defaults {
		if !replaced[d.Destination] {
			out = append(out, d)
		}
	}
	um := make([]specs.Mount, 0, len(users))
	for _, m := range users {
		um = append(um, specMount(m, goos))
	}
	slices.SortStableFunc(um, func(a, b specs.Mount) int {
		return depth(a.Destination) - depth(b.Destination)
	})
	return append(out, um...)
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// specMount gives a user mount its OS's shape.
func specMount(m userMount, goos string) specs.Mount {
	if v := m.volume; v != nil {
		if goos == "freebsd" {
			sm := specs.Mount{Destination: v.Destination, Type: "nullfs", Source: v.Source}
			if v.ReadOnly {
				sm.Options = []string{"ro"}
			}
			return sm
		}
		opts := []string{"rbind", "rprivate"}
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		return specs.Mount{Destination: v.Destination, Type: "bind", Source: v.Source, Options: opts}
	}
	defaults := []string{"noexec", "nosuid", "nodev"}
	if goos == "freebsd" {
		defaults = []string{"noexec", "nosuid"}
	}
	return specs.Mount{
		Destination: m.tmpfs.Destination,
		Type:        "tmpfs",
		Source:      "tmpfs",
		Options:     mergeOptions(defaults, m.tmpfs.Options),
	}
}

// optionKey names what a mount option sets, so that a later option
// replaces an earlier one: "exec" and "noexec" both set "exec",
// "size=1m" sets "size", "ro" and "rw" set "rw".
func optionKey(o string) string {
	if k, _, ok := strings.Cut(o, "="); ok {
		return k + "="
	}
	switch o {
	case "ro", "rw":
		return "rw"
	case "noexec", "nosuid", "nodev", "noatime", "nodiratime", "nosymfollow":
		return o[2:]
	}
	return o
}

// mergeOptions returns defaults overridden by user options.
func mergeOptions(defaults, user []string) []string {
	out := slices.Clone(defaults)
	for _, o := range user {
		k := optionKey(o)
		out = slices.DeleteFunc(out, func(x string) bool { return optionKey(x) == k })
		out = append(out, o)
	}
	return out
}
