package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// writePIDFile records this process's id in path (DATA/parleyd.pid) for
// parleyctl reload, and returns a function that removes the file if it
// still names this process (another parleyd started on the same data
// directory since may have replaced it).
func writePIDFile(path string) (func(), error) {
	pid := strconv.Itoa(os.Getpid())
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(pid+"\n"), 0o640); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	return func() {
		if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) == pid {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return
			}
		}
	}, nil
}
