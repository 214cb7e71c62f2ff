package lease

import (
	"fmt"
	"testing"

	"github.com/aws/smithy-go"
	"gocloud.dev/gcerrors"
)

// TestErrorCode: an S3 error is read by its API code, whatever its text
// holds. A lost conditional create whose request id happens to contain
// "301" (as one moto answered in CI: "...k5301ow...") is a failed
// precondition, not a missing bucket; other errors keep gocloud's reading.
func TestErrorCode(t *testing.T) {
	s3err := func(code, requestID string) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject",
			Err: fmt.Errorf("https response error StatusCode: 412, RequestID: %s, api error: %w", requestID, &smithy.GenericAPIError{Code: code, Message: "At least one of the pre-conditions you specified did not hold"})}
	}
	for _, tt := range []struct {
		err  error
		want gcerrors.ErrorCode
	}{
		{s3err("PreconditionFailed", "KdWZbB0TQPSPABM2A9aWqyPB0k5301ow2GOIH9UJl8vch0SK8rmn"), gcerrors.FailedPrecondition},
		{s3err("NoSuchKey", "3010"), gcerrors.NotFound},
		{s3err("AccessDenied", "301"), gcerrors.PermissionDenied},
		{s3err("SlowDown", "x301x"), gcerrors.Unknown},
		{fmt.Errorf("not an S3 error"), gcerrors.Unknown},
	} {
		if got := ErrorCode(tt.err); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.err, got, tt.want)
		}
	}
}
