package signal

import "unsafe"

// stackMark tells whether the calling goroutine's stack has moved since
// set: the runtime moves a stack to a larger one when it grows (and to a
// smaller one when a collection shrinks it), so a local variable's address
// changes then. readLoop uses it to notice that its stack has grown.
//
// The mark must be a local variable of the goroutine it watches; its
// address is only compared, never turned back into a pointer.
type stackMark struct {
	home uintptr
	b    byte // the variable whose address is watched
}

// set records where the mark lies now.
func (m *stackMark) set() { m.home = m.addr() }

// moved reports whether the stack has moved since set.
func (m *stackMark) moved() bool { return m.addr() != m.home }

func (m *stackMark) addr() uintptr { return uintptr(unsafe.Pointer(&m.b)) }
