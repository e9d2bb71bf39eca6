package photo

// The application's hooks: Options.BeforeCommit, which may refuse an
// image before it is stored (here), and Options.OnChange, told of every
// committed change (events.go).

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime/debug"
)

// vet asks Options.BeforeCommit about img, the upright upload (see its
// documentation for what its answers become).
func (m *Manager) vet(ctx context.Context, userID string, img image.Image) (err error) {
	hook := m.opts.BeforeCommit
	if hook == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			m.cfg.log.Error("photo: Options.BeforeCommit panicked", "user", userID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("photo: set %q: Options.BeforeCommit panicked: %v", userID, p)
		}
	}()
	herr := hook(ctx, userID, img)
	if herr == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return wrapErr(cerr, "set %q", userID)
	}
	var pe *Error
	if errors.As(herr, &pe) {
		if errors.Is(pe, ErrBusy) || pe.Code == CodeRefused {
			return pe
		}
		return &Error{Code: CodeRefused, Message: pe.SafeMessage(), Err: herr}
	}
	return &Error{Code: CodeRefused, Err: herr}
}
