// Command nri010plugin is an NRI 0.1 plugin for the e2e tests. Installed
// under any name, it appends each request it receives, as one JSON line,
// to RECORD/NAME.log (RECORD from its conf), and answers with a result
// whose metadata holds its name. The annotation test.nri010/NAME picks a
// misbehaviour: "fail" (an error in the result), "exit" (exit status 3),
// "garbage" (not JSON on stdout) or "hang" (no answer).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	types "github.com/containerd/nri/types/v1" //nolint:staticcheck
)

func main() {
	name := filepath.Base(os.Args[0])
	if len(os.Args) != 2 || os.Args[1] != "invoke" {
		fmt.Fprintf(os.Stderr, "%s: want one argument, invoke\n", name)
		os.Exit(2)
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var req types.Request
	if err := json.Unmarshal(data, &req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(1)
	}
	var conf struct {
		Record string `json:"record"`
	}
	json.Unmarshal(req.Conf, &conf)
	if conf.Record != "" {
		f, err := os.OpenFile(filepath.Join(conf.Record, name+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			f.Write(append(data, '\n'))
			f.Close()
		}
	}
	res := req.NewResult(name)
	res.Metadata["plugin"] = name
	if req.Spec != nil && req.State == types.Create {
		switch req.Spec.Annotations["test.nri010/"+name] {
		case "fail":
			res.Error = "refused by annotation"
		case "exit":
			fmt.Fprintln(os.Stderr, "exiting on request")
			os.Exit(3)
		case "garbage":
			fmt.Println("this is not json")
			return
		case "hang":
			time.Sleep(time.Hour)
		}
	}
	json.NewEncoder(os.Stdout).Encode(res)
}
