package lease

import "context"

type ctxKey struct{}

// NewContext returns ctx carrying l, so that the steps of a command can
// check its lease before they change anything (Fence).
func NewContext(ctx context.Context, l *Lease) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the lease ctx carries, or nil.
func FromContext(ctx context.Context) *Lease {
	l, _ := ctx.Value(ctxKey{}).(*Lease)
	return l
}

// Fence returns nil when ctx carries no lease or its lease is still the
// command's, and a *FencedError when it was taken over or released: every
// traffic write and stack removal calls it first.
func Fence(ctx context.Context) error {
	if l := FromContext(ctx); l != nil {
		return l.Check(ctx)
	}
	return nil
}
