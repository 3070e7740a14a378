// Package bundle turns an image's configuration and the options of
// `stockade run` into a runtime-spec config.json, with the defaults of the
// target OS, and writes it into a bundle directory.
//
// The package is portable logic: the target OS is a parameter
// (Options.GOOS), so the Linux and the FreeBSD specs are both produced and
// tested on any host. Nothing here mounts or starts anything. The only
// file-system access is reading /etc/passwd and /etc/group from the
// container's root file system (see "Users" below) and Write.
//
// # Options and what they become
//
//	option            Linux (runc)                            FreeBSD (jail runtime)
//	IMAGE [CMD...]    process.args (docker's rules, below)    same
//	--entrypoint      process.args                            same
//	-e K=V            process.env                             same
//	-w DIR            process.cwd                             same
//	-u USER           process.user (from the image's files)   same
//	--hostname H      hostname, HOSTNAME=H                    hostname, freebsd.jail.host "new"
//	--read-only       root.readonly                           root.readonly
//	-v SRC:DST[:ro]   mount type "bind", rbind,rprivate[,ro]  mount type "nullfs" [ro]
//	--tmpfs DST[:O]   mount type "tmpfs"                      mount type "tmpfs"
//	--memory M        linux.resources.memory.limit            annotation org.freebsd.rctl.memoryuse
//	--cpus C          linux.resources.cpu quota/period        annotation org.freebsd.rctl.pcpu
//	--pids-limit N    linux.resources.pids.limit              annotation org.freebsd.rctl.maxproc
//	--network         network namespace or none               freebsd.jail ip4/ip6
//	-t                process.terminal, TERM=xterm            same
//	annotations       annotations (image labels are not)      same
//
// Process arguments follow docker: the image's Entrypoint followed by its
// Cmd; run arguments replace Cmd; --entrypoint replaces Entrypoint and
// drops the image's Cmd (an empty --entrypoint clears it). No arguments at
// all is ErrNoCommand.
//
// The environment is built as docker builds it: PATH (the target's
// default), HOSTNAME (when a hostname is set) and TERM=xterm (with a
// terminal) come first and are replaced in place by the image's Env, which
// -e then overrides key by key; HOME is added last, from the user's
// /etc/passwd entry (or "/"), unless set. The PATH default is
// DefaultLinuxPath for Linux images and DefaultFreeBSDPath for FreeBSD
// images.
//
// # Network
//
// Options.Network is "host", "none" or empty. Empty means "none"
// (NetworkDefault): a network stack of the container's own with loopback
// only. That is also where a bridge network starts: the command line's
// default is the network "stockade", and for it and every named network
// the bundle gets "none" and the network hook (package network) then
// gives the stack its interface (Linux: the spec's network namespace
// becomes a path the driver made; FreeBSD: the driver makes the jail a
// vnet jail).
//
//	network   Linux                          FreeBSD
//	none      own network namespace (lo)     ip4 "disable", ip6 "disable" (no IP, not even loopback)
//	host      no network namespace           ip4 "inherit", ip6 "inherit"
//
// # Linux defaults
//
// As `runc spec` makes them, with docker's capabilities: namespaces pid,
// network (unless --network host), ipc, uts, mount and cgroup; mounts
// /proc, /dev (tmpfs), /dev/pts, /dev/shm, /dev/mqueue, /sys (ro) and
// /sys/fs/cgroup (ro); runc's masked paths plus docker's
// /sys/devices/virtual/powercap, and runc's read-only paths; a deny-all
// device cgroup rule (runc adds its default devices); RLIMIT_NOFILE
// 1024/1024; noNewPrivileges. Docker's 14 default capabilities are in the
// bounding, effective and permitted sets for uid 0, and only in the
// bounding set for other users (as docker does, and as execve would).
// No seccomp profile is set.
//
// # FreeBSD defaults
//
// Mounts: devfs on /dev with ruleset 4 (option "ruleset=4") and fdescfs on
// /dev/fd. A Linux image (Options.ImageOS "linux") run on FreeBSD through
// the Linux ABI also gets linprocfs on /proc, linsysfs on /sys, a tmpfs on
// /dev/shm, and its fdescfs carries the "linrdlnk" option, as podman with
// ocijail does. freebsd.jail: host "new", ip4/ip6 from --network,
// sysvmsg/sysvsem/sysvshm "new" (a private IPC key space, like Linux's ipc
// namespace), enforceStatfs 2, and no allow.* permission (no hostname
// changes, no raw sockets, no mounts, ...). No rlimits and no
// noNewPrivileges are set (both are Linux fields of the spec).
//
// # FreeBSD resource limits
//
// The spec has no FreeBSD resources section, so the limits travel as
// annotations that the jail runtime turns into rctl(8) rules on the jail.
// An annotation named AnnotationRctlPrefix + RESOURCE with the value
// ACTION=AMOUNT becomes the rule jail:<jail>:RESOURCE:ACTION=AMOUNT.
//
//	option          annotation                    value
//	--memory 512m   org.freebsd.rctl.memoryuse    deny=536870912      (bytes)
//	--cpus 1.5      org.freebsd.rctl.pcpu         deny=150            (percent of one CPU, rounded up)
//	--pids-limit N  org.freebsd.rctl.maxproc      deny=N
//
// Callers may pass other org.freebsd.rctl.* annotations (openfiles,
// vmemoryuse, ...) in Options.Annotations; they are checked for the
// ACTION=AMOUNT shape on FreeBSD. Giving one of the three above both as an
// annotation and as its option is an error.
//
// # Users
//
// -u (or the image's User) is NAME, UID, NAME:GROUP, UID:GID or a mix of
// them (the image's user applies when -u is empty). Names are looked up in the image's /etc/passwd and /etc/group; a
// numeric uid or gid that is not listed is used as is (as docker does),
// with gid 0 for an unlisted uid. An empty user is uid 0. Without an
// explicit group, the supplementary groups are the groups of /etc/group
// listing the user as a member; process.user.additionalGids always starts
// with the primary gid, as docker's do.
//
// The files are read from the root file system through an os.Root opened on
// it, with symbolic links resolved as in a chroot (filepath-securejoin):
// a link can never lead out of the root file system, whether it is
// absolute, relative with "..", or swapped in while reading. Only regular
// files are read, at most MaxUserFileSize bytes each.
package bundle
