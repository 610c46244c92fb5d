// Package callbench measures media calls on loopback: call set-up time,
// whole-process CPU and memory, and achieved bitrate, for native videochat
// peers (child `videochat join` processes) and headless Chromium pages
// running the browser client, all through one `videochat serve` child.
//
// It backs `videochat-bench call` and `videochat-bench mesh` (cmd/videochat-bench). CPU comes from
// /proc/PID/stat (utime+stime of every process of a side, for Chromium its
// whole process tree), memory from /proc/PID/status (VmRSS) and
// /proc/PID/smaps_rollup (Pss). Linux only.
package callbench
