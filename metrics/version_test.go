package metrics_test

import "runtime"

var runtimeVersion = runtime.Version()
