package httpadapter

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// openAPIDoc is the part of an OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Servers []struct{ URL string }                `json:"servers"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Tags    []struct{ Name string }               `json:"tags"`
	Raw     map[string]any                        `json:"-"`
}

type openAPIOp struct {
	OperationID string            `json:"operationId"`
	Tags        []string          `json:"tags"`
	Parameters  []json.RawMessage `json:"parameters"`
	Responses   map[string]any    `json:"responses"`
}

type openAPIParam struct {
	Ref      string `json:"$ref"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// goPatternPath turns a ServeMux pattern's path into an OpenAPI path:
// "{name...}" becomes "{name}" and a trailing "{$}" goes.
func goPatternPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return regexp.MustCompile(`\{([A-Za-z0-9_]+)\.\.\.\}`).ReplaceAllString(p, "{$1}")
}

// routeOps returns "method path" for every route of the given dialects
// (0 means all), method in lower case.
func routeOps(t *testing.T, h *Handler, on Dialect) []string {
	t.Helper()
	var ops []string
	for _, rt := range h.routes() {
		if on != 0 && rt.dialect != 0 && on&rt.dialect == 0 {
			continue
		}
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok || !strings.HasPrefix(path, "/") {
			t.Fatalf("route %q has no method or is host-specific", rt.pattern)
		}
		ops = append(ops, strings.ToLower(method)+" "+goPatternPath(path))
	}
	slices.Sort(ops)
	return ops
}

// docOps returns "method path" for every operation of doc.
func docOps(doc *openAPIDoc) []string {
	var ops []string
	for p, item := range doc.Paths {
		for m := range item {
			if slices.Contains(openAPIMethods, m) {
				ops = append(ops, m+" "+p)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// compareOps checks that the routes and the document list the same
// operations; a document's head is implied by a GET route.
func compareOps(t *testing.T, routes, doc []string) {
	t.Helper()
	for _, r := range routes {
		if !slices.Contains(doc, r) {
			t.Errorf("route %q is not in the OpenAPI document", r)
		}
	}
	for _, d := range doc {
		if slices.Contains(routes, d) {
			continue
		}
		if rest, ok := strings.CutPrefix(d, "head "); ok && slices.Contains(routes, "get "+rest) {
			continue
		}
		t.Errorf("the OpenAPI document has %q, which is no route", d)
	}
}

func parseDoc(t *testing.T, data []byte) *openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	if err := json.Unmarshal(data, &doc.Raw); err != nil {
		t.Fatal(err)
	}
	return &doc
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newTestHandler(t, nil)
	compareOps(t, routeOps(t, e.H, 0), docOps(parseDoc(t, openAPIDocument)))
}

func TestOpenAPIServed(t *testing.T) {
	for _, on := range []Dialect{AllDialects, Chatter, Igloo, ProfileImage, Slack, Chatter | Slack} {
		t.Run(dialectName(on), func(t *testing.T) {
			e := newTestEnv(t, envConfig{Options: &Options{Dialects: on}, Prefix: "/api-root"})
			_, body := httpTest{
				URL: "/openapi.json", Code: http.StatusOK,
				ResHeader: map[string]string{"Content-Type": "application/json; charset=utf-8"},
			}.run(t, e)
			doc := parseDoc(t, body)
			if doc.OpenAPI != "3.1.0" {
				t.Errorf("openapi %q", doc.OpenAPI)
			}
			if len(doc.Servers) != 1 || doc.Servers[0].URL != e.URL {
				t.Errorf("servers %+v, want %s", doc.Servers, e.URL)
			}
			compareOps(t, routeOps(t, e.H, on), docOps(doc))
			// A dialect that is off is really off.
			for _, rt := range e.H.routes() {
				if rt.dialect == 0 || on&rt.dialect != 0 {
					continue
				}
				method, path, _ := strings.Cut(rt.pattern, " ")
				url := strings.NewReplacer("{apiVersion}", "v58.0", "{communityKey}", "1").Replace(path)
				url = regexp.MustCompile(`\{[A-Za-z]+\}`).ReplaceAllString(url, "x")
				if res, _ := e.do(t, method, url, nil, nil, false); res.StatusCode != http.StatusNotFound {
					t.Errorf("%s %s: status %d with its dialect off, want 404", method, url, res.StatusCode)
				}
			}
		})
	}
}

func dialectName(d Dialect) string {
	var names []string
	for _, x := range []struct {
		d    Dialect
		name string
	}{{Chatter, "Chatter"}, {Igloo, "Igloo"}, {ProfileImage, "ProfileImage"}, {Slack, "Slack"}} {
		if d&x.d != 0 {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, "+")
}

// TestOpenAPIWellFormed checks what a generator or validator would trip
// on: unique operation IDs, known tags, responses, path parameters that
// match each template, and references that resolve.
func TestOpenAPIWellFormed(t *testing.T) {
	doc := parseDoc(t, openAPIDocument)
	var tags []string
	for _, tg := range doc.Tags {
		tags = append(tags, tg.Name)
	}
	ids := map[string]bool{}
	wildcard := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc.Paths {
		var inTemplate []string
		for _, m := range wildcard.FindAllStringSubmatch(path, -1) {
			inTemplate = append(inTemplate, m[1])
		}
		slices.Sort(inTemplate)
		for method, raw := range item {
			if !slices.Contains(openAPIMethods, method) {
				t.Errorf("%s: unexpected member %q", path, method)
				continue
			}
			var op openAPIOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s %s: %v", method, path, err)
				continue
			}
			where := method + " " + path
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q missing or repeated", where, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Tags) != 1 || !slices.Contains(tags, op.Tags[0]) {
				t.Errorf("%s: tags %v, want one of %v", where, op.Tags, tags)
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			var inParams []string
			for _, pr := range op.Parameters {
				var p openAPIParam
				if err := json.Unmarshal(pr, &p); err != nil {
					t.Fatalf("%s: parameter: %v", where, err)
				}
				if p.Ref != "" {
					p = resolveParam(t, doc, p.Ref)
				}
				if p.Name == "" || p.In == "" {
					t.Errorf("%s: a parameter without name or in: %s", where, pr)
				}
				if p.In == "path" {
					if !p.Required {
						t.Errorf("%s: path parameter %s is not required", where, p.Name)
					}
					inParams = append(inParams, p.Name)
				}
			}
			slices.Sort(inParams)
			if d := cmp.Diff(inTemplate, inParams); d != "" {
				t.Errorf("%s: path parameters differ from the template (-template +declared):\n%s", where, d)
			}
		}
	}
	checkRefs(t, doc.Raw, doc.Raw)
}

// resolveParam returns the parameter a local reference names.
func resolveParam(t *testing.T, doc *openAPIDoc, ref string) openAPIParam {
	t.Helper()
	v := lookupRef(doc.Raw, ref)
	if v == nil {
		t.Fatalf("unresolved reference %s", ref)
	}
	b, _ := json.Marshal(v)
	var p openAPIParam
	json.Unmarshal(b, &p)
	return p
}

// lookupRef follows a "#/a/b" reference in doc; nil if it does not
// resolve.
func lookupRef(doc map[string]any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, seg := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)]
	}
	return cur
}

// checkRefs walks v and checks that every $ref resolves in doc.
func checkRefs(t *testing.T, doc map[string]any, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok && lookupRef(doc, ref) == nil {
			t.Errorf("unresolved reference %s", ref)
		}
		for _, x := range v {
			checkRefs(t, doc, x)
		}
	case []any:
		for _, x := range v {
			checkRefs(t, doc, x)
		}
	}
}
