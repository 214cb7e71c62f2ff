package simcloud

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// dockerKinds maps the Docker engine API's collections to the simulated
// resource types they list.
var dockerKinds = map[string]string{
	"containers": "docker:index/container:Container",
	"networks":   "docker:index/network:Network",
	"volumes":    "docker:index/volume:Volume",
}

// ServeDockerAPI serves, on a unix socket at path, the part of the Docker
// engine API that phoenix itself calls (ping; list containers, networks and
// volumes by label; remove them) over the simulated docker resources, so
// that the CLI's own engine client runs against the simulated cloud as it
// would against dockerd. It returns a function that stops it.
func (c *Cloud) ServeDockerAPI(path string) (func(), error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) { c.dockerList(w, r, "containers") })
	mux.HandleFunc("GET /containers/{id}/json", c.dockerInspect)
	mux.HandleFunc("GET /images/{ref...}", c.dockerImage)
	mux.HandleFunc("GET /networks", func(w http.ResponseWriter, r *http.Request) { c.dockerList(w, r, "networks") })
	mux.HandleFunc("GET /volumes", func(w http.ResponseWriter, r *http.Request) { c.dockerList(w, r, "volumes") })
	for _, kind := range []string{"containers", "networks", "volumes"} {
		mux.HandleFunc("DELETE /"+kind+"/{id}", func(w http.ResponseWriter, r *http.Request) { c.dockerRemove(w, r, kind) })
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// dockerLabels reads a simulated docker resource's labels.
func dockerLabels(r Resource) map[string]string {
	out := map[string]string{}
	if v, ok := r.Inputs["labels"]; ok && v.IsArray() {
		for _, l := range v.ArrayValue() {
			if !l.IsObject() {
				continue
			}
			o := l.ObjectValue()
			out[o["label"].StringValue()] = o["value"].StringValue()
		}
	}
	return out
}

// dockerName is the name the engine would give the resource: its "name"
// input (the provider's autonamed one) or the logical name.
func dockerName(r Resource) string {
	if v, ok := r.Inputs[resource.PropertyKey("name")]; ok && v.IsString() && v.StringValue() != "" {
		return v.StringValue()
	}
	return r.Name
}

func (c *Cloud) dockerList(w http.ResponseWriter, r *http.Request, kind string) {
	var filters struct {
		Label []string `json:"label"`
	}
	if f := r.URL.Query().Get("filters"); f != "" {
		if err := json.Unmarshal([]byte(f), &filters); err != nil {
			http.Error(w, `{"message":"bad filters"}`, http.StatusBadRequest)
			return
		}
	}
	type object struct {
		ID     string `json:"Id,omitempty"`
		Name   string `json:"Name,omitempty"`
		Names  []string
		Labels map[string]string
	}
	var list []object
	for _, res := range c.Inventory() {
		if res.Type != dockerKinds[kind] {
			continue
		}
		labels := dockerLabels(res)
		match := true
		for _, f := range filters.Label {
			k, v, hasValue := strings.Cut(f, "=")
			got, ok := labels[k]
			if !ok || (hasValue && got != v) {
				match = false
			}
		}
		if !match {
			continue
		}
		o := object{ID: res.ID, Labels: labels}
		switch kind {
		case "containers":
			o.Names = []string{"/" + dockerName(res)}
		case "networks":
			o.Name = dockerName(res)
		case "volumes":
			// A volume is known by its name, which the simulated
			// provider's state holds as its id.
			o.ID, o.Name = "", res.ID
		}
		list = append(list, o)
	}
	if list == nil {
		list = []object{}
	}
	w.Header().Set("Content-Type", "application/json")
	if kind == "volumes" {
		json.NewEncoder(w).Encode(map[string]any{"Volumes": list})
		return
	}
	json.NewEncoder(w).Encode(list)
}

func (c *Cloud) dockerRemove(w http.ResponseWriter, r *http.Request, kind string) {
	id := r.PathValue("id")
	res, ok := c.read(id)
	if !ok || res.Type != dockerKinds[kind] {
		http.Error(w, `{"message":"No such object: `+id+`"}`, http.StatusNotFound)
		return
	}
	if err := c.delete(id, res.Type, res.Name); err != nil {
		http.Error(w, `{"message":"`+err.Error()+`"}`, http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dockerInspect answers a container's inspect with its state: running, or
// dockerImage answers an image's inspect (GET /images/<ref>/json) with its
// id: the RemoteImage built or pulled on this machine whose name or id ref
// is, as the engine's image store holds them.
func (c *Cloud) dockerImage(w http.ResponseWriter, r *http.Request) {
	ref, ok := strings.CutSuffix(r.PathValue("ref"), "/json")
	if !ok {
		http.NotFound(w, r)
		return
	}
	c.mu.Lock()
	var id string
	for _, res := range c.resources {
		if res.Type != "docker:index/remoteImage:RemoteImage" || res.Machine != c.machine {
			continue
		}
		got, _ := res.Outputs["imageId"].V.(string)
		if name, _ := res.Inputs["name"].V.(string); name == ref || got == ref {
			id = got
		}
	}
	c.mu.Unlock()
	if id == "" {
		http.Error(w, `{"message":"No such image: `+ref+`"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Id": id})
}

// dockerInspect answers a container's inspect with its state: running, or
// exited as a container stopped behind the engine's back (Stop) is. The
// simulated containers have no output: GET .../logs is not served.
func (c *Cloud) dockerInspect(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	res, ok := c.resources[r.PathValue("id")]
	var stopped bool
	if ok {
		stopped = res.Stopped
	}
	c.mu.Unlock()
	if !ok || res.Type != "docker:index/container:Container" {
		http.Error(w, `{"message":"No such container: `+r.PathValue("id")+`"}`, http.StatusNotFound)
		return
	}
	state := map[string]any{"Status": "running", "Running": true, "ExitCode": 0}
	if stopped {
		state = map[string]any{"Status": "exited", "Running": false, "ExitCode": 137}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Id": r.PathValue("id"), "RestartCount": 0, "State": state, "Config": map[string]any{"Tty": false}})
}
