package httpadapter

import (
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of every route. A test
// checks it against the route table both ways, so it cannot drift.
//
//go:embed openapi.json
var openAPIDocument []byte

// dialectTags maps each operation tag of the document to the dialect that
// serves it; the tags missing here (Renditions, OpenAPI) are always on.
var dialectTags = map[string]Dialect{
	"Chatter":      Chatter,
	"Igloo":        Igloo,
	"ProfileImage": ProfileImage,
	"Slack":        Slack,
}

func (h *Handler) openAPIRoutes() []route {
	doc, err := openAPIFor(h.opts.Dialects)
	return []route{{"GET /openapi.json", 0, func(w http.ResponseWriter, r *http.Request) error {
		if err != nil {
			return err
		}
		h.serveOpenAPI(w, r, doc)
		return nil
	}}}
}

// openAPIFor returns the document's top-level members with the
// operations of the dialects that are off removed.
func openAPIFor(on Dialect) (map[string]json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		return nil, errors.New("httpadapter: the embedded OpenAPI document is malformed: " + err.Error())
	}
	var paths map[string]map[string]json.RawMessage
	if err := json.Unmarshal(doc["paths"], &paths); err != nil {
		return nil, errors.New("httpadapter: the embedded OpenAPI paths are malformed: " + err.Error())
	}
	for p, item := range paths {
		for method, raw := range item {
			var op struct {
				Tags []string `json:"tags"`
			}
			if json.Unmarshal(raw, &op) != nil {
				continue // not an operation (e.g. a path-level parameters list)
			}
			for _, tag := range op.Tags {
				if d, ok := dialectTags[tag]; ok && on&d == 0 {
					delete(item, method)
				}
			}
		}
		if len(item) == 0 {
			delete(paths, p)
		}
	}
	b, err := json.Marshal(paths)
	if err != nil {
		return nil, err
	}
	doc["paths"] = b
	return doc, nil
}

// serveOpenAPI writes the document with servers set to the adapter's
// absolute base URL, so that tools call the right prefix.
func (h *Handler) serveOpenAPI(w http.ResponseWriter, r *http.Request, doc map[string]json.RawMessage) {
	servers, _ := json.Marshal([]map[string]string{{"url": h.baseURL(r)}})
	out := make(map[string]json.RawMessage, len(doc)+1)
	for k, v := range doc {
		out[k] = v
	}
	out["servers"] = servers
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, out)
}
