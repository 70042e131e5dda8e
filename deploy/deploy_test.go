package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxone-bridge/bridge/cafile"
	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/sink"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// exportedMetrics are the metrics the bridge exports (README "Operations"),
// with their type. Alert rules and the dashboard may reference only these:
// renaming a metric in the code without updating this list, the rules and
// the dashboard fails this test.
var exportedMetrics = map[string]string{
	"cxone_bridge_build_info":                 "gauge",
	"cxone_bridge_records_consumed_total":     "counter",
	"cxone_bridge_events_total":               "counter",
	"cxone_bridge_publish_failures_total":     "counter",
	"cxone_bridge_publish_duration_seconds":   "histogram",
	"cxone_bridge_rebalance_duration_seconds": "histogram",
	"cxone_bridge_retries_total":              "counter",
	"cxone_bridge_dlq_writes_total":           "counter",
	"cxone_bridge_dlq_write_failures_total":   "counter",
	"cxone_bridge_breaker_state":              "gauge",
	"cxone_bridge_fetch_paused":               "gauge",
	"cxone_bridge_in_flight_records":          "gauge",
	"cxone_bridge_buffered_records":           "gauge",
	"cxone_bridge_buffered_bytes":             "gauge",
	"cxone_bridge_commits_total":              "counter",
	"cxone_bridge_commit_failures_total":      "counter",
	"cxone_bridge_rebalances_total":           "counter",
	"cxone_bridge_partitions_owned":           "gauge",
	"cxone_bridge_consumer_lag_records":       "gauge",
	"cxone_bridge_oldest_unfinished_seconds":  "gauge",
	"cxone_bridge_throttled_partitions":       "gauge",
	"cxone_bridge_data_loss_total":            "counter",
	"cxone_bridge_records_skipped_total":      "counter",
	"cxone_bridge_token_refreshes_total":      "counter",
	"cxone_bridge_ready":                      "gauge",
}

const (
	manifestDir   = "kubernetes"
	dashboardFile = "grafana/cxone-bridge.json"
	// partitionsAnnotation on the ScaledObject records the partition count
	// of the scaled topic, which bounds maxReplicaCount.
	partitionsAnnotation = "cxone-bridge/orders-partitions"
)

// object is one parsed Kubernetes document: its header and its raw node,
// decoded again into a typed struct where a test needs more.
type object struct {
	file     string
	header   header
	node     yaml.Node
	document int
}

type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
}

func (o object) String() string { return o.file + "#" + strconv.Itoa(o.document) }

func (o object) decode(t *testing.T, v any) {
	t.Helper()
	if err := o.node.Decode(v); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
}

// loadManifests parses every YAML document under deploy/kubernetes.
func loadManifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML files under %s", manifestDir)
	}
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: not valid YAML: %v", f, i, err)
			}
			if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
				t.Errorf("%s: document %d is not a mapping", f, i)
				continue
			}
			o := object{file: filepath.Base(f), node: n, document: i}
			o.decode(t, &o.header)
			objs = append(objs, o)
		}
	}
	return objs
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.header.Kind == kind && (name == "" || o.header.Metadata.Name == name) {
			return o
		}
	}
	t.Fatalf("no %s %q under %s", kind, name, manifestDir)
	return object{}
}

func TestManifestsHaveKindAndName(t *testing.T) {
	seen := map[string]string{}
	for _, o := range loadManifests(t) {
		h := o.header
		if h.APIVersion == "" || h.Kind == "" || h.Metadata.Name == "" {
			t.Errorf("%s: apiVersion, kind and metadata.name are required; got %q, %q, %q", o, h.APIVersion, h.Kind, h.Metadata.Name)
			continue
		}
		id := h.Kind + "/" + h.Metadata.Name
		if prev, dup := seen[id]; dup {
			t.Errorf("%s: %s already defined in %s", o, id, prev)
		}
		seen[id] = o.String()
	}
}

// TestKustomization: every manifest is applied except the Secret template,
// which must not be (it would overwrite the real Secret with placeholders).
func TestKustomization(t *testing.T) {
	objs := loadManifests(t)
	var k struct {
		Resources []string `yaml:"resources"`
	}
	find(t, objs, "Kustomization", "").decode(t, &k)
	listed := map[string]bool{}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(manifestDir, r)); err != nil {
			t.Errorf("kustomization.yaml: resource %s: %v", r, err)
		}
		listed[r] = true
	}
	for _, o := range objs {
		switch {
		case o.header.Kind == "Kustomization":
		case o.header.Kind == "Secret":
			if listed[o.file] {
				t.Errorf("kustomization.yaml must not apply the Secret template %s", o.file)
			}
		case !listed[o.file]:
			t.Errorf("%s is not listed in kustomization.yaml resources", o.file)
		}
	}
}

// Typed views of the objects the tests look into.

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type deployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot   *bool  `yaml:"runAsNonRoot"`
					RunAsUser      *int64 `yaml:"runAsUser"`
					RunAsGroup     *int64 `yaml:"runAsGroup"`
					FSGroup        *int64 `yaml:"fsGroup"`
					SeccompProfile struct {
						Type string `yaml:"type"`
					} `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				TopologySpreadConstraints []struct {
					TopologyKey string `yaml:"topologyKey"`
				} `yaml:"topologySpreadConstraints"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name  string `yaml:"name"`
						Items []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
						} `yaml:"items"`
					} `yaml:"configMap"`
					Secret *struct {
						SecretName  string `yaml:"secretName"`
						DefaultMode *int   `yaml:"defaultMode"`
						Items       []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
							Mode *int   `yaml:"mode"`
						} `yaml:"items"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// bridgeSetup is what the Deployment and ConfigMap add up to: the
// configuration as the bridge loads it in the pod.
type bridgeSetup struct {
	deploy    deployment
	container container
	cfg       *config.Config
	files     map[string]string // path in the pod → ConfigMap key
	secrets   map[string]secretFile
	configArg string
}

// secretFile is a file of a Secret volume, as mounted in the pod.
type secretFile struct {
	volume, secret, key, mountPath string
	mode                           int // -1: the kubelet's default
	subPath                        bool
}

// secretTemplates are the Secrets of secret.example.yaml, by name: their
// stringData.
func secretTemplates(t *testing.T, objs []object) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, o := range objs {
		if o.header.Kind != "Secret" {
			continue
		}
		var sec struct {
			StringData map[string]string `yaml:"stringData"`
		}
		o.decode(t, &sec)
		out[o.header.Metadata.Name] = sec.StringData
	}
	return out
}

// loadBridge lays the ConfigMap's files and the Secret templates' files out
// in a temporary folder exactly as the Deployment mounts them, and loads the
// bridge.yaml the container's --config names with the bridge's own loader,
// in the environment the Deployment gives the container: unknown keys, bad
// values, a schema or secret file that does not resolve, and a ${VAR} the
// container does not get all fail here.
func loadBridge(t *testing.T, objs []object) bridgeSetup {
	t.Helper()
	var s bridgeSetup
	find(t, objs, "Deployment", "cxone-bridge").decode(t, &s.deploy)
	pod := s.deploy.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("Deployment: want 1 container, got %d", len(pod.Containers))
	}
	s.container = pod.Containers[0]
	if i := slices.Index(s.container.Args, "--config"); i >= 0 && i+1 < len(s.container.Args) {
		s.configArg = s.container.Args[i+1]
	} else {
		t.Fatalf("Deployment: container args %q have no --config FILE", s.container.Args)
	}
	templates := secretTemplates(t, objs)

	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	root := t.TempDir()
	write := func(inPod, content string) {
		local := filepath.Join(root, inPod)
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.files = map[string]string{}
	s.secrets = map[string]secretFile{}
	for _, m := range s.container.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.ConfigMap != nil:
				find(t, objs, "ConfigMap", v.ConfigMap.Name).decode(t, &cm)
				if len(v.ConfigMap.Items) == 0 {
					t.Fatalf("volume %s: list the ConfigMap's items, so the layout is explicit", v.Name)
				}
				for _, it := range v.ConfigMap.Items {
					content, ok := cm.Data[it.Key]
					if !ok {
						t.Fatalf("volume %s: ConfigMap %s has no key %q", v.Name, v.ConfigMap.Name, it.Key)
					}
					inPod := filepath.Join(m.MountPath, it.Path)
					s.files[inPod] = it.Key
					write(inPod, content)
				}
			case v.Secret != nil:
				data, ok := templates[v.Secret.SecretName]
				if !ok {
					t.Fatalf("volume %s: Secret %q has no template in secret.example.yaml", v.Name, v.Secret.SecretName)
				}
				if len(v.Secret.Items) == 0 {
					t.Fatalf("volume %s: list the Secret's items, so the layout is explicit", v.Name)
				}
				for _, it := range v.Secret.Items {
					content, ok := data[it.Key]
					if !ok {
						t.Fatalf("volume %s: key %q is not in the Secret template %s", v.Name, it.Key, v.Secret.SecretName)
					}
					mode := -1
					if v.Secret.DefaultMode != nil {
						mode = *v.Secret.DefaultMode
					}
					if it.Mode != nil {
						mode = *it.Mode
					}
					inPod := filepath.Join(m.MountPath, it.Path)
					s.secrets[inPod] = secretFile{volume: v.Name, secret: v.Secret.SecretName, key: it.Key, mountPath: m.MountPath, mode: mode, subPath: m.SubPath != ""}
					if _, err := cafile.Parse([]byte(content)); err != nil && (strings.HasSuffix(it.Path, ".crt") || strings.HasSuffix(it.Path, ".pem")) {
						// The template holds a placeholder where the
						// cluster's CA goes; put a CA of the test's there.
						content = testCA(t)
					}
					write(inPod, content)
				}
			}
		}
	}
	key, ok := s.files[s.configArg]
	if !ok {
		t.Fatalf("Deployment: --config %s is not a file mounted from a ConfigMap (mounted: %v)", s.configArg, s.files)
	}
	// The container's environment: literal values, the Secret templates'
	// keys, and a stand-in for the pod's own fields.
	envs := map[string]string{}
	for _, e := range s.container.Env {
		switch {
		case e.ValueFrom == nil:
			envs[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			r := e.ValueFrom.SecretKeyRef
			v, ok := templates[r.Name][r.Key]
			if !ok {
				t.Fatalf("env %s: Secret %q key %q is not in secret.example.yaml", e.Name, r.Name, r.Key)
			}
			envs[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			envs[e.Name] = "cxone-bridge-7d9c8b6f5-x2x4z"
		}
	}
	lookup := func(name string) (string, bool) { v, ok := envs[name]; return v, ok }
	// Absolute paths in bridge.yaml name files under the pod's mounts:
	// point them at the copies under root.
	text := cm.Data[key]
	for _, m := range s.container.VolumeMounts {
		text = strings.ReplaceAll(text, " "+m.MountPath+"/", " "+filepath.Join(root, m.MountPath)+"/")
	}
	cfg, err := config.Parse([]byte(text), filepath.Join(root, filepath.Dir(s.configArg)), config.WithLookupEnv(lookup))
	if err != nil {
		t.Fatalf("ConfigMap %s does not load:\n%v", key, err)
	}
	// The secret and certificate files as the pod sees them (the tests
	// match them with the mounts); routes[].SchemaPath stays the local copy.
	for _, p := range []*string{&cfg.CXone.Auth.ClientSecretFile, &cfg.CXone.Auth.AccessKeySecretFile, &cfg.CXone.CAFile,
		&cfg.Kafka.SASL.PasswordFile, &cfg.Kafka.SASL.TokenFile, &cfg.Kafka.TLS.CAFile, &cfg.Kafka.TLS.CertFile, &cfg.Kafka.TLS.KeyFile} {
		if rest, ok := strings.CutPrefix(*p, root); ok {
			*p = rest
		}
	}
	s.cfg = cfg
	return s
}

// testCA returns a self-signed CA certificate (PEM).
func testCA(t *testing.T) string {
	t.Helper()
	pki, err := tc.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestConfigMapLoadsWithBridgeConfig(t *testing.T) {
	objs := loadManifests(t)
	s := loadBridge(t, objs)
	if len(s.cfg.Routes) == 0 || s.cfg.Routes[0].Schema == "" {
		t.Fatal("the production config should validate orders against a schema")
	}
	// The ConfigMap's copy of the schema must be the shipped one.
	want, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.cfg.Routes[0].SchemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("ConfigMap schema: %v", err)
	}
	if !reflect.DeepEqual(w, g) {
		t.Error("ConfigMap order.json differs from schemas/order.json; copy it again")
	}
}

func TestDeployment(t *testing.T) {
	objs := loadManifests(t)
	s := loadBridge(t, objs)
	spec := s.deploy.Spec
	pod := spec.Template.Spec
	c := s.container

	// Shutdown: the kubelet must not SIGKILL a replica that is still
	// draining, nor one making its final commit (bounded by commit_timeout)
	// and leaving the group after the drain: ask for a margin above both.
	const margin = 5 * time.Second
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if need := s.cfg.Consumer.DrainTimeout + s.cfg.Consumer.CommitTimeout + margin; grace < need {
		t.Errorf("terminationGracePeriodSeconds %s must exceed consumer.drain_timeout %s + consumer.commit_timeout %s by at least %s",
			grace, s.cfg.Consumer.DrainTimeout, s.cfg.Consumer.CommitTimeout, margin)
	}
	if spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", spec.Replicas)
	}
	if !subset(spec.Selector.MatchLabels, spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not match the pod labels %v", spec.Selector.MatchLabels, spec.Template.Metadata.Labels)
	}

	// Probes and metrics on the port metrics.listen says.
	_, port, err := net.SplitHostPort(s.cfg.Metrics.Listen)
	if err != nil {
		t.Fatalf("metrics.listen %q: %v", s.cfg.Metrics.Listen, err)
	}
	var metricsPort int
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if strconv.Itoa(metricsPort) != port {
		t.Errorf("container port \"metrics\" = %d, metrics.listen = %q", metricsPort, s.cfg.Metrics.Listen)
	}
	for name, p := range map[string]*probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != "metrics" {
			t.Errorf("want an httpGet probe on %s, port metrics; got %+v", name, p)
		}
	}

	// Credentials from the Secrets the templates describe (loadBridge
	// checked that every key exists).
	templates := secretTemplates(t, objs)
	refs := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			r := e.ValueFrom.SecretKeyRef
			if _, ok := templates[r.Name]; !ok {
				t.Errorf("env %s: Secret %q has no template", e.Name, r.Name)
			}
			refs[e.Name] = r.Name
		}
		if strings.Contains(strings.ToUpper(e.Name), "SECRET") && e.Value != "" {
			t.Errorf("env %s holds a literal value; take it from the Secret", e.Name)
		}
		if strings.Contains(strings.ToUpper(e.Name), "PASSWORD") {
			t.Errorf("env %s: passwords are mounted files (rotation without restart), not env vars", e.Name)
		}
	}
	if refs["CXONE_CLIENT_ID"] == "" {
		t.Error("env CXONE_CLIENT_ID must come from the Secret")
	}
	if refs["CXONE_CLIENT_SECRET"] != "" {
		t.Error("the client secret must be a mounted file (rotation without restart), not an env var")
	}

	// The client secret file bridge.yaml names is a key of a Secret
	// template, mounted as a directory (a subPath mount never sees a
	// rotated Secret).
	secretFile := s.cfg.CXone.Auth.ClientSecretFile
	if secretFile == "" {
		t.Fatal("bridge.yaml: cxone.auth.client_secret_file is not set")
	}
	if f, ok := s.secrets[secretFile]; !ok {
		t.Errorf("cxone.auth.client_secret_file %s is not a key of a mounted Secret volume", secretFile)
	} else if f.subPath {
		t.Errorf("volume %s is mounted with subPath: rotated Secrets never reach it", f.volume)
	}

	// Resources, from the measurements (README).
	if c.Resources.Requests["memory"] != "64Mi" || c.Resources.Requests["cpu"] != "100m" || c.Resources.Limits["memory"] != "256Mi" {
		t.Errorf("resources = %+v, want requests 64Mi/100m and a 256Mi memory limit", c.Resources)
	}

	// Hardening.
	sc := c.SecurityContext
	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot must be true")
	}
	if pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("pod seccompProfile must be RuntimeDefault")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", sc.Capabilities.Drop)
	}
	var byNode bool
	for _, tsc := range pod.TopologySpreadConstraints {
		byNode = byNode || tsc.TopologyKey == "kubernetes.io/hostname"
	}
	if !byNode {
		t.Error("want a topology spread constraint across nodes (kubernetes.io/hostname)")
	}
}

// TestSelectorsAgree: the Service, PDB and ServiceMonitor find the pods and
// the port.
func TestSelectorsAgree(t *testing.T) {
	objs := loadManifests(t)
	var d deployment
	find(t, objs, "Deployment", "cxone-bridge").decode(t, &d)
	podLabels := d.Spec.Template.Metadata.Labels

	var svc struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	so := find(t, objs, "Service", "")
	so.decode(t, &svc)
	if len(svc.Spec.Selector) == 0 || !subset(svc.Spec.Selector, podLabels) {
		t.Errorf("Service selector %v does not match the pods %v", svc.Spec.Selector, podLabels)
	}
	svcPorts := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = true
		if p.TargetPort != "metrics" {
			t.Errorf("Service port %s targets %q, want the container port \"metrics\"", p.Name, p.TargetPort)
		}
	}

	var pdb struct {
		Spec struct {
			MaxUnavailable int `yaml:"maxUnavailable"`
			Selector       struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	find(t, objs, "PodDisruptionBudget", "").decode(t, &pdb)
	if pdb.Spec.MaxUnavailable != 1 || !subset(pdb.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("PodDisruptionBudget: want maxUnavailable 1 selecting the pods; got %+v", pdb.Spec)
	}

	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	find(t, objs, "ServiceMonitor", "").decode(t, &sm)
	if !subset(sm.Spec.Selector.MatchLabels, so.header.Metadata.Labels) {
		t.Errorf("ServiceMonitor selector %v does not match the Service labels %v", sm.Spec.Selector.MatchLabels, so.header.Metadata.Labels)
	}
	for _, e := range sm.Spec.Endpoints {
		if !svcPorts[e.Port] || e.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint %+v: want a Service port name and /metrics", e)
		}
	}
}

func TestScaledObject(t *testing.T) {
	objs := loadManifests(t)
	s := loadBridge(t, objs)
	var so struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicaCount int `yaml:"minReplicaCount"`
			MaxReplicaCount int `yaml:"maxReplicaCount"`
			Triggers        []struct {
				Type     string            `yaml:"type"`
				Metadata map[string]string `yaml:"metadata"`
			} `yaml:"triggers"`
		} `yaml:"spec"`
	}
	o := find(t, objs, "ScaledObject", "")
	o.decode(t, &so)
	spec := so.Spec
	if spec.ScaleTargetRef.Kind != "Deployment" || spec.ScaleTargetRef.Name != "cxone-bridge" {
		t.Errorf("scaleTargetRef = %+v", spec.ScaleTargetRef)
	}
	partitions, err := strconv.Atoi(o.header.Metadata.Annotations[partitionsAnnotation])
	if err != nil || partitions < 1 {
		t.Fatalf("ScaledObject: annotation %s must give the topic's partition count: %v", partitionsAnnotation, err)
	}
	if spec.MinReplicaCount < 1 || spec.MaxReplicaCount < spec.MinReplicaCount {
		t.Errorf("replica bounds %d..%d", spec.MinReplicaCount, spec.MaxReplicaCount)
	}
	if spec.MaxReplicaCount > partitions {
		t.Errorf("maxReplicaCount %d exceeds the %d partitions: the extra replicas would sit idle", spec.MaxReplicaCount, partitions)
	}
	if len(spec.Triggers) != 1 || spec.Triggers[0].Type != "kafka" {
		t.Fatalf("want one kafka trigger, got %+v", spec.Triggers)
	}
	m := spec.Triggers[0].Metadata
	var routed []string
	for _, r := range s.cfg.Routes {
		routed = append(routed, r.Topic)
	}
	for key, want := range map[string]string{
		"bootstrapServers":   strings.Join(s.cfg.Kafka.Brokers, ","),
		"consumerGroup":      s.cfg.Kafka.GroupID,
		"allowIdleConsumers": "false",
		"offsetResetPolicy":  s.cfg.Kafka.StartOffset,
	} {
		if m[key] != want {
			t.Errorf("kafka trigger %s = %q, want %q (from bridge.yaml)", key, m[key], want)
		}
	}
	if !slices.Contains(routed, m["topic"]) {
		t.Errorf("kafka trigger topic %q is not a routed topic %v", m["topic"], routed)
	}
	if n, err := strconv.Atoi(m["lagThreshold"]); err != nil || n < 1 {
		t.Errorf("kafka trigger lagThreshold %q must be a positive number", m["lagThreshold"])
	}
}

// TestExportedMetricsExist cross-checks exportedMetrics with the source of
// the metrics package, which builds each name from the namespace
// "cxone_bridge" and a string literal ("records_consumed_total"): a metric
// renamed or dropped there fails here, and so the rules and dashboard get
// updated with it. (A textual check, so that this test needs no running
// bridge; the metrics package's own tests scrape the real endpoint.)
func TestExportedMetricsExist(t *testing.T) {
	files, err := filepath.Glob("../metrics/*.go")
	if err != nil {
		t.Fatal(err)
	}
	literals := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil {
					literals[v] = true
				}
			}
			return true
		})
	}
	if len(literals) == 0 {
		t.Fatal("no metrics package source found in ../metrics")
	}
	const namespace = "cxone_bridge"
	if !literals[namespace] {
		t.Fatalf("package metrics no longer uses the namespace %q", namespace)
	}
	for name := range exportedMetrics {
		if suffix := strings.TrimPrefix(name, namespace+"_"); !literals[suffix] && !literals[name] {
			t.Errorf("%s: package metrics defines no such metric (no literal %q)", name, suffix)
		}
	}
}

// metricRef finds metric names of the bridge in a PromQL expression.
var metricRef = regexp.MustCompile(`\bcxone_bridge_[a-z0-9_]+`)

// checkExpr reports names in expr the bridge does not export, and returns
// the exported metrics it references.
func checkExpr(t *testing.T, where, expr string) []string {
	t.Helper()
	var used []string
	for _, name := range metricRef.FindAllString(expr, -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && exportedMetrics[b] == "histogram" {
				base = b
			}
		}
		switch typ, ok := exportedMetrics[base]; {
		case !ok:
			t.Errorf("%s: %s is not a metric the bridge exports", where, name)
		case typ == "histogram" && base == name:
			t.Errorf("%s: %s is a histogram; use its _bucket, _sum or _count series", where, name)
		default:
			used = append(used, base)
		}
	}
	if len(used) == 0 {
		t.Errorf("%s: references no metric of the bridge: %s", where, expr)
	}
	return used
}

func TestPrometheusRule(t *testing.T) {
	var pr struct {
		Spec struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert       string            `yaml:"alert"`
					Expr        string            `yaml:"expr"`
					For         string            `yaml:"for"`
					Labels      map[string]string `yaml:"labels"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	find(t, loadManifests(t), "PrometheusRule", "").decode(t, &pr)
	alerts := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || alerts[r.Alert] {
				t.Errorf("group %s: missing or duplicate alert name %q", g.Name, r.Alert)
			}
			alerts[r.Alert] = true
			checkExpr(t, "alert "+r.Alert, r.Expr)
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: needs a severity label and a summary", r.Alert)
			}
		}
	}
	for _, want := range []string{
		"CXoneBridgeBreakerOpen", "CXoneBridgeDeadLettering", "CXoneBridgeLagGrowing",
		"CXoneBridgeNotReady", "CXoneBridgeCommitFailures", "CXoneBridgeMetricsAbsent", "CXoneBridgeRejoining",
	} {
		if !alerts[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		ID         int               `json:"id"`
		Type       string            `json:"type"`
		Title      string            `json:"title"`
		Datasource map[string]string `json:"datasource"`
		Targets    []target          `json:"targets"`
		GridPos    map[string]int    `json:"gridPos"`
		Panels     []panel           `json:"panels"`
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Query      any    `json:"query"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: not valid JSON: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard needs a uid, a title and a recent schemaVersion; got %q %q %d", d.UID, d.Title, d.SchemaVersion)
	}
	var hasDatasourceVar bool
	used := map[string]bool{}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" && v.Name == "datasource" {
			hasDatasourceVar = true
		}
		if v.Type == "query" {
			for _, m := range checkExpr(t, "variable "+v.Name, v.Definition) {
				used[m] = true
			}
		}
	}
	if !hasDatasourceVar {
		t.Error("dashboard needs a Prometheus datasource variable named datasource")
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
				t.Errorf("panel %q has no gridPos", p.Title)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource["uid"] != "${datasource}" {
				t.Errorf("panel %q: datasource %v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				for _, m := range checkExpr(t, "panel "+strconv.Quote(p.Title), tg.Expr) {
					used[m] = true
				}
			}
		}
	}
	walk(d.Panels)
	// Every exported metric is on the dashboard somewhere.
	for name := range exportedMetrics {
		if !used[name] {
			t.Errorf("dashboard shows nothing of %s", name)
		}
	}
}

// subset reports whether every label of want is in have with the same value.
func subset(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// TestSecretFilesReadableOnlyByTheBridge: every Secret volume's files are
// 0440 (no write, no access for other users), which the bridge's user
// (65532, distroless nonroot) can read only through the pod's fsGroup; and
// every secret or certificate file bridge.yaml names is one of them.
func TestSecretFilesReadableOnlyByTheBridge(t *testing.T) {
	s := loadBridge(t, loadManifests(t))
	sc := s.deploy.Spec.Template.Spec.SecurityContext
	if sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsGroup == nil {
		t.Fatalf("pod securityContext: want runAsUser 65532 (distroless nonroot) and a runAsGroup; got %+v", sc)
	}
	if sc.FSGroup == nil || *sc.FSGroup != *sc.RunAsGroup {
		t.Errorf("pod securityContext.fsGroup must equal runAsGroup (%d), so that the bridge can read its 0440 Secret files; got %v", *sc.RunAsGroup, sc.FSGroup)
	}
	if len(s.secrets) == 0 {
		t.Fatal("no Secret volume mounted")
	}
	for inPod, f := range s.secrets {
		switch {
		case f.mode < 0:
			t.Errorf("%s (volume %s): no defaultMode: the kubelet's default 0644 lets every user of the container read it; want 0440", inPod, f.volume)
		case f.mode != 0o440:
			t.Errorf("%s (volume %s): mode %#o, want 0440 (owner root, group fsGroup, read only)", inPod, f.volume, f.mode)
		}
	}
	for _, m := range s.container.VolumeMounts {
		for _, f := range s.secrets {
			if f.volume == m.Name && !m.ReadOnly {
				t.Errorf("Secret volume %s must be mounted readOnly", m.Name)
			}
		}
	}
	for key, file := range map[string]string{
		"cxone.auth.client_secret_file": s.cfg.CXone.Auth.ClientSecretFile,
		"kafka.sasl.password_file":      s.cfg.Kafka.SASL.PasswordFile,
		"kafka.tls.ca_file":             s.cfg.Kafka.TLS.CAFile,
	} {
		if f, ok := s.secrets[file]; !ok {
			t.Errorf("%s %q is not a file of a mounted Secret volume", key, file)
		} else if f.subPath {
			t.Errorf("%s: volume %s is mounted with subPath: rotated Secrets never reach it", key, f.volume)
		}
	}
}

// TestKafkaSecured: the shipped configuration reaches Kafka over verified
// TLS with SCRAM, the password from a mounted file, and draws no security
// warning from the bridge.
func TestKafkaSecured(t *testing.T) {
	s := loadBridge(t, loadManifests(t))
	k := s.cfg.Kafka
	if !k.TLS.Enabled || k.TLS.InsecureSkipVerify || k.TLS.CAFile == "" {
		t.Errorf("kafka.tls: want enabled, verified against the cluster's CA (ca_file); got %+v", k.TLS)
	}
	if !strings.HasPrefix(k.SASL.Mechanism, "scram-sha-") {
		t.Errorf("kafka.sasl.mechanism = %q, want scram-sha-512 (or -256)", k.SASL.Mechanism)
	}
	if k.SASL.PasswordFile == "" || k.SASL.Password != "" {
		t.Error("kafka.sasl: the password must come from password_file (a mounted Secret, re-read on rotation)")
	}
	if !strings.Contains(configMapText(t), "username: ${KAFKA_USERNAME}") {
		t.Error("kafka.sasl.username should come from the Secret, through ${KAFKA_USERNAME}")
	}
	if w := k.SecurityWarnings(); len(w) > 0 {
		t.Errorf("security warnings: %q", w)
	}
	for _, b := range k.Brokers {
		if _, port, _ := net.SplitHostPort(b); port == "9092" {
			t.Errorf("broker %s: 9092 is Kafka's plaintext port by convention; use the TLS listener", b)
		}
	}
}

// configMapText is the ConfigMap's bridge.yaml as written.
func configMapText(t *testing.T) string {
	t.Helper()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	find(t, loadManifests(t), "ConfigMap", "cxone-bridge-config").decode(t, &cm)
	return cm.Data["bridge.yaml"]
}

// TestKEDAKafkaSecurity: KEDA's Kafka trigger connects as securely as the
// bridge (same SASL mechanism, TLS verified), with credentials of a
// TriggerAuthentication drawn from the Kafka Secret.
func TestKEDAKafkaSecurity(t *testing.T) {
	objs := loadManifests(t)
	s := loadBridge(t, objs)
	var so struct {
		Spec struct {
			Triggers []struct {
				Type              string            `yaml:"type"`
				Metadata          map[string]string `yaml:"metadata"`
				AuthenticationRef struct {
					Name string `yaml:"name"`
					Kind string `yaml:"kind"`
				} `yaml:"authenticationRef"`
			} `yaml:"triggers"`
		} `yaml:"spec"`
	}
	find(t, objs, "ScaledObject", "").decode(t, &so)
	if len(so.Spec.Triggers) != 1 {
		t.Fatalf("want one trigger, got %d", len(so.Spec.Triggers))
	}
	tr := so.Spec.Triggers[0]
	// KEDA's names for the bridge's mechanisms.
	kedaSASL := map[string]string{kafkaconn.SASLPlain: "plaintext", kafkaconn.SASLScram256: "scram_sha256", kafkaconn.SASLScram512: "scram_sha512"}
	if want := kedaSASL[s.cfg.Kafka.SASL.Mechanism]; want == "" || tr.Metadata["sasl"] != want {
		t.Errorf("kafka trigger sasl = %q, want %q (bridge.yaml: %s)", tr.Metadata["sasl"], want, s.cfg.Kafka.SASL.Mechanism)
	}
	if s.cfg.Kafka.TLS.Enabled && tr.Metadata["tls"] != "enable" {
		t.Errorf("kafka trigger tls = %q, want enable (bridge.yaml: kafka.tls.enabled)", tr.Metadata["tls"])
	}
	if v := tr.Metadata["unsafeSsl"]; v != "" && v != "false" {
		t.Errorf("kafka trigger unsafeSsl = %q: certificates must be verified", v)
	}
	if tr.AuthenticationRef.Name == "" || (tr.AuthenticationRef.Kind != "" && tr.AuthenticationRef.Kind != "TriggerAuthentication") {
		t.Fatalf("kafka trigger: want an authenticationRef to a TriggerAuthentication; got %+v", tr.AuthenticationRef)
	}
	var ta struct {
		Spec struct {
			SecretTargetRef []struct {
				Parameter string `yaml:"parameter"`
				Name      string `yaml:"name"`
				Key       string `yaml:"key"`
			} `yaml:"secretTargetRef"`
		} `yaml:"spec"`
	}
	find(t, objs, "TriggerAuthentication", tr.AuthenticationRef.Name).decode(t, &ta)
	templates := secretTemplates(t, objs)
	params := map[string]bool{}
	for _, r := range ta.Spec.SecretTargetRef {
		if _, ok := templates[r.Name][r.Key]; !ok {
			t.Errorf("TriggerAuthentication %s: %s from Secret %q key %q, which secret.example.yaml does not have", tr.AuthenticationRef.Name, r.Parameter, r.Name, r.Key)
		}
		params[r.Parameter] = true
	}
	for _, p := range []string{"username", "password", "ca"} {
		if !params[p] {
			t.Errorf("TriggerAuthentication %s: no %s", tr.AuthenticationRef.Name, p)
		}
	}
}

// TestNetworkPolicy: the pods accept connections on the metrics port only,
// and connect only to DNS, the Kafka brokers (their namespace and port,
// from bridge.yaml) and HTTPS.
func TestNetworkPolicy(t *testing.T) {
	objs := loadManifests(t)
	s := loadBridge(t, objs)
	type port struct {
		Port     any    `yaml:"port"`
		Protocol string `yaml:"protocol"`
	}
	type peer struct {
		NamespaceSelector *struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"namespaceSelector"`
		PodSelector *struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"podSelector"`
		IPBlock *struct {
			CIDR string `yaml:"cidr"`
		} `yaml:"ipBlock"`
	}
	var np struct {
		Spec struct {
			PodSelector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"podSelector"`
			PolicyTypes []string `yaml:"policyTypes"`
			Ingress     []struct {
				From  []peer `yaml:"from"`
				Ports []port `yaml:"ports"`
			} `yaml:"ingress"`
			Egress []struct {
				To    []peer `yaml:"to"`
				Ports []port `yaml:"ports"`
			} `yaml:"egress"`
		} `yaml:"spec"`
	}
	find(t, objs, "NetworkPolicy", "").decode(t, &np)
	spec := np.Spec
	if len(spec.PodSelector.MatchLabels) == 0 || !subset(spec.PodSelector.MatchLabels, s.deploy.Spec.Template.Metadata.Labels) {
		t.Errorf("NetworkPolicy podSelector %v does not select the pods %v", spec.PodSelector.MatchLabels, s.deploy.Spec.Template.Metadata.Labels)
	}
	if !slices.Contains(spec.PolicyTypes, "Ingress") || !slices.Contains(spec.PolicyTypes, "Egress") {
		t.Errorf("policyTypes %v: want both Ingress and Egress", spec.PolicyTypes)
	}
	portName := func(p port) string { return fmt.Sprint(p.Port) }
	tcp := func(p port) bool { return p.Protocol == "" || p.Protocol == "TCP" }

	// Ingress: the metrics port, by name or number, nothing else.
	_, metricsPort, _ := net.SplitHostPort(s.cfg.Metrics.Listen)
	if len(spec.Ingress) == 0 {
		t.Error("no ingress rule: Prometheus could not scrape the pods")
	}
	for i, r := range spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("ingress[%d] has no ports: it admits every port", i)
		}
		for _, p := range r.Ports {
			if n := portName(p); (n != "metrics" && n != metricsPort) || !tcp(p) {
				t.Errorf("ingress[%d] admits port %s/%s; only the metrics port (%s) may be reached", i, n, p.Protocol, metricsPort)
			}
		}
	}

	// Egress: DNS, the brokers, HTTPS; every rule names its ports.
	brokerPorts := map[string]bool{}
	brokerNamespaces := map[string]bool{}
	for _, b := range s.cfg.Kafka.Brokers {
		host, p, _ := net.SplitHostPort(b)
		brokerPorts[p] = true
		// <service>.<namespace>.svc[.cluster.local]
		if parts := strings.Split(host, "."); len(parts) >= 3 && parts[2] == "svc" {
			brokerNamespaces[parts[1]] = true
		}
	}
	var dnsUDP, dnsTCP, https bool
	kafka := map[string]bool{}
	for i, r := range spec.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("egress[%d] has no ports: it allows every port", i)
		}
		for _, p := range r.Ports {
			n := portName(p)
			switch {
			case n == "53" && p.Protocol == "UDP":
				dnsUDP = true
			case n == "53" && tcp(p):
				dnsTCP = true
			case n == "443" && tcp(p):
				https = true
			case brokerPorts[n] && tcp(p):
				for _, to := range r.To {
					if to.NamespaceSelector != nil {
						if ns := to.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; brokerNamespaces[ns] {
							kafka[n] = true
						}
					}
				}
				if len(r.To) == 0 {
					t.Errorf("egress[%d]: the Kafka port %s is open to any destination; select the brokers' namespace", i, n)
				}
			default:
				t.Errorf("egress[%d] allows port %s/%s, which the bridge does not use", i, n, p.Protocol)
			}
		}
	}
	if !dnsUDP || !dnsTCP {
		t.Error("egress: DNS (53/UDP and 53/TCP) must be allowed")
	}
	if !https {
		t.Error("egress: HTTPS (443/TCP) to CXone must be allowed")
	}
	for p := range brokerPorts {
		if len(brokerNamespaces) > 0 && !kafka[p] {
			t.Errorf("egress: no rule allows the brokers' port %s towards their namespace %v", p, brokerNamespaces)
		}
	}
}

// TestCXoneAllowedHosts: the shipped configuration restricts discovered
// endpoints to NICE CXone's hosts, and allows the ones it configures and
// CXone's issuer (so that switching to discovery keeps working).
func TestCXoneAllowedHosts(t *testing.T) {
	s := loadBridge(t, loadManifests(t))
	hosts := s.cfg.CXone.AllowedHosts
	if len(hosts) == 0 {
		t.Fatal("cxone.allowed_hosts is not set: a discovered token endpoint could be on any host")
	}
	allowed := func(h string) bool {
		for _, a := range hosts {
			if h == strings.TrimPrefix(a, ".") || (strings.HasPrefix(a, ".") && strings.HasSuffix(h, a)) {
				return true
			}
		}
		return false
	}
	issuer, err := url.Parse(sink.DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{s.cfg.CXone.BaseURL, s.cfg.CXone.Auth.TokenURL, s.cfg.CXone.Auth.Issuer, issuer.String()} {
		if raw == "" || raw == config.BaseURLDiscover {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !allowed(u.Hostname()) {
			t.Errorf("%s: host %s is not in cxone.allowed_hosts %v", raw, u.Hostname(), hosts)
		}
	}
	for _, evil := range []string{"evil.example", "niceincontact.com.evil.example", "evilniceincontact.com"} {
		if allowed(evil) {
			t.Errorf("cxone.allowed_hosts %v allows %s", hosts, evil)
		}
	}
}

// TestImagesPinnedByDigest: the Deployment's image is set by kustomize to a
// name pinned by digest, and every base image of the Dockerfile is pinned
// by digest.
func TestImagesPinnedByDigest(t *testing.T) {
	objs := loadManifests(t)
	s := loadBridge(t, objs)
	digest := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	var k struct {
		Images []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
			Digest  string `yaml:"digest"`
		} `yaml:"images"`
	}
	find(t, objs, "Kustomization", "").decode(t, &k)
	image := s.container.Image
	if name, d, ok := strings.Cut(image, "@"); ok {
		if !digest.MatchString(d) {
			t.Errorf("Deployment image %s: malformed digest", image)
		}
		image = name
	} else {
		found := false
		for _, im := range k.Images {
			if im.Name != image {
				continue
			}
			found = true
			if !digest.MatchString(im.Digest) {
				t.Errorf("kustomization.yaml images %s: digest %q, want sha256:<64 hex digits>", im.Name, im.Digest)
			}
			if im.NewTag != "" {
				t.Errorf("kustomization.yaml images %s: newTag %q: pin by digest only (a tag can be moved)", im.Name, im.NewTag)
			}
		}
		if !found {
			t.Errorf("Deployment image %q is neither pinned by digest nor replaced by a pinned image in kustomization.yaml", image)
		}
	}
	if strings.Contains(path.Base(image), ":") {
		t.Errorf("Deployment image %s carries a tag: kustomize would keep it beside the digest; give the name alone", s.container.Image)
	}

	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`)
	matches := from.FindAllStringSubmatch(string(data), -1)
	if len(matches) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	stages := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?mi)^FROM\s.*\sAS\s+(\S+)\s*$`).FindAllStringSubmatch(string(data), -1) {
		stages[m[1]] = true
	}
	for _, m := range matches {
		ref := m[1]
		if stages[ref] {
			continue // an earlier stage of this build
		}
		_, d, ok := strings.Cut(ref, "@")
		if !ok || !digest.MatchString(d) {
			t.Errorf("Dockerfile: FROM %s is not pinned by digest (name:tag@sha256:…)", ref)
		}
	}
}
