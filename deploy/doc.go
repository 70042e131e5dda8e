// Package deploy holds the deployment artefacts of the bridge: Kubernetes
// manifests (deploy/kubernetes, applied with `kubectl apply -k`) and a
// Grafana dashboard (deploy/grafana). It has no code; its test checks that
// the manifests parse, agree with each other and with the bridge's own
// configuration loader, and reference only metrics the bridge exports.
package deploy
