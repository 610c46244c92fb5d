package signal

import "github.com/videochat/videochat/signal/proto"

// authorize checks the join's room token when the server requires one
// (Config.Tokens) and returns the token's can_publish claim. The token's
// name replaces the name in the join. Every refusal gets the same
// unauthorized answer, whatever the reason and whether or not the room
// exists, so that a client cannot probe for rooms; the reason is logged.
func (c *conn) authorize(m *proto.Message) (*bool, *proto.Error) {
	v := c.srv.cfg.Tokens
	if v == nil {
		return nil, nil
	}
	claims, err := v.Verify(m.Token, c.room)
	if err != nil {
		c.logger().Info("join refused", "err", err)
		return nil, proto.Errorf(proto.CodeUnauthorized, "a valid room token for this room is required").WithRef(proto.TypeJoin)
	}
	m.Name = claims.Name
	return claims.CanPublish, nil
}
