#!/usr/bin/env python3
"""Produces orders the way our users' Python producers do, for the bridge's
interop test (e2e/interop_python_test.go).

It uses Confluent's official client (confluent-kafka) and its Schema Registry
serializers with their default settings: AvroSerializer, ProtobufSerializer
and JSONSerializer, schemas registered automatically through the client's
own SchemaRegistryClient under "<topic>-value" (the default subject name
strategy falls back to the topic strategy when the registry has no
association for the topic). It writes COUNT orders to each of three topics,
<prefix>.avro, <prefix>.protobuf and <prefix>.json, keyed by the order id
(plain UTF-8 bytes), and, once Kafka acknowledged every record, prints one
JSON line per record on stdout, in the order produced:

    {"topic": "<topic>", "key": "<order id>", "expected": {...}}

"expected" is the JSON object that the bridge's schema-registry mapping must
produce from the record's value (the CXone attributes): field names as
written in the schema, Avro unions as the bare value, enums as the symbol,
bytes as standard padded base64, decimals as strings with the scale's digits,
timestamps as RFC 3339 UTC with at least milliseconds (6 or 9 digits only
when the micro- or nanoseconds are not zero), dates as YYYY-MM-DD, 64-bit
integers beyond 2^53 as strings, Protobuf: unset scalars as their default,
unset message fields (a null note, a StringValue) left out. For the JSON
Schema topic it is the record's JSON itself (integers stay numbers there, all
their digits: compare numbers exactly).

The Protobuf message class is built without protoc: a FileDescriptorProto
made here, added to a fresh descriptor pool with the descriptors of
google/protobuf/timestamp.proto and wrappers.proto that the protobuf package
ships, and turned into a class by message_factory.GetMessageClass.

Usage:
    confluent_producer.py --bootstrap HOST:PORT --registry URL --prefix P --count N
(or BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, TOPIC_PREFIX, COUNT). Errors go to
stderr with a non-zero exit status.
"""

import argparse
import base64
import datetime as dt
import decimal
import json
import os
import sys
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2, wrappers_pb2

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
STATUSES = ["PENDING", "PAID", "SHIPPED", "CANCELLED"]
# The first orders are the edge cases; the mapping is only fully exercised
# with at least this many.
MIN_COUNT = 5

AVRO_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "com.cxone.bridge.interop",
        "fields": [
            {"name": "orderId", "type": "string"},
            {"name": "customerId", "type": "string"},
            {"name": "totalAmount", "type": "double"},
            {"name": "currency", "type": "string"},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
            {"name": "createdAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "updatedAt", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "deliveryDate", "type": {"type": "int", "logicalType": "date"}},
            {"name": "trackingId", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": STATUSES}},
            {"name": "note", "type": ["null", "string"], "default": None},
            {
                "name": "items",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "Item",
                        "fields": [
                            {"name": "sku", "type": "string"},
                            {"name": "quantity", "type": "int"},
                            {"name": "price", "type": "double"},
                        ],
                    },
                },
            },
            {"name": "tags", "type": {"type": "map", "values": "string"}},
            {"name": "sales_channel", "type": "string"},
            {"name": "signature", "type": "bytes"},
            {"name": "sequence", "type": "long"},
        ],
    }
)

JSON_SCHEMA = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Order",
        "type": "object",
        "properties": {
            "orderId": {"type": "string"},
            "customerId": {"type": "string"},
            "totalAmount": {"type": "number"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "amount": {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$"},
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "deliveryDate": {"type": "string", "format": "date"},
            "trackingId": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": STATUSES},
            "note": {"type": ["null", "string"]},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer"},
                        "price": {"type": "number"},
                    },
                    "required": ["sku", "quantity", "price"],
                    "additionalProperties": False,
                },
            },
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "sales_channel": {"type": "string"},
            "signature": {"type": "string", "contentEncoding": "base64"},
            "sequence": {"type": "integer"},
        },
        "required": [
            "orderId", "customerId", "totalAmount", "currency", "amount", "createdAt", "updatedAt",
            "deliveryDate", "trackingId", "status", "note", "items", "tags", "sales_channel", "signature",
            "sequence",
        ],
        "additionalProperties": False,
    }
)


# ---- the Protobuf message class, without protoc ----

PROTO_PACKAGE = "cxone.bridge.interop"
FDP = descriptor_pb2.FieldDescriptorProto


def _lower_camel(name):
    """The json_name protoc writes into every field's descriptor."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _field(msg, name, number, ftype, type_name=None, repeated=False):
    f = msg.field.add()
    f.name = name
    f.number = number
    f.type = ftype
    f.label = FDP.LABEL_REPEATED if repeated else FDP.LABEL_OPTIONAL
    f.json_name = _lower_camel(name)
    if type_name:
        f.type_name = type_name
    return f


def order_file_descriptor():
    """order.proto, as protoc would describe it:

        syntax = "proto3";
        package cxone.bridge.interop;
        import "google/protobuf/timestamp.proto";
        import "google/protobuf/wrappers.proto";
        message Item { string sku = 1; int32 quantity = 2; double price = 3; }
        message Order {            // message index [1]: Item comes first
          enum Status { PENDING = 0; PAID = 1; SHIPPED = 2; CANCELLED = 3; }
          string orderId = 1; string customerId = 2; double totalAmount = 3;
          string currency = 4; string amount = 5;     // decimal as a string
          google.protobuf.Timestamp createdAt = 6; google.protobuf.Timestamp updatedAt = 7;
          string deliveryDate = 8; string trackingId = 9; Status status = 10;
          google.protobuf.StringValue note = 11; repeated Item items = 12;
          map<string, string> tags = 13; string sales_channel = 14;
          bytes signature = 15; int64 sequence = 16;
        }
    """
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "cxone/bridge/interop/order.proto"
    fdp.package = PROTO_PACKAGE
    fdp.syntax = "proto3"
    fdp.dependency.extend(["google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto"])

    item = fdp.message_type.add(name="Item")
    _field(item, "sku", 1, FDP.TYPE_STRING)
    _field(item, "quantity", 2, FDP.TYPE_INT32)
    _field(item, "price", 3, FDP.TYPE_DOUBLE)

    order = fdp.message_type.add(name="Order")
    status = order.enum_type.add(name="Status")
    for number, symbol in enumerate(STATUSES):
        status.value.add(name=symbol, number=number)
    tags_entry = order.nested_type.add(name="TagsEntry")
    tags_entry.options.map_entry = True
    _field(tags_entry, "key", 1, FDP.TYPE_STRING)
    _field(tags_entry, "value", 2, FDP.TYPE_STRING)

    order_name = "." + PROTO_PACKAGE + ".Order"
    _field(order, "orderId", 1, FDP.TYPE_STRING)
    _field(order, "customerId", 2, FDP.TYPE_STRING)
    _field(order, "totalAmount", 3, FDP.TYPE_DOUBLE)
    _field(order, "currency", 4, FDP.TYPE_STRING)
    _field(order, "amount", 5, FDP.TYPE_STRING)
    _field(order, "createdAt", 6, FDP.TYPE_MESSAGE, ".google.protobuf.Timestamp")
    _field(order, "updatedAt", 7, FDP.TYPE_MESSAGE, ".google.protobuf.Timestamp")
    _field(order, "deliveryDate", 8, FDP.TYPE_STRING)
    _field(order, "trackingId", 9, FDP.TYPE_STRING)
    _field(order, "status", 10, FDP.TYPE_ENUM, order_name + ".Status")
    _field(order, "note", 11, FDP.TYPE_MESSAGE, ".google.protobuf.StringValue")
    _field(order, "items", 12, FDP.TYPE_MESSAGE, "." + PROTO_PACKAGE + ".Item", repeated=True)
    _field(order, "tags", 13, FDP.TYPE_MESSAGE, order_name + ".TagsEntry", repeated=True)
    _field(order, "sales_channel", 14, FDP.TYPE_STRING)
    _field(order, "signature", 15, FDP.TYPE_BYTES)
    _field(order, "sequence", 16, FDP.TYPE_INT64)
    return fdp


def order_message_class():
    pool = descriptor_pool.DescriptorPool()
    for shipped in (timestamp_pb2, wrappers_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(shipped.DESCRIPTOR.serialized_pb))
    pool.Add(order_file_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(PROTO_PACKAGE + ".Order"))


# ---- the orders ----


def rfc3339(t, nanos):
    """t (whole seconds, UTC) and nanos as the mapping writes them: at least
    milliseconds, 6 or 9 fraction digits only when needed."""
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos % 1_000_000 == 0:
        return "%s.%03dZ" % (s, nanos // 1_000_000)
    if nanos % 1_000 == 0:
        return "%s.%06dZ" % (s, nanos // 1_000)
    return "%s.%09dZ" % (s, nanos)


def json_int64(v):
    return v if -(2**53) <= v <= 2**53 else str(v)


def order(i):
    """Order i in a format-neutral form: timestamps as (whole-second UTC
    datetime, nanoseconds), the rest as Python values."""
    base = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC) + dt.timedelta(hours=i)
    created, updated = (base, (i * 7 % 1000) * 1_000_000), (base + dt.timedelta(days=1), (i * 11 % 1000) * 1_000_000)
    amount = decimal.Decimal(i) + decimal.Decimal(i % 100) / 100
    sequence = i * 1000
    customer = "CUST-%d" % (i % 3)
    tags = {"channel": "web" if i % 2 else "app", "region": "eu-west"}
    items = [{"sku": "SKU-%d" % i, "quantity": 1 + i % 3, "price": 9.99 + i}]
    note = None if i % 2 == 0 else "leave at the door %d" % i
    delivery = dt.date(2024, 1, 5) + dt.timedelta(days=i % 20)
    if i == 0:  # Protobuf defaults: status 0, price 0; 2^53 + 1; empty bytes
        amount, sequence = decimal.Decimal("12.3"), 2**53 + 1  # 12.30 at scale 2
        created, updated = (base, 0), (base, 0)
        items.append({"sku": "GIFT", "quantity": 1, "price": 0.0})
    elif i == 1:  # -2^53 is still a number; nanosecond and microsecond stamps
        amount, sequence = decimal.Decimal("99999999.99"), -(2**53)
        created, updated = (base, 123_456_789), (base, 123_456_000)
    elif i == 2:  # before 1970; escapes and non-ASCII; max int64
        amount, sequence = decimal.Decimal("-0.05"), 2**63 - 1
        created = (dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), 999_000_000)
        updated = (dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), 120_000)
        delivery = dt.date(1969, 12, 31)
        customer = "Zoë Åberg – 東京"
        tags = {"quote": 'say "hi" \\ back\nslash\ttab\x01', "emoji": "🚚📦"}
    elif i == 3:  # an empty (but present) note; sequence 0; amount 0
        amount, sequence, note = decimal.Decimal("0"), 0, ""
        created, updated = (base, 123_456_000), (base, 1_000)
    elif i == 4:  # min int64
        sequence = -(2**63)
    order_id = "ORD-%06d" % i
    return {
        "orderId": order_id,
        "customerId": customer,
        "totalAmount": round(sum(it["price"] * it["quantity"] for it in items), 2),
        "currency": "EUR" if i % 2 == 0 else "USD",
        "amount": amount,
        "createdAt": created,
        "updatedAt": updated,
        "deliveryDate": delivery,
        "trackingId": uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/orders/" + order_id),
        "status": STATUSES[i % len(STATUSES)],
        "note": note,
        "items": items,
        "tags": tags,
        "sales_channel": ["web", "app", "phone"][i % 3],
        "signature": b"" if i == 0 else bytes([0xFB, 0xEF, 0xFF, i % 256]),
        "sequence": sequence,
    }


def decimal_string(d):
    return format(d.quantize(decimal.Decimal("0.01")), "f")


def stamp_datetime(stamp, unit_nanos):
    """The stamp as a datetime truncated to unit_nanos (1e6: millis, 1e3: micros)."""
    t, nanos = stamp
    return t + dt.timedelta(microseconds=(nanos // unit_nanos) * unit_nanos // 1000)


def common_expected(o):
    """The attributes every format agrees on."""
    return {
        "orderId": o["orderId"],
        "customerId": o["customerId"],
        "totalAmount": o["totalAmount"],
        "currency": o["currency"],
        "amount": decimal_string(o["amount"]),
        "deliveryDate": o["deliveryDate"].isoformat(),
        "trackingId": str(o["trackingId"]),
        "status": o["status"],
        "note": o["note"],
        "items": o["items"],
        "tags": o["tags"],
        "sales_channel": o["sales_channel"],
        "signature": base64.standard_b64encode(o["signature"]).decode("ascii"),
    }


def avro_value(o):
    v = dict(o)
    v["createdAt"] = stamp_datetime(o["createdAt"], 1_000_000)
    v["updatedAt"] = stamp_datetime(o["updatedAt"], 1_000)
    return v


def avro_expected(o):
    e = common_expected(o)
    t, nanos = o["createdAt"]
    e["createdAt"] = rfc3339(t, nanos // 1_000_000 * 1_000_000)
    t, nanos = o["updatedAt"]
    e["updatedAt"] = rfc3339(t, nanos // 1_000 * 1_000)
    e["sequence"] = json_int64(o["sequence"])
    return e


def proto_value(cls, o):
    m = cls()
    for name in ("orderId", "customerId", "totalAmount", "currency", "sales_channel", "signature", "sequence"):
        setattr(m, name, o[name])
    m.amount = decimal_string(o["amount"])
    m.deliveryDate = o["deliveryDate"].isoformat()
    m.trackingId = str(o["trackingId"])
    m.status = STATUSES.index(o["status"])
    for name in ("createdAt", "updatedAt"):
        t, nanos = o[name]
        stamp = getattr(m, name)
        stamp.seconds = int((t - EPOCH).total_seconds())
        stamp.nanos = nanos
    if o["note"] is not None:
        m.note.value = o["note"]
    for it in o["items"]:
        m.items.add(sku=it["sku"], quantity=it["quantity"], price=it["price"])
    m.tags.update(o["tags"])
    return m


def proto_expected(o):
    e = common_expected(o)
    e["createdAt"] = rfc3339(*o["createdAt"])
    e["updatedAt"] = rfc3339(*o["updatedAt"])
    e["sequence"] = json_int64(o["sequence"])
    if o["note"] is None:
        del e["note"]  # an unset message field (StringValue) is left out
    return e


def json_value(o):
    v = common_expected(o)
    v["createdAt"] = rfc3339(*o["createdAt"])
    v["updatedAt"] = rfc3339(*o["updatedAt"])
    v["sequence"] = o["sequence"]  # a JSON number, every digit
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap", default=os.environ.get("BOOTSTRAP_SERVERS"))
    p.add_argument("--registry", default=os.environ.get("SCHEMA_REGISTRY_URL"))
    p.add_argument("--prefix", default=os.environ.get("TOPIC_PREFIX"))
    p.add_argument("--count", type=int, default=int(os.environ.get("COUNT", MIN_COUNT)))
    args = p.parse_args()
    if not (args.bootstrap and args.registry and args.prefix):
        p.error("--bootstrap, --registry and --prefix are required")
    if args.count < MIN_COUNT:
        p.error("--count must be at least %d (the edge cases)" % MIN_COUNT)

    registry = SchemaRegistryClient({"url": args.registry})
    order_cls = order_message_class()
    formats = [
        ("avro", AvroSerializer(registry, AVRO_SCHEMA), avro_value, avro_expected),
        (
            "protobuf",
            # use.deprecated.format: False is the default in 2.x (True is
            # refused); older clients required it to be set explicitly.
            ProtobufSerializer(order_cls, registry, {"use.deprecated.format": False}),
            lambda o: proto_value(order_cls, o),
            proto_expected,
        ),
        ("json", JSONSerializer(JSON_SCHEMA, registry), json_value, json_value),
    ]

    producer = Producer({"bootstrap.servers": args.bootstrap, "client.id": "confluent-python-interop"})
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append("%s key %s: %s" % (msg.topic(), msg.key(), err))

    lines = []
    for suffix, serialize, value, expected in formats:
        topic = "%s.%s" % (args.prefix, suffix)
        ctx = SerializationContext(topic, MessageField.VALUE)
        for i in range(args.count):
            o = order(i)
            producer.produce(topic, key=o["orderId"].encode("utf-8"), value=serialize(value(o), ctx), on_delivery=delivered)
            producer.poll(0)
            lines.append({"topic": topic, "key": o["orderId"], "expected": expected(o)})
    left = producer.flush(60)
    if left or errors:
        print("confluent_producer: %d record(s) not delivered: %s" % (left, "; ".join(errors)), file=sys.stderr)
        return 1
    for line in lines:
        print(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
