package image

import (
	"context"
	"math/rand/v2"
	"time"
)

// retryPolicy says how often and how patiently registry requests are
// retried after server errors (5xx, 408, 429), connection resets and
// timeouts. Authentication and not-found answers are never retried.
type retryPolicy struct {
	// Attempts is the total number of tries of one request.
	Attempts int
	// Backoff is the wait before the second try; it doubles (with jitter)
	// up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// ResponseTimeout bounds the wait for response headers, and
	// StallTimeout the time a blob download may go without receiving a
	// byte; both count as retryable timeouts.
	ResponseTimeout time.Duration
	StallTimeout    time.Duration
}

var defaultRetry = retryPolicy{
	Attempts:        5,
	Backoff:         250 * time.Millisecond,
	MaxBackoff:      8 * time.Second,
	ResponseTimeout: 60 * time.Second,
	StallTimeout:    60 * time.Second,
}

// delay returns the wait before try number attempt+1 (attempt >= 1).
func (p retryPolicy) delay(attempt int) time.Duration {
	d := p.Backoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	// ±20% jitter so that parallel clients spread out.
	return d - d/5 + time.Duration(rand.Int64N(int64(d/5)*2+1))
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryPolicy is the policy of s's registry requests: defaultRetry
// unless a test set another.
func (s *Service) retryPolicy() retryPolicy {
	if s.retry != nil {
		return *s.retry
	}
	return defaultRetry
}
