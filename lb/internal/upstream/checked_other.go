//go:build !unix

package upstream

func (c *checkedConn) initRead() {}

// readSock is the connection's own Read here: reading is never set, and a
// read that took stray bytes just before a new request's write can frame
// them as that request's response (Write's peek cannot look here anyway).
func (c *checkedConn) readSock(b []byte) (int, error) { return c.Conn.Read(b) }
