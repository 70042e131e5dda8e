package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/dlqtool"
	"github.com/cxone-bridge/bridge/poll"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// The tests of this file run `bridge dlq inspect` and `bridge dlq replay`
// as a process against kfake, on DLQ records written by someone else than
// the bridge: a producer that can write the DLQ topic can write any
// envelope.

// forgedEnv is a kfake cluster with the topics orders, orders.dlq and
// payments (3 partitions each) and a bridge.yaml that routes orders only.
type forgedEnv struct {
	t      *testing.T
	cfg    string
	client *kgo.Client
}

func newForgedEnv(t *testing.T, kafkaYAML string, clusterOpts []kfake.Opt, clientOpts ...kgo.Opt) *forgedEnv {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, "orders", "orders.dlq", "payments")}, clusterOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bridge.yaml")
	yaml := fmt.Sprintf(`kafka:
  brokers: [%s]
%scxone:
  base_url: https://cxone.example
routes:
  - topic: orders
    event_type: OrderCreated
    business_key: /orderId
`, addr, kafkaYAML)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner())}, clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e := &forgedEnv{t: t, cfg: cfg, client: cl}
	// kfake answers GROUP_ID_NOT_FOUND for the offsets of a group it
	// never saw, where Kafka answers with none: commit offset 0.
	var os kadm.Offsets
	for p := range int32(3) {
		os.Add(kadm.Offset{Topic: "orders.dlq", Partition: p, At: 0, LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), dlqtool.DefaultGroup("orders.dlq"), os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// dlqRecord is the DLQ record of a record of source topic src, as the
// bridge writes it, with envelope headers then overridden by over.
func forgedDLQRecord(i int, src string, over map[string]string) *kgo.Record {
	r := dlq.NewRecord(&kgo.Record{Topic: src, Partition: 0, Offset: int64(i), Key: []byte(fmt.Sprintf("k-%d", i)),
		Value: []byte(fmt.Sprintf(`{"i":%d}`, i)), Timestamp: time.Now()},
		"orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: "record failed"}, time.Now())
	r.Partition = int32(i % 3)
	for k, v := range over {
		found := false
		for j, h := range r.Headers {
			if h.Key == k {
				r.Headers[j].Value, found = []byte(v), true
			}
		}
		if !found {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	return r
}

func (e *forgedEnv) produce(recs ...*kgo.Record) {
	e.t.Helper()
	if err := e.client.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// records reads every record of topic (read_committed).
func (e *forgedEnv) records(topic string) []*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(e.client)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	start := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start[o.Partition] = kgo.NewOffset().AtStart()
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	if len(left) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(e.client.Opts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok {
				if !r.Attrs.IsControl() {
					out = append(out, r)
				}
				if r.Offset+1 >= end {
					delete(left, r.Partition)
				}
			}
		})
	}
	return out
}

// committed is the sum of the replay group's committed offsets.
func (e *forgedEnv) committed() int64 {
	e.t.Helper()
	resp, err := kadm.NewClient(e.client).FetchOffsets(context.Background(), dlqtool.DefaultGroup("orders.dlq"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	resp.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n
}

// noControl fails when out (what a person sees on a terminal) holds a
// control character other than a newline, DEL, a C1 control or another
// character that is not printable (bidi overrides), or is not UTF-8.
func noControl(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: not UTF-8:\n%q", what, out)
	}
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || !unicode.IsGraphic(r)) {
			t.Errorf("%s holds %U:\n%q", what, r, out)
			return
		}
	}
}

// TestDLQReplayRefusesUnroutedSource: a forged DLQ record naming a topic
// the configuration does not route (payments), or a dead-letter topic, is
// refused: nothing is written to it, the command exits 1 and says why,
// and the replay group moves past it like past the other refusals. The
// routed record is replayed.
func TestDLQReplayRefusesUnroutedSource(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	e.produce(forgedDLQRecord(0, "orders", nil), forgedDLQRecord(1, "payments", nil), forgedDLQRecord(2, "orders.dlq", nil))

	out, errOut, code := runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--dry-run", "--no-progress")
	if code != 1 || !strings.Contains(out, "would replay 1, ") || !strings.Contains(out, "refused 2") {
		t.Errorf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress")
	if code != 1 {
		t.Errorf("replay: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "bridge: 2 records refused, 0 malformed") || strings.Contains(errOut, "partition 1 offset 0") {
		t.Errorf("stderr: the error line, and the refused records not listed a second time:\n%s", errOut)
	}
	for _, want := range []string{
		"refused: source topic payments is not routed by this configuration",
		"refused: source topic orders.dlq is a dead-letter topic of this configuration",
	} {
		if strings.Count(out, want) != 1 {
			t.Errorf("summary lists %q %d times, want once:\n%s", want, strings.Count(out, want), out)
		}
	}
	if !strings.Contains(out, "replayed 1 ") || !strings.Contains(out, "refused 2") || !strings.Contains(out, "refused: source topic payments is not routed") {
		t.Errorf("summary:\n%s", out)
	}
	if got := e.records("payments"); len(got) != 0 {
		t.Errorf("%d records written to payments", len(got))
	}
	if got := e.records("orders"); len(got) != 1 {
		t.Errorf("%d records replayed to orders, want 1", len(got))
	}
	if got := len(e.records("orders.dlq")); got != 3 {
		t.Errorf("orders.dlq holds %d records, want the 3 produced", got)
	}
	if c := e.committed(); c != 3 {
		t.Errorf("replay group committed %d offsets, want 3 (refused records are committed past)", c)
	}
	// --to a dead-letter topic, or a name that is not a topic, is a bad
	// flag: nothing is read.
	for _, args := range [][]string{
		{"--to", "orders.dlq"},                            // the DLQ being replayed
		{"--topic", "payments.dlq", "--to", "orders.dlq"}, // the DLQ of a route
		{"--to", "bad\x1b[2Jtopic"},
	} {
		_, errOut, code := runBridge(t, "", append([]string{"dlq", "replay", "-c", e.cfg, "--no-progress", "--group", "other"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "bridge: --to ") {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, errOut)
		}
		noControl(t, fmt.Sprintf("stderr of %q", args), errOut)
	}
}

// TestDLQOutputEscaped: escape sequences in an envelope's class, reason,
// source topic and message are printed escaped by inspect (tables, --show,
// JSON) and replay (summary, report, errors).
func TestDLQOutputEscaped(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	const title, clear = "\x1b]0;pwned\a", "\x1b[2J\x1b[H"
	e.produce(
		forgedDLQRecord(0, "orders", map[string]string{dlq.HeaderClass: "invalid" + title + clear}),
		forgedDLQRecord(1, "orders", map[string]string{dlq.HeaderReason: "schema" + clear + "\u202e"}),
		forgedDLQRecord(2, "orders"+title+clear, nil),
		forgedDLQRecord(3, "orders", map[string]string{dlq.HeaderMessage: "bad" + title + clear + "\u009b2J",
			dlq.HeaderCorrelationID: "c" + clear, "x-evil" + clear: "v" + title}),
	)
	for _, args := range [][]string{
		{"dlq", "inspect", "-c", e.cfg, "--show", "10"},
		{"dlq", "replay", "-c", e.cfg, "--dry-run", "--samples", "5"},
		{"dlq", "replay", "-c", e.cfg},
	} {
		out, errOut, code := runBridge(t, "", args...)
		name := strings.Join(args[:2], " ")
		if code != 1 {
			t.Errorf("%s: exit %d, want 1 (malformed records)\n%s\n%s", name, code, out, errOut)
		}
		noControl(t, name+" stdout", out)
		noControl(t, name+" stderr", errOut)
		if !strings.Contains(out+errOut, `\x1b]0;pwned\a\x1b[2J`) && !strings.Contains(out+errOut, `\x1b]0;pwned\x07\x1b[2J`) {
			t.Errorf("%s: the escaped sequence is not shown:\n%s\n%s", name, out, errOut)
		}
		if strings.Contains(args[1], "replay") && !strings.Contains(out, "3 malformed") && !strings.Contains(out, "malformed 3") {
			t.Errorf("%s: want 3 malformed:\n%s", name, out)
		}
	}
	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "10", "--output", "json")
	var rep struct{ Topics []dlqtool.InspectReport }
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Topics) != 1 || rep.Topics[0].Malformed != 3 {
		t.Fatalf("inspect json: exit %d\n%s\n%s", code, out, errOut)
	}
	noControl(t, "inspect json", out)
	shown := 0
	for _, s := range rep.Topics[0].Shown {
		if s.Envelope == nil {
			continue
		}
		shown++
		// JSON carries the characters themselves (escaped as JSON
		// escapes them), not the text output's escapes.
		if s.Envelope.Message != "bad"+title+clear+"\u009b2J" || s.Envelope.CorrelationID != "c"+clear {
			t.Errorf("envelope shown as %+v", s.Envelope)
		}
	}
	if shown != 1 {
		t.Errorf("%d well-formed records shown, want 1", shown)
	}
	// The "does not exist" error of a destination names it escaped.
	_, errOut, code = runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--to", "nosuch")
	if code == 0 || !strings.Contains(errOut, "destination topic nosuch does not exist") {
		t.Errorf("--to nosuch: exit %d\n%s", code, errOut)
	}
	noControl(t, "--to nosuch stderr", errOut)
}

// TestDLQForgedReplayCount: a replay count of -1 or 99999999999 (any
// producer can write it; the bridge used to copy it from the source
// record) does not make a record malformed: inspect counts it under 0 and
// notes it, replay replays it with count 1.
func TestDLQForgedReplayCount(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	e.produce(forgedDLQRecord(0, "orders", map[string]string{dlq.HeaderReplayCount: "-1"}),
		forgedDLQRecord(1, "orders", map[string]string{dlq.HeaderReplayCount: "99999999999"}))
	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--output", "json")
	var rep struct {
		Topics []struct {
			Malformed          int64
			ByReplayCount      map[int]int64 `json:"by_replay_count"`
			ReplayCountIgnored int64         `json:"replay_count_ignored"`
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Topics) != 1 {
		t.Fatalf("inspect: exit %d\n%s\n%s", code, out, errOut)
	}
	if r := rep.Topics[0]; r.Malformed != 0 || r.ByReplayCount[0] != 2 || r.ReplayCountIgnored != 2 {
		t.Errorf("inspect: %+v", r)
	}
	out, errOut, code = runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "2")
	if code != 0 || !strings.Contains(out, "2 records with a replay count that is not a count") ||
		!strings.Contains(out, `replay count 0 (header "99999999999" ignored: not a count)`) {
		t.Errorf("inspect text: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress", "--output", "json")
	var sum dlqtool.ReplaySummary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Replayed != 2 || sum.Malformed != 0 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	got := e.records("orders")
	if len(got) != 2 {
		t.Fatalf("%d records replayed, want 2", len(got))
	}
	for _, r := range got {
		if v := string(r.Headers[len(r.Headers)-1].Value); r.Headers[len(r.Headers)-1].Key != dlq.HeaderReplayCount || v != "1" {
			t.Errorf("replayed record headers %v", r.Headers)
		}
	}
}

// TestDLQSecurityWarnings: inspect and replay warn, once, on stderr, about
// an unverified TLS connection and about SASL PLAIN over plaintext, as run
// and check do.
func TestDLQSecurityWarnings(t *testing.T) {
	pki, err := tc.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := pki.IssuePEM("kfake", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	const user, pass = "bridge", "Plain-Text-Pass-1"
	cases := []struct {
		name, yaml, warning string
		cluster             []kfake.Opt
		client              []kgo.Opt
	}{
		{"insecure TLS", "  tls: {enabled: true, insecure_skip_verify: true}\n",
			"WARN kafka: kafka.tls.insecure_skip_verify is true: the brokers' certificates are NOT verified",
			[]kfake.Opt{kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})},
			[]kgo.Opt{kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})}}, //nolint:gosec // test broker
		{"SASL PLAIN without TLS", fmt.Sprintf("  sasl: {mechanism: plain, username: %s, password: %s}\n", user, pass),
			"WARN kafka: kafka.sasl.plain without kafka.tls: the credentials cross the network in clear text",
			[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", user, pass)},
			[]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newForgedEnv(t, c.yaml, c.cluster, c.client...)
			e.produce(forgedDLQRecord(0, "orders", nil))
			for _, args := range [][]string{
				{"dlq", "inspect", "-c", e.cfg},
				{"dlq", "replay", "-c", e.cfg, "--no-progress"},
			} {
				out, errOut, code := runBridge(t, "", args...)
				if code != 0 || strings.Count(errOut, c.warning) != 1 {
					t.Errorf("%s: exit %d, want 0 and the warning once on stderr\nstdout:\n%s\nstderr:\n%s", strings.Join(args[:2], " "), code, out, errOut)
				}
				if strings.Contains(out+errOut, pass) {
					t.Error("the password was printed")
				}
			}
			if got := e.records("orders"); len(got) != 1 {
				t.Errorf("%d records replayed, want 1", len(got))
			}
		})
	}
}

// TestDLQReplayKeepsCorrelationID: a dead letter whose source record had
// no correlation header (its id was derived from topic, partition and
// offset, and named in the envelope) is replayed with that id in
// x-correlation-id, the first configured header, so that the bridge, its
// logs and CXone name the same id before and after the replay.
func TestDLQReplayKeepsCorrelationID(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	e.produce(forgedDLQRecord(0, "orders", map[string]string{dlq.HeaderCorrelationID: "6bedf297-derived"}),
		forgedDLQRecord(1, "orders", nil))
	out, errOut, code := runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress", "--output", "json")
	var sum dlqtool.ReplaySummary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Replayed != 2 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	ids := map[string]string{}
	for _, r := range e.records("orders") {
		for _, h := range r.Headers {
			if h.Key == "x-correlation-id" {
				ids[string(r.Key)] = string(h.Value)
			}
		}
	}
	if ids["k-0"] != "6bedf297-derived" {
		t.Errorf("replayed record k-0 has correlation header %q, want the envelope's id", ids["k-0"])
	}
	if _, ok := ids["k-1"]; ok {
		t.Errorf("record k-1, whose envelope names no correlation id, got one: %q", ids["k-1"])
	}
}

// TestDLQDryRunSamples: --samples N shows N records of a dry run, and
// --samples 0 none (it used to mean the default 5).
func TestDLQDryRunSamples(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	for i := range 7 {
		e.produce(forgedDLQRecord(i, "orders", nil))
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 5},
		{[]string{"--samples", "2"}, 2},
		{[]string{"--samples", "0"}, 0},
	} {
		args := append([]string{"dlq", "replay", "-c", e.cfg, "--dry-run", "--no-progress", "--output", "json"}, tc.args...)
		out, errOut, code := runBridge(t, "", args...)
		var sum dlqtool.ReplaySummary
		if code != 0 || json.Unmarshal([]byte(out), &sum) != nil {
			t.Fatalf("%v: exit %d\n%s\n%s", tc.args, code, out, errOut)
		}
		if len(sum.Samples) != tc.want {
			t.Errorf("%v: %d samples, want %d", tc.args, len(sum.Samples), tc.want)
		}
	}
}

// TestDLQHelpExitStatus: each command's help states its own flags and its
// own exit status, and not the other's.
func TestDLQHelpExitStatus(t *testing.T) {
	inspect, _, _ := runBridge(t, "", "dlq", "inspect", "--help")
	replay, _, _ := runBridge(t, "", "dlq", "replay", "--help")
	for _, tc := range []struct {
		name, help, exit string
		flags, not       []string
	}{
		{"inspect", inspect, "Exit status: 0 when every record read was fine;",
			[]string{"--class", "--reason", "--source-topic", "--match", "--since", "--until", "--offsets", "--top", "--show", "--full", "--output", "jsonl", "--replayed", "bridge dry-run"},
			[]string{"--max-replays", "--dry-run", "--rate", "--group", "Exit status: 0 when every record read was replayed"}},
		{"replay", replay, "Exit status: 0 when every record read was replayed or skipped by a filter;",
			[]string{"--class", "--reason", "--source-topic", "--match", "--since", "--until", "--offsets", "--dry-run", "--max-replays", "--group"},
			[]string{"--top", "--full", "--replayed", "jsonl", "Exit status: 0 when every record read was fine"}},
	} {
		if !strings.Contains(tc.help, tc.exit) {
			t.Errorf("%s --help lacks %q:\n%s", tc.name, tc.exit, tc.help)
		}
		for _, f := range tc.flags {
			// Each flag is explained in the text, not only listed.
			if text, _, _ := strings.Cut(tc.help, "\nFlags:"); !strings.Contains(text, f) {
				t.Errorf("%s --help does not explain %s", tc.name, f)
			}
		}
		for _, f := range tc.not {
			if regexp.MustCompile(regexp.QuoteMeta(f) + `\b`).MatchString(tc.help) { // --top, not --topic
				t.Errorf("%s --help mentions %q, the other command's", tc.name, f)
			}
		}
	}
}

// TestDLQReplayExplainsNothingLeft: after a replay, a dry run (or a second
// replay) with the same group says why there is nothing to replay and how
// to read the records again.
func TestDLQReplayExplainsNothingLeft(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	e.produce(forgedDLQRecord(0, "orders", nil), forgedDLQRecord(1, "orders", nil), forgedDLQRecord(2, "orders", nil))
	if out, errOut, code := runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress"); code != 0 || strings.Contains(out, "already past") {
		t.Fatalf("first replay: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code := runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress", "--dry-run")
	want := "nothing to replay: group orders.dlq.replay is already past all 3 offsets of orders.dlq (an earlier replay with this group read them); to read them again, use another --group"
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("dry run after the replay: exit %d, want %q in\n%s\n%s", code, want, out, errOut)
	}
	out, errOut, _ = runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress", "--dry-run", "--group", "fresh", "--output", "json")
	var sum dlqtool.ReplaySummary
	if json.Unmarshal([]byte(out), &sum) != nil || sum.Replayed != 3 || sum.PastByGroup != 0 {
		t.Errorf("another group: %s\n%s", out, errOut)
	}
}

// TestDLQSecondReplayTakesOver: a second replay of the same DLQ with the
// same group fences the first, which stops with a message saying so, not
// Kafka's INVALID_PRODUCER_EPOCH alone; between them every record is
// replayed once.
func TestDLQSecondReplayTakesOver(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	for i := range 30 {
		e.produce(forgedDLQRecord(i, "orders", nil))
	}
	first := tc.StartProcess(t, bridgeBin, []string{"dlq", "replay", "-c", e.cfg, "--rate", "3", "--progress-interval", "100ms"}, nil)
	poll.Until(t, 20*time.Second, "the first replay under way", func() bool { return len(e.records("orders")) >= 2 })
	out, errOut, code := runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress", "--output", "json")
	if code != 0 {
		t.Fatalf("second replay: exit %d\n%s\n%s", code, out, errOut)
	}
	if c := first.Wait(30 * time.Second); c != 1 {
		t.Errorf("first replay exit %d, want 1\n%s", c, tail(first.Logs(), 10))
	}
	if !strings.Contains(first.Logs(), "another replay with transactional id orders.dlq.replay took over") {
		t.Errorf("the first replay does not say why it stopped:\n%s", tail(first.Logs(), 10))
	}
	seen := map[string]int{}
	for _, r := range e.records("orders") {
		seen[string(r.Key)]++
	}
	if len(seen) != 30 {
		t.Errorf("%d distinct records replayed, want 30", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s replayed %d times", k, n)
		}
	}
}

// TestDLQReplayReasonsORed: --reason given twice selects the records of
// either reason in one run (one group), not neither.
func TestDLQReplayReasonsORed(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	e.produce(forgedDLQRecord(0, "orders", map[string]string{dlq.HeaderReason: "schema"}),
		forgedDLQRecord(1, "orders", map[string]string{dlq.HeaderReason: "http_422"}),
		forgedDLQRecord(2, "orders", map[string]string{dlq.HeaderReason: "not_json", dlq.HeaderMessage: "bad"}))
	out, errOut, code := runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--no-progress", "--output", "json", "--reason", "schema", "--reason", "HTTP_4")
	var sum dlqtool.ReplaySummary
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Replayed != 2 || sum.SkippedByFilter != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(sum.Filter, `reason/message contains "schema" or "HTTP_4"`) {
		t.Errorf("filter %q", sum.Filter)
	}
}

// TestInvalidDeadLetterHasIdempotencyKey: `bridge run` dead-letters an
// order that breaks the schema with the idempotency key its event would
// have had (the tutorial's key for the tutorial's order), and inspect
// shows it.
func TestInvalidDeadLetterHasIdempotencyKey(t *testing.T) {
	e := newEnv(t, 1, "")
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bad := strings.Replace(tutorialOrderValue, `"totalAmount":150.75`, `"totalAmount":-5`, 1)
	if bad == tutorialOrderValue {
		t.Fatal("the tutorial order changed shape")
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("ORD-1234567890"), Value: []byte(bad)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p := e.start()
	poll.Until(t, 20*time.Second, "the order dead-lettered", func() bool { _, n := e.lag(); return n == 1 })
	p.Signal(syscall.SIGTERM)
	p.Wait(20 * time.Second)
	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "1", "--output", "json")
	if code != 0 || !strings.Contains(out, `"idempotency_key": "8bb2fd79-b926-5d35-b05d-6c664ce6f258"`) {
		t.Errorf("inspect: exit %d, want the tutorial's key in the envelope\n%s\n%s", code, out, errOut)
	}
}
