package testcontainers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ConsumerGroupCommand is Kafka's own consumer group tool (kafka-tools jar).
const ConsumerGroupCommand = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"

// RunKafkaTool runs a Kafka command-line tool class from the cached jars
// (java -cp 'CACHE/*' class args...) and returns its stdout. The error, if
// any, carries stdout and stderr. Tools log warnings to stderr only.
func (k *Kafka) RunKafkaTool(tb testing.TB, class string, args ...string) (string, error) {
	tb.Helper()
	k.toolOnce.Do(func() {
		if k.external { // the local path set these in StartKafka
			k.java, k.jars = Java(tb), KafkaJars(tb)
		}
		dir := k.dir
		if dir == "" {
			dir = tb.TempDir()
		}
		k.toolLog = filepath.Join(dir, "tools-log4j2.properties")
		if err := os.WriteFile(k.toolLog, []byte(toolLog4j), 0o644); err != nil {
			k.toolLog = ""
		}
	})
	java, jars := k.java, k.jars
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cds, _ := k.cdsArgs(false)
	jvm := append(append([]string{}, shortJVM...), cds...)
	jvm = append(jvm, "-Djava.awt.headless=true", "-XX:-UsePerfData")
	if k.toolLog != "" {
		jvm = append(jvm, "-Dlog4j2.configurationFile="+k.toolLog)
	}
	jvm = append(jvm, "-cp", filepath.Join(jars, "*"), class)
	cmd := exec.CommandContext(ctx, java, append(jvm, args...)...)
	cmd.SysProcAttr = sysProcAttr()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", class, strings.Join(args, " "), err, tail(stdout.String(), 30), tail(stderr.String(), 30))
	}
	return stdout.String(), nil
}

// ConsumerGroupDescribe runs Kafka's ConsumerGroupCommand --describe for
// group against the cluster and returns its output (a table with GROUP,
// TOPIC, PARTITION, CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST,
// CLIENT-ID). ParseGroupDescribe reads it.
func (k *Kafka) ConsumerGroupDescribe(tb testing.TB, group string) (string, error) {
	tb.Helper()
	out, err := k.RunKafkaTool(tb, ConsumerGroupCommand, "--bootstrap-server", k.Bootstrap(), "--describe", "--group", group)
	if err != nil {
		return out, err
	}
	// The tool reports some failures on stdout with exit code 0.
	if strings.Contains(out, "Error: ") {
		return out, fmt.Errorf("ConsumerGroupCommand --describe --group %s: %s", group, strings.TrimSpace(out))
	}
	return out, nil
}

// ConsumerGroupLag runs ConsumerGroupDescribe and parses its output.
func (k *Kafka) ConsumerGroupLag(tb testing.TB, group string) (GroupLag, error) {
	tb.Helper()
	out, err := k.ConsumerGroupDescribe(tb, group)
	if err != nil {
		return GroupLag{Output: out}, err
	}
	return ParseGroupDescribe(out)
}

// PartitionLag is one row of ConsumerGroupCommand --describe. CurrentOffset
// and Lag are -1 where the tool prints "-" (no committed offset).
type PartitionLag struct {
	Group         string
	Topic         string
	Partition     int32
	CurrentOffset int64
	LogEndOffset  int64
	Lag           int64
	ConsumerID    string // "-" when no member owns the partition
	Host          string
	ClientID      string
}

// GroupLag is the parsed output of ConsumerGroupCommand --describe.
type GroupLag struct {
	Output     string // the tool's output as it was
	Partitions []PartitionLag
}

// Total is the sum of LAG over all partitions; a partition without a
// committed offset (lag "-") counts its whole log end offset.
func (g GroupLag) Total() int64 {
	var n int64
	for _, p := range g.Partitions {
		if p.Lag < 0 {
			n += p.LogEndOffset
		} else {
			n += p.Lag
		}
	}
	return n
}

// ByPartition maps topic → partition → LAG as the tool printed it (-1 for
// "-").
func (g GroupLag) ByPartition() map[string]map[int32]int64 {
	m := map[string]map[int32]int64{}
	for _, p := range g.Partitions {
		if m[p.Topic] == nil {
			m[p.Topic] = map[int32]int64{}
		}
		m[p.Topic][p.Partition] = p.Lag
	}
	return m
}

// ParseGroupDescribe reads the table that ConsumerGroupCommand --describe
// prints. Lines before the header (notices such as "Consumer group 'g' has
// no active members.") are skipped; rows are sorted by topic and partition.
func ParseGroupDescribe(out string) (GroupLag, error) {
	g := GroupLag{Output: out}
	var cols map[string]int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if cols == nil {
			if f[0] == "GROUP" && contains(f, "LAG") {
				cols = map[string]int{}
				for i, name := range f {
					cols[name] = i
				}
				for _, need := range []string{"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"} {
					if _, ok := cols[need]; !ok {
						return g, fmt.Errorf("ConsumerGroupCommand header has no %s: %q", need, line)
					}
				}
			}
			continue
		}
		if f[0] == "GROUP" { // a second table (several groups): same columns
			continue
		}
		if len(f) <= cols["LAG"] {
			return g, fmt.Errorf("ConsumerGroupCommand row too short: %q", line)
		}
		col := func(name string) string {
			if i, ok := cols[name]; ok && i < len(f) {
				return f[i]
			}
			return ""
		}
		part, err := strconv.ParseInt(col("PARTITION"), 10, 32)
		if err != nil {
			return g, fmt.Errorf("ConsumerGroupCommand row %q: partition: %v", line, err)
		}
		num := func(name string) (int64, error) {
			s := col(name)
			if s == "-" {
				return -1, nil
			}
			return strconv.ParseInt(s, 10, 64)
		}
		p := PartitionLag{Group: col("GROUP"), Topic: col("TOPIC"), Partition: int32(part), ConsumerID: col("CONSUMER-ID"), Host: col("HOST"), ClientID: col("CLIENT-ID")}
		var errs []error
		var e error
		p.CurrentOffset, e = num("CURRENT-OFFSET")
		errs = append(errs, e)
		p.LogEndOffset, e = num("LOG-END-OFFSET")
		errs = append(errs, e)
		p.Lag, e = num("LAG")
		errs = append(errs, e)
		if err := errors.Join(errs...); err != nil {
			return g, fmt.Errorf("ConsumerGroupCommand row %q: %v", line, err)
		}
		g.Partitions = append(g.Partitions, p)
	}
	if cols == nil {
		return g, fmt.Errorf("no table in ConsumerGroupCommand output: %q", strings.TrimSpace(out))
	}
	sort.Slice(g.Partitions, func(i, j int) bool {
		a, b := g.Partitions[i], g.Partitions[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return g, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
