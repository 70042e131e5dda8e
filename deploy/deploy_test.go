package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxone-bridge/bridge/config"
)

// exportedMetrics are the metrics the bridge exports (README "Operations"),
// with their type. Alert rules and the dashboard may reference only these:
// renaming a metric in the code without updating this list, the rules and
// the dashboard fails this test.
var exportedMetrics = map[string]string{
	"cxone_bridge_build_info":                "gauge",
	"cxone_bridge_records_consumed_total":    "counter",
	"cxone_bridge_events_total":              "counter",
	"cxone_bridge_publish_failures_total":    "counter",
	"cxone_bridge_publish_duration_seconds":  "histogram",
	"cxone_bridge_retries_total":             "counter",
	"cxone_bridge_dlq_writes_total":          "counter",
	"cxone_bridge_dlq_write_failures_total":  "counter",
	"cxone_bridge_breaker_state":             "gauge",
	"cxone_bridge_fetch_paused":              "gauge",
	"cxone_bridge_in_flight_records":         "gauge",
	"cxone_bridge_buffered_records":          "gauge",
	"cxone_bridge_buffered_bytes":            "gauge",
	"cxone_bridge_commits_total":             "counter",
	"cxone_bridge_commit_failures_total":     "counter",
	"cxone_bridge_rebalances_total":          "counter",
	"cxone_bridge_partitions_owned":          "gauge",
	"cxone_bridge_consumer_lag_records":      "gauge",
	"cxone_bridge_oldest_unfinished_seconds": "gauge",
	"cxone_bridge_throttled_partitions":      "gauge",
	"cxone_bridge_data_loss_total":           "counter",
	"cxone_bridge_records_skipped_total":     "counter",
	"cxone_bridge_token_refreshes_total":     "counter",
	"cxone_bridge_ready":                     "gauge",
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
					RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
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
						SecretName string `yaml:"secretName"`
						Items      []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
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
	configArg string
}

// loadBridge lays the ConfigMap's files out in a temporary folder exactly
// as the Deployment mounts them, and loads the bridge.yaml the container's
// --config names with the bridge's own loader: unknown keys, bad values and
// a schema path that does not resolve all fail here.
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

	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	root := t.TempDir()
	s.files = map[string]string{}
	for _, m := range s.container.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
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
				local := filepath.Join(root, inPod)
				if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	key, ok := s.files[s.configArg]
	if !ok {
		t.Fatalf("Deployment: --config %s is not a file mounted from a ConfigMap (mounted: %v)", s.configArg, s.files)
	}
	// No environment at all: ${VAR} references must either have a default
	// or be credentials (relaxed by WithoutCredentials).
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse([]byte(cm.Data[key]), filepath.Join(root, filepath.Dir(s.configArg)),
		config.WithoutCredentials(), config.WithLookupEnv(noEnv))
	if err != nil {
		t.Fatalf("ConfigMap %s does not load:\n%v", key, err)
	}
	s.cfg = cfg
	return s
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

	// Credentials from the Secret the template describes.
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	so := find(t, objs, "Secret", "")
	so.decode(t, &secret)
	refs := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			r := e.ValueFrom.SecretKeyRef
			if r.Name != so.header.Metadata.Name {
				t.Errorf("env %s: Secret %q, the template is %q", e.Name, r.Name, so.header.Metadata.Name)
			}
			if _, ok := secret.StringData[r.Key]; !ok {
				t.Errorf("env %s: key %q is not in the Secret template", e.Name, r.Key)
			}
			refs[e.Name] = true
		}
		if strings.Contains(strings.ToUpper(e.Name), "SECRET") && e.Value != "" {
			t.Errorf("env %s holds a literal value; take it from the Secret", e.Name)
		}
	}
	if !refs["CXONE_CLIENT_ID"] {
		t.Error("env CXONE_CLIENT_ID must come from the Secret")
	}
	if refs["CXONE_CLIENT_SECRET"] {
		t.Error("the client secret must be a mounted file (rotation without restart), not an env var")
	}

	// The client secret file bridge.yaml names is a key of the Secret
	// template, mounted as a directory (a subPath mount never sees a
	// rotated Secret).
	secretFile := s.cfg.CXone.Auth.ClientSecretFile
	if secretFile == "" {
		t.Fatal("bridge.yaml: cxone.auth.client_secret_file is not set")
	}
	found := false
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, secretFile)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("volume %s is mounted with subPath: rotated Secrets never reach it", m.Name)
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			if v.Secret.SecretName != so.header.Metadata.Name {
				t.Errorf("volume %s: Secret %q, the template is %q", v.Name, v.Secret.SecretName, so.header.Metadata.Name)
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					if _, ok := secret.StringData[it.Key]; !ok {
						t.Errorf("volume %s: key %q is not in the Secret template", v.Name, it.Key)
					}
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("cxone.auth.client_secret_file %s is not a key of a mounted Secret volume", secretFile)
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
		"CXoneBridgeNotReady", "CXoneBridgeCommitFailures", "CXoneBridgeMetricsAbsent",
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
