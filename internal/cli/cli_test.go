package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestExit(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want int
		out  string
	}{
		{name: "nil", err: nil, want: 0, out: ""},
		{name: "coded", err: WithCode(4, base), want: 4, out: "x: boom\n"},
		{name: "wrapped coded", err: fmt.Errorf("join: %w", WithCode(3, base)), want: 3, out: "x: join: boom\n"},
		{name: "uncoded is usage", err: base, want: ExitUsage, out: "x: boom\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			if got := Exit(&w, "x", tc.err); got != tc.want || w.String() != tc.out {
				t.Fatalf("Exit = %d, %q; want %d, %q", got, w.String(), tc.want, tc.out)
			}
		})
	}
	if WithCode(1, nil) != nil {
		t.Fatal("WithCode(1, nil) is not nil")
	}
	if !errors.Is(WithCode(1, base), base) {
		t.Fatal("WithCode does not unwrap to its error")
	}
}

func TestLogFlags(t *testing.T) {
	for _, f := range []LogFlags{{"debug", "text"}, {"warn", ""}, {"error", "JSON"}} {
		var w bytes.Buffer
		log, err := f.Logger(&w)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		log.Error("hello")
		if !strings.Contains(w.String(), "hello") {
			t.Fatalf("%+v: output %q", f, w.String())
		}
	}
	for _, f := range []LogFlags{{"loud", "text"}, {"info", "xml"}} {
		_, err := f.Logger(&bytes.Buffer{})
		var ce *CodedError
		if !errors.As(err, &ce) || ce.Code != ExitUsage {
			t.Fatalf("%+v: err = %v, want a usage error", f, err)
		}
	}
}
