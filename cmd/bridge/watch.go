package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink"
)

// How often run says what keeps it from consuming (watchKafka).
var (
	kafkaFirstCheck = 3 * time.Second
	kafkaRecheck    = 10 * time.Second
)

// watchKafka tells the operator, until ctx ends, what keeps the consumer
// from its group: a warning within kafkaFirstCheck when no broker answers,
// naming the brokers and the error, repeated every kafkaRecheck until one
// does, and the same when the brokers go away later (a member that joined
// keeps its generation when its session is lost, so the brokers are asked
// on every check); a warning that the group is not joined while brokers
// answer; and one line when both are well again. The joining itself is
// said by the consumer ("partitions assigned", with where each starts).
// Without it, a bridge pointed at the wrong brokers says nothing after its
// start-up lines.
//
// With nextGen (kafka.group_protocol: consumer) it also warns, once, when
// the brokers do not serve that protocol and the client fell back to the
// classic one.
func watchKafka(ctx context.Context, b *pipeline.Bridge, brokers []string, group string, nextGen bool, log *slog.Logger) {
	t := time.NewTimer(kafkaFirstCheck)
	defer t.Stop()
	warned := false
	protocolChecked := !nextGen
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(kafkaRecheck)
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := b.Consumer().Client().Ping(pctx)
		cancel()
		if err == nil && !protocolChecked {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			ok, perr := consumer.NextGenSupported(pctx, b.Consumer().Client())
			cancel()
			if perr == nil {
				protocolChecked = true
				if !ok {
					log.Warn("the brokers do not serve kafka.group_protocol: consumer (KIP-848, Kafka 4.0+): the group runs the classic protocol with the eager sticky balancer; set kafka.group_protocol: classic",
						"brokers", strings.Join(brokers, ","))
				}
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("no Kafka broker answers; still trying", "brokers", strings.Join(brokers, ","), "err", err.Error())
			warned = true
		case !b.Consumer().InGroup():
			log.Warn("consumer group not joined yet; brokers answer", "group", group, "brokers", strings.Join(brokers, ","))
			warned = true
		case warned:
			log.Info("Kafka brokers answer and the group is joined", "group", group)
			warned = false
		}
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
			attrs := []any{"token_url", tokenURL}
			msg := "no CXone token; events wait until one is obtained"
			var te *sink.TokenError
			if errors.As(err, &te) && (te.Status == 400 || te.Status == 401 || te.Status == 403) {
				// A refusal: its fields, not the error's quoted text (which
				// a JSON log would escape a second time).
				msg = "no CXone token: the token endpoint refused the client; check cxone.auth client_id and client_secret; events wait until a token is obtained"
				attrs = append(attrs, "status", te.Status)
				if te.Code != "" {
					attrs = append(attrs, "error", te.Code)
				}
				if te.Description != "" {
					attrs = append(attrs, "answer", te.Description)
				}
			} else {
				attrs = append(attrs, "err", err.Error())
			}
			if h := hint(err); h != "" {
				attrs = append(attrs, "hint", "if client_id and client_secret are right: "+h)
			}
			log.Warn(msg, attrs...)
			failing = true
		case failing:
			log.Info("CXone token obtained", "token_url", tokenURL)
			failing = false
		}
	}
}
