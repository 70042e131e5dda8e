package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/cxone-bridge/bridge/jsontext"
)

// maxDepth bounds the JSON nesting (objects and arrays) a decoded value may
// have; deeper data is a decode error rather than a deep recursion.
const maxDepth = 256

// maxDecimalScale bounds the scale of a decimal logical type: a schema with
// a larger one is refused, so that a tiny value cannot expand into a huge
// string of zeros.
const maxDecimalScale = 1024

type avroKind uint8

const (
	avNull avroKind = iota
	avBoolean
	avInt
	avLong
	avFloat
	avDouble
	avBytes
	avString
	avRecord
	avEnum
	avArray
	avMap
	avUnion
	avFixed
	// logical types
	avDate            // int: days since epoch
	avTimeMillis      // int: ms since midnight
	avTimeMicros      // long: µs since midnight
	avTimestampMillis // long (also local-timestamp-millis)
	avTimestampMicros // long (also local-timestamp-micros)
	avTimestampNanos  // long (also local-timestamp-nanos)
	avDecimalBytes    // bytes
	avDecimalFixed    // fixed
	avUUIDFixed       // fixed(16)
)

// avroNode is a compiled Avro schema: the writer's schema turned into a
// tree the decoder walks without interface dispatch. Recursive schemas are
// cycles in the tree.
type avroNode struct {
	kind     avroKind
	name     string      // full name of a record, enum or fixed
	fields   []avroField // record
	symbols  [][]byte    // enum: each symbol as a JSON string
	size     int         // fixed
	items    *avroNode   // array items, map values
	branches []*avroNode // union
	scale    int         // decimal
	// minSize is the fewest bytes a value of this type takes on the wire;
	// 0 for null, empty records and the like.
	minSize int
}

type avroField struct {
	name string
	key  []byte // `"name":`
	node *avroNode
}

// compileAvro parses schema (after the schemas it references, in
// dependency order, all into one fresh name cache) and compiles it.
func compileAvro(schema string, refs []string) (node *avroNode, name string, err error) {
	defer func() {
		// hamba/avro parses untrusted schema text; a panic in it must not
		// take the bridge down. Last line of defence only.
		if r := recover(); r != nil {
			node, name, err = nil, "", fmt.Errorf("avro schema parser panicked: %v", r)
		}
	}()
	cache := &avro.SchemaCache{}
	for _, r := range refs {
		if _, err := avro.ParseWithCache(r, "", cache); err != nil {
			return nil, "", fmt.Errorf("referenced schema: %w", err)
		}
	}
	s, err := avro.ParseWithCache(schema, "", cache)
	if err != nil {
		return nil, "", err
	}
	c := avroCompiler{named: map[string]*avroNode{}}
	node, err = c.compile(s)
	if err != nil {
		return nil, "", err
	}
	c.sizes(node)
	name = string(s.Type())
	if n, ok := s.(avro.NamedSchema); ok {
		name = n.FullName()
	}
	return node, name, nil
}

type avroCompiler struct {
	named map[string]*avroNode
}

func (c *avroCompiler) compile(s avro.Schema) (*avroNode, error) {
	switch s := s.(type) {
	case *avro.RefSchema:
		if n, ok := c.named[s.Schema().FullName()]; ok {
			return n, nil
		}
		return c.compile(s.Schema())
	case *avro.NullSchema:
		return &avroNode{kind: avNull}, nil
	case *avro.PrimitiveSchema:
		return c.primitive(s)
	case *avro.RecordSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n, nil
		}
		n := &avroNode{kind: avRecord, name: s.FullName()}
		c.named[n.name] = n
		for _, f := range s.Fields() {
			fn, err := c.compile(f.Type())
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, avroField{name: f.Name(), key: appendKey(nil, f.Name()), node: fn})
		}
		return n, nil
	case *avro.EnumSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n, nil
		}
		n := &avroNode{kind: avEnum, name: s.FullName()}
		for _, sym := range s.Symbols() {
			n.symbols = append(n.symbols, jsontext.AppendString(nil, []byte(sym)))
		}
		c.named[n.name] = n
		return n, nil
	case *avro.FixedSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n, nil
		}
		if s.Size() < 0 {
			return nil, fmt.Errorf("fixed %s has a negative size", s.FullName())
		}
		n := &avroNode{kind: avFixed, name: s.FullName(), size: s.Size()}
		switch l := s.Logical().(type) {
		case *avro.DecimalLogicalSchema:
			if l.Scale() > maxDecimalScale {
				return nil, fmt.Errorf("decimal scale %d over the limit of %d", l.Scale(), maxDecimalScale)
			}
			n.kind, n.scale = avDecimalFixed, l.Scale()
		case nil:
			if lt, _ := s.Prop("logicalType").(string); lt == "uuid" && s.Size() == 16 {
				n.kind = avUUIDFixed
			}
		}
		c.named[n.name] = n
		return n, nil
	case *avro.ArraySchema:
		items, err := c.compile(s.Items())
		if err != nil {
			return nil, err
		}
		return &avroNode{kind: avArray, items: items}, nil
	case *avro.MapSchema:
		values, err := c.compile(s.Values())
		if err != nil {
			return nil, err
		}
		return &avroNode{kind: avMap, items: values}, nil
	case *avro.UnionSchema:
		n := &avroNode{kind: avUnion}
		for _, t := range s.Types() {
			b, err := c.compile(t)
			if err != nil {
				return nil, err
			}
			n.branches = append(n.branches, b)
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported Avro schema %T", s)
}

func (c *avroCompiler) primitive(s *avro.PrimitiveSchema) (*avroNode, error) {
	n := &avroNode{}
	switch s.Type() {
	case avro.Boolean:
		n.kind = avBoolean
	case avro.Int:
		n.kind = avInt
	case avro.Long:
		n.kind = avLong
	case avro.Float:
		n.kind = avFloat
	case avro.Double:
		n.kind = avDouble
	case avro.Bytes:
		n.kind = avBytes
	case avro.String:
		n.kind = avString // uuid on string: the string itself
	case avro.Null:
		n.kind = avNull
	default:
		return nil, fmt.Errorf("unsupported Avro type %q", s.Type())
	}
	switch l := s.Logical().(type) {
	case *avro.DecimalLogicalSchema:
		if n.kind == avBytes {
			if l.Scale() > maxDecimalScale {
				return nil, fmt.Errorf("decimal scale %d over the limit of %d", l.Scale(), maxDecimalScale)
			}
			n.kind, n.scale = avDecimalBytes, l.Scale()
		}
	case avro.LogicalSchema:
		switch l.Type() {
		case avro.Date:
			n.kind = avDate
		case avro.TimeMillis:
			n.kind = avTimeMillis
		case avro.TimeMicros:
			n.kind = avTimeMicros
		case avro.TimestampMillis, avro.LocalTimestampMillis:
			n.kind = avTimestampMillis
		case avro.TimestampMicros, avro.LocalTimestampMicros:
			n.kind = avTimestampMicros
		}
	case nil:
		// Logical types hamba/avro does not know (Avro 1.12's nanosecond
		// timestamps) stay in the schema's properties.
		if lt, _ := s.Prop("logicalType").(string); n.kind == avLong && (lt == "timestamp-nanos" || lt == "local-timestamp-nanos") {
			n.kind = avTimestampNanos
		}
	}
	return n, nil
}

// sizes computes minSize for every node, iterating to a fixed point so that
// recursive records come out right.
func (c *avroCompiler) sizes(root *avroNode) {
	var all []*avroNode
	seen := map[*avroNode]bool{}
	var walk func(n *avroNode)
	walk = func(n *avroNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		all = append(all, n)
		for _, f := range n.fields {
			walk(f.node)
		}
		for _, b := range n.branches {
			walk(b)
		}
		if n.items != nil {
			walk(n.items)
		}
	}
	walk(root)
	// Start from an over-estimate and lower it: a recursive record's
	// minimum is then found from its non-recursive branches.
	const inf = math.MaxInt32
	for _, n := range all {
		n.minSize = inf
	}
	for changed := true; changed; {
		changed = false
		for _, n := range all {
			var m int
			switch n.kind {
			case avNull:
				m = 0
			case avFixed, avDecimalFixed, avUUIDFixed:
				m = n.size
			case avRecord:
				for _, f := range n.fields {
					m += f.node.minSize
					if m >= inf {
						m = inf
						break
					}
				}
			case avUnion:
				m = inf
				for _, b := range n.branches {
					m = min(m, b.minSize)
				}
				if m < inf {
					m++ // the branch index
				}
			case avFloat:
				m = 4
			case avDouble:
				m = 8
			default: // varints, lengths, block counts: at least one byte
				m = 1
			}
			if m < n.minSize {
				n.minSize, changed = m, true
			}
		}
	}
}

// avroDecoder decodes one Avro datum into JSON.
type avroDecoder struct {
	in     []byte
	pos    int
	out    []byte
	maxOut int
	keys   []keySpan // scratch for map duplicate detection
}

type keySpan struct {
	key        []byte // the key as on the wire
	start, end int    // the member `"key":value` in out, without comma
}

// avroError is a decode failure with the path of fields and indexes that
// led to it, built while the recursion unwinds.
type avroError struct {
	msg  string
	off  int
	path []string // innermost first
}

func (e *avroError) Error() string {
	var b strings.Builder
	if len(e.path) > 0 {
		for i := len(e.path) - 1; i >= 0; i-- {
			b.WriteByte('/')
			b.WriteString(e.path[i])
		}
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	b.WriteString(" at payload offset ")
	b.WriteString(strconv.Itoa(e.off))
	return b.String()
}

func (d *avroDecoder) fail(format string, args ...any) error {
	return &avroError{msg: fmt.Sprintf(format, args...), off: d.pos}
}

func within(err error, name string) error {
	var e *avroError
	if errors.As(err, &e) {
		e.path = append(e.path, name)
	}
	return err
}

const errTruncated = "unexpected end of data"

// decode decodes the whole input against n; bytes left over are an error.
func (d *avroDecoder) decode(n *avroNode) error {
	if err := d.value(n, 0); err != nil {
		return err
	}
	if d.pos != len(d.in) {
		return d.fail("%d trailing bytes after the datum", len(d.in)-d.pos)
	}
	return nil
}

func (d *avroDecoder) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.pos >= len(d.in) {
			return 0, d.fail(errTruncated)
		}
		c := d.in[d.pos]
		d.pos++
		if shift == 63 && c > 1 {
			return 0, d.fail("varint overflows 64 bits")
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, d.fail("varint overflows 64 bits")
}

func (d *avroDecoder) int() (int32, error) {
	v, err := d.long()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, d.fail("int value %d out of 32-bit range", v)
	}
	return int32(v), nil
}

// bytes reads a length-prefixed byte string, a view into the input.
func (d *avroDecoder) bytes() ([]byte, error) {
	n, err := d.long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, d.fail("negative length %d", n)
	}
	if n > int64(len(d.in)-d.pos) {
		return nil, d.fail("length %d beyond the %d bytes left", n, len(d.in)-d.pos)
	}
	b := d.in[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

func (d *avroDecoder) fixed(size int) ([]byte, error) {
	if size > len(d.in)-d.pos {
		return nil, d.fail(errTruncated)
	}
	b := d.in[d.pos : d.pos+size]
	d.pos += size
	return b, nil
}

// blockCount reads the item count of the next array or map block (0 ends
// the value) and checks it against the bytes left.
func (d *avroDecoder) blockCount(items *avroNode) (int64, error) {
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, d.fail("bad block count")
		}
		n = -n
		if _, err := d.long(); err != nil { // block size in bytes, unused
			return 0, err
		}
	}
	if per := int64(items.minSize); per > 0 && n > int64(len(d.in)-d.pos)/per {
		return 0, d.fail("block of %d items beyond the %d bytes left", n, len(d.in)-d.pos)
	} else if per == 0 && n > int64(d.maxOut/3) {
		// Items that take no bytes still take at least 3 bytes of JSON.
		return 0, d.fail("block of %d items over the output limit", n)
	}
	return n, nil
}

func (d *avroDecoder) checkOut() error {
	if len(d.out) > d.maxOut {
		return d.fail("JSON output over the limit of %d bytes", d.maxOut)
	}
	return nil
}

func (d *avroDecoder) value(n *avroNode, depth int) error {
	switch n.kind {
	case avNull:
		d.out = append(d.out, "null"...)
	case avBoolean:
		if d.pos >= len(d.in) {
			return d.fail(errTruncated)
		}
		switch d.in[d.pos] {
		case 0:
			d.out = append(d.out, "false"...)
		case 1:
			d.out = append(d.out, "true"...)
		default:
			return d.fail("boolean byte 0x%02x", d.in[d.pos])
		}
		d.pos++
	case avInt:
		v, err := d.int()
		if err != nil {
			return err
		}
		d.out = strconv.AppendInt(d.out, int64(v), 10)
	case avLong:
		v, err := d.long()
		if err != nil {
			return err
		}
		d.out = jsontext.AppendInt64(d.out, v)
	case avFloat:
		if len(d.in)-d.pos < 4 {
			return d.fail(errTruncated)
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32(d.in[d.pos:]))
		d.pos += 4
		d.out = appendFloat(d.out, float64(f), 32)
	case avDouble:
		if len(d.in)-d.pos < 8 {
			return d.fail(errTruncated)
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(d.in[d.pos:]))
		d.pos += 8
		d.out = appendFloat(d.out, f, 64)
	case avBytes:
		b, err := d.bytes()
		if err != nil {
			return err
		}
		d.out = appendBase64(d.out, b)
	case avString:
		start := d.pos
		b, err := d.bytes()
		if err != nil {
			return err
		}
		if !validUTF8(b) {
			d.pos = start
			return d.fail("string is not valid UTF-8")
		}
		d.out = jsontext.AppendString(d.out, b)
	case avFixed:
		b, err := d.fixed(n.size)
		if err != nil {
			return err
		}
		d.out = appendBase64(d.out, b)
	case avUUIDFixed:
		b, err := d.fixed(16)
		if err != nil {
			return err
		}
		d.out = appendUUID(d.out, b)
	case avDecimalBytes:
		b, err := d.bytes()
		if err != nil {
			return err
		}
		d.out = appendDecimal(d.out, b, n.scale)
	case avDecimalFixed:
		b, err := d.fixed(n.size)
		if err != nil {
			return err
		}
		d.out = appendDecimal(d.out, b, n.scale)
	case avEnum:
		start := d.pos
		i, err := d.int()
		if err != nil {
			return err
		}
		if i < 0 || int(i) >= len(n.symbols) {
			d.pos = start
			return d.fail("enum %s has no symbol %d", n.name, i)
		}
		d.out = append(d.out, n.symbols[i]...)
	case avUnion:
		start := d.pos
		i, err := d.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			d.pos = start
			return d.fail("union branch %d of %d", i, len(n.branches))
		}
		return d.value(n.branches[i], depth)
	case avRecord:
		if depth >= maxDepth {
			return d.fail("nesting deeper than %d", maxDepth)
		}
		d.out = append(d.out, '{')
		for i := range n.fields {
			f := &n.fields[i]
			if i > 0 {
				d.out = append(d.out, ',')
			}
			d.out = append(d.out, f.key...)
			if err := d.value(f.node, depth+1); err != nil {
				return within(err, f.name)
			}
		}
		d.out = append(d.out, '}')
		return d.checkOut()
	case avArray:
		if depth >= maxDepth {
			return d.fail("nesting deeper than %d", maxDepth)
		}
		d.out = append(d.out, '[')
		idx := 0
		for {
			count, err := d.blockCount(n.items)
			if err != nil {
				return within(err, strconv.Itoa(idx))
			}
			if count == 0 {
				break
			}
			for ; count > 0; count-- {
				if idx > 0 {
					d.out = append(d.out, ',')
				}
				if err := d.value(n.items, depth+1); err != nil {
					return within(err, strconv.Itoa(idx))
				}
				idx++
				if err := d.checkOut(); err != nil {
					return err
				}
			}
		}
		d.out = append(d.out, ']')
	case avMap:
		if depth >= maxDepth {
			return d.fail("nesting deeper than %d", maxDepth)
		}
		return d.mapValue(n, depth)
	case avDate:
		start := d.pos
		v, err := d.int()
		if err != nil {
			return err
		}
		var ok bool
		if d.out, ok = appendDate(d.out, int64(v)); !ok {
			d.pos = start
			return d.fail("date %d days from the epoch is outside years 0001-9999", v)
		}
	case avTimeMillis:
		start := d.pos
		v, err := d.int()
		if err != nil {
			return err
		}
		var ok bool
		if d.out, ok = appendTimeOfDay(d.out, int64(v)*1e6); !ok {
			d.pos = start
			return d.fail("time-millis %d is not within a day", v)
		}
	case avTimeMicros:
		start := d.pos
		v, err := d.long()
		if err != nil {
			return err
		}
		var ok bool
		if v >= 0 && v < 86400e6 {
			d.out, ok = appendTimeOfDay(d.out, v*1e3)
		}
		if !ok {
			d.pos = start
			return d.fail("time-micros %d is not within a day", v)
		}
	case avTimestampMillis, avTimestampMicros, avTimestampNanos:
		start := d.pos
		v, err := d.long()
		if err != nil {
			return err
		}
		unit := int64(1e6) // nanoseconds per unit
		switch n.kind {
		case avTimestampMicros:
			unit = 1e3
		case avTimestampNanos:
			unit = 1
		}
		per := 1e9 / unit
		sec, frac := v/per, v%per
		if frac < 0 {
			sec, frac = sec-1, frac+per
		}
		var ok bool
		if d.out, ok = jsontext.AppendTimestamp(d.out, sec, frac*unit); !ok {
			d.pos = start
			return d.fail("timestamp %d is outside years 0001-9999", v)
		}
	default:
		return d.fail("unsupported kind %d", n.kind)
	}
	return nil
}

// mapValue decodes an Avro map into a JSON object. A key that occurs more
// than once keeps its last value (as Avro's Java reader, which fills a
// HashMap, does), at the place of its last occurrence.
func (d *avroDecoder) mapValue(n *avroNode, depth int) error {
	d.out = append(d.out, '{')
	objStart := len(d.out)
	keysStart := len(d.keys)
	defer func() { d.keys = d.keys[:keysStart] }()
	idx := 0
	for {
		count, err := d.blockCount(n.items)
		if err != nil {
			return err
		}
		if count == 0 {
			break
		}
		for ; count > 0; count-- {
			if idx > 0 {
				d.out = append(d.out, ',')
			}
			memberStart := len(d.out)
			keyStart := d.pos
			key, err := d.bytes()
			if err != nil {
				return err
			}
			if !validUTF8(key) {
				d.pos = keyStart
				return d.fail("map key is not valid UTF-8")
			}
			d.out = append(jsontext.AppendString(d.out, key), ':')
			if err := d.value(n.items, depth+1); err != nil {
				return within(err, excerpt(string(key), 64))
			}
			d.keys = append(d.keys, keySpan{key: key, start: memberStart, end: len(d.out)})
			idx++
			if err := d.checkOut(); err != nil {
				return err
			}
		}
	}
	if keys := d.keys[keysStart:]; hasDuplicateKeys(keys) {
		d.out = dedupeMembers(d.out, objStart, keys)
	}
	d.out = append(d.out, '}')
	return nil
}

// hasDuplicateKeys reports whether two spans share a key.
func hasDuplicateKeys(keys []keySpan) bool {
	if len(keys) < 2 {
		return false
	}
	if len(keys) <= 16 {
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if string(keys[i].key) == string(keys[j].key) {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if _, dup := seen[string(k.key)]; dup {
			return true
		}
		seen[string(k.key)] = struct{}{}
	}
	return false
}

// dedupeMembers rewrites out[objStart:] keeping, for each key, only its
// last member.
func dedupeMembers(out []byte, objStart int, keys []keySpan) []byte {
	last := make(map[string]int, len(keys))
	for i, k := range keys {
		last[string(k.key)] = i
	}
	kept := make([]byte, 0, len(out)-objStart)
	for i, k := range keys {
		if last[string(k.key)] != i {
			continue
		}
		if len(kept) > 0 {
			kept = append(kept, ',')
		}
		kept = append(kept, out[k.start:k.end]...)
	}
	return append(out[:objStart], kept...)
}
