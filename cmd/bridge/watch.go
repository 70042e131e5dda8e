package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink"
)

// How often run says what keeps it from consuming (watchKafka).
var (
	kafkaFirstCheck = 3 * time.Second
	kafkaRecheck    = 10 * time.Second
)

// watchKafka tells the operator, until ctx ends, what the consumer group
// is waiting for: a warning within kafkaFirstCheck when no broker answers,
// naming the brokers and the error, repeated every kafkaRecheck until one
// does; a warning that the group is not joined yet while brokers answer;
// and one line when the group is joined. Without it, a bridge pointed at
// the wrong brokers says nothing after its start-up lines.
func watchKafka(ctx context.Context, b *pipeline.Bridge, brokers []string, group string, log *slog.Logger) {
	t := time.NewTimer(kafkaFirstCheck)
	defer t.Stop()
	joined := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cl := b.Consumer().Client()
		if _, gen := cl.GroupMetadata(); gen > 0 {
			if !joined {
				log.Info("consumer group joined", "group", group, "generation", gen)
				joined = true
			}
			t.Reset(kafkaRecheck)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := cl.Ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("no Kafka broker answers; still trying", "brokers", strings.Join(brokers, ","), "err", err.Error())
		default:
			log.Warn("consumer group not joined yet; brokers answer", "group", group, "brokers", strings.Join(brokers, ","))
		}
		joined = false
		t.Reset(kafkaRecheck)
	}
}

// How often run says that it has no CXone token (watchToken).
var (
	tokenFirstCheck = 5 * time.Second
	tokenRecheck    = 30 * time.Second
)

// watchToken warns, until ctx ends, while no CXone token can be obtained:
// a first check after tokenFirstCheck, then every tokenRecheck, each time
// trying a token request and naming the token URL and the error (scrubbed
// of secrets by the sink); and one line when a token is obtained again.
// Events wait meanwhile; without it a bridge with a wrong secret says one
// error at start and then nothing.
//
// hint adds what to try for an error (basicEncodingHint).
func watchToken(ctx context.Context, pub *sink.Publisher, tokenURL string, hint func(error) string, log *slog.Logger) {
	t := time.NewTimer(tokenFirstCheck)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(tokenRecheck)
		if pub.TokenOK() {
			if failing {
				log.Info("CXone token obtained", "token_url", tokenURL)
				failing = false
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := pub.FetchToken(fctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			attrs := []any{"token_url", tokenURL, "err", err.Error()}
			if h := hint(err); h != "" {
				attrs = append(attrs, "hint", h)
			}
			log.Warn("no CXone token; events wait until one is obtained", attrs...)
			failing = true
		case failing:
			log.Info("CXone token obtained", "token_url", tokenURL)
			failing = false
		}
	}
}
