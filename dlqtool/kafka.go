// Package dlqtool inspects and replays dead-letter topics written by the
// bridge (envelope: package dlq, docs/dlq.md). It is the engine behind
// `bridge dlq inspect` and `bridge dlq replay`; both read with isolation
// level read_committed.
//
// Inspect reads a DLQ topic from its start to its end as of the call and
// summarises it; it joins no group and commits nothing.
//
// Replay copies DLQ records back to their source topic (or another one) as
// a member of its own consumer group, producing the records and committing
// the group's offsets in one Kafka transaction per batch
// (kgo.GroupTransactSession): a replay that is interrupted, even by
// SIGKILL, resumes where its last committed batch ended, and no record is
// replayed twice. The source topic is only a header that whoever writes
// the DLQ topic sets: without ReplayOptions.To, a record goes back only to
// a topic the configuration routes and that is not a dead-letter topic
// (Routes); others are refused. A replayed record carries the time of the
// replay as its timestamp (docs/dlq.md).
//
// Envelopes are read with dlq.Parse, which validates them; everything the
// text reports print passes through package termsafe.
//
// Times the tools report or filter by are the envelope's: inspect's first
// and last failure and replay's FailedFrom/FailedUntil (--since/--until)
// are the failure time (cxone-bridge.failed.at), never a record's Kafka
// timestamp.
package dlqtool

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/kafkaconn"
)

// KafkaOpts are the client options for the DLQ tools derived from the
// bridge configuration: the connection (brokers, TLS, SASL:
// [kafkaconn.Options] of [config.Kafka.ConnConfig]), the client id with
// "-dlq" appended and the fetch bounds. The error is [kafkaconn.Options]'s. Unlike the bridge's own options they name no consumer
// group: inspect joins none and replay joins its own.
func KafkaOpts(cfg *config.Config) ([]kgo.Opt, error) {
	k := cfg.Kafka
	opts, err := kafkaconn.Options(k.ConnConfig())
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ClientID(k.ClientID+"-dlq"))
	if k.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(int32(k.FetchMaxBytes)))
	}
	if k.FetchMaxPartitionBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(int32(k.FetchMaxPartitionBytes)))
	}
	return opts, nil
}

// DLQTopics lists the dead-letter topics of the configuration's routes that
// name a topic (pattern routes have no fixed DLQ topic), without
// duplicates, in route order.
func DLQTopics(cfg *config.Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range cfg.Routes {
		if r.Topic == "" {
			continue
		}
		t := cfg.DLQTopic(r.Topic)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// bounds are, per partition, where reading starts and the end it must
// reach (exclusive).
type bounds struct {
	from, end map[int32]int64
}

// pending is the number of offsets between from and end over all
// partitions.
func (b bounds) pending() int64 {
	var n int64
	for p, e := range b.end {
		if f := b.from[p]; e > f {
			n += e - f
		}
	}
	return n
}

// topicBounds reads the topic's partitions: start offsets, and the end as
// a read_committed reader sees it (the last stable offset). When group is
// set, reading starts at the group's committed offset where it has one.
func topicBounds(ctx context.Context, adm *kadm.Client, topic, group string) (bounds, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return bounds{}, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	if _, ok := starts[topic]; !ok {
		return bounds{}, fmt.Errorf("topic %s does not exist", topic)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return bounds{}, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	b := bounds{from: map[int32]int64{}, end: map[int32]int64{}}
	for p, o := range starts[topic] {
		b.from[p] = o.Offset
	}
	for p, o := range ends[topic] {
		b.end[p] = o.Offset
	}
	if group != "" {
		resp, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			err, resp = nil, nil // a group that never committed: from the start
		}
		if err != nil {
			return bounds{}, fmt.Errorf("fetch offsets of group %s: %w", group, err)
		}
		for p, o := range resp[topic] {
			if o.At > b.from[p] {
				b.from[p] = o.At
			}
		}
	}
	return b, nil
}

// scan reads topic from b.from to b.end without a group, read_committed,
// and calls fn for every record before the end (control records
// included: fn sees them with IsControl set); fn returns false to stop.
func scan(ctx context.Context, opts []kgo.Opt, topic string, b bounds, fn func(*kgo.Record) bool) error {
	start := map[int32]kgo.Offset{}
	left := map[int32]bool{}
	for p, e := range b.end {
		if f := b.from[p]; f < e {
			start[p] = kgo.NewOffset().At(f)
			left[p] = true
		}
	}
	if len(left) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fetchErr(fs); err != nil {
			return err
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			if stop || !left[r.Partition] {
				return
			}
			if r.Offset >= b.end[r.Partition] {
				delete(left, r.Partition)
				return
			}
			if !fn(r) {
				stop = true
				return
			}
			if r.Offset+1 >= b.end[r.Partition] {
				delete(left, r.Partition)
			}
		})
		if stop {
			return nil
		}
	}
	return nil
}

// fetchErr joins the errors of a poll.
func fetchErr(fs kgo.Fetches) error {
	errs := fs.Errors()
	if len(errs) == 0 {
		return nil
	}
	var msgs []string
	for _, e := range errs {
		if e.Topic == "" {
			msgs = append(msgs, e.Err.Error())
		} else {
			msgs = append(msgs, fmt.Sprintf("%s[%d]: %v", e.Topic, e.Partition, e.Err))
		}
	}
	return fmt.Errorf("fetch: %s", strings.Join(msgs, "; "))
}
