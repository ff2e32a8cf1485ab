// Command pstest serves Google's fake Pub/Sub server (cloud.google.com/go/pubsub/pstest)
// on a free localhost port until killed. It prints "PUBSUB_EMULATOR_HOST=host:port"
// once listening. Publish, pull and streaming pull work; push delivery does not.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/pstest"
)

func main() {
	srv := pstest.NewServer()
	fmt.Printf("PUBSUB_EMULATOR_HOST=%s\n", srv.Addr)
	os.Stdout.Sync()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	srv.Close()
}
