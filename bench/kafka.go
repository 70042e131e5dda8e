package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// ServeKafka runs an in-process Kafka (kfake, one broker) until ctx is done,
// after writing "kafka <address>" and a newline to w. `bridge bench` runs it
// in a process of its own (the hidden `bench-kafka` command), so that the
// broker gets its fair share of the CPU: in the bench's own process, the
// broker's single request loop would compete with hundreds of test-server
// goroutines and starve the bridge's fetches.
func ServeKafka(ctx context.Context, w io.Writer) error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return fmt.Errorf("start in-process Kafka: %w", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(w, "kafka %s\n", strings.Join(c.ListenAddrs(), ",")); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// kafkaProcess is `bridge bench-kafka` as a child process.
type kafkaProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startKafka(ctx context.Context, binary string) (*kafkaProcess, []string, error) {
	cmd := exec.Command(binary, "bench-kafka")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 8 << 10}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s bench-kafka: %w", binary, err)
	}
	kp := &kafkaProcess{cmd: cmd, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(kp.exited)
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case line := <-lines:
		addrs, ok := strings.CutPrefix(line, "kafka ")
		if !ok || addrs == "" {
			kp.stop()
			return nil, nil, fmt.Errorf("bench-kafka printed %q, not its address", line)
		}
		return kp, strings.Split(addrs, ","), nil
	case <-kp.exited:
		return nil, nil, fmt.Errorf("bench-kafka exited at start: %s", stderr.String())
	case <-t.C:
		kp.stop()
		return nil, nil, fmt.Errorf("bench-kafka did not start within 30s")
	case <-ctx.Done():
		kp.stop()
		return nil, nil, ctx.Err()
	}
}

func (kp *kafkaProcess) stop() {
	_ = kp.cmd.Process.Kill()
	<-kp.exited
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
