package main

// The deployment files of deploy/ checked offline (CI reaches no schema
// server): the Kubernetes manifests decoded strictly into the typed
// k8s.io/api objects, their invariants, the orbitflow config each Deployment
// runs with passing the config check, and docker-compose.yml's targets.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/orbitflow/orbitflow/services/kit/config"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
)

const (
	k8sDir        = "../../deploy/k8s"
	deployReadme  = "../../deploy/README.md"
	composeFile   = "../../docker-compose.yml"
	secretsMount  = "/etc/orbitflow/secrets"
	composeSecret = "/run/secrets/"
)

// splitTargets are the targets deploy/ runs one per process.
var splitTargets = []string{"connectors", "processors", "sink", "api"}

// kustomization is the part of kustomize's format deploy/k8s uses; decoded
// strictly, so a field this test does not know fails it.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
		Digest  string `json:"digest"`
	} `json:"images"`
}

// k8sBase is deploy/k8s, decoded.
type k8sBase struct {
	kust        kustomization
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	pdbs        map[string]*policyv1.PodDisruptionBudget
	pvcs        map[string]*corev1.PersistentVolumeClaim
	jobs        map[string]*batchv1.Job
	accounts    map[string]bool
	namespaces  map[string]bool
	// configMaps maps a generated ConfigMap's name to its files (key -> path).
	configMaps map[string]map[string]string
}

// decodeStrict decodes one YAML document into out, refusing unknown fields.
func decodeStrict(doc []byte, out any) error {
	return k8syaml.UnmarshalStrict(doc, out)
}

func loadK8s(t *testing.T) k8sBase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	require.NoError(t, err)
	b := k8sBase{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, pvcs: map[string]*corev1.PersistentVolumeClaim{},
		jobs: map[string]*batchv1.Job{}, accounts: map[string]bool{}, namespaces: map[string]bool{},
		configMaps: map[string]map[string]string{},
	}
	require.NoError(t, decodeStrict(raw, &b.kust), "deploy/k8s/kustomization.yaml")
	require.Equal(t, "Kustomization", b.kust.Kind)
	for _, g := range b.kust.ConfigMapGenerator {
		files := map[string]string{}
		for _, f := range g.Files {
			key, path, ok := strings.Cut(f, "=")
			if !ok {
				key, path = filepath.Base(f), f
			}
			path = filepath.Join(k8sDir, path)
			_, err := os.Stat(path)
			require.NoError(t, err, "configMapGenerator %s: file %s", g.Name, f)
			files[key] = path
		}
		b.configMaps[g.Name] = files
	}

	// Every manifest in the directory is a resource of the kustomization,
	// and every resource is decoded.
	listed := map[string]bool{}
	for _, r := range b.kust.Resources {
		listed[r] = true
	}
	all, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range all {
		name := filepath.Base(f)
		if name == "kustomization.yaml" || b.generated(name) {
			continue
		}
		require.True(t, listed[name], "deploy/k8s/%s is not in kustomization.yaml's resources", name)
	}
	for _, r := range b.kust.Resources {
		data, err := os.ReadFile(filepath.Join(k8sDir, r))
		require.NoError(t, err, "resource %s", r)
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("deploy/k8s/%s document %d", r, i+1)
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			require.NoError(t, k8syaml.Unmarshal([]byte(doc), &meta), where)
			name := meta.Metadata.Name
			require.NotEmpty(t, name, "%s: metadata.name", where)
			var obj any
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 Deployment":
				o := &appsv1.Deployment{}
				b.deployments[name], obj = o, o
			case "v1 Service":
				o := &corev1.Service{}
				b.services[name], obj = o, o
			case "policy/v1 PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				b.pdbs[name], obj = o, o
			case "v1 PersistentVolumeClaim":
				o := &corev1.PersistentVolumeClaim{}
				b.pvcs[name], obj = o, o
			case "batch/v1 Job":
				o := &batchv1.Job{}
				b.jobs[name], obj = o, o
			case "v1 ServiceAccount":
				obj = &corev1.ServiceAccount{}
				b.accounts[name] = true
			case "v1 Namespace":
				obj = &corev1.Namespace{}
				b.namespaces[name] = true
			default:
				t.Fatalf("%s: kind %s %s is not one this test checks; add it here", where, meta.APIVersion, meta.Kind)
			}
			require.NoError(t, decodeStrict([]byte(doc), obj), "%s: strict decode into the typed object", where)
		}
	}
	return b
}

func (b k8sBase) generated(file string) bool {
	for _, files := range b.configMaps {
		for _, p := range files {
			if filepath.Base(p) == file {
				return true
			}
		}
	}
	return false
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

func stripComments(s string) string { return commentLine.ReplaceAllString(s, "") }

// The strict decode is what catches a misspelled field: prove it does.
func TestDeployK8sStrictDecodeRefusesUnknownFields(t *testing.T) {
	err := decodeStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n"), &appsv1.Deployment{})
	require.ErrorContains(t, err, `unknown field "replica"`)
	err = decodeStrict([]byte("spec: {template: {spec: {containers: [{name: x, readinesProbe: {}}]}}}\n"), &appsv1.Deployment{})
	require.ErrorContains(t, err, "readinesProbe")
	require.NoError(t, decodeStrict([]byte("spec: {replicas: 2}\n"), &appsv1.Deployment{}))
}

// targetOf returns the --target a container runs, from its args.
func targetOf(t *testing.T, c corev1.Container) string {
	t.Helper()
	i := slices.Index(c.Args, "--target")
	require.True(t, len(c.Args) > 0 && c.Args[0] == "run" && i > 0 && i+1 < len(c.Args),
		"container %s: want args [run, --target, <target>], got %v", c.Name, c.Args)
	return c.Args[i+1]
}

func TestDeployK8sDeployments(t *testing.T) {
	b := loadK8s(t)
	images := map[string]bool{}
	for _, im := range b.kust.Images {
		images[im.Name] = true
	}
	seen := map[string]string{}
	for name, d := range b.deployments {
		t.Run(name, func(t *testing.T) {
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			require.NoError(t, err)
			require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the selector selects the pod template")
			pod := d.Spec.Template.Spec
			require.NotNil(t, pod.SecurityContext, "pod securityContext")
			require.True(t, pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot, "runAsNonRoot")
			require.True(t, b.accounts[pod.ServiceAccountName], "service account %q is declared", pod.ServiceAccountName)
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			target := targetOf(t, c)
			require.Contains(t, splitTargets, target, "deploy/k8s runs the split targets only")
			require.Empty(t, seen[target], "--target %s runs in one Deployment, also in %s", target, seen[target])
			seen[target] = name

			requirePinned(t, c.Image)
			require.True(t, images[c.Image], "image %s is listed in kustomization.yaml's images (so it can be pinned by digest)", c.Image)

			sc := c.SecurityContext
			require.NotNil(t, sc, "container securityContext")
			require.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
			require.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation false")

			// Probes: on a declared port, the one the config serves them on.
			cfg := k8sConfig(t, b, pod, c, true)
			wantPort := portOf(t, cfg.Ops.Listen)
			if target == "api" {
				wantPort = portOf(t, cfg.API.Listen)
			}
			for _, p := range []struct {
				what  string
				probe *corev1.Probe
				path  string
			}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
				require.NotNil(t, p.probe, p.what)
				require.NotNil(t, p.probe.HTTPGet, "%s: httpGet", p.what)
				require.Equal(t, p.path, p.probe.HTTPGet.Path, p.what)
				require.Equal(t, wantPort, containerPort(t, c, p.probe.HTTPGet.Port.String()),
					"%s: the port the config serves /healthz and /readyz on for --target %s", p.what, target)
			}

			// Resources: requests and limits for CPU and memory, requests
			// within limits, GOMEMLIMIT under the memory limit.
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[r]
				lim, okLim := c.Resources.Limits[r]
				require.True(t, okReq && okLim, "resources.requests and limits of %s", r)
				require.LessOrEqual(t, req.Cmp(lim), 0, "request %s of %s exceeds its limit %s", req.String(), r, lim.String())
			}
			memLimit := c.Resources.Limits[corev1.ResourceMemory]
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					q, err := resource.ParseQuantity(strings.TrimSuffix(strings.TrimSuffix(e.Value, "B"), "i") + "i")
					require.NoError(t, err, "GOMEMLIMIT %q", e.Value)
					require.Negative(t, q.Cmp(memLimit), "GOMEMLIMIT %s must be under the memory limit %s", e.Value, memLimit.String())
				}
			}
		})
	}
	for _, want := range splitTargets {
		require.NotEmpty(t, seen[want], "no Deployment runs --target %s", want)
	}
	// processors and sink share their shards among instances: two at least.
	for _, name := range []string{seen["processors"], seen["sink"]} {
		require.GreaterOrEqual(t, *b.deployments[name].Spec.Replicas, int32(2), "%s: two instances at least, one to take over the shards of the other", name)
	}
}

func TestDeployK8sServicesAndPDB(t *testing.T) {
	b := loadK8s(t)
	podsOf := func(sel labels.Selector) []string {
		var out []string
		for name, d := range b.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				out = append(out, name)
			}
		}
		return out
	}
	for name, s := range b.services {
		matched := podsOf(labels.SelectorFromSet(s.Spec.Selector))
		require.Len(t, matched, 1, "Service %s selects the pods of one Deployment", name)
		c := b.deployments[matched[0]].Spec.Template.Spec.Containers[0]
		for _, p := range s.Spec.Ports {
			containerPort(t, c, p.TargetPort.String())
		}
	}
	pdb := b.pdbs["processors"]
	require.NotNil(t, pdb, "a PodDisruptionBudget named processors")
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	require.NoError(t, err)
	require.Equal(t, []string{"processors"}, podsOf(sel), "the processors PDB selects the processors Deployment, and only it")
	require.True(t, pdb.Spec.MaxUnavailable != nil || pdb.Spec.MinAvailable != nil)
	if pdb.Spec.MinAvailable != nil {
		require.Less(t, pdb.Spec.MinAvailable.IntValue(), int(*b.deployments["processors"].Spec.Replicas),
			"minAvailable must leave a drain room to evict a processor")
	}
}

// Every ConfigMap, Secret, PVC and service account a pod uses is declared
// by the kustomization, or is a Secret deploy/README.md documents (name and
// key) for the operator to create.
func TestDeployK8sReferences(t *testing.T) {
	b := loadK8s(t)
	readme, err := os.ReadFile(deployReadme)
	require.NoError(t, err)
	documented := func(secret, key string) {
		require.Contains(t, string(readme), "`"+secret+"`", "Secret %s is created by the operator: deploy/README.md must name it", secret)
		require.Contains(t, string(readme), "`"+key+"`", "key %s of Secret %s: deploy/README.md must name it", key, secret)
	}
	pods := map[string]corev1.PodSpec{}
	for n, d := range b.deployments {
		pods["Deployment "+n] = d.Spec.Template.Spec
	}
	for n, j := range b.jobs {
		pods["Job "+n] = j.Spec.Template.Spec
	}
	for where, pod := range pods {
		require.True(t, b.accounts[pod.ServiceAccountName], "%s: service account %q", where, pod.ServiceAccountName)
		for _, v := range pod.Volumes {
			switch {
			case v.ConfigMap != nil:
				require.Contains(t, b.configMaps, v.ConfigMap.Name, "%s: ConfigMap %s is generated by the kustomization", where, v.ConfigMap.Name)
			case v.Secret != nil:
				require.NotEmpty(t, v.Secret.Items, "%s: Secret %s: list the keys the pod needs", where, v.Secret.SecretName)
				for _, it := range v.Secret.Items {
					documented(v.Secret.SecretName, it.Key)
				}
			case v.PersistentVolumeClaim != nil:
				require.Contains(t, b.pvcs, v.PersistentVolumeClaim.ClaimName, "%s: PVC", where)
			case v.EmptyDir != nil:
			default:
				t.Fatalf("%s: volume %s of a kind this test does not check", where, v.Name)
			}
		}
		for _, c := range pod.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil {
					require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s: env %s comes from a Secret", where, e.Name)
					documented(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
			for _, m := range c.VolumeMounts {
				require.True(t, slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }), "%s: mount of volume %s", where, m.Name)
				if m.SubPath != "" {
					for _, v := range pod.Volumes {
						if v.Name == m.Name && v.ConfigMap != nil {
							require.Contains(t, b.configMaps[v.ConfigMap.Name], m.SubPath, "%s: key %s of ConfigMap %s", where, m.SubPath, v.ConfigMap.Name)
						}
					}
				}
			}
		}
	}
}

// The config each Deployment runs with (the ConfigMap's file, its
// environment, its mounted secrets) passes `orbitflow config check`: the
// strict decode, Validate and what its --target needs. The streams Job's
// too (without a target).
func TestDeployK8sConfigPassesConfigCheck(t *testing.T) {
	b := loadK8s(t)
	for name, d := range b.deployments {
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		cfg := k8sConfig(t, b, pod, c, true)
		target := targetOf(t, c)
		require.NoError(t, cfg.CheckTarget(app.Targets[target]), "Deployment %s", name)
		require.Equal(t, 3, cfg.NATS.Streams.Replicas, "Deployment %s: streams with 3 replicas", name)
	}
	for name, j := range b.jobs {
		pod := j.Spec.Template.Spec
		cfg := k8sConfig(t, b, pod, pod.Containers[0], false)
		require.True(t, cfg.NATS.External.ManageStreams, "Job %s declares the streams", name)
		require.Equal(t, "admin", cfg.NATS.External.User, "Job %s: as the admin user", name)
	}
}

// k8sConfig loads the orbitflow config the container runs with: the file
// ORBITFLOW_CONFIG names in a mounted ConfigMap, then its ORBITFLOW_*
// environment (Secret values as placeholders, file: references checked to
// point at a mounted Secret key), then Validate.
func k8sConfig(t *testing.T, b k8sBase, pod corev1.PodSpec, c corev1.Container, service bool) app.Config {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "placeholder-secret-" + e.ValueFrom.SecretKeyRef.Key
		default:
			env[e.Name] = e.Value
		}
	}
	checkEnvNames(t, c.Name, env)
	mounted := func(path string) (string, bool) { // a path in the container -> a file here
		for _, m := range c.VolumeMounts {
			for _, v := range pod.Volumes {
				if v.Name != m.Name {
					continue
				}
				switch {
				case v.ConfigMap != nil && m.SubPath != "" && path == m.MountPath:
					p, ok := b.configMaps[v.ConfigMap.Name][m.SubPath]
					return p, ok
				case v.Secret != nil && filepath.Dir(path) == m.MountPath:
					if slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Path == filepath.Base(path) }) {
						return secretFile(t, filepath.Base(path)), true
					}
				}
			}
		}
		return "", false
	}
	path, ok := mounted(env["ORBITFLOW_CONFIG"])
	require.True(t, ok, "container %s: ORBITFLOW_CONFIG %q is a mounted ConfigMap file", c.Name, env["ORBITFLOW_CONFIG"])
	// file: references in the config (of a service: a one-shot reads no
	// key) and the environment must name a mounted Secret key; the test
	// reads a placeholder there instead.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`file:(/[^"'\s,\]}]+)`).FindAllStringSubmatch(stripComments(string(data)), -1) {
		if !service {
			break
		}
		_, ok := mounted(m[1])
		require.True(t, ok, "container %s: the config reads %s, which is not a mounted Secret key", c.Name, m[1])
	}
	for k, v := range env {
		if f, isFile := strings.CutPrefix(v, "file:"); isFile {
			local, ok := mounted(f)
			require.True(t, ok, "container %s: %s reads %s, which is not a mounted Secret key", c.Name, k, f)
			env[k] = "file:" + local
		}
	}
	return loadChecked(t, path, env)
}

// loadChecked is `orbitflow config` without the printing: load, then
// Validate, with env as the whole environment.
func loadChecked(t *testing.T, path string, env map[string]string) app.Config {
	t.Helper()
	cfg, err := app.Load(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err, "%s with its environment", path)
	require.NoError(t, cfg.Validate(), "%s with its environment", path)
	return cfg
}

// checkEnvNames fails on an ORBITFLOW_* variable that names no config field
// (ApplyEnv ignores those, so a typo would silently do nothing).
func checkEnvNames(t *testing.T, who string, env map[string]string) {
	t.Helper()
	known := map[string]bool{app.EnvPrefix + "CONFIG": true, app.EnvPrefix + "CHDB_LIB": true}
	for _, p := range config.Paths(app.DefaultConfig()) {
		known[config.EnvName(app.EnvPrefix, p)] = true
	}
	for k := range env {
		if strings.HasPrefix(k, app.EnvPrefix) {
			require.True(t, known[k], "%s: %s sets no config field", who, k)
		}
	}
}

var secretFiles = map[string]string{}

// secretFile is a placeholder file for a mounted secret key (16+ bytes, as
// the config requires of salts and keys).
func secretFile(t *testing.T, key string) string {
	t.Helper()
	if p, ok := secretFiles[key]; ok {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p := filepath.Join(t.TempDir(), key)
	require.NoError(t, os.WriteFile(p, []byte("placeholder-"+key+"-0123456789abcdef"), 0o600))
	secretFiles[key] = p
	return p
}

func portOf(t *testing.T, hostport string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	require.NoError(t, err, "listen address %q", hostport)
	var n int32
	_, err = fmt.Sscan(p, &n)
	require.NoError(t, err)
	return n
}

// containerPort resolves a port name or number to a port the container
// declares.
func containerPort(t *testing.T, c corev1.Container, port string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s declares no port %q (ports: %v)", c.Name, port, c.Ports)
	return 0
}

var pinned = regexp.MustCompile(`^[^@]+(:[\w][\w.-]{0,127})(@sha256:[0-9a-f]{64})?$|^[^@]+@sha256:[0-9a-f]{64}$`)

// requirePinned fails on an image without a tag or digest, or tagged latest.
func requirePinned(t *testing.T, image string) {
	t.Helper()
	name := image[strings.LastIndex(image, "/")+1:]
	require.True(t, pinned.MatchString(name), "image %q: pin it by tag or digest", image)
	require.NotContains(t, name, ":latest", "image %q: latest is not a pin", image)
}

// The compose file's orbitflow services: each split target once and all
// in the embedded profile, each with its own NATS user (a user of
// deploy/nats/accounts.conf), its config passing the config check with the
// service's environment and secrets; every image pinned; Prometheus
// scrapes each target's metrics port.
func TestDeployComposeTargets(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	require.NoError(t, err)
	var doc struct {
		Services map[string]struct {
			Image    string   `yaml:"image"`
			Profiles []string `yaml:"profiles"`
			Build    *struct {
				Args map[string]string `yaml:"args"`
			} `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Secrets     []string          `yaml:"secrets"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	accounts, err := os.ReadFile("../../deploy/nats/accounts.conf")
	require.NoError(t, err)
	natsUsers := map[string]bool{}
	for _, m := range regexp.MustCompile(`\{user: (\w+),`).FindAllStringSubmatch(string(accounts), -1) {
		natsUsers[m[1]] = true
	}

	// ${VAR:-default} -> default, as compose does with VAR unset.
	interpolate := func(s string) string {
		return regexp.MustCompile(`\$\{\w+:-([^}]*)\}`).ReplaceAllString(s, "$1")
	}
	targets := map[string][]string{} // profile -> targets
	users := map[string]string{}     // NATS user -> service
	for name, s := range doc.Services {
		require.NotEmpty(t, s.Image, "service %s: an image", name)
		requirePinned(t, s.Image)
		require.NotEmpty(t, s.Profiles, "service %s: in a profile (embedded or split): without one it would start with both", name)
		if s.Build == nil || s.Command != nil {
			continue // not an orbitflow target (a server, or the streams one-shot)
		}
		target := s.Build.Args["TARGET"]
		require.Contains(t, app.Targets, target, "service %s: build arg TARGET", name)
		require.Len(t, s.Profiles, 1, "service %s", name)
		targets[s.Profiles[0]] = append(targets[s.Profiles[0]], target)

		env := map[string]string{}
		for k, v := range s.Environment {
			v = interpolate(v)
			if f, ok := strings.CutPrefix(v, "file:"+composeSecret); ok {
				require.Contains(t, s.Secrets, f, "service %s: %s reads the secret %s, which it does not list", name, k, f)
				v = "file:" + secretFile(t, f)
			}
			env[k] = v
		}
		checkEnvNames(t, "service "+name, env)
		var cfgPath string
		for _, v := range s.Volumes {
			if host, ctr, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(ctr, env["ORBITFLOW_CONFIG"]+":") {
				cfgPath = filepath.Join("../..", host)
			}
		}
		require.NotEmpty(t, cfgPath, "service %s: ORBITFLOW_CONFIG %q is a mounted file", name, env["ORBITFLOW_CONFIG"])
		data, err := os.ReadFile(cfgPath)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`file:`+composeSecret+`([\w.-]+)`).FindAllStringSubmatch(stripComments(string(data)), -1) {
			require.Contains(t, s.Secrets, m[1], "service %s: its config reads the secret %s, which it does not list", name, m[1])
		}
		cfg := loadChecked(t, cfgPath, env)
		require.NoError(t, cfg.CheckTarget(app.Targets[target]), "service %s", name)
		if app.Targets[target].Split {
			u := cfg.NATS.External.User
			require.True(t, natsUsers[u], "service %s: NATS user %q is not in deploy/nats/accounts.conf", name, u)
			require.NotEqual(t, "admin", u, "service %s: a target runs as its own user, not admin", name)
			require.Empty(t, users[u], "service %s: NATS user %s is also %s's", name, u, users[u])
			users[u] = name
			require.Equal(t, 3, cfg.NATS.Streams.Replicas)
		}
	}
	slices.Sort(targets["split"])
	require.Equal(t, []string{"api", "connectors", "processors", "sink"}, targets["split"], "split: each target once")
	require.Equal(t, []string{"all"}, targets["embedded"], "embedded: one orbitflow, --target all")

	// Prometheus scrapes each split target on the port its config serves
	// /metrics on.
	prom, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	require.NoError(t, err)
	compose, err := app.Load("../../deploy/config/orbitflow.compose.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	for _, target := range splitTargets {
		port := portOf(t, compose.Ops.Listen)
		if target == "api" {
			port = portOf(t, compose.API.Listen)
		}
		require.Contains(t, string(prom), fmt.Sprintf(`"%s:%d"`, target, port), "prometheus.yml scrapes %s", target)
	}
}
