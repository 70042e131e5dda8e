package registry

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cxone-bridge/bridge/jsontext"
)

// The Protobuf decoder reads the wire format straight into JSON, with the
// semantics of a Protobuf parser: fields in any order, the last value of a
// singular field wins, the occurrences of a singular message field merge,
// packed and unpacked repeated values mix, the last member of a oneof wins
// (and only its occurrences after the last other member count), duplicate
// map keys keep their last entry, values of the wrong wire type and unknown
// fields are skipped. Each message is read in two passes: a scan that
// records where each field occurs, then the output in declaration order.
// All bookkeeping lives in reusable stacks of the pbDecoder, so a decode
// allocates nothing but its output.

type span struct{ start, end int32 } // a range of the input

// occ is one occurrence of a known field in a scanned message.
type occ struct {
	next  int32 // next occurrence of the same field, or -1
	wt    protowire.Type
	v     uint64 // varint and fixed values
	start int32  // bytes and groups: content range in the input
	end   int32
}

type mapEnt struct {
	key      occ
	val      occ
	hasKey   bool
	hasVal   bool
	valSpans span // message values: a range of pbDecoder.spans
}

type pbDecoder struct {
	in     []byte
	out    []byte
	maxOut int
	schema *pbSchema
	occ    []occ
	heads  []int32 // per scanned message: first, then last occurrence of each field
	spans  []span
	ents   []mapEnt
}

type pbError struct {
	msg  string
	off  int
	path []string // innermost first
}

func (e *pbError) Error() string {
	var b strings.Builder
	if len(e.path) > 0 {
		for i := len(e.path) - 1; i >= 0; i-- {
			b.WriteByte('/')
			b.WriteString(e.path[i])
		}
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	if e.off >= 0 {
		b.WriteString(" at payload offset ")
		b.WriteString(strconv.Itoa(e.off))
	}
	return b.String()
}

func pbFail(off int, format string, args ...any) error {
	return &pbError{msg: fmt.Sprintf(format, args...), off: off}
}

func pbWithin(err error, name string) error {
	var e *pbError
	if errors.As(err, &e) {
		e.path = append(e.path, name)
	}
	return err
}

// decode writes the JSON of message m encoded in the whole input.
func (d *pbDecoder) decode(m *pbMsg) error {
	if len(d.in) > math.MaxInt32 {
		return pbFail(-1, "payload over 2 GiB")
	}
	d.spans = append(d.spans[:0], span{0, int32(len(d.in))})
	return d.message(m, 0, 1, 0)
}

func (d *pbDecoder) checkOut() error {
	if len(d.out) > d.maxOut {
		return pbFail(-1, "JSON output over the limit of %d bytes", d.maxOut)
	}
	return nil
}

// scan records the occurrences of m's known fields in the input ranges
// d.spans[s0:s1] (several ranges merge, as repeated occurrences of a
// message field do). It returns where m's first/last table starts in
// d.heads; the caller truncates d.heads and d.occ when done.
func (d *pbDecoder) scan(m *pbMsg, s0, s1 int) (int, error) {
	h0 := len(d.heads)
	nf := len(m.fields)
	for i := 0; i < 2*nf; i++ {
		d.heads = append(d.heads, -1)
	}
	for s := s0; s < s1; s++ {
		pos, end := int(d.spans[s].start), int(d.spans[s].end)
		for pos < end {
			num, wt, n := protowire.ConsumeTag(d.in[pos:end])
			if n < 0 {
				return 0, pbFail(pos, "bad field tag: %v", protowire.ParseError(n))
			}
			if !num.IsValid() {
				return 0, pbFail(pos, "bad field tag: field number %d out of range", num)
			}
			pos += n
			o := occ{next: -1, wt: wt}
			switch wt {
			case protowire.VarintType:
				o.v, n = protowire.ConsumeVarint(d.in[pos:end])
			case protowire.Fixed32Type:
				var v uint32
				v, n = protowire.ConsumeFixed32(d.in[pos:end])
				o.v = uint64(v)
			case protowire.Fixed64Type:
				o.v, n = protowire.ConsumeFixed64(d.in[pos:end])
			case protowire.BytesType:
				var v []byte
				v, n = protowire.ConsumeBytes(d.in[pos:end])
				o.start, o.end = int32(pos+n-len(v)), int32(pos+n)
			case protowire.StartGroupType:
				var v []byte
				v, n = protowire.ConsumeGroup(num, d.in[pos:end])
				o.start, o.end = int32(pos), int32(pos+len(v))
			case protowire.EndGroupType:
				return 0, pbFail(pos-1, "end of group %d without a start", num)
			default:
				return 0, pbFail(pos-1, "invalid wire type %d", wt)
			}
			if n < 0 {
				return 0, pbFail(pos, "field %d: %v", num, protowire.ParseError(n))
			}
			pos += n
			fi := m.field(num)
			if fi < 0 {
				continue // unknown field
			}
			f := &m.fields[fi]
			if !f.wireTypeOK(wt) {
				continue // wrong wire type: an unknown field to a Protobuf parser
			}
			if f.kind == protoreflect.StringKind && !validUTF8(d.in[o.start:o.end]) {
				// Every occurrence is checked, as a Protobuf parser checks
				// every string it reads, not only the one that wins.
				return 0, pbWithin(pbFail(int(o.start), "string is not valid UTF-8"), f.name)
			}
			if wt == protowire.VarintType && f.enum != nil && f.enum.closed && !f.list {
				if _, known := f.enum.name(int32(o.v)); !known {
					continue // unknown value of a closed enum: unknown field
				}
			}
			idx := int32(len(d.occ))
			d.occ = append(d.occ, o)
			if last := d.heads[h0+nf+fi]; last >= 0 {
				d.occ[last].next = idx
			} else {
				d.heads[h0+fi] = idx
			}
			d.heads[h0+nf+fi] = idx
		}
	}
	return h0, nil
}

// present tells whether field fi of a scanned message is set and returns
// its first occurrence that counts: for a oneof member, only the
// occurrences after the last occurrence of another member count, and a
// member whose last occurrence is not the oneof's last is not set.
func (d *pbDecoder) present(m *pbMsg, h0, fi int) (int32, bool) {
	nf := len(m.fields)
	head, last := d.heads[h0+fi], d.heads[h0+nf+fi]
	if last < 0 {
		return -1, false
	}
	f := &m.fields[fi]
	if f.oneof < 0 {
		return head, true
	}
	other := int32(-1)
	for _, j := range m.oneofs[f.oneof] {
		if j != fi {
			other = max(other, d.heads[h0+nf+j])
		}
	}
	if last < other {
		return -1, false
	}
	for head >= 0 && head < other {
		head = d.occ[head].next
	}
	return head, true
}

// message writes the JSON value of message m read from d.spans[s0:s1].
func (d *pbDecoder) message(m *pbMsg, s0, s1, depth int) error {
	if depth >= maxDepth {
		return pbFail(-1, "nesting deeper than %d", maxDepth)
	}
	o0, hs := len(d.occ), len(d.heads)
	defer func() { d.occ, d.heads = d.occ[:o0], d.heads[:hs] }()
	h0, err := d.scan(m, s0, s1)
	if err != nil {
		return err
	}
	if m.wkt != wktNone {
		return d.wellKnown(m, h0, depth)
	}
	d.out = append(d.out, '{')
	if _, err := d.members(m, h0, depth, true); err != nil {
		return err
	}
	d.out = append(d.out, '}')
	return d.checkOut()
}

// members writes the members of a scanned message, in declaration order,
// without braces. first says no member precedes them in the object.
func (d *pbDecoder) members(m *pbMsg, h0, depth int, first bool) (bool, error) {
	for fi := range m.fields {
		f := &m.fields[fi]
		head, ok := d.present(m, h0, fi)
		if f.oneof >= 0 && f.msg != nil {
			if err := d.discardBefore(f, d.heads[h0+fi], head, depth); err != nil {
				return first, pbWithin(err, f.name)
			}
		}
		if !ok && (f.presence || f.oneof >= 0) {
			continue
		}
		if !first {
			d.out = append(d.out, ',')
		}
		first = false
		d.out = append(d.out, f.key...)
		if !ok {
			d.out = append(d.out, f.dflt...)
			continue
		}
		if err := d.fieldValue(f, head, d.heads[h0+len(m.fields)+fi], depth); err != nil {
			return first, pbWithin(err, f.name)
		}
	}
	return first, nil
}

// discardBefore checks that the occurrences of message field f from first
// up to (not including) upTo parse, writing nothing: they are overridden
// (oneof members set before another member), but a Protobuf parser reads
// them all. upTo -1 means the whole chain.
func (d *pbDecoder) discardBefore(f *pbField, first, upTo int32, depth int) error {
	for i := first; i >= 0 && i != upTo; i = d.occ[i].next {
		if err := d.discard(f.msg, span{d.occ[i].start, d.occ[i].end}, depth); err != nil {
			return err
		}
	}
	return nil
}

// discard decodes message m from sp and throws the output away.
func (d *pbDecoder) discard(m *pbMsg, sp span, depth int) error {
	mark, s0 := len(d.out), len(d.spans)
	d.spans = append(d.spans, sp)
	err := d.message(m, s0, s0+1, depth+1)
	d.spans, d.out = d.spans[:s0], d.out[:mark]
	return err
}

// fieldValue writes the value of a present field from its occurrences:
// head is the first that counts, last the last.
func (d *pbDecoder) fieldValue(f *pbField, head, last int32, depth int) error {
	switch {
	case f.isMap:
		return d.mapValue(f, head, depth)
	case f.list:
		return d.listValue(f, head, depth)
	case f.msg != nil:
		s0 := len(d.spans)
		defer func() { d.spans = d.spans[:s0] }()
		for i := head; i >= 0; i = d.occ[i].next {
			d.spans = append(d.spans, span{d.occ[i].start, d.occ[i].end})
		}
		return d.message(f.msg, s0, len(d.spans), depth+1)
	}
	return d.scalar(f.kind, f.enum, &d.occ[last])
}

func (d *pbDecoder) listValue(f *pbField, head int32, depth int) error {
	if depth+1 >= maxDepth {
		return pbFail(-1, "nesting deeper than %d", maxDepth)
	}
	d.out = append(d.out, '[')
	n := 0
	for i := head; i >= 0; i = d.occ[i].next {
		o := d.occ[i]
		switch {
		case f.msg != nil:
			if n > 0 {
				d.out = append(d.out, ',')
			}
			s0 := len(d.spans)
			d.spans = append(d.spans, span{o.start, o.end})
			err := d.message(f.msg, s0, s0+1, depth+1)
			d.spans = d.spans[:s0]
			if err != nil {
				return pbWithin(err, strconv.Itoa(n))
			}
			n++
		case o.wt == protowire.BytesType && f.kind != protoreflect.StringKind && f.kind != protoreflect.BytesKind:
			// packed
			ewt := scalarWireType(f.kind)
			pos, end := int(o.start), int(o.end)
			for pos < end {
				e := occ{wt: ewt}
				var k int
				switch ewt {
				case protowire.VarintType:
					e.v, k = protowire.ConsumeVarint(d.in[pos:end])
				case protowire.Fixed32Type:
					var v uint32
					v, k = protowire.ConsumeFixed32(d.in[pos:end])
					e.v = uint64(v)
				default:
					e.v, k = protowire.ConsumeFixed64(d.in[pos:end])
				}
				if k < 0 {
					return pbFail(pos, "packed element %d: %v", n, protowire.ParseError(k))
				}
				pos += k
				if f.enum != nil && f.enum.closed {
					if _, known := f.enum.name(int32(e.v)); !known {
						continue
					}
				}
				if n > 0 {
					d.out = append(d.out, ',')
				}
				if err := d.scalar(f.kind, f.enum, &e); err != nil {
					return pbWithin(err, strconv.Itoa(n))
				}
				n++
			}
		default:
			if f.enum != nil && f.enum.closed {
				if _, known := f.enum.name(int32(o.v)); !known {
					continue
				}
			}
			if n > 0 {
				d.out = append(d.out, ',')
			}
			if err := d.scalar(f.kind, f.enum, &o); err != nil {
				return pbWithin(err, strconv.Itoa(n))
			}
			n++
		}
		if err := d.checkOut(); err != nil {
			return err
		}
	}
	d.out = append(d.out, ']')
	return nil
}

// scalar writes one non-message value.
func (d *pbDecoder) scalar(kind protoreflect.Kind, e *pbEnum, o *occ) error {
	switch kind {
	case protoreflect.BoolKind:
		if o.v != 0 {
			d.out = append(d.out, "true"...)
		} else {
			d.out = append(d.out, "false"...)
		}
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		d.out = strconv.AppendInt(d.out, int64(int32(o.v)), 10)
	case protoreflect.Sint32Kind:
		d.out = strconv.AppendInt(d.out, int64(int32(protowire.DecodeZigZag(o.v&math.MaxUint32))), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		d.out = strconv.AppendUint(d.out, uint64(uint32(o.v)), 10)
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		d.out = jsontext.AppendInt64(d.out, int64(o.v))
	case protoreflect.Sint64Kind:
		d.out = jsontext.AppendInt64(d.out, protowire.DecodeZigZag(o.v))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		d.out = jsontext.AppendUint64(d.out, o.v)
	case protoreflect.FloatKind:
		d.out = appendFloat(d.out, float64(math.Float32frombits(uint32(o.v))), 32)
	case protoreflect.DoubleKind:
		d.out = appendFloat(d.out, math.Float64frombits(o.v), 64)
	case protoreflect.StringKind:
		// Checked for UTF-8 when scanned (scan, mapEntry).
		d.out = jsontext.AppendString(d.out, d.in[o.start:o.end])
	case protoreflect.BytesKind:
		d.out = appendBase64(d.out, d.in[o.start:o.end])
	case protoreflect.EnumKind:
		switch name, ok := e.name(int32(o.v)); {
		case e.isNull:
			d.out = append(d.out, "null"...)
		case ok:
			d.out = append(d.out, name...)
		default: // a number of an open enum that the schema does not name
			d.out = strconv.AppendInt(d.out, int64(int32(o.v)), 10)
		}
	default:
		return pbFail(-1, "unsupported kind %v", kind)
	}
	return nil
}

// mapValue writes a map field as a JSON object, keys sorted as protojson
// sorts them (strings bytewise, integers by value, false before true), the
// last entry of a duplicated key winning.
func (d *pbDecoder) mapValue(f *pbField, head int32, depth int) error {
	if depth+1 >= maxDepth {
		return pbFail(-1, "nesting deeper than %d", maxDepth)
	}
	entry := f.msg
	kf, vf := entry.field(1), entry.field(2)
	if kf < 0 || vf < 0 {
		return pbFail(-1, "map entry %s lacks its key or value field", entry.name)
	}
	keyField, valField := &entry.fields[kf], &entry.fields[vf]
	e0, sp0 := len(d.ents), len(d.spans)
	defer func() { d.ents, d.spans = d.ents[:e0], d.spans[:sp0] }()

	for i := head; i >= 0; i = d.occ[i].next {
		ent, keep, err := d.mapEntry(keyField, valField, d.occ[i])
		if err != nil {
			return err
		}
		if keep {
			d.ents = append(d.ents, ent)
		}
	}
	ents := d.ents[e0:]
	compare := d.keyCompare(keyField.kind)
	slices.SortStableFunc(ents, compare)

	d.out = append(d.out, '{')
	n := 0
	for i := range ents {
		ent := &ents[i]
		if i+1 < len(ents) && compare(ents[i], ents[i+1]) == 0 {
			// A later entry has the same key: this value is dropped, but
			// must still parse, as it must for a Protobuf parser.
			if valField.msg != nil {
				for s := ent.valSpans.start; s < ent.valSpans.end; s++ {
					if err := d.discard(valField.msg, d.spans[s], depth); err != nil {
						return err
					}
				}
			}
			continue
		}
		if n > 0 {
			d.out = append(d.out, ',')
		}
		n++
		keyStart := len(d.out)
		if err := d.mapKey(keyField, ent); err != nil {
			return err
		}
		name := string(d.out[keyStart:])
		d.out = append(d.out, ':')
		var err error
		switch {
		case valField.msg != nil:
			err = d.message(valField.msg, int(ent.valSpans.start), int(ent.valSpans.end), depth+1)
		case !ent.hasVal:
			d.out = append(d.out, valField.dflt...)
		default:
			err = d.scalar(valField.kind, valField.enum, &ent.val)
		}
		if err != nil {
			return pbWithin(err, excerpt(name, 64))
		}
		if err := d.checkOut(); err != nil {
			return err
		}
	}
	d.out = append(d.out, '}')
	return nil
}

// mapEntry reads one map entry. keep is false for an entry whose value is
// an unknown number of a closed enum (a Protobuf parser drops it).
func (d *pbDecoder) mapEntry(kf, vf *pbField, o occ) (ent mapEnt, keep bool, err error) {
	ent.valSpans.start = int32(len(d.spans))
	pos, end := int(o.start), int(o.end)
	for pos < end {
		num, wt, n := protowire.ConsumeTag(d.in[pos:end])
		if n < 0 {
			return ent, false, pbFail(pos, "map entry: bad field tag: %v", protowire.ParseError(n))
		}
		if !num.IsValid() {
			return ent, false, pbFail(pos, "map entry: bad field tag: field number %d out of range", num)
		}
		pos += n
		v := occ{next: -1, wt: wt}
		switch wt {
		case protowire.VarintType:
			v.v, n = protowire.ConsumeVarint(d.in[pos:end])
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(d.in[pos:end])
			v.v = uint64(x)
		case protowire.Fixed64Type:
			v.v, n = protowire.ConsumeFixed64(d.in[pos:end])
		case protowire.BytesType:
			var b []byte
			b, n = protowire.ConsumeBytes(d.in[pos:end])
			v.start, v.end = int32(pos+n-len(b)), int32(pos+n)
		case protowire.StartGroupType:
			var b []byte
			b, n = protowire.ConsumeGroup(num, d.in[pos:end])
			v.start, v.end = int32(pos), int32(pos+len(b))
		default:
			return ent, false, pbFail(pos-1, "map entry: invalid wire type %d", wt)
		}
		if n < 0 {
			return ent, false, pbFail(pos, "map entry: field %d: %v", num, protowire.ParseError(n))
		}
		pos += n
		switch {
		case num == kf.num && kf.wireTypeOK(wt):
			if kf.kind == protoreflect.StringKind && !validUTF8(d.in[v.start:v.end]) {
				return ent, false, pbFail(int(v.start), "map key is not valid UTF-8")
			}
			ent.key, ent.hasKey = v, true
		case num == vf.num && vf.wireTypeOK(wt):
			if vf.kind == protoreflect.StringKind && !validUTF8(d.in[v.start:v.end]) {
				return ent, false, pbFail(int(v.start), "map value is not valid UTF-8")
			}
			if vf.msg != nil {
				d.spans = append(d.spans, span{v.start, v.end})
			}
			ent.val, ent.hasVal = v, true
		}
	}
	ent.valSpans.end = int32(len(d.spans))
	if ent.hasVal && vf.enum != nil && vf.enum.closed {
		if _, known := vf.enum.name(int32(ent.val.v)); !known {
			return ent, false, nil
		}
	}
	return ent, true, nil
}

// keyCompare orders map entries by key; an absent key is the zero value.
func (d *pbDecoder) keyCompare(kind protoreflect.Kind) func(a, b mapEnt) int {
	switch kind {
	case protoreflect.StringKind:
		return func(a, b mapEnt) int {
			return bytes.Compare(d.in[a.key.start:a.key.end], d.in[b.key.start:b.key.end])
		}
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return func(a, b mapEnt) int { return cmp.Compare(int32(a.key.v), int32(b.key.v)) }
	case protoreflect.Sint32Kind:
		return func(a, b mapEnt) int {
			return cmp.Compare(protowire.DecodeZigZag(a.key.v&math.MaxUint32), protowire.DecodeZigZag(b.key.v&math.MaxUint32))
		}
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return func(a, b mapEnt) int { return cmp.Compare(int64(a.key.v), int64(b.key.v)) }
	case protoreflect.Sint64Kind:
		return func(a, b mapEnt) int {
			return cmp.Compare(protowire.DecodeZigZag(a.key.v), protowire.DecodeZigZag(b.key.v))
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return func(a, b mapEnt) int { return cmp.Compare(uint32(a.key.v), uint32(b.key.v)) }
	case protoreflect.BoolKind:
		return func(a, b mapEnt) int { return cmp.Compare(min(a.key.v, 1), min(b.key.v, 1)) }
	}
	return func(a, b mapEnt) int { return cmp.Compare(a.key.v, b.key.v) } // uint64, fixed64
}

// mapKey writes an entry's key as a JSON string.
func (d *pbDecoder) mapKey(kf *pbField, ent *mapEnt) error {
	if kf.kind == protoreflect.StringKind {
		if !ent.hasKey {
			d.out = append(d.out, `""`...)
			return nil
		}
		d.out = jsontext.AppendString(d.out, d.in[ent.key.start:ent.key.end]) // checked in mapEntry
		return nil
	}
	d.out = append(d.out, '"')
	switch kf.kind {
	case protoreflect.BoolKind:
		d.out = strconv.AppendBool(d.out, ent.key.v != 0)
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		d.out = strconv.AppendInt(d.out, int64(int32(ent.key.v)), 10)
	case protoreflect.Sint32Kind:
		d.out = strconv.AppendInt(d.out, protowire.DecodeZigZag(ent.key.v&math.MaxUint32), 10)
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		d.out = strconv.AppendInt(d.out, int64(ent.key.v), 10)
	case protoreflect.Sint64Kind:
		d.out = strconv.AppendInt(d.out, protowire.DecodeZigZag(ent.key.v), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		d.out = strconv.AppendUint(d.out, uint64(uint32(ent.key.v)), 10)
	default:
		d.out = strconv.AppendUint(d.out, ent.key.v, 10)
	}
	d.out = append(d.out, '"')
	return nil
}

// wellKnown writes a scanned message of a well-known type in its JSON form.
func (d *pbDecoder) wellKnown(m *pbMsg, h0, depth int) error {
	nf := len(m.fields)
	// last returns the last occurrence of field number num, if any.
	last := func(num protowire.Number) *occ {
		if fi := m.field(num); fi >= 0 {
			if i := d.heads[h0+nf+fi]; i >= 0 {
				return &d.occ[i]
			}
		}
		return nil
	}
	value := func(num protowire.Number) (int64, uint64) {
		if o := last(num); o != nil {
			return int64(o.v), o.v
		}
		return 0, 0
	}
	switch m.wkt {
	case wktTimestamp:
		sec, _ := value(1)
		nsec, _ := value(2)
		var ok bool
		if d.out, ok = jsontext.AppendTimestamp(d.out, sec, int64(int32(nsec))); !ok {
			return pbFail(-1, "google.protobuf.Timestamp {seconds: %d, nanos: %d} is outside years 0001-9999 or not normalised", sec, int32(nsec))
		}
	case wktDuration:
		sec, _ := value(1)
		n, _ := value(2)
		nsec := int64(int32(n))
		const maxSec = 315576000000
		if sec < -maxSec || sec > maxSec || nsec <= -1e9 || nsec >= 1e9 || sec > 0 && nsec < 0 || sec < 0 && nsec > 0 {
			return pbFail(-1, "google.protobuf.Duration {seconds: %d, nanos: %d} is out of range or not normalised", sec, nsec)
		}
		d.out = jsontext.AppendDuration(d.out, sec, nsec)
	case wktWrapper:
		fi := m.field(1)
		f := &m.fields[fi]
		if o := last(1); o != nil {
			return d.scalar(f.kind, f.enum, o)
		}
		d.out = append(d.out, f.dflt...)
	case wktStruct, wktListValue:
		fi := m.field(1)
		f := &m.fields[fi]
		head, ok := d.present(m, h0, fi)
		if !ok {
			d.out = append(d.out, f.dflt...)
			return nil
		}
		return d.fieldValue(f, head, d.heads[h0+nf+fi], depth)
	case wktValue:
		set := -1
		var setHead int32
		for fi := range m.fields {
			head, ok := d.present(m, h0, fi)
			if f := &m.fields[fi]; f.msg != nil {
				if err := d.discardBefore(f, d.heads[h0+fi], head, depth); err != nil {
					return err
				}
			}
			if ok {
				set, setHead = fi, head
			}
		}
		if set < 0 {
			d.out = append(d.out, "null"...) // no kind set
			return nil
		}
		return d.fieldValue(&m.fields[set], setHead, d.heads[h0+nf+set], depth)
	case wktAny:
		return d.anyValue(last(1), last(2), depth)
	case wktDecimal:
		var b []byte
		if o := last(1); o != nil {
			b = d.in[o.start:o.end]
		}
		scale, _ := value(3)
		if s := int32(scale); s < 0 || s > maxDecimalScale {
			return pbFail(-1, "confluent.type.Decimal scale %d outside 0-%d", s, maxDecimalScale)
		}
		d.out = appendDecimal(d.out, b, int(int32(scale)))
	}
	return d.checkOut()
}

// anyValue writes a google.protobuf.Any as protojson does: {"@type": url,
// ...fields} or, for a type with a JSON form of its own, {"@type": url,
// "value": ...}. The type must be one of the schema's or its imports'.
func (d *pbDecoder) anyValue(url, val *occ, depth int) error {
	if url == nil || url.end == url.start {
		if val == nil || val.end == val.start {
			d.out = append(d.out, '{', '}')
			return nil
		}
		return pbFail(-1, "google.protobuf.Any with a value but no type_url")
	}
	u := d.in[url.start:url.end]
	if !validUTF8(u) {
		return pbFail(int(url.start), "google.protobuf.Any type_url is not valid UTF-8")
	}
	name := u[bytes.LastIndexByte(u, '/')+1:]
	target := d.schema.byName[protoreflect.FullName(name)]
	if target == nil {
		return pbFail(int(url.start), "google.protobuf.Any type %q is not defined by the schema or its imports", excerpt(string(name), 128))
	}
	if depth+1 >= maxDepth {
		return pbFail(-1, "nesting deeper than %d", maxDepth)
	}
	d.out = append(d.out, `{"@type":`...)
	d.out = jsontext.AppendString(d.out, u)
	s0 := len(d.spans)
	defer func() { d.spans = d.spans[:s0] }()
	if val != nil {
		d.spans = append(d.spans, span{val.start, val.end})
	}
	if target.wkt != wktNone {
		d.out = append(d.out, `,"value":`...)
		if err := d.message(target, s0, len(d.spans), depth+1); err != nil {
			return pbWithin(err, "value")
		}
		d.out = append(d.out, '}')
		return nil
	}
	o0, hs := len(d.occ), len(d.heads)
	defer func() { d.occ, d.heads = d.occ[:o0], d.heads[:hs] }()
	h0, err := d.scan(target, s0, len(d.spans))
	if err != nil {
		return err
	}
	if _, err := d.members(target, h0, depth+1, false); err != nil {
		return err
	}
	d.out = append(d.out, '}')
	return nil
}
