package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"newswatch/config"
)

// The subset of the Kubernetes API that deploy/k8s uses. Decoding is
// strict, so a misspelt field (readinesProbe) is an error rather than a
// silently ignored key.

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type typeMeta struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

type configMap struct {
	typeMeta `yaml:",inline"`
	Data     map[string]string `yaml:"data"`
}

type secret struct {
	typeMeta   `yaml:",inline"`
	Type       string            `yaml:"type"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

type service struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		Type      string            `yaml:"type"`
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type workload struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		Replicas            *int   `yaml:"replicas"`
		ServiceName         string `yaml:"serviceName"`
		PodManagementPolicy string `yaml:"podManagementPolicy"`
		UpdateStrategy      *struct {
			Type string `yaml:"type"`
		} `yaml:"updateStrategy"`
		Strategy *struct {
			Type          string `yaml:"type"`
			RollingUpdate *struct {
				MaxUnavailable string `yaml:"maxUnavailable"`
				MaxSurge       string `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				AccessModes      []string `yaml:"accessModes"`
				StorageClassName *string  `yaml:"storageClassName"`
				Resources        struct {
					Requests map[string]string `yaml:"requests"`
				} `yaml:"resources"`
			} `yaml:"spec"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               *struct {
		RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
		RunAsUser      *int  `yaml:"runAsUser"`
		RunAsGroup     *int  `yaml:"runAsGroup"`
		FSGroup        *int  `yaml:"fsGroup"`
		SeccompProfile *struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	TopologySpreadConstraints []struct {
		MaxSkew           int           `yaml:"maxSkew"`
		TopologyKey       string        `yaml:"topologyKey"`
		WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
		LabelSelector     labelSelector `yaml:"labelSelector"`
	} `yaml:"topologySpreadConstraints"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		EmptyDir *struct {
			Medium    string `yaml:"medium"`
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Env             []struct {
		Name  string  `yaml:"name"`
		Value *string `yaml:"value"`
	} `yaml:"env"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      *struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             *struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	SuccessThreshold    int `yaml:"successThreshold"`
	FailureThreshold    int `yaml:"failureThreshold"`
}

type podDisruptionBudget struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		MinAvailable   string        `yaml:"minAvailable"`
		MaxUnavailable string        `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

// k8sSet is every object found under a k8s directory.
type k8sSet struct {
	kustomizations map[string]kustomization // by directory
	configMaps     map[string]configMap
	secrets        map[string]secret
	services       map[string]service
	workloads      []workload
	pdbs           []podDisruptionBudget
	files          map[string]bool // every YAML file, relative to the root
}

var kinds = map[string]string{
	"ConfigMap":           "v1",
	"Secret":              "v1",
	"Service":             "v1",
	"StatefulSet":         "apps/v1",
	"Deployment":          "apps/v1",
	"PodDisruptionBudget": "policy/v1",
	"Kustomization":       "kustomize.config.k8s.io/v1beta1",
}

var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// strictDecode decodes one document into out, rejecting unknown fields.
func strictDecode(doc *yaml.Node, out any) error {
	data, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(out)
}

func loadK8s(root string) (*k8sSet, problems) {
	var ps problems
	set := &k8sSet{
		kustomizations: map[string]kustomization{},
		configMaps:     map[string]configMap{},
		secrets:        map[string]secret{},
		services:       map[string]service{},
		files:          map[string]bool{},
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		set.files[rel] = true
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for n := 1; ; n++ {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				ps.addf("%s: document %d: %v", rel, n, err)
				break
			}
			if len(doc.Content) == 0 {
				continue
			}
			var tm typeMeta
			if err := doc.Decode(&tm); err != nil {
				ps.addf("%s: document %d: %v", rel, n, err)
				continue
			}
			where := rel + ": " + tm.Kind + " " + tm.Metadata.Name
			want, known := kinds[tm.Kind]
			if !known {
				ps.addf("%s: document %d: unexpected kind %q", rel, n, tm.Kind)
				continue
			}
			if tm.APIVersion != want {
				ps.addf("%s: apiVersion %q, want %q", where, tm.APIVersion, want)
			}
			if tm.Kind != "Kustomization" && !dnsName.MatchString(tm.Metadata.Name) {
				ps.addf("%s: metadata.name %q is not a DNS label", where, tm.Metadata.Name)
			}
			var derr error
			switch tm.Kind {
			case "Kustomization":
				var k kustomization
				derr = strictDecode(&doc, &k)
				set.kustomizations[filepath.Dir(rel)] = k
			case "ConfigMap":
				var c configMap
				derr = strictDecode(&doc, &c)
				set.configMaps[c.Metadata.Name] = c
			case "Secret":
				var s secret
				derr = strictDecode(&doc, &s)
				set.secrets[s.Metadata.Name] = s
			case "Service":
				var s service
				derr = strictDecode(&doc, &s)
				set.services[s.Metadata.Name] = s
			case "StatefulSet", "Deployment":
				var w workload
				derr = strictDecode(&doc, &w)
				set.workloads = append(set.workloads, w)
			case "PodDisruptionBudget":
				var p podDisruptionBudget
				derr = strictDecode(&doc, &p)
				set.pdbs = append(set.pdbs, p)
			}
			if derr != nil {
				ps.addf("%s: %v", where, derr)
			}
		}
		return nil
	})
	if err != nil {
		ps.addf("%v", err)
	}
	return set, ps
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkK8s checks the manifests under root: both modes' workloads run the
// newswatch image on port 8080 with /healthz and /readyz probes and a
// config that validates with the environment the pod gets.
func checkK8s(root string) problems {
	set, ps := loadK8s(root)

	// Kustomizations reference files that exist, and every manifest but
	// the Secret example is part of one.
	used := map[string]bool{}
	for dir, k := range set.kustomizations {
		for _, r := range k.Resources {
			p := filepath.Join(dir, r)
			if st, err := os.Stat(filepath.Join(root, p)); err != nil {
				ps.addf("%s/kustomization.yaml: resource %s does not exist", dir, r)
			} else if st.IsDir() {
				if _, ok := set.kustomizations[p]; !ok {
					ps.addf("%s/kustomization.yaml: %s has no kustomization.yaml", dir, r)
				}
			} else {
				used[p] = true
			}
		}
	}
	for f := range set.files {
		if filepath.Base(f) != "kustomization.yaml" && !strings.Contains(f, ".example.") && !used[f] {
			ps.addf("%s is in no kustomization", f)
		}
	}

	var sts, deps []workload
	for _, w := range set.workloads {
		if w.Kind == "StatefulSet" {
			sts = append(sts, w)
		} else {
			deps = append(deps, w)
		}
	}
	if len(sts) != 1 || len(deps) != 1 {
		ps.addf("want one StatefulSet (embedded mode) and one Deployment (cluster mode), got %d and %d", len(sts), len(deps))
	}
	for _, w := range sts {
		where := "StatefulSet " + w.Metadata.Name
		if w.Spec.Replicas == nil || *w.Spec.Replicas != 1 {
			ps.addf("%s: embedded NATS is not shared, replicas must be 1", where)
		}
		svc, ok := set.services[w.Spec.ServiceName]
		if !ok || svc.Spec.ClusterIP != "None" {
			ps.addf("%s: serviceName %q is not a headless Service", where, w.Spec.ServiceName)
		} else if !subset(svc.Spec.Selector, w.Spec.Template.Metadata.Labels) {
			ps.addf("%s: headless Service %s does not select its pods", where, svc.Metadata.Name)
		}
		c := checkWorkload(set, w, &ps)
		if c != nil && c.NATS.URL != "" {
			ps.addf("%s: nats.url is %q; embedded mode needs it empty", where, c.NATS.URL)
		}
		if c != nil && c.NATS.Replicas > 1 {
			ps.addf("%s: nats.replicas %d on a single embedded server", where, c.NATS.Replicas)
		}
	}
	for _, w := range deps {
		where := "Deployment " + w.Metadata.Name
		if w.Spec.Replicas == nil || *w.Spec.Replicas < 2 {
			ps.addf("%s: cluster mode should run at least 2 replicas", where)
		}
		c := checkWorkload(set, w, &ps)
		if c != nil && !strings.HasPrefix(c.NATS.URL, "nats://") && !strings.HasPrefix(c.NATS.URL, "tls://") {
			ps.addf("%s: nats.url is %q; cluster mode needs a NATS cluster URL", where, c.NATS.URL)
		}
		if c != nil && c.NATS.Replicas < 3 {
			ps.addf("%s: nats.replicas %d; a cluster should keep 3 copies", where, c.NATS.Replicas)
		}
		for _, p := range set.pdbs {
			if !subset(p.Spec.Selector.MatchLabels, w.Spec.Template.Metadata.Labels) {
				ps.addf("PodDisruptionBudget %s does not select the %s pods", p.Metadata.Name, where)
			}
		}
	}

	// The Service reaches whichever mode runs, on the pods' http port.
	svc, ok := set.services["newswatch"]
	if !ok {
		ps.addf("no Service named newswatch")
	} else {
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || !(svc.Spec.Ports[0].TargetPort == "http" || svc.Spec.Ports[0].TargetPort == "8080") {
			ps.addf("Service newswatch: want port 8080 to the pods' http port, got %+v", svc.Spec.Ports)
		}
		for _, w := range set.workloads {
			if !subset(svc.Spec.Selector, w.Spec.Template.Metadata.Labels) {
				ps.addf("Service newswatch does not select the pods of %s %s", w.Kind, w.Metadata.Name)
			}
		}
	}
	return ps
}

// checkWorkload checks one workload's pod and returns its parsed config.
func checkWorkload(set *k8sSet, w workload, ps *problems) *config.Config {
	where := w.Kind + " " + w.Metadata.Name
	pod := w.Spec.Template
	if !subset(w.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		ps.addf("%s: selector %v does not match the pod labels %v", where, w.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		ps.addf("%s: pod does not run as a non-root user", where)
	}
	if len(pod.Spec.Containers) != 1 {
		ps.addf("%s: want 1 container, got %d", where, len(pod.Spec.Containers))
		return nil
	}
	ct := pod.Spec.Containers[0]
	if imageRepo(ct.Image) != "newswatch" {
		ps.addf("%s: image %q is not newswatch", where, ct.Image)
	}
	if t := imageTag(ct.Image); t == "" || t == "latest" {
		ps.addf("%s: image %q is not pinned by tag", where, ct.Image)
	}
	if len(ct.Command) > 0 {
		ps.addf("%s: command overrides the image's ENTRYPOINT /newswatch", where)
	}
	portNames := map[string]int{}
	for _, p := range ct.Ports {
		portNames[p.Name] = p.ContainerPort
	}
	if portNames["http"] != 8080 {
		ps.addf("%s: no container port 8080 named http", where)
	}
	probePort := func(p *probe, kind, path string) {
		if p == nil || p.HTTPGet == nil {
			ps.addf("%s: no HTTP %s probe", where, kind)
			return
		}
		if p.HTTPGet.Path != path {
			ps.addf("%s: %s probe on %q, want %s", where, kind, p.HTTPGet.Path, path)
		}
		if port, named := portNames[p.HTTPGet.Port]; !(named && port == 8080) && p.HTTPGet.Port != "8080" {
			ps.addf("%s: %s probe on port %q, want 8080", where, kind, p.HTTPGet.Port)
		}
	}
	probePort(ct.LivenessProbe, "liveness", "/healthz")
	probePort(ct.ReadinessProbe, "readiness", "/readyz")
	if ct.StartupProbe != nil {
		probePort(ct.StartupProbe, "startup", "/healthz")
	}
	if s := ct.SecurityContext; s == nil || s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation {
		ps.addf("%s: allowPrivilegeEscalation is not false", where)
	}

	// Volumes: every mount is declared; find the config and data mounts.
	volumes := map[string]bool{}
	configMaps := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = true
		if v.ConfigMap != nil {
			configMaps[v.Name] = v.ConfigMap.Name
		}
	}
	claims := map[string]bool{}
	for _, c := range w.Spec.VolumeClaimTemplates {
		volumes[c.Metadata.Name] = true
		claims[c.Metadata.Name] = true
	}
	mounts := map[string]string{} // mount path -> volume
	for _, m := range ct.VolumeMounts {
		if !volumes[m.Name] {
			ps.addf("%s: mount %s uses undeclared volume %s", where, m.MountPath, m.Name)
		}
		mounts[m.MountPath] = m.Name
	}

	cfgPath := runArgs(ct.Args, ps, where)
	if cfgPath == "" {
		return nil
	}
	vol := mounts[filepath.Dir(cfgPath)]
	cmName, ok := configMaps[vol]
	if !ok {
		ps.addf("%s: no ConfigMap volume mounted at %s", where, filepath.Dir(cfgPath))
		return nil
	}
	cm, ok := set.configMaps[cmName]
	if !ok {
		ps.addf("%s: ConfigMap %s does not exist", where, cmName)
		return nil
	}
	data, ok := cm.Data[filepath.Base(cfgPath)]
	if !ok {
		ps.addf("%s: ConfigMap %s has no key %s", where, cmName, filepath.Base(cfgPath))
		return nil
	}

	// The config must validate with exactly the environment the pod gets.
	env := map[string]string{}
	for _, ef := range ct.EnvFrom {
		if ef.SecretRef == nil {
			continue
		}
		s, ok := set.secrets[ef.SecretRef.Name]
		if !ok {
			ps.addf("%s: envFrom Secret %s has no example manifest", where, ef.SecretRef.Name)
			continue
		}
		for k, v := range s.StringData {
			env[k] = v
		}
		for k := range s.Data {
			env[k] = "x"
		}
	}
	for _, e := range ct.Env {
		if e.Value != nil {
			env[e.Name] = *e.Value
		}
	}
	c, err := parseConfig([]byte(data), env)
	if err != nil {
		ps.addf("%s: config from ConfigMap %s does not validate:\n%v", where, cmName, err)
		return nil
	}
	checkContainerConfig(c, ps, where)
	if a := c.HTTP.Auth; a.BearerToken != "" || a.Basic.Username != "" || a.Basic.Password != "" {
		ps.addf("%s: http.auth guards /readyz, so the readiness probe would get 401", where)
	}
	if v, ok := mounts[c.DataDir]; !ok {
		ps.addf("%s: nothing mounted at data_dir %s", where, c.DataDir)
	} else if w.Kind == "StatefulSet" && !claims[v] {
		ps.addf("%s: data_dir %s is on volume %s, not a PersistentVolumeClaim", where, c.DataDir, v)
	}
	return c
}

// k8sConfigs returns the config.yaml of every ConfigMap, by file and name.
func k8sConfigs(t *testing.T) map[string][]byte {
	t.Helper()
	set, ps := loadK8s("k8s")
	expectClean(t, ps)
	out := map[string][]byte{}
	for name, cm := range set.configMaps {
		if data, ok := cm.Data["config.yaml"]; ok {
			out["k8s ConfigMap "+name] = []byte(data)
		}
	}
	if len(out) != 2 {
		t.Fatalf("want a config.yaml ConfigMap for each mode, got %d", len(out))
	}
	return out
}

func TestKubernetes(t *testing.T) {
	expectClean(t, checkK8s("k8s"))
}

func TestKubernetesChecksCanFail(t *testing.T) {
	cases := []struct{ name, file, old, new, want string }{
		{"readiness path", "cluster/deployment.yaml", "path: /readyz", "path: /ready", "readiness probe on \"/ready\""},
		{"liveness path", "single/statefulset.yaml", "path: /healthz", "path: /health", "liveness probe on \"/health\""},
		{"probe port", "cluster/deployment.yaml", "containerPort: 8080", "containerPort: 8081", "no container port 8080"},
		{"image", "single/statefulset.yaml", "image: newswatch:0.1.0", "image: nginx:1.27", "is not newswatch"},
		{"cluster replicas", "cluster/deployment.yaml", "replicas: 2", "replicas: 1", "at least 2 replicas"},
		{"embedded replicas", "single/statefulset.yaml", "replicas: 1", "replicas: 3", "replicas must be 1"},
		{"misspelt field", "cluster/deployment.yaml", "readinessProbe:", "readinesProbe:", "readinesProbe"},
		{"missing secret key", "secret.example.yaml", "  SMTP_PASSWORD: change-me\n", "", "SMTP_PASSWORD is not set"},
		{"no pvc", "single/statefulset.yaml", "    - metadata:\n        name: data\n", "    - metadata:\n        name: store\n", "undeclared volume data"},
		{"embedded with url", "single/configmap.yaml", "url: \"\"", "url: nats://nats:4222", "embedded mode needs it empty"},
		{"embedded replicated", "single/configmap.yaml", "replicas: 1", "replicas: 3", "on a single embedded server"},
		{"cluster without url", "cluster/configmap.yaml", "url: nats://nats:4222", "url: \"\"", "cluster mode needs a NATS cluster URL"},
		{"cluster unreplicated", "cluster/configmap.yaml", "replicas: 3", "replicas: 1", "keep 3 copies"},
		{"wrong configmap", "cluster/deployment.yaml", "name: newswatch-cluster", "name: newswatch-config", "ConfigMap newswatch-config does not exist"},
		{"bad query", "single/configmap.yaml", "(title:(china OR", "((title:(china OR", "topics do not compile"},
		{"missing resource", "cluster/kustomization.yaml", "- pdb.yaml", "- pdbs.yaml", "resource pdbs.yaml does not exist"},
		{"service selector", "base/service.yaml", "app.kubernetes.io/name: newswatch\n  ports:", "app.kubernetes.io/name: other\n  ports:", "does not select the pods"},
		{"wrong api version", "cluster/pdb.yaml", "policy/v1", "policy/v1beta1", "want \"policy/v1\""},
		{"root", "cluster/deployment.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "non-root"},
		{"loopback", "single/configmap.yaml", "listen: 0.0.0.0:8080", "listen: 127.0.0.1:8080", "loopback"},
		{"auth", "cluster/configmap.yaml", "  listen: 0.0.0.0:8080\n", "  listen: 0.0.0.0:8080\n      auth:\n        bearer_token: ${SMTP_PASSWORD}\n", "readiness probe would get 401"},
		{"config key", "cluster/configmap.yaml", "subject_prefix:", "subject_prefx:", "does not validate"},
		{"unknown role", "cluster/deployment.yaml", "scheduler,fetcher", "scheduler,fetch", "unknown role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTree(t, "k8s")
			mutate(t, dir, c.file, c.old, c.new)
			expectProblem(t, checkK8s(dir), c.want)
		})
	}
}
