package wsconn

import "unsafe"

// StackMark tells whether the calling goroutine's stack has moved since
// Set: the runtime moves a stack to a larger one when it grows (and to a
// smaller one when a collection shrinks it), so a local variable's address
// changes then. A connection's reader uses it to notice that its stack has
// grown, and then hands over to a fresh goroutine (see Conn.HandOff).
//
// The mark must be a local variable of the goroutine it watches; its
// address is only compared, never turned back into a pointer.
type StackMark struct {
	home uintptr
	b    byte // the variable whose address is watched
}

// Set records where the mark lies now.
func (m *StackMark) Set() { m.home = m.addr() }

// Moved reports whether the stack has moved since Set.
func (m *StackMark) Moved() bool { return m.addr() != m.home }

func (m *StackMark) addr() uintptr { return uintptr(unsafe.Pointer(&m.b)) }

// OnFreshStack runs f on a goroutine of its own and waits for it to
// return. For a reader's work that needs a deep stack (the signal
// server's full path: JSON decode and encode, the join): run on the
// reader it would grow the reader's stack for good, since an idle reader
// rarely sees the garbage collections that shrink it. A finished
// goroutine's grown stack is freed at once.
func OnFreshStack(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
