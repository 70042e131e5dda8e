package sink

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// tokenCache caches the bearer token of a TokenSource (which fetches anew on
// every call, as clientcredentials.Config.Token does) and guarantees:
//
//   - at most one fetch is in flight at a time, whatever the number of callers;
//   - a token is refreshed in the background refreshBefore its expiry (at most
//     half its lifetime early) while callers keep using the still-valid one,
//     so a steady stream never waits on the token endpoint;
//   - only callers holding no valid token wait for a fetch, and they wait
//     context-aware: a caller giving up does not cancel the fetch for others;
//   - invalidate(tok) after a 401 drops tok only if it is still the cached
//     one, so N callers that got a 401 with the same token cause one fetch.
//
// Fetch errors are not cached: the next caller starts a new fetch (the
// circuit breaker bounds how often that happens during an outage).
type tokenCache struct {
	src           TokenSource
	refreshBefore time.Duration
	fetchTimeout  time.Duration
	fetchCtx      func(context.Context) context.Context // adds the HTTP client

	cur atomic.Pointer[cachedToken]

	// backgroundAfter (UnixNano) holds off background refreshes for a while
	// after one failed, so that a failing token endpoint is not hit by a
	// fetch per publish while the cached token is still good.
	backgroundAfter atomic.Int64

	mu       sync.Mutex
	inflight *tokenFetch

	// lastOK tells whether the last fetch succeeded; onFetch, when set, is
	// told about every fetch.
	lastOK  atomic.Bool
	onFetch func(err error)

	// sanitize, when set, replaces a fetch error before anyone sees it
	// (the Publisher makes it a scrubbed *TokenError); onToken, when set,
	// is told about every token fetched before it is used.
	sanitize func(error) error
	onToken  func(*oauth2.Token)
}

// backgroundRetryGap is the pause after a failed background refresh.
const backgroundRetryGap = time.Second

type cachedToken struct {
	tok       *oauth2.Token
	value     string
	refreshAt time.Time // start a background refresh from here
	expireAt  time.Time // stop using it from here (zero: never expires)
}

type tokenFetch struct {
	done chan struct{}
	tok  *cachedToken
	err  error
}

// expirySkew is kept between the token's announced expiry and the last use
// of it, to absorb the request's own travel time.
const expirySkew = time.Second

// get returns a usable token value, fetching one if needed.
func (c *tokenCache) get(ctx context.Context) (string, error) {
	now := time.Now()
	if t := c.cur.Load(); t != nil && t.usable(now) {
		if !t.refreshAt.IsZero() && !now.Before(t.refreshAt) && now.UnixNano() >= c.backgroundAfter.Load() {
			c.start(t) // background refresh; keep using t meanwhile
		}
		return t.value, nil
	}
	f := c.start(c.cur.Load())
	select {
	case <-f.done:
		if f.err != nil {
			return "", f.err
		}
		return f.tok.value, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (t *cachedToken) usable(now time.Time) bool {
	return t.expireAt.IsZero() || now.Before(t.expireAt)
}

// invalidate drops value if it is still the cached token.
func (c *tokenCache) invalidate(value string) {
	if t := c.cur.Load(); t != nil && t.value == value {
		c.cur.CompareAndSwap(t, nil)
	}
}

// start returns the fetch in flight, starting one unless the cached token
// changed since the caller looked (seen), in which case it returns a finished
// fetch holding the newer token.
func (c *tokenCache) start(seen *cachedToken) *tokenFetch {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.inflight; f != nil {
		return f
	}
	if t := c.cur.Load(); t != nil && t != seen && t.usable(time.Now()) {
		f := &tokenFetch{done: make(chan struct{}), tok: t}
		close(f.done)
		return f
	}
	f := &tokenFetch{done: make(chan struct{})}
	c.inflight = f
	go c.fetch(f)
	return f
}

func (c *tokenCache) fetch(f *tokenFetch) {
	ctx, cancel := context.WithTimeout(c.fetchCtx(context.Background()), c.fetchTimeout)
	defer cancel()
	fetchedAt := time.Now()
	tok, err := c.src.Token(ctx)
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("token endpoint answered without an access token")
	}
	if err != nil && c.sanitize != nil {
		err = c.sanitize(err)
	}
	if err == nil && c.onToken != nil {
		c.onToken(tok)
	}
	c.lastOK.Store(err == nil)
	if c.onFetch != nil {
		c.onFetch(err)
	}
	if err == nil {
		f.tok = c.cache(tok, fetchedAt)
	} else {
		f.err = err
		c.backgroundAfter.Store(time.Now().Add(backgroundRetryGap).UnixNano())
	}
	c.mu.Lock()
	c.inflight = nil
	c.mu.Unlock()
	close(f.done)
}

func (c *tokenCache) cache(tok *oauth2.Token, fetchedAt time.Time) *cachedToken {
	t := &cachedToken{tok: tok, value: tok.AccessToken}
	if !tok.Expiry.IsZero() {
		life := tok.Expiry.Sub(fetchedAt)
		early := min(c.refreshBefore, life/2)
		t.refreshAt = tok.Expiry.Add(-early)
		t.expireAt = tok.Expiry.Add(-min(expirySkew, life/4))
	}
	c.cur.Store(t)
	return t
}
