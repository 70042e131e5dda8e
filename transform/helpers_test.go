package transform_test

import (
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cxone-bridge/bridge/transform"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func uuidV5DNS(name string) string { return uuid.NewSHA1(uuid.NameSpaceDNS, []byte(name)).String() }

func mustSchema(tb testing.TB) *jsonschema.Schema {
	s, err := transform.CompileSchema(orderSchema)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
