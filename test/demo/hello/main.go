// Command hello is the program inside the demo image: it greets, shows
// where it runs, and exits with the code given as its first argument.
// `hello serve ADDR` answers HTTP on ADDR with a greeting naming its host;
// `hello get URL` prints what URL answers (names resolved by the
// container's resolver, so by stockade's name server on a network).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	host, _ := os.Hostname()
	if len(os.Args) > 2 {
		switch os.Args[1] {
		case "serve":
			http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "hello over HTTP from container %q\n", host)
			})
			srv := &http.Server{Addr: os.Args[2], ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintln(os.Stderr, srv.ListenAndServe())
			os.Exit(1)
		case "get":
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get(os.Args[2])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer resp.Body.Close()
			io.Copy(os.Stdout, resp.Body)
			return
		}
	}
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
