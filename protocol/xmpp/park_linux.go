package xmpp

import (
	"errors"
	"net"
	"syscall"
)

// canPark reports whether the connection's socket can be waited on by
// waitReadable.
func canPark(raw net.Conn) bool {
	_, ok := raw.(syscall.Conn)
	return ok
}

// waitReadable returns once raw's socket has bytes to read, has reached
// its end or failed, or is closed. It waits in the runtime's netpoller,
// a few frames deep. It peeks (MSG_PEEK) rather than trusting the poller's
// readiness alone, which may be left over from input a read already took.
func waitReadable(raw net.Conn, peek *[1]byte) error {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return errors.New("xmpp: not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(func(fd uintptr) bool { return peekReadable(fd, peek) })
}

// socketReadable reports whether raw's socket has bytes to read, has
// reached its end or failed, without waiting.
func socketReadable(raw net.Conn, peek *[1]byte) bool {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	ready := true
	if err := rc.Control(func(fd uintptr) { ready = peekReadable(fd, peek) }); err != nil {
		return true // closed: the read reports it
	}
	return ready
}

// peekReadable peeks at the socket fd without waiting.
func peekReadable(fd uintptr, peek *[1]byte) bool {
	for {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true // bytes, the end of the stream (0 bytes) or an error
	}
}
