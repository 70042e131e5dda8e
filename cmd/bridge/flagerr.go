package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// invalidFlag is the shape of pflag's error for a value its type cannot
// read: `invalid argument "abc" for "--records" flag: strconv.ParseInt: …`.
var invalidFlag = regexp.MustCompile(`^invalid argument "(.*)" for "(.*)" flag: (.*)$`)

// flagError says what a flag wants in the words of this program rather
// than those of the parser behind it (strconv, time), and exits with 2.
func flagError(cmd *cobra.Command, err error) error {
	m := invalidFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return &exitError{code: 2, err: err}
	}
	value, name := m[1], m[2]
	// pflag names a flag "--records", or "-c, --config" with a shorthand.
	long := name[strings.LastIndex(name, " ")+1:]
	flag := cmd.Flags().Lookup(strings.TrimLeft(long, "-"))
	want := "a valid value"
	if flag != nil {
		switch flag.Value.Type() {
		case "int", "int32", "int64", "uint", "uint64":
			want = "a whole number"
		case "float64", "float32":
			want = "a number"
		case "duration":
			want = "a duration with its unit, such as 500ms, 20s or 2m"
		case "bool":
			want = "true or false"
		}
	}
	return &exitError{code: 2, err: fmt.Errorf("%s: want %s, got %q", name, want, value)}
}
