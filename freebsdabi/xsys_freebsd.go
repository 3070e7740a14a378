//go:build freebsd

package freebsdabi

import "golang.org/x/sys/unix"

// Each index below is 0 only when the value here equals golang.org/x/sys/unix's
// (generated from the FreeBSD headers); any difference makes the index 1 and
// the freebsd build fail.
var (
	_ = [1]struct{}{}[MntRdonly^unix.MNT_RDONLY]
	_ = [1]struct{}{}[MntSynchronous^unix.MNT_SYNCHRONOUS]
	_ = [1]struct{}{}[MntNoexec^unix.MNT_NOEXEC]
	_ = [1]struct{}{}[MntNosuid^unix.MNT_NOSUID]
	_ = [1]struct{}{}[MntAsync^unix.MNT_ASYNC]
	_ = [1]struct{}{}[MntUpdate^unix.MNT_UPDATE]
	_ = [1]struct{}{}[MntForce^unix.MNT_FORCE]
	_ = [1]struct{}{}[MntNosymfollow^unix.MNT_NOSYMFOLLOW]
	_ = [1]struct{}{}[MntNoatime^unix.MNT_NOATIME]
	_ = [1]struct{}{}[MntNoclusterr^unix.MNT_NOCLUSTERR]
	_ = [1]struct{}{}[MntNoclusterw^unix.MNT_NOCLUSTERW]

	_ = [1]struct{}{}[RlimitCPU^unix.RLIMIT_CPU]
	_ = [1]struct{}{}[RlimitFsize^unix.RLIMIT_FSIZE]
	_ = [1]struct{}{}[RlimitData^unix.RLIMIT_DATA]
	_ = [1]struct{}{}[RlimitStack^unix.RLIMIT_STACK]
	_ = [1]struct{}{}[RlimitCore^unix.RLIMIT_CORE]
	_ = [1]struct{}{}[RlimitRSS^unix.RLIMIT_RSS]
	_ = [1]struct{}{}[RlimitMemlock^unix.RLIMIT_MEMLOCK]
	_ = [1]struct{}{}[RlimitNproc^unix.RLIMIT_NPROC]
	_ = [1]struct{}{}[RlimitNofile^unix.RLIMIT_NOFILE]
	_ = [1]struct{}{}[RlimitVmem^unix.RLIMIT_AS]
)

var (
	_ = [1]struct{}{}[CtlKern^unix.CTL_KERN]
)
