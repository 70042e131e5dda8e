// Package schemas embeds the JSON Schemas shipped with the bridge, so that
// commands such as `bridge demo` work from any folder, without the
// repository's files at hand.
package schemas

import _ "embed"

// Order is schemas/order.json: the order schema of the CXone EventBridge
// Node.js tutorial (JSON Schema Draft 2020-12), which the shipped
// bridge.yaml routes the "orders" topic through.
//
//go:embed order.json
var Order []byte
