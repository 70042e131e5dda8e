package config

import (
	"reflect"
	"strings"
)

// The sections of bridge.yaml map onto the components' configurations by
// field name: a field of a section goes to the component's field of the
// same Go name, converted between types of one kind (a [ByteSize] to an
// int32, a string to consumer.Ordering, a []string is copied). A section's
// field may say otherwise with a `map` tag:
//
//	map:"DialTimeout"  the component's field has that name
//	map:"-"            not mapped by name (the mapping function sets it)
//	map:",inline"      a struct whose fields map into the component's
//	                   struct itself (cxone.auth into sink.Config)
//
// A field the component has no field of that name for is left alone: one
// section may feed two components (the kafka section: its connection keys
// to kafkaconn, its group keys to the consumer). The tests
// TestMappingComplete and TestComponentZeroValues check that every key
// reaches a component and that the defaults agree.
//
// The same walk runs both ways: [toComponent] copies a section into a
// component's configuration, and [fillDefaults] copies a component's
// defaulted configuration back into the fields of a section that are
// still zero. So adding a key to a section whose component already has
// the field (and its default) takes the field with its yaml tag, and its
// row in docs/config.md.

// toComponent copies every mapped field of section (a struct) into the
// component's configuration dst (a pointer to a struct).
func toComponent(dst any, section any) {
	walk(reflect.ValueOf(section), reflect.ValueOf(dst).Elem(), func(sec, comp reflect.Value) {
		setConverted(comp, sec)
	})
}

// fillDefaults sets each zero field of section (a pointer to a struct) to
// the value of its component's field in defaulted, a component
// configuration whose defaults were applied by the component itself.
func fillDefaults(section any, defaulted any) {
	walk(reflect.ValueOf(section).Elem(), reflect.ValueOf(defaulted), func(sec, comp reflect.Value) {
		if sec.CanSet() && sec.IsZero() {
			setConverted(sec, comp)
		}
	})
}

// walk calls leaf for each pair of a section's field and the component's
// field it maps to (see the package's mapping rules above).
func walk(sec, comp reflect.Value, leaf func(sec, comp reflect.Value)) {
	t := sec.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, opt, _ := strings.Cut(f.Tag.Get("map"), ",")
		switch {
		case name == "-" || !f.IsExported():
			continue
		case opt == "inline":
			walk(sec.Field(i), comp, leaf)
			continue
		case name == "":
			name = f.Name
		}
		cf := comp.FieldByName(name)
		if !cf.IsValid() {
			continue
		}
		sf := sec.Field(i)
		if sf.Kind() == reflect.Struct && cf.Kind() == reflect.Struct && sf.Type() != cf.Type() {
			walk(sf, cf, leaf)
			continue
		}
		leaf(sf, cf)
	}
}

// setConverted sets dst to src converted to dst's type; slices are copied.
// It panics when the types do not convert, a mistake in a tag or a
// field's type that every test loading a configuration finds.
func setConverted(dst, src reflect.Value) {
	if src.Kind() == reflect.Slice {
		if src.IsNil() {
			dst.SetZero()
			return
		}
		c := reflect.MakeSlice(dst.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			c.Index(i).Set(src.Index(i).Convert(dst.Type().Elem()))
		}
		dst.Set(c)
		return
	}
	dst.Set(src.Convert(dst.Type()))
}
