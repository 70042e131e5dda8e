package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/schemas"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// Run takes one measurement (see the package comment) and returns it. It
// fails when the bridge did not deliver every event of a phase (a stall of
// [Options.StallTimeout]), exited badly, or when a baseline failed; ctx
// cancels it.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	e, err := newEnv(ctx, &o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	return e.point(ctx, o, true)
}

// env is what the points of a run share: the test server, Kafka, a folder.
type env struct {
	o         *Options
	srv       *cxonetest.Server
	rec       recorder
	kafkaProc *kafkaProcess
	brokers   []string
	admCl     *kgo.Client
	adm       *kadm.Client
	dir       string
	binary    string
	tools     string // the binary serving bench-kafka and bench-wire
	kafka     string
	points    int
	token     string
	reg       *schemaRegistry // with Format avro
}

func newEnv(ctx context.Context, o *Options) (e *env, err error) {
	e = &env{o: o, binary: o.Binary}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.binary == "" {
		if e.binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("bench: find the bridge executable: %w", err)
		}
	}
	// The children run in a temporary folder: a relative path would not
	// resolve there.
	if e.binary, err = filepath.Abs(e.binary); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if o.KafkaBinary != "" {
		if o.KafkaBinary, err = filepath.Abs(o.KafkaBinary); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	e.srv = cxonetest.NewServer(cxonetest.WithRecordLimit(0), cxonetest.WithOnAccepted(e.rec.accepted))
	if o.Format == FormatAvro {
		if e.reg, err = startRegistry(); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	e.tools = o.KafkaBinary
	if e.tools == "" {
		e.tools = e.binary
	}
	if len(o.Brokers) > 0 {
		e.brokers, e.kafka = o.Brokers, "cluster at "+strings.Join(o.Brokers, ",")
	} else {
		if e.kafkaProc, e.brokers, err = startKafka(ctx, e.tools); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		e.kafka = "embedded (kfake, 1 broker, own process)"
	}
	if e.admCl, err = kgo.NewClient(kgo.SeedBrokers(e.brokers...)); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	e.adm = kadm.NewClient(e.admCl)
	if e.dir, err = os.MkdirTemp("", "bridge-bench-"); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	for name, data := range map[string][]byte{schemaFile: schemas.Order, secretFile: []byte(cxonetest.DefaultClientSecret)} {
		if err := os.WriteFile(filepath.Join(e.dir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if e.token, err = fetchToken(tctx, e.srv.URL); err != nil {
		return nil, fmt.Errorf("bench: token for the baselines: %w", err)
	}
	return e, nil
}

func (e *env) close() {
	if e.admCl != nil {
		e.admCl.Close()
	}
	if e.kafkaProc != nil {
		e.kafkaProc.stop()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.reg != nil {
		e.reg.close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// point measures one configuration o on the environment: wire ceiling, then
// the bridge (throughput, and latency when full), then the tutorial loop
// when asked.
func (e *env) point(ctx context.Context, o Options, full bool) (*Result, error) {
	started := time.Now()
	e.points++
	res := &Result{
		Machine: machine(e.kafka), Records: o.Records, Partitions: o.Partitions, Keys: o.Keys,
		MaxInFlight: o.MaxInFlight, Ordering: o.Ordering, LatencyMs: float64(o.Latency) / float64(time.Millisecond),
		Format: o.Format,
	}
	if err := e.srv.SetFaults(cxonetest.Faults{Latency: cxonetest.Duration(o.Latency), LatencyMax: cxonetest.Duration(o.Latency)}); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	topic := fmt.Sprintf("bench-orders-%d-%x", e.points, rand.Uint32())
	if err := e.createTopics(ctx, topic, o.Partitions); err != nil {
		return nil, err
	}
	cfgFile, cfg, err := e.writeConfig(topic, o)
	if err != nil {
		return nil, err
	}
	tr, _, err := pipeline.NewTransformer(cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}

	// The throughput records, and their requests as the bridge builds them.
	gen := newGenerator(o.Keys, e.reg)
	recs := gen.records(topic, tagThroughput, o.Records)
	reqs, err := prebuild(tr, recs)
	if err != nil {
		return nil, err
	}

	// 1. Wire ceiling, measured before and after the bridge so that drift
	// in the machine's load is shared evenly: the bare client in a process
	// of its own, as the bridge is (the ceiling), and in this process (for
	// continuity with earlier reports; see wire.go).
	reqFile := filepath.Join(e.dir, fmt.Sprintf("wire-%d.gob", e.points))
	if err := writeRequests(reqFile, reqs); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.Remove(reqFile)
	eventsURL := e.srv.URL + cxonetest.EventsPath
	var wireCPU float64 // harness CPU per 1,000 requests, mean of the two in-process runs
	wireIn := func(when string) (float64, error) {
		fmt.Fprintf(o.Out, "wire ceiling (%s, in this process): %d requests, %d at a time, server latency %s ...\n", when, len(reqs), o.MaxInFlight, o.Latency)
		e.srv.Reset()
		ph := e.rec.start(tagThroughput, len(reqs), false)
		self0, _ := procCPU(os.Getpid())
		if err := wireLoop(ctx, eventsURL, e.token, len(reqs), reqAt(reqs), o.MaxInFlight); err != nil {
			return 0, fmt.Errorf("bench: wire ceiling: %w", err)
		}
		if self1, ok := procCPU(os.Getpid()); ok {
			wireCPU += (self1 - self0) / float64(len(reqs)) * 1000 / 2
		}
		return ph.rate(), nil
	}
	wireOut := func(when string) (float64, error) {
		fmt.Fprintf(o.Out, "wire ceiling (%s, own process): %d requests, %d at a time, server latency %s ...\n", when, len(reqs), o.MaxInFlight, o.Latency)
		var ph *phase
		e.srv.Reset() // the client's warm-up posts requests already accepted
		profile := ""
		if when == "after" && full {
			profile = o.WireCPUProfile
		}
		var self0 float64
		rep, err := wireProcess(ctx, e.tools, eventsURL, e.token, reqFile, o.MaxInFlight, profile, func() {
			e.srv.Reset()
			ph = e.rec.start(tagThroughput, len(reqs), false)
			self0, _ = procCPU(os.Getpid())
		})
		if err != nil {
			return 0, fmt.Errorf("bench: wire ceiling: %w", err)
		}
		if self1, ok := procCPU(os.Getpid()); ok && self0 > 0 {
			res.WireServerCPUPer1000 += (self1 - self0) / float64(rep.Requests) * 1000 / 2
		}
		res.WireClientCPUPer1000 += rep.CPUSeconds / float64(rep.Requests) * 1000 / 2
		res.WireClientAllocsPerEvent += float64(rep.Allocs) / float64(rep.Requests) / 2
		res.WireClientAllocBytesPerEvent += float64(rep.AllocBytes) / float64(rep.Requests) / 2
		return ph.rate(), nil
	}
	// A short warm-up first: the first run of a fresh process (connection
	// set-up, heap growth) is otherwise measurably slower than later ones.
	e.srv.Reset()
	e.rec.start(tagThroughput, 0, false)
	if err := wireLoop(ctx, eventsURL, e.token, min(len(reqs), 2000), reqAt(reqs), o.MaxInFlight); err != nil {
		return nil, fmt.Errorf("bench: wire warm-up: %w", err)
	}
	if res.WireInProcessBeforeEPS, err = wireIn("before"); err != nil {
		return nil, err
	}
	if res.WireBeforeEPS, err = wireOut("before"); err != nil {
		return nil, err
	}
	if o.Latency > 0 {
		res.LittleBoundEPS = float64(o.MaxInFlight) / o.Latency.Seconds()
	}

	// 2. The bridge, over a backlog produced before it starts (so the
	// producer does not compete with it for the broker). Its first warm
	// answers are its warm-up, as the bare client has one: the window (rate,
	// CPU, allocations, gauges) opens when they are in, so it measures the
	// bridge running, not the process starting (joining the group, dialing
	// max_in_flight connections, growing its heap).
	warm := bridgeWarmUp(o.MaxInFlight, res.WireBeforeEPS)
	res.BridgeWarmUp = warm
	backlog := slices.Clip(recs)
	for i := range warm {
		backlog = append(backlog, gen.record(topic, tagThroughput, len(recs)+i))
	}
	e.srv.Reset()
	if err := produceAll(ctx, e.brokers, backlog); err != nil {
		return nil, err
	}
	ph := e.rec.start(tagThroughput, len(backlog), false)
	fmt.Fprintf(o.Out, "bridge: %d records after a warm-up of %d, max_in_flight %d ...\n", len(recs), warm, o.MaxInFlight)
	var reg0 int64
	if e.reg != nil {
		reg0 = e.reg.requests.Load()
	}
	ch, err := startChild(ctx, e.binary, cfgFile, e.dir, o.Out)
	if err != nil {
		return nil, err
	}
	defer ch.kill()
	if err := ph.waitFor(ctx, int64(warm), o.StallTimeout, ch); err != nil {
		return nil, fmt.Errorf("bench: bridge warm-up: %w", err)
	}
	cpu0, procOK := ch.cpu()
	self0, _ := procCPU(os.Getpid())
	kafka0 := e.kafkaCPU()
	done0, start := ph.count.Load(), time.Now() // the window opens
	measured := int64(len(backlog)) - done0
	var prof <-chan error
	if o.CPUProfile != "" && full {
		// The profile covers most of the phase: its length from the
		// ceiling measured before it (WireCeilingEPS is not known yet).
		secs := max(1, min(10, int(float64(measured)/max(res.WireBeforeEPS, 1)/1.5)))
		prof = ch.profile(ctx, o.CPUProfile, secs)
		res.Profile = o.CPUProfile
	}
	mallocs0, mallocsOK := ch.mallocs(ctx)
	stopGauges := ch.gauges(ctx)
	if err := ph.wait(ctx, o.StallTimeout, ch); err != nil {
		return nil, fmt.Errorf("bench: bridge throughput phase: %w", err)
	}
	var scrapes int
	res.MeanInFlight, res.MeanBuffered, scrapes = stopGauges()
	if mallocs1, ok := ch.mallocs(ctx); ok && mallocsOK && measured > 0 {
		events := float64(measured)
		d := mallocs1.minus(mallocs0)
		res.BridgeAllocsWithScrapes = d.objects / events
		// The harness's gauge samples taken out. (The two counter readings
		// around the phase are scrapes too, each allocating partly before
		// and partly after it reads: together up to one more scrape, left
		// in. Without gauge samples, at 20 ms and one record in flight,
		// the bridge measured 70-72 allocations per event, the bare client
		// 71; with them and this correction, 60-68 (n+1 scrapes taken
		// out: 58-60). At that point, 150 events, one scrape is ±12 per
		// event; from 64 in flight up, less than one.)
		if sc, ok := ch.scrapeCost(ctx, 20); ok {
			res.ScrapeAllocs, res.ScrapeAllocBytes = sc.objects, sc.bytes
			n := float64(scrapes)
			d.objects, d.bytes = max(d.objects-n*sc.objects, 0), max(d.bytes-n*sc.bytes, 0)
		}
		res.BridgeAllocsPerEvent = d.objects / events
		res.BridgeAllocBytesPerEvent = d.bytes / events
	}
	if e.reg != nil {
		res.RegistryRequests = e.reg.requests.Load() - reg0
	}
	if o.HeapProfile != "" && full {
		if err := <-ch.fetchProfile(ctx, o.HeapProfile, "heap"); err != nil {
			return nil, fmt.Errorf("bench: heap profile: %w", err)
		}
	}
	if cpu1, ok := ch.cpu(); ok && procOK && measured > 0 {
		per := func(secs float64) float64 { return secs / float64(measured) * 1000 }
		res.CPUScope = "bridge process, throughput phase (/proc/<pid>/stat)"
		res.CPUSecondsPer1000 = per(cpu1 - cpu0)
		if self1, ok := procCPU(os.Getpid()); ok {
			res.HarnessCPUPer1000 = per(self1 - self0)
		}
		if kafka0 > 0 {
			res.KafkaCPUPer1000 = per(e.kafkaCPU() - kafka0)
		}
	}
	if prof != nil {
		if err := <-prof; err != nil {
			return nil, fmt.Errorf("bench: CPU profile: %w", err)
		}
	}
	res.ThroughputEPS = ph.rateSince(start, done0)
	res.Duplicates = int(e.srv.Stats().Duplicates)
	// The bridge idles meanwhile.
	if res.WireAfterEPS, err = wireOut("after"); err != nil {
		return nil, err
	}
	if res.WireInProcessAfterEPS, err = wireIn("after"); err != nil {
		return nil, err
	}
	res.WireCeilingEPS = (res.WireBeforeEPS + res.WireAfterEPS) / 2
	res.WireSpread = spread(res.WireBeforeEPS, res.WireAfterEPS)
	res.WireInProcessEPS = (res.WireInProcessBeforeEPS + res.WireInProcessAfterEPS) / 2
	res.WireHarnessCPUPer1000 = wireCPU
	if res.WireClientAllocsPerEvent > 0 && res.BridgeAllocsPerEvent > 0 {
		res.RatioAllocs = res.BridgeAllocsPerEvent / res.WireClientAllocsPerEvent
	}

	// 3. Latency at a fixed offered rate below saturation.
	if full && o.LatencyDuration > 0 {
		rate := o.LatencyRate
		if rate == 0 {
			rate = res.ThroughputEPS / 2
		}
		n := int(math.Min(float64(maxIndex), math.Max(100, rate*o.LatencyDuration.Seconds())))
		lrecs := gen.records(topic, tagLatency, n)
		fmt.Fprintf(o.Out, "latency: %d records offered at %.0f/s ...\n", n, rate)
		ph := e.rec.start(tagLatency, n, true)
		if err := producePaced(ctx, e.brokers, lrecs, rate, ph); err != nil {
			return nil, err
		}
		if err := ph.wait(ctx, o.StallTimeout, ch); err != nil {
			return nil, fmt.Errorf("bench: bridge latency phase: %w", err)
		}
		res.OfferedEPS, res.LatencyEvents = rate, n
		res.P50Ms, res.P99Ms, res.P999Ms, res.MaxMs = ph.percentiles()
	}
	res.Duplicates += int(e.srv.Stats().Duplicates)

	rss, err := ch.stop()
	if err != nil {
		return nil, err
	}
	res.RSSPeakMB = float64(rss) / 1e6
	if res.CPUScope == "" {
		res.CPUScope = "bridge process, whole life (getrusage): start-up, latency phase and shutdown included"
		res.CPUSecondsPer1000 = ch.lifeCPU() / float64(len(backlog)+res.LatencyEvents) * 1000
	}
	if res.DLQ, err = e.dlqRecords(ctx, cfg.DLQTopic(topic)); err != nil {
		return nil, err
	}
	if res.WireCeilingEPS > 0 {
		res.RatioWire = res.ThroughputEPS / res.WireCeilingEPS
	}
	if res.WireInProcessEPS > 0 {
		res.RatioWireInProcess = res.ThroughputEPS / res.WireInProcessEPS
	}
	if res.LittleBoundEPS > 0 {
		res.RatioLittle = res.ThroughputEPS / res.LittleBoundEPS
	}

	// 4. The tutorial's approach, on the same server and latency.
	if full && o.Tutorial {
		fmt.Fprintf(o.Out, "tutorial: one request at a time for %s ...\n", o.TutorialDuration)
		e.srv.Reset()
		n, el, err := tutorialLoop(ctx, e.srv.URL+cxonetest.EventsPath, e.token, tr, gen, topic, o.TutorialDuration)
		if err != nil {
			return nil, fmt.Errorf("bench: tutorial loop: %w", err)
		}
		res.TutorialEPS = float64(n) / el.Seconds()
		if res.TutorialEPS > 0 {
			res.RatioTutorial = res.ThroughputEPS / res.TutorialEPS
		}
	}
	res.ElapsedSeconds = time.Since(started).Seconds()
	return res, nil
}

// kafkaCPU is the embedded Kafka process's CPU seconds so far (0 when the
// cluster is external or there is no /proc).
func (e *env) kafkaCPU() float64 {
	if e.kafkaProc == nil {
		return 0
	}
	s, _ := procCPU(e.kafkaProc.cmd.Process.Pid)
	return s
}

func (e *env) createTopics(ctx context.Context, topic string, partitions int) error {
	rf := int16(1)
	if len(e.o.Brokers) > 0 {
		rf = -1 // the cluster's default
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, t := range []string{topic, topic + ".dlq"} {
		r, err := e.adm.CreateTopic(cctx, int32(partitions), rf, nil, t)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return fmt.Errorf("bench: create topic %s: %w", t, err)
		}
	}
	return nil
}

func (e *env) dlqRecords(ctx context.Context, topic string) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ends, err := e.adm.ListEndOffsets(cctx, topic)
	if err != nil {
		return 0, fmt.Errorf("bench: DLQ end offsets: %w", err)
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
	return n, nil
}

// writeConfig writes the configuration of the bridge measured on topic
// ([bridgeConfig]) to the run's folder, and returns the file and the
// configuration completed as the child loads it.
func (e *env) writeConfig(topic string, o Options) (string, *config.Config, error) {
	regURL := ""
	if e.reg != nil {
		regURL = e.reg.srv.URL
	}
	c := bridgeConfig(e.brokers, e.srv.URL, topic, o, regURL)
	cfg, err := config.New(c, e.dir)
	if err != nil {
		return "", nil, fmt.Errorf("bench: the generated configuration: %w", err)
	}
	file := filepath.Join(e.dir, topic+".yaml")
	if err := writeConfigFile(file, c); err != nil {
		return "", nil, err
	}
	return file, cfg, nil
}

// Phase tags: the first byte of a record's correlation id says which phase
// produced it, so a late answer of one phase is never counted in another.
const (
	tagThroughput = 't'
	tagLatency    = 'l'
	tagTutorial   = 'u'
)

// maxIndex bounds the records of one phase (orderId has 9 digits for it).
const maxIndex = 999_999_999

// recorder counts the server's accepted answers of the current phase.
type recorder struct{ cur atomic.Pointer[phase] }

// phase is one counted phase. Indexes are parsed from correlation ids
// "<tag>-<index>".
type phase struct {
	tag         byte
	n           int
	count       atomic.Int64
	first, last atomic.Int64 // unix ns of the first and last accepted answer
	produced    []atomic.Int64
	latency     []atomic.Int64 // ns, per index; 0: not yet accepted
}

func (rc *recorder) start(tag byte, n int, withLatency bool) *phase {
	p := &phase{tag: tag, n: n}
	if withLatency {
		p.produced = make([]atomic.Int64, n)
		p.latency = make([]atomic.Int64, n)
	}
	rc.cur.Store(p)
	return p
}

// accepted is the server's [cxonetest.WithOnAccepted] hook.
func (rc *recorder) accepted(corr string, at time.Time) {
	p := rc.cur.Load()
	if p == nil || len(corr) < 3 || corr[0] != p.tag || corr[1] != '-' {
		return
	}
	i, err := strconv.Atoi(corr[2:])
	if err != nil || i < 0 || i >= p.n {
		return
	}
	ns := at.UnixNano()
	for {
		f := p.first.Load()
		if (f != 0 && f <= ns) || p.first.CompareAndSwap(f, ns) {
			break
		}
	}
	for {
		l := p.last.Load()
		if l >= ns || p.last.CompareAndSwap(l, ns) {
			break
		}
	}
	if p.latency != nil {
		if t := p.produced[i].Load(); t > 0 {
			p.latency[i].Store(max(1, ns-t))
		}
	}
	p.count.Add(1)
}

// rate is the accepted events per second between the first and the last
// accepted answer.
func (p *phase) rate() float64 {
	n := p.count.Load()
	span := time.Duration(p.last.Load() - p.first.Load())
	if n < 2 || span <= 0 {
		return 0
	}
	return float64(n-1) / span.Seconds()
}

// rateSince is the accepted events per second after start, when n0 had
// been accepted, up to the last accepted answer.
func (p *phase) rateSince(start time.Time, n0 int64) float64 {
	n := p.count.Load() - n0
	span := time.Duration(p.last.Load() - start.UnixNano())
	if n < 1 || span <= 0 {
		return 0
	}
	return float64(n) / span.Seconds()
}

// bridgeWarmUp is how many answers of the bridge's throughput phase come
// before its window: a quarter of a second at the bare client's pace
// (ceilingEPS), and at least enough for max_in_flight connections to be
// dialed and used twice; at most the bare client's own warm-up, 2,000.
func bridgeWarmUp(maxInFlight int, ceilingEPS float64) int {
	return min(2000, max(20, 2*maxInFlight, int(ceilingEPS/4)))
}

// wait returns when every event of the phase was accepted; it fails when
// none was for stall, or when the child exited.
func (p *phase) wait(ctx context.Context, stall time.Duration, ch *child) error {
	return p.waitFor(ctx, int64(p.n), stall, ch)
}

// waitFor returns when target events of the phase were accepted, and fails
// as wait does.
func (p *phase) waitFor(ctx context.Context, target int64, stall time.Duration, ch *child) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last, lastAt := int64(-1), time.Now()
	for {
		n := p.count.Load()
		if n >= target {
			return nil
		}
		if n != last {
			last, lastAt = n, time.Now()
		}
		if time.Since(lastAt) > stall {
			return fmt.Errorf("%d of %d events accepted, none for %s; bridge log:\n%s", n, p.n, stall, ch.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch.exited:
			return fmt.Errorf("the bridge exited (%v) with %d of %d events accepted; log:\n%s", ch.waitErr, n, p.n, ch.logTail())
		case <-tick.C:
		}
	}
}

// percentiles returns p50, p99, p999 and max of the phase's latencies in ms.
func (p *phase) percentiles() (p50, p99, p999, mx float64) {
	ls := make([]int64, 0, len(p.latency))
	for i := range p.latency {
		if v := p.latency[i].Load(); v > 0 {
			ls = append(ls, v)
		}
	}
	if len(ls) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(ls)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(ls)))) - 1
		return float64(ls[max(0, min(i, len(ls)-1))]) / 1e6
	}
	return at(0.50), at(0.99), at(0.999), float64(ls[len(ls)-1]) / 1e6
}

// produceAll writes recs to Kafka and waits until all are acknowledged.
func produceAll(ctx context.Context, brokers []string, recs []*kgo.Record) error {
	return produce(ctx, brokers, recs, 5*time.Millisecond, nil)
}

// producePaced writes recs at rate per second, open loop: record i is
// produced at start + i/rate whatever happened to the earlier ones, and
// its produce time is noted in ph for the latency.
func producePaced(ctx context.Context, brokers []string, recs []*kgo.Record, rate float64, ph *phase) error {
	start := time.Now()
	return produce(ctx, brokers, recs, 0, func(i int) error {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > time.Millisecond {
			// Pacing an open-loop load generator, not synchronisation:
			// the next record is due at a fixed instant.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		ph.produced[i].Store(time.Now().UnixNano())
		return nil
	})
}

// produce writes recs with the given linger, calling before(i) (when set)
// ahead of record i, and waits until all are acknowledged.
func produce(ctx context.Context, brokers []string, recs []*kgo.Record, linger time.Duration, before func(i int) error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(linger), kgo.MaxBufferedRecords(len(recs)+1))
	if err != nil {
		return fmt.Errorf("bench: producer: %w", err)
	}
	defer cl.Close()
	var failed atomic.Pointer[error]
	for i, r := range recs {
		if before != nil {
			if err := before(i); err != nil {
				return err
			}
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("bench: produce: %w", err)
	}
	if p := failed.Load(); p != nil {
		return fmt.Errorf("bench: produce: %w", *p)
	}
	return nil
}
