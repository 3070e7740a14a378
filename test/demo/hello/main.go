// Command hello is the program inside the demo image: it greets, shows
// where it runs, and exits with the code given as its first argument.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
)

func main() {
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	fmt.Printf("hello from a stockade container: %s/%s, hostname %q, cwd %s, user %d\n", runtime.GOOS, runtime.GOARCH, host, wd, os.Getuid())
	if msg, err := os.ReadFile("/etc/motd"); err == nil {
		fmt.Print(string(msg))
	}
	if len(os.Args) > 1 {
		code, err := strconv.Atoi(os.Args[1])
		if err == nil {
			os.Exit(code)
		}
	}
}
