package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/transform"
)

// Bridge is the wired pipeline: consumer → transform → sink, with the
// sink's circuit breaker pausing and resuming the consumer. [New] builds
// it.
type Bridge struct {
	consumer  *consumer.Consumer
	publisher *sink.Publisher
	topics    []string
	breaker   atomic.Value // sink.BreakerState
	wake      chan struct{}
	log       *slog.Logger
	// registry decodes the routes with a schema registry format (nil
	// without); registryDown is set while it cannot answer.
	registry     *registry.Decoder
	registryDown atomic.Bool
}

// Options are what [New] adds to the configuration: the hooks through
// which the operations listener (package metrics), the demo, the benchmark
// and tests look inside, and extra Kafka client options. The zero value
// adds nothing.
type Options struct {
	// KafkaOpts are added to the client options derived from the
	// configuration ([kafkaconn.Options]), and override them.
	KafkaOpts []kgo.Opt
	// Observer, when set, becomes the consumer's [consumer.Config.Observer]:
	// it is told about every finished record.
	Observer consumer.Observer
	// OnPublished, when set, becomes the [Handler.OnPublished] hook: it is
	// called after CXone accepted an event.
	OnPublished func(*kgo.Record, *transform.Event, sink.Result)
	// SinkObserver, when set, becomes the sink's [sink.Config.Observer].
	SinkObserver sink.Observer
	// OnSkipped, when set, becomes the [Handler.OnSkipped] hook: it is
	// called for every skipped record (a tombstone).
	OnSkipped func(rec *kgo.Record, reason string)
	// OnBreakerState, when set, is also told about every breaker change
	// (under the breaker's lock: it must not block).
	OnBreakerState func(from, to sink.BreakerState)
}

// New wires a [Bridge] from a loaded configuration: the components'
// configurations are cfg's mappings ([config.Config.TransformConfig],
// [config.Config.SinkConfig], [config.Config.ConsumerConfig],
// [config.Kafka.ConnConfig]); New adds the logger, the hooks of opt and
// the breaker's hand-over. A nil log discards every line, the bridge's and
// its components'. New connects to nothing yet: [Bridge.Run] does.
func New(cfg *config.Config, log *slog.Logger, opt Options) (*Bridge, error) {
	if log == nil {
		log = discard
	}
	tr, dec, err := NewTransformer(cfg)
	if err != nil {
		return nil, err
	}
	b := &Bridge{wake: make(chan struct{}, 1), log: log, registry: dec}
	b.breaker.Store(sink.BreakerClosed)
	sc := cfg.SinkConfig()
	sc.Logger = log
	sc.Observer = opt.SinkObserver
	sc.OnBreakerState = func(from, to sink.BreakerState) {
		// Called under the breaker's lock: hand over, never block.
		b.breaker.Store(to)
		if opt.OnBreakerState != nil {
			opt.OnBreakerState(from, to)
		}
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	pub, err := sink.New(sc)
	if err != nil {
		return nil, err
	}
	b.publisher = pub

	cc := cfg.ConsumerConfig()
	cc.Logger = log
	cc.Observer = opt.Observer
	b.topics = cc.Topics
	handler := &Handler{Transformer: tr, Publisher: pub, Logger: log, OnPublished: opt.OnPublished, OnSkipped: opt.OnSkipped,
		IncludeResponse: cfg.DLQ.IncludeResponse, registryDown: &b.registryDown}
	conn, err := kafkaconn.Options(cfg.Kafka.ConnConfig())
	if err != nil {
		return nil, err
	}
	c, err := consumer.New(cc, handler, append(conn, opt.KafkaOpts...)...)
	if err != nil {
		return nil, err
	}
	b.consumer = c
	return b, nil
}

// Topics returns what the consumer subscribes to.
func (b *Bridge) Topics() []string { return b.topics }

// Consumer returns the Kafka side ([consumer.Consumer]), for stats.
func (b *Bridge) Consumer() *consumer.Consumer { return b.consumer }

// BreakerState returns the sink's circuit-breaker state.
func (b *Bridge) BreakerState() sink.BreakerState { return b.breaker.Load().(sink.BreakerState) }

// Run consumes and publishes until ctx ends, then shuts down as package
// consumer describes; nil means a clean shutdown. An error is the
// consumer's (a closed client, a failed final commit) and says so once:
// "consumer: …".
func (b *Bridge) Run(ctx context.Context) error {
	followDone := make(chan struct{})
	followCtx, stopFollow := context.WithCancel(context.Background())
	go func() {
		defer close(followDone)
		b.followBreaker(followCtx)
	}()
	// Discover the endpoints (when so configured) and fetch a token at
	// once, so that readiness ("token obtainable") is known before the
	// first record arrives; a failure here is only logged: publishing
	// retries it.
	warmDone := make(chan struct{})
	go func() {
		defer close(warmDone)
		if ep, err := b.publisher.Endpoints(followCtx); err != nil {
			if followCtx.Err() == nil && !errors.Is(err, sink.ErrStopped) {
				b.log.Error("cannot discover the CXone endpoints", "err", err)
			}
		} else {
			b.log.Info("cxone endpoints", "token_url", ep.TokenURL, "events_url", ep.EventsURL,
				"token_url_discovered", ep.TokenDiscovered, "api_discovered", ep.APIDiscovered)
		}
		if err := b.publisher.FetchToken(followCtx); err != nil && followCtx.Err() == nil && !errors.Is(err, sink.ErrStopped) {
			b.log.Error("cannot obtain a CXone token", "err", err)
		}
	}()
	// At shutdown, publishes waiting (for an open breaker, a 429 cooldown,
	// a backoff) give up at once: the drain is for the requests under way,
	// not for a CXone that is down. Their records are left, uncommitted,
	// for the next run.
	stopWaiting := context.AfterFunc(ctx, b.publisher.StopWaiting)
	defer stopWaiting()
	err := b.consumer.Run(ctx)
	stopFollow()
	<-warmDone
	<-followDone
	_ = b.publisher.Close() // idle keep-alive connections
	if err != nil && !errors.Is(err, context.Canceled) {
		return consumerError(err)
	}
	return nil
}

// consumerError is err, which [consumer.Consumer.Run] returned, saying
// once that it came from the consumer: the consumer's errors begin with
// "consumer: " (a closed client); one that does not (a failed final
// commit, in versions of the consumer that did not prefix it) gets the
// prefix here.
func consumerError(err error) error {
	if strings.HasPrefix(err.Error(), "consumer: ") {
		return err
	}
	return fmt.Errorf("consumer: %w", err)
}

// followBreaker pauses fetching while the breaker is open and resumes it
// when the breaker is half-open or closed. The breaker moves from open to
// half-open by itself after its open timeout, so fetching resumes then
// even with nothing left in flight (the partitions holding the waiting
// records were lost or revoked meanwhile): the records fetched are the
// probes. If a probe fails the breaker opens and fetching pauses again.
// Each wake-up applies the state current then, so the last change always
// wins.
func (b *Bridge) followBreaker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		if b.breaker.Load().(sink.BreakerState) == sink.BreakerOpen {
			b.consumer.Pause()
		} else {
			b.consumer.Resume()
		}
	}
}

// Publisher returns the CXone side ([sink.Publisher]), for probes and
// checks.
func (b *Bridge) Publisher() *sink.Publisher { return b.publisher }

// Live reports whether the process is alive: the poll loop runs and has
// not spent longer than stall in one step without waiting. why says what
// is wrong.
func (b *Bridge) Live(stall time.Duration) (ok bool, why string) {
	running, busy := b.consumer.Loop()
	switch {
	case !running:
		return false, "poll loop not running"
	case busy > stall:
		return false, fmt.Sprintf("poll loop stalled for %s", busy.Round(time.Millisecond))
	}
	return true, "ok"
}

// Ready reports whether the bridge should receive traffic: it joined its
// consumer group, the circuit breaker is not open and a CXone token is
// obtainable. why lists what is wrong.
func (b *Bridge) Ready() (ok bool, why string) {
	var bad []string
	if !b.consumer.InGroup() {
		bad = append(bad, "consumer group not joined")
	}
	if b.BreakerState() == sink.BreakerOpen {
		bad = append(bad, "circuit breaker open")
	}
	if !b.publisher.TokenOK() {
		bad = append(bad, "no CXone token")
	}
	if b.registryDown.Load() {
		bad = append(bad, "schema registry unavailable")
	}
	if len(bad) > 0 {
		return false, strings.Join(bad, "; ")
	}
	return true, "ok"
}
