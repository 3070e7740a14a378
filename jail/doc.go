// Package jail is Stockade's FreeBSD jail runtime: it runs runtime-spec
// bundles as FreeBSD jails and implements ociruntime.Runtime.
//
// Almost all of it is portable logic, built and tested on every OS:
//
//   - JailParams maps a spec (freebsd.jail, hostname, root, and ocijail's
//     org.freebsd.* annotations) to an ordered list of jail(8) parameters,
//     and EncodeParams encodes them as jail_set(2) name/value buffers; a
//     bundle for a Linux image (IsLinuxBundle: the
//     org.opencontainers.image.os annotation when set, else a linux
//     section) gets the linuxulator's linux=new, linux.osname=Linux and
//     linux.osrelease (org.freebsd.jail.linux.osrelease, default
//     DefaultLinuxOSRelease);
//   - PlanMounts turns the spec's mounts into nmount(2) calls, with
//     destinations resolved inside the root file system, devfs rules for
//     freebsd.devices, and a read-only nullfs over the root for
//     root.readonly;
//   - RctlRules turns org.freebsd.rctl.* annotations into rctl(8) rules on
//     the jail;
//   - the container state (state.json, a lock, the exec fifo) lives in a
//     directory per container under the runtime's root; Create, Start,
//     Kill, Exec (until its process is in the jail) and Delete hold the
//     lock while they act, State and List read state.json, which is
//     replaced atomically;
//   - Runtime drives the lifecycle over the small Kernel interface, keeping
//     an undo journal so that a failed Create and Delete release exactly
//     what was made, in reverse order;
//   - InitPlan is what the init helper (stockade-runtime re-executed with
//     the hidden InitCommand argument) does to become the container's
//     process.
//
// Only the system-call layer (the real Kernel and the init helper's
// execution) is built for FreeBSD alone.
//
// # Process start
//
// Create writes an InitPlan into the container's directory and starts the
// helper. The helper opens the exec fifo (read-write, so it does not
// block), opens the pseudo-terminal when asked, attaches to the jail,
// changes to the working directory, sets groups, gid, rlimits (while it
// may still raise them), uid and umask, resolves the program, tells Create it is ready (or why it
// failed) on a pipe, then blocks reading the fifo. Start writes a byte to
// the fifo and removes it; the helper then executes the program, keeping
// its pid. A non-detached Exec copies the streams that are not files
// through pipes of its own, and stops copying output ExecIODrain after the
// process ended, so that a descendant holding them open cannot hang it. A
// container is "created" while its fifo exists and its process
// runs in its jail, "running" once the fifo is gone while the process or
// any other process runs in the jail, and "stopped" otherwise: a process
// counts only while the process table (kinfo_proc's ki_jid) puts it in the
// container's jail, so that a reused pid is never taken, or signalled, for
// the container's.
//
// # Timing
//
// Create, Start, Kill, State and Delete mark their phases (spec, plans,
// state directory, each mount and its journal entry, jail_set, aliases,
// vnet, rctl, hooks, exec fifo, init helper; at delete the lock, the
// status, the kill and its wait, and each undo step: rctl, ifconfig,
// jail_remove, the dying jail's wait, unmounts) with internal/phase, in
// the caller's timer when its context carries one. stockade-runtime
// started with STOCKADE_PHASE_FILE (and STOCKADE_PHASE_START) in its
// environment, as phase.Timer.Env sets them, appends its phases to that
// file under the process name "runtime", its startup (exec, package
// initialisation, command line) first. Without a timer a mark is a
// context lookup. BenchmarkLifecyclePhases reports the phases' cost over
// the recording kernel; test/bench/jail-phases.sh prints it.
package jail
