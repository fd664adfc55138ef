package controller

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// stalledRetryInterval is how long a stalled object waits before it is tried again on its own; a change
// to its spec, tenant or Secret retries it at once.
const stalledRetryInterval = 30 * time.Minute

// stallError is an error that needs a human: it becomes Stalled=True with its reason.
type stallError struct {
	reason  string
	message string
}

func (e *stallError) Error() string { return e.reason + ": " + e.message }

func stall(reason, format string, args ...any) error {
	return &stallError{reason: reason, message: fmt.Sprintf(format, args...)}
}

// waitError is a state that ends by itself (a tenant becoming Ready): Reconciling=True with its reason,
// looked at again after a while, without back-off or a Reconciler error.
type waitError struct {
	reason, message string
	after           time.Duration
}

func (e *waitError) Error() string { return e.reason + ": " + e.message }

func waitFor(reason string, after time.Duration, format string, args ...any) error {
	return &waitError{reason: reason, message: fmt.Sprintf(format, args...), after: after}
}

// verdict is what an error means for the object: its outcome and when to try again.
type verdict struct {
	outcome outcome
	// requeueAfter is set for terminal and waiting errors; transient ones return err for back-off.
	requeueAfter time.Duration
	// err is returned to controller-runtime for exponential back-off (transient errors only).
	err error
	// rateLimited says a 429 or a closed budget was met (event RateLimited).
	rateLimited bool
}

// classify turns any error of a reconcile into a verdict, in one place: terminal errors stall with no
// retry storm, rate limits wait exactly Retry-After, transient errors back off exponentially. Write
// conflicts never reach it: the reconcilers requeue them without a condition.
func classify(err error) verdict {
	if se, ok := errors.AsType[*stallError](err); ok {
		return verdict{outcome: stalled(se.reason, se.message), requeueAfter: stalledRetryInterval}
	}
	if ae, ok := errors.AsType[*identitynow.AddressError](err); ok {
		return verdict{outcome: stalled(simv1alpha1.ReasonHostNotAllowed, addressRefusal(ae)), requeueAfter: stalledRetryInterval}
	}
	if ce, ok := errors.AsType[*tenant.ConfigError](err); ok {
		return verdict{outcome: stalled(ce.Reason, ce.Message), requeueAfter: stalledRetryInterval}
	}
	if we, ok := errors.AsType[*waitError](err); ok {
		return verdict{outcome: progressing(we.reason, we.message), requeueAfter: we.after}
	}
	if tl, ok := errors.AsType[*tenant.SecretValueTooLargeError](err); ok {
		return verdict{outcome: stalled(simv1alpha1.ReasonInvalidSpec, tl.Error()), requeueAfter: stalledRetryInterval}
	}
	if sk, ok := errors.AsType[*tenant.SecretKeyError](err); ok {
		return verdict{outcome: stalled(simv1alpha1.ReasonSecretNotFound, sk.Error()), requeueAfter: stalledRetryInterval}
	}
	msg := remoteMessage(err)
	switch identitynow.KindOf(err) {
	case identitynow.KindInvalid:
		return verdict{outcome: stalled(simv1alpha1.ReasonInvalidSpec, "IdentityNow rejected the request: "+msg), requeueAfter: stalledRetryInterval}
	case identitynow.KindForbidden:
		return verdict{outcome: stalled(simv1alpha1.ReasonForbidden,
			"IdentityNow refused access (403); the API client needs an ORG_ADMIN user and the scope idn:service-desk-integration:manage: "+msg),
			requeueAfter: stalledRetryInterval}
	case identitynow.KindUnauthorized:
		return verdict{outcome: stalled(simv1alpha1.ReasonUnauthorized, "IdentityNow refused the credentials: "+msg), requeueAfter: stalledRetryInterval}
	case identitynow.KindRateLimited:
		wait := identitynow.RetryAfter(err)
		if wait <= 0 {
			wait = identitynow.DefaultRetryAfter
		}
		return verdict{outcome: progressing(simv1alpha1.ReasonRateLimited,
			fmt.Sprintf("Waiting %s for the tenant's rate limit", wait.Round(time.Second))), requeueAfter: wait, rateLimited: true}
	case identitynow.KindNotFound, identitynow.KindServer, identitynow.KindTransport:
		return verdict{outcome: progressing(simv1alpha1.ReasonRetrying, "Retrying after a transient error: "+msg), err: err}
	}
	return verdict{outcome: progressing(simv1alpha1.ReasonRetrying, "Retrying after an error: "+err.Error()), err: err}
}

// remoteMessage is the remote's own words, or the error text (which never holds secrets).
func remoteMessage(err error) string {
	var ie *identitynow.Error
	if errors.As(err, &ie) && len(ie.Messages) > 0 {
		return strings.Join(ie.Messages, "; ")
	}
	return err.Error()
}

// addressRefusal explains a connection the dial-time address check refused, and what would allow it.
// The error names the URL's host, never its user info.
func addressRefusal(e *identitynow.AddressError) string {
	switch e.Class {
	case identitynow.ClassNotAllowed:
		return e.Error() + " (--tenant-host-allowlist)"
	case identitynow.ClassPrivate:
		return e.Error() + "; private addresses need --allow-private-networks or a --tenant-host-allowlist entry naming the IP"
	}
	named := net.JoinHostPort(e.Addr.String(), strconv.Itoa(int(e.Port)))
	return fmt.Sprintf("%s; %s addresses are refused unless --tenant-host-allowlist names the IP, e.g. %s", e, e.Class, named)
}
