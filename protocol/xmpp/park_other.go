//go:build !linux

package xmpp

import (
	"errors"
	"net"
)

// canPark is false: sessions wait in budgetReader.awaitInput (park.go).
func canPark(net.Conn) bool { return false }

func waitReadable(net.Conn, *[1]byte) error { return errors.New("xmpp: parking is not supported here") }

func socketReadable(net.Conn, *[1]byte) bool { return true }
