package lease

import (
	"errors"

	"github.com/aws/smithy-go"
	"gocloud.dev/gcerrors"
)

// ErrorCode is gcerrors.Code(err), except that an S3 error is judged by
// its own API error code. gocloud.dev v0.46's s3blob first looks for "301"
// anywhere in the error's text (its sign of a bucket in another region)
// and then reads the error as a missing bucket: a random request id such
// as "...k5301ow..." turned a lost race for a lease generation (412
// PreconditionFailed) into "not found", and the command failed instead of
// trying the next generation. Later gocloud.dev releases check the API
// code first; this does the same without their dependency upgrades.
func ErrorCode(err error) gcerrors.ErrorCode {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket", "NoSuchKey", "NotFound":
			return gcerrors.NotFound
		case "PreconditionFailed":
			return gcerrors.FailedPrecondition
		case "AccessDenied", "Forbidden":
			return gcerrors.PermissionDenied
		}
		return gcerrors.Unknown
	}
	return gcerrors.Code(err)
}
