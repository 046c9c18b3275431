// Command etcd is etcd's own server entry point, built at the version that
// k8s.io/kubernetes pins so the test control plane matches upstream.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
