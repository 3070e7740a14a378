package image

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// rssMain pulls STOCKADE_TEST_REF and prints the process's peak RSS in kB.
func rssMain(ctx context.Context, s *Service) int {
	if _, err := s.Pull(ctx, os.Getenv("STOCKADE_TEST_REF"), PullOptions{Platform: "linux/amd64"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Println(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return 0
		}
	}
	return 1
}
