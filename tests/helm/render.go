// render - the Go template engine Helm and Argo CD render with, for
// tests/integration/check_deploy.py.
//
//	render chart NAME NAMESPACE CHART_DIR [VALUES_FILE...]
//	    what `helm template NAME CHART_DIR -n NAMESPACE -f VALUES_FILE...`
//	    prints: every template of the chart rendered with .Values (the
//	    chart's values.yaml with each file deep-merged over it in turn),
//	    .Release, .Chart, .Capabilities, .Template and .Files, one manifest
//	    per YAML document, each after "---" and a "# Source:" line, in
//	    Helm's install order
//	render appset
//	    stdin {"template": T, "params": [P...]}: T rendered once per P the way
//	    an ApplicationSet with goTemplate: true renders it (every string, map
//	    keys included, a missing key printing "<no value>"); stdout the JSON
//	    list of the results
//
// DESIGN: the charts used to be rendered by a Python imitation of
// text/template that knew the handful of constructs they used; a chart
// relying on a construct it got subtly wrong (whitespace trimming, the
// truthiness of a value, a Sprig function's argument order) passed the test
// and failed in Argo CD. This is text/template itself with Sprig's function
// map and Helm's own functions as Helm defines them (helm.sh/helm/v3
// pkg/engine/funcs.go and engine.go), built from Debian's Go packages without
// the network: what is left simulated is only which functions exist, not how
// a template runs. Values are read the way Helm reads them (sigs.k8s.io/yaml,
// which is ghodss/yaml: YAML 1.1, so "yes" and "off" are booleans, numbers
// are float64 through JSON).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

// Helm's default for `helm template` without a cluster (--kube-version
// unset): the Kubernetes version its client libraries were built against.
const kubeVersion = "v1.29.0"

// Metadata is Chart.yaml as Helm exposes it under .Chart (chart.Metadata):
// a field the chart asks for that Helm does not have is an error there too.
type Metadata struct {
	Name         string            `json:"name"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Type         string            `json:"type,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
}

// VersionSet is .Capabilities.APIVersions, with Helm's .Has.
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type KubeVersion struct {
	Version, Major, Minor string
}

func (k KubeVersion) String() string { return k.Version }

// GitVersion is the deprecated alias Helm keeps.
func (k KubeVersion) GitVersion() string { return k.Version }

type Capabilities struct {
	APIVersions VersionSet
	KubeVersion KubeVersion
	HelmVersion map[string]string
}

// Files is .Files: the chart's files other than templates/ and Chart.yaml.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// the GA group versions of Kubernetes 1.29; Helm's default set for
// `helm template` (its client libraries' scheme) also lists the betas
var apiVersions = VersionSet{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"apiregistration.k8s.io/v1", "apps/v1", "authentication.k8s.io/v1",
	"authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1",
	"certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta3",
	"networking.k8s.io/v1", "node.k8s.io/v1", "policy/v1",
	"rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", args...)
	os.Exit(1)
}

// readValues parses a values document as Helm does: a missing or empty
// document is no values, anything but a mapping is an error.
func readValues(data []byte, name string) (map[string]interface{}, error) {
	vals := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if vals == nil {
		vals = map[string]interface{}{}
	}
	return vals, nil
}

// coalesce merges src over dst like Helm's chartutil.CoalesceTables for
// user values: maps merge key by key, anything else replaces, and a null
// deletes the key.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// toYAML is Helm's toYaml: errors print as nothing, the final newline goes.
func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(str string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// helmFuncs is Helm's engine function map: Sprig's text functions without
// env and expandenv, Helm's conversions, and the functions that need the
// template set (include, tpl) bound to t.
func helmFuncs(t **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	for k, v := range map[string]interface{}{
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warn)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warn)
			}
			return val, nil
		},
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil // `helm template` has no cluster to look in
		},
		"include": func(name string, data interface{}) (string, error) {
			var buf strings.Builder
			err := (*t).ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, data interface{}) (string, error) {
			c, err := (*t).Clone()
			if err != nil {
				return "", err
			}
			c, err = c.New("tpl").Parse(text)
			if err != nil {
				return "", fmt.Errorf("tpl: %v", err)
			}
			var buf strings.Builder
			err = c.ExecuteTemplate(&buf, "tpl", data)
			return strings.ReplaceAll(buf.String(), "<no value>", ""), err
		},
	} {
		f[k] = v
	}
	return f
}

// Helm's install order (pkg/releaseutil/kind_sorter.go), which is also the
// order `helm template` prints in; other kinds come after, by name.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
	"RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
	"Ingress", "APIService",
}

type manifest struct {
	source, kind, body string
}

func rank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}

// releaseutil.SplitManifests' separator
var sep = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

func renderChart(name, namespace, dir string, valueFiles []string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return err
	}
	var meta Metadata
	if err = yaml.Unmarshal(raw, &meta); err != nil {
		return fmt.Errorf("Chart.yaml: %v", err)
	}
	if meta.Name == "" || meta.Version == "" || meta.APIVersion == "" {
		return errors.New("Chart.yaml: apiVersion, name and version are required")
	}
	values := map[string]interface{}{}
	if raw, err = os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if values, err = readValues(raw, "values.yaml"); err != nil {
			return err
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	for _, vf := range valueFiles {
		raw, err := os.ReadFile(vf)
		if err != nil {
			return err
		}
		user, err := readValues(raw, vf)
		if err != nil {
			return err
		}
		values = coalesce(values, user)
	}

	files := Files{}
	var names []string
	root := meta.Name + "/templates"
	var t *template.Template
	t = template.New(meta.Name).Option("missingkey=zero").Funcs(helmFuncs(&t))
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		relp, _ := filepath.Rel(dir, p)
		relp = filepath.ToSlash(relp)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(relp, "templates/") {
			if relp != "Chart.yaml" && relp != "values.yaml" {
				files[relp] = data
			}
			return nil
		}
		tname := meta.Name + "/" + relp
		if _, err = t.New(tname).Parse(string(data)); err != nil {
			return err
		}
		names = append(names, tname)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)

	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "IsInstall": true, "IsUpgrade": false,
			"Revision": 1, "Service": "Helm",
		},
		"Chart": meta,
		"Capabilities": Capabilities{
			APIVersions: apiVersions,
			KubeVersion: KubeVersion{Version: kubeVersion, Major: "1", Minor: "29"},
			HelmVersion: map[string]string{"version": "v3.14.0"},
		},
		"Files": files,
	}
	var out []manifest
	for _, tname := range names {
		base := path.Base(tname)
		// partials (_helpers.tpl) are for include; NOTES.txt is not a manifest
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		top["Template"] = map[string]interface{}{"Name": tname, "BasePath": root}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, tname, top); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		for _, doc := range sep.Split(text, -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return fmt.Errorf("YAML parse error on %s: %v", tname, err)
			}
			out = append(out, manifest{tname, head.Kind, strings.TrimSpace(doc)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i].kind), rank(out[j].kind)
		if ri != rj {
			return ri < rj
		}
		return ri == len(installOrder) && out[i].kind < out[j].kind
	})
	for _, m := range out {
		fmt.Printf("---\n# Source: %s\n%s\n", m.source, m.body)
	}
	return nil
}

// appsetFuncs: Argo CD's goTemplate functions (sprig.FuncMap without the
// ones that read the controller's environment or network, plus its own).
func appsetFuncs() template.FuncMap {
	f := sprig.TxtFuncMap()
	for _, k := range []string{"env", "expandenv", "getHostByName"} {
		delete(f, k)
	}
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	return f
}

func renderString(s string, params interface{}) (string, error) {
	t, err := template.New("").Funcs(appsetFuncs()).Parse(s)
	if err != nil {
		return "", err
	}
	var buf strings.Builder
	err = t.Execute(&buf, params)
	return buf.String(), err
}

func renderValue(v interface{}, params interface{}) (interface{}, error) {
	switch x := v.(type) {
	case string:
		return renderString(x, params)
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			r, err := renderValue(e, params)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			rk, err := renderString(k, params)
			if err != nil {
				return nil, err
			}
			r, err := renderValue(e, params)
			if err != nil {
				return nil, err
			}
			out[rk] = r
		}
		return out, nil
	}
	return v, nil
}

func renderAppset(in io.Reader) error {
	var req struct {
		Template interface{}   `json:"template"`
		Params   []interface{} `json:"params"`
	}
	dec := json.NewDecoder(in)
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("stdin: %v", err)
	}
	out := make([]interface{}, 0, len(req.Params))
	for _, p := range req.Params {
		r, err := renderValue(req.Template, p)
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	var err error
	switch {
	case len(os.Args) >= 5 && os.Args[1] == "chart":
		err = renderChart(os.Args[2], os.Args[3], os.Args[4], os.Args[5:])
	case len(os.Args) == 2 && os.Args[1] == "appset":
		err = renderAppset(os.Stdin)
	default:
		die("usage: render chart NAME NAMESPACE CHART_DIR [VALUES_FILE...] | render appset")
	}
	if err != nil {
		die("%v", err)
	}
}
