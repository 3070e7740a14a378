// Command ctrprog is the program the runc tests run inside containers. It is
// built statically (CGO_ENABLED=0) into the test bundle's rootfs as /prog.
//
// Its arguments are steps, run in order:
//
//	out:TEXT      print TEXT and a newline on stdout
//	err:TEXT      print TEXT and a newline on stderr
//	cat           copy stdin to stdout until end of file
//	sleep:SECS    sleep (fractions allowed)
//	on-term:N     from now on, SIGTERM prints "got SIGTERM" and exits N
//	ignore-term   from now on, SIGTERM prints "ignored SIGTERM" and is ignored
//	child:STEPS   start a copy of this program running STEPS (comma separated)
//	              with the same stdout and stderr
//	wait-child    wait for the child and print "child: <its status>"
//	pid           print "pid <pid>"
//	exit:N        exit with status N (the default is 0 after the last step)
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var child *exec.Cmd
	for _, step := range os.Args[1:] {
		name, arg, _ := strings.Cut(step, ":")
		switch name {
		case "out":
			fmt.Println(arg)
		case "err":
			fmt.Fprintln(os.Stderr, arg)
		case "cat":
			if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
				fmt.Fprintln(os.Stderr, "cat:", err)
				os.Exit(100)
			}
		case "sleep":
			secs, err := strconv.ParseFloat(arg, 64)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sleep:", err)
				os.Exit(100)
			}
			time.Sleep(time.Duration(secs * float64(time.Second)))
		case "on-term", "ignore-term":
			code, _ := strconv.Atoi(arg)
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGTERM)
			go func(ignore bool) {
				for range ch {
					if ignore {
						fmt.Println("ignored SIGTERM")
						continue
					}
					fmt.Println("got SIGTERM")
					os.Exit(code)
				}
			}(name == "ignore-term")
		case "child":
			child = exec.Command("/proc/self/exe", strings.Split(arg, ",")...)
			child.Stdout, child.Stderr = os.Stdout, os.Stderr
			if err := child.Start(); err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				os.Exit(100)
			}
		case "wait-child":
			_ = child.Wait()
			fmt.Println("child:", child.ProcessState.String())
		case "pid":
			fmt.Println("pid", os.Getpid())
		case "exit":
			code, _ := strconv.Atoi(arg)
			os.Exit(code)
		default:
			fmt.Fprintf(os.Stderr, "unknown step %q\n", step)
			os.Exit(100)
		}
	}
}
