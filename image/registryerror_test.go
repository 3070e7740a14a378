package image

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestRegistryErrorWords(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{404, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}`, "not found in the registry"},
		{401, `{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}`, "authentication required (stockade login, or credentials in ~/.docker/config.json): who are you"},
		{403, `{"errors":[{"code":"DENIED","message":"go away"}]}`, "access denied by the registry: go away"},
		{500, `oops`, "the registry answered 500 internal server error"},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Body: io.NopCloser(strings.NewReader(tt.body)), Request: &http.Request{Method: "GET"}}
		err := registryError(transport.CheckError(resp, http.StatusOK))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%d: got %v, want %q", tt.status, err, tt.want)
		}
		for _, leak := range []string{"MANIFEST_UNKNOWN", "map[", "UNAUTHORIZED"} {
			if err != nil && strings.Contains(err.Error(), leak) {
				t.Errorf("%d: %q leaks %q", tt.status, err, leak)
			}
		}
		var re *RegistryError
		var te *transport.Error
		if !errors.As(err, &re) || re.Status != tt.status || !errors.As(err, &te) {
			t.Errorf("%d: %v does not wrap the registry's error", tt.status, err)
		}
	}
	plain := errors.New("connection refused")
	if got := registryError(plain); got != plain {
		t.Errorf("a non-registry error changed: %v", got)
	}
}
