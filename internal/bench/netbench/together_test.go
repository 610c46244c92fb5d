package netbench

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeWorker is a Worker driven by the test: ready and done are closed by
// it; goes counts Go calls.
type fakeWorker struct {
	ready, done chan struct{}
	row         Row
	err         error
	mu          sync.Mutex
	goes        int
}

func newFake(sender string) *fakeWorker {
	return &fakeWorker{ready: make(chan struct{}), done: make(chan struct{}), row: Row{Sender: sender}}
}
func (w *fakeWorker) Ready() <-chan struct{} { return w.ready }
func (w *fakeWorker) Done() <-chan struct{}  { return w.done }
func (w *fakeWorker) Go()                    { w.mu.Lock(); w.goes++; w.mu.Unlock() }
func (w *fakeWorker) Result() (Row, error)   { return w.row, w.err }
func (w *fakeWorker) went() int              { w.mu.Lock(); defer w.mu.Unlock(); return w.goes }

// TestTogetherGoesOnlyWhenAllReady: no worker is told to go while another
// is still connecting; then all are, and the rows come in sender order.
func TestTogetherGoesOnlyWhenAllReady(t *testing.T) {
	ws := map[string]*fakeWorker{"native": newFake("native"), "chromium": newFake("chromium")}
	spawn := func(ctx context.Context, prof, s string) (Worker, error) { return ws[s], nil }
	type result struct {
		rows []Row
		err  error
	}
	res := make(chan result, 1)
	go func() {
		rows, err := together(context.Background(), "loss", []string{"native", "chromium"}, spawn)
		res <- result{rows, err}
	}()
	close(ws["chromium"].ready) // the second sender ready first
	time.Sleep(50 * time.Millisecond)
	if ws["chromium"].went() != 0 {
		t.Fatal("chromium told to go while native was not ready")
	}
	close(ws["native"].ready)
	deadline := time.Now().Add(5 * time.Second)
	for ws["native"].went() == 0 || ws["chromium"].went() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not told to go once both were ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(ws["chromium"].done)
	close(ws["native"].done)
	r := <-res
	if r.err != nil || len(r.rows) != 2 || r.rows[0].Sender != "native" || r.rows[1].Sender != "chromium" {
		t.Fatalf("rows %+v, err %v", r.rows, r.err)
	}
}

// TestTogetherStopsTheOthersOnFailure: a worker that ends before it is
// ready fails the profile, names its sender, and the other worker's
// context is cancelled (and awaited) before together returns.
func TestTogetherStopsTheOthersOnFailure(t *testing.T) {
	bad := newFake("chromium")
	bad.err = errors.New("no Chromium")
	close(bad.done)
	good := newFake("native")
	var stopped bool
	spawn := func(ctx context.Context, prof, s string) (Worker, error) {
		if s == "chromium" {
			return bad, nil
		}
		go func() { <-ctx.Done(); stopped = true; close(good.done) }()
		return good, nil
	}
	_, err := together(context.Background(), "bottleneck", []string{"native", "chromium"}, spawn)
	if err == nil || !strings.Contains(err.Error(), "chromium sender") || !strings.Contains(err.Error(), "no Chromium") {
		t.Fatalf("err %v", err)
	}
	if !stopped {
		t.Fatal("the native worker was not stopped and awaited")
	}
	if good.went() != 0 {
		t.Fatal("native told to go although chromium failed")
	}
}

// TestProcessWorkerWire: a child process speaking the wire (ready, wait
// for a line, one JSON row) is a Worker; one that exits without a row is
// an error, not a zero Row.
func TestProcessWorkerWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := StartProcess(ctx, []string{"sh", "-c", `echo ready; read x; [ "$x" = go ] && echo '{"Profile":"loss","Sender":"native","FPS":12.5,"Load":[2,3]}'`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Ready():
	case <-w.Done():
		t.Fatal("ended before ready")
	}
	w.Go()
	<-w.Done()
	r, err := w.Result()
	if err != nil || r.FPS != 12.5 || r.Sender != "native" || r.Load != [2]float64{2, 3} {
		t.Fatalf("row %+v, err %v", r, err)
	}

	w, err = StartProcess(ctx, []string{"sh", "-c", "echo ready; read x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-w.Ready()
	w.Go()
	<-w.Done()
	if _, err := w.Result(); err == nil || !strings.Contains(err.Error(), "no result line") {
		t.Fatalf("err %v", err)
	}
}

// TestLineBarrier: the worker's side says ready and returns on the go
// line; cancelled, it returns the context's error.
func TestLineBarrier(t *testing.T) {
	inR, inW := io.Pipe()
	defer inR.Close()
	var out strings.Builder
	done := make(chan error, 1)
	go func() { done <- lineBarrier(inR, &out)(context.Background()) }()
	if _, err := io.WriteString(inW, "go\n"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || out.String() != "ready\n" {
		t.Fatalf("err %v, out %q", err, out.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := lineBarrier(inR, io.Discard)(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	inW.Close() // ends the reader goroutine
}
