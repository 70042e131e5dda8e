package testcontainers_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cxone-bridge/bridge/testcontainers"
)

// TestApicurio: the registry StartApicurio gives answers the Confluent API
// at URL() the way the e2e tests rely on: a schema registered under a
// subject is listed there and served by its id with its type, a Protobuf
// schema registered as a base64 FileDescriptorProto (what Confluent's
// Python client registers) comes back unchanged, an unknown id is a 404
// with error code 40403, and (3.x) the subjects of an id are listed.
func TestApicurio(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM")
	}
	a := testcontainers.StartApicurio(t)
	if a == nil {
		t.Skip("no Apicurio Registry here (see the log)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := sr.NewClient(sr.URLs(a.URL()))
	if err != nil {
		t.Fatal(err)
	}

	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("probe.proto"),
		Package: proto.String("probe"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Probe"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("id"), Number: proto.Int32(1), JsonName: proto.String("id"),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}
	raw, err := proto.Marshal(fd)
	if err != nil {
		t.Fatal(err)
	}
	schemas := []sr.Schema{
		{Type: sr.TypeAvro, Schema: `{"type":"record","name":"Probe","fields":[{"name":"id","type":"string"}]}`},
		{Type: sr.TypeProtobuf, Schema: base64.StdEncoding.EncodeToString(raw)},
		{Type: sr.TypeJSON, Schema: `{"type":"object","properties":{"id":{"type":"string"}}}`},
	}
	for _, s := range schemas {
		subject := testcontainers.UniqueName("probe-" + s.Type.String())
		got, err := cl.CreateSchema(ctx, subject, s)
		if err != nil {
			t.Fatalf("register a %s schema under %s: %v", s.Type, subject, err)
		}
		versions, err := cl.SubjectVersions(ctx, subject)
		if err != nil || len(versions) != 1 {
			t.Fatalf("versions of %s: %v, %v; want one", subject, versions, err)
		}
		byID, err := cl.SchemaByID(ctx, got.ID)
		if err != nil {
			t.Fatalf("schema id %d: %v", got.ID, err)
		}
		if byID.Type != s.Type {
			t.Errorf("schema id %d is of type %s, want %s", got.ID, byID.Type, s.Type)
		}
		if s.Type == sr.TypeProtobuf && byID.Schema != s.Schema {
			t.Errorf("the base64 descriptor registered as id %d comes back as\n%.200s", got.ID, byID.Schema)
		}
		if a.HasSubjectsByID() {
			subjects, err := cl.SubjectsByID(ctx, got.ID)
			if err != nil || len(subjects) != 1 || subjects[0] != subject {
				t.Errorf("subjects of id %d: %v, %v; want [%s]", got.ID, subjects, err, subject)
			}
		}
		t.Logf("%s schema: id %d under %s", s.Type, got.ID, subject)
	}

	_, err = cl.SchemaByID(ctx, 1<<30)
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != 40403 {
		t.Errorf("an unknown schema id: %v; want a 404 with error code 40403", err)
	}
	t.Logf("Apicurio Registry %s on Java %d: RSS %d MiB", a.Version, a.JavaVersion, a.Process().RSSKiB()>>10)
}

// TestApicurioSkip: with BRIDGE_TEST_REGISTRY_SKIP set, StartApicurio
// starts nothing and returns nil, so that the caller falls back.
func TestApicurioSkip(t *testing.T) {
	t.Setenv(testcontainers.EnvRegistrySkip, "1")
	if a := testcontainers.StartApicurio(t); a != nil {
		t.Fatalf("StartApicurio gave %s with %s set", a.URL(), testcontainers.EnvRegistrySkip)
	}
}
