package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/signal/token"
)

func newTokenCmd() *cobra.Command {
	var (
		secret, room, name string
		ttl                time.Duration
		publish            bool
	)
	cmd := &cobra.Command{
		Use:   "token --room R --name N",
		Short: "Print a signed room token for a server started with --token-secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				return withCode(exitUsage, errors.New("--token-secret (or VIDEOCHAT_TOKEN_SECRET) is required"))
			}
			c := token.Claims{Room: room, Name: name, ExpiresAt: time.Now().Add(ttl)}
			if cmd.Flags().Changed("can-publish") {
				c.CanPublish = &publish
			}
			tok, err := token.Issue([]byte(secret), c)
			if err != nil {
				return withCode(exitUsage, err)
			}
			_, err = fmt.Fprintln(os.Stdout, tok)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&secret, "token-secret", os.Getenv("VIDEOCHAT_TOKEN_SECRET"), "the server's token secret (env VIDEOCHAT_TOKEN_SECRET)")
	fl.StringVar(&room, "room", "", "room the token admits to (required)")
	fl.StringVar(&name, "name", "", "display name (required)")
	fl.DurationVar(&ttl, "ttl", time.Hour, "validity")
	fl.BoolVar(&publish, "can-publish", true, "whether the holder may send media")
	_ = cmd.MarkFlagRequired("room")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
