package reliability

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// randText returns n random letters and digits (crypto/rand: the values are secrets).
func randText(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const limit = 256 - 256%len(alphabet) // bytes from limit up would make some letters likelier
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/8+16)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// pemKey is a fake PEM private key: armor lines around random base64 lines of 64 characters.
func pemKey() (value, core string) {
	body := base64.StdEncoding.EncodeToString([]byte(randText(900)))
	var lines []string
	for len(body) > 64 {
		lines = append(lines, body[:64])
		body = body[64:]
	}
	lines = append(lines, body)
	core = strings.Join(lines, "\n")
	return "-----BEGIN PRIVATE KEY-----\n" + core + "\n-----END PRIVATE KEY-----\n", core
}

// secretForms are the forms in which a secret value may show up in a text: as it is, white space
// collapsed, JSON-escaped (with and without HTML escaping), URL-encoded (query and path) and base64.
func secretForms(v string) []string {
	var jsonHTML, jsonPlain strings.Builder
	enc := json.NewEncoder(&jsonHTML)
	_ = enc.Encode(v)
	enc = json.NewEncoder(&jsonPlain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	unquote := func(s string) string { s = strings.TrimSpace(s); return s[1 : len(s)-1] }
	forms := []string{v, strings.Join(strings.Fields(v), " "), unquote(jsonHTML.String()), unquote(jsonPlain.String()),
		url.QueryEscape(v), url.PathEscape(v), base64.StdEncoding.EncodeToString([]byte(v))}
	slices.Sort(forms)
	return slices.Compact(forms)
}

// needles finds runs of secret values in texts: any 8-byte window of any form of a value of 8 bytes
// or more (the contract's threshold for a message that must be withheld), or a shorter value whole.
type needles struct {
	windows map[uint64]string // packed 8-byte window → label of its secret
	short   map[string]string // short form → label
	// filter has a bit set for every window's hash: most positions of a text are ruled out without
	// a map lookup, which keeps a scan of a large log short.
	filter []uint64
}

const filterBits = 24

func filterHash(w uint64) uint64 { return (w * 0x9E3779B97F4A7C15) >> (64 - filterBits) }

const windowLen = 8

func newNeedles() *needles {
	return &needles{windows: map[uint64]string{}, short: map[string]string{}, filter: make([]uint64, 1<<filterBits/64)}
}

// add registers value under label.
func (n *needles) add(label, value string) {
	for _, f := range secretForms(value) {
		if len(f) < windowLen {
			if f != "" {
				n.short[f] = label
			}
			continue
		}
		var w uint64
		for i := 0; i < len(f); i++ {
			w = w<<8 | uint64(f[i])
			if i >= windowLen-1 {
				n.windows[w] = label
				h := filterHash(w)
				n.filter[h/64] |= 1 << (h % 64)
			}
		}
	}
}

// find returns the labels of the secrets with a run in text, and the first run found for each.
// It reads text only (no shared state is written), so it is left out of the race detector's
// instrumentation: under -race a log of a gigabyte would otherwise take minutes.
//
//go:norace
func (n *needles) find(text string) map[string]string {
	found := map[string]string{}
	var w uint64
	for i := 0; i < len(text); i++ {
		w = w<<8 | uint64(text[i])
		if i >= windowLen-1 {
			if h := filterHash(w); n.filter[h/64]&(1<<(h%64)) == 0 {
				continue
			}
			if label, ok := n.windows[w]; ok {
				if _, seen := found[label]; !seen {
					found[label] = text[i-windowLen+1 : i+1]
				}
			}
		}
	}
	for f, label := range n.short {
		if strings.Contains(text, f) {
			found[label] = f
		}
	}
	return found
}

// logFinding is where a run of a secret was found in a log: the run and the message of the line.
type logFinding struct {
	run, msg string
	lines    int
}

var logMsgRE = regexp.MustCompile(`"msg":"([^"]*)"`)

// findInFile scans a log line by line (it can be large) for the long forms (a short secret of a few
// bytes would match by chance in a log of hundreds of megabytes; texts are checked for those).
func (n *needles) findInFile(path string) (map[string]*logFinding, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = f.Close() }()
	long := &needles{windows: n.windows, filter: n.filter}
	found := map[string]*logFinding{}
	size := 0
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadString('\n')
		size += len(line)
		for label, run := range long.find(line) {
			if lf, ok := found[label]; ok {
				lf.lines++
				continue
			}
			msg := ""
			if m := logMsgRE.FindStringSubmatch(line); m != nil {
				msg = m[1]
			}
			found[label] = &logFinding{run: run, msg: msg, lines: 1}
		}
		if err == io.EOF {
			return found, size, nil
		}
		if err != nil {
			return found, size, err
		}
	}
}

// reportLogFindings fails t for each secret found in the log, saying in which kind of line.
func reportLogFindings(t *testing.T, what string, found map[string]*logFinding) {
	t.Helper()
	labels := slices.Sorted(maps.Keys(found))
	byMsg := map[string][]string{}
	for _, l := range labels {
		byMsg[found[l].msg] = append(byMsg[found[l].msg], l)
	}
	for _, msg := range slices.Sorted(maps.Keys(byMsg)) {
		ls := byMsg[msg]
		first := found[ls[0]]
		t.Errorf("%s: %d lines with msg %q hold runs of %d secrets (e.g. %q of %s); all: %s", what, countLines(found, ls),
			msg, len(ls), first.run, ls[0], strings.Join(ls, ", "))
	}
}

func countLines(found map[string]*logFinding, labels []string) int {
	n := 0
	for _, l := range labels {
		n += found[l].lines
	}
	return n
}

// latencies are A's edit-to-remote times, by attack.
type latencies struct {
	mu     sync.Mutex
	phase  string
	byName map[string][]time.Duration
	order  []string
}

func (l *latencies) setPhase(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
	if _, ok := l.byName[p]; !ok {
		l.byName[p] = nil
		l.order = append(l.order, p)
	}
}

func (l *latencies) currentPhase() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

func (l *latencies) record(phase string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byName[phase] = append(l.byName[phase], d)
}

type latencyStats struct {
	n             int
	p50, p99, max time.Duration
}

func (l *latencies) stats(phase string) latencyStats {
	l.mu.Lock()
	ds := slices.Clone(l.byName[phase])
	l.mu.Unlock()
	slices.Sort(ds)
	if len(ds) == 0 {
		return latencyStats{}
	}
	rank := func(q float64) time.Duration {
		i := int(float64(len(ds))*q+0.999999) - 1 // nearest rank
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return latencyStats{n: len(ds), p50: rank(0.50), p99: rank(0.99), max: ds[len(ds)-1]}
}

func (st latencyStats) String() string {
	return fmt.Sprintf("%d edits, p50 %s, p99 %s, max %s", st.n, st.p50.Round(time.Millisecond),
		st.p99.Round(time.Millisecond), st.max.Round(time.Millisecond))
}

// aObject is one of A's SimIntegrations and its remote id.
type aObject struct {
	name, id string
}

// editor changes one of A's objects about every 500 ms, round robin, and times how long until the
// fake holds the new description. mu is held during one edit, so a check that takes it sees A at rest.
type editor struct {
	h       *hostile
	objs    []aObject
	lat     *latencies
	mu      sync.Mutex
	want    map[string]string // object → description last written
	stop    chan struct{}
	done    chan struct{}
	edits   atomic.Int64
	failMu  sync.Mutex
	failed  []string
	timeout time.Duration
}

func (e *editor) fail(format string, args ...any) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	e.failed = append(e.failed, fmt.Sprintf(format, args...))
}

func (e *editor) run() {
	defer close(e.done)
	ctx := context.Background()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		e.mu.Lock()
		o := e.objs[n%len(e.objs)]
		desc := fmt.Sprintf("team-a-desc-%s-%d", o.name, n)
		phase := e.lat.currentPhase()
		patch := fmt.Appendf(nil, `{"spec":{"description":%q}}`, desc)
		begin := time.Now()
		err := e.h.c.Patch(ctx, &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: o.name}},
			client.RawPatch(types.MergePatchType, patch))
		if err != nil {
			e.fail("edit %s: %v", o.name, err)
			e.mu.Unlock()
			continue
		}
		e.want[o.name] = desc
		e.edits.Add(1)
		for {
			r, ok, err := e.h.Fake.Object(ctx, o.id)
			if err == nil && ok && r.Description() == desc {
				break
			}
			if time.Since(begin) > e.timeout {
				e.fail("edit %d of %s (%s) did not reach the remote within %s", n, o.name, phase, e.timeout)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		e.lat.record(phase, time.Since(begin))
		e.mu.Unlock()
	}
}

// readyWatch samples A's Ready conditions every second and remembers every sample that is not True.
type readyWatch struct {
	mu       sync.Mutex
	samples  int
	notReady []string
}

func (w *readyWatch) run(h *hostile, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Second):
		}
		var list simv1alpha1.SimIntegrationList
		if err := h.c.List(context.Background(), &list, client.InNamespace(nsA)); err != nil {
			continue
		}
		watched := h.aNames()
		w.mu.Lock()
		w.samples++
		for _, o := range list.Items {
			if !slices.Contains(watched, o.Name) {
				continue // not Ready yet for the first time
			}
			c := meta.FindStatusCondition(o.Status.Conditions, simv1alpha1.ConditionReady)
			if c == nil || c.Status != metav1.ConditionTrue {
				w.notReady = append(w.notReady, fmt.Sprintf("%s %s: Ready=%v", time.Now().Format("15:04:05.000"), o.Name, c))
			}
		}
		w.mu.Unlock()
	}
}

// connCounter is a listener that counts the TCP connections it accepts: a host and port the manager
// must never reach, whatever it would send there.
type connCounter struct {
	net.Listener
	n    atomic.Int64
	addr string
	port string
}

func (c *connCounter) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err == nil {
		c.n.Add(1)
	}
	return conn, err
}

func newConnCounter(t *testing.T, ip string) *connCounter {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{Listener: l, addr: l.Addr().String()}
	_, c.port, _ = net.SplitHostPort(c.addr)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(c) }()
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

// heap is the manager's heap right after a forced garbage collection.
type heap struct {
	alloc, inuse, live float64 // bytes: go_memstats_heap_alloc_bytes, heap_inuse_bytes, go_gc_heap_live_bytes
}

func (hp heap) String() string {
	return fmt.Sprintf("heap alloc %.1f MiB (in use %.1f MiB, live %.1f MiB)", hp.alloc/mib, hp.inuse/mib, hp.live/mib)
}

const mib = 1 << 20

// settledHeap forces three collections through the manager's pprof endpoint (/debug/pprof/heap?gc=1
// runs runtime.GC first) and returns the smallest heap read from /metrics right after one.
func (h *hostile) settledHeap(t *testing.T) heap {
	t.Helper()
	var best heap
	for i := range 3 {
		if i > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		resp, err := http.Get("http://" + h.pprofAddr + "/debug/pprof/heap?gc=1")
		if err != nil {
			t.Fatalf("force a GC through pprof: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		m, err := h.metrics()
		if err != nil {
			t.Fatal(err)
		}
		hp := heap{alloc: metricValue(m, "go_memstats_heap_alloc_bytes"), inuse: metricValue(m, "go_memstats_heap_inuse_bytes"),
			live: metricValue(m, "go_gc_heap_live_bytes")}
		if hp.alloc == 0 {
			t.Fatalf("no go_memstats_heap_alloc_bytes in the manager's metrics")
		}
		if i == 0 || hp.alloc < best.alloc {
			best = hp
		}
	}
	return best
}

// metricValue returns the value of an unlabelled metric in a Prometheus text exposition (0 if absent).
func metricValue(text, name string) float64 {
	for line := range strings.SplitSeq(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}

// conditionsOf returns the conditions of a SimIntegration ("sim"), Tenant ("tenant") or ClusterTenant
// ("clustertenant").
func (h *hostile) conditionsOf(kind, namespace, name string) ([]metav1.Condition, int64, error) {
	ctx := context.Background()
	key := client.ObjectKey{Namespace: namespace, Name: name}
	switch kind {
	case "tenant":
		var o simv1alpha1.Tenant
		err := h.c.Get(ctx, key, &o)
		return o.Status.Conditions, o.Generation, err
	case "clustertenant":
		var o simv1alpha1.ClusterTenant
		err := h.c.Get(ctx, client.ObjectKey{Name: name}, &o)
		return o.Status.Conditions, o.Generation, err
	default:
		var o simv1alpha1.SimIntegration
		err := h.c.Get(ctx, key, &o)
		return o.Status.Conditions, o.Generation, err
	}
}

// waitReason waits until condition typ of the object has status and reason for the object's
// generation, and returns it.
func (h *hostile) waitReason(t *testing.T, kind, namespace, name, typ string, status metav1.ConditionStatus, reason string,
	timeout time.Duration) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	err := poll(timeout, func() error {
		conds, gen, err := h.conditionsOf(kind, namespace, name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(conds, typ)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != gen {
			return fmt.Errorf("%s %s/%s: want %s=%s %s for generation %d, conditions %s", kind, namespace, name, typ, status,
				reason, gen, condSummary(conds))
		}
		got = c
		return nil
	})
	if err != nil {
		t.Errorf("%v", err)
	}
	return got
}

// waitCondition waits until condition typ of the object is True with one of reasons (any if none),
// and returns it.
func (h *hostile) waitCondition(t *testing.T, kind, namespace, name, typ string, timeout time.Duration, reasons ...string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	err := poll(timeout, func() error {
		conds, _, err := h.conditionsOf(kind, namespace, name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(conds, typ)
		if c == nil || c.Status != metav1.ConditionTrue || (len(reasons) > 0 && !slices.Contains(reasons, c.Reason)) {
			return fmt.Errorf("%s %s/%s: want %s=True %v, conditions %s", kind, namespace, name, typ, reasons, condSummary(conds))
		}
		got = c
		return nil
	})
	if err != nil {
		t.Errorf("%v", err)
	}
	return got
}

func condSummary(conds []metav1.Condition) string {
	var parts []string
	for _, c := range conds {
		parts = append(parts, fmt.Sprintf("%s=%s/%s %q", c.Type, c.Status, c.Reason, c.Message))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// namespaceEvents returns the texts of every Event about objects of namespace (both APIs).
func (h *hostile) namespaceEvents(ctx context.Context, namespace string) (string, int, error) {
	var core corev1.EventList
	if err := h.c.List(ctx, &core, client.InNamespace(namespace)); err != nil {
		return "", 0, err
	}
	var ev eventsv1.EventList
	if err := h.c.List(ctx, &ev, client.InNamespace(namespace)); err != nil {
		return "", 0, err
	}
	var b strings.Builder
	for _, e := range core.Items {
		fmt.Fprintf(&b, "%s %s %s %s\n", e.InvolvedObject.Name, e.Reason, e.Message, e.Action)
	}
	for _, e := range ev.Items {
		fmt.Fprintf(&b, "%s %s %s %s\n", e.Regarding.Name, e.Reason, e.Note, e.Action)
	}
	return b.String(), len(core.Items) + len(ev.Items), nil
}

// rawJSON renders v as JSON without HTML escaping, so that texts are scanned as written.
func rawJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.String()
}

// TestNeedles checks the secret scanner itself (no cluster needed): every form of a value is found,
// also cut into a hexdump's 16-byte rows, and unrelated text is not.
func TestNeedles(t *testing.T) {
	n := newNeedles()
	secret := `Qz"` + randText(20) + `<b> &` + randText(12)
	n.add("s", secret)
	n.add("short", "q#Z")
	enc, _ := json.Marshal(map[string]string{"v": secret})
	for what, text := range map[string]string{
		"as is":        "msg " + secret + " end",
		"json":         string(enc),
		"url":          "?p=" + url.QueryEscape(secret),
		"base64":       base64.StdEncoding.EncodeToString([]byte(secret)),
		"hexdump rows": "|" + secret[:16] + "|\n|" + secret[16:32] + "|",
		"a run":        "…" + secret[5:13] + "…",
		"short":        "the password q#Z is",
	} {
		if len(n.find(text)) == 0 {
			t.Errorf("%s: not found in %q", what, text)
		}
	}
	if f := n.find("nothing to see here: " + randText(200)); len(f) > 0 {
		t.Errorf("found %v in unrelated text", f)
	}
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("{\"msg\":\"ok\"}\n{\"msg\":\"Response Body\",\"body\":\""+secret[3:20]+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	found, _, err := n.findInFile(path)
	if err != nil || found["s"] == nil || found["s"].msg != "Response Body" || found["short"] != nil {
		t.Errorf("findInFile: %v %+v", err, found)
	}
}
