//go:build !lean

package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// retryableStatus reports whether an HTTP status is worth another try.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// errStalled is returned by blob reads that received nothing for too long.
var errStalled = errors.New("download stalled")

// retryableError reports whether a transport or body-read error is a
// transient network fault: a reset or broken connection, an early EOF, or a
// timeout. Context cancellation is not.
func retryableError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, errStalled) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	// net/http's header timeout also claims to be DeadlineExceeded, so
	// look for a network timeout first; the caller's own deadline is
	// ruled out by its checking ctx.Err().
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// retryTransport retries requests that can be sent again (no body, or a
// body with GetBody) after transient faults, with exponential backoff.
type retryTransport struct {
	inner  http.RoundTripper
	policy retryPolicy
	log    *slog.Logger
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := t.inner.RoundTrip(r)
		last := !replayable || attempt >= t.policy.Attempts || ctx.Err() != nil
		switch {
		case err == nil && !retryableStatus(resp.StatusCode):
			return resp, nil
		case err != nil && (last || !retryableError(err)):
			return nil, err
		case err == nil && last:
			return resp, nil
		}
		wait := t.policy.delay(attempt)
		reason := ""
		if err != nil {
			reason = err.Error()
		} else {
			reason = resp.Status
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
				wait = min(max(wait, time.Duration(s)*time.Second), t.policy.MaxBackoff)
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		t.log.DebugContext(ctx, "registry request failed, retrying", "method", req.Method,
			"url", req.URL.Redacted(), "attempt", attempt, "reason", reason, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// schemeGuard refuses plain-HTTP requests to hosts that may not be reached
// without TLS. go-containerregistry falls back to http for private (RFC
// 1918) addresses on its own; stockade allows that only for loopback
// registries, --plain-http and insecure registries.
type schemeGuard struct {
	inner      http.RoundTripper
	allowPlain func(hostport string) bool
}

// RoundTrip implements http.RoundTripper.
func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowPlain(req.URL.Host) {
		return nil, fmt.Errorf("refusing plain HTTP to %s: use --plain-http or list it in insecure registries", req.URL.Host)
	}
	return g.inner.RoundTrip(req)
}

// newHTTPTransport returns the transport stack for one registry: TLS (not
// verified when insecure), the plain-HTTP guard, and retries.
func (s *Service) newHTTPTransport(insecure bool, plainHosts func(string) bool) http.RoundTripper {
	policy := s.retryPolicy()
	base := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: policy.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // only for registries the user marked insecure, and loopback
	}
	return &retryTransport{
		inner:  schemeGuard{inner: base, allowPlain: plainHosts},
		policy: policy,
		log:    s.logger(),
	}
}
