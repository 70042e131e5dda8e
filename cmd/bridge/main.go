// Command bridge reads business events from Apache Kafka and publishes them to
// NICE CXone as custom events. See README.md for the commands and guarantees.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cxone-bridge/bridge/termsafe"
)

// exitError carries a process exit status out of a subcommand. Commands
// return it when the status itself is the answer (for example dry-run, which
// exits 1 when any record would go to the DLQ).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// newRootCmd returns the command line; sig is the process's signal handler
// ([notifySignals]), which `run` watches (nil: none).
func newRootCmd(sig *signals) *cobra.Command {
	root := &cobra.Command{
		Use:           "bridge",
		Short:         "Kafka → NICE CXone event bridge",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
	}
	root.SetVersionTemplate("cxone-bridge {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(newVersionCmd())
	root.AddCommand(newDryRunCmd())
	root.AddCommand(newRunCmd(sig))
	root.AddCommand(newSimCmd())
	root.AddCommand(newDevCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newDLQCmd())
	root.AddCommand(newCheckCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newBenchKafkaCmd())
	root.AddCommand(newBenchWireCmd())
	return root
}

func main() {
	// The process's one handler of SIGINT and SIGTERM (signals.go).
	ctx, sig, stop := notifySignals(context.Background())
	defer stop()
	err := newRootCmd(sig).ExecuteContext(ctx)
	if err == nil {
		return
	}
	code := 2
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	// The message can carry outside text (a record's envelope, a broker's
	// or CXone's error): control characters are escaped, line breaks kept.
	fmt.Fprintln(os.Stderr, "bridge:", termsafe.Lines(err.Error()))
	os.Exit(code)
}
