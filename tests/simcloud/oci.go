package simcloud

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The registry's own API (the OCI distribution API ECR serves at
// <account>.dkr.ecr.<region>.amazonaws.com), as strict as ECR is on what a
// copy between repositories depends on: every call carries a token from
// ecr:GetAuthorizationToken that has not expired; a repository must exist;
// a blob is read from, and a manifest pushed to, a repository only when
// the blob is in that repository (a manifest whose layers are not there is
// refused, ECR's LayersNotFoundException); a tag is never overwritten; an
// image is gone with its last tag. Blob mounting (a layer of another
// repository of the registry taken without an upload) is ECR's opt-in
// registry setting: off unless SetBlobMounting turns it on, as in a new
// account. Pushes by the docker provider (an Image's) store an image with
// real manifest, config and layer digests in the same place.

// ociManifest is a stored manifest.
type ociManifest struct {
	mediaType string
	body      []byte
}

// ociUpload is a blob upload under way.
type ociUpload struct {
	repo string
	buf  bytes.Buffer
}

const (
	mediaManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaConfig   = "application/vnd.docker.container.image.v1+json"
	mediaLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// SetBlobMounting turns ECR's registry blob mounting on or off.
func (c *Cloud) SetBlobMounting(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blobMounting = on
}

// RegistryPush is one manifest pushed through the registry API.
type RegistryPush struct {
	// Repository is "host/repo"; Tag the tag it was pushed under ("" by digest).
	Repository, Tag, Digest string
	// Mounted and Uploaded count the blobs the push's repository took
	// from another repository (blob mounting) and by upload, before it.
	Mounted, Uploaded int
}

// RegistryPushes returns the manifests pushed through the registry API
// (not by the docker provider's builds), in order.
func (c *Cloud) RegistryPushes() []RegistryPush {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]RegistryPush(nil), c.registryPushes...)
}

// HasImage reports whether repository ("host/repo") holds the image
// with manifest digest d.
func (c *Cloud) HasImage(repo, d string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.repoBlobs[repo][d] && c.manifests[d].body != nil
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// simImage is the image a simulated build with seed makes: one layer, its
// config and its manifest, with their real digests.
func simImage(seed string) (manifest, config, layer []byte) {
	layer = []byte("simulated image layer " + seed)
	config, _ = json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{sha(layer)}},
	})
	manifest, _ = json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaManifest,
		"config": map[string]any{"mediaType": mediaConfig, "size": len(config), "digest": sha(config)},
		"layers": []any{map[string]any{"mediaType": mediaLayer, "size": len(layer), "digest": sha(layer)}},
	})
	return manifest, config, layer
}

// simImageDigest is the manifest digest of simImage(seed).
func simImageDigest(seed string) string {
	m, _, _ := simImage(seed)
	return sha(m)
}

// store puts an image built with seed into repo ("host/repo"): its blobs
// and manifest. Callers hold c.mu.
func (c *Cloud) store(repo, seed string) string {
	m, cfg, layer := simImage(seed)
	for _, b := range [][]byte{cfg, layer} {
		c.blobs[sha(b)] = b
		c.addBlob(repo, sha(b))
	}
	d := sha(m)
	c.manifests[d] = ociManifest{mediaType: mediaManifest, body: m}
	c.addBlob(repo, d)
	return d
}

// addBlob records that repo holds blob (or manifest) d. Callers hold c.mu.
func (c *Cloud) addBlob(repo, d string) {
	if c.repoBlobs[repo] == nil {
		c.repoBlobs[repo] = map[string]bool{}
	}
	c.repoBlobs[repo][d] = true
}

// untag deletes a tag; the image goes with the last tag that names it.
// Callers hold c.mu.
func (c *Cloud) untag(repo, tag string) {
	d, ok := c.tags[repo][tag]
	if !ok {
		return
	}
	delete(c.tags[repo], tag)
	for _, other := range c.tags[repo] {
		if other == d {
			return
		}
	}
	delete(c.repoBlobs[repo], d)
}

// ociError writes a registry API error.
func ociError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// registryAuthorized checks the request's basic credentials: user AWS and
// a simulated ECR token that has not expired. Callers hold c.mu.
func (c *Cloud) registryAuthorized(r *http.Request) (bool, string) {
	user, pw, ok := r.BasicAuth()
	if !ok {
		return false, "no basic auth credentials"
	}
	exp, isToken := strings.CutPrefix(pw, tokenPrefix)
	if user != "AWS" || !isToken {
		return false, "invalid authorization token"
	}
	t, err := time.Parse(time.RFC3339, exp)
	if err != nil || !time.Now().Add(c.skew).Before(t) {
		return false, "Your authorization token has expired. Reauthenticate and try again."
	}
	return true, ""
}

// repoKey is the registry's "host/repo" key for a repository name, if an
// ECR repository of that name exists. Callers hold c.mu.
func (c *Cloud) repoKey(name string) (string, bool) {
	for _, r := range c.resources {
		if r.Type == "aws:ecr/repository:Repository" && r.Inputs["name"].IsString() && r.Inputs["name"].StringValue() == name {
			return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", account, region, name), true
		}
	}
	return "", false
}

// serveRegistry serves the registry API under /v2/. Callers hold c.mu.
func (c *Cloud) serveRegistry(w http.ResponseWriter, r *http.Request, body []byte) {
	if ok, why := c.registryAuthorized(r); !ok {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="http://%s/",service="ecr.amazonaws.com"`, r.Host))
		ociError(w, http.StatusUnauthorized, "DENIED", why)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	if path == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	var name, kind, ref string
	for _, k := range []string{"/manifests/", "/blobs/uploads/", "/blobs/"} {
		if i := strings.LastIndex(path, k); i > 0 {
			name, kind, ref = path[:i], strings.Trim(k, "/"), path[i+len(k):]
			break
		}
	}
	if kind == "" && strings.HasSuffix(path, "/blobs/uploads") {
		name, kind = strings.TrimSuffix(path, "/blobs/uploads"), "blobs/uploads"
	}
	repo, ok := c.repoKey(name)
	if !ok {
		ociError(w, http.StatusNotFound, "NAME_UNKNOWN", fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", name, account))
		return
	}
	switch {
	case kind == "manifests" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		c.getManifest(w, r, repo, ref)
	case kind == "manifests" && r.Method == http.MethodPut:
		c.putManifest(w, r, repo, name, ref, body)
	case kind == "blobs" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if !c.repoBlobs[repo][ref] || c.blobs[ref] == nil {
			ociError(w, http.StatusNotFound, "BLOB_UNKNOWN", fmt.Sprintf("blob %s is not in repository %s", ref, name))
			return
		}
		w.Header().Set("Docker-Content-Digest", ref)
		w.Header().Set("Content-Length", strconv.Itoa(len(c.blobs[ref])))
		if r.Method == http.MethodGet {
			w.Write(c.blobs[ref])
		}
	case kind == "blobs/uploads" && r.Method == http.MethodPost:
		c.startUpload(w, r, repo, name)
	case kind == "blobs/uploads" && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		c.continueUpload(w, r, repo, name, ref, body)
	default:
		ociError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", fmt.Sprintf("simcloud serves no %s %s", r.Method, r.URL.Path))
	}
}

func (c *Cloud) getManifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	d := ref
	if !strings.HasPrefix(ref, "sha256:") {
		d = c.tags[repo][ref]
	}
	m := c.manifests[d]
	if d == "" || !c.repoBlobs[repo][d] || m.body == nil {
		ociError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("Requested image not found: %s", ref))
		return
	}
	w.Header().Set("Content-Type", m.mediaType)
	w.Header().Set("Docker-Content-Digest", d)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.body)))
	if r.Method == http.MethodGet {
		w.Write(m.body)
	}
}

func (c *Cloud) startUpload(w http.ResponseWriter, r *http.Request, repo, name string) {
	q := r.URL.Query()
	if mount, from := q.Get("mount"), q.Get("from"); c.blobMounting && mount != "" && from != "" {
		if src, ok := c.repoKey(from); ok && c.repoBlobs[src][mount] {
			c.addBlob(repo, mount)
			c.mounted[repo]++
			w.Header().Set("Location", "/v2/"+name+"/blobs/"+mount)
			w.Header().Set("Docker-Content-Digest", mount)
			w.WriteHeader(http.StatusCreated)
			return
		}
	}
	c.seq++
	id := fmt.Sprintf("upload-%06d", c.seq)
	c.uploads[id] = &ociUpload{repo: repo}
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", "0-0")
	w.WriteHeader(http.StatusAccepted)
}

func (c *Cloud) continueUpload(w http.ResponseWriter, r *http.Request, repo, name, id string, body []byte) {
	u, ok := c.uploads[id]
	if !ok || u.repo != repo {
		ociError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload "+id+" is not under way")
		return
	}
	u.buf.Write(body)
	if r.Method == http.MethodPatch {
		w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
		w.Header().Set("Range", fmt.Sprintf("0-%d", u.buf.Len()-1))
		w.WriteHeader(http.StatusAccepted)
		return
	}
	delete(c.uploads, id)
	d := r.URL.Query().Get("digest")
	if got := sha(u.buf.Bytes()); got != d {
		ociError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("the upload's digest is %s, not %s", got, d))
		return
	}
	c.blobs[d] = append([]byte(nil), u.buf.Bytes()...)
	c.addBlob(repo, d)
	c.uploaded[repo]++
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d)
	w.Header().Set("Docker-Content-Digest", d)
	w.WriteHeader(http.StatusCreated)
}

// putManifest stores a manifest pushed to repo: each blob it names must
// be in the repository, and a tag is never moved.
func (c *Cloud) putManifest(w http.ResponseWriter, r *http.Request, repo, name, ref string, body []byte) {
	d := sha(body)
	if strings.HasPrefix(ref, "sha256:") && ref != d {
		ociError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("the manifest's digest is %s, not %s", d, ref))
		return
	}
	var m struct {
		Config    struct{ Digest string }
		Layers    []struct{ Digest string }
		Manifests []struct{ Digest string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		ociError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	need := []string{}
	if m.Config.Digest != "" {
		need = append(need, m.Config.Digest)
	}
	for _, l := range m.Layers {
		need = append(need, l.Digest)
	}
	for _, child := range m.Manifests {
		need = append(need, child.Digest)
	}
	for _, b := range need {
		if !c.repoBlobs[repo][b] {
			ociError(w, http.StatusBadRequest, "BLOB_UNKNOWN", fmt.Sprintf("LayersNotFoundException: blob %s of the manifest is not in repository %s", b, name))
			return
		}
	}
	tag := ""
	if !strings.HasPrefix(ref, "sha256:") {
		tag = ref
		if old, exists := c.tags[repo][tag]; exists && old != d {
			ociError(w, http.StatusBadRequest, "TAG_INVALID", fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, name))
			return
		}
	}
	mt := r.Header.Get("Content-Type")
	if mt == "" {
		mt = mediaManifest
	}
	c.manifests[d] = ociManifest{mediaType: mt, body: append([]byte(nil), body...)}
	c.addBlob(repo, d)
	if tag != "" {
		if c.tags[repo] == nil {
			c.tags[repo] = map[string]string{}
		}
		if _, exists := c.tags[repo][tag]; !exists {
			c.tags[repo][tag] = d
			c.pushed[repo+":"+tag] = time.Now().Add(c.skew)
		}
	}
	c.registryPushes = append(c.registryPushes, RegistryPush{Repository: repo, Tag: tag, Digest: d, Mounted: c.mounted[repo], Uploaded: c.uploaded[repo]})
	c.mounted[repo], c.uploaded[repo] = 0, 0
	c.expireImages()
	w.Header().Set("Docker-Content-Digest", d)
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+d)
	w.WriteHeader(http.StatusCreated)
}

// authorizationToken answers ecr:GetAuthorizationToken: a token for the
// registry API, good for 12 hours, and the registry's endpoint, this
// server. Callers hold c.mu.
func (c *Cloud) authorizationToken(w http.ResponseWriter, r *http.Request) {
	exp := time.Now().Add(c.skew + tokenLife).UTC().Truncate(time.Second)
	pw := tokenPrefix + exp.Format(time.RFC3339)
	json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
		"expiresAt":          exp.Unix(),
		"proxyEndpoint":      "http://" + r.Host,
	}}})
}
