package demo

import (
	"strconv"
	"strings"
)

// count is n and noun, the noun in the plural unless n is 1:
// count(1, "record") is "1 record", count(0, "tombstone") "0 tombstones",
// count(2, "repeated publish") "2 repeated publishes".
func count[N ~int | ~int64](n N, noun string) string {
	return strconv.FormatInt(int64(n), 10) + " " + nounFor(n, noun)
}

// nounFor is noun, in the plural unless n is 1.
func nounFor[N ~int | ~int64](n N, noun string) string {
	if n == 1 {
		return noun
	}
	for _, end := range []string{"s", "x", "z", "ch", "sh"} {
		if strings.HasSuffix(noun, end) {
			return noun + "es"
		}
	}
	if l := len(noun); l >= 2 && noun[l-1] == 'y' && !strings.ContainsRune("aeiou", rune(noun[l-2])) {
		return noun[:l-1] + "ies"
	}
	return noun + "s"
}

// wasWere is "was" for one, "were" for any other count.
func wasWere[N ~int | ~int64](n N) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// allOf is "all 5 records", or "the 1 record" for one.
func allOf[N ~int | ~int64](n N, noun string) string {
	if n == 1 {
		return "the " + count(n, noun)
	}
	return "all " + count(n, noun)
}
