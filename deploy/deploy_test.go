package deploy

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

// exposed returns every metric name a fibergate exposes, as serve and
// egress build their registries, after one event of each kind so that every labelled metric
// has a series. Histograms add their _bucket, _sum and _count names.
func exposed(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg, metrics.Build{Version: "v", Revision: "r", GoVersion: "go"}, metrics.Gauges{
		SymmetricKeys:    func() int { return 1 },
		NonceEntries:     func() int { return 1 },
		NonceBytes:       func() int64 { return 1 },
		NonceBudgetBytes: 2,
		NonceFloor:       func() int64 { return 1 },
		RedisEvicting:    func() int { return 0 },
	})
	m.InitResults([]string{"unknown_validator"}, []string{"upstream_timeout"}, []string{"default"})
	m.Handshake(metrics.ResultOK, time.Millisecond)
	m.Request("default", metrics.ResultOK, time.Millisecond)
	m.Upstream("default", time.Millisecond)
	m.Stream("complete")
	m.ValidatorsLoaded("static", 1, time.Now(), nil)
	m.ChainLoaded(1, time.Now(), 1)
	m.ChainRefreshFailed("timeout")
	m.ChainStale(false)
	m.SnapshotSaved(time.Now(), nil)
	m.Panic()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// And every metric `fibergate egress` exposes, on a registry of its own
	// as egress builds it.
	ereg := prometheus.NewRegistry()
	em := metrics.NewEgress(ereg, metrics.Build{Version: "v", Revision: "r", GoVersion: "go"}, metrics.EgressGauges{
		Keys:     func() int { return 1 },
		InFlight: func() int { return 1 },
	})
	em.Init([]string{"encrypted"}, []string{"miner_unreachable"}, []string{"ok"}, []string{"new"}, []string{"complete"}, []string{"static"})
	em.Request("encrypted", metrics.ResultOK, time.Millisecond)
	em.Miner("encrypted", time.Millisecond)
	em.Handshake("ok", "new", time.Millisecond)
	em.Stream("complete")
	em.SourceLoaded("static", 1, nil)
	em.Backoff()
	em.SnapshotSaved(time.Now(), nil)
	em.Panic()
	emfs, err := ereg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	mfs = append(mfs, emfs...)
	names := map[string]dto.MetricType{}
	for _, mf := range mfs {
		names[mf.GetName()] = mf.GetType()
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = mf.GetType()
			}
		}
	}
	return names
}

// metricRef finds the metric names in a PromQL expression. Every name
// fibergate exposes starts with one of these prefixes.
var metricRef = regexp.MustCompile(`\b(?:fibergate|go|process)_[a-z0-9_]+\b`)

// checkRefs reports every metric name in expr that fibergate does not
// expose.
func checkRefs(t *testing.T, where, expr string, names map[string]dto.MetricType) {
	t.Helper()
	for _, n := range metricRef.FindAllString(expr, -1) {
		if _, ok := names[n]; !ok {
			t.Errorf("%s: %s is not a metric fibergate exposes (expr %s)", where, n, expr)
		}
	}
}

// dashboard is the part of a Grafana dashboard these tests read.
type dashboard struct {
	Title  string
	UID    string
	Panels []struct {
		ID      int
		Type    string
		Title   string
		Targets []struct {
			Expr  string
			RefID string
		}
	}
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "fibergate-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return d
}

// TestDashboard checks that the dashboard parses, that its queries name
// only metrics fibergate exposes, and that it shows what an operator needs.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both set", d.UID, d.Title)
	}
	names := exposed(t)
	ids := map[int]bool{}
	var all strings.Builder
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkRefs(t, "panel "+strconv.Quote(p.Title), tg.Expr, names)
			all.WriteString(tg.Expr + "\n")
		}
	}
	for _, want := range []string{
		"fibergate_handshakes_total", "fibergate_handshake_duration_seconds_bucket",
		"fibergate_requests_total", "fibergate_request_duration_seconds_bucket",
		"fibergate_upstream_duration_seconds_bucket", "fibergate_upstream_streams_total",
		"fibergate_keystore_keys", "fibergate_nonce_cache_entries",
		"fibergate_validators_loaded", "fibergate_validators_last_refresh_timestamp_seconds",
		"fibergate_validators_chain_stale", "fibergate_keystore_snapshot_saves_total",
		"fibergate_keystore_snapshot_last_success_timestamp_seconds",
		"fibergate_handler_panics_total", "fibergate_build_info",
		"fibergate_nonce_cache_bytes", "fibergate_nonce_cache_budget_bytes",
		"fibergate_egress_requests_total", "fibergate_egress_handshakes_total",
		"fibergate_egress_request_duration_seconds_bucket", "fibergate_egress_miner_duration_seconds_bucket",
		"fibergate_egress_handshake_duration_seconds_bucket", "fibergate_egress_keys", "fibergate_egress_in_flight",
		"fibergate_egress_miners", "fibergate_egress_streams_total", "fibergate_egress_backoffs_total",
		"fibergate_egress_source_reloads_total", "fibergate_egress_handler_panics_total",
		"fibergate_egress_snapshot_saves_total", "fibergate_egress_snapshot_last_success_timestamp_seconds",
	} {
		if !slices.Contains(metricRef.FindAllString(all.String(), -1), want) {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// TestDashboardQueriesParse has promtool parse every dashboard query, with
// Grafana's variables replaced by values Prometheus accepts.
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH (Debian package prometheus; .ci/run installs it)")
	}
	d := loadDashboard(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".+", "$instance", ".+")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			rules = append(rules, rule{Record: "dashboard:panel" + strconv.Itoa(p.ID) + ":" + strings.ToLower(tg.RefID), Expr: vars.Replace(tg.Expr)})
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}

// alertFile is the part of a Prometheus rule file these tests read.
type alertFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

// TestAlertRules checks that every alert names only metrics fibergate
// exposes, has a severity, a summary and a description, and that the
// alerts operations rely on are there. promtool checks the syntax and
// alerts_test.yml when they fire.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f alertFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	names := exposed(t)
	names["up"] = dto.MetricType_GAUGE // Prometheus's own, per target
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			checkRefs(t, "alert "+r.Alert, r.Expr, names)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want a summary and a description", r.Alert)
			}
		}
	}
	for _, want := range []string{
		"FibergateHandshakeRefusalsRising", "FibergateUpstreamErrors", "FibergateNoValidators",
		"FibergateSnapshotSavesFailing", "FibergateSnapshotTooOld", "FibergateHandlerPanics",
		"FibergateReplayGuardFilling", "FibergateReplayGuardFull", "FibergateEgressHandshakeFailuresRising",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yml has no %s", want)
		}
	}
}

// TestREADMEListsEveryMetric keeps the reference's metrics page
// (docs/metrics.md, linked from the README) complete.
func TestREADMEListsEveryMetric(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for name, typ := range exposed(t) {
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		if typ == dto.MetricType_HISTOGRAM && (strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")) {
			continue
		}
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("docs/metrics.md does not list `%s`", name)
		}
	}
}

// k8sObject is the part of a Kubernetes object these tests read.
type k8sObject struct {
	Kind     string
	Metadata struct{ Name string }
	Data     map[string]string
	Spec     struct {
		// A Service's.
		Type                  string
		ExternalTrafficPolicy string `yaml:"externalTrafficPolicy"`
		Ports                 []struct {
			Name       string
			Port       int
			TargetPort string `yaml:"targetPort"`
			NodePort   int    `yaml:"nodePort"`
		}

		Template struct {
			Metadata struct{ Annotations map[string]string }
			Spec     struct {
				SecurityContext struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []container
				Volumes    []struct {
					Name      string
					ConfigMap *struct{ Name string } `yaml:"configMap"`
				}
			}
		}
	}
}

type probe struct {
	HTTPGet struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

type container struct {
	Name  string
	Args  []string
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	Env []struct {
		Name      string
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string
		Limits   map[string]string
	}
}

func (c container) port(name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// TestKubernetesSidecar loads the example's config as fibergate would and
// checks the pod around it agrees: ports, probes, the storage key's
// variable, the config mount and a non-root, resource-bounded container.
func TestKubernetesSidecar(t *testing.T) {
	f, err := os.Open(filepath.Join("kubernetes", "fibergate-sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs := map[string]k8sObject{}
	dec := yaml.NewDecoder(f)
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("fibergate-sidecar.yaml: %v", err)
		}
		objs[o.Kind] = o
	}
	cm, dep := objs["ConfigMap"], objs["Deployment"]
	svc, ok := objs["Service"]
	if !ok {
		t.Error("no Service for validators to reach fibergate")
	}
	// Validators dial the address posted to the chain from outside the
	// cluster, and the per-address limits need their own address.
	if svc.Spec.Type != "NodePort" && svc.Spec.Type != "LoadBalancer" {
		t.Errorf("Service type %q: validators outside the cluster cannot reach it; want NodePort or LoadBalancer", svc.Spec.Type)
	}
	if svc.Spec.ExternalTrafficPolicy != "Local" {
		t.Errorf("Service externalTrafficPolicy %q: want Local, which keeps the validator's address", svc.Spec.ExternalTrafficPolicy)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "http" || (svc.Spec.Type == "NodePort" && svc.Spec.Ports[0].NodePort == 0) {
		t.Errorf("Service ports %+v: want fibergate's http port alone, with a fixed nodePort to post", svc.Spec.Ports)
	}
	pod := dep.Spec.Template.Spec
	var fg *container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "fibergate" {
			fg = &pod.Containers[i]
		}
	}
	if fg == nil || len(pod.Containers) < 2 {
		t.Fatalf("want an app container and a fibergate container, got %d containers", len(pod.Containers))
	}

	// The config, as fibergate reads it, with the storage key from the
	// variable the pod sets.
	keyEnv := ""
	for _, e := range fg.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			keyEnv = e.Name
		}
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, []string{keyEnv + "=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml does not load: %v", err)
	}
	if cfg.Keystore.PersistFile == "" || cfg.Keystore.StorageKeyEnv != keyEnv {
		t.Errorf("keystore: persist_file %q, storage_key_env %q; want a snapshot keyed by the Secret's variable %q",
			cfg.Keystore.PersistFile, cfg.Keystore.StorageKeyEnv, keyEnv)
	}
	for _, l := range []struct{ listen, port string }{{cfg.Listen, "http"}, {cfg.AdminListen, "admin"}} {
		if want := "0.0.0.0:" + strconv.Itoa(fg.port(l.port)); l.listen != want {
			t.Errorf("config listens on %q, want %q (container port %q)", l.listen, want, l.port)
		}
	}
	if a := dep.Spec.Template.Metadata.Annotations; a["prometheus.io/port"] != strconv.Itoa(fg.port("admin")) {
		t.Errorf("prometheus.io/port %q, want the admin port %d", a["prometheus.io/port"], fg.port("admin"))
	}

	// --config names a file in the mounted ConfigMap.
	cfgArg := ""
	for i, a := range fg.Args {
		if a == "--config" && i+1 < len(fg.Args) {
			cfgArg = fg.Args[i+1]
		}
	}
	mounted := false
	for _, vm := range fg.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name &&
				cfgArg == filepath.Join(vm.MountPath, "config.yaml") && vm.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("--config %q is not config.yaml of the ConfigMap %q mounted read-only", cfgArg, cm.Metadata.Name)
	}

	for _, p := range []struct {
		name string
		pr   *probe
		path string
	}{{"readiness", fg.ReadinessProbe, "/readyz"}, {"liveness", fg.LivenessProbe, "/healthz"}} {
		if p.pr == nil || p.pr.HTTPGet.Path != p.path || p.pr.HTTPGet.Port != "admin" {
			t.Errorf("%s probe: got %+v, want GET %s on the admin port", p.name, p.pr, p.path)
		}
	}
	if nr := pod.SecurityContext.RunAsNonRoot; nr == nil || !*nr {
		t.Error("the pod does not require a non-root user")
	}
	if ape := fg.SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape || !fg.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("fibergate's container: want allowPrivilegeEscalation: false and a read-only root filesystem")
	}
	if fg.Resources.Requests["cpu"] == "" || fg.Resources.Requests["memory"] == "" || fg.Resources.Limits["memory"] == "" {
		t.Errorf("fibergate's resources: got %+v, want cpu and memory requests and a memory limit", fg.Resources)
	}
}
