package kafkaconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Bounds of a credentials command (token_command, credentials_command).
const (
	commandTimeout   = 30 * time.Second
	maxCommandOutput = 64 << 10
	stderrExcerpt    = 300
)

// runCommand runs argv (no shell) and returns its standard output. It
// fails when the command cannot start, exits non-zero, runs longer than
// commandTimeout or prints more than maxCommandOutput bytes. The error
// names the program and carries an excerpt of its standard error, never
// its standard output (which holds the secret).
func runCommand(ctx context.Context, what string, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// A child the command left behind may hold its output open: stop
	// waiting for it shortly after the command is killed.
	cmd.WaitDelay = time.Second
	var out, errOut limitedBuffer
	out.max, errOut.max = maxCommandOutput+1, stderrExcerpt
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s %s: did not finish in time (at most %s): %w", what, argv[0], commandTimeout, ctx.Err())
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s %s: %v%s", what, argv[0], ee.ProcessState, stderrNote(errOut.Bytes()))
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	case out.Len() > maxCommandOutput:
		return nil, fmt.Errorf("%s %s: output longer than %d bytes", what, argv[0], maxCommandOutput)
	}
	return out.Bytes(), nil
}

func stderrNote(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if s == "" {
		return ""
	}
	if len(b) >= stderrExcerpt { // limitedBuffer cut it
		s += "…"
	}
	return "; stderr: " + s
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest (reporting success, so the child is not killed by EPIPE).
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
