package main

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// newDevCmd is `bridge dev`: an embedded Kafka and the CXone test server on
// the fixed local ports bridge.local.yaml names, so that a newcomer can run
// the bridge for real (`bridge run --config bridge.local.yaml`) with
// nothing else installed.
func newDevCmd() *cobra.Command {
	var kafkaAddr, cxoneAddr string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Serve an embedded Kafka and the CXone test server on local ports, for bridge run --config bridge.local.yaml",
		Long: `dev serves, until stopped, an embedded Kafka (kfake: one broker, topics
orders and orders.dlq of 3 partitions) on --kafka-addr and the strict CXone
test server on --cxone-addr, the addresses bridge.local.yaml names. Then, in
another terminal:

  go run ./cmd/bridge run --config bridge.local.yaml

and produce orders with any Kafka client, for example
  kcat -P -b 127.0.0.1:9092 -t orders
What CXone received: http://127.0.0.1:8089/_sim/events (and /_sim/stats).
The embedded Kafka keeps its records in memory only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, portText, err := net.SplitHostPort(kafkaAddr)
			port, perr := strconv.Atoi(portText)
			if err != nil || perr != nil || (host != "127.0.0.1" && host != "localhost") {
				return &exitError{code: 2, err: fmt.Errorf("--kafka-addr: want 127.0.0.1:PORT, got %q", kafkaAddr)}
			}
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(3, "orders", "orders.dlq"))
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("dev: embedded Kafka on %s: %w", kafkaAddr, err)}
			}
			defer kc.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "dev: Kafka (embedded) on %s, topics orders and orders.dlq\n", kc.ListenAddrs()[0])
			fmt.Fprintf(cmd.OutOrStdout(), "dev: next, in another terminal: go run ./cmd/bridge run --config bridge.local.yaml\n")
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			h := cxonetest.NewHandler(cxonetest.WithRecordLimit(100000), cxonetest.WithLogger(log))
			return serveSim(cmd.Context(), cmd, cxoneAddr, nil, h, log)
		},
	}
	cmd.Flags().StringVar(&kafkaAddr, "kafka-addr", "127.0.0.1:9092", "address of the embedded Kafka")
	cmd.Flags().StringVar(&cxoneAddr, "cxone-addr", "127.0.0.1:8089", "address of the CXone test server")
	return cmd
}
