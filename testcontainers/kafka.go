package testcontainers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bounds of the local cluster's life cycle.
const (
	startTimeout    = 120 * time.Second // all nodes ready (3 JVMs on 2 cores take ~10 s)
	restartTimeout  = 90 * time.Second  // one node back in the cluster
	stopGrace       = 60 * time.Second  // StopNode: SIGTERM to exit (controlled shutdown)
	cleanupGrace    = 3 * time.Second   // t.Cleanup: SIGTERM to SIGKILL
	trainingGrace   = 30 * time.Second  // the same for a node writing the CDS archive
	formatTimeout   = 60 * time.Second  // kafka.tools.StorageTool format
	toolTimeout     = 90 * time.Second  // ConsumerGroupCommand
	defaultHeap     = "512m"
	maxStartAttempt = 3 // a port taken between probe and bind: retry with new ports
)

// EnvKafkaJVMOpts adds JVM flags to every local Kafka node, e.g.
// "-XX:TieredStopAtLevel=1".
const EnvKafkaJVMOpts = "BRIDGE_TEST_KAFKA_JVM_OPTS"

// Option configures StartKafka.
type Option func(*options)

type options struct {
	nodes    int
	heap     string
	extra    map[string]string
	security *security // nil: PLAINTEXT only (security.go)
}

// Nodes sets the number of combined broker+controller nodes (default 1).
func Nodes(n int) Option { return func(o *options) { o.nodes = n } }

// Heap sets each node's maximum JVM heap (-Xmx), default "512m".
func Heap(max string) Option { return func(o *options) { o.heap = max } }

// BrokerConfig adds or overrides a server.properties entry on every node,
// e.g. BrokerConfig("min.insync.replicas", "2").
func BrokerConfig(key, value string) Option {
	return func(o *options) { o.extra[key] = value }
}

// Kafka is a running Kafka cluster for a test: local JVM nodes started by
// StartKafka, or an existing cluster named by BRIDGE_TEST_KAFKA.
//
// The node methods (KillNode, StopNode, StartNode)
// report with FailNow/SkipNow on the handle's test, which is the test that
// called StartKafka: call them from that test's goroutine. A subtest that
// shares the cluster takes its own handle with k.For(t), so that a failure
// fails, and an external cluster skips, the subtest.
type Kafka struct {
	*cluster
	tb testing.TB
}

// cluster is what all handles of one cluster share.
type cluster struct {
	owner     testing.TB // the test that started it (cleanup, logs)
	external  bool
	brokers   []string
	nodes     []*node
	java      string
	jars      string
	dir       string
	clusterID string
	opts      options
	bootTimes string

	admOnce sync.Once
	cl      *kgo.Client
	adm     *kadm.Client

	toolOnce sync.Once
	toolLog  string // log4j2 config for command-line tools
}

// For returns a handle on the same cluster whose node methods report to tb,
// typically a subtest: k.For(t).KillNode(1).
func (k *Kafka) For(tb testing.TB) *Kafka { return &Kafka{cluster: k.cluster, tb: tb} }

type node struct {
	id             int
	dir            string
	props          string
	serverLog      string
	stdoutLog      string
	port, ctrlPort int
	// With Security: the SASL_SSL and SASL_PLAINTEXT (OAUTHBEARER) ports.
	securePort, oauthPort int

	mu       sync.Mutex
	proc     *Process // nil or exited when not running
	training bool     // proc writes the CDS archive when it exits (slower exit)
}

func (n *node) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

func (n *node) running() *Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.Exited() {
		return nil
	}
	return n.proc
}

func envTrue(name string) bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv(name)))
	return v != "" && v != "0" && v != "false" && v != "no"
}

// StartKafka gives the test a Kafka cluster (see the package doc for which)
// and stops it in t.Cleanup. It returns when every node is a live broker.
func StartKafka(tb testing.TB, opts ...Option) *Kafka {
	tb.Helper()
	o := options{nodes: 1, heap: defaultHeap, extra: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.nodes < 1 {
		tb.Fatalf("testcontainers: Nodes(%d): want at least 1", o.nodes)
	}
	if envTrue(EnvKafkaSkip) {
		tb.Skipf("testcontainers: %s is set: skipping a test that needs a real Kafka", EnvKafkaSkip)
	}
	if bs := strings.TrimSpace(os.Getenv(EnvKafka)); bs != "" {
		return useExternal(tb, bs, o)
	}
	k := &Kafka{cluster: &cluster{owner: tb, opts: o, java: Java(tb), jars: KafkaJars(tb), dir: tb.TempDir()}, tb: tb}
	// Registered after TempDir, so it runs before the folder is removed.
	tb.Cleanup(k.shutdown)
	start := time.Now()
	var err error
	for attempt := 1; attempt <= maxStartAttempt; attempt++ {
		if err = k.boot(); err == nil {
			break
		}
		k.killAll()
		if !errors.Is(err, errPortTaken) {
			break
		}
		tb.Logf("testcontainers: %v; retrying with other ports", err)
	}
	if err != nil {
		tb.Fatalf("testcontainers: start Kafka (%d nodes): %v", o.nodes, err)
	}
	tb.Logf("testcontainers: Kafka %d node(s) ready in %s (%s) at %s", o.nodes, time.Since(start).Round(10*time.Millisecond), k.bootTimes, k.Bootstrap())
	return k
}

func useExternal(tb testing.TB, bootstrap string, o options) *Kafka {
	tb.Helper()
	var brokers []string
	for _, b := range strings.Split(bootstrap, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	k := &Kafka{cluster: &cluster{owner: tb, external: true, brokers: brokers, opts: o}, tb: tb}
	tb.Cleanup(k.closeAdmin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var md kadm.Metadata
	var err error
	for {
		if md, err = k.admin().BrokerMetadata(ctx); err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		tb.Fatalf("testcontainers: %s=%s: no metadata: %v", EnvKafka, bootstrap, err)
	}
	if len(md.Brokers) < o.nodes {
		tb.Skipf("testcontainers: %s=%s has %d broker(s); the test needs %d", EnvKafka, bootstrap, len(md.Brokers), o.nodes)
	}
	tb.Logf("testcontainers: using the existing Kafka cluster %s=%s (%d brokers)", EnvKafka, bootstrap, len(md.Brokers))
	return k
}

// Local reports whether the cluster was started by this package (so nodes
// can be killed, stopped and started).
func (k *Kafka) Local() bool { return !k.external }

// RequireLocal skips tb when the cluster is an external one
// (BRIDGE_TEST_KAFKA), whose nodes this package cannot kill or restart.
func (k *Kafka) RequireLocal(tb testing.TB) {
	tb.Helper()
	if k.external {
		tb.Skipf("testcontainers: the test kills or restarts brokers, which it cannot do to the external cluster %s=%s", EnvKafka, strings.Join(k.brokers, ","))
	}
}

// Bootstrap is the cluster's bootstrap servers, comma-separated.
func (k *Kafka) Bootstrap() string { return strings.Join(k.Brokers(), ",") }

// Brokers is the address of every node (running or not), node 0 first.
func (k *Kafka) Brokers() []string {
	if k.external {
		return append([]string(nil), k.brokers...)
	}
	out := make([]string, len(k.nodes))
	for i, n := range k.nodes {
		out[i] = n.addr()
	}
	return out
}

// Nodes is the number of nodes (local clusters) or bootstrap servers
// (external ones).
func (k *Kafka) Nodes() int {
	if k.external {
		return len(k.brokers)
	}
	return len(k.nodes)
}

// NodeRunning reports whether node i's JVM is running.
func (k *Kafka) NodeRunning(i int) bool {
	if k.external || i < 0 || i >= len(k.nodes) {
		return false
	}
	return k.nodes[i].running() != nil
}

// NodeLog returns the last n lines of node i's broker log and JVM output,
// for failure messages.
func (k *Kafka) NodeLog(i, n int) string {
	if k.external || i < 0 || i >= len(k.nodes) {
		return ""
	}
	nd := k.nodes[i]
	return fmt.Sprintf("--- node %d %s:\n%s\n--- node %d %s:\n%s", i, nd.serverLog, tailFile(nd.serverLog, n), i, nd.stdoutLog, tailFile(nd.stdoutLog, 10))
}

// Client returns a new franz-go client for the cluster, closed in t.Cleanup.
func (k *Kafka) Client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Brokers()...)}, opts...)...)
	if err != nil {
		tb.Fatalf("testcontainers: kgo client: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// Admin is an admin client for the cluster, shared by the cluster's helpers
// and closed when the cluster stops.
func (k *Kafka) Admin() *kadm.Client { return k.admin() }

func (k *Kafka) admin() *kadm.Client {
	k.admOnce.Do(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.RetryTimeout(30*time.Second))
		if err != nil {
			panic(err) // only invalid options fail here
		}
		k.cl, k.adm = cl, kadm.NewClient(cl)
	})
	return k.adm
}

func (k *Kafka) closeAdmin() {
	if k.cl != nil {
		k.cl.Close()
	}
}

// ---- booting the local cluster ----

var errPortTaken = errors.New("a listener port was taken before the broker bound it")

func (k *Kafka) boot() error {
	n := k.opts.nodes
	perNode := 2
	if k.opts.security != nil {
		perNode = 4
	}
	ports, err := freePorts(perNode * n)
	if err != nil {
		return err
	}
	if k.clusterID, err = newClusterID(); err != nil {
		return err
	}
	k.nodes = make([]*node, n)
	var voters []string
	for i := range n {
		nd := &node{id: i, port: ports[perNode*i], ctrlPort: ports[perNode*i+1], dir: filepath.Join(k.dir, "node-"+strconv.Itoa(i))}
		if perNode == 4 {
			nd.securePort, nd.oauthPort = ports[perNode*i+2], ports[perNode*i+3]
		}
		nd.props = filepath.Join(nd.dir, "server.properties")
		nd.serverLog = filepath.Join(nd.dir, "server.log")
		nd.stdoutLog = filepath.Join(nd.dir, "stdout.log")
		k.nodes[i] = nd
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, nd.ctrlPort))
	}
	if err := k.setupSecurity(); err != nil {
		return err
	}
	for _, nd := range k.nodes {
		_ = os.RemoveAll(nd.dir) // a previous attempt
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(nd.props, []byte(k.serverProperties(nd, voters)), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(nd.dir, "log4j2.properties"), []byte(nodeLog4j(nd.serverLog)), 0o644); err != nil {
			return err
		}
	}
	// Format every node's storage, in parallel (one short JVM each).
	t0 := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, nd := range k.nodes {
		wg.Go(func() { errs[i] = k.format(nd) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	formatted := time.Since(t0)
	t0 = time.Now()
	for _, nd := range k.nodes {
		if err := k.launch(nd); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, nd := range k.nodes {
		if err := k.waitNode(ctx, nd, n); err != nil {
			return err
		}
	}
	k.bootTimes = fmt.Sprintf("storage formatted in %s, brokers up in %s", formatted.Round(10*time.Millisecond), time.Since(t0).Round(10*time.Millisecond))
	return nil
}

func (k *Kafka) serverProperties(nd *node, voters []string) string {
	n := k.opts.nodes
	rf := min(3, n)
	p := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          strconv.Itoa(nd.id),
		"controller.quorum.voters":                         strings.Join(voters, ","),
		"listeners":                                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", nd.port, nd.ctrlPort),
		"advertised.listeners":                             fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", nd.port),
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.listener.names":                        "CONTROLLER",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"log.dirs":                                         filepath.Join(nd.dir, "data"),
		"auto.create.topics.enable":                        "false",
		"group.initial.rebalance.delay.ms":                 "0",
		"offsets.topic.replication.factor":                 strconv.Itoa(rf),
		"offsets.topic.num.partitions":                     "12",
		"transaction.state.log.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.min.isr":                    strconv.Itoa(min(2, rf)),
		"transaction.state.log.num.partitions":             "12",
		"share.coordinator.state.topic.replication.factor": strconv.Itoa(rf),
		"share.coordinator.state.topic.min.isr":            strconv.Itoa(min(2, rf)),
		// Kafka's default (1) cluster-wide, so a topic with RF 1 or 2 still
		// takes acks=all writes while a node is down; durability tests set
		// min.insync.replicas=2 on their RF 3 topics (CreateTopic configs).
		"min.insync.replicas":            "1",
		"default.replication.factor":     strconv.Itoa(rf),
		"num.partitions":                 "1",
		"unclean.leader.election.enable": "false",
		// Failure detection in seconds, not tens of seconds: a SIGKILLed
		// node is fenced (and leaves every ISR) about 6 s after its death.
		"broker.heartbeat.interval.ms": "500",
		"broker.session.timeout.ms":    "6000",
		"replica.lag.time.max.ms":      "10000",
		// Small machine: few threads per node.
		"num.network.threads":               "2",
		"num.io.threads":                    "4",
		"num.replica.fetchers":              "1",
		"background.threads":                "4",
		"num.recovery.threads.per.data.dir": "1",
		"log.cleaner.threads":               "1",
		"log.cleaner.dedupe.buffer.size":    strconv.Itoa(8 << 20),
		"group.coordinator.threads":         "1",
		"share.coordinator.threads":         "1",
		"controlled.shutdown.enable":        "true",
	}
	k.securityProperties(nd, p)
	for key, v := range k.opts.extra {
		p[key] = v
	}
	keys := make([]string, 0, len(p))
	for key := range p {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Written by the testcontainers package for one test's local Kafka node.\n")
	for _, key := range keys {
		fmt.Fprintf(&b, "%s=%s\n", key, p[key])
	}
	return b.String()
}

// nodeLog4j: the broker log goes to a file (appended across restarts),
// nothing to the console; chatty loggers are at WARN.
func nodeLog4j(file string) string {
	return `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ` + file + `
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
logger.common.name = org.apache.kafka.common
logger.common.level = warn
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
`
}

// toolLog4j: command-line tools log warnings and errors to stderr.
const toolLog4j = `status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
`

// jvmArgs are the flags shared by every Kafka JVM this package starts, but
// for class data sharing (cdsArgs).
func (k *Kafka) jvmArgs(log4jFile string) []string {
	return []string{
		"-Djava.awt.headless=true",
		"-XX:-UsePerfData", // no /tmp/hsperfdata_* files
		"-Dlog4j2.configurationFile=" + log4jFile,
		"-cp", filepath.Join(k.jars, "*"),
	}
}

// shortJVM are flags for short-lived tools: start fast, little memory.
var shortJVM = []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"}

func (k *Kafka) format(nd *node) error {
	ctx, cancel := context.WithTimeout(context.Background(), formatTimeout)
	defer cancel()
	cds, _ := k.cdsArgs(false)
	args := append(append(append([]string{}, shortJVM...), cds...), k.jvmArgs(filepath.Join(nd.dir, "log4j2.properties"))...)
	args = append(args, "kafka.tools.StorageTool", "format", "--cluster-id", k.clusterID, "--config", nd.props)
	args = append(args, k.scramFormatArgs()...)
	cmd := exec.CommandContext(ctx, k.java, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Dir = nd.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("node %d: StorageTool format: %v\n%s\n%s", nd.id, err, out, tailFile(nd.serverLog, 20))
	}
	return nil
}

// launch starts node nd's JVM.
func (k *Kafka) launch(nd *node) error {
	out, err := os.OpenFile(nd.stdoutLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{
		"-Xms128m", "-Xmx" + k.opts.heap,
		"-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.io.tmpdir=" + nd.dir,
		"-Dkafka.logs.dir=" + nd.dir,
	}
	cds, train := k.cdsArgs(true)
	args = append(args, cds...)
	args = append(args, strings.Fields(os.Getenv(EnvKafkaJVMOpts))...)
	args = append(args, k.jvmArgs(filepath.Join(nd.dir, "log4j2.properties"))...)
	args = append(args, "kafka.Kafka", nd.props)
	cmd := exec.Command(k.java, args...)
	cmd.Dir = nd.dir
	var onExit func(int)
	if train != "" {
		onExit = func(code int) { k.cdsAdopt(train, code) }
	}
	p, err := startCmd(k.owner, fmt.Sprintf("kafka node %d", nd.id), cmd, out, onExit)
	out.Close() // the child has its own descriptor
	if err != nil {
		if train != "" {
			_ = os.Remove(train)
		}
		return fmt.Errorf("node %d: start java: %v", nd.id, err)
	}
	nd.mu.Lock()
	nd.proc, nd.training = p, train != ""
	nd.mu.Unlock()
	return nil
}

// waitNode waits until node nd answers a metadata request on its own
// listener with itself among the live brokers (it is registered and
// unfenced), and, when wantBrokers > 0, with that many live brokers.
func (k *Kafka) waitNode(ctx context.Context, nd *node, wantBrokers int) error {
	p := nd.running()
	if p == nil {
		return fmt.Errorf("node %d is not running", nd.id)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nd.addr()), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	last := "no answer yet"
	for {
		select {
		case <-p.Done():
			log := tailFile(nd.serverLog, 40)
			if strings.Contains(log, "Address already in use") || strings.Contains(tailFile(nd.stdoutLog, 40), "Address already in use") {
				return fmt.Errorf("node %d: %w", nd.id, errPortTaken)
			}
			return fmt.Errorf("node %d exited with code %d before it was ready\n%s", nd.id, p.ExitCode(), k.NodeLog(nd.id, 40))
		case <-ctx.Done():
			return fmt.Errorf("node %d not ready (%s): %v\n%s", nd.id, last, ctx.Err(), k.NodeLog(nd.id, 40))
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{}
		resp, err := cl.SeedBrokers()[0].Request(rctx, req)
		cancel()
		if err == nil {
			md := resp.(*kmsg.MetadataResponse)
			self := false
			for _, b := range md.Brokers {
				self = self || int(b.NodeID) == nd.id
			}
			if self && (wantBrokers == 0 || len(md.Brokers) == wantBrokers) {
				return nil
			}
			last = fmt.Sprintf("%d live broker(s), self listed: %v", len(md.Brokers), self)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
		case <-p.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts picks n distinct free TCP ports on 127.0.0.1 below the kernel's
// ephemeral range (so outgoing connections never take a stopped node's
// port), falling back to kernel-chosen ports when that range is too small.
func freePorts(n int) ([]int, error) {
	lo, hi := 20000, 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if eph, err := strconv.Atoi(f[0]); err == nil {
				hi = eph - 1
			}
		}
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n && tries < 1000 && hi-lo > 1000; tries++ {
		p := lo + mrand.IntN(hi-lo)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		ports = append(ports, p)
	}
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newClusterID is a random Kafka UUID (16 bytes, URL-safe base64 without
// padding) that does not start with '-', as Kafka's own Uuid.randomUuid.
func newClusterID() (string, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		id := base64.RawURLEncoding.EncodeToString(b[:])
		if !strings.HasPrefix(id, "-") {
			return id, nil
		}
	}
}

// ---- node control ----

func (k *Kafka) localNode(verb string, i int) *node {
	k.tb.Helper()
	if k.external {
		k.tb.Skipf("testcontainers: cannot %s node %d of the external cluster %s=%s: this test needs the local cluster", verb, i, EnvKafka, strings.Join(k.brokers, ","))
	}
	if i < 0 || i >= len(k.nodes) {
		k.tb.Fatalf("testcontainers: %s node %d: the cluster has nodes 0..%d", verb, i, len(k.nodes)-1)
	}
	return k.nodes[i]
}

// KillNode SIGKILLs node i's JVM (its process group) and waits until it is
// gone. The node's storage stays for StartNode.
func (k *Kafka) KillNode(i int) {
	k.tb.Helper()
	nd := k.localNode("kill", i)
	p := nd.running()
	if p == nil {
		k.tb.Fatalf("testcontainers: kill node %d: it is not running", i)
	}
	p.Kill()
	k.tb.Logf("testcontainers: node %d killed (SIGKILL)", i)
}

// StopNode sends SIGTERM to node i (a controlled shutdown) and waits for
// the JVM to exit; after 60 s it is SIGKILLed and the test fails.
func (k *Kafka) StopNode(i int) {
	k.tb.Helper()
	nd := k.localNode("stop", i)
	p := nd.running()
	if p == nil {
		k.tb.Fatalf("testcontainers: stop node %d: it is not running", i)
	}
	start := time.Now()
	if !p.stop(stopGrace) {
		k.tb.Fatalf("testcontainers: node %d did not exit within %s of SIGTERM; killed\n%s", i, stopGrace, k.NodeLog(i, 30))
	}
	k.tb.Logf("testcontainers: node %d stopped (SIGTERM) in %s, exit code %d", i, time.Since(start).Round(10*time.Millisecond), p.ExitCode())
}

// StartNode starts a stopped or killed node i again on the same storage and
// ports, and waits until it is a live broker of the cluster again. (Whether
// its replicas are back in sync is topic-level: see WaitInSync.)
func (k *Kafka) StartNode(i int) {
	k.tb.Helper()
	nd := k.localNode("start", i)
	if nd.running() != nil {
		k.tb.Fatalf("testcontainers: start node %d: it is running", i)
	}
	start := time.Now()
	if err := k.launch(nd); err != nil {
		k.tb.Fatalf("testcontainers: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), restartTimeout)
	defer cancel()
	if err := k.waitNode(ctx, nd, 0); err != nil {
		k.tb.Fatalf("testcontainers: restart node %d: %v", i, err)
	}
	k.tb.Logf("testcontainers: node %d back in the cluster in %s", i, time.Since(start).Round(10*time.Millisecond))
}

func (k *Kafka) killAll() {
	var wg sync.WaitGroup
	for _, nd := range k.nodes {
		if p := nd.running(); p != nil {
			wg.Go(p.Kill)
		}
	}
	wg.Wait()
}

// shutdown stops every node: SIGTERM to all, SIGKILL to what is left after
// cleanupGrace. On a failed test it logs the tail of every node's log first
// (the logs live in t.TempDir and are removed after).
func (k *Kafka) shutdown() {
	k.closeAdmin()
	if k.owner.Failed() {
		for i := range k.nodes {
			k.owner.Logf("testcontainers: node %d log tail:\n%s", i, k.NodeLog(i, 25))
		}
	}
	start := time.Now()
	// A node writing the CDS archive goes first and alone: with the others
	// still up, its controlled shutdown completes and the JVM exits
	// normally, which is when the archive is written.
	for _, nd := range k.nodes {
		nd.mu.Lock()
		training := nd.training
		nd.mu.Unlock()
		if p := nd.running(); p != nil && training {
			p.stop(trainingGrace)
		}
	}
	// The rest together. The last nodes of a KRaft quorum cannot finish a
	// controlled shutdown (no controller majority left), so they are
	// SIGKILLed after cleanupGrace; their data is thrown away anyway.
	var wg sync.WaitGroup
	for _, nd := range k.nodes {
		if p := nd.running(); p != nil {
			wg.Go(func() { p.stop(cleanupGrace) })
		}
	}
	wg.Wait()
	k.owner.Logf("testcontainers: Kafka stopped in %s", time.Since(start).Round(10*time.Millisecond))
}

// ---- topics ----

// CreateTopic creates a topic through kadm and waits until every partition
// has a leader and a full ISR. configs are topic configs, e.g.
// {"min.insync.replicas": ptr("2")}; nil for none.
func (k *Kafka) CreateTopic(tb testing.TB, name string, partitions int32, replicationFactor int16, configs map[string]*string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := k.admin().CreateTopic(ctx, partitions, replicationFactor, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		tb.Fatalf("testcontainers: create topic %s (%d partitions, RF %d): %v", name, partitions, replicationFactor, err)
	}
	if err := k.waitInSync(ctx, name, int(partitions)); err != nil {
		tb.Fatalf("testcontainers: topic %s: %v", name, err)
	}
}

// WaitInSync waits up to timeout until every partition of topic has a
// leader and all its replicas in the ISR (after StartNode: the node caught
// up again).
func (k *Kafka) WaitInSync(tb testing.TB, topic string, timeout time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := k.waitInSync(ctx, topic, 0); err != nil {
		tb.Fatalf("testcontainers: topic %s: %v", topic, err)
	}
}

func (k *Kafka) waitInSync(ctx context.Context, topic string, wantPartitions int) error {
	last := "no metadata yet"
	for {
		md, err := k.admin().Metadata(ctx, topic)
		if err == nil {
			td, ok := md.Topics[topic]
			switch {
			case !ok:
				last = "not in metadata"
			case td.Err != nil:
				last = td.Err.Error()
			case len(td.Partitions) == 0 || (wantPartitions > 0 && len(td.Partitions) != wantPartitions):
				last = fmt.Sprintf("%d partitions in metadata", len(td.Partitions))
			default:
				last = ""
				for _, p := range td.Partitions.Sorted() {
					if p.Err != nil || p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
						last = fmt.Sprintf("partition %d: leader %d, replicas %v, ISR %v, err %v", p.Partition, p.Leader, p.Replicas, p.ISR, p.Err)
						break
					}
				}
				if last == "" {
					return nil
				}
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not in sync (%s): %v", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// UniqueName is prefix plus a random suffix, for topic and group names that
// do not collide on a shared (external) cluster.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%x", prefix, b)
}

// Ptr returns a pointer to s, for CreateTopic configs.
func Ptr(s string) *string { return &s }
