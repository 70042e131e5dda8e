// Package testcontainers gives Go tests the real things the bridge talks to
// and the bridge itself as a process:
//
//   - StartKafka: a real Apache Kafka cluster (1 or 3 combined
//     broker+controller KRaft nodes), with KillNode (SIGKILL), StopNode
//     (SIGTERM) and StartNode (restart on the same storage), CreateTopic and
//     ConsumerGroupDescribe (Kafka's own ConsumerGroupCommand).
//     With Security(users...), the nodes also serve SASL_SSL (SCRAM over TLS,
//     a throwaway CA: NewPKI) and SASL_PLAINTEXT OAUTHBEARER listeners.
//   - StartCXone: the CXone-compatible test server (sink/cxonetest).
//   - StartApicurio: a real Confluent-compatible schema registry (Apicurio
//     Registry, the built app Maven Central publishes: 3.3.3 on Java 21+,
//     2.6.13 on Java 17), fetched once into $BRIDGE_APICURIO_CACHE (default
//     ~/.cache/cxone-bridge/apicurio-registry-<version>) and run as a JVM on
//     loopback; $BRIDGE_APICURIO_JAVA picks the JVM;
//     BRIDGE_TEST_REGISTRY_SKIP=1 (or no Java, or no mvn with an empty
//     cache) makes it return nil, and callers fall back to srfake.
//   - PythonVenv: a Python virtual environment with pinned packages, built
//     once into $BRIDGE_PYTHON_CACHE (default ~/.cache/cxone-bridge), for
//     the interop tests with Confluent's own Python client.
//   - BuildBridge / StartBridge: the real bridge binary, built once per test
//     binary and run as a process with signals, exit codes, logs and RSS.
//
// # Which Kafka
//
// StartKafka picks, in this order:
//
//  1. BRIDGE_TEST_KAFKA_SKIP=1: the test is skipped (quick local runs).
//  2. BRIDGE_TEST_KAFKA=host:port[,host:port...]: an existing cluster is used
//     as it is. Tests that kill, stop or start nodes are skipped on it, and
//     so are tests that ask for more nodes than it has.
//  3. Otherwise the package starts Kafka itself as local JVM processes on
//     127.0.0.1: this is the path that runs on the project's machines and in
//     CI, which have Java 17 and Maven but no Docker engine. (A Docker-based
//     path through testcontainers-go was left out on purpose: it would add a
//     large dependency tree for a path nothing here runs.)
//
// # Local cluster
//
// The Kafka jars (the version in kafka/pom.xml) live in a cache folder
// outside the repo: $BRIDGE_KAFKA_CACHE, default
// ~/.cache/cxone-bridge/kafka-<version>. kafka/fetch.sh fills it with Maven
// (mvn dependency:copy-dependencies) and marks it complete; when the folder
// is not complete, the first StartKafka of a test binary runs fetch.sh
// itself (serialised across test binaries with flock), so `go test` works on
// a clean machine that has mvn. The JVM is $JAVA_HOME/bin/java, else java on
// PATH; Kafka 4 needs Java 17 or newer.
//
// Each node gets a folder in t.TempDir() with server.properties, log4j2
// config, data (log.dirs), server.log (broker log, INFO, quiet loggers at
// WARN) and stdout.log (JVM output: crashes, GC errors). Ports are picked on
// 127.0.0.1 below the kernel's ephemeral range, so that a client connection
// cannot take a stopped node's port before it restarts. Every JVM runs in its
// own process group with a parent-death signal (SIGKILL): t.Cleanup stops all
// nodes (SIGTERM, SIGKILL after a bound), and if the test binary dies
// without running its cleanups (a -timeout panic, a SIGKILL), the kernel
// kills the JVMs with it.
package testcontainers
