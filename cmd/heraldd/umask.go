package main

import "syscall"

// umask sets the process umask and returns the previous one; the admin
// socket is created under 0177 so that only its owner can connect.
func umask(m int) int { return syscall.Umask(m) }
