package sink

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// tokenCache caches the bearer token of a [tokenSource] (which fetches anew
// on every call, as clientcredentials.Config.Token does) and guarantees:
//
//   - at most one fetch is in flight at a time, whatever the number of
//     callers (fetches is a [flight]);
//   - a token is refreshed in the background refreshBefore its expiry (at
//     most half its lifetime early) while callers keep using the still-valid
//     one, so a steady stream never waits on the token endpoint;
//   - only callers holding no valid token wait for a fetch, and they wait
//     context-aware: a caller giving up does not cancel the fetch for others;
//   - invalidate(tok) after a 401 drops tok only if it is still the cached
//     one, so N callers that got a 401 with the same token cause one fetch;
//   - a fetch in flight ends at [Publisher.Close], unreported (it did not
//     fail: it was abandoned).
//
// Fetch errors are not cached: the next caller starts a new fetch (the
// circuit breaker bounds how often that happens during an outage).
type tokenCache struct {
	src           tokenSource
	refreshBefore time.Duration

	cur     atomic.Pointer[cachedToken]
	fetches flight[*cachedToken] // runs fetch

	// backgroundAfter (UnixNano) holds off background refreshes for a while
	// after one failed, so that a failing token endpoint is not hit by a
	// fetch per publish while the cached token is still good.
	backgroundAfter atomic.Int64

	// lastOK tells whether the last fetch succeeded; onFetch, when set, is
	// told about every fetch.
	lastOK  atomic.Bool
	onFetch func(err error)

	// sanitize, when set, replaces a fetch error before anyone sees it
	// (the Publisher makes it a scrubbed [TokenError]); onToken, when set,
	// is told about every token fetched before it is used.
	sanitize func(error) error
	onToken  func(*oauth2.Token)
}

// tokenSource fetches a fresh token each time it is called; the
// [tokenCache] caches it. [grantSource] is the one the Publisher uses.
type tokenSource interface {
	Token(ctx context.Context) (*oauth2.Token, error)
}

// newTokenCache returns a cache of src's tokens whose fetches run on bg,
// each for at most timeout.
func newTokenCache(src tokenSource, refreshBefore, timeout time.Duration, bg *background) *tokenCache {
	c := &tokenCache{src: src, refreshBefore: refreshBefore}
	c.fetches = flight[*cachedToken]{fn: c.fetch, timeout: timeout, bg: bg}
	return c
}

// backgroundRetryGap is the pause after a failed background refresh.
const backgroundRetryGap = time.Second

type cachedToken struct {
	tok       *oauth2.Token
	value     string
	refreshAt time.Time // start a background refresh from here
	expireAt  time.Time // stop using it from here (zero: never expires)
}

// expirySkew is kept between the token's announced expiry and the last use
// of it, to absorb the request's own travel time.
const expirySkew = time.Second

// get returns a usable token value, fetching one if needed.
func (c *tokenCache) get(ctx context.Context) (string, error) {
	now := time.Now()
	if t := c.cur.Load(); t != nil && t.usable(now) {
		if !t.refreshAt.IsZero() && !now.Before(t.refreshAt) && now.UnixNano() >= c.backgroundAfter.Load() {
			c.fetches.start(c.newerThan(t)) // background refresh; keep using t meanwhile
		}
		return t.value, nil
	}
	t, err := c.fetches.do(ctx, c.newerThan(c.cur.Load()))
	if err != nil {
		return "", err
	}
	return t.value, nil
}

// newerThan returns the fresh check of a fetch started by a caller who saw
// seen: a usable token other than seen was cached since (by a fetch that
// ended meanwhile), so no fetch is needed.
func (c *tokenCache) newerThan(seen *cachedToken) func() (*cachedToken, bool) {
	return func() (*cachedToken, bool) {
		t := c.cur.Load()
		return t, t != nil && t != seen && t.usable(time.Now())
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

// fetch asks src for a token and caches it; it is the fetches' call.
func (c *tokenCache) fetch(ctx context.Context) (*cachedToken, error) {
	fetchedAt := time.Now()
	tok, err := c.src.Token(ctx)
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("token endpoint answered without an access token")
	}
	if err != nil && c.sanitize != nil {
		err = c.sanitize(err)
	}
	if err != nil && closing(ctx) {
		return nil, err // abandoned at Close: not a failure of the endpoint
	}
	if err == nil && c.onToken != nil {
		c.onToken(tok)
	}
	c.lastOK.Store(err == nil)
	if c.onFetch != nil {
		c.onFetch(err)
	}
	if err != nil {
		c.backgroundAfter.Store(time.Now().Add(backgroundRetryGap).UnixNano())
		return nil, err
	}
	return c.cache(tok, fetchedAt), nil
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
