// Package moto runs moto's S3 API (moto 5, which .ci/run checks is
// installed) for tests: a real S3 wire protocol with conditional writes,
// served single-threaded so that those writes are atomic under concurrent
// requests.
package moto

import (
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/phoenix-iac/phoenix/tests/procs"
)

// Server is one moto_server on a loopback port.
type Server struct {
	Port int
}

// Start runs moto on a free loopback port and stops it (by its process
// group) when the test ends. The test fails, never skips, without moto.
func Start(t testing.TB) *Server {
	t.Helper()
	port := procs.FreePort(t)
	script := fmt.Sprintf(`from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", %d, DomainDispatcherApplication(create_backend_app), threaded=False)`, port)
	procs.Serve(t, "moto", exec.Command("python3", "-c", script), port, "python3 with moto 5, which .ci/run checks for: python3 -c 'import moto'")
	return &Server{Port: port}
}

// Endpoint is the server's URL.
func (s *Server) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", s.Port) }

// Client is an S3 client of the server.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint()), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}})
}

// Bucket creates a bucket.
func (s *Server) Bucket(t testing.TB, name string) {
	t.Helper()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s on moto: %v", name, err)
	}
}

// BackendURL is a Pulumi state backend URL of bucket, with prefix, written
// as the Pulumi CLI takes it (its legacy S3 parameters), with the
// credentials (any, for moto) that a process using it needs in its
// environment.
func (s *Server) BackendURL(bucket, prefix string) (string, []string) {
	return fmt.Sprintf("s3://%s/%s?endpoint=127.0.0.1:%d&disableSSL=true&s3ForcePathStyle=true&region=us-east-1", bucket, prefix, s.Port),
		[]string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1"}
}
