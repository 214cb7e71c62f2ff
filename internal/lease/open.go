package lease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob" // s3:// URLs
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"
)

// Prefix is where leases live in the state backend, beside Pulumi's own
// .pulumi/ folder.
const Prefix = ".phoenix/leases/"

// openTimeout bounds Open's first read of the store.
const openTimeout = 30 * time.Second

// Open opens the leases of project in the blob store at rawURL: the state
// backend's URL as the Pulumi CLI takes it (file://, s3:// with the legacy
// S3 parameters it also accepts, gs:// and azblob://), opened with the
// credentials the CLI would use. Pulumi Cloud has no blob store: set
// PHOENIX_LEASE_URL then.
// The store is checked with a read before it is returned, so that a
// backend phoenix cannot use is refused before anything changes.
func Open(ctx context.Context, rawURL, project string) (*Store, func() error, error) {
	b, err := OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, nil, err
	}
	b = blob.PrefixedBucket(b, Prefix+project+"/")
	// A missing bucket reads as a missing object; a listing says so. The
	// cloud clients retry what looks transient until their context ends.
	probe, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	for range 3 {
		_, err = b.List(&blob.ListOptions{}).Next(probe)
		// An entry removed while the listing read it (another command
		// releasing its lease, on a file backend) is NotFound once; a
		// missing bucket is every time.
		if err == nil || errors.Is(err, io.EOF) || gcerrors.Code(err) != gcerrors.NotFound {
			break
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.Close()
		return nil, nil, fmt.Errorf("the lease store %s cannot be read: %w", rawURL, err)
	}
	return New(b), b.Close, nil
}

// OpenBucket opens the blob store of a state backend URL, as the Pulumi
// CLI reads it, at the URL's prefix: the root that holds .pulumi/.
func OpenBucket(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	u, prefix, err := bucketURL(rawURL)
	if err != nil {
		return nil, err
	}
	var b *blob.Bucket
	if strings.HasPrefix(u, "file://") {
		// The folder may not exist before the first lease.
		dir := strings.TrimPrefix(u, "file://")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("the store %s: %w", rawURL, err)
		}
		b, err = fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true})
	} else {
		b, err = openURL(ctx, u)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the store %s: %w", rawURL, err)
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix)
	}
	return b, nil
}

// ErrNotABucket is returned, wrapped, for a backend URL that names no blob
// store (Pulumi Cloud).
var ErrNotABucket = errors.New("not a blob store")

// bucketURL turns a state backend URL into a gocloud.dev bucket URL and
// the prefix within the bucket (an S3 URL's path, as the Pulumi CLI takes
// it).
func bucketURL(raw string) (string, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("the backend URL %q is not a URL: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		p := u.Path
		if u.Host != "" && u.Host != "localhost" {
			p = u.Host + p
		}
		if strings.HasPrefix(raw, "file://~") {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", "", err
			}
			p = filepath.Join(home, strings.TrimPrefix(strings.SplitN(raw, "?", 2)[0], "file://~"))
		}
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("the backend URL %q names no absolute folder", raw)
		}
		return "file://" + p, "", nil
	case "s3":
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			prefix += "/"
		}
		u.Path = ""
		s, err := translateS3(u)
		return s, prefix, err
	case gcsblob.Scheme, azureblob.Scheme:
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			prefix += "/"
		}
		u.Path = ""
		return u.String(), prefix, nil
	case "", "http", "https":
		return "", "", fmt.Errorf("the backend %q is Pulumi Cloud, which has no blob store for phoenix's env lease: set PHOENIX_LEASE_URL to a bucket all your machines share (s3://, gs://, azblob:// or file://): %w", raw, ErrNotABucket)
	default:
		return "", "", fmt.Errorf("the backend %q: phoenix keeps env leases in file://, s3://, gs:// and azblob:// stores, the ones the Pulumi CLI keeps state in; set PHOENIX_LEASE_URL to one all your machines share", raw)
	}
}

// openURL opens a bucket URL as the Pulumi CLI opens a state backend's:
// gs:// with the credentials of GOOGLE_CREDENTIALS (a key file's content)
// or GOOGLE_OAUTH_ACCESS_TOKEN before Google's default credentials, and
// azblob:// also when AZURE_STORAGE_SAS_TOKEN is set with an account in
// the URL (which gocloud.dev's default opener refuses).
func openURL(ctx context.Context, u string) (*blob.Bucket, error) {
	mux := blob.DefaultURLMux()
	switch {
	case strings.HasPrefix(u, gcsblob.Scheme+"://") && os.Getenv("STORAGE_EMULATOR_HOST") == "":
		creds, err := googleCredentials(ctx)
		if err != nil {
			return nil, err
		}
		client, err := gcp.NewHTTPClient(gcp.DefaultTransport(), creds.TokenSource)
		if err != nil {
			return nil, err
		}
		mux = &blob.URLMux{}
		mux.RegisterBucket(gcsblob.Scheme, &gcsblob.URLOpener{Client: client})
	case strings.HasPrefix(u, azureblob.Scheme+"://"):
		mux = &blob.URLMux{}
		mux.RegisterBucket(azureblob.Scheme, &azureblob.URLOpener{
			MakeClient:        azureblob.NewDefaultClient,
			ServiceURLOptions: *azureblob.NewDefaultServiceURLOptions(),
		})
	}
	return mux.OpenBucket(ctx, u)
}

// googleCredentials returns the credentials the Pulumi CLI uses for a
// gs:// backend: GOOGLE_CREDENTIALS, else GOOGLE_OAUTH_ACCESS_TOKEN, else
// Google's default credentials.
func googleCredentials(ctx context.Context) (*google.Credentials, error) {
	if key := os.Getenv("GOOGLE_CREDENTIALS"); key != "" {
		creds, err := google.CredentialsFromJSON(ctx, []byte(key), "https://www.googleapis.com/auth/devstorage.read_write") //nolint:staticcheck // as the Pulumi CLI reads it
		if err != nil {
			return nil, fmt.Errorf("GOOGLE_CREDENTIALS holds no credentials: %w", err)
		}
		return creds, nil
	}
	if token := os.Getenv("GOOGLE_OAUTH_ACCESS_TOKEN"); token != "" {
		return &google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}, nil
	}
	creds, err := gcp.DefaultCredentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("no Google credentials for the gs:// store (set GOOGLE_CREDENTIALS or GOOGLE_APPLICATION_CREDENTIALS, or run gcloud auth application-default login): %w", err)
	}
	return creds, nil
}

// translateS3 accepts the S3 parameters the Pulumi CLI accepts and gives
// them as gocloud.dev v0.46 wants them: disableSSL picks the scheme of an
// endpoint given without one (it is dropped when the endpoint has one),
// s3ForcePathStyle becomes use_path_style, and an endpoint (an
// S3-compatible store rather than AWS) gets checksums only where required,
// which such stores accept.
func translateS3(u *url.URL) (string, error) {
	q := u.Query()
	insecure := false
	if v := q.Get("disableSSL"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Errorf("the backend URL's disableSSL=%q is not true or false", v)
		}
		insecure = b
		q.Del("disableSSL")
	}
	if v := q.Get("s3ForcePathStyle"); v != "" {
		q.Del("s3ForcePathStyle")
		q.Set("use_path_style", v)
	}
	if ep := q.Get("endpoint"); ep != "" {
		if !strings.Contains(ep, "://") {
			scheme := "https://"
			if insecure {
				scheme = "http://"
			}
			q.Set("endpoint", scheme+ep)
		}
		if q.Get("request_checksum_calculation") == "" && os.Getenv("AWS_REQUEST_CHECKSUM_CALCULATION") == "" {
			q.Set("request_checksum_calculation", "when_required")
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
