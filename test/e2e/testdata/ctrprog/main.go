// Command ctrprog is the program inside the e2e test image. Its first
// argument picks what it does, so one static binary covers every test.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("ctrprog: no command")
		return
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "echo":
		for i, a := range args {
			if i > 0 {
				fmt.Print(" ")
			}
			fmt.Print(a)
		}
		fmt.Println()
	case "stderr":
		fmt.Fprintln(os.Stderr, args[0])
	case "exit":
		code, _ := strconv.Atoi(args[0])
		fmt.Printf("exiting with %d\n", code)
		os.Exit(code)
	case "env":
		fmt.Printf("%s=%s\n", args[0], os.Getenv(args[0]))
	case "whoami":
		wd, _ := os.Getwd()
		host, _ := os.Hostname()
		fmt.Printf("uid=%d gid=%d cwd=%s host=%s\n", os.Getuid(), os.Getgid(), wd, host)
	case "write":
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			fmt.Println("write failed:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", args[0])
	case "isatty":
		if ws, err := unix.IoctlGetWinsize(1, unix.TIOCGWINSZ); err == nil {
			fmt.Printf("tty=true rows=%d cols=%d\n", ws.Row, ws.Col)
		} else {
			fmt.Println("tty=false")
		}
	case "cat":
		io.Copy(os.Stdout, os.Stdin)
	case "rootmount":
		// The mountinfo line of the container's root.
		data, _ := os.ReadFile("/proc/self/mountinfo")
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
				fmt.Println(line)
			}
		}
	case "nofile":
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
		fmt.Printf("nofile=%d/%d\n", rl.Cur, rl.Max)
	case "sleep":
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
	case "ticks":
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			fmt.Printf("tick %d\n", i)
			time.Sleep(50 * time.Millisecond)
		}
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		time.Sleep(time.Hour)
	case "count":
		// Appends a line to a file in a volume at each start, then fails.
		f, err := os.OpenFile(args[0], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, "start")
			f.Close()
		}
		os.Exit(1)
	default:
		fmt.Println("ctrprog: unknown command", os.Args[1])
		os.Exit(2)
	}
}
