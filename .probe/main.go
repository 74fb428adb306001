package main

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

func main() {
	addr := os.Args[1]
	s, err := initiator.Dial(addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:p", TargetName: "iqn.2026-11.dev.atgt:default", Timeout: 5 * time.Second})
	fmt.Println("dial", err)
	if err == nil {
		s.Close()
	}
	c, _ := net.Dial("tcp", addr)
	c.Write([]byte{0x3f, 0, 0, 0})
	time.Sleep(100 * time.Millisecond)
	c.Close()
}
