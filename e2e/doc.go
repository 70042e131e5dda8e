// Package e2e is the end-to-end failure suite: the real bridge binary, as
// several processes, against real Apache Kafka (started by the
// testcontainers package) and the CXone test server. It has no code of its
// own outside its tests; run it with `make e2e`.
package e2e
