package main

import "github.com/videochat/videochat/internal/cli"

// logFlags are the logging flags every command shares.
type logFlags = cli.LogFlags
