package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// outcome is what one reconcile concluded; conditions are computed from it alone.
type outcome struct {
	// kind is one of the outcome kinds below.
	kind outcomeKind
	// reason is a condition reason from api/v1alpha1.
	reason string
	// message is human-readable and never holds a secret.
	message string
}

type outcomeKind int

const (
	// outcomeReady: the remote object matches the spec (or, ObserveOnly, exists).
	outcomeReady outcomeKind = iota
	// outcomeProgressing: work continues (creating, updating, rate limited, retrying).
	outcomeProgressing
	// outcomeStalled: a human must act.
	outcomeStalled
	// outcomeNotReady: nothing to do but not Ready either (ObserveOnly and the remote object is gone).
	outcomeNotReady
	// outcomeSuspended: spec.suspend; Ready is left as it was.
	outcomeSuspended
	// outcomeDeleted: the finalizer was released; there is no status left to write.
	outcomeDeleted
)

func ready(reason, message string) outcome { return outcome{outcomeReady, reason, message} }
func progressing(reason, message string) outcome {
	return outcome{outcomeProgressing, reason, message}
}
func stalled(reason, message string) outcome  { return outcome{outcomeStalled, reason, message} }
func notReady(reason, message string) outcome { return outcome{outcomeNotReady, reason, message} }
func deleted() outcome                        { return outcome{kind: outcomeDeleted} }

// setConditions writes Ready, Reconciling and Stalled for o. kstatus reads only the True ones; the
// False ones stay so that `kubectl describe` shows the whole picture.
func setConditions(conds *[]metav1.Condition, generation int64, o outcome) {
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(conds, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	}
	switch o.kind {
	case outcomeReady:
		set(simv1alpha1.ConditionReady, metav1.ConditionTrue, o.reason, o.message)
		set(simv1alpha1.ConditionReconciling, metav1.ConditionFalse, o.reason, "")
		set(simv1alpha1.ConditionStalled, metav1.ConditionFalse, o.reason, "")
	case outcomeProgressing:
		set(simv1alpha1.ConditionReady, readyWhileProgressing(*conds), o.reason, o.message)
		set(simv1alpha1.ConditionReconciling, metav1.ConditionTrue, o.reason, o.message)
		set(simv1alpha1.ConditionStalled, metav1.ConditionFalse, o.reason, "")
	case outcomeStalled:
		set(simv1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message)
		set(simv1alpha1.ConditionReconciling, metav1.ConditionFalse, o.reason, "")
		set(simv1alpha1.ConditionStalled, metav1.ConditionTrue, o.reason, o.message)
	case outcomeNotReady:
		set(simv1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message)
		set(simv1alpha1.ConditionReconciling, metav1.ConditionFalse, o.reason, "")
		set(simv1alpha1.ConditionStalled, metav1.ConditionFalse, o.reason, "")
	case outcomeSuspended:
		if meta.FindStatusCondition(*conds, simv1alpha1.ConditionReady) == nil {
			set(simv1alpha1.ConditionReady, metav1.ConditionUnknown, o.reason, o.message)
		}
		set(simv1alpha1.ConditionReconciling, metav1.ConditionFalse, o.reason, o.message)
		set(simv1alpha1.ConditionStalled, metav1.ConditionFalse, o.reason, "")
	}
}

// readyWhileProgressing is Unknown while the first sync runs and False afterwards: the remote no
// longer matches the spec once a new generation is being applied.
func readyWhileProgressing(conds []metav1.Condition) metav1.ConditionStatus {
	if meta.FindStatusCondition(conds, simv1alpha1.ConditionReady) == nil {
		return metav1.ConditionUnknown
	}
	return metav1.ConditionFalse
}

// writeStatus writes after's status, once at the end of a reconcile, when it differs from before's. It
// replaces the whole status (an update of the status subresource, which carries after's
// resourceVersion as a precondition), so that steps that persisted part of it on the way (the create
// marker) are overwritten by the final state, and a status computed from an out-of-date copy is never
// written over a newer one. It reports whether it wrote. A conflict is returned for the caller to
// requeue; an object already gone is not an error. Both reconcilers write their status through it.
func writeStatus[T client.Object](ctx context.Context, c client.Client, before, after T, status func(T) any) (bool, error) {
	if equality.Semantic.DeepEqual(status(before), status(after)) {
		return false, nil
	}
	// A remote write that happened must be recorded even if the manager is stopping meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
	defer cancel()
	err := c.Status().Update(ctx, after)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// statusWriteTimeout bounds the status write, which does not stop when the manager does.
const statusWriteTimeout = 10 * time.Second
